use super::*;

async fn stream_ends_on_cancel(group: Option<&ProcessGroup>) {
    let scratch = Scratch::new();
    let pids = scratch.file("pids");
    let script = format!(
        "echo ready; sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
        pids.display()
    );
    let token = CancellationToken::new();
    let cmd = Command::new("sh")
        .args(["-c", &script])
        .cancel_on(token.clone());
    let mut run = match group {
        Some(g) => g.start(&cmd).await.unwrap(),
        None => cmd.start().await.unwrap(),
    };
    {
        let mut lines = run.stdout_lines();
        assert_eq!(lines.next().await.as_deref(), Some("ready"));
        eventually("two pids", Duration::from_secs(5), || {
            pids_in(&pids).len() == 2
        })
        .await;
        token.cancel();
        assert_eq!(
            bounded("the stream to end", Duration::from_secs(5), lines.next()).await,
            None
        );
    }
    assert_cancelled(
        bounded(
            "finish_streamed",
            Duration::from_secs(5),
            run.finish_streamed(),
        )
        .await,
    );
    let all = pids_in(&pids);
    eventually(
        "the streamed tree to be gone",
        Duration::from_secs(2),
        || all.iter().all(|p| !alive(*p)),
    )
    .await;
}

#[tokio::test]
async fn a_stream_ends_on_cancel_and_finish_streamed_reports_cancelled() {
    stream_ends_on_cancel(None).await;
}

#[tokio::test]
async fn a_group_members_stream_ends_on_cancel_too() {
    let group = ProcessGroup::new().unwrap();
    stream_ends_on_cancel(Some(&group)).await;
}

#[tokio::test]
async fn a_readiness_probe_reports_cancelled_rather_than_not_ready() {
    let token = CancellationToken::new();
    let mut run = Command::new("sh")
        .args(["-c", "echo booting; sleep 30"])
        .cancel_on(token.clone())
        .start()
        .await
        .unwrap();
    let canceller = cancel_after(&token, ms(200));
    let r = run
        .wait_for_line(|l| l.contains("listening"), Duration::from_secs(20))
        .await;
    assert_cancelled(r);
    canceller.await.unwrap();
}

#[tokio::test]
async fn a_cancelled_run_is_never_reported_ready_even_when_the_check_passes() {
    let scratch = Scratch::new();
    let marker = scratch.file("up");
    let script = format!("echo listening; touch {}; sleep 30", marker.display());
    let token = CancellationToken::new();
    let mut run = Command::new("sh")
        .args(["-c", &script])
        .cancel_on(token.clone())
        .start()
        .await
        .unwrap();
    eventually("the child to be up", Duration::from_secs(5), || {
        marker.exists()
    })
    .await;
    token.cancel();
    let m = marker.clone();
    assert_cancelled(
        run.wait_for(
            move || std::future::ready(m.exists()),
            Duration::from_secs(5),
        )
        .await,
    );
    // "listening" sits unread in the pipe: a cancelled stream drops it.
    assert_cancelled(
        run.wait_for_line(|l| l.contains("listening"), Duration::from_secs(5))
            .await,
    );
    assert_eq!(run.stdout_lines().next().await, None);
    assert_cancelled(run.finish_streamed().await);
}

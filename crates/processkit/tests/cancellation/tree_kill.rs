use super::*;

#[tokio::test]
async fn cancelling_a_capture_kills_every_grandchild_within_two_seconds() {
    cancel_a_running_tree("the cancelled capture", async |cmd, token| {
        cmd.cancel_on(token.child_token()).output_string().await
    })
    .await;
}

#[tokio::test]
async fn a_cancelled_handle_reports_cancelled_from_wait_and_loses_its_tree() {
    cancel_a_running_tree("wait", async |cmd, token| {
        let mut run = cmd.cancel_on(token).start().await?;
        run.wait().await
    })
    .await;
}

#[tokio::test]
async fn cancelling_kills_a_setsid_grandchild_where_the_mechanism_contains_it() {
    let contains = Mechanism::current().contains_setsid();
    let scratch = Scratch::new();
    let pids = scratch.file("pids");
    let script = format!(
        "setsid sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
        pids.display()
    );
    let token = CancellationToken::new();
    let cmd = Command::new("sh")
        .args(["-c", &script])
        .cancel_on(token.clone());
    let job = tokio::spawn(async move { cmd.run().await });
    eventually("two pids", Duration::from_secs(5), || {
        pids_in(&pids).len() == 2
    })
    .await;
    token.cancel();
    assert_cancelled(bounded("run", Duration::from_secs(5), job).await.unwrap());
    let all = pids_in(&pids);
    if contains {
        eventually(
            "the setsid grandchild to be gone",
            Duration::from_secs(2),
            || all.iter().all(|p| !alive(*p)),
        )
        .await;
    } else {
        // The documented weakness of process groups: the shell dies, the
        // grandchild in its own session survives. Clean it up here.
        let (grandchild, shell) = (all[0], all[1]);
        eventually("the shell to be gone", Duration::from_secs(2), || {
            !alive(shell)
        })
        .await;
        assert!(
            alive(grandchild),
            "{} is documented not to contain a setsid grandchild",
            Mechanism::current()
        );
        // SAFETY: the pid was just seen alive and is this test's own
        // grandchild, reparented to init; nothing else reaps it.
        unsafe { libc::kill(grandchild as i32, libc::SIGKILL) };
    }
}

#[tokio::test]
async fn a_child_token_of_a_cancelled_parent_cancels_the_run() {
    let parent = CancellationToken::new();
    let job = tokio::spawn({
        let token = parent.child_token();
        async move { Command::new("sleep").arg("30").cancel_on(token).run().await }
    });
    parent.cancel();
    assert_cancelled(bounded("run", Duration::from_secs(5), job).await.unwrap());
}

#[tokio::test]
async fn first_line_exit_code_and_probe_report_cancelled_mid_run() {
    let token = CancellationToken::new();
    let cmd = Command::new("sh")
        .args(["-c", "echo a; sleep 30"])
        .cancel_on(token.clone());
    let canceller = cancel_after(&token, ms(200));
    let (line, code, yes) = bounded("three verbs", Duration::from_secs(10), async {
        tokio::join!(
            cmd.first_line(|l| l == "never"),
            cmd.exit_code(),
            cmd.probe()
        )
    })
    .await;
    assert_cancelled(line);
    assert_cancelled(code);
    assert_cancelled(yes);
    canceller.await.unwrap();
}

#[tokio::test]
async fn a_token_cancelled_after_the_run_finished_changes_nothing() {
    let token = CancellationToken::new();
    let mut run = Command::new("sh")
        .args(["-c", "echo done >&2"])
        .cancel_on(token.clone())
        .start()
        .await
        .unwrap();
    assert_eq!(run.wait().await.unwrap(), Some(0));
    token.cancel();
    let (code, stderr) = run.finish_streamed().await.unwrap();
    assert_eq!((code, stderr.as_str()), (Some(0), "done\n"));
}

use super::*;

#[tokio::test]
async fn a_cancelled_command_stops_its_supervisor_for_good() {
    let scratch = Scratch::new();
    let pids = scratch.file("pids");
    let token = CancellationToken::new();
    let sup = Supervisor::new(tree(&pids).cancel_on(token.clone()))
        .restart(RestartPolicy::Always)
        .backoff(ms(1), 1.0);
    let job = tokio::spawn(async move { sup.run().await });
    eventually("the first incarnation", Duration::from_secs(5), || {
        pids_in(&pids).len() == 3
    })
    .await;
    token.cancel();
    assert_cancelled(
        bounded("supervision", Duration::from_secs(5), job)
            .await
            .unwrap(),
    );
    let all = pids_in(&pids);
    assert_eq!(
        all.len(),
        3,
        "a cancelled supervisor started another incarnation"
    );
    eventually(
        "the incarnation's tree to be gone",
        Duration::from_secs(2),
        || all.iter().all(|p| !alive(*p)),
    )
    .await;
}

#[tokio::test]
async fn a_supervisor_token_kills_the_current_incarnation_in_a_shared_group() {
    let scratch = Scratch::new();
    let (pids, sibling_pids) = (scratch.file("pids"), scratch.file("sibling"));
    let group = ProcessGroup::new().unwrap();
    let _sibling = group.start(&tree(&sibling_pids)).await.unwrap();
    let shutdown = CancellationToken::new();
    let sup = Supervisor::new(tree(&pids))
        .cancel_on(shutdown.child_token())
        .with_runner(&group);
    let (outcome, ()) = bounded("supervision", Duration::from_secs(10), async {
        tokio::join!(sup.run(), async {
            eventually("the incarnation's pids", Duration::from_secs(5), || {
                pids_in(&pids).len() == 3
            })
            .await;
            shutdown.cancel();
        })
    })
    .await;
    assert_cancelled(outcome);
    let dead = pids_in(&pids);
    eventually(
        "the incarnation's tree to be gone",
        Duration::from_secs(2),
        || dead.iter().all(|p| !alive(*p)),
    )
    .await;
    eventually("the sibling's pids", Duration::from_secs(5), || {
        pids_in(&sibling_pids).len() == 3
    })
    .await;
    assert!(
        pids_in(&sibling_pids).iter().all(|p| alive(*p)),
        "supervision's cancel reached a sibling"
    );
}

#[tokio::test]
async fn a_cancel_during_a_restart_backoff_ends_supervision_at_once() {
    let scratch = Scratch::new();
    let count = scratch.file("count");
    let token = CancellationToken::new();
    let cmd = Command::new("sh").args(["-c", &format!("echo x >> {}; exit 1", count.display())]);
    let sup = Supervisor::new(cmd.cancel_on(token.clone())).backoff(Duration::from_secs(3600), 1.0);
    let job = tokio::spawn(async move { sup.run().await });
    eventually("the first run", Duration::from_secs(5), || {
        lines(&count) == 1
    })
    .await;
    token.cancel();
    assert_cancelled(
        bounded("supervision", Duration::from_secs(5), job)
            .await
            .unwrap(),
    );
    assert_eq!(lines(&count), 1);
}

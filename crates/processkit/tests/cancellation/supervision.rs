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
    cancel_one_member_of_a_shared_group("supervision", async |group, victim, token| {
        Supervisor::new(victim)
            .cancel_on(token.child_token())
            .with_runner(group)
            .run()
            .await
    })
    .await;
}

#[tokio::test]
async fn a_cancel_during_a_restart_backoff_ends_supervision_at_once() {
    cancel_during_a_backoff("supervision", async |cmd, token| {
        Supervisor::new(cmd.cancel_on(token))
            .backoff(Duration::from_secs(3600), 1.0)
            .run()
            .await
    })
    .await;
}

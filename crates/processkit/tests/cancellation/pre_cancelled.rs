use super::*;

#[tokio::test]
async fn a_pre_cancelled_token_never_spawns_on_any_path() {
    let scratch = Scratch::new();
    let marker = scratch.file("spawned");
    let token = CancellationToken::new();
    token.cancel();
    let cmd = Command::new("sh")
        .args(["-c", &format!("echo spawned >> {}", marker.display())])
        .cancel_on(token);
    let group = ProcessGroup::new().unwrap();

    assert_cancelled(cmd.run().await);
    assert_cancelled(cmd.output_string().await);
    assert_cancelled(cmd.output_bytes().await);
    assert_cancelled(cmd.exit_code().await);
    assert_cancelled(cmd.probe().await);
    assert_cancelled(cmd.first_line(|_| true).await);
    assert_cancelled(cmd.start().await);
    assert_cancelled(cmd.clone().retry(RetryPolicy::new(3)).output_string().await);
    assert_cancelled(group.start(&cmd).await);
    assert_cancelled(group.output_string(&cmd).await);
    assert_cancelled(processkit::JobRunner::new().output_string(&cmd).await);
    assert_cancelled(
        Supervisor::new(cmd.clone())
            .restart(RestartPolicy::Always)
            .run()
            .await,
    );
    assert_cancelled(Supervisor::new(cmd.clone()).with_runner(&group).run().await);

    // The same command, not cancelled, writes its marker: proof that a
    // spawn above would have left one.
    let control = scratch.file("control");
    let probe_cmd =
        Command::new("sh").args(["-c", &format!("echo spawned >> {}", control.display())]);
    probe_cmd.run().await.unwrap();
    group.output_string(&probe_cmd).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&control).unwrap().lines().count(),
        2
    );
    assert!(!marker.exists(), "a pre-cancelled run spawned its command");
    assert!(group.is_empty().unwrap());
}

use super::*;

/// On the paused clock the deadline and the cancel fire at the same
/// virtual instant.
#[tokio::test(start_paused = true)]
async fn a_cancel_and_a_timeout_at_the_same_instant_report_cancelled() {
    for _ in 0..5 {
        let token = CancellationToken::new();
        let cmd = Command::new("sleep")
            .arg("30")
            .timeout(ms(100))
            .cancel_on(token.clone());
        let canceller = cancel_after(&token, ms(100));
        assert_cancelled(cmd.output_string().await);
        canceller.await.unwrap();
    }
}

/// A started `sleep 30` with a 50 ms deadline and a token of its own.
async fn sleeper_with_a_50ms_deadline() -> (CancellationToken, processkit::RunningProcess) {
    let token = CancellationToken::new();
    let run = Command::new("sleep")
        .arg("30")
        .timeout(ms(50))
        .cancel_on(token.clone())
        .start()
        .await
        .unwrap();
    (token, run)
}

#[tokio::test]
async fn a_cancel_and_an_expired_deadline_seen_in_one_poll_report_cancelled() {
    let (token, mut run) = sleeper_with_a_50ms_deadline().await;
    // Neither is observed until the handle is polled again.
    tokio::time::sleep(ms(200)).await;
    token.cancel();
    assert_cancelled(bounded("wait", Duration::from_secs(5), run.wait()).await);
    assert!(
        !run.timed_out(),
        "the cancel was handled first, so no timeout was recorded"
    );
}

#[tokio::test]
async fn a_cancel_before_a_timed_out_result_is_read_wins() {
    let (token, mut run) = sleeper_with_a_50ms_deadline().await;
    assert_eq!(
        bounded("wait", Duration::from_secs(5), run.wait())
            .await
            .unwrap(),
        None
    );
    assert!(run.timed_out());
    token.cancel();
    assert_cancelled(run.finish_streamed().await);
}

#[tokio::test]
async fn without_a_cancel_a_timeout_stays_captured_data() {
    let token = CancellationToken::new();
    let r = Command::new("sleep")
        .arg("30")
        .timeout(ms(50))
        .cancel_on(token)
        .output_string()
        .await
        .unwrap();
    assert!(r.timed_out());
}

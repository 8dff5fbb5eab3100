use super::*;

#[tokio::test]
async fn a_cancelled_attempt_is_never_retried() {
    let scratch = Scratch::new();
    let count = scratch.file("count");
    let token = CancellationToken::new();
    let cmd = Command::new("sh")
        .args(["-c", &format!("echo x >> {}; sleep 30", count.display())])
        .retry(RetryPolicy::new(5).backoff(ms(1), 1.0))
        .cancel_on(token.clone());
    let job = tokio::spawn(async move { cmd.output_string().await });
    eventually("the first attempt", Duration::from_secs(5), || {
        lines(&count) == 1
    })
    .await;
    token.cancel();
    assert_cancelled(
        bounded("the retried run", Duration::from_secs(5), job)
            .await
            .unwrap(),
    );
    assert_eq!(lines(&scratch.file("count")), 1);
}

#[tokio::test]
async fn a_cancel_during_a_backoff_delay_returns_at_once() {
    cancel_during_a_backoff("the retried run", async |cmd, token| {
        cmd.retry(RetryPolicy::new(5).backoff(Duration::from_secs(3600), 1.0))
            .cancel_on(token)
            .output_string()
            .await
    })
    .await;
}

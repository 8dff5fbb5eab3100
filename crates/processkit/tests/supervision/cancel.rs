use super::common::cancel_after;
use super::*;
use processkit::CancellationToken;

#[tokio::test(start_paused = true)]
async fn a_supervisor_token_cuts_a_long_backoff_short() {
    let double = Double::always(|| Canned::Exit(1));
    let token = CancellationToken::new();
    let canceller = cancel_after(&token, Duration::from_secs(5));
    let started = Instant::now();
    let err = supervise(&double, |s| {
        s.backoff(Duration::from_secs(3600), 1.0).cancel_on(token)
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert_eq!(double.calls().len(), 1);
    canceller.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_pre_cancelled_supervisor_never_calls_the_runner() {
    let double = Double::always(|| Canned::Exit(1));
    let token = CancellationToken::new();
    token.cancel();
    let err = supervise(&double, |s| s.cancel_on(token))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    assert!(double.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_pre_cancelled_command_token_never_calls_the_runner() {
    let double = Double::always(|| Canned::Exit(1));
    let token = CancellationToken::new();
    token.cancel();
    let sup = Supervisor::new(Command::new("worker").cancel_on(token)).with_runner(&double);
    assert!(matches!(sup.run().await, Err(Error::Cancelled { .. })));
    assert!(double.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_commands_own_token_stops_supervision_alongside_a_supervisor_token() {
    let double = Double::always(|| Canned::Exit(1));
    let own = CancellationToken::new();
    let canceller = cancel_after(&own, Duration::from_secs(7));
    let err = Supervisor::new(Command::new("worker").cancel_on(own))
        .jitter(false)
        .backoff(Duration::from_secs(3), 1.0)
        .cancel_on(CancellationToken::new())
        .with_runner(&double)
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    // Runs at 0 s, 3 s and 6 s; the cancel at 7 s lands in the backoff.
    assert_eq!(double.offsets(), [ms(0), ms(3000), ms(6000)]);
    canceller.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_cancel_that_lands_after_a_finished_run_prevents_the_restart() {
    let double = Double::always(|| Canned::Exit(1)).run_time(Duration::from_secs(10));
    let token = CancellationToken::new();
    let canceller = cancel_after(&token, Duration::from_secs(5));
    // The double ignores tokens, so its run finishes; no restart follows.
    let err = supervise(&double, |s| s.cancel_on(token))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    assert_eq!(double.calls().len(), 1);
    canceller.await.unwrap();
}

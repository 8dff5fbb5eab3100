use super::*;

#[tokio::test(start_paused = true)]
async fn a_crash_loop_trips_one_collective_pause_then_releases() {
    let double = Double::always(|| Canned::Exit(1));
    let outcome = supervise(&double, |s| {
        s.backoff(ms(10), 1.0)
            .storm_pause(Duration::from_secs(10))
            .failure_threshold(2.5)
            .failure_decay(Duration::from_secs(60))
            .max_restarts(6)
    })
    .await
    .unwrap();
    // Third quick crash: score ~3 >= 2.5 -> pause; the score starts over,
    // so the sixth crash trips it again.
    assert_eq!(
        double.gaps(),
        [ms(10), ms(10), ms(10_000), ms(10), ms(10), ms(10_000)]
    );
    assert_eq!(
        (outcome.restarts, outcome.storms, outcome.failures),
        (6, 2, 7)
    );
}

#[tokio::test(start_paused = true)]
async fn the_backoff_starts_over_after_a_storm_pause() {
    let double = Double::always(|| Canned::Exit(1));
    supervise(&double, |s| {
        s.backoff(ms(100), 2.0)
            .storm_pause(Duration::from_secs(5))
            .failure_threshold(2.5)
            .max_restarts(5)
    })
    .await
    .unwrap();
    assert_eq!(
        double.gaps(),
        [ms(100), ms(200), ms(5000), ms(100), ms(200)]
    );
}

#[tokio::test(start_paused = true)]
async fn the_guard_is_off_by_default() {
    let double = Double::always(|| Canned::Exit(1));
    let outcome = supervise(&double, |s| s.backoff(ms(10), 1.0).max_restarts(20))
        .await
        .unwrap();
    assert_eq!(outcome.storms, 0);
    assert!(double.gaps().iter().all(|g| *g == ms(10)));
}

#[tokio::test(start_paused = true)]
async fn rare_failures_decay_and_never_trip_the_guard() {
    // Each run lasts a minute; the score halves every 10 s, so the
    // previous crash has decayed to ~1/64 by the time of the next one.
    let double = Double::always(|| Canned::Exit(1)).run_time(Duration::from_secs(60));
    let outcome = supervise(&double, |s| {
        s.backoff(ms(10), 1.0)
            .storm_pause(Duration::from_secs(3600))
            .failure_threshold(1.5)
            .failure_decay(Duration::from_secs(10))
            .max_restarts(10)
    })
    .await
    .unwrap();
    assert_eq!(outcome.storms, 0);
    assert!(
        double
            .gaps()
            .iter()
            .all(|g| *g == Duration::from_secs(60) + ms(10))
    );
}

#[tokio::test(start_paused = true)]
async fn the_same_failures_close_together_do_trip_it() {
    let double = Double::always(|| Canned::Exit(1)).run_time(ms(100));
    let outcome = supervise(&double, |s| {
        s.backoff(ms(10), 1.0)
            .storm_pause(Duration::from_secs(3600))
            .failure_threshold(1.5)
            .failure_decay(Duration::from_secs(10))
            .max_restarts(2)
    })
    .await
    .unwrap();
    assert_eq!(outcome.storms, 1);
    assert_eq!(
        double.gaps(),
        [ms(110), Duration::from_secs(3600) + ms(100)]
    );
}

#[tokio::test(start_paused = true)]
async fn clean_exits_under_always_do_not_feed_the_score() {
    let double = Double::always(|| Canned::Exit(0));
    let outcome = supervise(&double, |s| {
        s.restart(RestartPolicy::Always)
            .backoff(ms(10), 1.0)
            .storm_pause(Duration::from_secs(3600))
            .failure_threshold(0.5)
            .max_restarts(10)
    })
    .await
    .unwrap();
    assert_eq!((outcome.storms, outcome.failures), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_zero_decay_scores_each_crash_alone() {
    let double = Double::always(|| Canned::Exit(1));
    let outcome = supervise(&double, |s| {
        s.backoff(ms(10), 1.0)
            .storm_pause(Duration::from_secs(1))
            .failure_threshold(1.5)
            .failure_decay(Duration::ZERO)
            .max_restarts(5)
    })
    .await
    .unwrap();
    assert_eq!(outcome.storms, 0);
}

#[tokio::test(start_paused = true)]
async fn a_nan_threshold_is_ignored_and_a_negative_one_trips_on_every_crash() {
    let double = Double::always(|| Canned::Exit(1));
    let outcome = supervise(&double, |s| {
        s.backoff(ms(10), 1.0)
            .storm_pause(ms(500))
            .failure_threshold(-3.0)
            .failure_threshold(f64::NAN)
            .max_restarts(3)
    })
    .await
    .unwrap();
    assert_eq!(outcome.storms, 3);
    assert_eq!(double.gaps(), [ms(500), ms(500), ms(500)]);
}

use super::*;

#[tokio::test(start_paused = true)]
async fn delays_grow_by_the_multiplier_and_stop_at_the_cap() {
    let double = Double::always(|| Canned::Exit(1));
    let outcome = supervise(&double, |s| {
        s.backoff(ms(100), 2.0).max_backoff(ms(500)).max_restarts(5)
    })
    .await
    .unwrap();
    assert_eq!(outcome.restarts, 5);
    assert_eq!(double.gaps(), [ms(100), ms(200), ms(400), ms(500), ms(500)]);
}

#[tokio::test(start_paused = true)]
async fn the_delay_runs_from_the_end_of_the_previous_run() {
    let double = Double::always(|| Canned::Exit(1)).run_time(ms(1000));
    supervise(&double, |s| s.backoff(ms(100), 3.0).max_restarts(2))
        .await
        .unwrap();
    assert_eq!(double.offsets(), [ms(0), ms(1100), ms(2400)]);
}

#[tokio::test(start_paused = true)]
async fn a_multiplier_below_one_is_taken_as_one() {
    let double = Double::always(|| Canned::Exit(1));
    supervise(&double, |s| s.backoff(ms(50), 0.1).max_restarts(3))
        .await
        .unwrap();
    assert_eq!(double.gaps(), [ms(50), ms(50), ms(50)]);
}

#[tokio::test(start_paused = true)]
async fn a_huge_multiplier_saturates_at_the_cap_instead_of_overflowing() {
    let double = Double::always(|| Canned::Exit(1));
    supervise(&double, |s| {
        s.backoff(ms(10), f64::MAX)
            .max_backoff(ms(700))
            .max_restarts(4)
    })
    .await
    .unwrap();
    assert_eq!(double.gaps(), [ms(10), ms(700), ms(700), ms(700)]);
}

#[tokio::test(start_paused = true)]
async fn jitter_is_on_by_default_and_keeps_each_delay_between_half_and_full() {
    let double = Double::always(|| Canned::Exit(1));
    Supervisor::new(Command::new("worker"))
        .backoff(ms(1000), 1.0)
        .max_restarts(30)
        .with_runner(&double)
        .run()
        .await
        .unwrap();
    let gaps = double.gaps();
    assert_eq!(gaps.len(), 30);
    for gap in &gaps {
        assert!(
            (ms(500)..=ms(1000)).contains(gap),
            "jittered delay {gap:?} out of [500ms, 1s]"
        );
    }
    assert!(
        gaps.iter().any(|g| *g != gaps[0]),
        "jitter produced 30 identical delays: {gaps:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn delay_before_restart_reports_the_nominal_schedule() {
    let sup = supervisor().backoff(ms(100), 2.0).max_backoff(ms(1000));
    let schedule: Vec<_> = (1..=6).map(|k| sup.delay_before_restart(k)).collect();
    assert_eq!(
        schedule,
        [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
    );
    assert_eq!(sup.delay_before_restart(0), Duration::ZERO);
    assert_eq!(sup.delay_before_restart(u32::MAX), ms(1000));
}

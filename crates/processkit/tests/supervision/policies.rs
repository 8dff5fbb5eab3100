use super::*;

#[tokio::test(start_paused = true)]
async fn on_crash_restarts_until_a_clean_exit() {
    let double = Double::new([Canned::Exit(1), Canned::Exit(2)], || Canned::Exit(0));
    let outcome = supervisor()
        .restart(RestartPolicy::OnCrash)
        .with_runner(&double)
        .run()
        .await
        .unwrap();
    assert_eq!(outcome.stopped, StopReason::CleanExit);
    assert_eq!(outcome.restarts, 2);
    assert_eq!(outcome.failures, 2);
    assert_eq!(double.calls().len(), 3);
    let last = outcome.last.expect("the final run's result");
    assert_eq!(last.code(), Some(0));
    assert_eq!(
        (last.stdout().as_str(), last.stderr().as_str()),
        ("out\n", "err\n")
    );
}

#[tokio::test(start_paused = true)]
async fn on_crash_counts_kills_and_timeouts_as_crashes() {
    let double = Double::new(
        [Canned::Signal(9), Canned::TimedOut, Canned::Exit(3)],
        || Canned::Exit(0),
    );
    let outcome = supervisor().with_runner(&double).run().await.unwrap();
    assert_eq!(
        (outcome.restarts, outcome.failures, outcome.stopped),
        (3, 3, StopReason::CleanExit)
    );
}

#[tokio::test(start_paused = true)]
async fn on_crash_is_the_default_policy() {
    let double = Double::always(|| Canned::Exit(0));
    let outcome = Supervisor::new(Command::new("worker"))
        .with_runner(&double)
        .run()
        .await
        .unwrap();
    assert_eq!(
        (outcome.restarts, outcome.stopped),
        (0, StopReason::CleanExit)
    );
}

#[tokio::test(start_paused = true)]
async fn always_restarts_after_clean_exits_too() {
    let double = Double::always(|| Canned::Exit(0));
    let outcome = supervisor()
        .restart(RestartPolicy::Always)
        .max_restarts(4)
        .with_runner(&double)
        .run()
        .await
        .unwrap();
    assert_eq!(
        (outcome.restarts, outcome.failures, outcome.stopped),
        (4, 0, StopReason::MaxRestarts)
    );
    assert_eq!(double.calls().len(), 5);
}

#[tokio::test(start_paused = true)]
async fn never_runs_exactly_once_even_after_a_crash() {
    let double = Double::always(|| Canned::Exit(1));
    let outcome = supervisor()
        .restart(RestartPolicy::Never)
        .with_runner(&double)
        .run()
        .await
        .unwrap();
    assert_eq!(
        (outcome.restarts, outcome.failures, outcome.stopped),
        (0, 1, StopReason::PolicyNever)
    );
    assert_eq!(outcome.last.and_then(|r| r.code()), Some(1));
    assert_eq!(double.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn max_restarts_bounds_the_re_spawns_after_the_first_run() {
    let double = Double::always(|| Canned::Exit(1));
    let outcome = supervisor()
        .max_restarts(3)
        .with_runner(&double)
        .run()
        .await
        .unwrap();
    assert_eq!(
        (outcome.restarts, outcome.stopped),
        (3, StopReason::MaxRestarts)
    );
    assert_eq!(double.calls().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn max_restarts_zero_runs_once() {
    let double = Double::always(|| Canned::Exit(1));
    let outcome = supervisor()
        .max_restarts(0)
        .with_runner(&double)
        .run()
        .await
        .unwrap();
    assert_eq!(
        (outcome.restarts, outcome.stopped),
        (0, StopReason::MaxRestarts)
    );
    assert_eq!(double.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_clean_exit_under_on_crash_ends_before_the_budget_is_checked() {
    let double = Double::always(|| Canned::Exit(0));
    let outcome = supervisor()
        .max_restarts(0)
        .with_runner(&double)
        .run()
        .await
        .unwrap();
    assert_eq!(outcome.stopped, StopReason::CleanExit);
}

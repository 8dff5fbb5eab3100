use super::*;

#[tokio::test(start_paused = true)]
async fn on_crash_restarts_until_a_clean_exit() {
    let double = Double::new([Canned::Exit(1), Canned::Exit(2)], || Canned::Exit(0));
    let outcome = supervise(&double, |s| s.restart(RestartPolicy::OnCrash))
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
    let outcome = supervise(&double, |s| s).await.unwrap();
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

/// One policy and budget case: every run exits with the same code.
struct Budget {
    case: &'static str,
    policy: RestartPolicy,
    max_restarts: Option<u32>,
    exit: fn() -> Canned,
    /// `(restarts, failures, stopped, runs, last run's code)`.
    expect: (u32, u32, StopReason, usize, i32),
}

/// Each row is checked in full: the outcome's counts and reason, how often
/// the runner was called, and the last run's exit code.
#[tokio::test(start_paused = true)]
async fn policies_and_the_restart_budget() {
    use RestartPolicy::{Always, Never, OnCrash};
    use StopReason::{CleanExit, MaxRestarts, PolicyNever};
    let ok: fn() -> Canned = || Canned::Exit(0);
    let crash: fn() -> Canned = || Canned::Exit(1);
    let cases = [
        Budget {
            case: "always restarts after clean exits too",
            policy: Always,
            max_restarts: Some(4),
            exit: ok,
            expect: (4, 0, MaxRestarts, 5, 0),
        },
        Budget {
            case: "never runs exactly once, even after a crash",
            policy: Never,
            max_restarts: None,
            exit: crash,
            expect: (0, 1, PolicyNever, 1, 1),
        },
        Budget {
            case: "max_restarts bounds the re-spawns after the first run",
            policy: OnCrash,
            max_restarts: Some(3),
            exit: crash,
            expect: (3, 4, MaxRestarts, 4, 1),
        },
        Budget {
            case: "max_restarts(0) runs once",
            policy: OnCrash,
            max_restarts: Some(0),
            exit: crash,
            expect: (0, 1, MaxRestarts, 1, 1),
        },
        Budget {
            case: "a clean exit under OnCrash ends before the budget is checked",
            policy: OnCrash,
            max_restarts: Some(0),
            exit: ok,
            expect: (0, 0, CleanExit, 1, 0),
        },
    ];
    for Budget {
        case,
        policy,
        max_restarts,
        exit,
        expect: (restarts, failures, stopped, runs, last_code),
    } in cases
    {
        let double = Double::always(exit);
        let outcome = supervise(&double, |s| match max_restarts {
            Some(n) => s.restart(policy).max_restarts(n),
            None => s.restart(policy),
        })
        .await
        .unwrap();
        assert_eq!(
            (outcome.restarts, outcome.failures, outcome.stopped),
            (restarts, failures, stopped),
            "{case}"
        );
        assert_eq!(double.calls().len(), runs, "{case}");
        assert_eq!(
            outcome.last.and_then(|r| r.code()),
            Some(last_code),
            "{case}"
        );
    }
}

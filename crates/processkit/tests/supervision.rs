//! Supervision: restart policies, backoff growth and cap, jitter bounds, the
//! failure-storm guard, stop conditions, outcomes, error handling, and a
//! shared process group as the runner.
//!
//! The supervision logic is checked hermetically on tokio's paused clock
//! with a runner double that returns canned outcomes and records the
//! (virtual) instant of every call, so delays can be asserted exactly. The
//! `real_processes` module runs the same machinery on real children.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use processkit::{
    BoxFuture, Command, Error, ExitStatus, ProcessResult, ProcessRunner, RestartPolicy,
    RunningProcess, StopReason, Supervisor,
};
use tokio::time::Instant;

/// One canned outcome: how long the "run" takes (virtual time) and what it
/// returns.
enum Canned {
    Exit(i32),
    Signal(i32),
    TimedOut,
    NotFound,
    SpawnFailed,
}

impl Canned {
    fn into_outcome(self, program: &str) -> processkit::Result<ProcessResult<Vec<u8>>> {
        let result = |status, timed_out| {
            Ok(ProcessResult::new(
                program,
                status,
                b"out\n".to_vec(),
                b"err\n".to_vec(),
                timed_out,
                Duration::ZERO,
            ))
        };
        match self {
            Canned::Exit(code) => result(ExitStatus::from_code(code), false),
            Canned::Signal(sig) => result(ExitStatus::from_signal(sig), false),
            Canned::TimedOut => result(ExitStatus::from_signal(9), true),
            Canned::NotFound => Err(Error::NotFound {
                program: program.to_owned(),
                searched: None,
            }),
            Canned::SpawnFailed => Err(Error::Spawn {
                program: program.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::WouldBlock, "process table full"),
            }),
        }
    }
}

/// A runner double: serves `script` in order, then `then` forever; each
/// call "runs" for `run_time` of virtual time. Records when each call began.
struct Double {
    script: Mutex<VecDeque<Canned>>,
    then: fn() -> Canned,
    run_time: Duration,
    calls: Mutex<Vec<Instant>>,
}

impl Double {
    fn new(script: impl IntoIterator<Item = Canned>, then: fn() -> Canned) -> Self {
        Double {
            script: Mutex::new(script.into_iter().collect()),
            then,
            run_time: Duration::ZERO,
            calls: Mutex::new(Vec::new()),
        }
    }

    fn always(then: fn() -> Canned) -> Self {
        Self::new([], then)
    }

    fn run_time(mut self, d: Duration) -> Self {
        self.run_time = d;
        self
    }

    fn calls(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().clone()
    }

    /// Offsets of every call from the first one.
    fn offsets(&self) -> Vec<Duration> {
        let calls = self.calls();
        calls.iter().map(|t| *t - calls[0]).collect()
    }

    /// Gaps between consecutive calls.
    fn gaps(&self) -> Vec<Duration> {
        self.calls().windows(2).map(|w| w[1] - w[0]).collect()
    }
}

impl ProcessRunner for Double {
    fn execute<'a>(
        &'a self,
        cmd: &'a Command,
    ) -> BoxFuture<'a, processkit::Result<ProcessResult<Vec<u8>>>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(Instant::now());
            let next = self
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(self.then);
            tokio::time::sleep(self.run_time).await;
            next.into_outcome(&cmd.get_program().to_string_lossy())
        })
    }

    fn start<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, processkit::Result<RunningProcess>> {
        Box::pin(async move {
            Err(Error::Unsupported {
                program: cmd.get_program().to_string_lossy().into_owned(),
                operation: "start".into(),
                reason: "this double only executes".into(),
            })
        })
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn supervisor() -> Supervisor {
    Supervisor::new(Command::new("worker")).jitter(false)
}

mod policies {
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
}

mod stop_conditions {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stop_when_ends_supervision_on_the_first_matching_run() {
        let double = Double::new([Canned::Exit(1), Canned::Exit(0), Canned::Exit(7)], || {
            Canned::Exit(1)
        });
        let outcome = supervisor()
            .restart(RestartPolicy::Always)
            .stop_when(|res| res.code() == Some(7))
            .with_runner(&double)
            .run()
            .await
            .unwrap();
        assert_eq!(
            (outcome.restarts, outcome.stopped),
            (2, StopReason::StopCondition)
        );
        assert_eq!(outcome.last.and_then(|r| r.code()), Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn stop_when_wins_over_the_policy_and_the_budget() {
        let double = Double::always(|| Canned::Exit(0));
        let outcome = supervisor()
            .restart(RestartPolicy::Never)
            .max_restarts(0)
            .stop_when(|res| res.is_success())
            .with_runner(&double)
            .run()
            .await
            .unwrap();
        assert_eq!(outcome.stopped, StopReason::StopCondition);
    }

    #[tokio::test(start_paused = true)]
    async fn stop_when_sees_captured_output_and_can_stop_a_crash() {
        let double = Double::always(|| Canned::Exit(9));
        let outcome = supervisor()
            .stop_when(|res| res.stderr() == "err\n" && res.code() == Some(9))
            .with_runner(&double)
            .run()
            .await
            .unwrap();
        assert_eq!(
            (outcome.restarts, outcome.failures, outcome.stopped),
            (0, 1, StopReason::StopCondition)
        );
    }
}

mod backoff {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn delays_grow_by_the_multiplier_and_stop_at_the_cap() {
        let double = Double::always(|| Canned::Exit(1));
        let outcome = supervisor()
            .backoff(ms(100), 2.0)
            .max_backoff(ms(500))
            .max_restarts(5)
            .with_runner(&double)
            .run()
            .await
            .unwrap();
        assert_eq!(outcome.restarts, 5);
        assert_eq!(double.gaps(), [ms(100), ms(200), ms(400), ms(500), ms(500)]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_delay_runs_from_the_end_of_the_previous_run() {
        let double = Double::always(|| Canned::Exit(1)).run_time(ms(1000));
        supervisor()
            .backoff(ms(100), 3.0)
            .max_restarts(2)
            .with_runner(&double)
            .run()
            .await
            .unwrap();
        assert_eq!(double.offsets(), [ms(0), ms(1100), ms(2400)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_multiplier_below_one_is_taken_as_one() {
        let double = Double::always(|| Canned::Exit(1));
        supervisor()
            .backoff(ms(50), 0.1)
            .max_restarts(3)
            .with_runner(&double)
            .run()
            .await
            .unwrap();
        assert_eq!(double.gaps(), [ms(50), ms(50), ms(50)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_multiplier_saturates_at_the_cap_instead_of_overflowing() {
        let double = Double::always(|| Canned::Exit(1));
        supervisor()
            .backoff(ms(10), f64::MAX)
            .max_backoff(ms(700))
            .max_restarts(4)
            .with_runner(&double)
            .run()
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
}

mod storm_guard {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_crash_loop_trips_one_collective_pause_then_releases() {
        let double = Double::always(|| Canned::Exit(1));
        let outcome = supervisor()
            .backoff(ms(10), 1.0)
            .storm_pause(Duration::from_secs(10))
            .failure_threshold(2.5)
            .failure_decay(Duration::from_secs(60))
            .max_restarts(6)
            .with_runner(&double)
            .run()
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
        supervisor()
            .backoff(ms(100), 2.0)
            .storm_pause(Duration::from_secs(5))
            .failure_threshold(2.5)
            .max_restarts(5)
            .with_runner(&double)
            .run()
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
        let outcome = supervisor()
            .backoff(ms(10), 1.0)
            .max_restarts(20)
            .with_runner(&double)
            .run()
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
        let outcome = supervisor()
            .backoff(ms(10), 1.0)
            .storm_pause(Duration::from_secs(3600))
            .failure_threshold(1.5)
            .failure_decay(Duration::from_secs(10))
            .max_restarts(10)
            .with_runner(&double)
            .run()
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
        let outcome = supervisor()
            .backoff(ms(10), 1.0)
            .storm_pause(Duration::from_secs(3600))
            .failure_threshold(1.5)
            .failure_decay(Duration::from_secs(10))
            .max_restarts(2)
            .with_runner(&double)
            .run()
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
        let outcome = supervisor()
            .restart(RestartPolicy::Always)
            .backoff(ms(10), 1.0)
            .storm_pause(Duration::from_secs(3600))
            .failure_threshold(0.5)
            .max_restarts(10)
            .with_runner(&double)
            .run()
            .await
            .unwrap();
        assert_eq!((outcome.storms, outcome.failures), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_decay_scores_each_crash_alone() {
        let double = Double::always(|| Canned::Exit(1));
        let outcome = supervisor()
            .backoff(ms(10), 1.0)
            .storm_pause(Duration::from_secs(1))
            .failure_threshold(1.5)
            .failure_decay(Duration::ZERO)
            .max_restarts(5)
            .with_runner(&double)
            .run()
            .await
            .unwrap();
        assert_eq!(outcome.storms, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_nan_threshold_is_ignored_and_a_negative_one_trips_on_every_crash() {
        let double = Double::always(|| Canned::Exit(1));
        let outcome = supervisor()
            .backoff(ms(10), 1.0)
            .storm_pause(ms(500))
            .failure_threshold(-3.0)
            .failure_threshold(f64::NAN)
            .max_restarts(3)
            .with_runner(&double)
            .run()
            .await
            .unwrap();
        assert_eq!(outcome.storms, 3);
        assert_eq!(double.gaps(), [ms(500), ms(500), ms(500)]);
    }
}

mod errors {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_missing_program_ends_supervision_with_not_found_instead_of_looping() {
        let double = Double::always(|| Canned::NotFound);
        let err = supervisor()
            .restart(RestartPolicy::Always)
            .with_runner(&double)
            .run()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        assert_eq!(double.calls().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_spawn_failure_after_some_restarts_ends_supervision_with_that_error() {
        let double = Double::new([Canned::Exit(1), Canned::Exit(1)], || Canned::SpawnFailed);
        let err = supervisor().with_runner(&double).run().await.unwrap_err();
        assert!(
            matches!(err, Error::Spawn { ref program, .. } if program == "worker"),
            "{err:?}"
        );
        assert_eq!(double.calls().len(), 3);
    }
}

mod scripted_runner {
    use super::*;
    use processkit::{ScriptedOutcome, ScriptedRunner};

    #[tokio::test(start_paused = true)]
    async fn a_scripted_runner_drives_supervision_without_processes() {
        let runner = ScriptedRunner::new()
            .on(["my-server", "--port", "8080"], ScriptedOutcome::exit(1))
            .on(["my-server", "--port", "8080"], ScriptedOutcome::killed(9))
            .on(
                ["my-server", "--port", "8080"],
                ScriptedOutcome::success().stdout("bye\n"),
            );
        let started = Instant::now();
        let outcome = Supervisor::new(Command::new("my-server").args(["--port", "8080"]))
            .backoff(Duration::from_secs(1), 2.0)
            .jitter(false)
            .with_runner(&runner)
            .run()
            .await
            .unwrap();
        assert_eq!(
            (outcome.restarts, outcome.failures, outcome.stopped),
            (2, 2, StopReason::CleanExit)
        );
        assert_eq!(
            outcome.last.map(|r| r.stdout().clone()).as_deref(),
            Some("bye\n")
        );
        assert_eq!(runner.calls().len(), 3);
        assert!(runner.unused().is_empty(), "{:?}", runner.unused());
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(3),
            "1 s + 2 s of backoff, on the paused clock"
        );
    }
}

#[cfg(feature = "cancellation")]
mod cancel {
    use super::*;
    use processkit::CancellationToken;

    #[tokio::test(start_paused = true)]
    async fn a_supervisor_token_cuts_a_long_backoff_short() {
        let double = Double::always(|| Canned::Exit(1));
        let token = CancellationToken::new();
        let canceller = {
            let token = token.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                token.cancel();
            })
        };
        let started = Instant::now();
        let err = supervisor()
            .backoff(Duration::from_secs(3600), 1.0)
            .cancel_on(token)
            .with_runner(&double)
            .run()
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
        let err = supervisor()
            .cancel_on(token)
            .with_runner(&double)
            .run()
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
        let canceller = {
            let own = own.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(7)).await;
                own.cancel();
            })
        };
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
        let canceller = {
            let token = token.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                token.cancel();
            })
        };
        // The double ignores tokens, so its run finishes; no restart follows.
        let err = supervisor()
            .cancel_on(token)
            .with_runner(&double)
            .run()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
        assert_eq!(double.calls().len(), 1);
        canceller.await.unwrap();
    }
}

#[cfg(unix)]
mod real_processes {
    use super::*;
    use processkit::ProcessGroup;
    use std::path::Path;

    /// True while `pid` exists and is not a zombie.
    fn alive(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z')),
            Err(_) => false,
        }
    }

    fn pids_in(path: &Path) -> Vec<u32> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    async fn eventually(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + within;
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "timed out after {within:?} waiting for: {what}"
            );
            tokio::time::sleep(ms(20)).await;
        }
    }

    #[tokio::test]
    async fn a_crash_looping_child_is_restarted_up_to_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let script = format!("echo run >> {}; exit 4", count.display());
        let outcome = Supervisor::new(Command::new("sh").args(["-c", &script]))
            .backoff(ms(5), 2.0)
            .max_restarts(3)
            .run()
            .await
            .unwrap();
        assert_eq!(
            (outcome.restarts, outcome.stopped),
            (3, StopReason::MaxRestarts)
        );
        assert_eq!(outcome.last.and_then(|r| r.code()), Some(4));
        assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 4);
    }

    #[tokio::test]
    async fn a_timed_out_run_is_a_crash_and_gets_restarted() {
        let outcome = Supervisor::new(Command::new("sleep").arg("30").timeout(ms(50)))
            .backoff(ms(5), 1.0)
            .max_restarts(1)
            .run()
            .await
            .unwrap();
        assert_eq!((outcome.restarts, outcome.failures), (1, 2));
        assert!(outcome.last.expect("last run").timed_out());
    }

    #[tokio::test]
    async fn a_missing_program_ends_supervision_at_once() {
        let err = Supervisor::new(Command::new("processkit-no-such-program-4711"))
            .restart(RestartPolicy::Always)
            .backoff(Duration::from_secs(3600), 1.0)
            .run()
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::NotFound { ref program, .. } if program == "processkit-no-such-program-4711")
        );
    }

    #[tokio::test]
    async fn each_incarnation_in_the_group_takes_its_leftovers_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        // Each incarnation leaves a backgrounded grandchild behind.
        let script = format!("sleep 30 >/dev/null 2>&1 & echo $! >> {}", pids.display());
        let group = ProcessGroup::new().unwrap();
        let outcome = Supervisor::new(Command::new("sh").args(["-c", &script]))
            .restart(RestartPolicy::Always)
            .backoff(ms(5), 1.0)
            .max_restarts(2)
            .with_runner(&group)
            .run()
            .await
            .unwrap();
        assert_eq!(
            (outcome.restarts, outcome.stopped),
            (2, StopReason::MaxRestarts)
        );
        let left = pids_in(&pids);
        assert_eq!(left.len(), 3, "one grandchild per incarnation");
        // A consuming run is over when it returns, on a group runner too:
        // every incarnation's grandchild went with its run, while the group
        // lives on.
        eventually(
            "every incarnation's grandchild to die with its run",
            Duration::from_secs(5),
            || left.iter().all(|p| !alive(*p)),
        )
        .await;
        assert!(!group.is_shut_down());
        drop(group);
    }
}

//! `Command::retry`: the loop stops at the first success, returns the last
//! attempt's outcome honestly, respects the classifier, never retries errors
//! another attempt cannot fix, and spaces attempts by the policy's backoff.
//!
//! The schedule is checked on tokio's paused clock through a runner double
//! (every verb of `ProcessRunnerExt` applies the policy); the rest runs real
//! processes that count their attempts in a file.

#[cfg(feature = "cancellation")]
#[path = "common/cancel.rs"]
mod scheduled;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use processkit::{
    BoxFuture, Command, Error, ExitStatus, ProcessResult, ProcessRunner, ProcessRunnerExt,
    RetryPolicy, RunningProcess,
};
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A runner double that serves exit codes (or errors) in order and records
/// the virtual instant of every call; after the script it repeats `then`.
struct Double {
    script: Mutex<VecDeque<processkit::Result<i32>>>,
    then: fn() -> processkit::Result<i32>,
    calls: Mutex<Vec<Instant>>,
}

impl Double {
    fn new(
        script: impl IntoIterator<Item = processkit::Result<i32>>,
        then: fn() -> processkit::Result<i32>,
    ) -> Self {
        Double {
            script: Mutex::new(script.into_iter().collect()),
            then,
            calls: Mutex::new(Vec::new()),
        }
    }

    fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    fn gaps(&self) -> Vec<Duration> {
        self.calls
            .lock()
            .unwrap()
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect()
    }
}

impl ProcessRunner for Double {
    fn execute<'a>(
        &'a self,
        cmd: &'a Command,
    ) -> BoxFuture<'a, processkit::Result<ProcessResult<Vec<u8>>>> {
        Box::pin(async move {
            let n = {
                let mut calls = self.calls.lock().unwrap();
                calls.push(Instant::now());
                calls.len()
            };
            let next = self
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(self.then);
            let code = next?;
            let program = cmd.get_program().to_string_lossy().into_owned();
            let stdout = format!("attempt {n}\n").into_bytes();
            Ok(ProcessResult::new(
                program,
                ExitStatus::from_code(code),
                stdout,
                Vec::new(),
                false,
                Duration::ZERO,
            ))
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

fn not_found() -> processkit::Result<i32> {
    Err(Error::NotFound {
        program: "tool".into(),
        searched: None,
    })
}

mod schedule {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn attempts_are_spaced_by_the_growing_capped_backoff() {
        let double = Double::new([], || Ok(1));
        let policy = RetryPolicy::new(6)
            .backoff(ms(100), 2.0)
            .max_backoff(ms(500))
            .jitter(false);
        let r = double
            .output_bytes(&Command::new("tool").retry(policy))
            .await
            .unwrap();
        assert_eq!(r.code(), Some(1));
        assert_eq!(double.gaps(), [ms(100), ms(200), ms(400), ms(500), ms(500)]);
    }

    #[tokio::test(start_paused = true)]
    async fn jittered_delays_stay_between_half_and_full() {
        let double = Double::new([], || Ok(1));
        let policy = RetryPolicy::new(21).backoff(ms(1000), 1.0);
        double
            .output_bytes(&Command::new("tool").retry(policy))
            .await
            .unwrap();
        let gaps = double.gaps();
        assert_eq!(gaps.len(), 20);
        assert!(
            gaps.iter().all(|g| (ms(500)..=ms(1000)).contains(g)),
            "{gaps:?}"
        );
        assert!(
            gaps.iter().any(|g| *g != gaps[0]),
            "no jitter at all: {gaps:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn every_verb_applies_the_policy() {
        let policy = RetryPolicy::new(3).backoff(ms(10), 1.0).jitter(false);
        let cmd = Command::new("tool").retry(policy);

        let double = Double::new([Ok(1), Ok(1)], || Ok(0));
        assert_eq!(double.run(&cmd).await.unwrap(), "attempt 3");
        let double = Double::new([Ok(1)], || Ok(0));
        assert_eq!(double.exit_code(&cmd).await.unwrap(), 0);
        assert_eq!(double.count(), 2);
        // To the default classifier a probe's "no" (exit 1) is a failed
        // attempt like any other.
        let double = Double::new([Ok(2)], || Ok(1));
        assert!(!double.probe(&cmd).await.unwrap());
        assert_eq!(double.count(), 3);
        let double = Double::new([Ok(2)], || Ok(1));
        let no_is_an_answer = cmd.clone().retry(
            RetryPolicy::new(3)
                .jitter(false)
                .retry_if(|a| a.code() != Some(1)),
        );
        assert!(!double.probe(&no_is_an_answer).await.unwrap());
        assert_eq!(double.count(), 2);
        let double = Double::new([Ok(2), Ok(2)], || Ok(0));
        assert!(double.output_string(&cmd).await.unwrap().is_success());
        assert_eq!(double.count(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_policy_of_zero_attempts_still_runs_once() {
        let double = Double::new([], || Ok(1));
        double
            .output_bytes(&Command::new("tool").retry(RetryPolicy::new(0)))
            .await
            .unwrap();
        assert_eq!(double.count(), 1);
    }
}

mod outcomes {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retry_stops_at_the_first_success() {
        let double = Double::new([Ok(1), Ok(1), Ok(0)], || Ok(1));
        let r = double
            .output_string(&Command::new("tool").retry(RetryPolicy::new(10)))
            .await
            .unwrap();
        assert!(r.is_success());
        assert_eq!(double.count(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_attempts_result_is_returned_when_every_attempt_fails() {
        let double = Double::new([Ok(3), Ok(4)], || Ok(5));
        let r = double
            .output_string(&Command::new("tool").retry(RetryPolicy::new(3)))
            .await
            .unwrap();
        assert_eq!((r.code(), r.stdout().as_str()), (Some(5), "attempt 3\n"));
    }

    #[tokio::test(start_paused = true)]
    async fn run_raises_the_last_attempts_exit_code() {
        let double = Double::new([Ok(3), Ok(4)], || Ok(5));
        let err = double
            .run(&Command::new("tool").retry(RetryPolicy::new(3)))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NonZeroExit { code: 5, .. }), "{err:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_after_failed_attempts_is_returned_as_the_outcome() {
        let double = Double::new([Ok(1), Ok(1)], not_found);
        let err = double
            .output_bytes(&Command::new("tool").retry(RetryPolicy::new(5)))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        assert_eq!(double.count(), 3);
    }
}

mod classifiers {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn only_attempts_the_classifier_accepts_are_retried() {
        let double = Double::new([Ok(75), Ok(75), Ok(2)], || Ok(75));
        let policy = RetryPolicy::new(10).retry_if(|a| a.code() == Some(75));
        let r = double
            .output_bytes(&Command::new("tool").retry(policy))
            .await
            .unwrap();
        assert_eq!(r.code(), Some(2));
        assert_eq!(double.count(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_classifier_sees_each_failed_attempt_once_in_order() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let policy = RetryPolicy::new(4).retry_if({
            let seen = Arc::clone(&seen);
            move |a| {
                seen.lock()
                    .unwrap()
                    .push((a.number(), a.code(), a.stdout(), a.succeeded()));
                true
            }
        });
        let double = Double::new([Ok(1), Ok(2)], || Ok(0));
        double
            .output_bytes(&Command::new("tool").retry(policy))
            .await
            .unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                (1, Some(1), "attempt 1\n".to_owned(), false),
                (2, Some(2), "attempt 2\n".to_owned(), false)
            ],
            "a success ends the loop without asking the classifier"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_permissive_classifier_still_never_retries_a_missing_program() {
        let asked = Arc::new(Mutex::new(0));
        let policy = RetryPolicy::new(5).retry_if({
            let asked = Arc::clone(&asked);
            move |_| {
                *asked.lock().unwrap() += 1;
                true
            }
        });
        let double = Double::new([], not_found);
        let err = double
            .output_bytes(&Command::new("tool").retry(policy))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
        assert_eq!((double.count(), *asked.lock().unwrap()), (1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn errors_another_attempt_cannot_fix_are_never_retried() {
        let permanent: [fn() -> processkit::Result<i32>; 6] = [
            not_found,
            || {
                Err(Error::Cancelled {
                    program: "tool".into(),
                })
            },
            || {
                Err(Error::InvalidInput {
                    program: "tool".into(),
                    reason: "NUL byte".into(),
                })
            },
            || {
                Err(Error::PermissionDenied {
                    program: "tool".into(),
                    source: std::io::ErrorKind::PermissionDenied.into(),
                })
            },
            || {
                Err(Error::Unsupported {
                    program: "tool".into(),
                    operation: "uid".into(),
                    reason: "no".into(),
                })
            },
            || {
                Err(Error::NoScriptedOutcome {
                    program: "tool".into(),
                    detail: "tool".into(),
                })
            },
        ];
        for make in permanent {
            let double = Double::new([], make);
            let err = double
                .output_bytes(&Command::new("tool").retry(RetryPolicy::new(5)))
                .await
                .unwrap_err();
            assert_eq!(double.count(), 1, "{err:?} was retried");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_spawn_error_is_retried_by_default() {
        let double = Double::new(
            [Err(Error::Spawn {
                program: "tool".into(),
                source: std::io::ErrorKind::WouldBlock.into(),
            })],
            || Ok(0),
        );
        let r = double
            .output_bytes(&Command::new("tool").retry(RetryPolicy::new(3)))
            .await
            .unwrap();
        assert!(r.is_success());
        assert_eq!(double.count(), 2);
    }
}

#[cfg(feature = "cancellation")]
mod cancellation {
    use super::scheduled::cancel_after;
    use super::*;
    use processkit::CancellationToken;

    /// Cancels `token` while each attempt runs, then lets the attempt finish
    /// anyway (as a run that exits just before the kill lands would).
    struct CancelsDuringRun<'a> {
        inner: &'a Double,
        token: CancellationToken,
    }

    impl ProcessRunner for CancelsDuringRun<'_> {
        fn execute<'a>(
            &'a self,
            cmd: &'a Command,
        ) -> BoxFuture<'a, processkit::Result<ProcessResult<Vec<u8>>>> {
            self.token.cancel();
            self.inner.execute(cmd)
        }

        fn start<'a>(
            &'a self,
            cmd: &'a Command,
        ) -> BoxFuture<'a, processkit::Result<RunningProcess>> {
            self.inner.start(cmd)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_during_the_backoff_ends_the_loop_when_it_lands() {
        let double = Double::new([], || Ok(1));
        let token = CancellationToken::new();
        let canceller = cancel_after(&token, Duration::from_secs(5));
        let started = Instant::now();
        let policy = RetryPolicy::new(5).backoff(Duration::from_secs(3600), 1.0);
        let err = double
            .output_bytes(&Command::new("tool").retry(policy).cancel_on(token))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
        assert_eq!(
            (started.elapsed(), double.count()),
            (Duration::from_secs(5), 1)
        );
        canceller.await.unwrap();
    }

    /// A cancel that lands while an attempt runs: a failed attempt is not
    /// retried and reports `Cancelled`; a successful one still stands; the
    /// final attempt is returned as it ended. The runner is called once.
    #[tokio::test(start_paused = true)]
    async fn an_attempt_that_ends_after_a_cancel() {
        // (case, every attempt's exit code, attempts allowed, the code
        // returned; `None`: the error is `Cancelled`)
        type Case = (
            &'static str,
            fn() -> processkit::Result<i32>,
            u32,
            Option<i32>,
        );
        let cases: [Case; 3] = [
            ("a failed attempt is not retried", || Ok(1), 5, None),
            ("a successful attempt still stands", || Ok(0), 5, Some(0)),
            ("the final attempt is returned", || Ok(3), 1, Some(3)),
        ];
        for (case, then, attempts, code) in cases {
            let double = Double::new([], then);
            let token = CancellationToken::new();
            let runner = CancelsDuringRun {
                inner: &double,
                token: token.clone(),
            };
            let cmd = Command::new("tool")
                .retry(RetryPolicy::new(attempts))
                .cancel_on(token);
            match (runner.output_bytes(&cmd).await, code) {
                (Err(err), None) => {
                    assert!(matches!(err, Error::Cancelled { .. }), "{case}: {err:?}")
                }
                (Ok(r), Some(code)) => {
                    assert_eq!(r.code(), Some(code), "{case}");
                    assert_eq!(r.is_success(), code == 0, "{case}");
                }
                (other, _) => panic!("{case}: {:?}", other.map(|r| r.code())),
            }
            assert_eq!(double.count(), 1, "{case}");
        }
    }
}

#[cfg(unix)]
mod real_processes {
    use super::*;
    use std::path::Path;

    fn lines(path: &Path) -> usize {
        std::fs::read_to_string(path)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    fn fast(n: u32) -> RetryPolicy {
        RetryPolicy::new(n).backoff(ms(5), 2.0).jitter(false)
    }

    /// `sh -c <body>` with `$1` naming a file the body appends one line to
    /// per attempt; the scratch directory that holds it lives as long as
    /// the returned guard.
    fn counting(body: &str) -> (tempfile::TempDir, std::path::PathBuf, Command) {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let cmd = Command::new("sh").args(["-c", body, "sh"]).arg(&count);
        (dir, count, cmd)
    }

    #[tokio::test]
    async fn a_flaky_command_is_retried_until_it_succeeds() {
        let (_dir, count, cmd) =
            counting(r#"echo x >> "$1"; n=$(wc -l < "$1"); echo try $n; [ $n -ge 3 ]"#);
        let out = cmd.retry(fast(10)).run().await.unwrap();
        assert_eq!(out, "try 3");
        assert_eq!(lines(&count), 3);
    }

    #[tokio::test]
    async fn the_last_real_attempt_is_reported_with_its_own_output() {
        let (_dir, count, cmd) = counting(
            r#"echo x >> "$1"; n=$(wc -l < "$1"); echo out $n; echo err $n >&2; exit $((10 + n))"#,
        );
        let r = cmd.retry(fast(3)).output_string().await.unwrap();
        assert_eq!(
            (r.code(), r.stdout().as_str(), r.stderr().as_str()),
            (Some(13), "out 3\n", "err 3\n")
        );
        assert_eq!(lines(&count), 3);
    }

    #[tokio::test]
    async fn a_timed_out_attempt_is_retried_and_the_last_one_raises_timeout() {
        let (_dir, count, cmd) = counting(r#"echo x >> "$1"; sleep 30"#);
        let cmd = cmd.timeout(ms(100)).retry(fast(2));
        let r = cmd.output_string().await.unwrap();
        assert!(r.timed_out());
        assert_eq!(lines(&count), 2);
        let err = cmd.run().await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(lines(&count), 4);
    }

    #[tokio::test]
    async fn a_timeout_only_classifier_does_not_retry_a_plain_failure() {
        let (_dir, count, cmd) = counting(r#"echo x >> "$1"; exit 1"#);
        let policy = fast(5).retry_if(|a| a.timed_out());
        let r = cmd.retry(policy).output_string().await.unwrap();
        assert_eq!(r.code(), Some(1));
        assert_eq!(lines(&count), 1);
    }

    #[tokio::test]
    async fn a_missing_program_fails_at_once_despite_a_long_policy() {
        let started = std::time::Instant::now();
        let err = Command::new("processkit-no-such-program-4712")
            .retry(RetryPolicy::new(5).backoff(Duration::from_secs(60), 1.0))
            .run()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a NotFound waited for a backoff"
        );
    }
}

//! The supervision loop: run an incarnation, decide whether and when to
//! restart it, and stop on the policy, a storm, a stop handle, a group's
//! shutdown or cancellation.

use std::time::Duration;

use tokio::time::Instant;

use super::{Score, StopReason, SupervisionOutcome, Supervisor};
use crate::command::Command;
use crate::error::{Error, Result};
use crate::result::ProcessResult;
use crate::retry::jittered;
use crate::runner::{ProcessRunner, ProcessRunnerExt};

impl<R: ProcessRunner> Supervisor<R> {
    /// Runs the command, restarting it per policy, until a stop reason
    /// applies (see [`Supervisor`] for the order of the checks).
    ///
    /// # Errors
    ///
    /// Any error from a run ends supervision with that error, without a
    /// restart: a program that cannot be found or started
    /// ([`Error::NotFound`], [`Error::Spawn`], …) would fail the same way
    /// again. With the `cancellation` feature, a cancellation — of the
    /// command's own token or of the supervisor's (`cancel_on`) — returns
    /// [`Error::Cancelled`], whether it lands during a run (whose tree is
    /// killed), during a backoff delay, or before the first run (nothing is
    /// spawned).
    ///
    /// ```
    /// use processkit::{Command, Error, Supervisor};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = Supervisor::new(Command::new("no-such-program-xyz")).run().await.unwrap_err();
    /// assert!(matches!(err, Error::NotFound { .. }));
    /// # }
    /// ```
    pub async fn run(&self) -> Result<SupervisionOutcome> {
        let link = Link::new(self);
        let name = link.cmd.name();
        let mut restarts = 0u32;
        let mut failures = 0u32;
        let mut storms = 0u32;
        // Restarts since the backoff last started over (a storm resets it).
        let mut step = 0u32;
        let mut score = Score::default();
        let mut last: Option<ProcessResult> = None;
        let outcome = |restarts, stopped, last, failures, storms| {
            Ok(SupervisionOutcome {
                restarts,
                stopped,
                last,
                failures,
                storms,
            })
        };
        loop {
            if link.is_cancelled() {
                return Err(Error::Cancelled {
                    program: name.to_owned(),
                });
            }
            if let Some(stopped) = self.stopped_from_outside() {
                return outcome(restarts, stopped, last, failures, storms);
            }
            let res = match link.run_once(&self.runner).await {
                Ok(res) => res.into_lossy(),
                // The group was shut down between the check and the start.
                Err(Error::GroupShutDown { .. }) => {
                    return outcome(restarts, StopReason::GroupShutDown, last, failures, storms);
                }
                Err(e) => return Err(e),
            };
            // A run ended by a stop from outside (a graceful stop, the
            // group's shutdown) is no crash, and nothing follows it.
            if let Some(stopped) = self.stopped_from_outside() {
                return outcome(restarts, stopped, Some(res), failures, storms);
            }
            let crashed = !res.is_success();
            if crashed {
                failures += 1;
            }
            if let Some(stopped) = self.stop_reason(&res, restarts) {
                return outcome(restarts, stopped, Some(res), failures, storms);
            }
            last = Some(res);
            if link.is_cancelled() {
                return Err(Error::Cancelled {
                    program: name.to_owned(),
                });
            }
            let mut delay = None;
            if crashed && let Some(pause) = self.storm.pause {
                let now = Instant::now();
                if score.add_failure(now, self.storm.decay) >= self.storm.threshold {
                    crate::trace::storm(name, pause);
                    storms += 1;
                    score.reset();
                    step = 0;
                    delay = Some(pause);
                }
            }
            let delay = match delay {
                Some(pause) => pause,
                None => {
                    step = step.saturating_add(1);
                    let nominal = self.delay_before_restart(step);
                    if self.jitter {
                        jittered(nominal)
                    } else {
                        nominal
                    }
                }
            };
            crate::trace::restart(name, restarts + 1, delay);
            link.sleep(delay).await?;
            if let Some(stopped) = self.stopped_from_outside() {
                return outcome(restarts, stopped, last, failures, storms);
            }
            restarts += 1;
        }
    }

    /// A stop asked for from outside the loop: a graceful stop (which wins)
    /// or the runner's shutdown.
    fn stopped_from_outside(&self) -> Option<StopReason> {
        if self.stop.borrow().is_some() {
            return Some(StopReason::Stopped);
        }
        if self.runner.is_shut_down() {
            return Some(StopReason::GroupShutDown);
        }
        None
    }
}

/// The command as each incarnation runs it, wired to every cancellation
/// token that may stop supervision.
struct Link {
    /// The command, carrying the token that kills a run.
    cmd: Command,
    /// The command's own token when a supervisor token is present too: the
    /// command then carries a child of the supervisor's token, and this one
    /// is watched alongside and forwarded to it.
    #[cfg(feature = "cancellation")]
    also: Option<tokio_util::sync::CancellationToken>,
}

impl Link {
    fn new<R>(sup: &Supervisor<R>) -> Link {
        #[cfg(feature = "cancellation")]
        {
            let mut cmd = sup.cmd.clone();
            let mut also = None;
            if let Some(sup_token) = &sup.cancel {
                match cmd.cancel.take() {
                    None => cmd.cancel = Some(sup_token.clone()),
                    Some(own) => {
                        cmd.cancel = Some(sup_token.child_token());
                        also = Some(own);
                    }
                }
            }
            cmd.graceful_stop = Some(sup.stop.subscribe());
            Link { cmd, also }
        }
        #[cfg(not(feature = "cancellation"))]
        {
            let mut cmd = sup.cmd.clone();
            cmd.graceful_stop = Some(sup.stop.subscribe());
            Link { cmd }
        }
    }

    fn is_cancelled(&self) -> bool {
        #[cfg(feature = "cancellation")]
        if self.also.as_ref().is_some_and(|t| t.is_cancelled()) {
            return true;
        }
        self.cmd.is_cancelled()
    }

    /// One incarnation, through the runner's verbs (which apply the
    /// command's retry policy and short-circuit a cancelled token).
    async fn run_once<R: ProcessRunner>(&self, runner: &R) -> Result<ProcessResult<Vec<u8>>> {
        let run = runner.output_bytes(&self.cmd);
        #[cfg(feature = "cancellation")]
        if let (Some(also), Some(carried)) = (&self.also, &self.cmd.cancel) {
            tokio::pin!(run);
            return tokio::select! {
                biased;
                outcome = &mut run => outcome,
                _ = also.cancelled() => {
                    // Let the run see the cancellation and kill its tree.
                    carried.cancel();
                    run.await
                }
            };
        }
        run.await
    }

    /// The pause before a restart, cut short by a cancellation (an error)
    /// or a graceful stop (`Ok`; the caller sees the request).
    async fn sleep(&self, delay: Duration) -> Result<()> {
        let Some(mut stop) = self.cmd.graceful_stop.clone() else {
            return self.sleep_unless_cancelled(delay).await;
        };
        tokio::select! {
            biased;
            r = self.sleep_unless_cancelled(delay) => r,
            _ = stop.wait_for(Option::is_some) => Ok(()),
        }
    }

    async fn sleep_unless_cancelled(&self, delay: Duration) -> Result<()> {
        #[cfg(feature = "cancellation")]
        if let Some(also) = &self.also {
            return tokio::select! {
                biased;
                _ = also.cancelled() => Err(Error::Cancelled { program: self.cmd.name().to_owned() }),
                r = crate::retry::drive::sleep_unless_cancelled(&self.cmd, delay) => r,
            };
        }
        crate::retry::drive::sleep_unless_cancelled(&self.cmd, delay).await
    }
}

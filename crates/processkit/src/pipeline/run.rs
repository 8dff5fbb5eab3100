//! How a [`Pipeline`] runs: spawning the stages into one container, driving
//! the chain, and pipefail over the stages' results.

use std::borrow::Cow;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use super::Pipeline;
#[cfg(feature = "cancellation")]
use super::Token;
use crate::command::Command;
use crate::error::{Error, Result};
use crate::result::{ExitStatus, ProcessResult, stderr_tail};
use crate::runner::{assemble, check_platform, request};
use crate::running::{DRAIN, Owner, RunningProcess};
use crate::sys::{self, StdioKind};

/// Whether the handle of the last stage owns the container.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// The capture verbs: the chain's driver owns the container.
    Capture,
    /// [`Pipeline::start`]: the last stage's handle owns it.
    Start,
}

/// A combined result and the stage it is attributed to.
pub(super) struct Outcome {
    pub(super) result: ProcessResult<Vec<u8>>,
    /// The stage's label for error messages ("grep (stage 2 of 3)").
    pub(super) label: String,
    /// The deadline to report if the result timed out.
    pub(super) timeout: Duration,
    /// The attributed stage's inactivity deadline.
    pub(super) idle: Duration,
    /// The attributed stage's success codes.
    pub(super) ok_codes: Option<Vec<i32>>,
}

impl Outcome {
    pub(super) fn stderr_tail(&self) -> String {
        stderr_tail(&String::from_utf8_lossy(self.result.stderr()), 5)
    }

    /// The exit code, or the error for a run that timed out or was killed.
    pub(super) fn require_exit(&self) -> Result<i32> {
        if self.result.timed_out() {
            return Err(Error::Timeout {
                program: self.label.clone(),
                timeout: self.timeout,
            });
        }
        if self.result.idle_timed_out() {
            return Err(Error::Inactive {
                program: self.label.clone(),
                idle: self.idle,
            });
        }
        match self.result.code() {
            Some(code) => Ok(code),
            None => Err(Error::Killed {
                program: self.label.clone(),
                signal: self.result.signal().unwrap_or(9),
                stderr_tail: self.stderr_tail(),
            }),
        }
    }

    /// `true` when `code` counts as success for the attributed stage.
    pub(super) fn is_ok_code(&self, code: i32) -> bool {
        match &self.ok_codes {
            Some(codes) => codes.contains(&code),
            None => code == 0,
        }
    }

    pub(super) fn non_zero(&self, code: i32) -> Error {
        Error::NonZeroExit {
            program: self.label.clone(),
            code,
            stderr_tail: self.stderr_tail(),
        }
    }
}

impl Pipeline {
    // ----- spawning ------------------------------------------------------

    /// The command stage `index` is spawned from. In start mode the chain's
    /// deadline and token are folded into the last stage's own settings, so
    /// the handle enforces them (killing its whole container); the capture
    /// driver enforces them itself instead.
    pub(super) fn stage_command(
        &self,
        index: usize,
        mode: Mode,
        deadline: Option<Instant>,
    ) -> Cow<'_, Command> {
        let cmd = &self.stages[index].cmd;
        if mode == Mode::Capture || index + 1 < self.stages.len() {
            return Cow::Borrowed(cmd);
        }
        let mut cmd = cmd.clone();
        if let Some(deadline) = deadline {
            let remaining = deadline.saturating_duration_since(Instant::now());
            cmd.timeout = Some(cmd.timeout.map_or(remaining, |own| own.min(remaining)));
        }
        #[cfg(feature = "cancellation")]
        {
            cmd.cancel = merge_tokens(cmd.cancel.take(), self.cancel.clone());
        }
        Cow::Owned(cmd)
    }

    /// Spawns every stage into one container, connected by pipes. On any
    /// failure the stages already started are killed and reaped before the
    /// error (naming the failing stage) is returned.
    ///
    /// In [`Mode::Start`] the last stage's handle owns the container and
    /// `None` is returned in its place.
    pub(super) async fn spawn_all(
        &self,
        mode: Mode,
        deadline: Option<Instant>,
    ) -> Result<(Option<sys::Container>, Vec<RunningProcess>)> {
        let n = self.stages.len();
        for (i, stage) in self.stages.iter().enumerate() {
            check_platform(&stage.cmd).map_err(|e| self.stage_error(e, i))?;
        }
        let container = sys::Container::group(sys::Request::Best)?;
        let mut runs: Vec<RunningProcess> = Vec::with_capacity(n);
        // The read end of the pipe the previous stage writes to.
        let mut upstream: Option<sys::OwnedIo> = None;
        for i in 0..n - 1 {
            let cmd = self.stage_command(i, mode, deadline);
            match spawn_stage(&container, &cmd, upstream.take(), false) {
                Ok((spawned, next)) => {
                    upstream = next;
                    crate::trace::spawned(
                        cmd.name(),
                        Some(spawned.child.id()),
                        container.mechanism(),
                    );
                    runs.push(assemble(&cmd, spawned, Owner::Stage));
                }
                Err(e) => {
                    abandon(&container, runs).await;
                    return Err(self.stage_error(e, i));
                }
            }
        }
        let cmd = self.stage_command(n - 1, mode, deadline);
        let spawned = match spawn_stage(&container, &cmd, upstream.take(), true) {
            Ok((spawned, _)) => spawned,
            Err(e) => {
                abandon(&container, runs).await;
                return Err(self.stage_error(e, n - 1));
            }
        };
        crate::trace::spawned(cmd.name(), Some(spawned.child.id()), container.mechanism());
        match mode {
            Mode::Start => {
                runs.push(assemble(&cmd, spawned, Owner::Own(Box::new(container))));
                Ok((None, runs))
            }
            Mode::Capture => {
                runs.push(assemble(&cmd, spawned, Owner::Stage));
                Ok((Some(container), runs))
            }
        }
    }

    // ----- the capture driver --------------------------------------------

    /// Runs every stage to completion and combines the results.
    pub(super) async fn execute(&self) -> Result<Outcome> {
        self.check_cancelled()?;
        let started = Instant::now();
        let deadline = self.timeout.map(|t| started + t);
        let (container, mut runs) = self.spawn_all(Mode::Capture, deadline).await?;
        // Nobody can write to a kept-open stdin here: close it (EOF).
        if let Some(first) = runs.first_mut() {
            drop(first.standard_input());
        }
        let mut stages: Vec<Option<StageFuture>> = runs
            .into_iter()
            .map(|r| Some(Box::pin(r.output_bytes()) as StageFuture))
            .collect();
        let mut results: Vec<Option<Result<ProcessResult<Vec<u8>>>>> =
            stages.iter().map(|_| None).collect();
        let mut sleep = deadline.map(|d| Box::pin(tokio::time::sleep_until(d)));
        #[cfg(feature = "cancellation")]
        let mut cancel = self.cancel.clone().map(|t| Box::pin(t.cancelled_owned()));
        let mut chain_timed_out = false;
        let kill_all = || {
            if let Some(c) = container.as_ref() {
                let _ = c.kill_all();
            }
        };

        let driven: Result<()> = poll_fn(|cx| {
            #[cfg(feature = "cancellation")]
            if let Some(c) = cancel.as_mut()
                && c.as_mut().poll(cx).is_ready()
            {
                crate::trace::cancelled(&self.chain_label());
                kill_all();
                return Poll::Ready(Err(Error::Cancelled {
                    program: self.chain_label(),
                }));
            }
            if let Some(s) = sleep.as_mut()
                && s.as_mut().poll(cx).is_ready()
            {
                sleep = None;
                chain_timed_out = true;
                crate::trace::timed_out(&self.chain_label(), self.timeout.unwrap_or_default());
                kill_all();
            }
            let mut pending = false;
            for (slot, out) in stages.iter_mut().zip(results.iter_mut()) {
                if let Some(fut) = slot {
                    match fut.as_mut().poll(cx) {
                        Poll::Ready(r) => {
                            *out = Some(r);
                            *slot = None;
                        }
                        Poll::Pending => pending = true,
                    }
                }
            }
            // A stage that could not be driven (an I/O error, its own
            // cancellation token) ends the chain.
            if results.iter().any(|r| matches!(r, Some(Err(_)))) || !pending {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        })
        .await;
        driven?;

        let n = results.len();
        let mut done = Vec::with_capacity(n);
        let mut failure = None;
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Some(Ok(r)) => done.push(r),
                Some(Err(e)) if failure.is_none() => failure = Some((i, e)),
                _ => {}
            }
        }
        if let Some((i, e)) = failure {
            kill_all();
            return Err(self.stage_error(e, i));
        }
        if done.len() != n {
            kill_all();
            return Err(Error::io(
                &self.chain_label(),
                "collecting the stages' outcomes",
                std::io::Error::other("a stage did not finish"),
            ));
        }
        drop(stages);
        drop(container);
        Ok(self.combine(done, chain_timed_out, started.elapsed()))
    }

    /// Applies the pipefail rule to the stages' results.
    pub(super) fn combine(
        &self,
        mut results: Vec<ProcessResult<Vec<u8>>>,
        chain_timed_out: bool,
        elapsed: Duration,
    ) -> Outcome {
        let n = results.len();
        let failed = |i: &usize| {
            let r = &results[*i];
            r.timed_out()
                || r.idle_timed_out()
                || !r.code().is_some_and(|c| self.stages[*i].cmd.is_ok_code(c))
        };
        let index = (0..n)
            .find(|i| self.stages[*i].checked && failed(i))
            .or_else(|| {
                if chain_timed_out {
                    (0..n).find(failed)
                } else {
                    None
                }
            })
            .or_else(|| (0..n).rev().find(|i| self.stages[*i].checked))
            .unwrap_or(n - 1);
        let stage_timeout = self.stages[index].cmd.timeout;

        let last = results.pop();
        let attributed = if index + 1 == n {
            None
        } else {
            Some(results.swap_remove(index))
        };
        let (out_dropped, last_err_dropped) = last
            .as_ref()
            .map_or((0, 0), |r| (r.stdout_dropped(), r.stderr_dropped()));
        let (stdout, last_stderr, last_status, last_timed_out, last_idle) = match last {
            Some(r) => {
                let (status, timed_out, idle) = (r.status(), r.timed_out(), r.idle_timed_out());
                let (out, err) = r.into_output();
                (out, err, status, timed_out, idle)
            }
            None => (
                Vec::new(),
                Vec::new(),
                ExitStatus::from_code(0),
                false,
                false,
            ),
        };
        let (status, stderr, stage_timed_out, stage_idle, err_dropped) = match attributed {
            Some(r) => {
                let (status, timed_out, idle) = (r.status(), r.timed_out(), r.idle_timed_out());
                let dropped = r.stderr_dropped();
                (status, r.into_output().1, timed_out, idle, dropped)
            }
            None => (
                last_status,
                last_stderr,
                last_timed_out,
                last_idle,
                last_err_dropped,
            ),
        };
        let timeout = if chain_timed_out {
            self.timeout.unwrap_or_default()
        } else {
            stage_timeout.or(self.timeout).unwrap_or_default()
        };
        Outcome {
            result: ProcessResult::new(
                self.stages[index].cmd.name(),
                status,
                stdout,
                stderr,
                chain_timed_out || stage_timed_out,
                elapsed,
            )
            .with_idle_timed_out(stage_idle && !chain_timed_out && !stage_timed_out)
            .with_dropped(out_dropped, err_dropped),
            label: self.stage_label(index),
            timeout,
            idle: self.stages[index].cmd.idle_timeout.unwrap_or_default(),
            ok_codes: self.stages[index].cmd.ok_codes.clone(),
        }
    }

    // ----- verbs ---------------------------------------------------------
}

/// The future of one stage's capture.
pub(super) type StageFuture = Pin<Box<dyn Future<Output = Result<ProcessResult<Vec<u8>>>> + Send>>;

/// Spawns one stage. `upstream` is the read end of the previous stage's
/// pipe (`None` for the first stage, which keeps its own stdin source).
/// Returns the child and the read end for the next stage.
pub(super) fn spawn_stage(
    container: &sys::Container,
    cmd: &Command,
    upstream: Option<sys::OwnedIo>,
    last: bool,
) -> Result<(sys::Spawned, Option<sys::OwnedIo>)> {
    let stdin = upstream.map(StdioKind::Io);
    let (stdout, next) = if last {
        (None, None)
    } else {
        let (reader, writer) = std::io::pipe()
            .map_err(|e| Error::io(cmd.name(), "creating a pipe to the next stage", e))?;
        (Some(StdioKind::Io(writer.into())), Some(reader.into()))
    };
    // The request owns the child's ends; the spawn closes this process's
    // copies of them once the child has its own.
    let spawned = container.spawn(request(cmd, stdin, stdout)?)?;
    Ok((spawned, next))
}

/// Kills whatever a failed spawn left running and reaps the stages already
/// started (bounded), before the container itself is dropped.
pub(super) async fn abandon(container: &sys::Container, runs: Vec<RunningProcess>) {
    let _ = container.kill_all();
    for mut run in runs {
        let _ = tokio::time::timeout(DRAIN, run.kill()).await;
    }
}

/// How long past the chain's deadline the driver of an upstream stage of a
/// started chain kills that stage itself. At the deadline the last stage's
/// handle kills the whole container; this only matters for a handle nobody
/// polls, and the margin keeps the handle's own deadline first, so it is the
/// one that reports `timed_out`.
pub(super) const UPSTREAM_GRACE: Duration = Duration::from_secs(1);

/// Drives an upstream stage of a started chain until it exits: drains its
/// stderr, enforces its own deadline and token, kills what it leaves behind,
/// and backs up the chain's deadline and token.
pub(super) async fn drive_upstream(
    mut run: RunningProcess,
    deadline: Option<Instant>,
    #[cfg(feature = "cancellation")] cancel: Option<Token>,
) {
    let backstop = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d + UPSTREAM_GRACE).await,
            None => std::future::pending().await,
        }
    };
    #[cfg(feature = "cancellation")]
    let cancelled = async move {
        match cancel {
            Some(token) => token.cancelled_owned().await,
            None => std::future::pending().await,
        }
    };
    #[cfg(not(feature = "cancellation"))]
    let cancelled = std::future::pending::<()>();
    tokio::select! {
        _ = run.wait() => {}
        _ = backstop => {
            let _ = run.kill().await;
        }
        _ = cancelled => {
            let _ = run.kill().await;
        }
    }
}

/// One token that fires when either of two does. The forwarding task ends
/// as soon as either fires.
#[cfg(feature = "cancellation")]
pub(super) fn merge_tokens(own: Option<Token>, chain: Option<Token>) -> Option<Token> {
    match (own, chain) {
        (Some(own), Some(chain)) => {
            let merged = chain.child_token();
            let forward = merged.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = own.cancelled() => forward.cancel(),
                    _ = forward.cancelled() => {}
                }
            });
            Some(merged)
        }
        (own, chain) => own.or(chain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;

    fn result(code: Option<i32>, stdout: &str, stderr: &str) -> ProcessResult<Vec<u8>> {
        let status = match code {
            Some(c) => ExitStatus::from_code(c),
            None => ExitStatus::from_signal(13),
        };
        ProcessResult::new(
            "x",
            status,
            stdout.into(),
            stderr.into(),
            false,
            Duration::ZERO,
        )
    }

    #[test]
    fn pipefail_picks_the_first_checked_failure_and_keeps_the_last_stdout() {
        let p = Command::new("a").unchecked()
            | Command::new("b")
            | Command::new("c")
            | Command::new("d");
        let rs = vec![
            result(None, "", "a-err"),
            result(Some(0), "", ""),
            result(Some(2), "", "c-err"),
            result(Some(3), "out", "d-err"),
        ];
        let o = p.combine(rs, false, Duration::ZERO);
        assert_eq!(o.result.program(), "c");
        assert_eq!(o.result.code(), Some(2));
        assert_eq!(o.result.stderr(), b"c-err");
        assert_eq!(o.result.stdout(), b"out");
        assert_eq!(o.label, "c (stage 3 of 4)");
    }

    #[test]
    fn an_unchecked_failure_alone_leaves_the_last_checked_stage_in_charge() {
        let p = Command::new("a") | Command::new("b").unchecked();
        let rs = vec![
            result(Some(0), "", "a-err"),
            result(Some(9), "out", "b-err"),
        ];
        let o = p.combine(rs, false, Duration::ZERO);
        assert_eq!((o.result.program(), o.result.code()), ("a", Some(0)));
        assert_eq!(o.result.stdout(), b"out");
        assert!(o.result.is_success());
    }

    #[test]
    fn a_chain_timeout_is_reported_even_when_only_an_unchecked_stage_was_killed() {
        let p = (Command::new("a").unchecked() | Command::new("b")).timeout(Duration::from_secs(1));
        let rs = vec![result(None, "", ""), result(Some(0), "", "")];
        let o = p.combine(rs, true, Duration::ZERO);
        assert!(o.result.timed_out());
        assert_eq!(o.result.program(), "a");
        assert_eq!(o.timeout, Duration::from_secs(1));
        assert!(o.require_exit().unwrap_err().is_timeout());
    }
}

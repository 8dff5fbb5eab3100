//! [`Pipeline`]: shell-free `a | b | c` over native pipes.
//!
//! # How a chain runs
//!
//! All stages are spawned into **one** kill-on-drop container
//! (`Container::group`), each into its own per-child slot. Between two
//! stages sits an anonymous OS pipe: the writing end becomes the earlier
//! stage's stdout, the reading end the next stage's stdin, and the parent
//! closes its copies right after each spawn so that end-of-file propagates
//! the way it does in a shell. No shell is involved, so there is nothing to
//! quote and nothing to inject.
//!
//! Every stage is a [`RunningProcess`] owned as a *stage*
//! ([`Owner::Stage`]): when a stage's direct child exits, whatever it left
//! behind in its own slot is killed at once, so a backgrounded grandchild
//! can never hold the next stage's pipe open and stall the chain.
//!
//! The capture verbs drive all stages concurrently from one future, together
//! with the chain's deadline and cancellation token; on either, the whole
//! container is killed in one operation. [`Pipeline::start`] hands the
//! container to the last stage's handle instead and drives the upstream
//! stages from small background tasks.
//!
//! # Attribution
//!
//! The outcome follows `pipefail`: stdout is the last stage's, while the
//! exit status, stderr and program are those of the first *checked* stage
//! that did not exit cleanly. See [`Pipeline`] for the full rule.

use std::borrow::Cow;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use crate::command::Command;
use crate::error::{Error, Result};
use crate::result::{ExitStatus, ProcessResult, stderr_tail};
use crate::runner::{assemble, check_platform, request};
use crate::running::{DRAIN, Owner, RunningProcess};
use crate::sys::{self, StdioKind};

#[cfg(feature = "cancellation")]
type Token = tokio_util::sync::CancellationToken;

/// One stage: the command and whether pipefail looks at it.
#[derive(Clone, Debug)]
struct Stage {
    cmd: Command,
    checked: bool,
}

/// A chain of commands whose stdout feeds the next one's stdin, run without
/// a shell.
///
/// Build one with [`Command::pipe`], the `|` operator (between any mix of
/// [`Command`] and `Pipeline`), and [`Pipeline::pipe`]; finish it with the
/// same verbs as a [`Command`]: [`run`](Self::run),
/// [`output_string`](Self::output_string), [`output_bytes`](Self::output_bytes),
/// [`exit_code`](Self::exit_code), [`probe`](Self::probe),
/// [`first_line`](Self::first_line) or [`start`](Self::start).
///
/// ```
/// use processkit::Command;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let counts = (Command::new("printf").arg("b\\na\\nb\\n")
///     | Command::new("sort")
///     | Command::new("uniq").arg("-c"))
///     .run()
///     .await?;
/// let lines: Vec<&str> = counts.lines().map(str::trim).collect();
/// assert_eq!(lines, ["1 a", "2 b"]);
/// # Ok(()) }
/// ```
///
/// # Outcome: pipefail
///
/// * **stdout** is always the last stage's output.
/// * **exit status, stderr and [`program`](ProcessResult::program)** come
///   from the first stage, in chain order, that is checked and did not exit
///   cleanly (a non-zero code, a signal, or a timeout). When every checked
///   stage succeeded they come from the last checked stage, which normally
///   is the last stage. Other stages' stderr is discarded.
/// * A stage marked [`unchecked`](Self::unchecked) is skipped by that rule:
///   use it for a producer that is expected to die of `SIGPIPE` when a
///   consumer such as `head` stops reading early. A checked failure always
///   wins over an unchecked one.
/// * The chain finishes when every stage has exited, as in a shell.
///
/// Errors from [`run`](Self::run), [`exit_code`](Self::exit_code) and
/// [`probe`](Self::probe) name the stage they are about, with its position,
/// in the error's `program` field: `` `grep (stage 2 of 3)` exited with code
/// 2``. Spawn errors do the same (a missing program in the middle of the
/// chain is [`Error::NotFound`] for that stage), and no other stage is left
/// running after one.
///
/// # Stages
///
/// Each stage keeps its own arguments, environment, working directory,
/// spawn flags, stderr line handler, [`timeout`](Command::timeout) (which
/// bounds that stage alone) and cancellation token. The first stage's
/// [`stdin`](Command::stdin) source is used as on a single command; the
/// other stages read from the pipe, so their own stdin setting is ignored.
/// Only the last stage's stdout line handler can run (the other stages'
/// stdout never passes through this process). Likewise only the last stage's
/// [`stdout`](Command::stdout) destination applies (the others write into
/// the pipe), while every stage's [`stderr`](Command::stderr) destination
/// applies, [`stderr_to_stdout`](Command::stderr_to_stdout) included (an
/// upstream stage's stderr then feeds the next stage, as `2>&1 |` does). A stage's
/// [`retry`](Command::retry) policy does not apply inside a chain.
///
/// When two pipelines are joined with `|`, the stages are concatenated; the
/// chain keeps the shorter of the two timeouts and the left side's
/// cancellation token (or the right side's, when the left has none).
#[derive(Clone)]
pub struct Pipeline {
    stages: Vec<Stage>,
    timeout: Option<Duration>,
    #[cfg(feature = "cancellation")]
    cancel: Option<Token>,
}

/// Shows the stages (each as its [`Command`]'s `Debug`, which never prints
/// environment values), which ones are unchecked, and the chain's timeout.
impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Pipeline");
        d.field("stages", &self.stages);
        if let Some(t) = self.timeout {
            d.field("timeout", &t);
        }
        #[cfg(feature = "cancellation")]
        if self.cancel.is_some() {
            d.field("cancel_on", &true);
        }
        d.finish_non_exhaustive()
    }
}

/// Whether the handle of the last stage owns the container.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The capture verbs: the chain's driver owns the container.
    Capture,
    /// [`Pipeline::start`]: the last stage's handle owns it.
    Start,
}

/// A combined result and the stage it is attributed to.
struct Outcome {
    result: ProcessResult<Vec<u8>>,
    /// The stage's label for error messages ("grep (stage 2 of 3)").
    label: String,
    /// The deadline to report if the result timed out.
    timeout: Duration,
    /// The attributed stage's inactivity deadline.
    idle: Duration,
    /// The attributed stage's success codes.
    ok_codes: Option<Vec<i32>>,
}

impl Outcome {
    fn stderr_tail(&self) -> String {
        stderr_tail(&String::from_utf8_lossy(self.result.stderr()), 5)
    }

    /// The exit code, or the error for a run that timed out or was killed.
    fn require_exit(&self) -> Result<i32> {
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
    fn is_ok_code(&self, code: i32) -> bool {
        match &self.ok_codes {
            Some(codes) => codes.contains(&code),
            None => code == 0,
        }
    }

    fn non_zero(&self, code: i32) -> Error {
        Error::NonZeroExit {
            program: self.label.clone(),
            code,
            stderr_tail: self.stderr_tail(),
        }
    }
}

impl Pipeline {
    pub(crate) fn new(first: Command) -> Self {
        Pipeline {
            stages: vec![Stage {
                cmd: first,
                checked: true,
            }],
            timeout: None,
            #[cfg(feature = "cancellation")]
            cancel: None,
        }
    }

    /// Appends a stage that reads this chain's output.
    ///
    /// ```
    /// use processkit::Command;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let p = Command::new("printf").arg("c\\nb\\na\\n")
    ///     .pipe(Command::new("sort"))
    ///     .pipe(Command::new("head").args(["-n", "1"]));
    /// assert_eq!(p.run().await?, "a");
    /// # Ok(()) }
    /// ```
    pub fn pipe(mut self, next: Command) -> Self {
        self.stages.push(Stage {
            cmd: next,
            checked: true,
        });
        self
    }

    /// Marks the last stage added so far as unchecked: pipefail skips it, so
    /// its failure (typically a `SIGPIPE` death after a consumer stopped
    /// reading) does not make the chain fail. A checked failure elsewhere
    /// still does.
    ///
    /// ```
    /// use processkit::Command;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// // `yes` never stops on its own; it dies of SIGPIPE once `head` exits.
    /// let first = (Command::new("yes").unchecked() | Command::new("head").args(["-n", "1"]))
    ///     .run()
    ///     .await?;
    /// assert_eq!(first, "y");
    ///
    /// // On a pipeline, `unchecked` marks the stage added last.
    /// let p = Command::new("printf").arg("x").pipe(Command::new("sh").args(["-c", "cat; exit 3"])).unchecked();
    /// assert_eq!((p.is_checked(0), p.is_checked(1)), (Some(true), Some(false)));
    /// assert_eq!(p.run().await?, "x");
    /// # Ok(()) }
    /// ```
    pub fn unchecked(mut self) -> Self {
        if let Some(last) = self.stages.last_mut() {
            last.checked = false;
        }
        self
    }

    pub(crate) fn append(mut self, other: Pipeline) -> Self {
        self.stages.extend(other.stages);
        self.timeout = match (self.timeout, other.timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        #[cfg(feature = "cancellation")]
        if self.cancel.is_none() {
            self.cancel = other.cancel;
        }
        self
    }

    /// Bounds the whole chain. At the deadline every stage and everything
    /// the stages started is killed; the capture verbs then report
    /// [`timed_out`](ProcessResult::timed_out) with what was captured, while
    /// [`run`](Self::run), [`exit_code`](Self::exit_code) and
    /// [`probe`](Self::probe) return [`Error::Timeout`].
    ///
    /// ```
    /// use processkit::Command;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = (Command::new("sleep").arg("30") | Command::new("cat"))
    ///     .timeout(Duration::from_millis(200))
    ///     .output_string()
    ///     .await?;
    /// assert!(r.timed_out());
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The chain's timeout, if set.
    ///
    /// ```
    /// use processkit::Command;
    /// use std::time::Duration;
    /// let p = Command::new("a").pipe(Command::new("b"));
    /// assert_eq!(p.get_timeout(), None);
    /// assert_eq!(p.timeout(Duration::from_secs(3)).get_timeout(), Some(Duration::from_secs(3)));
    /// ```
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Cancels the whole chain when `token` is cancelled: every stage and
    /// its descendants are killed and the verb returns [`Error::Cancelled`].
    /// A token that is already cancelled short-circuits: nothing is spawned.
    ///
    /// ```
    /// use processkit::{CancellationToken, Command, Error};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let token = CancellationToken::new();
    /// token.cancel();
    /// let err = (Command::new("yes") | Command::new("cat"))
    ///     .cancel_on(token)
    ///     .run()
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, Error::Cancelled { .. }));
    /// # }
    /// ```
    #[cfg(feature = "cancellation")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cancellation")))]
    pub fn cancel_on(mut self, token: tokio_util::sync::CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// The stages' commands, in chain order.
    ///
    /// ```
    /// use processkit::Command;
    /// let p = Command::new("git").arg("log") | Command::new("sort") | Command::new("uniq");
    /// let programs: Vec<_> = p.stages().map(|c| c.get_program().to_owned()).collect();
    /// assert_eq!(programs, ["git", "sort", "uniq"]);
    /// assert_eq!(p.stages().len(), 3);
    /// ```
    pub fn stages(&self) -> impl ExactSizeIterator<Item = &Command> + '_ {
        self.stages.iter().map(|s| &s.cmd)
    }

    /// Whether pipefail looks at stage `index` (0-based): `Some(false)` for a
    /// stage marked [`unchecked`](Self::unchecked), `None` past the end.
    ///
    /// ```
    /// use processkit::Command;
    /// let p = Command::new("yes").unchecked() | Command::new("head");
    /// assert_eq!(p.is_checked(0), Some(false));
    /// assert_eq!(p.is_checked(1), Some(true));
    /// assert_eq!(p.is_checked(2), None);
    /// ```
    pub fn is_checked(&self, index: usize) -> Option<bool> {
        self.stages.get(index).map(|s| s.checked)
    }

    // ----- labels and errors ---------------------------------------------

    /// "grep (stage 2 of 3)"; just the program for a one-stage chain.
    fn stage_label(&self, index: usize) -> String {
        let name = self.stages[index].cmd.name();
        let n = self.stages.len();
        if n == 1 {
            name.to_owned()
        } else {
            format!("{name} (stage {} of {n})", index + 1)
        }
    }

    /// "git | sort | uniq".
    fn chain_label(&self) -> String {
        let names: Vec<&str> = self.stages.iter().map(|s| s.cmd.name()).collect();
        names.join(" | ")
    }

    #[cfg(feature = "cancellation")]
    fn chain_cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|t| t.is_cancelled())
    }

    #[cfg(not(feature = "cancellation"))]
    fn chain_cancelled(&self) -> bool {
        false
    }

    /// Names stage `index` in `e`; a cancellation of the whole chain names
    /// the chain.
    fn stage_error(&self, e: Error, index: usize) -> Error {
        if matches!(e, Error::Cancelled { .. }) && self.chain_cancelled() {
            return Error::Cancelled {
                program: self.chain_label(),
            };
        }
        e.with_program(self.stage_label(index))
    }

    /// A cancelled token short-circuits before anything is spawned.
    fn check_cancelled(&self) -> Result<()> {
        if self.chain_cancelled() {
            return Err(Error::Cancelled {
                program: self.chain_label(),
            });
        }
        for (i, stage) in self.stages.iter().enumerate() {
            if stage.cmd.is_cancelled() {
                return Err(Error::Cancelled {
                    program: self.stage_label(i),
                });
            }
        }
        Ok(())
    }

    /// The error a verb that reads the last stage's stdout returns when it
    /// is not captured, naming that stage.
    fn require_captured_stdout(&self, verb: &str) -> Result<()> {
        let last = self.stages.len() - 1;
        self.stages[last]
            .cmd
            .require_captured_stdout(verb)
            .map_err(|e| self.stage_error(e, last))
    }

    // ----- spawning ------------------------------------------------------

    /// The command stage `index` is spawned from. In start mode the chain's
    /// deadline and token are folded into the last stage's own settings, so
    /// the handle enforces them (killing its whole container); the capture
    /// driver enforces them itself instead.
    fn stage_command(
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
    async fn spawn_all(
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
                runs.push(assemble(&cmd, spawned, Owner::Own(container)));
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
    async fn execute(&self) -> Result<Outcome> {
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
    fn combine(
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

    /// Runs the chain and returns the last stage's stdout with trailing
    /// whitespace trimmed. Every checked stage must succeed: a non-zero
    /// exit, a signal or a timeout is an error naming the stage it is
    /// attributed to (see [`Pipeline`]).
    ///
    /// ```
    /// use processkit::{Command, Error};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let words = (Command::new("printf").arg("b a c") | Command::new("tr").args([" ", "\\n"]) | Command::new("sort"))
    ///     .run()
    ///     .await?;
    /// assert_eq!(words, "a\nb\nc");
    ///
    /// let err = (Command::new("printf").arg("x") | Command::new("grep").arg("nothing") | Command::new("cat"))
    ///     .run()
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(&err, Error::NonZeroExit { program, code: 1, .. } if program == "grep (stage 2 of 3)"));
    /// # Ok(()) }
    /// ```
    pub async fn run(&self) -> Result<String> {
        self.require_captured_stdout("run")?;
        let outcome = self.execute().await?;
        let code = outcome.require_exit()?;
        if !outcome.is_ok_code(code) {
            return Err(outcome.non_zero(code));
        }
        let (stdout, _) = outcome.result.into_lossy().into_output();
        let mut out = stdout;
        out.truncate(out.trim_end().len());
        Ok(out)
    }

    /// Runs the chain and returns the combined outcome with text output
    /// (invalid UTF-8 replaced). A failing stage is data, not an error.
    ///
    /// ```
    /// use processkit::Command;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = (Command::new("printf").arg("data")
    ///     | Command::new("sh").args(["-c", "cat >/dev/null; echo broken >&2; exit 3"])
    ///     | Command::new("cat"))
    ///     .output_string()
    ///     .await?;
    /// assert_eq!((r.program(), r.code(), r.stderr().as_str()), ("sh", Some(3), "broken\n"));
    /// # Ok(()) }
    /// ```
    pub async fn output_string(&self) -> Result<ProcessResult<String>> {
        Ok(self.output_bytes().await?.into_lossy())
    }

    /// Runs the chain and returns the combined outcome with the output as
    /// bytes, losslessly.
    ///
    /// ```
    /// use processkit::Command;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = (Command::new("printf").arg("\\377\\001") | Command::new("cat")).output_bytes().await?;
    /// assert_eq!(r.stdout(), &vec![0xff, 0x01]);
    /// assert!(r.is_success());
    /// # Ok(()) }
    /// ```
    #[doc(alias = "output")]
    pub async fn output_bytes(&self) -> Result<ProcessResult<Vec<u8>>> {
        Ok(self.execute().await?.result)
    }

    /// Runs the chain and returns the attributed exit code (pipefail: the
    /// first checked stage that failed, else the last checked stage). A
    /// timed-out or killed run is an error rather than an invented code.
    ///
    /// ```
    /// use processkit::Command;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let p = Command::new("sh").args(["-c", "exit 4"]) | Command::new("sh").args(["-c", "exit 5"]);
    /// assert_eq!(p.exit_code().await?, 4);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "status")]
    pub async fn exit_code(&self) -> Result<i32> {
        let outcome = self.execute().await?;
        let code = outcome.require_exit()?;
        if outcome.ok_codes.is_some() && !outcome.is_ok_code(code) {
            return Err(outcome.non_zero(code));
        }
        Ok(code)
    }

    /// Runs the chain as a yes/no check: an attributed exit code of 0 is
    /// `true`, 1 is `false`, anything else is an error.
    ///
    /// ```
    /// use processkit::Command;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let has = |word: &str| Command::new("printf").arg("alpha\\nbeta\\n") | Command::new("grep").args(["-q", word]);
    /// assert!(has("beta").probe().await?);
    /// assert!(!has("gamma").probe().await?);
    /// # Ok(()) }
    /// ```
    pub async fn probe(&self) -> Result<bool> {
        let outcome = self.execute().await?;
        match outcome.require_exit()? {
            0 => Ok(true),
            1 => Ok(false),
            code => Err(outcome.non_zero(code)),
        }
    }

    /// Returns the first line of the last stage's stdout that satisfies
    /// `pred`, or `None` when that stdout closes without a match. Reading
    /// stops at the match and the whole chain is killed.
    ///
    /// ```
    /// use processkit::Command;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// // `yes` would run forever; the chain is torn down at the match.
    /// let line = (Command::new("yes").arg("ping") | Command::new("cat").arg("-n"))
    ///     .first_line(|l| l.trim_start().starts_with("3\t"))
    ///     .await?;
    /// assert_eq!(line.as_deref().map(str::trim_start), Some("3\tping"));
    /// # Ok(()) }
    /// ```
    pub async fn first_line(
        &self,
        pred: impl FnMut(&str) -> bool + Send,
    ) -> Result<Option<String>> {
        self.require_captured_stdout("first_line")?;
        let mut run = self.start().await?;
        let line = run.first_matching_line(pred).await;
        drop(run); // kills every stage
        line.map_err(|e| self.stage_error(e, self.stages.len() - 1))
    }

    /// Starts the chain and returns a live handle on its **last** stage:
    /// stream its stdout with
    /// [`stdout_lines`](RunningProcess::stdout_lines), wait for it with
    /// [`finish_streamed`](RunningProcess::finish_streamed), and so on.
    ///
    /// The handle owns the chain's container: dropping it, calling
    /// [`kill`](RunningProcess::kill), the chain's deadline or its
    /// cancellation token kill every stage and everything they started. As
    /// with [`Command::start`], once the last stage exits the rest of the
    /// chain is torn down too (its output could no longer be read). When the
    /// first stage uses
    /// [`keep_stdin_open`](Command::keep_stdin_open), the handle's
    /// [`standard_input`](RunningProcess::standard_input) writes to it.
    ///
    /// The handle reports the last stage's own exit: pipefail attribution
    /// needs every stage's outcome, which only the capture verbs
    /// ([`output_string`](Self::output_string) and the others) collect.
    /// The upstream stages are driven in the background, their stderr
    /// drained and discarded.
    ///
    /// ```
    /// use processkit::{Command, StreamExt};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = (Command::new("printf").arg("3\\n1\\n2\\n") | Command::new("sort")).start().await?;
    /// let lines: Vec<String> = run.stdout_lines().collect().await;
    /// assert_eq!(lines, ["1", "2", "3"]);
    /// let (code, _stderr) = run.finish_streamed().await?;
    /// assert_eq!(code, Some(0));
    /// # Ok(()) }
    /// ```
    #[doc(alias = "spawn")]
    pub async fn start(&self) -> Result<RunningProcess> {
        self.check_cancelled()?;
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let (_, mut runs) = self.spawn_all(Mode::Start, deadline).await?;
        let Some(mut last) = runs.pop() else {
            return Err(Error::invalid(
                &self.chain_label(),
                "a pipeline needs at least one stage",
            ));
        };
        if let Some(first) = runs.first_mut()
            && let Some(writer) = first.standard_input()
        {
            last.set_standard_input(writer);
        }
        for run in runs {
            tokio::spawn(drive_upstream(
                run,
                deadline,
                #[cfg(feature = "cancellation")]
                self.cancel.clone(),
            ));
        }
        Ok(last)
    }
}

/// The future of one stage's capture.
type StageFuture = Pin<Box<dyn Future<Output = Result<ProcessResult<Vec<u8>>>> + Send>>;

/// Spawns one stage. `upstream` is the read end of the previous stage's
/// pipe (`None` for the first stage, which keeps its own stdin source).
/// Returns the child and the read end for the next stage.
fn spawn_stage(
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
async fn abandon(container: &sys::Container, runs: Vec<RunningProcess>) {
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
const UPSTREAM_GRACE: Duration = Duration::from_secs(1);

/// Drives an upstream stage of a started chain until it exits: drains its
/// stderr, enforces its own deadline and token, kills what it leaves behind,
/// and backs up the chain's deadline and token.
async fn drive_upstream(
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
fn merge_tokens(own: Option<Token>, chain: Option<Token>) -> Option<Token> {
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

/// Turning a [`Command`] into a one-stage [`Pipeline`].
impl Command {
    /// Connects this command's stdout to `next`'s stdin (no shell involved).
    ///
    /// ```
    /// use processkit::{Command, Stdin};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let out = Command::new("printf").arg("b\\na\\n").pipe(Command::new("sort")).run().await?;
    /// assert_eq!(out, "a\nb");
    /// # Ok(()) }
    /// ```
    pub fn pipe(self, next: Command) -> Pipeline {
        Pipeline::new(self).pipe(next)
    }

    /// Marks this command as a pipeline stage whose failure is expected
    /// (see [`Pipeline`]): it becomes a one-stage pipeline with the mark.
    ///
    /// ```
    /// use processkit::Command;
    /// let p = Command::new("yes").unchecked() | Command::new("head").args(["-n", "1"]);
    /// # let _ = p;
    /// ```
    pub fn unchecked(self) -> Pipeline {
        Pipeline::new(self).unchecked()
    }
}

impl std::ops::BitOr for Command {
    type Output = Pipeline;
    fn bitor(self, rhs: Command) -> Pipeline {
        self.pipe(rhs)
    }
}

impl std::ops::BitOr<Command> for Pipeline {
    type Output = Pipeline;
    fn bitor(self, rhs: Command) -> Pipeline {
        self.pipe(rhs)
    }
}

impl std::ops::BitOr<Pipeline> for Command {
    type Output = Pipeline;
    fn bitor(self, rhs: Pipeline) -> Pipeline {
        Pipeline::new(self).append(rhs)
    }
}

impl std::ops::BitOr<Pipeline> for Pipeline {
    type Output = Pipeline;
    fn bitor(self, rhs: Pipeline) -> Pipeline {
        self.append(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_stage_and_its_position() {
        let p = Command::new("git") | Command::new("grep") | Command::new("wc");
        assert_eq!(p.stage_label(1), "grep (stage 2 of 3)");
        assert_eq!(p.chain_label(), "git | grep | wc");
        assert_eq!(Command::new("yes").unchecked().stage_label(0), "yes");
    }

    #[test]
    fn append_keeps_the_shorter_timeout_and_all_stages() {
        let left = Command::new("a")
            .pipe(Command::new("b"))
            .timeout(Duration::from_secs(5));
        let right = Command::new("c")
            .unchecked()
            .timeout(Duration::from_secs(2));
        let p = left | right;
        assert_eq!(p.stages().len(), 3);
        assert_eq!(p.get_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(p.is_checked(2), Some(false));
    }

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

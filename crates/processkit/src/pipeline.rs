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

mod run;
mod verbs;

use std::fmt;
use std::time::Duration;

use crate::command::Command;
use crate::error::{Error, Result};

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
/// * **exit status, stderr and [`program`](crate::ProcessResult::program)** come
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
    /// [`timed_out`](crate::ProcessResult::timed_out) with what was captured, while
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
}

//! A [`Command`]'s deadlines and what counts as success: `timeout`,
//! `grace_period`, `stop_signal`, `idle_timeout`, `ok_codes`.

use std::time::Duration;

use super::Command;

impl Command {
    /// Bounds the run. At the deadline the whole process tree is killed;
    /// [`output_string`](Self::output_string) reports
    /// [`timed_out`](crate::ProcessResult::timed_out) with what was captured, while
    /// [`run`](Self::run) and [`exit_code`](Self::exit_code) return
    /// [`Error::Timeout`](crate::Error::Timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = processkit::Command::new("sleep").arg("10").timeout(Duration::from_millis(100)).output_string().await?;
    /// assert!(r.timed_out());
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Makes the deadlines ([`timeout`](Self::timeout) and
    /// [`idle_timeout`](Self::idle_timeout)) stop the process the way a
    /// careful operator would: first the stop signal (`SIGTERM` unless
    /// [`stop_signal`](Self::stop_signal) says otherwise) to the whole tree,
    /// then, if the direct child is still running after `grace`, `SIGKILL`
    /// to the whole tree. Whatever the child leaves behind when it exits is
    /// killed at once. The outcome still records
    /// [`timed_out`](crate::ProcessResult::timed_out) (or
    /// [`idle_timed_out`](crate::ProcessResult::idle_timed_out)).
    ///
    /// Without a grace period a deadline kills at once. Cancellation always
    /// kills at once. Unix only: on Windows the run fails with
    /// [`Error::Unsupported`](crate::Error::Unsupported) (a Job Object has
    /// no polite stop).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// // A server that cleans up on SIGTERM gets two seconds to do so.
    /// let r = processkit::Command::new("sh")
    ///     .args(["-c", "trap 'echo cleaned up; exit 0' TERM; while :; do sleep 0.05; done"])
    ///     .timeout(Duration::from_millis(300))
    ///     .grace_period(Duration::from_secs(2))
    ///     .output_string()
    ///     .await?;
    /// assert!(r.timed_out());
    /// assert_eq!((r.code(), r.stdout().as_str()), (Some(0), "cleaned up\n"));
    /// # Ok(()) }
    /// ```
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// The signal a deadline sends first when a
    /// [`grace_period`](Self::grace_period) is set (default
    /// [`Signal::Term`](crate::Signal::Term)). An invalid signal number is
    /// reported as [`Error::InvalidInput`](crate::Error::InvalidInput) when
    /// the process starts.
    ///
    /// ```
    /// use processkit::{Command, Signal};
    /// use std::time::Duration;
    /// let _ = Command::new("server").timeout(Duration::from_secs(60))
    ///     .grace_period(Duration::from_secs(5))
    ///     .stop_signal(Signal::Int);
    /// ```
    #[cfg(feature = "process-control")]
    #[cfg_attr(docsrs, doc(cfg(feature = "process-control")))]
    pub fn stop_signal(mut self, signal: crate::Signal) -> Self {
        self.stop_signal = signal;
        self
    }

    /// Ends the run when neither stdout nor stderr delivers a byte for
    /// `idle` (counted from the start, then from the last byte). The tree is
    /// stopped like at the [`timeout`](Self::timeout) (honouring
    /// [`grace_period`](Self::grace_period)), and the outcome records
    /// [`idle_timed_out`](crate::ProcessResult::idle_timed_out), distinct from
    /// `timed_out`; [`run`](Self::run) and [`exit_code`](Self::exit_code)
    /// return [`Error::Inactive`](crate::Error::Inactive).
    ///
    /// Only bytes that pass through this process count, so at least one of
    /// the two streams must be captured (otherwise the start fails with
    /// [`Error::InvalidInput`](crate::Error::InvalidInput)). In a pipeline a
    /// stage sees its own stderr and, for the last stage, its stdout.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = processkit::Command::new("sh").args(["-c", "echo started; sleep 30"])
    ///     .idle_timeout(Duration::from_millis(300))
    ///     .output_string()
    ///     .await?;
    /// assert!(r.idle_timed_out() && !r.timed_out());
    /// assert_eq!(r.stdout(), "started\n");
    /// # Ok(()) }
    /// ```
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = Some(idle);
        self
    }

    /// The exit codes that count as success for the checking verbs
    /// ([`run`](Self::run) and [`exit_code`](Self::exit_code); default:
    /// only 0, and `exit_code` accepts any code). A code outside the set is
    /// [`Error::NonZeroExit`](crate::Error::NonZeroExit). [`probe`](Self::probe)
    /// keeps its own 0 = yes, 1 = no contract.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// // grep exits 1 when nothing matched: not a failure here.
    /// let cmd = processkit::Command::new("grep").arg("absent").stdin("text\n").ok_codes([0, 1]);
    /// assert_eq!(cmd.run().await?, "");
    /// assert_eq!(cmd.exit_code().await?, 1);
    /// let strict = processkit::Command::new("sh").args(["-c", "exit 3"]).ok_codes([0]);
    /// assert!(matches!(strict.exit_code().await, Err(processkit::Error::NonZeroExit { code: 3, .. })));
    /// # Ok(()) }
    /// ```
    pub fn ok_codes(mut self, codes: impl IntoIterator<Item = i32>) -> Self {
        self.ok_codes = Some(codes.into_iter().collect());
        self
    }

    /// `true` when `code` counts as success for [`run`](Self::run).
    pub(crate) fn is_ok_code(&self, code: i32) -> bool {
        match &self.ok_codes {
            Some(codes) => codes.contains(&code),
            None => code == 0,
        }
    }
}

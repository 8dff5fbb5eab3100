//! What a [`RunningProcess`] tells about itself: program, pid, exit status,
//! deadlines hit, and its stdin writer and terminal.

use super::RunningProcess;
use crate::result::ExitStatus;
use crate::running::StdinWriter;

impl RunningProcess {
    /// The program name.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let run = processkit::Command::new("true").start().await?;
    /// assert_eq!(run.program(), "true");
    /// # Ok(()) }
    /// ```
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The direct child's pid (`None` for a scripted stand-in).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let run = processkit::Command::new("true").start().await?;
    /// assert!(run.pid().is_some());
    /// # Ok(()) }
    /// ```
    #[doc(alias = "id")]
    pub fn pid(&self) -> Option<u32> {
        self.proc_.pid()
    }

    /// Takes the interactive stdin writer (present when the command used
    /// [`keep_stdin_open`](crate::Command::keep_stdin_open)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("cat").start().await?;
    /// assert!(run.standard_input().is_none()); // not kept open
    /// # Ok(()) }
    /// ```
    #[doc(alias = "stdin")]
    pub fn standard_input(&mut self) -> Option<StdinWriter> {
        self.extras.as_mut().and_then(|x| x.stdin.take())
    }

    /// The child's terminal, for a run started with
    /// [`Command::pty`](crate::Command::pty) (`None` otherwise): resize it,
    /// type Ctrl-C or Ctrl-D. Type text with
    /// [`standard_input`](Self::standard_input).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("cat").pty().start().await?;
    /// let term = run.terminal().expect("started with pty()");
    /// term.send_eof()?;
    /// assert_eq!(run.wait().await?, Some(0));
    /// assert!(processkit::Command::new("true").start().await?.terminal().is_none());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "pty")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pty")))]
    pub fn terminal(&self) -> Option<crate::Terminal> {
        self.extras
            .as_ref()
            .and_then(|x| x.terminal.as_ref())
            .map(|m| crate::Terminal::new(&self.program, m.clone()))
    }

    /// Hands this handle a stdin writer (a pipeline's first stage's).
    pub(crate) fn set_standard_input(&mut self, writer: StdinWriter) {
        self.extras_mut().stdin = Some(writer);
    }

    /// The exit status, once the process has exited.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("true").start().await?;
    /// run.wait().await?;
    /// assert_eq!(run.exit_status().and_then(|s| s.code()), Some(0));
    /// # Ok(()) }
    /// ```
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// `true` if the run's deadline passed and the tree was killed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("sleep").arg("5").timeout(std::time::Duration::from_millis(50)).start().await?;
    /// assert_eq!(run.wait().await?, None);
    /// assert!(run.timed_out());
    /// # Ok(()) }
    /// ```
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// `true` if the run's inactivity deadline
    /// ([`Command::idle_timeout`](crate::Command::idle_timeout)) passed and
    /// the tree was stopped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("sleep").arg("5")
    ///     .idle_timeout(std::time::Duration::from_millis(100))
    ///     .start().await?;
    /// assert_eq!(run.wait().await?, None);
    /// assert!(run.idle_timed_out() && !run.timed_out());
    /// # Ok(()) }
    /// ```
    pub fn idle_timed_out(&self) -> bool {
        self.idle_timed_out
    }
}

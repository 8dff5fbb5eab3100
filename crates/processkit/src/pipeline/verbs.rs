//! The verbs that run a [`Pipeline`], as for a single command.

use tokio::time::Instant;

use super::Pipeline;
use super::run::{Mode, drive_upstream};
use crate::error::{Error, Result};
use crate::result::ProcessResult;
use crate::running::RunningProcess;

impl Pipeline {
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
    /// with [`Command::start`](crate::Command::start), once the last stage exits the rest of the
    /// chain is torn down too (its output could no longer be read). When the
    /// first stage uses
    /// [`keep_stdin_open`](crate::Command::keep_stdin_open), the handle's
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

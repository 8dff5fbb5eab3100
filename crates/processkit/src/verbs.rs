//! The verbs that run a [`Command`]: `run`, `output_string`, `exit_code`,
//! `probe`, `first_line`, `start` and the rest. Each goes through the one
//! [`ProcessRunner`] seam ([`JobRunner`]), so a [`Command`] itself stays a
//! plain value.

use std::fmt;

use crate::command::Command;
use crate::runner::{JobRunner, ProcessRunner, ProcessRunnerExt};
use crate::{Error, ProcessResult, Result, RunningProcess};

impl Command {
    /// Runs to completion and returns stdout with trailing whitespace
    /// trimmed. A non-zero exit, a timeout or a kill is an error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// assert_eq!(processkit::Command::new("echo").arg("hi").run().await?, "hi");
    /// let err = processkit::Command::new("false").run().await.unwrap_err();
    /// assert!(matches!(err, processkit::Error::NonZeroExit { code: 1, .. }));
    /// # Ok(()) }
    /// ```
    pub async fn run(&self) -> Result<String> {
        JobRunner.run(self).await
    }

    /// Runs like [`run`](Self::run) (success required, stdout trimmed) and
    /// turns the output into a value with `f`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let words = processkit::Command::new("echo").args(["a", "b", "c"])
    ///     .parse(|s| s.split_whitespace().count())
    ///     .await?;
    /// assert_eq!(words, 3);
    /// # Ok(()) }
    /// ```
    pub async fn parse<T>(&self, f: impl FnOnce(&str) -> T) -> Result<T> {
        Ok(f(&self.run().await?))
    }

    /// Runs like [`run`](Self::run) and parses the trimmed output with a
    /// fallible `f`; its error becomes [`Error::Parse`] naming the program,
    /// with the start of the output as an excerpt.
    ///
    /// ```
    /// use processkit::{Command, Error};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let n: u32 = Command::new("echo").arg("42").try_parse(|s| s.parse()).await?;
    /// assert_eq!(n, 42);
    /// let err = Command::new("echo").arg("forty-two").try_parse(|s| s.parse::<u32>()).await.unwrap_err();
    /// assert!(matches!(err, Error::Parse { ref excerpt, .. } if excerpt == "forty-two"));
    /// # Ok(()) }
    /// ```
    pub async fn try_parse<T, E: fmt::Display>(
        &self,
        f: impl FnOnce(&str) -> std::result::Result<T, E>,
    ) -> Result<T> {
        let out = self.run().await?;
        f(&out).map_err(|e| Error::Parse {
            program: self.name().to_owned(),
            line: None,
            excerpt: crate::error::excerpt(&out, 120),
            reason: e.to_string(),
        })
    }

    /// Runs like [`run`](Self::run) and deserializes stdout as one JSON
    /// value. A malformed document is [`Error::Parse`] with the line the
    /// parser stopped at and an excerpt of that line.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// #[derive(serde::Deserialize)]
    /// struct Info { name: String, size: u64 }
    /// let info: Info = processkit::Command::new("echo")
    ///     .arg(r#"{"name": "disk", "size": 512}"#)
    ///     .output_json()
    ///     .await?;
    /// assert_eq!((info.name.as_str(), info.size), ("disk", 512));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub async fn output_json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let out = self.run().await?;
        serde_json::from_str(&out).map_err(|e| crate::running::json_error(self.name(), &out, e))
    }

    /// Runs to completion and returns the full outcome with text output
    /// (invalid UTF-8 replaced). A non-zero exit is data, not an error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = processkit::Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]).output_string().await?;
    /// assert_eq!((r.code(), r.stdout().as_str(), r.stderr().as_str()), (Some(3), "out\n", "err\n"));
    /// # Ok(()) }
    /// ```
    #[doc(alias = "output")]
    pub async fn output_string(&self) -> Result<ProcessResult<String>> {
        JobRunner.output_string(self).await
    }

    /// Runs to completion and returns the full outcome with the output as
    /// bytes, losslessly.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = processkit::Command::new("printf").arg("\\377").output_bytes().await?;
    /// assert_eq!(r.stdout(), &vec![0xff]);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "output")]
    pub async fn output_bytes(&self) -> Result<ProcessResult<Vec<u8>>> {
        JobRunner.output_bytes(self).await
    }

    /// Runs to completion and returns the exit code. A timed-out or killed
    /// run is an error rather than an invented code.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// assert_eq!(processkit::Command::new("sh").args(["-c", "exit 7"]).exit_code().await?, 7);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "status")]
    pub async fn exit_code(&self) -> Result<i32> {
        JobRunner.exit_code(self).await
    }

    /// Runs a yes/no check: exit 0 is `true`, exit 1 is `false`, anything
    /// else is an error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// assert!(processkit::Command::new("true").probe().await?);
    /// assert!(!processkit::Command::new("false").probe().await?);
    /// # Ok(()) }
    /// ```
    pub async fn probe(&self) -> Result<bool> {
        JobRunner.probe(self).await
    }

    /// Returns the first stdout line that satisfies `pred`, or `None` when
    /// stdout closes without a match. Reading stops at the match and the
    /// process tree is killed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let line = processkit::Command::new("printf").arg("a\\nbb\\nccc\\n").first_line(|l| l.len() == 2).await?;
    /// assert_eq!(line.as_deref(), Some("bb"));
    /// # Ok(()) }
    /// ```
    pub async fn first_line(
        &self,
        pred: impl FnMut(&str) -> bool + Send,
    ) -> Result<Option<String>> {
        JobRunner.first_line(self, pred).await
    }

    /// Starts the process **outside** every container, so that it outlives
    /// this program: the one sanctioned escape from the no-orphan
    /// guarantee, for the case where that is the point (opening a browser,
    /// an editor or a file viewer from a command-line tool). Every other
    /// verb contains its process; nothing else in this crate detaches.
    ///
    /// The process starts in a new session (Unix; detached from the
    /// console with its own process group on Windows), with no death
    /// signal, and is neither tracked nor killed by anything here, the
    /// guardian included. Its exit status is collected in the background,
    /// so it never lingers as a zombie. Returns its pid; the start is
    /// traced at `warn` level (feature `tracing`) and counted (feature
    /// `metrics`).
    ///
    /// Nobody reads its output: a captured or teed stdout or stderr goes to
    /// the null device instead (inherited, file and null destinations are
    /// honoured). Stdin may be null, inherited or a file; data fed from
    /// memory is [`Error::InvalidInput`](crate::Error::InvalidInput), and so
    /// are settings that belong to contained runs (timeouts, retries, line
    /// handlers, cancellation, `uid`/`gid`/`setsid`, spawn knobs other than
    /// `arg0`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// // What a CLI does to show a file to its user and move on.
    /// let pid = processkit::Command::new("true").spawn_detached()?;
    /// assert!(pid > 0);
    /// # Ok(()) }
    /// ```
    pub fn spawn_detached(&self) -> Result<u32> {
        use crate::stdin::StdinKind;
        use crate::sys::StdioKind;
        let refuse = |what: &str| {
            Err(Error::invalid(
                self.name(),
                format!(
                    "spawn_detached cannot honour {what}: nothing supervises a detached process"
                ),
            ))
        };
        let contained_only = [
            (self.timeout.is_some(), "a timeout"),
            (self.idle_timeout.is_some(), "an idle timeout"),
            (self.grace.is_some(), "a grace period"),
            (self.retry.is_some(), "a retry policy"),
            (
                self.on_stdout.is_some() || self.on_stderr.is_some(),
                "a line handler",
            ),
            (self.keep_stdin_open || self.stdin.has_data(), "stdin data"),
            (self.uid.is_some() || self.gid.is_some(), "uid/gid"),
            (self.setsid, "setsid (it gets its own session anyway)"),
            (self.kill_on_parent_death, "kill_on_parent_death"),
            (self.knobs.first_child_knob().is_some(), "spawn knobs"),
            (
                self.stdout_limit.is_some() || self.stderr_limit.is_some(),
                "a capture limit",
            ),
        ];
        if let Some((_, what)) = contained_only.iter().find(|(set, _)| *set) {
            return refuse(what);
        }
        #[cfg(feature = "cancellation")]
        if self.cancel.is_some() {
            return refuse("a cancellation token");
        }
        let mut req = crate::runner::request(self, None, None)?;
        req.stdin = match &self.stdin.0 {
            StdinKind::Inherit => StdioKind::Inherit,
            StdinKind::File(_) => req.stdin,
            _ => StdioKind::Null,
        };
        for kind in [&mut req.stdout, &mut req.stderr] {
            if matches!(kind, StdioKind::Piped) {
                *kind = StdioKind::Null;
            }
        }
        if matches!(req.stderr, StdioKind::Stdout) && matches!(req.stdout, StdioKind::Null) {
            req.stderr = StdioKind::Null;
        }
        let pid = crate::sys::spawn_detached(req)?;
        crate::trace::detached(self.name(), pid);
        Ok(pid)
    }

    /// Starts the process and returns a live handle for streaming, stdin and
    /// readiness probes. Dropping the handle kills the whole tree.
    ///
    /// ```
    /// use processkit::StreamExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("printf").arg("1\\n2\\n").start().await?;
    /// let lines: Vec<String> = run.stdout_lines().collect().await;
    /// assert_eq!(lines, ["1", "2"]);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "spawn")]
    pub async fn start(&self) -> Result<RunningProcess> {
        JobRunner.start(self).await
    }
}

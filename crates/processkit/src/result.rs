//! [`ProcessResult`]: the full outcome of a finished run, as data.

use std::fmt;
use std::time::Duration;

pub use crate::sys::status::ExitStatus;

/// The full outcome of a finished run: exit status, captured output, whether
/// the run's deadline passed, and how long it took.
///
/// A non-zero exit is data here, never an error. `T` is the type of the
/// captured output: [`String`] for
/// [`output_string`](crate::Command::output_string) (invalid UTF-8 replaced
/// with U+FFFD), `Vec<u8>` for [`output_bytes`](crate::Command::output_bytes)
/// (lossless).
///
/// ```
/// use processkit::{ExitStatus, ProcessResult};
/// use std::time::Duration;
/// let r = ProcessResult::new("tool", ExitStatus::from_code(1), "out".to_string(), "err".to_string(), false, Duration::ZERO);
/// assert_eq!(r.code(), Some(1));
/// assert!(!r.is_success());
/// assert_eq!(r.stdout(), "out");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "record", derive(serde::Serialize, serde::Deserialize))]
pub struct ProcessResult<T = String> {
    program: String,
    status: ExitStatus,
    stdout: T,
    stderr: T,
    timed_out: bool,
    duration: Duration,
    /// Ended by the inactivity deadline.
    #[cfg_attr(feature = "record", serde(default))]
    idle_timed_out: bool,
    /// Bytes a capture cap dropped from stdout and stderr.
    #[cfg_attr(feature = "record", serde(default))]
    stdout_dropped: u64,
    #[cfg_attr(feature = "record", serde(default))]
    stderr_dropped: u64,
}

impl<T> ProcessResult<T> {
    /// Builds a result by hand (for scripted runners and tests).
    ///
    /// ```
    /// use processkit::{ExitStatus, ProcessResult};
    /// let r = ProcessResult::new("git", ExitStatus::from_code(0), String::new(), String::new(), false, Default::default());
    /// assert!(r.is_success());
    /// ```
    pub fn new(
        program: impl Into<String>,
        status: ExitStatus,
        stdout: T,
        stderr: T,
        timed_out: bool,
        duration: Duration,
    ) -> Self {
        ProcessResult {
            program: program.into(),
            status,
            stdout,
            stderr,
            timed_out,
            duration,
            idle_timed_out: false,
            stdout_dropped: 0,
            stderr_dropped: 0,
        }
    }

    /// Records how many bytes capture caps dropped from each stream.
    pub(crate) fn with_dropped(mut self, stdout: u64, stderr: u64) -> Self {
        self.stdout_dropped = stdout;
        self.stderr_dropped = stderr;
        self
    }

    /// Marks the result as ended by the inactivity deadline.
    pub(crate) fn with_idle_timed_out(mut self, idle: bool) -> Self {
        self.idle_timed_out = idle;
        self
    }

    /// The program that ran (for a pipeline: the stage the outcome is attributed to).
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// # let r = ProcessResult::new("git", ExitStatus::from_code(0), String::new(), String::new(), false, Default::default());
    /// assert_eq!(r.program(), "git");
    /// ```
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The exit code; `None` when the process was killed (timeout, signal).
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// # let r = ProcessResult::new("x", ExitStatus::from_signal(9), String::new(), String::new(), true, Default::default());
    /// assert_eq!(r.code(), None);
    /// ```
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The signal that killed the process, if any (Unix; 9 for a terminated
    /// process on Windows).
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// # let r = ProcessResult::new("x", ExitStatus::from_signal(9), String::new(), String::new(), true, Default::default());
    /// assert_eq!(r.signal(), Some(9));
    /// ```
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }

    /// The exit status.
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// # let r = ProcessResult::new("x", ExitStatus::from_code(0), String::new(), String::new(), false, Default::default());
    /// assert!(r.status().success());
    /// ```
    pub fn status(&self) -> ExitStatus {
        self.status
    }

    /// Everything the process wrote to stdout.
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// # let r = ProcessResult::new("x", ExitStatus::from_code(0), "hi\n".to_string(), String::new(), false, Default::default());
    /// assert_eq!(r.stdout().trim(), "hi");
    /// ```
    pub fn stdout(&self) -> &T {
        &self.stdout
    }

    /// Everything the process wrote to stderr.
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// # let r = ProcessResult::new("x", ExitStatus::from_code(0), String::new(), "warn".to_string(), false, Default::default());
    /// assert_eq!(r.stderr(), "warn");
    /// ```
    pub fn stderr(&self) -> &T {
        &self.stderr
    }

    /// `true` when the run's deadline passed and the tree was killed. The
    /// output holds what was captured until then.
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// # let r = ProcessResult::new("x", ExitStatus::from_signal(9), String::new(), String::new(), true, Default::default());
    /// assert!(r.timed_out());
    /// ```
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// `true` when the run ended because neither stdout nor stderr
    /// delivered a byte for its
    /// [`idle_timeout`](crate::Command::idle_timeout). Distinct from
    /// [`timed_out`](Self::timed_out), the wall-clock deadline.
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// # let r = ProcessResult::new("x", ExitStatus::from_code(0), String::new(), String::new(), false, Default::default());
    /// assert!(!r.idle_timed_out());
    /// ```
    pub fn idle_timed_out(&self) -> bool {
        self.idle_timed_out
    }

    /// How many stdout bytes a [`CaptureLimit`](crate::CaptureLimit) dropped
    /// (0: the capture is complete).
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// # let r = ProcessResult::new("x", ExitStatus::from_code(0), String::new(), String::new(), false, Default::default());
    /// assert_eq!(r.stdout_dropped(), 0);
    /// ```
    pub fn stdout_dropped(&self) -> u64 {
        self.stdout_dropped
    }

    /// How many stderr bytes a [`CaptureLimit`](crate::CaptureLimit) dropped.
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// # let r = ProcessResult::new("x", ExitStatus::from_code(0), String::new(), String::new(), false, Default::default());
    /// assert_eq!(r.stderr_dropped(), 0);
    /// ```
    pub fn stderr_dropped(&self) -> u64 {
        self.stderr_dropped
    }

    /// `true` when a capture cap dropped bytes from either stream.
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// # let r = ProcessResult::new("x", ExitStatus::from_code(0), String::new(), String::new(), false, Default::default());
    /// assert!(!r.is_truncated());
    /// ```
    pub fn is_truncated(&self) -> bool {
        self.stdout_dropped > 0 || self.stderr_dropped > 0
    }

    /// `true` when the process exited with code 0 and no deadline ended it.
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// # let r = ProcessResult::new("x", ExitStatus::from_code(0), String::new(), String::new(), false, Default::default());
    /// assert!(r.is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        self.status.success() && !self.timed_out && !self.idle_timed_out
    }

    /// Wall-clock time from spawn to exit.
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// # let r = ProcessResult::new("x", ExitStatus::from_code(0), String::new(), String::new(), false, std::time::Duration::from_millis(5));
    /// assert_eq!(r.duration().as_millis(), 5);
    /// ```
    pub fn duration(&self) -> std::time::Duration {
        self.duration
    }

    /// Takes the captured stdout and stderr out of the result.
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// # let r = ProcessResult::new("x", ExitStatus::from_code(0), "o".to_string(), "e".to_string(), false, Default::default());
    /// let (out, err) = r.into_output();
    /// assert_eq!((out.as_str(), err.as_str()), ("o", "e"));
    /// ```
    pub fn into_output(self) -> (T, T) {
        (self.stdout, self.stderr)
    }

    /// Converts the captured output with `f` (for example bytes to text).
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// let r = ProcessResult::new("x", ExitStatus::from_code(0), b"hi".to_vec(), Vec::new(), false, Default::default());
    /// let s = r.map_output(|b| String::from_utf8_lossy(&b).into_owned());
    /// assert_eq!(s.stdout(), "hi");
    /// ```
    pub fn map_output<U>(self, mut f: impl FnMut(T) -> U) -> ProcessResult<U> {
        ProcessResult {
            program: self.program,
            status: self.status,
            stdout: f(self.stdout),
            stderr: f(self.stderr),
            timed_out: self.timed_out,
            duration: self.duration,
            idle_timed_out: self.idle_timed_out,
            stdout_dropped: self.stdout_dropped,
            stderr_dropped: self.stderr_dropped,
        }
    }
}

/// A finished run's metadata, without its output: what to log, export or
/// serialize (with the `serde` feature) about a run. Get one from
/// [`ProcessResult::report`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let r = processkit::Command::new("sh").args(["-c", "exit 2"]).output_string().await?;
/// let report = r.report();
/// assert_eq!((report.program.as_str(), report.status.code()), ("sh", Some(2)));
/// assert!(!report.success);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RunReport {
    /// The program (for a pipeline, the stage the outcome is attributed to).
    pub program: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Exit code 0 and no deadline ended it.
    pub success: bool,
    /// The wall-clock deadline passed.
    pub timed_out: bool,
    /// The inactivity deadline passed.
    pub idle_timed_out: bool,
    /// Spawn to exit.
    pub duration: Duration,
    /// Bytes of stdout a capture cap dropped.
    pub stdout_dropped: u64,
    /// Bytes of stderr a capture cap dropped.
    pub stderr_dropped: u64,
}

impl<T> ProcessResult<T> {
    /// The run's metadata without its output (see [`RunReport`]).
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// let r = ProcessResult::new("x", ExitStatus::from_code(0), "secret".to_string(), String::new(), false, Default::default());
    /// assert!(r.report().success);
    /// ```
    pub fn report(&self) -> RunReport {
        RunReport {
            program: self.program.clone(),
            status: self.status,
            success: self.is_success(),
            timed_out: self.timed_out,
            idle_timed_out: self.idle_timed_out,
            duration: self.duration,
            stdout_dropped: self.stdout_dropped,
            stderr_dropped: self.stderr_dropped,
        }
    }
}

impl ProcessResult<Vec<u8>> {
    /// Converts captured bytes to text, replacing invalid UTF-8 with U+FFFD.
    ///
    /// ```
    /// # use processkit::{ExitStatus, ProcessResult};
    /// let r = ProcessResult::new("x", ExitStatus::from_code(0), vec![b'o', 0xff], Vec::new(), false, Default::default());
    /// assert_eq!(r.into_lossy().stdout(), "o\u{fffd}");
    /// ```
    pub fn into_lossy(self) -> ProcessResult<String> {
        self.map_output(|b| match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }
}

/// Shows the outcome in one line: program, status and (trimmed) stdout.
impl fmt::Display for ProcessResult<String> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.timed_out {
            write!(f, "{}: timed out", self.program)
        } else if self.idle_timed_out {
            write!(f, "{}: stopped after printing nothing", self.program)
        } else if self.is_success() {
            write!(f, "{}", self.stdout.trim_end())
        } else {
            write!(f, "{}: {}", self.program, self.status)
        }
    }
}

/// The last `max_lines` lines of `stderr`, for error messages.
pub(crate) fn stderr_tail(stderr: &str, max_lines: usize) -> String {
    let trimmed = stderr.trim_end();
    let mut start = trimmed.len();
    for _ in 0..max_lines {
        match trimmed[..start].rfind('\n') {
            Some(i) => start = i,
            None => {
                start = 0;
                break;
            }
        }
    }
    let tail = trimmed[start..].trim_start_matches('\n');
    const MAX: usize = 2000;
    if tail.len() > MAX {
        let mut cut = tail.len() - MAX;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail[cut..].to_owned()
    } else {
        tail.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::stderr_tail;

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(stderr_tail("a\nb\nc\nd\n", 2), "c\nd");
        assert_eq!(stderr_tail("only", 5), "only");
        assert_eq!(stderr_tail("", 5), "");
    }
}

/// What [`ProcessGroup::shutdown`](crate::ProcessGroup::shutdown) did.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let group = processkit::ProcessGroup::new()?;
/// let report = group.shutdown().await?;
/// assert_eq!((report.signalled, report.killed), (0, 0));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ShutdownReport {
    /// Processes alive when the polite signal (SIGTERM) went out (0 on
    /// Windows, which has none).
    pub signalled: usize,
    /// Processes still alive after the grace period, which SIGKILL (or the
    /// job termination) took down.
    pub killed: usize,
    /// From the start of the shutdown until the group was empty.
    pub duration: Duration,
}

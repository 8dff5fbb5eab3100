//! [`ExitStatus`]: how a process ended, as the operating system reports it.

use std::fmt;

/// How a process ended.
///
/// ```
/// use processkit::ExitStatus;
/// let s = ExitStatus::from_code(3);
/// assert_eq!(s.code(), Some(3));
/// assert!(!s.success());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "record", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    all(feature = "serde", not(feature = "record")),
    derive(serde::Serialize)
)]
pub struct ExitStatus {
    code: Option<i32>,
    signal: Option<i32>,
}

impl ExitStatus {
    /// A status for a process that exited normally with `code`.
    ///
    /// ```
    /// assert!(processkit::ExitStatus::from_code(0).success());
    /// ```
    pub fn from_code(code: i32) -> Self {
        ExitStatus {
            code: Some(code),
            signal: None,
        }
    }

    /// A status for a process killed by signal `signal` (on Windows, a
    /// terminated process reports signal 9).
    ///
    /// ```
    /// let s = processkit::ExitStatus::from_signal(9);
    /// assert_eq!(s.code(), None);
    /// assert_eq!(s.signal(), Some(9));
    /// ```
    pub fn from_signal(signal: i32) -> Self {
        ExitStatus {
            code: None,
            signal: Some(signal),
        }
    }

    /// Decodes a `wait(2)`-style status word (what `waitpid` and
    /// `EVFILT_PROC` report). A status that is neither an exit nor a signal
    /// death (it cannot be one for a process that is gone) reads as SIGKILL.
    #[cfg(unix)]
    #[cfg_attr(
        not(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd")),
        allow(dead_code)
    )]
    pub(crate) fn from_wait_status(raw: i32) -> Self {
        if libc::WIFEXITED(raw) {
            Self::from_code(libc::WEXITSTATUS(raw))
        } else if libc::WIFSIGNALED(raw) {
            Self::from_signal(libc::WTERMSIG(raw))
        } else {
            Self::from_signal(libc::SIGKILL)
        }
    }

    /// The exit code, if the process exited normally.
    ///
    /// ```
    /// assert_eq!(processkit::ExitStatus::from_code(2).code(), Some(2));
    /// ```
    pub fn code(&self) -> Option<i32> {
        self.code
    }

    /// The signal that killed the process, if any.
    ///
    /// ```
    /// assert_eq!(processkit::ExitStatus::from_code(0).signal(), None);
    /// ```
    pub fn signal(&self) -> Option<i32> {
        self.signal
    }

    /// `true` when the process exited with code 0.
    ///
    /// ```
    /// assert!(!processkit::ExitStatus::from_signal(15).success());
    /// ```
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}"),
            (None, Some(s)) => write!(f, "killed by signal {s}"),
            (None, None) => write!(f, "no exit status"),
        }
    }
}

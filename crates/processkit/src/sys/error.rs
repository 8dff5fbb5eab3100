//! The crate's one error type.
//!
//! Every variant is a struct variant that names the program involved, so a
//! message read in a CI log says which command failed and why. A non-zero
//! exit is *not* an error by itself: the capture verbs return it as data in a
//! [`ProcessResult`](crate::ProcessResult). Only the verbs that promise success
//! ([`Command::run`](crate::Command::run), [`Command::exit_code`](crate::Command::exit_code),
//! [`Command::probe`](crate::Command::probe)) turn an unwanted outcome into an `Error`.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// A `Result` whose error is [`Error`].
///
/// ```
/// fn parse(s: &str) -> processkit::Result<i32> {
///     s.trim().parse().map_err(|_| processkit::Error::InvalidInput {
///         program: "parse".into(),
///         reason: format!("{s:?} is not a number"),
///     })
/// }
/// assert!(parse("42").is_ok());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when running a process.
///
/// ```
/// use processkit::{Command, Error};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = Command::new("definitely-not-a-real-program-xyz").run().await.unwrap_err();
/// assert!(matches!(err, Error::NotFound { .. }));
/// assert!(err.to_string().contains("definitely-not-a-real-program-xyz"));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The program could not be found (not on `PATH`, or the path does not exist).
    #[error("`{program}`: program not found{}; check the name and PATH", hint(.searched))]
    NotFound {
        /// The program as given to [`Command::new`](crate::Command::new).
        program: String,
        /// Where it was looked for, if a `PATH` search happened.
        searched: Option<String>,
    },

    /// The program exists but could not be executed (not executable, or a
    /// permission check failed while setting up the child).
    #[error("`{program}`: permission denied: {source}")]
    PermissionDenied {
        /// The program.
        program: String,
        /// The underlying OS error.
        #[source]
        source: io::Error,
    },

    /// The working directory given with `current_dir` does not exist or is
    /// not a directory.
    #[error("`{program}`: working directory {} is not usable: {source}", dir.display())]
    BadDirectory {
        /// The program.
        program: String,
        /// The directory that was asked for.
        dir: PathBuf,
        /// The underlying OS error.
        #[source]
        source: io::Error,
    },

    /// Any other failure to start the process.
    #[error("`{program}`: failed to start: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The underlying OS error.
        #[source]
        source: io::Error,
    },

    /// The process exited with a non-zero code where success was required.
    #[error("`{program}` exited with code {code}{}", tail(.stderr_tail))]
    NonZeroExit {
        /// The program.
        program: String,
        /// The exit code.
        code: i32,
        /// The last few lines of its standard error (may be empty).
        stderr_tail: String,
    },

    /// The process was killed by a signal (Unix) or terminated without an
    /// exit code, where success was required.
    #[error("`{program}` was killed by signal {signal}{}", tail(.stderr_tail))]
    Killed {
        /// The program.
        program: String,
        /// The signal number (on Windows, always 9 for "terminated").
        signal: i32,
        /// The last few lines of its standard error (may be empty).
        stderr_tail: String,
    },

    /// The run's own deadline ([`Command::timeout`](crate::Command::timeout))
    /// passed; the whole tree was killed.
    #[error("`{program}` timed out after {timeout:?}; the process tree was killed")]
    Timeout {
        /// The program.
        program: String,
        /// The deadline that passed.
        timeout: Duration,
    },

    /// Neither stdout nor stderr delivered a byte for the run's inactivity
    /// deadline ([`Command::idle_timeout`](crate::Command::idle_timeout));
    /// the tree was stopped.
    #[error("`{program}` printed nothing for {idle:?}; the process tree was stopped")]
    Inactive {
        /// The program.
        program: String,
        /// The inactivity deadline that passed.
        idle: Duration,
    },

    /// The run was cancelled through its cancellation token; the tree was killed.
    #[error("`{program}` was cancelled; the process tree was killed")]
    Cancelled {
        /// The program.
        program: String,
    },

    /// The [`ProcessGroup`](crate::ProcessGroup) was shut down
    /// ([`shutdown`](crate::ProcessGroup::shutdown)): a group that was shut
    /// down starts nothing more. Nothing was started.
    #[error("`{program}`: the process group was shut down and starts nothing more")]
    GroupShutDown {
        /// The program that was not started.
        program: String,
    },

    /// A readiness probe did not pass within its deadline, or can no longer
    /// pass (the process exited, or its stdout closed). The process is left
    /// running: the caller decides what happens next.
    #[error("`{program}` did not become ready: {reason}")]
    NotReady {
        /// The program.
        program: String,
        /// Why: the deadline passed, the process exited, or its output closed.
        reason: String,
    },

    /// The input was invalid: a NUL byte in the program, an argument or the
    /// environment, an empty program name, and the like.
    #[error("`{program}`: invalid input: {reason}")]
    InvalidInput {
        /// The program.
        program: String,
        /// What was wrong.
        reason: String,
    },

    /// A verb that reads stdout ([`Command::run`](crate::Command::run),
    /// [`Command::first_line`](crate::Command::first_line),
    /// [`RunningProcess::try_stdout_lines`](crate::RunningProcess::try_stdout_lines))
    /// was used on a command whose stdout is not captured (it was sent to
    /// the parent, a file or `/dev/null` with
    /// [`Command::stdout`](crate::Command::stdout)). Nothing was started.
    #[error(
        "`{program}`: {verb} reads stdout, but stdout is {destination}; use output_string or exit_code, or keep stdout captured"
    )]
    OutputNotCaptured {
        /// The program.
        program: String,
        /// The verb that needs captured stdout.
        verb: String,
        /// Where stdout goes instead (`"inherited"`, `"written to a file"`...).
        destination: String,
    },

    /// The output of a successful run could not be turned into the wanted
    /// type ([`Command::try_parse`](crate::Command::try_parse), and with the
    /// `json` feature `output_json` and `json_lines`).
    #[error("`{program}`: could not parse the output{}: {reason} (in: {excerpt:?})", at_line(.line))]
    Parse {
        /// The program.
        program: String,
        /// The 1-based line of the output the problem is on, when known.
        line: Option<usize>,
        /// The start of the offending text (at most 120 characters).
        excerpt: String,
        /// What the parser said.
        reason: String,
    },

    /// A resource limit was requested that this host cannot enforce, or the
    /// limit could not be applied.
    #[error("resource limit `{limit}` cannot be enforced: {reason}")]
    ResourceLimit {
        /// Which limit (`memory_max`, `max_processes`, `cpu_quota`).
        limit: String,
        /// Why it cannot be enforced here.
        reason: String,
    },

    /// The operation is not supported on this platform or mechanism.
    #[error("`{program}`: {operation} is not supported here: {reason}")]
    Unsupported {
        /// The program (or `"process group"` for group operations).
        program: String,
        /// The operation that was asked for.
        operation: String,
        /// Why it is not supported.
        reason: String,
    },

    /// A scripted or replayed runner had no answer for this invocation.
    #[error("`{program}`: no scripted or recorded outcome for this invocation: {detail}")]
    NoScriptedOutcome {
        /// The program.
        program: String,
        /// The invocation that missed (program, args, cwd).
        detail: String,
    },

    /// An I/O error while talking to the process or its container.
    #[error("`{program}`: I/O error while {context}: {source}")]
    Io {
        /// The program (or `"process group"`).
        program: String,
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn at_line(line: &Option<usize>) -> String {
    line.map(|l| format!(" at line {l}")).unwrap_or_default()
}

/// At most `max` characters of `text` (the first line's worth), for error
/// messages that quote output.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn hint(searched: &Option<String>) -> String {
    match searched {
        Some(path) if !path.is_empty() => format!(" (searched PATH={path})"),
        _ => String::new(),
    }
}

fn tail(stderr: &str) -> String {
    let trimmed = stderr.trim_end();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("; stderr: {trimmed}")
    }
}

/// The `program` field of an [`Error`] (by reference, shared or mutable as
/// `$err` is), `None` for the variants that name no program: the one place
/// that maps a variant to its program, for [`Error::program`] and
/// `Error::with_program`.
macro_rules! program_field {
    ($err:expr) => {
        match $err {
            Error::NotFound { program, .. }
            | Error::PermissionDenied { program, .. }
            | Error::BadDirectory { program, .. }
            | Error::Spawn { program, .. }
            | Error::NonZeroExit { program, .. }
            | Error::Killed { program, .. }
            | Error::Timeout { program, .. }
            | Error::Inactive { program, .. }
            | Error::Cancelled { program }
            | Error::GroupShutDown { program }
            | Error::NotReady { program, .. }
            | Error::InvalidInput { program, .. }
            | Error::OutputNotCaptured { program, .. }
            | Error::Parse { program, .. }
            | Error::Unsupported { program, .. }
            | Error::NoScriptedOutcome { program, .. }
            | Error::Io { program, .. } => Some(program),
            Error::ResourceLimit { .. } => None,
        }
    };
}

impl Error {
    /// The program this error is about, when there is one.
    ///
    /// ```
    /// let e = processkit::Error::Cancelled { program: "make".into() };
    /// assert_eq!(e.program(), Some("make"));
    /// ```
    pub fn program(&self) -> Option<&str> {
        program_field!(self).map(String::as_str)
    }

    /// Renames the program this error is about (a pipeline names the stage).
    pub(crate) fn with_program(mut self, label: String) -> Self {
        if let Some(p) = program_field!(&mut self) {
            *p = label;
        }
        self
    }

    /// `true` for errors that come from the run's own deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// let e = processkit::Error::Timeout { program: "x".into(), timeout: Duration::from_secs(1) };
    /// assert!(e.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// `true` for errors that come from the run's inactivity deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// let e = processkit::Error::Inactive { program: "x".into(), idle: Duration::from_secs(1) };
    /// assert!(e.is_inactive() && !e.is_timeout());
    /// ```
    pub fn is_inactive(&self) -> bool {
        matches!(self, Error::Inactive { .. })
    }

    pub(crate) fn io(program: &str, context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            program: program.to_owned(),
            context: context.into(),
            source,
        }
    }

    pub(crate) fn invalid(program: &str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            program: program.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(program: &str, operation: &str, reason: impl Into<String>) -> Self {
        Error::Unsupported {
            program: program.to_owned(),
            operation: operation.to_owned(),
            reason: reason.into(),
        }
    }

    /// Classifies an OS error from a spawn attempt into the right variant.
    pub(crate) fn from_spawn(program: &str, cwd: Option<&std::path::Path>, e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => match cwd {
                Some(dir) if !dir.is_dir() => Error::BadDirectory {
                    program: program.to_owned(),
                    dir: dir.to_owned(),
                    source: e,
                },
                _ => Error::NotFound {
                    program: program.to_owned(),
                    searched: None,
                },
            },
            io::ErrorKind::NotADirectory => Error::BadDirectory {
                program: program.to_owned(),
                dir: cwd.map(|p| p.to_owned()).unwrap_or_default(),
                source: e,
            },
            io::ErrorKind::PermissionDenied => Error::PermissionDenied {
                program: program.to_owned(),
                source: e,
            },
            _ => Error::Spawn {
                program: program.to_owned(),
                source: e,
            },
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::NotFound { .. } => io::ErrorKind::NotFound,
            Error::PermissionDenied { .. } => io::ErrorKind::PermissionDenied,
            Error::Timeout { .. } | Error::Inactive { .. } => io::ErrorKind::TimedOut,
            Error::InvalidInput { .. } | Error::OutputNotCaptured { .. } | Error::Parse { .. } => {
                io::ErrorKind::InvalidInput
            }
            Error::Unsupported { .. } => io::ErrorKind::Unsupported,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

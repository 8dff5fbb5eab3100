//! [`Invocation`]: what a test double saw of a run, and the stand-in
//! process the doubles hand back.

use std::path::PathBuf;
use std::time::Duration;

use crate::command::Command;
use crate::result::ExitStatus;
use crate::running::{Parts, Proc, RunningProcess};
use crate::stdin::StdinKind;

/// One invocation as a test double saw it: everything about a [`Command`]
/// that identifies the run, and nothing secret (environment variables appear
/// by name only).
///
/// Text is converted lossily: an argument that is not valid Unicode shows
/// U+FFFD where the invalid bytes were.
///
/// ```
/// use processkit::{Command, testing::Invocation};
/// let inv = Invocation::of(&Command::new("git").args(["log", "-1"]).env("TOKEN", "s3cret"));
/// assert_eq!(inv.argv(), ["git", "log", "-1"]);
/// assert_eq!(inv.env_names, ["TOKEN"]);
/// assert!(!format!("{inv:?}").contains("s3cret"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Invocation {
    /// The program as given to [`Command::new`].
    pub program: String,
    /// The arguments, in order.
    pub args: Vec<String>,
    /// The working directory, if one was set.
    pub cwd: Option<PathBuf>,
    /// The sorted names of the variables set or removed explicitly (never values).
    pub env_names: Vec<String>,
    /// `true` when the command feeds the child's stdin (see [`Command::has_stdin`]).
    pub has_stdin: bool,
    /// The command's timeout, if any.
    pub timeout: Option<Duration>,
    /// `true` for a [`start`](crate::ProcessRunner::start) (a live handle),
    /// `false` for an [`execute`](crate::ProcessRunner::execute) (run to completion).
    pub started: bool,
}

impl Invocation {
    /// Describes `cmd` (as an `execute`; set [`started`](Self::started) for a `start`).
    ///
    /// ```
    /// use processkit::{Command, testing::Invocation};
    /// let inv = Invocation::of(&Command::new("ls").current_dir("/tmp"));
    /// assert_eq!(inv.cwd.as_deref(), Some(std::path::Path::new("/tmp")));
    /// assert!(!inv.has_stdin);
    /// ```
    pub fn of(cmd: &Command) -> Self {
        Invocation {
            program: cmd.get_program().to_string_lossy().into_owned(),
            args: cmd
                .get_args()
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            cwd: cmd.get_current_dir().map(|p| p.to_path_buf()),
            env_names: cmd.get_env_names(),
            has_stdin: cmd.has_stdin(),
            timeout: cmd.get_timeout(),
            started: false,
        }
    }

    /// The program followed by its arguments.
    ///
    /// ```
    /// use processkit::{Command, testing::Invocation};
    /// assert_eq!(Invocation::of(&Command::new("echo").arg("hi")).argv(), ["echo", "hi"]);
    /// ```
    pub fn argv(&self) -> Vec<&str> {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect()
    }

    /// A one-line description for error messages: argv, then the working
    /// directory and stdin when they matter.
    pub(crate) fn describe(&self) -> String {
        let mut s = format!("{:?}", self.argv());
        if let Some(cwd) = &self.cwd {
            s.push_str(&format!(" in {}", cwd.display()));
        }
        if self.has_stdin {
            s.push_str(" with stdin");
        }
        s
    }
}

/// How a stand-in process ends.
pub(crate) struct StandIn {
    /// The exit status it reports.
    pub status: ExitStatus,
    /// What it prints on stdout (available at once).
    pub stdout: Vec<u8>,
    /// What it prints on stderr (available at once).
    pub stderr: Vec<u8>,
    /// How long it "runs" before exiting; `None` exits at once.
    pub runs_for: Option<Duration>,
}

/// Builds a live handle for a stand-in process. The output goes through the
/// same pumps as a real child's, and the command's timeout and cancellation
/// token apply exactly as they do to a real child (a stand-in that runs past
/// the deadline is killed and reported as timed out). Stdin, when the
/// command has any, is accepted and discarded.
///
/// Must be called within a tokio runtime.
pub(crate) fn stand_in(cmd: &Command, s: StandIn) -> RunningProcess {
    let wants_stdin =
        cmd.keep_stdin_open || matches!(cmd.stdin.0, StdinKind::Bytes(_) | StdinKind::Lines(_));
    let stdin: Option<crate::sys::WritePipe> = if wants_stdin {
        Some(Box::new(tokio::io::sink()))
    } else {
        None
    };
    RunningProcess::from_parts(
        Parts {
            program: cmd.name().to_owned(),
            proc_: Proc::Scripted {
                status: s.status,
                exit_at: s.runs_for.map(|d| Box::pin(tokio::time::sleep(d))),
                killed: false,
            },
            stdin,
            stdout: Some(Box::new(std::io::Cursor::new(s.stdout))),
            stderr: Some(Box::new(std::io::Cursor::new(s.stderr))),
            terminal: None,
        },
        cmd,
    )
}

//! [`Signal`]: what [`ProcessGroup::signal`](crate::ProcessGroup::signal) and
//! [`RunningProcess::signal`](crate::RunningProcess::signal) can send.

use crate::error::{Error, Result};

/// A signal for a whole group or one process tree.
///
/// POSIX-only, except [`Signal::Kill`], which always takes the whole-tree
/// hard-kill path (`cgroup.kill`, `killpg(SIGKILL)` or `TerminateJobObject`).
/// On Windows every other signal returns [`Error::Unsupported`].
///
/// ```
/// use processkit::Signal;
/// assert_eq!(Signal::Hup.name(), "SIGHUP");
/// assert_eq!(Signal::Other(10).name(), "signal 10");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// SIGTERM: ask to terminate.
    Term,
    /// SIGKILL: the whole-tree hard kill.
    Kill,
    /// SIGINT: interrupt (Ctrl-C).
    Int,
    /// SIGHUP: hang up; by convention "reload configuration".
    Hup,
    /// SIGQUIT.
    Quit,
    /// SIGUSR1.
    Usr1,
    /// SIGUSR2.
    Usr2,
    /// Any other signal number.
    Other(i32),
}

impl Signal {
    /// The conventional name.
    ///
    /// ```
    /// assert_eq!(processkit::Signal::Term.name(), "SIGTERM");
    /// ```
    pub fn name(&self) -> String {
        match self {
            Signal::Term => "SIGTERM".into(),
            Signal::Kill => "SIGKILL".into(),
            Signal::Int => "SIGINT".into(),
            Signal::Hup => "SIGHUP".into(),
            Signal::Quit => "SIGQUIT".into(),
            Signal::Usr1 => "SIGUSR1".into(),
            Signal::Usr2 => "SIGUSR2".into(),
            Signal::Other(n) => format!("signal {n}"),
        }
    }

    /// The platform's signal number; an error where it cannot be delivered.
    #[cfg(unix)]
    pub(crate) fn to_raw(self, program: &str) -> Result<i32> {
        Ok(match self {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
            Signal::Int => libc::SIGINT,
            Signal::Hup => libc::SIGHUP,
            Signal::Quit => libc::SIGQUIT,
            Signal::Usr1 => libc::SIGUSR1,
            Signal::Usr2 => libc::SIGUSR2,
            Signal::Other(n) if n > 0 && n < 65 => n,
            Signal::Other(n) => {
                return Err(Error::invalid(
                    program,
                    format!("{n} is not a valid signal number"),
                ));
            }
        })
    }

    /// The platform's signal number; an error where it cannot be delivered.
    #[cfg(not(unix))]
    pub(crate) fn to_raw(self, program: &str) -> Result<i32> {
        match self {
            Signal::Kill => Ok(9),
            other => Err(Error::unsupported(
                program,
                &format!("sending {}", other.name()),
                "Windows has no POSIX signals; only Signal::Kill (terminate the job) is deliverable",
            )),
        }
    }
}

/// What a graceful stop sends: the signal, and how long the tree gets
/// before `SIGKILL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StopRequest {
    pub(crate) signal: Signal,
    pub(crate) grace: std::time::Duration,
}

/// The receiving side of a graceful stop, carried by each run's command.
pub(crate) type StopRx = tokio::sync::watch::Receiver<Option<StopRequest>>;

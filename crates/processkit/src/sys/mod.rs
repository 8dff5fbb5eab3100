//! The operating-system layer: the only place with `unsafe`, syscalls or
//! `#[cfg(target_os)]`.
//!
//! Two concepts live here:
//!
//! * [`Container`]: a kill-on-drop home for a process tree. It is created,
//!   children are placed in it *at spawn time* (never moved in afterwards,
//!   which would race with the child's own forks), and it can kill, signal,
//!   freeze, list and measure the whole tree. Backends: Linux cgroup v2
//!   (`linux/cgroup.rs`), Linux child subreaper helpers where no writable
//!   cgroup exists (`linux/subreaper/`), POSIX process groups (`unix/pgroup/`, the Linux
//!   fallback and the macOS/BSD backend; on FreeBSD widened to the host's
//!   reaper subtrees by `freebsd/reaper.rs`), Windows Job Objects
//!   (`windows/job.rs`).
//! * [`Container::spawn`]: starts one child inside the container and returns
//!   its [`Child`] handle, its [`Member`] slot and its stdio pipes. On Linux
//!   the spawner is a vfork-style `clone` that joins the cgroup before
//!   `execve` (`linux/spawn.rs`); elsewhere it is `std::process` with the
//!   platform's spawn attributes (`unix/spawn_std.rs`, `windows/spawn.rs`).
//!
//! Everything above this module sees only these types.

use std::ffi::{OsStr, OsString};
use std::path::Path;

pub(crate) mod error;
pub(crate) mod guarantee;
pub(crate) mod knobs;
pub(crate) mod mechanism;
pub(crate) mod status;
pub(crate) mod trace;

use mechanism::Mechanism;

pub(crate) mod io;
#[cfg(unix)]
pub(crate) mod reaper;

#[cfg(unix)]
pub(crate) mod unix;
#[cfg(unix)]
pub(crate) use unix::guardian::disable as disable_guardian;
#[cfg(unix)]
pub(crate) use unix::guardian::guarantee;
/// No guardian process exists off Unix (a Job Object covers abrupt death):
/// there is nothing to disable.
#[cfg(not(unix))]
pub(crate) fn disable_guardian() -> bool {
    true
}
#[cfg(unix)]
pub(crate) use unix::pty::PtyMaster;
#[cfg(all(unix, feature = "pty"))]
pub(crate) use unix::pty::Special;
#[cfg(unix)]
pub(crate) use unix::{
    Child, Container, Member, OwnedIo, host_mechanism, spawn_detached, spawner_name,
};

#[cfg(target_os = "linux")]
pub(crate) mod linux;

#[cfg(target_os = "freebsd")]
pub(crate) mod freebsd;

#[cfg(windows)]
pub(crate) mod windows;
#[cfg(all(windows, feature = "pty"))]
pub(crate) use windows::Special;
#[cfg(windows)]
pub(crate) use windows::{
    Child, Container, Member, OwnedIo, PtyMaster, guarantee, host_mechanism, spawn_detached,
    spawner_name,
};

/// Where the cgroup in use came from when it is not this process's own
/// cgroup (a systemd-delegated scope); `None` otherwise and off Linux.
pub(crate) fn cgroup_source() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        linux::cgroup::host().ok().and_then(|h| h.source.clone())
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The read side of a child's stdout or stderr pipe.
pub(crate) type ReadPipe = Box<dyn PipeRead>;

/// A child's stdout or stderr as this process reads it.
pub(crate) trait PipeRead: tokio::io::AsyncRead + Send + Unpin {
    /// A blocking copy of this read end, so a detached process's output can
    /// go on being drained on a plain thread when no runtime is left to do
    /// it (the handle dropped outside a runtime, or the runtime shutting
    /// down). `None` where there is no such copy; the read end is then
    /// closed with the handle.
    fn blocking_copy(&self) -> Option<std::fs::File> {
        None
    }
}

impl PipeRead for &'static [u8] {}
impl PipeRead for std::io::Cursor<Vec<u8>> {}
/// The write side of a child's stdin pipe.
pub(crate) type WritePipe = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

/// What one of the child's standard streams is connected to.
pub(crate) enum StdioKind {
    /// `/dev/null` (or `NUL`).
    Null,
    /// The parent's own stream.
    Inherit,
    /// A new pipe whose other end the parent keeps.
    Piped,
    /// An existing file or pipe end, moved into the child.
    Io(OwnedIo),
    /// Stderr only: a duplicate of whatever the child gets as stdout
    /// (`2>&1`). Prepared after stdout.
    Stdout,
}

/// Everything needed to start one child. Borrowed from a [`crate::Command`]
/// and already validated where that is platform-neutral.
pub(crate) struct SpawnRequest<'a> {
    /// The program as the user wrote it (for error messages).
    pub display_name: &'a str,
    pub program: &'a OsStr,
    pub args: &'a [OsString],
    /// The child's complete environment.
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Option<&'a Path>,
    pub stdin: StdioKind,
    pub stdout: StdioKind,
    pub stderr: StdioKind,
    pub setsid: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Windows needs nothing for this: the job dies with its last handle.
    #[cfg_attr(windows, allow(dead_code))]
    pub kill_on_parent_death: bool,
    #[cfg_attr(not(windows), allow(dead_code))]
    pub create_no_window: bool,
    /// Settings of the child itself (Unix; checked off Unix before here).
    #[cfg_attr(windows, allow(dead_code))]
    pub knobs: &'a knobs::SpawnKnobs,
    /// Run on a new pseudo-terminal of `(columns, rows)`: the slave is the
    /// child's fds 0, 1 and 2 and its controlling terminal (the three
    /// `StdioKind`s are ignored). On Windows, a pseudo-console (ConPTY).
    pub pty: Option<(u16, u16)>,
}

/// A freshly spawned child.
pub(crate) struct Spawned {
    pub child: Child,
    pub member: Member,
    pub stdin: Option<WritePipe>,
    pub stdout: Option<ReadPipe>,
    pub stderr: Option<ReadPipe>,
    /// The master of the child's terminal, for a `pty` run.
    pub terminal: Option<PtyMaster>,
}

/// Which mechanism the caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Request {
    /// The strongest one the host offers.
    #[default]
    Best,
    /// Exactly this one (an error if it is not available).
    Exactly(Mechanism),
}

impl Request {
    /// The request, with `PROCESSKIT_MECHANISM` (`process-group`, `cgroup`,
    /// `subreaper`, `reaper`, `job-object`) overriding `Best`.
    pub(crate) fn resolve(self) -> Request {
        match self {
            Request::Best => match std::env::var("PROCESSKIT_MECHANISM").ok().as_deref() {
                Some("process-group") | Some("pgroup") => Request::Exactly(Mechanism::ProcessGroup),
                Some("cgroup") | Some("cgroup-v2") => Request::Exactly(Mechanism::CgroupV2),
                Some("job-object") => Request::Exactly(Mechanism::JobObject),
                Some("subreaper") => Request::Exactly(Mechanism::Subreaper),
                Some("reaper") => Request::Exactly(Mechanism::Reaper),
                _ => Request::Best,
            },
            other => other,
        }
    }
}

/// Raw whole-tree measurements; `None` where the host cannot give a value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[allow(dead_code)]
pub(crate) struct RawStats {
    pub user_cpu: Option<std::time::Duration>,
    pub system_cpu: Option<std::time::Duration>,
    pub memory_current: Option<u64>,
    pub memory_peak: Option<u64>,
    pub processes_current: Option<u64>,
    pub processes_peak: Option<u64>,
}

/// Whole-tree limits to apply when a container is created.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[allow(dead_code)]
pub(crate) struct Limits {
    pub memory_max: Option<u64>,
    pub max_processes: Option<u64>,
    /// A fraction of one core.
    pub cpu_quota: Option<f64>,
}

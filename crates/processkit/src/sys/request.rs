//! What the layers above hand to a container to start one child: the spawn
//! request, the kinds of standard stream, and the mechanism asked for; and
//! what a spawn hands back.
//!
//! A leaf of `sys/`: the spawners, the backends and the façades all use
//! these types, and this file uses none of theirs.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use crate::sys::io::{ReadPipe, WritePipe};
use crate::sys::knobs;
use crate::sys::mechanism::Mechanism;

/// A file descriptor moved into a child as one of its standard streams.
#[cfg(unix)]
pub(crate) type OwnedIo = std::os::fd::OwnedFd;
/// A handle moved into a child as one of its standard streams.
#[cfg(windows)]
pub(crate) type OwnedIo = std::os::windows::io::OwnedHandle;

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

/// A freshly spawned child: `C` is the platform's child handle, `M` its
/// member slot and `T` its terminal master (each façade names its own
/// `Spawned` with its types).
pub(crate) struct Spawned<C, M, T> {
    pub child: C,
    pub member: M,
    pub stdin: Option<WritePipe>,
    pub stdout: Option<ReadPipe>,
    pub stderr: Option<ReadPipe>,
    /// The master of the child's terminal, for a `pty` run.
    pub terminal: Option<T>,
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

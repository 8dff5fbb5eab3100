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
//!   platform's spawn attributes (`unix/spawn_std.rs`, `windows/spawn/`).
//!
//! Everything above this module sees only these types.

pub(crate) mod error;
pub(crate) mod guarantee;
pub(crate) mod knobs;
pub(crate) mod mechanism;
pub(crate) mod status;
pub(crate) mod trace;

pub(crate) mod io;
pub(crate) mod measure;
pub(crate) mod request;

pub(crate) use io::{PipeRead, ReadPipe, WritePipe};
pub(crate) use measure::Limits;
#[cfg(feature = "stats")]
pub(crate) use measure::RawStats;
pub(crate) use request::{OwnedIo, Request, SpawnRequest, StdioKind};
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
    Child, Container, Member, Spawned, host_mechanism, spawn_detached, spawner_name,
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
    Child, Container, Member, PtyMaster, Spawned, guarantee, host_mechanism, spawn_detached,
    spawner_name,
};

/// Where the cgroup in use came from when it is not this process's own
/// cgroup (a systemd-delegated scope); `None` otherwise and off Linux.
pub(crate) fn cgroup_source() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        unix::cgroup_host().ok().and_then(|h| h.source.clone())
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

//! Linux-only pieces: the cgroup v2 backend, the vfork-style spawner and
//! pidfd-tracked children.

pub(crate) mod cgroup;
pub(crate) mod pidfd;
pub(crate) mod spawn;
pub(crate) mod stats;
pub(crate) mod subreaper;

use std::os::fd::AsRawFd;

/// Sends `sig` to `pid` through a freshly opened pidfd, so a pid that exits
/// between listing and signalling is never confused with a recycled one
/// (the open fails instead). Errors are ignored: the target is gone.
pub(crate) fn kill_pid_by_pidfd(pid: u32, sig: i32) {
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
        return;
    };
    let Ok(fd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) else {
        return;
    };
    // SAFETY: valid pidfd borrowed for the call, null siginfo, no flags.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
    }
}

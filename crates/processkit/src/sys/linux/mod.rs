//! Linux-only pieces: the cgroup v2 backend, the vfork-style spawner and
//! pidfd-tracked children.

pub(crate) mod cgroup;
pub(crate) mod pgscan;
pub(crate) mod pidfd;
pub(crate) mod procfs;
pub(crate) mod roots;
pub(crate) mod spawn;
pub(crate) mod stats;
pub(crate) mod subreaper;
#[cfg(feature = "systemd")]
pub(crate) mod systemd;

use std::os::fd::AsRawFd;

/// Sends `sig` through a pidfd. Errors are ignored: the process is gone
/// (a pidfd never names another process).
pub(crate) fn pidfd_send(fd: &std::os::fd::OwnedFd, sig: i32) {
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

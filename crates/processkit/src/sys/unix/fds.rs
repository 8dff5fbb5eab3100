//! File-descriptor helpers for spawning: close-on-exec pipes, and the lock
//! that keeps a half-made pipe out of a child on targets without `pipe2`.
//! A leaf of `sys/unix/`.

use std::io;
use std::os::fd::OwnedFd;

/// A pipe whose both ends are close-on-exec.
pub(crate) fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    #[cfg(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))]
    {
        Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    )))]
    {
        // No pipe2 here: the flag is set right after creation. Our own
        // spawns wait for that (see `fd_creation_pause`); a spawn made
        // elsewhere in the process (std or tokio directly) can still catch
        // the pipe in between, which is the same window std's own pipes have
        // on these targets.
        let _making = FD_CREATION.read().unwrap_or_else(|p| p.into_inner());
        let (r, w) = rustix::pipe::pipe()?;
        for fd in [&r, &w] {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC)?;
        }
        Ok((r, w))
    }
}

/// Held for reading while a pipe exists but is not close-on-exec yet
/// (targets without `pipe2`), and for writing while this crate creates a
/// child there.
#[cfg(not(target_os = "linux"))]
pub(crate) static FD_CREATION: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Keeps new pipes from being half-made while a child is created, so that
/// no child of this crate inherits another spawn's pipe end (which would
/// hold that child's stdin, or its output pipe, open past its exit). On
/// targets with `pipe2` every pipe is close-on-exec from the start and
/// nothing is held.
#[cfg(not(target_os = "linux"))]
pub(crate) fn fd_creation_pause() -> Option<std::sync::RwLockWriteGuard<'static, ()>> {
    let needed = !cfg!(any(
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ));
    needed.then(|| FD_CREATION.write().unwrap_or_else(|p| p.into_inner()))
}

/// Puts the parent's end of a pipe into non-blocking mode (one `ioctl`
/// instead of a `fcntl` read-modify-write pair).
pub(crate) fn set_nonblocking(fd: &OwnedFd) {
    if rustix::io::ioctl_fionbio(fd, true).is_err()
        && let Ok(flags) = rustix::fs::fcntl_getfl(fd)
    {
        let _ = rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK);
    }
}

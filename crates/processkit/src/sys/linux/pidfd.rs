//! A child tracked by its pidfd.
//!
//! A pidfd names one process for as long as the fd is open, even after the
//! process has exited and been reaped, so signalling through it can never hit
//! a recycled pid. Waiting is readiness on the fd (it becomes readable when
//! the process exits), registered with tokio's reactor; reaping is
//! `waitid(P_PIDFD)`.
//!
//! On the process-group backend the direct child is the group leader, and its
//! pid doubles as the group id. Reaping it would free that id for reuse while
//! grandchildren may still be in the group, so such a child is observed with
//! `WNOWAIT` and reaped only by its [`Member`](super::super::unix::Member)
//! after the final `killpg`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::task::{Context, Poll};

use rustix::process::{WaitId, WaitIdOptions, WaitIdStatus, waitid};
use tokio::io::unix::AsyncFd;

use crate::sys::reaper;
use crate::sys::status::ExitStatus;

enum Fd {
    Plain(OwnedFd),
    Registered(AsyncFd<OwnedFd>),
    Gone,
}

/// A direct child on Linux, tracked by pidfd.
pub(crate) struct PidfdChild {
    pid: u32,
    fd: Fd,
    status: Option<ExitStatus>,
    /// `true`: observe the exit with `WNOWAIT` and leave the reaping to the
    /// process-group member.
    defer_reap: bool,
}

fn to_status(s: WaitIdStatus) -> ExitStatus {
    if let Some(code) = s.exit_status() {
        ExitStatus::from_code(code)
    } else if let Some(sig) = s.terminating_signal() {
        ExitStatus::from_signal(sig)
    } else {
        ExitStatus::from_signal(libc::SIGKILL)
    }
}

impl PidfdChild {
    pub(crate) fn new(pid: u32, pidfd: OwnedFd, defer_reap: bool) -> Self {
        PidfdChild {
            pid,
            fd: Fd::Plain(pidfd),
            status: None,
            defer_reap,
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.pid
    }

    fn raw(&self) -> Option<&OwnedFd> {
        match &self.fd {
            Fd::Plain(fd) => Some(fd),
            Fd::Registered(afd) => Some(afd.get_ref()),
            Fd::Gone => None,
        }
    }

    /// Non-blocking status check.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let Some(fd) = self.raw() else {
            return Ok(self.status);
        };
        let mut opts = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
        if self.defer_reap {
            opts |= WaitIdOptions::NOWAIT;
        }
        match waitid(WaitId::PidFd(fd.as_fd()), opts) {
            Ok(Some(s)) => {
                let status = to_status(s);
                self.status = Some(status);
                Ok(Some(status))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Polls for the child's exit. Cancel-safe: all state lives in `self`.
    ///
    /// Once the pidfd is registered with the reactor, `waitid` runs only
    /// when the pidfd reports readiness (the process exited): a poll that
    /// finds the child still running costs no syscall. Callers poll this on
    /// every line of a streamed output, so that matters.
    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        loop {
            if let Some(s) = self.status {
                return Poll::Ready(Ok(s));
            }
            match &self.fd {
                Fd::Plain(_) => {
                    // First poll: the child may have exited already.
                    match self.try_wait() {
                        Ok(Some(s)) => return Poll::Ready(Ok(s)),
                        Ok(None) => {}
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                    let Fd::Plain(fd) = std::mem::replace(&mut self.fd, Fd::Gone) else {
                        unreachable!()
                    };
                    // SAFETY: an OwnedFd stays open and refers to the same pidfd
                    // for as long as the AsyncFd owns it.
                    match unsafe {
                        AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
                    } {
                        Ok(afd) => self.fd = Fd::Registered(afd),
                        Err(e) => return Poll::Ready(Err(e.into())),
                    }
                }
                Fd::Registered(afd) => {
                    let mut guard = match afd.poll_read_ready(cx) {
                        Poll::Ready(Ok(guard)) => guard,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    };
                    let mut opts = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
                    if self.defer_reap {
                        opts |= WaitIdOptions::NOWAIT;
                    }
                    match waitid(WaitId::PidFd(guard.get_inner().as_fd()), opts) {
                        Ok(Some(s)) => {
                            let status = to_status(s);
                            self.status = Some(status);
                            return Poll::Ready(Ok(status));
                        }
                        // Readiness without an exit to collect: wait again.
                        Ok(None) => guard.clear_ready(),
                        Err(e) => return Poll::Ready(Err(e.into())),
                    }
                }
                Fd::Gone => return Poll::Ready(Err(io::Error::other("pidfd closed"))),
            }
        }
    }

    /// Sends `sig` to the direct child only. A child that has already exited
    /// is not an error.
    pub(crate) fn signal(&self, sig: i32) -> io::Result<()> {
        if self.status.is_some() && !self.defer_reap {
            return Ok(());
        }
        let Some(fd) = self.raw() else { return Ok(()) };
        // SAFETY: pidfd_send_signal takes a valid fd (borrowed for the call), a
        // signal number, a null siginfo pointer and zero flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ESRCH) {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

impl Drop for PidfdChild {
    fn drop(&mut self) {
        if self.defer_reap {
            return; // the process-group member reaps the leader
        }
        if self.status.is_some() {
            return;
        }
        let fd = match std::mem::replace(&mut self.fd, Fd::Gone) {
            Fd::Plain(fd) => fd,
            Fd::Registered(afd) => afd.into_inner(),
            Fd::Gone => return,
        };
        // Not reaped yet: let the reaper thread collect it once it exits, so
        // no zombie is left and no tokio worker blocks.
        reaper::submit(reaper::Task::ReapPidfd(fd));
    }
}

//! The host's side of a child: its own (pidfd) or one a helper started.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;

use super::wire;
use crate::sys::linux::pidfd::PidfdChild;
use crate::sys::status::ExitStatus;

/// A direct child on Linux: the host's own (pidfd) or a helper's
/// (the subreaper mechanism).
pub(crate) enum Child {
    Local(PidfdChild),
    Remote(RemoteChild),
}

impl Child {
    pub(crate) fn new(pid: u32, pidfd: OwnedFd, defer_reap: bool) -> Self {
        Child::Local(PidfdChild::new(pid, pidfd, defer_reap))
    }

    pub(crate) fn id(&self) -> u32 {
        match self {
            Child::Local(c) => c.id(),
            Child::Remote(c) => c.pid,
        }
    }

    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        match self {
            Child::Local(c) => c.poll_wait(cx),
            Child::Remote(c) => c.poll_wait(cx),
        }
    }

    pub(crate) fn signal(&self, sig: i32) -> io::Result<()> {
        match self {
            Child::Local(c) => c.signal(sig),
            Child::Remote(c) => c.signal(sig),
        }
    }
}

/// A child whose parent is a helper: signalled through its pidfd, its exit
/// status read from the helper's socket.
pub(crate) struct RemoteChild {
    pub(super) pid: u32,
    pub(super) pidfd: OwnedFd,
    pub(super) chan: Chan,
    pub(super) status: Option<ExitStatus>,
    pub(super) buf: [u8; wire::FRAME],
    pub(super) have: usize,
}

pub(super) enum Chan {
    Plain(Arc<OwnedFd>),
    Registered(AsyncFd<Arc<OwnedFd>>),
    Gone,
}

impl RemoteChild {
    fn sock(&self) -> Option<&OwnedFd> {
        match &self.chan {
            Chan::Plain(fd) => Some(fd),
            Chan::Registered(a) => Some(a.get_ref()),
            Chan::Gone => None,
        }
    }

    /// Reads what the helper sent so far. `Ok(true)` once the status is
    /// known, `Ok(false)` when nothing more is there yet.
    fn read_frames(&mut self) -> io::Result<bool> {
        loop {
            if self.status.is_some() {
                return Ok(true);
            }
            let Some(sock) = self.sock() else {
                return Ok(true);
            };
            let fd = sock.as_raw_fd();
            // SAFETY: reads into the unfilled part of our own buffer from a
            // socket we keep open.
            let n = unsafe {
                libc::recv(
                    fd,
                    self.buf[self.have..].as_mut_ptr().cast(),
                    wire::FRAME - self.have,
                    libc::MSG_DONTWAIT,
                )
            };
            if n == 0 {
                // The helper is gone without reporting: it was killed, and
                // its child died with it (PR_SET_PDEATHSIG).
                self.status = Some(ExitStatus::from_signal(libc::SIGKILL));
                return Ok(true);
            }
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => Ok(false),
                    io::ErrorKind::Interrupted => continue,
                    _ => Err(e),
                };
            }
            self.have += n as usize;
            if self.have == wire::FRAME {
                self.have = 0;
                let (tag, a, _) = wire::parse(&self.buf);
                if tag == wire::EXITED {
                    self.status = Some(ExitStatus::from_wait_status(a));
                }
            }
        }
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        loop {
            if let Some(s) = self.status {
                return Poll::Ready(Ok(s));
            }
            match self.read_frames() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            if let Chan::Plain(_) = self.chan {
                let Chan::Plain(fd) = std::mem::replace(&mut self.chan, Chan::Gone) else {
                    unreachable!()
                };
                // SAFETY: the `Arc<OwnedFd>` keeps the socket open, and
                // referring to the same socket, for as long as the AsyncFd
                // owns it.
                match unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
                {
                    Ok(a) => self.chan = Chan::Registered(a),
                    Err(e) => return Poll::Ready(Err(e.into())),
                }
                continue;
            }
            let Chan::Registered(a) = &self.chan else {
                return Poll::Ready(Err(io::Error::other("helper socket closed")));
            };
            match a.poll_read_ready(cx) {
                Poll::Ready(Ok(mut guard)) => guard.clear_ready(),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn signal(&self, sig: i32) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        // SAFETY: a valid pidfd borrowed for the call, a null siginfo, no
        // flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) {
            Ok(())
        } else {
            Err(e)
        }
    }
}

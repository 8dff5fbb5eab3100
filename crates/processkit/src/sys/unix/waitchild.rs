//! A direct child on Unixes without pidfds (macOS, the BSDs).
//!
//! Waiting is a blocking `waitid` on tokio's blocking pool; with `defer_reap`
//! the exit is observed with `WNOWAIT` so a process-group leader keeps its id
//! until its group is released.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};

use crate::result::ExitStatus;
use crate::sys::reaper;

/// A child tracked by pid.
pub(crate) struct WaitChild {
    pid: u32,
    status: Arc<Mutex<Option<ExitStatus>>>,
    defer_reap: bool,
    waiter: Option<tokio::task::JoinHandle<io::Result<ExitStatus>>>,
}

impl WaitChild {
    pub(crate) fn new(pid: u32, defer_reap: bool) -> Self {
        WaitChild {
            pid,
            status: Arc::new(Mutex::new(None)),
            defer_reap,
            waiter: None,
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.pid
    }

    fn options(&self, block: bool) -> WaitIdOptions {
        let mut o = WaitIdOptions::EXITED;
        if !block {
            o |= WaitIdOptions::NOHANG;
        }
        if self.defer_reap {
            o |= WaitIdOptions::NOWAIT;
        }
        o
    }

    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = *self.status.lock().unwrap_or_else(|p| p.into_inner()) {
            return Ok(Some(s));
        }
        let pid = Pid::from_raw(self.pid as i32).expect("positive pid");
        match waitid(WaitId::Pid(pid), self.options(false))? {
            Some(s) => {
                let st = convert(s);
                *self.status.lock().unwrap_or_else(|p| p.into_inner()) = Some(st);
                Ok(Some(st))
            }
            None => Ok(None),
        }
    }

    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        match self.try_wait() {
            Ok(Some(s)) => return Poll::Ready(Ok(s)),
            Ok(None) => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
        if self.waiter.is_none() {
            let pid = Pid::from_raw(self.pid as i32).expect("positive pid");
            let opts = self.options(true);
            let status = self.status.clone();
            self.waiter = Some(tokio::task::spawn_blocking(
                move || -> io::Result<ExitStatus> {
                    loop {
                        match waitid(WaitId::Pid(pid), opts) {
                            Ok(Some(s)) => {
                                let st = convert(s);
                                *status.lock().unwrap_or_else(|p| p.into_inner()) = Some(st);
                                return Ok(st);
                            }
                            Ok(None) | Err(rustix::io::Errno::INTR) => continue,
                            Err(e) => return Err(e.into()),
                        }
                    }
                },
            ));
        }
        let waiter = self.waiter.as_mut().expect("set above");
        match Pin::new(waiter).poll(cx) {
            Poll::Ready(Ok(r)) => {
                self.waiter = None;
                Poll::Ready(r)
            }
            Poll::Ready(Err(e)) => {
                self.waiter = None;
                Poll::Ready(Err(io::Error::other(e)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    pub(crate) fn signal(&self, sig: i32) -> io::Result<()> {
        if self
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
            && !self.defer_reap
        {
            return Ok(()); // reaped: the pid may have been recycled
        }
        // SAFETY: plain syscall; the pid is our unreaped child.
        if unsafe { libc::kill(self.pid as libc::pid_t, sig) } == 0 {
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

fn convert(s: rustix::process::WaitIdStatus) -> ExitStatus {
    if let Some(code) = s.exit_status() {
        ExitStatus::from_code(code)
    } else {
        ExitStatus::from_signal(s.terminating_signal().unwrap_or(libc::SIGKILL))
    }
}

impl Drop for WaitChild {
    fn drop(&mut self) {
        if self.defer_reap
            || self
                .status
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some()
        {
            return;
        }
        let pid = self.pid as libc::pid_t;
        reaper::submit(reaper::Task::Poll(Box::new(move || {
            let mut st = 0;
            // SAFETY: plain syscall; `st` is a valid out pointer.
            unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) != 0 }
        })));
    }
}

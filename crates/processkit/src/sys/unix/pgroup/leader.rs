//! One tracked group leader: signalling its group only while the group id
//! is provably still its own, and releasing it (see the module docs of
//! `pgroup`).

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};

use crate::sys::reaper;
use crate::sys::unix::registry::GroupRegistry;

/// A tracked group leader (the direct child).
pub(crate) struct Leader {
    pub(super) pid: u32,
    /// `true` when reaping the leader is this module's job; `false` for a
    /// child someone else (tokio) waits for and reaps.
    pub(super) reap: bool,
    /// Set once the group was released (final `killpg` sent, leader handed
    /// to the reaper): no further signal may use this id.
    pub(super) released: AtomicBool,
    pub(super) lock: Mutex<()>,
    /// Where the group was registered (unregistered on release).
    pub(super) registry: GroupRegistry,
    /// A raw leader's pidfd: tells whether its owner has reaped it.
    #[cfg(target_os = "linux")]
    pub(super) pidfd: Option<std::os::fd::OwnedFd>,
    /// FreeBSD's reaper mechanism: signals also reach the leader's whole
    /// reaper subtree, whose id is the leader's pid (held, like the group
    /// id, until the leader is reaped).
    #[cfg(target_os = "freebsd")]
    pub(super) subtree: bool,
}

impl Leader {
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// `killpg(pid, sig)`, unless the group was already released or its
    /// (raw) leader has been reaped by its owner.
    pub(crate) fn signal(&self, sig: i32) -> io::Result<()> {
        let g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.released.load(Ordering::Acquire) {
            return Ok(());
        }
        if !self.id_held() {
            drop(g);
            self.retire();
            return Ok(());
        }
        let r = killpg(self.pid, sig);
        #[cfg(target_os = "freebsd")]
        if self.subtree {
            // After the group: the subtree also holds members that left it.
            crate::sys::freebsd::reaper::kill_subtree(self.pid, sig)?;
        }
        r
    }

    /// Whether a process other than the leader is alive in the leader's
    /// reaper subtree (FreeBSD's reaper mechanism; `false` elsewhere).
    pub(super) fn subtree_alive(&self) -> bool {
        #[cfg(target_os = "freebsd")]
        if self.subtree {
            return crate::sys::freebsd::reaper::subtree_alive(self.pid);
        }
        false
    }

    /// `true` while the group id is provably still this leader's: always
    /// for a leader this module reaps (only `release` reaps it), and for a
    /// raw leader while its owner has not reaped it (alive or a zombie).
    pub(super) fn id_held(&self) -> bool {
        if self.reap {
            return true;
        }
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.pidfd {
            use std::os::fd::AsRawFd;
            // SAFETY: valid pidfd borrowed for the call; signal 0 only
            // checks that the process has not been reaped.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    0,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            return rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        }
        // No pidfd: the leader is our child until it is reaped (a pid that
        // names another child of ours is still one of ours).
        let Some(pid) = Pid::from_raw(self.pid as i32) else {
            return false;
        };
        !matches!(
            waitid(
                WaitId::Pid(pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
            ),
            Err(rustix::io::Errno::CHILD)
        )
    }

    /// `kill(pid, sig)` to the leader alone, unless the group was already
    /// released (after which the leader may have been reaped and its pid
    /// reused).
    #[cfg(any(not(target_os = "linux"), test))]
    pub(crate) fn signal_leader(&self, sig: i32) -> io::Result<()> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.released.load(Ordering::Acquire) || !self.id_held() {
            return Ok(());
        }
        // SAFETY: plain syscall with integer arguments; the leader is not
        // reaped while the group is not released (checked under the lock
        // that `release` takes).
        if unsafe { libc::kill(self.pid as libc::pid_t, sig) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) {
            Ok(())
        } else {
            Err(e)
        }
    }

    /// Final teardown: SIGKILL the group, then reap the leader (on the reaper
    /// thread if it has not exited yet). Idempotent.
    pub(crate) fn release(&self) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        // A leader reaped elsewhere no longer holds its id, which may now
        // lead an unrelated group: only a held id is signalled.
        if self.id_held() {
            let _ = killpg(self.pid, libc::SIGKILL);
            #[cfg(target_os = "freebsd")]
            if self.subtree {
                let _ = crate::sys::freebsd::reaper::kill_subtree(self.pid, libc::SIGKILL);
                reap_adopted_later(self.pid);
            }
        }
        self.forget_then_reap();
    }

    /// Unregisters the group (from the guardian, through the registry the
    /// façade gave), then (for a leader this module reaps) reaps the leader:
    /// in that order, so the guardian never holds an id that is free again.
    /// Never waits; what cannot be done now is finished on the reaper
    /// thread.
    fn forget_then_reap(&self) {
        let (pid, reap) = (self.pid, self.reap);
        let try_unregister = self.registry.try_unregister;
        let mut forgotten = try_unregister(pid);
        if forgotten && !reap {
            return;
        }
        reaper::submit(reaper::Task::Watch(Box::new(move || {
            if !forgotten {
                forgotten = try_unregister(pid);
                if !forgotten {
                    return false;
                }
            }
            !reap || reap_nohang(pid)
        })));
    }

    /// Releases a group that is already over (the leader exited and no live
    /// process is left in it): no signal is needed, only the reaping.
    pub(super) fn retire(&self) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        // Members of the subtree that exited after leaving it are zombies
        // of this process now.
        #[cfg(target_os = "freebsd")]
        if self.subtree {
            reap_adopted_later(self.pid);
        }
        self.forget_then_reap();
    }

    pub(super) fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    /// `true` once the leader has exited (a zombie, or reaped by whoever
    /// owns it). Stop and continue reports are not exits.
    pub(super) fn exited(&self) -> bool {
        let Some(pid) = Pid::from_raw(self.pid as i32) else {
            return true;
        };
        match waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
        ) {
            Ok(Some(s)) => s.exited() || s.killed() || s.dumped(),
            Ok(None) => false,
            Err(rustix::io::Errno::CHILD) => true,
            Err(_) => false,
        }
    }
}

fn killpg(pgid: u32, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    let rc = unsafe { libc::kill(-(pgid as libc::pid_t), sig) };
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

/// FreeBSD's reaper mechanism: the members of a killed subtree that had
/// left it are re-parented to this process; reap them as they exit, on the
/// reaper thread, until none is left (or the reaper thread gives up).
#[cfg(target_os = "freebsd")]
fn reap_adopted_later(root: u32) {
    reaper::submit(reaper::Task::Poll(Box::new(move || {
        !crate::sys::freebsd::reaper::reap_adopted(&[root])
    })));
}

/// `true` once `pid` has been reaped (or is not our child any more).
fn reap_nohang(pid: u32) -> bool {
    let mut status = 0;
    // SAFETY: plain syscall; `status` is a valid out pointer.
    let rc = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
    rc != 0 // pid: reaped; -1: ECHILD (already gone)
}

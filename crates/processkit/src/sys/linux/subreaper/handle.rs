//! The host's handle on one helper process: the tree below it, its stats,
//! and telling it to go.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::tree::Root;
use super::{factory, tree, wire};
use crate::sys::measure::RawStats;
use crate::sys::reaper;

/// One helper: the home of one child's tree.
pub(crate) struct Helper {
    pub(super) pid: u32,
    /// A pidfd on the helper. A helper the host started itself is the
    /// host's child and is reaped through it when the handle goes; one the
    /// factory forked is released to the factory instead.
    pub(super) pidfd: Option<OwnedFd>,
    pub(super) chan: Arc<OwnedFd>,
    pub(super) quit_sent: AtomicBool,
    /// Forked by the helper factory (its child, not the host's).
    pub(super) from_factory: bool,
}

impl Helper {
    /// The top of the helper's tree, with the pidfd that proves its pid.
    pub(super) fn root(&self) -> Root<'_> {
        Root {
            pid: self.pid,
            fd: self.pidfd.as_ref().map(|f| f.as_fd()),
        }
    }

    /// Hard-kills the helper's tree (the helper stays, and reaps it).
    pub(crate) fn kill_tree(&self) {
        tree::kill(self.root());
    }

    /// Sends `sig` to every process of the tree. SIGKILL takes the
    /// stop-then-kill path, SIGSTOP the stop-until-stable one.
    pub(crate) fn signal_tree(&self, sig: i32) {
        match sig {
            libc::SIGKILL => tree::kill(self.root()),
            libc::SIGSTOP => tree::suspend(self.root()),
            _ => tree::signal(self.root(), sig),
        }
    }

    /// Live processes of the tree.
    pub(crate) fn members(&self) -> Vec<u32> {
        tree::live(self.root())
    }

    /// Asks the helper to kill its tree and leave. Never blocks.
    pub(super) fn quit(&self) {
        if self.quit_sent.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: a one-byte send from a static buffer on our own socket.
        unsafe {
            libc::send(
                self.chan.as_raw_fd(),
                [wire::QUIT].as_ptr().cast(),
                1,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            );
        }
    }

    /// SIGKILLs the helper itself (through its pidfd).
    pub(super) fn kill(&self) {
        if let Some(fd) = self.pidfd.as_ref() {
            // SAFETY: a valid pidfd borrowed for the call, a null siginfo,
            // no flags.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                );
            }
        }
    }

    /// `true` once the helper process has exited.
    pub(super) fn exited(&self) -> bool {
        let Some(fd) = self.pidfd.as_ref() else {
            return true;
        };
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    /// Whole-tree measurements from `/proc`.
    pub(crate) fn stats(&self) -> RawStats {
        let pids = tree::checked_descendants(self.root());
        let mut live = Vec::new();
        let (mut user, mut system) = (0u64, 0u64);
        // The helper's own "waited-for children" times hold every
        // descendant already reaped (each reaped by its parent, and so on).
        if let Some(t) = cpu_ticks(self.pid, true) {
            user += t.0;
            system += t.1;
        }
        for pid in pids {
            if let Some(t) = cpu_ticks(pid, false) {
                user += t.0;
                system += t.1;
            }
            if matches!(tree::stat(pid), Some((s, _, _)) if s != b'Z' && s != b'X') {
                live.push(pid);
            }
        }
        // SAFETY: sysconf has no preconditions.
        let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
            n if n > 0 => n as u64,
            _ => 100,
        };
        let dur = |t: u64| Duration::from_micros(t.saturating_mul(1_000_000) / hz);
        RawStats {
            user_cpu: Some(dur(user)),
            system_cpu: Some(dur(system)),
            memory_current: crate::sys::linux::stats::rss_sum(&live),
            memory_peak: None,
            processes_current: Some(live.len() as u64),
            processes_peak: None,
        }
    }
}

/// (user, system) clock ticks of `pid` from `/proc/<pid>/stat`: with
/// `children_only`, only its reaped children's; otherwise its own plus its
/// reaped children's.
fn cpu_ticks(pid: u32, children_only: bool) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<u64> = rest
        .split_ascii_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let [ut, st, cut, cst] = f[..] else {
        return None;
    };
    if children_only {
        Some((cut, cst))
    } else {
        Some((ut + cut, st + cst))
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.quit();
        if self.from_factory {
            // The factory reaps it once it has exited; until now it was
            // kept unreaped, so its pid could not be reused.
            drop(self.pidfd.take());
            factory::release(self.pid);
        } else if let Some(fd) = self.pidfd.take() {
            reaper::submit(reaper::Task::ReapPidfd(fd));
        }
    }
}

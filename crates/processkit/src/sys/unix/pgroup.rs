//! The POSIX process-group backend: the Linux fallback, and the main backend
//! on macOS and the BSDs.
//!
//! Each child becomes the leader of a new process group (or a new session
//! with `setsid`), and teardown is `killpg` on every tracked group.
//!
//! # Known weaknesses (reported through `Mechanism::ProcessGroup`)
//!
//! * A descendant that calls `setsid` (or `setpgid`) leaves the group and
//!   survives `killpg`. Only a cgroup or a Job Object catches it.
//! * `members()` lists the tracked group leaders, not the whole tree.
//!
//! # No recycled group ids
//!
//! A process group id is the leader's pid. The kernel never hands out a pid
//! that is still in use as a process group id, and a leader that has exited
//! but not been reaped (a zombie) keeps its pid. So the leader is *observed*
//! with `WNOWAIT` and only reaped after the last `killpg` for its group: a
//! `killpg` can never reach an unrelated group that reused the id.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::sys::reaper;
use crate::sys::unix::guardian;

/// A tracked group leader (the direct child).
pub(crate) struct Leader {
    pid: u32,
    /// Set once the final `killpg` was sent and the leader handed to the
    /// reaper: no further signal may use this id.
    released: AtomicBool,
    lock: Mutex<()>,
}

impl Leader {
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// `killpg(pid, sig)`, unless the group was already released.
    pub(crate) fn signal(&self, sig: i32) -> io::Result<()> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.released.load(Ordering::Acquire) {
            return Ok(());
        }
        killpg(self.pid, sig)
    }

    /// Final teardown: SIGKILL the group, then reap the leader (on the reaper
    /// thread if it has not exited yet). Idempotent.
    pub(crate) fn release(&self) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = killpg(self.pid, libc::SIGKILL);
        guardian::unregister_pgroup(self.pid);
        let pid = self.pid;
        reaper::submit(reaper::Task::Poll(Box::new(move || reap_nohang(pid))));
    }

    fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
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

/// `true` once `pid` has been reaped (or is not our child any more).
fn reap_nohang(pid: u32) -> bool {
    let mut status = 0;
    // SAFETY: plain syscall; `status` is a valid out pointer.
    let rc = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
    rc != 0 // pid: reaped; -1: ECHILD (already gone)
}

/// The set of groups a container tracks.
pub(crate) struct PgContainer {
    leaders: Mutex<Vec<Arc<Leader>>>,
    #[allow(dead_code)]
    one_shot: bool,
}

impl PgContainer {
    pub(crate) fn new(one_shot: bool) -> Self {
        PgContainer {
            leaders: Mutex::new(Vec::new()),
            one_shot,
        }
    }

    /// Starts tracking a freshly spawned leader.
    pub(crate) fn track(&self, pid: u32) -> Arc<Leader> {
        guardian::register_pgroup(pid);
        let leader = Arc::new(Leader {
            pid,
            released: AtomicBool::new(false),
            lock: Mutex::new(()),
        });
        let mut leaders = self.leaders.lock().unwrap_or_else(|p| p.into_inner());
        leaders.retain(|l| !l.is_released());
        leaders.push(leader.clone());
        leader
    }

    /// Tracks a leader that someone else (tokio) reaps: it is signalled but
    /// never reaped here.
    pub(crate) fn track_raw(&self, pid: u32) {
        let leader = self.track(pid);
        // Mark as "reaped elsewhere" by releasing the reap duty: signalling
        // stays possible until the group is torn down.
        drop(leader);
    }

    pub(crate) fn signal_all(&self, sig: i32) -> io::Result<()> {
        let leaders = self
            .leaders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut first_err = None;
        for l in leaders {
            if let Err(e) = l.signal(sig) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Leaders whose group still has a live process (the leader itself or,
    /// for a zombie leader, any other member).
    pub(crate) fn live_leaders(&self) -> Vec<u32> {
        let leaders = self
            .leaders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        leaders
            .iter()
            .filter(|l| !l.is_released() && group_alive(l.pid))
            .map(|l| l.pid)
            .collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.live_leaders().is_empty()
    }

    /// Kills and releases every group.
    pub(crate) fn teardown(&self) {
        let leaders = std::mem::take(&mut *self.leaders.lock().unwrap_or_else(|p| p.into_inner()));
        for l in leaders {
            l.release();
        }
    }
}

/// Whether any non-zombie process is in group `pgid`.
fn group_alive(pgid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        // A zombie leader still counts for kill(0); look at /proc instead.
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let name = e.file_name();
                let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                let Some(close) = stat.rfind(')') else {
                    continue;
                };
                let mut fields = stat[close + 2..].split_whitespace();
                let state = fields.next();
                let _ppid = fields.next();
                let pg = fields.next().and_then(|s| s.parse::<u32>().ok());
                if pg == Some(pgid) && state != Some("Z") && state != Some("X") {
                    return true;
                }
            }
        }
        false
    }
    #[cfg(not(target_os = "linux"))]
    {
        killpg(pgid, 0).is_ok() && {
            // SAFETY: plain syscall with integer arguments.
            unsafe { libc::kill(-(pgid as libc::pid_t), 0) == 0 }
        }
    }
}

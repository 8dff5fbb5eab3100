//! The set of groups a container tracks.

use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

#[cfg(target_os = "linux")]
use rustix::process::Pid;

use super::leader::Leader;
use super::live::group_alive;
#[cfg(target_os = "linux")]
use super::live::live_pgids;
use crate::sys::reaper;
use crate::sys::unix::guardian;

/// The set of groups a container tracks.
pub(crate) struct PgContainer {
    leaders: Mutex<Vec<Arc<Leader>>>,
    /// FreeBSD's reaper mechanism (see `sys/freebsd/reaper.rs`).
    #[cfg(target_os = "freebsd")]
    subtree: bool,
}

impl PgContainer {
    pub(crate) fn new() -> Self {
        PgContainer {
            leaders: Mutex::new(Vec::new()),
            #[cfg(target_os = "freebsd")]
            subtree: false,
        }
    }

    /// FreeBSD: process groups whose signals also reach each leader's
    /// reaper subtree. This process must already be a reaper.
    #[cfg(target_os = "freebsd")]
    pub(crate) fn with_reaper() -> Self {
        PgContainer {
            leaders: Mutex::new(Vec::new()),
            subtree: true,
        }
    }

    /// The mechanism these groups give.
    pub(crate) fn mechanism(&self) -> crate::Mechanism {
        #[cfg(target_os = "freebsd")]
        if self.subtree {
            return crate::Mechanism::Reaper;
        }
        crate::Mechanism::ProcessGroup
    }

    /// Live pids: every process in the leaders' reaper subtrees on
    /// FreeBSD's reaper mechanism, the live group leaders otherwise.
    pub(crate) fn members(&self) -> Vec<u32> {
        #[cfg(target_os = "freebsd")]
        if self.subtree {
            let leaders: Vec<u32> = self
                .leaders
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|l| !l.is_released() && l.id_held())
                .map(|l| l.pid)
                .collect();
            if let Ok(pids) = crate::sys::freebsd::reaper::live_in(&leaders) {
                return pids;
            }
        }
        self.live_leaders()
    }

    /// Starts tracking a freshly spawned leader.
    pub(crate) fn track(&self, pid: u32) -> Arc<Leader> {
        self.track_leader(pid, true)
    }

    /// Tracks a leader that someone else (tokio) reaps: it is signalled
    /// only while it has not been reaped, and never reaped here. Call it
    /// before the owner can have reaped the child (right after the spawn).
    pub(crate) fn track_raw(&self, pid: u32) {
        let leader = self.track_leader(pid, false);
        // Forget the group once the owner has reaped its leader, so neither
        // this container nor the guardian signals a reused id.
        let weak = Arc::downgrade(&leader);
        drop(leader);
        reaper::submit(reaper::Task::Watch(Box::new(move || {
            let Some(l) = weak.upgrade() else { return true };
            if l.is_released() {
                return true;
            }
            if l.id_held() {
                return false;
            }
            l.retire();
            true
        })));
    }

    fn track_leader(&self, pid: u32, reap: bool) -> Arc<Leader> {
        guardian::register_pgroup(pid);
        #[cfg(target_os = "linux")]
        let pidfd = if reap {
            None
        } else {
            Pid::from_raw(pid as i32).and_then(|p| {
                rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok()
            })
        };
        let leader = Arc::new(Leader {
            pid,
            reap,
            released: AtomicBool::new(false),
            lock: Mutex::new(()),
            #[cfg(target_os = "linux")]
            pidfd,
            #[cfg(target_os = "freebsd")]
            subtree: self.subtree,
        });
        let mut leaders = self.leaders.lock().unwrap_or_else(|p| p.into_inner());
        sweep(&mut leaders);
        leaders.push(leader.clone());
        leader
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
        if leaders.iter().all(|l| l.is_released()) {
            // Nothing to look for: no pass over /proc.
            return Vec::new();
        }
        #[cfg(target_os = "linux")]
        {
            // One pass over /proc for all leaders, not one per leader.
            let wanted: Vec<u32> = leaders
                .iter()
                .filter(|l| !l.is_released())
                .map(|l| l.pid)
                .collect();
            let live = live_pgids(&wanted);
            leaders
                .iter()
                .filter(|l| !l.is_released() && live.contains(&l.pid) && l.id_held())
                .map(|l| l.pid)
                .collect()
        }
        #[cfg(not(target_os = "linux"))]
        {
            leaders
                .iter()
                .filter(|l| !l.is_released() && group_alive(l.pid) && l.id_held())
                .map(|l| l.pid)
                .collect()
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.members().is_empty()
    }

    /// Kills and releases every group.
    pub(crate) fn teardown(&self) {
        let leaders = std::mem::take(&mut *self.leaders.lock().unwrap_or_else(|p| p.into_inner()));
        for l in leaders {
            l.release();
        }
    }
}

/// Drops released leaders from the list and retires finished groups that
/// nobody watches any more: a leader whose handle is gone (the list holds
/// the only reference), that has exited, and whose group has no live
/// process left. Its zombie is reaped now instead of when the container is
/// dropped, so a long-lived group that keeps starting children does not
/// pile up zombies. A leader with a handle is left alone: the handle may
/// still want to observe its exit.
fn sweep(leaders: &mut Vec<Arc<Leader>>) {
    leaders.retain(|l| {
        if l.is_released() {
            return false;
        }
        if !l.id_held() {
            // A raw leader its owner has reaped: the id is no longer ours.
            l.retire();
            return false;
        }
        if Arc::strong_count(l) > 1 || !l.exited() || group_alive(l.pid) || l.subtree_alive() {
            return true;
        }
        l.retire();
        false
    });
}

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
//!
//! A group is released (SIGKILL, then the leader reaped) when its container
//! is dropped. A long-lived container does not wait that long for groups
//! that are over: when a new child is tracked, a leader that has exited,
//! whose handle is gone and whose group has no live process left is reaped
//! then, so a group that keeps starting children does not collect zombies.
//!
//! A leader spawned through the raw escape hatch is reaped by its owner
//! (tokio), never here; once it is reaped its id is free and may lead an
//! unrelated group at any moment. So such a leader is held by a pidfd on
//! Linux (elsewhere, probed with `waitid(WNOWAIT)`), its group is signalled
//! only while the leader is known not to have been reaped, and once it has
//! been, the group is dropped and unregistered from the guardian (a watch on
//! the reaper thread notices it). The guardian itself also gets the leader's
//! start time and refuses a group whose id now names a process with another
//! start time.
//!
//! # Telling a live group from a zombie leader
//!
//! `kill(-pgid, 0)` succeeds while the zombie leader exists, so liveness
//! comes from listing the group: `/proc` on Linux, `proc_listpgrppids` and
//! `proc_pidinfo` on macOS, the `kern.proc.pgrp` sysctl on FreeBSD. Other
//! systems fall back to `kill(-pgid, 0)`, where a finished group may look
//! alive until it is released.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};

use crate::sys::reaper;
use crate::sys::unix::guardian;

/// A tracked group leader (the direct child).
pub(crate) struct Leader {
    pid: u32,
    /// `true` when reaping the leader is this module's job; `false` for a
    /// child someone else (tokio) waits for and reaps.
    reap: bool,
    /// Set once the group was released (final `killpg` sent, leader handed
    /// to the reaper): no further signal may use this id.
    released: AtomicBool,
    lock: Mutex<()>,
    /// A raw leader's pidfd: tells whether its owner has reaped it.
    #[cfg(target_os = "linux")]
    pidfd: Option<std::os::fd::OwnedFd>,
    /// FreeBSD's reaper mechanism: signals also reach the leader's whole
    /// reaper subtree, whose id is the leader's pid (held, like the group
    /// id, until the leader is reaped).
    #[cfg(target_os = "freebsd")]
    subtree: bool,
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
    fn subtree_alive(&self) -> bool {
        #[cfg(target_os = "freebsd")]
        if self.subtree {
            return crate::sys::freebsd::reaper::subtree_alive(self.pid);
        }
        false
    }

    /// `true` while the group id is provably still this leader's: always
    /// for a leader this module reaps (only `release` reaps it), and for a
    /// raw leader while its owner has not reaped it (alive or a zombie).
    fn id_held(&self) -> bool {
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

    /// Unregisters the group from the guardian, then (for a leader this
    /// module reaps) reaps the leader: in that order, so the guardian never
    /// holds an id that is free again. Never waits; what cannot be done now
    /// is finished on the reaper thread.
    fn forget_then_reap(&self) {
        let (pid, reap) = (self.pid, self.reap);
        let mut forgotten = guardian::try_unregister_pgroup(pid);
        if forgotten && !reap {
            return;
        }
        reaper::submit(reaper::Task::Watch(Box::new(move || {
            if !forgotten {
                forgotten = guardian::try_unregister_pgroup(pid);
                if !forgotten {
                    return false;
                }
            }
            !reap || reap_nohang(pid)
        })));
    }

    /// Releases a group that is already over (the leader exited and no live
    /// process is left in it): no signal is needed, only the reaping.
    fn retire(&self) {
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

    fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    /// `true` once the leader has exited (a zombie, or reaped by whoever
    /// owns it). Stop and continue reports are not exits.
    fn exited(&self) -> bool {
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
            let live = crate::sys::linux::pgscan::live_pgids(&wanted);
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

/// Whether any non-zombie process is in group `pgid`.
///
/// A zombie leader (kept on purpose, see the module docs) does not count:
/// otherwise a group whose every process has exited would look alive until
/// the container is dropped, and a graceful shutdown would wait out its
/// whole grace period for nothing.
pub(crate) fn group_alive(pgid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        // No process at all in the group: cheap to rule out. A zombie leader
        // still counts for kill(0), so a "yes" needs a look at /proc.
        if !kill_probe(pgid) {
            return false;
        }
        crate::sys::linux::pgscan::live_pgids(&[pgid]).contains(&pgid)
    }
    #[cfg(any(target_os = "macos", target_os = "freebsd"))]
    {
        live_member(pgid).unwrap_or_else(|| kill_probe(pgid))
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "freebsd")))]
    {
        kill_probe(pgid)
    }
}

/// `kill(-pgid, 0)`: whether the group has any process at all. Most kernels
/// count a zombie leader here, so this is only the fallback where the group
/// cannot be listed. `EPERM` means a member exists that may not be
/// signalled (it changed its user id): it is alive.
fn kill_probe(pgid: u32) -> bool {
    // SAFETY: plain syscall with integer arguments; signal 0 only checks.
    if unsafe { libc::kill(-(pgid as libc::pid_t), 0) } == 0 {
        return true;
    }
    io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// macOS: lists the group with `proc_listpgrppids` and asks each member's
/// state with `proc_pidinfo`. `None` when the group cannot be listed.
#[cfg(target_os = "macos")]
fn live_member(pgid: u32) -> Option<bool> {
    let mut cap = 64usize;
    loop {
        let mut pids: Vec<libc::pid_t> = vec![0; cap];
        let bytes = libc::c_int::try_from(cap * std::mem::size_of::<libc::pid_t>()).ok()?;
        // SAFETY: `__error` returns this thread's errno slot; clearing it
        // tells an empty group (0, errno 0) from a failure (0, errno set).
        unsafe { *libc::__error() = 0 };
        // SAFETY: the buffer holds `cap` pids, exactly `bytes` long, and
        // lives across the call.
        let n = unsafe {
            libc::proc_listpgrppids(pgid as libc::pid_t, pids.as_mut_ptr().cast(), bytes)
        };
        if n < 0 || (n == 0 && io::Error::last_os_error().raw_os_error().unwrap_or(0) != 0) {
            return None;
        }
        let n = n as usize;
        if n >= cap {
            // Possibly cut short: ask again with room to spare.
            cap = cap.checked_mul(4).filter(|&c| c <= 1 << 20)?;
            continue;
        }
        return Some(
            pids[..n]
                .iter()
                .any(|&pid| pid > 0 && live_in_group(pid, pgid)),
        );
    }
}

/// macOS: `true` unless `pid` is a zombie, gone, or now in another group.
/// A process this user may not inspect exists: it counts as live.
#[cfg(target_os = "macos")]
fn live_in_group(pid: libc::pid_t, pgid: u32) -> bool {
    // SAFETY: `proc_bsdinfo` is plain C data; all zeroes is a valid value.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
    // SAFETY: `info` is a live, writable `proc_bsdinfo` of `size` bytes.
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            (&mut info as *mut libc::proc_bsdinfo).cast(),
            size,
        )
    };
    if n == size {
        return info.pbi_status != libc::SZOMB && info.pbi_pgid == pgid;
    }
    io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// FreeBSD: `kern.proc.pgrp.<pgid>` lists the group's processes, zombies
/// with `ki_stat == SZOMB`. `None` when the group cannot be listed.
#[cfg(target_os = "freebsd")]
fn live_member(pgid: u32) -> Option<bool> {
    let mib = [
        libc::CTL_KERN,
        libc::KERN_PROC,
        libc::KERN_PROC_PGRP,
        pgid as libc::c_int,
    ];
    let stride = std::mem::size_of::<libc::kinfo_proc>();
    let mut want = 8usize;
    loop {
        let mut buf: Vec<libc::kinfo_proc> = Vec::with_capacity(want);
        let mut bytes = want * stride;
        // SAFETY: `buf` has room for `want` entries, `bytes` long; the kernel
        // writes at most `bytes` and reports how many it wrote.
        let rc = unsafe {
            libc::sysctl(
                mib.as_ptr(),
                mib.len() as libc::c_uint,
                buf.as_mut_ptr().cast(),
                &mut bytes,
                std::ptr::null(),
                0,
            )
        };
        if rc != 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::ENOMEM) {
                want = want.checked_mul(4).filter(|&w| w <= 1 << 16)?;
                continue;
            }
            return None;
        }
        let n = (bytes / stride).min(want);
        // SAFETY: the kernel wrote `bytes` bytes, which cover the first `n`
        // entries; `kinfo_proc` is plain C data.
        unsafe { buf.set_len(n) };
        if buf
            .first()
            .is_some_and(|k| k.ki_structsize as usize != stride)
        {
            return None; // another kernel ABI: do not guess at the layout
        }
        return Some(
            buf.iter()
                .any(|k| k.ki_stat != libc::SZOMB && k.ki_pgid == pgid as libc::pid_t),
        );
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    //! Reaping and signalling rules, checked against real children.

    use super::*;
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};

    fn spawn(script: &str) -> u32 {
        std::process::Command::new("sh")
            .args(["-c", script])
            .process_group(0)
            .spawn()
            .expect("spawn sh")
            .id() // std's handle neither waits nor kills on drop
    }

    /// `Some(true)`: exited, not reaped; `Some(false)`: running; `None`:
    /// reaped (not our child any more).
    fn zombie(pid: u32) -> Option<bool> {
        let pid = Pid::from_raw(pid as i32).unwrap();
        match waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
        ) {
            Ok(s) => Some(s.is_some()),
            Err(_) => None,
        }
    }

    fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn gone_or_zombie(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat
                .rfind(')')
                .is_some_and(|i| stat[i + 2..].starts_with('Z')),
            Err(_) => true,
        }
    }

    #[test]
    fn a_raw_leader_is_left_for_its_owner_to_reap() {
        let mut owner = std::process::Command::new("sh")
            .args(["-c", "exit 5"])
            .process_group(0)
            .spawn()
            .expect("spawn sh");
        let pid = owner.id();
        until("the raw child exited", || zombie(pid) == Some(true));
        let pg = PgContainer::new();
        pg.track_raw(pid);
        pg.teardown();
        let status = owner.wait().expect("the owner can still reap its child");
        assert_eq!(status.code(), Some(5));
    }

    #[test]
    fn a_finished_leader_nobody_watches_is_reaped_when_the_next_child_starts() {
        let pg = PgContainer::new();
        let first = spawn("exit 0");
        drop(pg.track(first));
        until("the first child exited", || zombie(first) == Some(true));
        let second = spawn("exec sleep 30");
        let _second = pg.track(second);
        until("the first leader was reaped", || zombie(first).is_none());
        assert_eq!(pg.live_leaders(), vec![second]);
        pg.teardown();
        until("the second leader was reaped", || zombie(second).is_none());
    }

    #[test]
    fn a_finished_leader_is_kept_while_its_handle_lives() {
        let pg = PgContainer::new();
        let first = spawn("exit 0");
        let handle = pg.track(first);
        until("the first child exited", || zombie(first) == Some(true));
        drop(pg.track(spawn("exit 0")));
        assert_eq!(zombie(first), Some(true), "a watched leader was reaped");
        drop(handle);
        drop(pg.track(spawn("exit 0")));
        until("the first leader was reaped", || zombie(first).is_none());
        pg.teardown();
    }

    #[test]
    // The container reaps the leader; that is what this test checks.
    #[allow(clippy::zombie_processes)]
    fn a_finished_leader_whose_group_lives_on_keeps_its_id_until_teardown() {
        let pg = PgContainer::new();
        let mut sh = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & echo $!; exit 0"])
            .stdout(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("spawn sh");
        let leader = sh.id();
        let mut line = String::new();
        std::io::BufReader::new(sh.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let grandchild: u32 = line.trim().parse().expect("a pid");
        drop(pg.track(leader));
        until("the leader exited", || zombie(leader) == Some(true));
        drop(pg.track(spawn("exit 0")));
        assert_eq!(
            zombie(leader),
            Some(true),
            "a leader whose group still runs must keep its id"
        );
        assert!(pg.live_leaders().contains(&leader));
        pg.teardown();
        until("the grandchild died", || gone_or_zombie(grandchild));
        until("the leader was reaped", || zombie(leader).is_none());
    }

    #[test]
    fn a_released_leader_is_never_signalled_again() {
        let pg = PgContainer::new();
        let pid = spawn("exec sleep 30");
        let leader = pg.track(pid);
        leader.released.store(true, Ordering::Release);
        until("the group was unregistered", || {
            guardian::try_unregister_pgroup(pid)
        });
        leader.signal_leader(libc::SIGTERM).unwrap();
        leader.signal(libc::SIGTERM).unwrap();
        // A fatal signal is decided when it is sent: had SIGTERM gone out,
        // the child would die of it rather than of this SIGKILL.
        // SAFETY: plain syscalls on our own, unreaped child.
        let raw = unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
            let mut raw = 0;
            libc::waitpid(pid as libc::pid_t, &mut raw, 0);
            raw
        };
        assert!(libc::WIFSIGNALED(raw));
        assert_eq!(libc::WTERMSIG(raw), libc::SIGKILL);
    }

    /// Teardown runs in `Drop`: it never waits for the guardian's registry
    /// (held, for example, while a delivery waits for room in the socket).
    #[test]
    fn teardown_never_waits_for_the_guardian_registry() {
        let pg = PgContainer::new();
        let pid = spawn("exec sleep 30");
        drop(pg.track(pid));
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let held = guardian::hold_registry();
            held_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_secs(1));
            drop(held);
        });
        held_rx.recv().unwrap();
        let start = Instant::now();
        pg.teardown();
        let took = start.elapsed();
        holder.join().unwrap();
        assert!(
            took < Duration::from_millis(200),
            "teardown waited {took:?} for the guardian registry"
        );
        until("the leader was reaped", || zombie(pid).is_none());
    }
}

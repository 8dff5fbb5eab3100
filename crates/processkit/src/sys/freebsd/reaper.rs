//! FreeBSD's process reaper (`procctl(2)`), behind the process-group
//! backend: [`Mechanism::Reaper`](crate::Mechanism::Reaper).
//!
//! **Untested.** No FreeBSD lane exists in this project's CI: this code is
//! type-checked for `x86_64-unknown-freebsd` (`cargo xtask cross-check`)
//! and has never run. Force the plain process-group backend with
//! `PROCESSKIT_MECHANISM=process-group` if it misbehaves.
//!
//! # What it adds
//!
//! A process that called `procctl(P_PID, getpid(), PROC_REAP_ACQUIRE)` is a
//! *reaper*: every descendant that loses its parent is re-parented to it
//! instead of to `init`, and the kernel keeps, for each descendant, the pid
//! of the reaper's direct child it descends from (its *subtree*). That
//! record survives `setsid`, `setpgid` and double forks. So, on top of the
//! process-group backend (each child still leads its own group):
//!
//! * every signal to a member (kill, terminate, `shutdown`, `signal`,
//!   suspend and resume) also goes to its whole subtree with
//!   `PROC_REAP_KILL` and `REAPER_KILL_SUBTREE`, so a descendant in another
//!   session is reached too;
//! * `members()` and `is_empty()` list the subtrees (`PROC_REAP_GETPIDS`),
//!   not only the group leaders;
//! * a finished member's leader is not reaped while its subtree still has a
//!   process, so the subtree id (the leader's pid) cannot be reused while it
//!   is in use, the same rule the process-group backend keeps for group ids.
//!
//! # The trade-off: the host process is the reaper
//!
//! Reaper status is a property of a process, and a reaper collects the
//! orphans of *all* its descendants. The alternative is a small helper per
//! container that becomes the reaper and the parent of the real child, as
//! the Linux subreaper mechanism does (`sys/linux/subreaper/`): no
//! process-wide effect, at the price of a helper protocol (spawning through
//! it, relaying the exit status, tearing down, noticing the host's death).
//! Without a FreeBSD machine to run it on, that protocol could not be
//! tested at all, so this backend takes the smaller step and makes the host
//! process the reaper, once, when the first container of this mechanism is
//! created. What that means for the program:
//!
//! * Orphans of every child of the program, including children started
//!   with `std::process` or `tokio::process`, re-parent to the program
//!   instead of to `init`. When they exit they are zombies of the program
//!   until processkit reaps them: it does so after every container's
//!   teardown, and only for *adopted* processes (a direct child whose
//!   subtree is not its own pid, which no `std` or `tokio` handle waits
//!   for). It never calls `waitpid(-1)`, so it never takes the exit status
//!   of a child that the program started itself.
//! * The status is never released: releasing it would send the adopted
//!   processes on to `init`, out of reach.
//! * If the program is killed outright, its reaper status dies with it: the
//!   guardian still kills the registered process groups, but a member that
//!   left its group is then re-parented to the next reaper up (usually
//!   `init`) and survives, as on the plain process-group backend.

use std::collections::HashSet;
use std::io;
use std::sync::OnceLock;

use rustix::process::{
    Pid, PidInfoFlags, Signal, WaitOptions, get_reaper_pids, get_reaper_status, reaper_kill,
    set_reaper_status,
};

/// Whether this process can be a reaper (`procctl` answers), without
/// acquiring anything.
pub(crate) fn available() -> Result<(), String> {
    get_reaper_status(None)
        .map(|_| ())
        .map_err(|e| format!("procctl(PROC_REAP_STATUS) failed: {e}"))
}

/// Makes this process a reaper, once. `EBUSY` (already a reaper, for
/// example by the program's own choice) counts as success.
pub(crate) fn acquire() -> Result<(), String> {
    static ACQUIRED: OnceLock<Result<(), String>> = OnceLock::new();
    ACQUIRED
        .get_or_init(|| match set_reaper_status(true) {
            Ok(()) | Err(rustix::io::Errno::BUSY) => Ok(()),
            Err(e) => Err(format!("procctl(PROC_REAP_ACQUIRE) failed: {e}")),
        })
        .clone()
}

/// Sends `sig` to every process in the subtree of this process's direct
/// child `root` (the root included).
///
/// The caller guarantees that `root` still names that child: it has not
/// been reaped (see the module docs), so its pid cannot be reused.
pub(crate) fn kill_subtree(root: u32, sig: i32) -> io::Result<()> {
    let Some(root) = Pid::from_raw(root as i32) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{root} is not a process id"),
        ));
    };
    if sig <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{sig} is not a signal number"),
        ));
    }
    let sig = match Signal::from_named_raw(sig) {
        Some(s) => s,
        // SAFETY: a positive signal number (checked above) that the caller
        // validated; FreeBSD's libc reserves no signal numbers for itself
        // (unlike glibc's first real-time signals), and the value is only
        // handed to the kernel.
        None => unsafe { Signal::from_raw_unchecked(sig) },
    };
    match reaper_kill(None, sig, false, Some(root)) {
        Ok(_) => Ok(()),
        // Nothing left in the subtree.
        Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The live (non-zombie) pids in the subtrees of `roots`.
pub(crate) fn live_in(roots: &[u32]) -> io::Result<Vec<u32>> {
    if roots.is_empty() {
        return Ok(Vec::new());
    }
    let roots: HashSet<u32> = roots.iter().copied().collect();
    let mut pids: Vec<u32> = get_reaper_pids(None)?
        .into_iter()
        .filter(|p| !p.flags.contains(PidInfoFlags::ZOMBIE))
        .filter(|p| roots.contains(&(p.subtree.as_raw_nonzero().get() as u32)))
        .map(|p| p.pid.as_raw_nonzero().get() as u32)
        .collect();
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// Whether any process other than `root` itself (which may be a zombie
/// kept on purpose) is alive in the subtree of `root`.
pub(crate) fn subtree_alive(root: u32) -> bool {
    match live_in(&[root]) {
        Ok(pids) => pids.iter().any(|&p| p != root),
        // Cannot tell: assume alive, so the subtree id is kept.
        Err(_) => true,
    }
}

/// Reaps every adopted orphan that has exited, and tells whether any
/// adopted process is still alive in the subtrees of `roots`.
///
/// An adopted process is a direct child of this process whose subtree is
/// not its own pid: it was re-parented here, and no handle of the program
/// waits for it. Direct children the program started itself (subtree ==
/// pid) are never touched.
pub(crate) fn reap_adopted(roots: &[u32]) -> bool {
    let Ok(infos) = get_reaper_pids(None) else {
        return false;
    };
    let mut alive = false;
    for p in infos {
        if !p.flags.contains(PidInfoFlags::CHILD) || p.pid == p.subtree {
            continue;
        }
        if p.flags.contains(PidInfoFlags::ZOMBIE) {
            let _ = rustix::process::waitpid(Some(p.pid), WaitOptions::NOHANG);
        } else if roots.contains(&(p.subtree.as_raw_nonzero().get() as u32)) {
            alive = true;
        }
    }
    alive
}

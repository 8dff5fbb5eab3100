//! Starting a child on Linux with the crate's own spawner (`clone3` into
//! the cgroup, or `clone` and `cgroup.procs`), falling back to
//! `std::process` for good once `clone` is refused; from a lasting thread
//! when the child must die with its parent.

use std::os::fd::{AsRawFd, RawFd};

use crate::sys::error::Error;
use crate::sys::linux::subreaper::Child;
use crate::sys::request::SpawnRequest;
use crate::sys::unix::failure::{child_failure, creation_failure};
use crate::sys::unix::spawner::{CLONE_REFUSED, forced_spawner};
use crate::sys::unix::stdio::Stdio;
use crate::sys::unix::{prep, spawn_std};

/// How the child relates to sessions: a `pty` run leads a new session
/// with its terminal as the controlling one, a `setsid` run leads a new
/// session, anything else gets `otherwise`.
pub(crate) fn pg_mode(
    req: &SpawnRequest<'_>,
    otherwise: crate::sys::linux::spawn::PgMode,
) -> crate::sys::linux::spawn::PgMode {
    use crate::sys::linux::spawn::PgMode;
    if req.pty.is_some() {
        PgMode::SetsidCtty
    } else if req.setsid {
        PgMode::Setsid
    } else {
        otherwise
    }
}

pub(crate) fn spawn_linux(
    plan: &prep::ExecPlan,
    req: &SpawnRequest<'_>,
    stdio: &Stdio,
    cgroup: RawFd,
    mode: crate::sys::linux::spawn::PgMode,
    defer_reap: bool,
) -> Result<Child, Error> {
    if !req.kill_on_parent_death {
        return spawn_linux_here(plan, req, stdio, cgroup, mode, defer_reap);
    }
    // The death signal follows the thread that creates the child: create it
    // from a thread that lives as long as the process.
    crate::sys::linux::spawn::on_lasting_thread(|| {
        spawn_linux_here(plan, req, stdio, cgroup, mode, defer_reap)
    })
    .map_err(|e| {
        Error::io(
            req.display_name,
            "handing the spawn to the spawner thread",
            e,
        )
    })?
}

fn spawn_linux_here(
    plan: &prep::ExecPlan,
    req: &SpawnRequest<'_>,
    stdio: &Stdio,
    cgroup: RawFd,
    mode: crate::sys::linux::spawn::PgMode,
    defer_reap: bool,
) -> Result<Child, Error> {
    use crate::sys::linux::spawn::{self, PgMode, Setup, SpawnFailure};
    let name = req.display_name;
    let fds = stdio.child_fds();
    let use_std = CLONE_REFUSED.get().is_some() || forced_spawner() == Some("std");
    if !use_std {
        let setup = Setup {
            plan,
            cgroup,
            pgroup: mode,
            stdio: fds,
            uid: req.uid,
            gid: req.gid,
            pdeathsig: req.kill_on_parent_death,
        };
        match spawn::spawn(&setup) {
            Ok((pid, pidfd)) => return Ok(Child::new(pid, pidfd, defer_reap)),
            Err(SpawnFailure::CloneRefused(e)) => {
                let reason = format!("clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD) refused: {e}");
                crate::sys::trace::spawner_fallback(&reason);
                let _ = CLONE_REFUSED.set(reason);
            }
            Err(SpawnFailure::Parent(e)) => return Err(creation_failure(name, e)),
            Err(SpawnFailure::Child(stage, e)) => return Err(child_failure(req, stage, e)),
        }
    }
    // std's spawner joins the cgroup from a pre_exec hook.
    let procs = if cgroup >= 0 {
        Some(spawn::open_procs(cgroup).map_err(|e| Error::io(name, "opening cgroup.procs", e))?)
    } else {
        None
    };
    spawn_std::spawn(
        plan,
        req,
        &fds,
        procs.as_ref().map_or(-1, |p| p.as_raw_fd()),
        mode != PgMode::Inherit,
        defer_reap,
    )
}

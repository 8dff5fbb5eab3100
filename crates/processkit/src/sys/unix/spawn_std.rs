//! The `std::process` spawner: the Linux fallback when `clone` is refused
//! (for example by a seccomp filter), and the spawner on macOS and the BSDs.
//!
//! On Linux a cgroup join needs a `pre_exec` hook, which makes std use a
//! real `fork` (its cost grows with the parent's memory). Elsewhere only
//! std's own spawn attributes are used (`process_group`, `uid`, `gid`), so
//! std can stay on its `posix_spawn` path; `setsid` needs a hook.

use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;

use crate::error::Error;
use crate::sys::SpawnRequest;
use crate::sys::unix::Child;
use crate::sys::unix::prep::ExecPlan;

fn dup_stdio(fd: RawFd, program: &str) -> Result<Stdio, Error> {
    if fd < 0 {
        return Ok(Stdio::inherit());
    }
    // SAFETY: `fd` is one of the spawn's own open fds, alive for this call.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let owned: OwnedFd = borrowed
        .try_clone_to_owned()
        .map_err(|e| Error::io(program, "duplicating a stdio fd", e))?;
    Ok(Stdio::from(owned))
}

/// Spawns through `std::process::Command`.
pub(crate) fn spawn(
    plan: &ExecPlan,
    req: &SpawnRequest<'_>,
    fds: &[RawFd; 3],
    cgroup_procs: RawFd,
    new_group: bool,
    defer_reap: bool,
) -> Result<Child, Error> {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let name = req.display_name;
    let program = OsStr::from_bytes(plan.program.as_bytes());
    let mut cmd = std::process::Command::new(program);
    cmd.arg0(req.program)
        .args(req.args)
        .env_clear()
        .envs(req.env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = req.cwd {
        cmd.current_dir(dir);
    }
    cmd.stdin(dup_stdio(fds[0], name)?);
    cmd.stdout(dup_stdio(fds[1], name)?);
    cmd.stderr(dup_stdio(fds[2], name)?);
    if let Some(gid) = req.gid {
        cmd.gid(gid);
    }
    if let Some(uid) = req.uid {
        cmd.uid(uid);
    }
    let setsid = req.setsid;
    if new_group && !setsid {
        cmd.process_group(0);
    }
    let pdeathsig = req.kill_on_parent_death;
    if setsid || cgroup_procs >= 0 || pdeathsig {
        // SAFETY: the hook only makes async-signal-safe syscalls (write,
        // setsid, prctl) on integers captured by value.
        unsafe {
            cmd.pre_exec(move || {
                if cgroup_procs >= 0 && libc::write(cgroup_procs, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                if setsid && libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                #[cfg(target_os = "linux")]
                if pdeathsig
                    && libc::prctl(
                        libc::PR_SET_PDEATHSIG,
                        libc::SIGKILL as libc::c_ulong,
                        0,
                        0,
                        0,
                    ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                let _ = pdeathsig;
                Ok(())
            });
        }
    }
    let child = cmd
        .spawn()
        .map_err(|e| Error::from_spawn(name, req.cwd, e))?;
    let pid = child.id();
    // std's Child neither waits nor kills on drop: from here on the pid is
    // tracked by our own handle.
    drop(child);
    make_child(pid, defer_reap, name)
}

#[cfg(target_os = "linux")]
fn make_child(pid: u32, defer_reap: bool, name: &str) -> Result<Child, Error> {
    let raw =
        rustix::process::Pid::from_raw(pid as i32).expect("a spawned child has a positive pid");
    // The child is ours and unreaped, so the pid cannot have been recycled.
    let fd = rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty())
        .map_err(|e| Error::io(name, "opening a pidfd", e.into()))?;
    Ok(Child::new(pid, fd, defer_reap))
}

#[cfg(not(target_os = "linux"))]
fn make_child(pid: u32, defer_reap: bool, _name: &str) -> Result<Child, Error> {
    Ok(Child::new(pid, defer_reap))
}

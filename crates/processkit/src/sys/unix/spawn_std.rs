//! The `std::process` spawner: the Linux fallback when `clone` is refused
//! (for example by a seccomp filter), and the spawner on macOS and the BSDs.
//!
//! On Linux a cgroup join needs a `pre_exec` hook, which makes std use a
//! real `fork` (its cost grows with the parent's memory). Elsewhere only
//! std's own spawn attributes are used (`process_group`), so std can stay on
//! its `posix_spawn` path; `setsid` needs a hook, and std itself forks for
//! `uid`/`gid`. `kill_on_parent_death` adds nothing off Linux.

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

/// The C strings `execve` needs, taken from an [`ExecPlan`] that outlives
/// the spawn.
#[derive(Clone, Copy)]
struct ExecPointers {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
}

impl ExecPointers {
    /// Replaces the calling (forked) process; returns only on failure.
    ///
    /// # Safety
    ///
    /// The plan the pointers come from must still be alive.
    unsafe fn execve(self) -> std::io::Error {
        // SAFETY: NUL-terminated strings and NULL-terminated arrays from a
        // live `ExecPlan` (the caller's promise).
        unsafe { libc::execve(self.program, self.argv, self.envp) };
        std::io::Error::last_os_error()
    }
}

// SAFETY: the pointers are only read, in the forked child, while the plan
// they point into is alive (it outlives the `Command` holding the hook).
unsafe impl Send for ExecPointers {}
// SAFETY: as above; nothing writes through them.
unsafe impl Sync for ExecPointers {}

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
    // A terminal run leads a new session whose controlling terminal is the
    // slave std has just put on fd 0.
    let ctty = req.pty.is_some();
    let setsid = req.setsid || ctty;
    if new_group && !setsid {
        cmd.process_group(0);
    }
    // Linux only: PR_SET_PDEATHSIG. macOS and the BSDs have no equivalent
    // (the guardian covers a host that dies abruptly), so there the request
    // adds no hook and std keeps its `posix_spawn` path.
    let pdeathsig = cfg!(target_os = "linux") && req.kill_on_parent_death;
    // Whenever std forks (a hook, or a uid/gid change), the hook also runs
    // the `execve` itself: std would use `execvp`, which hands a file the
    // kernel refuses to run (ENOEXEC) to `/bin/sh` instead of failing. The
    // Linux `clone` spawner and `posix_spawn` report such a file as an error.
    let forks = setsid || cgroup_procs >= 0 || pdeathsig || req.uid.is_some() || req.gid.is_some();
    if forks {
        let exec = ExecPointers {
            program: plan.program.as_ptr(),
            argv: plan.argv_ptrs.as_ptr(),
            envp: plan.envp_ptrs.as_ptr(),
        };
        // SAFETY: the hook only makes async-signal-safe syscalls (write,
        // setsid, ioctl, prctl, execve) on integers and on pointers into `plan`,
        // which outlives `cmd` and so every run of the hook.
        unsafe {
            cmd.pre_exec(move || {
                if cgroup_procs >= 0 && libc::write(cgroup_procs, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                if setsid && libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if ctty {
                    rustix::process::ioctl_tiocsctty(BorrowedFd::borrow_raw(0))?;
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
                // std has applied stdio, ids, the directory and the group
                // by now; `execve` only returns on failure.
                Err(exec.execve())
            });
        }
    }
    let child = {
        // No pipe of ours is half-made (open but not yet close-on-exec)
        // while this child is created.
        #[cfg(not(target_os = "linux"))]
        let _no_new_fds = super::fd_creation_pause();
        cmd.spawn()
    }
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

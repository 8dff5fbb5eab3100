//! The `std::process` spawner: the Linux fallback when `clone` is refused
//! (for example by a seccomp filter), and the spawner on macOS and the BSDs.
//!
//! On Linux a cgroup join needs a `pre_exec` hook, which makes std use a
//! real `fork` (its cost grows with the parent's memory). Elsewhere only
//! std's own spawn attributes are used (`process_group`), so std can stay on
//! its `posix_spawn` path; `setsid` needs a hook, and std itself forks for
//! `uid`/`gid`. `kill_on_parent_death` adds nothing off Linux.
//!
//! Every child starts with an empty signal mask: the hook clears it, and
//! when the spawning thread blocks any signal std is made to fork (its
//! `posix_spawn` path would pass that mask on).

use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;

use crate::sys::error::Error;
#[cfg(target_os = "linux")]
use crate::sys::linux::subreaper::Child;
use crate::sys::request::SpawnRequest;
use crate::sys::unix::prep::{ChildKnobs, ExecPlan, KnobStep};
#[cfg(not(target_os = "linux"))]
use crate::sys::unix::waitchild::WaitChild as Child;

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
    /// The plan's child-side knobs, or null.
    knobs: *const ChildKnobs,
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

    /// Applies the plan's knobs, then the credentials (supplementary groups,
    /// gid, uid) in that order, so the knobs run with the parent's
    /// privileges. Returns the failing step's error.
    ///
    /// # Safety
    ///
    /// As for [`execve`](Self::execve); runs in the forked child only.
    unsafe fn apply_knobs(self, uid: Option<u32>, gid: Option<u32>) -> std::io::Result<()> {
        // std passes only the OS error number back to the parent (through
        // its own pipe), so the step is not named here.
        let err = |_step: &str| std::io::Error::last_os_error();
        // SAFETY: the caller's promise: `knobs` points into a live plan.
        let Some(k) = (unsafe { self.knobs.as_ref() }) else {
            return Ok(());
        };
        // SAFETY: raw syscalls in the forked child on data owned by `k`.
        unsafe {
            if let Err(step) = k.apply() {
                return Err(err(match step {
                    KnobStep::Rlimit => "setting a resource limit",
                    KnobStep::Priority => "setting the priority",
                    KnobStep::Affinity => "setting the CPU affinity",
                    KnobStep::IoPriority => "setting the I/O priority",
                }));
            }
            let one = [gid.unwrap_or(0) as libc::gid_t];
            let (len, ptr): (usize, *const libc::gid_t) = match (&k.groups, gid) {
                (Some(g), _) => (g.len(), g.as_ptr()),
                (None, Some(_)) => (1, one.as_ptr()),
                (None, None) => (0, std::ptr::null()),
            };
            if (k.groups.is_some() || uid.is_some() || gid.is_some())
                && libc::setgroups(len as _, ptr) != 0
                && (k.groups.is_some() || *errno() != libc::EPERM)
            {
                return Err(err("setting the supplementary groups"));
            }
            if let Some(gid) = gid
                && libc::setgid(gid as libc::gid_t) != 0
            {
                return Err(err("setting the group id"));
            }
            if let Some(uid) = uid
                && libc::setuid(uid as libc::uid_t) != 0
            {
                return Err(err("setting the user id"));
            }
        }
        Ok(())
    }
}

/// The calling thread's `errno`.
#[cfg(target_os = "linux")]
fn errno() -> *mut libc::c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__errno_location() }
}

#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
fn errno() -> *mut libc::c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__error() }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd"
)))]
fn errno() -> *mut libc::c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__errno() }
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
    cmd.arg0(req.knobs.arg0.as_deref().unwrap_or(req.program))
        .args(req.args)
        .env_clear()
        .envs(req.env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = req.cwd {
        cmd.current_dir(dir);
    }
    cmd.stdin(dup_stdio(fds[0], name)?);
    cmd.stdout(dup_stdio(fds[1], name)?);
    cmd.stderr(dup_stdio(fds[2], name)?);
    // With knobs, the hook sets the credentials itself, after the knobs
    // (std would drop privileges before any hook runs).
    let knobs = plan.knobs.as_ref();
    if knobs.is_none() {
        if let Some(gid) = req.gid {
            cmd.gid(gid);
        }
        if let Some(uid) = req.uid {
            cmd.uid(uid);
        }
    }
    // A terminal run leads a new session whose controlling terminal is the
    // slave std has just put on fd 0.
    let ctty = req.pty.is_some();
    let (uid, gid) = (req.uid, req.gid);
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
    // std's `posix_spawn` path hands the child the spawning thread's signal
    // mask: when that mask is not empty, fork and clear it in the hook.
    let forks = setsid
        || cgroup_procs >= 0
        || pdeathsig
        || req.uid.is_some()
        || req.gid.is_some()
        || knobs.is_some()
        || thread_blocks_signals();
    if forks {
        let exec = ExecPointers {
            program: plan.program.as_ptr(),
            argv: plan.argv_ptrs.as_ptr(),
            envp: plan.envp_ptrs.as_ptr(),
            knobs: knobs.map_or(std::ptr::null(), |k| k as *const ChildKnobs),
        };
        #[cfg(target_os = "linux")]
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the hook only makes async-signal-safe syscalls (write,
        // setsid, ioctl, prctl, getppid, sigprocmask, execve) on integers and on
        // pointers into `plan`, which outlives `cmd` and so every run of
        // the hook.
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
                // The knobs and, with knobs, the ids: before the death
                // signal, which an id change would clear.
                exec.apply_knobs(uid, gid)?;
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
                // std ran the id change before this hook (or, with knobs,
                // `apply_knobs` did above), so the death signal stays
                // armed. A parent that died before it was armed sent
                // nothing: check for it by hand.
                #[cfg(target_os = "linux")]
                if pdeathsig && libc::getppid() != parent {
                    libc::_exit(127);
                }
                // A fresh process starts with an empty signal mask, not the
                // spawning thread's (the same rule as the clone spawner).
                let mut empty: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut empty);
                libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
                // std has applied stdio, the directory and the group (and
                // the ids, when there are no knobs) by now; `execve` only
                // returns on failure.
                Err(exec.execve())
            });
        }
    }
    let child = {
        // No pipe of ours is half-made (open but not yet close-on-exec)
        // while this child is created.
        #[cfg(not(target_os = "linux"))]
        let _no_new_fds = super::fds::fd_creation_pause();
        cmd.spawn()
    }
    .map_err(|e| spawn_error(name, req.cwd, e))?;
    let pid = child.id();
    // std's Child neither waits nor kills on drop: from here on the pid is
    // tracked by our own handle.
    drop(child);
    make_child(pid, defer_reap, name)
}

/// Whether the calling thread blocks any signal.
fn thread_blocks_signals() -> bool {
    // SAFETY: `cur` is a valid sigset_t out pointer; a null new set only
    // reads the mask; `sigismember` reads the set.
    unsafe {
        let mut cur: libc::sigset_t = std::mem::zeroed();
        if libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut cur) != 0 {
            return true;
        }
        (1..65).any(|sig| libc::sigismember(&cur, sig) == 1)
    }
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

/// Starts a process that is deliberately *not* contained: no container, a
/// new session, no death signal. The reaper thread collects its exit status
/// whenever it ends, so it never lingers as a zombie of this process.
pub(crate) fn spawn_detached(
    plan: &ExecPlan,
    req: &SpawnRequest<'_>,
    fds: &[RawFd; 3],
) -> Result<u32, Error> {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let name = req.display_name;
    let program = OsStr::from_bytes(plan.program.as_bytes());
    let mut cmd = std::process::Command::new(program);
    cmd.arg0(req.knobs.arg0.as_deref().unwrap_or(req.program))
        .args(req.args)
        .env_clear()
        .envs(req.env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = req.cwd {
        cmd.current_dir(dir);
    }
    cmd.stdin(dup_stdio(fds[0], name)?);
    cmd.stdout(dup_stdio(fds[1], name)?);
    cmd.stderr(dup_stdio(fds[2], name)?);
    // SAFETY: the hook makes one async-signal-safe syscall.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = {
        #[cfg(not(target_os = "linux"))]
        let _no_new_fds = super::fds::fd_creation_pause();
        cmd.spawn()
    }
    .map_err(|e| spawn_error(name, req.cwd, e))?;
    let pid = child.id();
    crate::sys::reaper::submit(crate::sys::reaper::Task::Watch(Box::new(move || {
        !matches!(child.try_wait(), Ok(None))
    })));
    Ok(pid)
}

/// The typed error for a failed `std::process` spawn: one the process or
/// memory limit explains says so.
fn spawn_error(name: &str, cwd: Option<&std::path::Path>, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::ENOMEM) => super::failure::creation_failure(name, e),
        _ => Error::from_spawn(name, cwd, e),
    }
}

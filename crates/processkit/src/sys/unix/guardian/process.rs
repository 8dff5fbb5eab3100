//! The guardian process itself: the script, how it is started (the crate's
//! own spawner on Linux, `std::process` elsewhere or as a fallback, always in
//! a new session with `/` as its directory and only `PATH` set), and how the
//! host looks at, kills and reaps it. Uses nothing of the registry above it.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
#[cfg(target_os = "linux")]
use std::path::Path;

/// The program the guardian runs.
pub(super) const SHELL: &str = "/bin/sh";

/// `$0` of the guardian script; `$1` is the host's pid.
pub(super) const ARGV_TAG: &str = "processkit-guardian";

/// The guardian's whole environment.
const GUARDIAN_PATH: &str = "/usr/bin:/bin:/usr/sbin:/sbin";

/// The guardian itself (`guardian.sh`, run as `sh -c`). `$1` is the host's
/// pid (for `ps` and tests). It reads registrations from stdin until
/// end-of-file, then kills and removes.
pub(super) const SCRIPT: &str = include_str!("guardian.sh");

pub(super) fn guardian_args() -> [OsString; 4] {
    [
        OsString::from("-c"),
        OsString::from(SCRIPT),
        OsString::from(ARGV_TAG),
        OsString::from(std::process::id().to_string()),
    ]
}

fn devnull() -> io::Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags, open};
    Ok(open(
        "/dev/null",
        OFlags::RDWR | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Linux: the crate's vfork-style spawner, with no cgroup join and a new
/// session; std's spawner if `clone` is refused or `PROCESSKIT_SPAWNER=std`.
#[cfg(target_os = "linux")]
pub(super) fn spawn_shell(stdin: OwnedFd) -> io::Result<Proc> {
    use crate::sys::linux::spawn::{self, PgMode, Setup, SpawnFailure};
    use crate::sys::request::{SpawnRequest, StdioKind};

    let null = devnull()?;
    let forced_std = crate::sys::unix::spawner::forced_spawner() == Some("std");
    if !forced_std {
        let args = guardian_args();
        let req = SpawnRequest {
            knobs: &crate::sys::knobs::NO_KNOBS,
            display_name: ARGV_TAG,
            program: std::ffi::OsStr::new(SHELL),
            args: &args,
            env: vec![(OsString::from("PATH"), OsString::from(GUARDIAN_PATH))],
            cwd: Some(Path::new("/")),
            stdin: StdioKind::Null,
            stdout: StdioKind::Null,
            stderr: StdioKind::Null,
            setsid: true,
            uid: None,
            gid: None,
            kill_on_parent_death: false,
            create_no_window: false,
            pty: None,
        };
        let plan =
            crate::sys::unix::prep::plan(&req).map_err(|e| io::Error::other(e.to_string()))?;
        let setup = Setup {
            plan: &plan,
            cgroup: -1,
            pgroup: PgMode::Setsid,
            stdio: [stdin.as_raw_fd(), null.as_raw_fd(), null.as_raw_fd()],
            uid: None,
            gid: None,
            pdeathsig: false,
        };
        match spawn::spawn(&setup) {
            Ok((pid, pidfd)) => {
                return Ok(Proc {
                    pid,
                    pidfd: Some(pidfd),
                });
            }
            Err(SpawnFailure::CloneRefused(_)) => {}
            Err(SpawnFailure::Child(stage, e)) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("child setup ({stage:?}): {e}"),
                ));
            }
            Err(SpawnFailure::Parent(e)) => return Err(e),
        }
    }
    let pid = spawn_std(stdin, &null)?;
    let pidfd = rustix::process::Pid::from_raw(pid as i32)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());
    Ok(Proc { pid, pidfd })
}

#[cfg(not(target_os = "linux"))]
pub(super) fn spawn_shell(stdin: OwnedFd) -> io::Result<Proc> {
    let null = devnull()?;
    Ok(Proc {
        pid: spawn_std(stdin, &null)?,
    })
}

/// `std::process` with a `setsid` hook; returns the pid (the child is not
/// waited for by std: dropping std's handle neither waits nor kills).
fn spawn_std(stdin: OwnedFd, null: &OwnedFd) -> io::Result<u32> {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let mut cmd = std::process::Command::new(SHELL);
    cmd.args(guardian_args())
        .env_clear()
        .env("PATH", GUARDIAN_PATH)
        .current_dir("/")
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::from(null.try_clone()?))
        .stderr(Stdio::from(null.try_clone()?));
    // SAFETY: the hook only calls setsid(2), which is async-signal-safe, and
    // touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    Ok(child.id())
}

/// The guardian process, a direct child of the host that only this module
/// reaps.
pub(super) struct Proc {
    pub(super) pid: u32,
    #[cfg(target_os = "linux")]
    pidfd: Option<OwnedFd>,
}

/// What a look at the guardian process found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ProcState {
    Running,
    /// Stopped by a signal: it cannot read or act until someone continues
    /// it. Reported once per stop; the caller retires it at once.
    Stopped,
    /// Exited, and reaped now.
    Exited,
}

impl Proc {
    /// `true` once the guardian has exited; reaps it then (so it is never
    /// signalled afterwards: every caller stops using it on `true`).
    pub(super) fn exited(&self) -> bool {
        self.look(false) == ProcState::Exited
    }

    /// Whether the guardian runs, was stopped, or exited (then reaped).
    /// Never waits.
    pub(super) fn state(&self) -> ProcState {
        self.look(true)
    }

    fn look(&self, stops: bool) -> ProcState {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.pidfd {
            use rustix::process::{WaitId, WaitIdOptions, waitid};
            use std::os::fd::AsFd;
            let mut how = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
            if stops {
                how |= WaitIdOptions::STOPPED;
            }
            return match waitid(WaitId::PidFd(fd.as_fd()), how) {
                Ok(Some(s)) if s.stopped() => ProcState::Stopped,
                Ok(Some(_)) => ProcState::Exited,
                Ok(None) => ProcState::Running,
                Err(rustix::io::Errno::INTR) => ProcState::Running,
                // ECHILD: reaped by someone else (SIGCHLD ignored)
                Err(_) => ProcState::Exited,
            };
        }
        let mut status = 0;
        let flags = if stops {
            libc::WNOHANG | libc::WUNTRACED
        } else {
            libc::WNOHANG
        };
        // SAFETY: plain syscall on our own, not yet reaped child; `status` is
        // a valid out pointer.
        let rc = unsafe { libc::waitpid(self.pid as libc::pid_t, &mut status, flags) };
        if rc == 0 {
            return ProcState::Running;
        }
        if rc > 0 && libc::WIFSTOPPED(status) {
            return ProcState::Stopped;
        }
        if rc > 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            ProcState::Exited
        } else {
            ProcState::Running
        }
    }

    /// SIGKILLs the guardian (it is not reaped yet, so the pid is still its).
    pub(super) fn kill(&self) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.pidfd {
            // SAFETY: valid pidfd borrowed for the call, null siginfo, no flags.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                );
            }
            return;
        }
        // SAFETY: plain syscall with integer arguments on our unreaped child.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

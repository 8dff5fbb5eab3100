//! The Windows side: Job Object containers.
//!
//! Every container is a Job Object created with
//! `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`. A child is created suspended,
//! assigned to the job, and only then resumed, so it cannot start a process
//! of its own before it is contained; everything it starts later inherits the
//! job. The job handle is never inheritable, so it closes when this process
//! exits, however it exits, and the kernel then kills the tree
//! ([`Guarantee::Kernel`](crate::Guarantee::Kernel)).
//!
//! * `job.rs`: the Job Object itself (limits, termination, the member list,
//!   accounting, the completion port, best-effort freezing).
//! * `spawn/`: program resolution, command-line quoting, the environment
//!   block, the standard handles and the `CreateProcessW` call.
//! * `child.rs`: a direct child, waited on through a thread-pool wait.
//! * `pipe.rs`: the parent's ends of the standard-stream pipes.
//! * `stats.rs`: measurements and limits.
//! * `conpty.rs`: pseudo-consoles for `pty` runs (the child is still created
//!   suspended and assigned to the job like every other).
//! * `win32.rs`: small helpers the others share (the last error, owned
//!   handles, UTF-16 strings, telling Wine apart); it imports none of them.
//!
//! A group member is placed in a second job nested inside the group's job
//! (Windows 8 and later), so its own subtree can be listed, measured and
//! killed without touching its siblings. Where nesting is refused, the
//! member falls back to its direct child only.

mod child;
mod conpty;
mod job;
mod pipe;
mod spawn;
mod stats;
mod win32;

use std::io;
use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use windows_sys::Win32::Foundation::{ERROR_ACCESS_DENIED, ERROR_INVALID_PARAMETER, WAIT_OBJECT_0};
use windows_sys::Win32::System::Threading::{
    CREATE_SUSPENDED, GetCurrentProcessId, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    PROCESS_SET_QUOTA, PROCESS_SYNCHRONIZE, PROCESS_TERMINATE, TerminateProcess,
    WaitForSingleObject,
};

use crate::sys::error::Error;
use crate::sys::mechanism::Mechanism;
use crate::sys::request::{Request, SpawnRequest, StdioKind};

pub(crate) use child::Child;
use job::{Job, KILLED_EXIT_CODE, terminate_process};
use win32::{last_error, owned};

/// A freshly spawned child, with this platform's handle types.
pub(crate) type Spawned = crate::sys::request::Spawned<Child, Member, PtyMaster>;

pub(crate) use conpty::PtyMaster;
#[cfg(feature = "pty")]
pub(crate) use conpty::Special;

/// What a group operation names in its errors.
const GROUP: &str = "process group";

/// The strongest mechanism this host offers. Job Objects exist on every
/// supported Windows version, so there is never a fallback.
pub(crate) fn host_mechanism() -> (Mechanism, Option<String>) {
    (Mechanism::JobObject, None)
}

/// The spawner in use, for reporting.
pub(crate) fn spawner_name() -> &'static str {
    "CreateProcessW (created suspended, assigned to the Job Object, then resumed)"
}

/// The guarantee in force: the job handle is not inheritable and closes with
/// this process, and `KILL_ON_JOB_CLOSE` then kills the tree.
pub(crate) fn guarantee() -> crate::sys::guarantee::Guarantee {
    crate::sys::guarantee::Guarantee::Kernel
}

/// A kill-on-drop container for a process tree: one Job Object.
pub(crate) struct Container {
    job: Arc<Job>,
    /// One-shot: the container holds exactly one run, whose member is the
    /// whole job.
    one_shot: bool,
}

/// Where one child lives inside its container.
pub(crate) enum Member {
    /// The only child of a one-shot container: its subtree is the whole job.
    Whole(Arc<Job>),
    /// A group member in its own job, nested inside the group's job.
    Nested(Job),
    /// A group member whose nested job was refused: only the direct child can
    /// be addressed; its descendants stay in the group's job.
    Direct {
        process: Arc<OwnedHandle>,
        pid: u32,
        killed: Arc<AtomicBool>,
    },
}

impl Container {
    /// A container for a single run.
    pub(crate) fn one_shot(request: Request) -> Result<Container, Error> {
        Self::create(request, true)
    }

    /// A container shared by several children (a `ProcessGroup`).
    pub(crate) fn group(request: Request) -> Result<Container, Error> {
        Self::create(request, false)
    }

    fn create(request: Request, one_shot: bool) -> Result<Container, Error> {
        match request.resolve() {
            Request::Best | Request::Exactly(Mechanism::JobObject) => {}
            Request::Exactly(other) => {
                return Err(Error::unsupported(
                    GROUP,
                    &format!("the {other:?} mechanism"),
                    "Windows contains process trees with Job Objects only",
                ));
            }
        }
        let job = Job::new(true).map_err(|e| Error::io(GROUP, "creating a Job Object", e))?;
        Ok(Container {
            job: Arc::new(job),
            one_shot,
        })
    }

    /// The mechanism in use.
    pub(crate) fn mechanism(&self) -> Mechanism {
        Mechanism::JobObject
    }

    /// Starts one child inside this container: created suspended, assigned
    /// to the job (and, in a group, to its own nested job), then resumed.
    pub(crate) fn spawn(&self, mut req: SpawnRequest<'_>) -> Result<Spawned, Error> {
        let name = req.display_name;
        // The runner refuses these earlier; a caller that skipped that check
        // must not have them silently ignored.
        for (set, flag) in [
            (req.uid.is_some(), "uid"),
            (req.gid.is_some(), "gid"),
            (req.setsid, "setsid"),
        ] {
            if set {
                return Err(Error::unsupported(
                    name,
                    flag,
                    "it is a POSIX-only spawn flag",
                ));
            }
        }
        let plan = spawn::plan(&req)?;
        let console = match req.pty {
            Some((cols, rows)) => Some(conpty::prepare(name, cols, rows)?),
            None => None,
        };
        let mut stdio = spawn::Stdio::default();
        if console.is_none() {
            stdio.prepare(
                name,
                0,
                std::mem::replace(&mut req.stdin, StdioKind::Inherit),
            )?;
            stdio.prepare(
                name,
                1,
                std::mem::replace(&mut req.stdout, StdioKind::Inherit),
            )?;
            stdio.prepare(
                name,
                2,
                std::mem::replace(&mut req.stderr, StdioKind::Inherit),
            )?;
        }

        let created = match &console {
            // The terminal is the child's stdin, stdout and stderr (the
            // three `StdioKind`s are ignored, as on Unix).
            Some(console) => conpty::create_suspended(name, &plan, console)?,
            None => spawn::create_suspended(name, &plan, &mut stdio, req.create_no_window)?,
        };
        let process = Arc::new(created.process);
        let raw = process.as_raw_handle();
        // From here on a failure must not leave a suspended process behind.
        let abandon = |e: Error| -> Error {
            // SAFETY: `raw` is our open process handle (owned by `process`,
            // alive for this closure's use).
            unsafe { TerminateProcess(raw, KILLED_EXIT_CODE) };
            e
        };
        self.job.assign(raw).map_err(|e| {
            abandon(Error::Spawn {
                program: name.to_owned(),
                source: io::Error::new(
                    e.kind(),
                    format!("placing the child in the Job Object: {e}"),
                ),
            })
        })?;
        self.job.drain_port();

        let direct_killed = Arc::new(AtomicBool::new(false));
        let mut marks = vec![self.job.killed_flag(), direct_killed.clone()];
        let member = if self.one_shot {
            Member::Whole(self.job.clone())
        } else {
            match Job::new(false).and_then(|nested| nested.assign(raw).map(|()| nested)) {
                Ok(nested) => {
                    marks.push(nested.killed_flag());
                    Member::Nested(nested)
                }
                Err(e) => {
                    crate::sys::trace::nested_job_refused(name, &e.to_string());
                    Member::Direct {
                        process: process.clone(),
                        pid: created.pid,
                        killed: direct_killed.clone(),
                    }
                }
            }
        };

        spawn::resume(&created.thread).map_err(|e| {
            abandon(Error::Spawn {
                program: name.to_owned(),
                source: io::Error::new(e.kind(), format!("resuming the child: {e}")),
            })
        })?;
        drop(created.thread);

        let (stdin, stdout, stderr, terminal) = match console {
            Some(console) => {
                drop(stdio);
                let (stdin, stdout, master) = console.finish(name, &process).map_err(abandon)?;
                (Some(stdin), Some(stdout), None, Some(master))
            }
            None => {
                let (stdin, stdout, stderr) = stdio.finish();
                (stdin, stdout, stderr, None)
            }
        };
        let child = Child::new(created.pid, process, marks, direct_killed);
        Ok(Spawned {
            child,
            member,
            stdin,
            stdout,
            stderr,
            terminal,
        })
    }

    /// Hard-kills the whole tree (`TerminateJobObject`). The job stays usable.
    pub(crate) fn kill_all(&self) -> io::Result<()> {
        self.job.terminate()
    }

    /// Only `SIGKILL` (9) can be delivered, as the whole-tree kill; other
    /// signals are rejected before they get here.
    pub(crate) fn signal_all(&self, sig: i32) -> io::Result<()> {
        if sig == 9 {
            self.kill_all()
        } else {
            Err(no_signals(sig))
        }
    }

    /// Suspends (`true`) or resumes every thread of every process in the job.
    /// Best effort: a process started while the tree is suspended runs, and
    /// suspends nest (each suspend needs its own resume).
    #[cfg_attr(not(feature = "process-control"), allow(dead_code))]
    pub(crate) fn freeze(&self, frozen: bool) -> io::Result<()> {
        self.job.freeze(frozen)
    }

    /// Live member pids: the whole tree.
    #[cfg_attr(not(feature = "process-control"), allow(dead_code))]
    pub(crate) fn members(&self) -> io::Result<Vec<u32>> {
        self.job.drain_port();
        let mut pids = self.job.pids()?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// `true` once no process is left in the job.
    pub(crate) fn is_empty(&self) -> io::Result<bool> {
        self.job.drain_port();
        Ok(self.job.active_processes()? == 0)
    }

    /// Moves an existing process into the job. Processes it starts from then
    /// on are contained too; children it already has are not.
    #[cfg_attr(not(feature = "process-control"), allow(dead_code))]
    pub(crate) fn adopt(&self, pid: u32) -> Result<(), Error> {
        // SAFETY: plain call without pointers.
        if pid == unsafe { GetCurrentProcessId() } {
            return Err(Error::invalid(
                GROUP,
                "the calling process cannot adopt itself: closing the group would kill it",
            ));
        }
        // SAFETY: plain call; a null result is checked below.
        let raw = unsafe {
            OpenProcess(
                PROCESS_SET_QUOTA
                    | PROCESS_TERMINATE
                    | PROCESS_QUERY_LIMITED_INFORMATION
                    | PROCESS_SYNCHRONIZE,
                0,
                pid,
            )
        };
        if raw.is_null() {
            let e = last_error();
            return Err(match e.raw_os_error().map(|c| c as u32) {
                Some(ERROR_INVALID_PARAMETER) => {
                    Error::invalid(GROUP, format!("there is no process with pid {pid}"))
                }
                Some(ERROR_ACCESS_DENIED) => Error::PermissionDenied {
                    program: GROUP.to_owned(),
                    source: io::Error::new(
                        e.kind(),
                        format!("opening pid {pid} for adoption: {e}"),
                    ),
                },
                _ => Error::io(GROUP, format!("opening pid {pid} for adoption"), e),
            });
        }
        // SAFETY: OpenProcess succeeded, so `raw` is a fresh handle we own.
        let process = unsafe { owned(raw) };
        // SAFETY: a valid process handle, and a zero timeout.
        if unsafe { WaitForSingleObject(raw, 0) } == WAIT_OBJECT_0 {
            return Err(Error::invalid(
                GROUP,
                format!("pid {pid} has already exited"),
            ));
        }
        let r = self.job.assign(process.as_raw_handle());
        drop(process);
        r.map_err(|e| match e.raw_os_error().map(|c| c as u32) {
            Some(ERROR_ACCESS_DENIED) => Error::PermissionDenied {
                program: GROUP.to_owned(),
                source: io::Error::new(
                    e.kind(),
                    format!("pid {pid} is in a Job Object that does not allow nesting: {e}"),
                ),
            },
            _ => Error::io(GROUP, format!("moving pid {pid} into the Job Object"), e),
        })
    }

    /// The raw escape hatch: spawns a tokio command inside the job. Sets the
    /// creation flags to `CREATE_SUSPENDED` (replacing any the caller set:
    /// std offers no way to read them back), assigns the process, then
    /// resumes its main thread.
    pub(crate) fn spawn_raw(
        &self,
        cmd: &mut tokio::process::Command,
    ) -> Result<tokio::process::Child, Error> {
        let name = cmd.as_std().get_program().to_string_lossy().into_owned();
        cmd.creation_flags(CREATE_SUSPENDED);
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::from_spawn(&name, cmd.as_std().get_current_dir(), e))?;
        let placed = (|| -> io::Result<()> {
            let raw = child
                .raw_handle()
                .ok_or_else(|| io::Error::other("the child has no process handle"))?;
            let pid = child
                .id()
                .ok_or_else(|| io::Error::other("the child has no pid"))?;
            self.job.assign(raw).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("placing the child in the Job Object: {e}"),
                )
            })?;
            job::resume_process(pid)
                .map_err(|e| io::Error::new(e.kind(), format!("resuming the child: {e}")))
        })();
        match placed {
            Ok(()) => {
                self.job.drain_port();
                Ok(child)
            }
            Err(e) => {
                let _ = child.start_kill();
                Err(Error::Spawn {
                    program: name,
                    source: e,
                })
            }
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // Closing the last handle would kill the tree (KILL_ON_JOB_CLOSE),
        // but members may hold the job too: terminate explicitly. One
        // non-blocking call.
        let _ = self.job.terminate();
    }
}

impl Member {
    /// Hard-kills this child's own subtree: the whole job for a one-shot
    /// container, the nested job for a group member, and only the direct
    /// child where nesting was refused.
    pub(crate) fn kill_tree(&self) -> io::Result<()> {
        match self {
            Member::Whole(job) => job.terminate(),
            Member::Nested(job) => job.terminate(),
            Member::Direct {
                process, killed, ..
            } => terminate_process(process, killed),
        }
    }

    /// Only `SIGKILL` (9) can be delivered, as the subtree kill.
    pub(crate) fn signal_tree(&self, sig: i32) -> io::Result<()> {
        if sig == 9 {
            self.kill_tree()
        } else {
            Err(no_signals(sig))
        }
    }

    /// Live pids in this child's subtree.
    #[allow(dead_code)]
    pub(crate) fn pids(&self) -> Vec<u32> {
        let mut pids = match self {
            Member::Whole(job) => job.pids().unwrap_or_default(),
            Member::Nested(job) => job.pids().unwrap_or_default(),
            Member::Direct { process, pid, .. } => {
                // SAFETY: a valid process handle, and a zero timeout.
                let exited =
                    unsafe { WaitForSingleObject(process.as_raw_handle(), 0) } == WAIT_OBJECT_0;
                if exited { Vec::new() } else { vec![*pid] }
            }
        };
        pids.sort_unstable();
        pids
    }
}

fn no_signals(sig: i32) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "signal {sig} cannot be delivered: Windows has no POSIX signals, only the Job Object kill"
        ),
    )
}

/// Starts a process outside every Job Object, detached from this console
/// (see [`Command::spawn_detached`](crate::Command::spawn_detached)).
pub(crate) fn spawn_detached(req: SpawnRequest<'_>) -> Result<u32, Error> {
    use std::os::windows::process::CommandExt;
    const DETACHED_PROCESS: u32 = 0x0000_0008;
    const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
    let stdio = |kind: StdioKind| match kind {
        StdioKind::Inherit => std::process::Stdio::inherit(),
        StdioKind::Io(handle) => std::process::Stdio::from(handle),
        _ => std::process::Stdio::null(),
    };
    let mut cmd = std::process::Command::new(req.program);
    cmd.args(req.args)
        .env_clear()
        .envs(req.env.iter().map(|(k, v)| (k, v)))
        .creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP)
        .stdin(stdio(req.stdin))
        .stdout(stdio(req.stdout))
        .stderr(stdio(req.stderr));
    if let Some(dir) = req.cwd {
        cmd.current_dir(dir);
    }
    let child = cmd
        .spawn()
        .map_err(|e| Error::from_spawn(req.display_name, req.cwd, e))?;
    // No zombies on Windows: closing the handle is all the cleanup there is.
    Ok(child.id())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::io::Read;
    use std::time::Duration;

    use windows_sys::Win32::Foundation::{HANDLE, HANDLE_FLAG_INHERIT, SetHandleInformation};
    use windows_sys::Win32::System::Pipes::CreatePipe;

    use super::*;

    fn request<'a>(args: &'a [OsString]) -> SpawnRequest<'a> {
        SpawnRequest {
            knobs: &crate::sys::knobs::NO_KNOBS,
            display_name: "cmd",
            program: std::ffi::OsStr::new("cmd"),
            args,
            env: std::env::vars_os().collect(),
            cwd: None,
            stdin: StdioKind::Null,
            stdout: StdioKind::Null,
            stderr: StdioKind::Null,
            setsid: false,
            uid: None,
            gid: None,
            kill_on_parent_death: false,
            create_no_window: false,
            pty: None,
        }
    }

    #[tokio::test]
    async fn an_inheritable_handle_outside_the_list_does_not_reach_the_child() {
        let (mut read, mut write): (HANDLE, HANDLE) = (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: out-pointers to locals, no security attributes.
        assert_ne!(
            unsafe { CreatePipe(&mut read, &mut write, std::ptr::null(), 0) },
            0
        );
        // SAFETY: CreatePipe succeeded: two fresh handles we own.
        let (read, write) = unsafe { (owned(read), owned(write)) };
        // SAFETY: a valid handle we own.
        let ok = unsafe {
            SetHandleInformation(
                write.as_raw_handle(),
                HANDLE_FLAG_INHERIT,
                HANDLE_FLAG_INHERIT,
            )
        };
        assert_ne!(ok, 0);

        let container = Container::one_shot(Request::Best).unwrap();
        let args = [
            OsString::from("/c"),
            OsString::from("ping -n 30 127.0.0.1 > NUL"),
        ];
        let spawned = container.spawn(request(&args)).unwrap();
        drop(write);
        // With the write end inherited, the child would keep the pipe open
        // for ~30 s; without it, the read end sees the break at once.
        let reader = tokio::task::spawn_blocking(move || {
            let mut f = std::fs::File::from(read);
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)
        });
        let r = tokio::time::timeout(Duration::from_secs(10), reader).await;
        assert!(
            r.is_ok(),
            "the child inherited a handle outside PROC_THREAD_ATTRIBUTE_HANDLE_LIST"
        );
        drop(spawned);
        drop(container);
    }

    #[tokio::test]
    async fn a_killed_one_shot_child_reports_signal_9() {
        let container = Container::one_shot(Request::Best).unwrap();
        let args = [
            OsString::from("/c"),
            OsString::from("ping -n 30 127.0.0.1 > NUL"),
        ];
        let mut spawned = container.spawn(request(&args)).unwrap();
        assert!(spawned.member.pids().contains(&spawned.child.id()));
        spawned.member.kill_tree().unwrap();
        let status = std::future::poll_fn(|cx| spawned.child.poll_wait(cx))
            .await
            .unwrap();
        assert_eq!((status.code(), status.signal()), (None, Some(9)));
    }
}

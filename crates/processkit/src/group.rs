//! [`ProcessGroup`]: one kill-on-drop container shared by several children.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::group_options::{ProcessGroupOptions, apply_limits};
use crate::result::ProcessResult;
use crate::result::ShutdownReport;
use crate::runner::{BoxFuture, ProcessRunner};
use crate::{Command, Mechanism, RunningProcess, sys};

const GROUP: &str = "process group";

/// A kill-on-drop container shared by several children.
///
/// Every child started through the group, and everything those children
/// spawn, lives in one container (a cgroup, a set of process groups or a Job
/// Object). Dropping the group kills the whole tree without blocking;
/// [`shutdown`](Self::shutdown) does it gracefully.
///
/// Handles from [`start`](Self::start) do not own their processes: dropping
/// one detaches from the process, which keeps running in the group.
///
/// ```
/// use processkit::{Command, ProcessGroup};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let group = ProcessGroup::new()?;
/// let _a = group.start(&Command::new("sleep").arg("30")).await?;
/// let _b = group.start(&Command::new("sh").args(["-c", "sleep 30 & sleep 30"])).await?;
/// group.shutdown().await?; // SIGTERM, grace period, SIGKILL; returns once empty
/// assert!(group.is_empty()?);
/// # Ok(()) }
/// ```
pub struct ProcessGroup {
    inner: Arc<Inner>,
}

struct Inner {
    container: sys::Container,
    options: ProcessGroupOptions,
    /// Set by [`ProcessGroup::shutdown`]: nothing more starts in the group.
    sealed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessGroup")
            .field("mechanism", &self.mechanism())
            .finish_non_exhaustive()
    }
}

impl ProcessGroup {
    /// A group on the host's best mechanism.
    ///
    /// ```
    /// let group = processkit::ProcessGroup::new()?;
    /// println!("contained by {}", group.mechanism());
    /// # Ok::<(), processkit::Error>(())
    /// ```
    pub fn new() -> Result<ProcessGroup> {
        Self::with_options(ProcessGroupOptions::default())
    }

    /// A group with options. Fails with [`Error::ResourceLimit`] when a
    /// requested limit cannot be enforced here, rather than returning a
    /// silently unbounded group.
    ///
    /// ```
    /// use processkit::{ProcessGroup, ProcessGroupOptions};
    /// let g = ProcessGroup::with_options(ProcessGroupOptions::default().grace(std::time::Duration::from_secs(1)))?;
    /// # drop(g);
    /// # Ok::<(), processkit::Error>(())
    /// ```
    pub fn with_options(options: ProcessGroupOptions) -> Result<ProcessGroup> {
        let request = match options.mechanism {
            Some(m) => sys::Request::Exactly(m),
            None => sys::Request::Best,
        };
        let container = sys::Container::group(request)?;
        if options.has_limits() {
            apply_limits(&container, &options)?;
        }
        Ok(ProcessGroup {
            inner: Arc::new(Inner {
                container,
                options,
                sealed: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// The mechanism containing this group.
    ///
    /// ```
    /// let g = processkit::ProcessGroup::new()?;
    /// assert_eq!(g.mechanism(), processkit::Mechanism::current());
    /// # Ok::<(), processkit::Error>(())
    /// ```
    pub fn mechanism(&self) -> Mechanism {
        self.inner.container.mechanism()
    }

    #[cfg_attr(not(feature = "stats"), allow(dead_code))]
    pub(crate) fn container(&self) -> &sys::Container {
        &self.inner.container
    }

    /// Starts `cmd` inside the group. The command's timeout and cancellation
    /// kill only this child's own subtree; its siblings are left alone.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let group = processkit::ProcessGroup::new()?;
    /// let run = group.start(&processkit::Command::new("echo").arg("in a group")).await?;
    /// assert_eq!(run.output_string().await?.stdout(), "in a group\n");
    /// # Ok(()) }
    /// ```
    pub async fn start(&self, cmd: &Command) -> Result<RunningProcess> {
        self.start_member(cmd)
    }

    fn start_member(&self, cmd: &Command) -> Result<RunningProcess> {
        self.check_open(cmd.name())?;
        crate::runner::start_in(&self.inner.container, cmd)
    }

    /// [`Error::GroupShutDown`] once [`shutdown`](Self::shutdown) began.
    fn check_open(&self, program: &str) -> Result<()> {
        if self.is_shut_down() {
            return Err(Error::GroupShutDown {
                program: program.to_owned(),
            });
        }
        Ok(())
    }

    /// `true` once [`shutdown`](Self::shutdown) was called: the group is
    /// sealed, and every later start ([`start`](Self::start),
    /// [`spawn`](Self::spawn), the runner verbs) fails with
    /// [`Error::GroupShutDown`]. [`kill`](Self::kill) does not seal.
    ///
    /// ```
    /// use processkit::{Command, Error, ProcessGroup};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let group = ProcessGroup::new()?;
    /// group.shutdown().await?;
    /// assert!(group.is_shut_down());
    /// let err = group.start(&Command::new("true")).await.unwrap_err();
    /// assert!(matches!(err, Error::GroupShutDown { .. }));
    /// # Ok(()) }
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.inner.sealed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The raw escape hatch: spawns a `tokio::process::Command` inside the
    /// group and hands back tokio's own `Child`. Containment still holds;
    /// everything else (pipes, waiting) is yours.
    ///
    /// On Linux's cgroup mechanism this uses a `pre_exec` hook (a real
    /// `fork`). On the process-group mechanism tokio reaps the leader itself,
    /// so the group id is only safe to signal while the child runs.
    /// On Windows the spawn sets `CREATE_SUSPENDED` and overrides creation
    /// flags you set on the tokio command; use [`start`](Self::start) with
    /// [`Command::create_no_window`] to combine flags.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let group = processkit::ProcessGroup::new()?;
    /// let mut child = group.spawn(&mut tokio::process::Command::new("true"))?;
    /// assert!(child.wait().await.unwrap().success());
    /// # Ok(()) }
    /// ```
    pub fn spawn(&self, cmd: &mut tokio::process::Command) -> Result<tokio::process::Child> {
        self.check_open(&cmd.as_std().get_program().to_string_lossy())?;
        self.inner.container.spawn_raw(cmd)
    }

    /// Hard-kills the whole tree now (`cgroup.kill`, `killpg(SIGKILL)` or
    /// `TerminateJobObject`). The group stays usable.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let group = processkit::ProcessGroup::new()?;
    /// let mut run = group.start(&processkit::Command::new("sleep").arg("30")).await?;
    /// group.kill()?;
    /// assert_eq!(run.wait().await?, None);
    /// # Ok(()) }
    /// ```
    pub fn kill(&self) -> Result<()> {
        crate::trace::teardown("kill", self.mechanism());
        self.inner
            .container
            .kill_all()
            .map_err(|e| Error::io(GROUP, "killing the tree", e))
    }

    /// Same as [`kill`](Self::kill).
    ///
    /// ```
    /// let group = processkit::ProcessGroup::new()?;
    /// group.terminate_all()?;
    /// # Ok::<(), processkit::Error>(())
    /// ```
    pub fn terminate_all(&self) -> Result<()> {
        self.kill()
    }

    /// Graceful teardown: SIGTERM to every member, up to the grace period
    /// for them to exit, then SIGKILL to whatever is left. Returns once the
    /// container is empty, with a [`ShutdownReport`]: how many processes got
    /// the signal, how many still needed SIGKILL, and how long it took. On
    /// Windows it is one atomic job termination (every process counts as
    /// killed).
    ///
    /// Shutting down seals the group: from the first moment on, every
    /// later start fails with [`Error::GroupShutDown`] (see
    /// [`is_shut_down`](Self::is_shut_down)), so a
    /// [`Supervisor`](crate::Supervisor) running through the group stops
    /// (with [`StopReason::GroupShutDown`](crate::StopReason::GroupShutDown))
    /// instead of restarting into it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let group = processkit::ProcessGroup::new()?;
    /// let _ = group.start(&processkit::Command::new("sleep").arg("30")).await?;
    /// let report = group.shutdown().await?;
    /// assert_eq!(report.killed, 0); // sleep exits on SIGTERM
    /// println!("{} stopped in {:?}", report.signalled, report.duration);
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self) -> Result<ShutdownReport> {
        crate::trace::teardown("shutdown", self.mechanism());
        // Sealed first, so nothing (a supervisor's restart, a batch's next
        // command) starts into the group while it is being emptied.
        self.inner
            .sealed
            .store(true, std::sync::atomic::Ordering::Release);
        let started = std::time::Instant::now();
        let c = &self.inner.container;
        let live = || c.members().map(|m| m.len()).unwrap_or(0);
        let mut report = ShutdownReport {
            signalled: 0,
            killed: 0,
            duration: Duration::ZERO,
        };
        if cfg!(unix) {
            report.signalled = live();
            c.signal_all(term_signal())
                .map_err(|e| Error::io(GROUP, "sending SIGTERM", e))?;
            // A suspended tree could not act on SIGTERM: let it run again.
            c.freeze(false)
                .map_err(|e| Error::io(GROUP, "resuming before the grace period", e))?;
            if self.wait_empty(self.inner.options.grace).await? {
                report.duration = started.elapsed();
                crate::trace::shutdown_done(&report);
                return Ok(report);
            }
        }
        report.killed = live();
        c.kill_all()
            .map_err(|e| Error::io(GROUP, "killing the tree", e))?;
        if self.wait_empty(Duration::from_secs(10)).await? {
            report.duration = started.elapsed();
            crate::trace::shutdown_done(&report);
            Ok(report)
        } else {
            Err(Error::io(
                GROUP,
                "waiting for the tree to exit",
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "processes remain after SIGKILL",
                ),
            ))
        }
    }

    /// Waits until the container is empty or `within` passes; `true` if empty.
    async fn wait_empty(&self, within: Duration) -> Result<bool> {
        let start = tokio::time::Instant::now();
        let mut nap = Duration::from_millis(1);
        loop {
            if self.is_empty()? {
                return Ok(true);
            }
            if start.elapsed() >= within {
                return Ok(false);
            }
            tokio::time::sleep(nap.min(within.saturating_sub(start.elapsed()))).await;
            nap = (nap * 2).min(Duration::from_millis(20));
        }
    }

    /// `true` when no process is left in the group.
    ///
    /// ```
    /// let group = processkit::ProcessGroup::new()?;
    /// assert!(group.is_empty()?);
    /// # Ok::<(), processkit::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        self.inner
            .container
            .is_empty()
            .map_err(|e| Error::io(GROUP, "reading the container state", e))
    }

    /// Sends `signal` to every member. [`Signal::Kill`](crate::Signal::Kill)
    /// takes the whole-tree hard-kill path; on Windows any other signal is
    /// [`Error::Unsupported`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let group = processkit::ProcessGroup::new()?;
    /// let mut run = group.start(&processkit::Command::new("sleep").arg("30")).await?;
    /// group.signal(processkit::Signal::Term)?;
    /// assert_eq!(run.wait().await?, None);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "process-control")]
    #[cfg_attr(docsrs, doc(cfg(feature = "process-control")))]
    pub fn signal(&self, signal: crate::Signal) -> Result<()> {
        let sig = signal.to_raw(GROUP)?;
        self.inner
            .container
            .signal_all(sig)
            .map_err(|e| Error::io(GROUP, format!("sending {}", signal.name()), e))
    }

    /// Freezes the whole tree (`cgroup.freeze`; SIGSTOP on process groups;
    /// per-thread suspension on Windows). Idempotent except on Windows,
    /// where nested suspends need matching resumes.
    ///
    /// ```
    /// let group = processkit::ProcessGroup::new()?;
    /// group.suspend()?;
    /// group.resume()?;
    /// # Ok::<(), processkit::Error>(())
    /// ```
    #[cfg(feature = "process-control")]
    #[cfg_attr(docsrs, doc(cfg(feature = "process-control")))]
    pub fn suspend(&self) -> Result<()> {
        self.inner
            .container
            .freeze(true)
            .map_err(|e| Error::io(GROUP, "suspending", e))
    }

    /// Lets a suspended tree run again.
    ///
    /// ```
    /// let group = processkit::ProcessGroup::new()?;
    /// group.resume()?; // resuming a running group is harmless
    /// # Ok::<(), processkit::Error>(())
    /// ```
    #[cfg(feature = "process-control")]
    #[cfg_attr(docsrs, doc(cfg(feature = "process-control")))]
    pub fn resume(&self) -> Result<()> {
        self.inner
            .container
            .freeze(false)
            .map_err(|e| Error::io(GROUP, "resuming", e))
    }

    /// A snapshot of the live member pids: the whole tree on a cgroup or a
    /// Job Object; the tracked group leaders on process groups.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let group = processkit::ProcessGroup::new()?;
    /// let run = group.start(&processkit::Command::new("sleep").arg("30")).await?;
    /// assert!(group.members()?.contains(&run.pid().unwrap()));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "process-control")]
    #[cfg_attr(docsrs, doc(cfg(feature = "process-control")))]
    pub fn members(&self) -> Result<Vec<u32>> {
        self.inner
            .container
            .members()
            .map_err(|e| Error::io(GROUP, "listing members", e))
    }

    /// Moves an existing process into the group, where the mechanism allows
    /// it (a cgroup or a Job Object). On process groups it is
    /// [`Error::Unsupported`]. On a cgroup only that process moves: children
    /// it already has stay where they are.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let group = processkit::ProcessGroup::new()?;
    /// let mut outside = tokio::process::Command::new("sleep").arg("30").kill_on_drop(true).spawn().unwrap();
    /// match group.adopt(outside.id().unwrap()) {
    ///     Ok(()) => assert!(group.members()?.contains(&outside.id().unwrap())),
    ///     Err(processkit::Error::Unsupported { .. }) => {} // process-group mechanism
    ///     Err(e) => return Err(e),
    /// }
    /// # outside.kill().await.ok();
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "process-control")]
    #[cfg_attr(docsrs, doc(cfg(feature = "process-control")))]
    pub fn adopt(&self, pid: u32) -> Result<()> {
        self.inner.container.adopt(pid)
    }
}

#[cfg(unix)]
fn term_signal() -> i32 {
    libc::SIGTERM
}
#[cfg(not(unix))]
fn term_signal() -> i32 {
    15
}

impl ProcessRunner for ProcessGroup {
    fn execute<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, Result<ProcessResult<Vec<u8>>>> {
        Box::pin(async move { self.start_member(cmd)?.output_bytes().await })
    }

    fn start<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, Result<RunningProcess>> {
        Box::pin(async move { self.start_member(cmd) })
    }

    fn is_shut_down(&self) -> bool {
        ProcessGroup::is_shut_down(self)
    }
}

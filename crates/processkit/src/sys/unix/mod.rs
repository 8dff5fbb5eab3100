//! The Unix side: process-group containers everywhere, cgroup containers on
//! Linux, and the glue that picks a spawner.

pub(crate) mod guardian;
pub(crate) mod pgroup;
pub(crate) mod pipe;
pub(crate) mod prep;
pub(crate) mod pty;
pub(crate) mod shortage;
pub(crate) mod spawn_std;
pub(crate) mod stats;
#[cfg(any(not(target_os = "linux"), test))]
pub(crate) mod waitchild;

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
#[cfg(target_os = "linux")]
use std::sync::OnceLock;

use crate::sys::error::Error;
use crate::sys::io::{ReadPipe, WritePipe};
use crate::sys::mechanism::Mechanism;
use crate::sys::request::{Request, SpawnRequest, StdioKind};

#[cfg(target_os = "linux")]
use crate::sys::linux::cgroup::{self, Cg, Retire};
#[cfg(target_os = "linux")]
use crate::sys::linux::subreaper::{self, SrContainer};

pub(crate) use pgroup::{Leader, PgContainer};

/// A freshly spawned child, with this platform's handle types.
pub(crate) type Spawned = crate::sys::request::Spawned<Child, Member, pty::PtyMaster>;

/// A direct child (or, on the subreaper mechanism, a helper's child).
#[cfg(target_os = "linux")]
pub(crate) type Child = crate::sys::linux::subreaper::Child;
/// A direct child.
#[cfg(not(target_os = "linux"))]
pub(crate) type Child = waitchild::WaitChild;

/// The strongest mechanism this host offers, and why a weaker one is used
/// when that is the case. Never spawns anything.
pub(crate) fn host_mechanism() -> (Mechanism, Option<String>) {
    #[cfg(target_os = "linux")]
    {
        // Strongest first: a writable cgroup v2, then subreaper helpers,
        // then plain process groups.
        match cgroup::host() {
            Ok(_) => (Mechanism::CgroupV2, None),
            Err(reason) => match subreaper::available() {
                Ok(()) => (Mechanism::Subreaper, Some(reason.into_owned())),
                Err(why) => (
                    Mechanism::ProcessGroup,
                    Some(format!("{reason}; no subreaper helper either: {why}")),
                ),
            },
        }
    }
    #[cfg(target_os = "freebsd")]
    {
        match crate::sys::freebsd::reaper::available() {
            Ok(()) => (Mechanism::Reaper, None),
            Err(why) => (
                Mechanism::ProcessGroup,
                Some(format!("this process cannot be a reaper: {why}")),
            ),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
    {
        (Mechanism::ProcessGroup, None)
    }
}

#[cfg(any(target_os = "linux", target_os = "freebsd"))]
fn report_fallback(reason: &str) {
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        crate::sys::trace::fallback(reason);
    });
}

/// A kill-on-drop container for a process tree.
pub(crate) enum Container {
    /// A cgroup v2 directory.
    #[cfg(target_os = "linux")]
    Cgroup(CgContainer),
    /// A set of POSIX process groups.
    Pgroup(PgContainer),
    /// One child-subreaper helper per child.
    #[cfg(target_os = "linux")]
    Subreaper(SrContainer),
}

/// A cgroup-backed container.
#[cfg(target_os = "linux")]
pub(crate) struct CgContainer {
    cg: Cg,
    /// One-shot: the container *is* the child's leaf and goes back to the pool.
    one_shot: bool,
    has_kill: bool,
    /// Suspended through `freeze(true)`: a child created inside would
    /// freeze before it could `exec`, and the vfork-style parent with it.
    frozen: std::sync::atomic::AtomicBool,
    /// Spawns hold it shared, a freeze holds it exclusively: a freeze waits
    /// for spawns under way, and a spawn never starts while a freeze is
    /// under way (it sees `frozen` set once the lock is free).
    gate: std::sync::RwLock<()>,
}

#[cfg(target_os = "linux")]
impl CgContainer {
    /// Holds off freezes for as long as the guard lives, or refuses a spawn
    /// into a suspended group.
    fn refuse_if_frozen(&self, name: &str) -> Result<std::sync::RwLockReadGuard<'_, ()>, Error> {
        let guard = self.gate.read().unwrap_or_else(|p| p.into_inner());
        if self.frozen.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::unsupported(
                name,
                "starting a process in a suspended group",
                "a child created in a frozen cgroup would freeze before it could exec; \
                 call resume() first",
            ));
        }
        Ok(guard)
    }
}

/// Where one child lives inside its container.
pub(crate) enum Member {
    /// The child's own cgroup leaf.
    #[cfg(target_os = "linux")]
    Cgroup {
        leaf: Cg,
        /// A per-child sub-leaf of a group (removed when done and empty).
        owned: bool,
        has_kill: bool,
        /// The leaf's counters at spawn time (a one-shot leaf may be reused).
        base: crate::sys::linux::stats::Baseline,
    },
    /// The child leads its own process group.
    Pgroup(std::sync::Arc<Leader>),
    /// The child's helper (its tree is the helper's).
    #[cfg(target_os = "linux")]
    Subreaper(std::sync::Arc<subreaper::Helper>),
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
        // The guardian starts with the first container, before any child.
        guardian::ensure_started();
        match request.resolve() {
            Request::Exactly(Mechanism::ProcessGroup) => Ok(Container::Pgroup(PgContainer::new())),
            #[cfg(target_os = "linux")]
            Request::Exactly(Mechanism::CgroupV2) => {
                let host = cgroup::host().map_err(|reason| {
                    Error::unsupported("process group", "the cgroup v2 mechanism", reason)
                })?;
                Self::cgroup(host, one_shot)
            }
            #[cfg(target_os = "linux")]
            Request::Exactly(Mechanism::Subreaper) => {
                subreaper::available().map_err(|reason| {
                    Error::unsupported("process group", "the subreaper mechanism", reason)
                })?;
                Ok(Container::Subreaper(SrContainer::new()))
            }
            #[cfg(target_os = "freebsd")]
            Request::Exactly(Mechanism::Reaper) => {
                crate::sys::freebsd::reaper::acquire().map_err(|reason| {
                    Error::unsupported("process group", "the reaper mechanism", reason)
                })?;
                Ok(Container::Pgroup(PgContainer::with_reaper()))
            }
            Request::Exactly(other) => Err(Error::unsupported(
                "process group",
                &format!("the {other:?} mechanism"),
                "this platform does not offer it",
            )),
            Request::Best => {
                #[cfg(target_os = "linux")]
                match cgroup::host() {
                    Ok(host) => return Self::cgroup(host, one_shot),
                    Err(reason) => report_fallback(&reason),
                }
                #[cfg(target_os = "linux")]
                if subreaper::available().is_ok() {
                    return Ok(Container::Subreaper(SrContainer::new()));
                }
                #[cfg(target_os = "freebsd")]
                match crate::sys::freebsd::reaper::acquire() {
                    Ok(()) => return Ok(Container::Pgroup(PgContainer::with_reaper())),
                    Err(reason) => report_fallback(&reason),
                }
                Ok(Container::Pgroup(PgContainer::new()))
            }
        }
    }

    #[cfg(target_os = "linux")]
    fn cgroup(host: &cgroup::Host, one_shot: bool) -> Result<Container, Error> {
        let cg = if one_shot {
            cgroup::take_leaf(host)
        } else {
            Cg::create_under(&host.root, "g")
        };
        let cg = cg.map_err(|e| Error::io("process group", "creating a cgroup", e))?;
        stats::prepare_cgroup(host, &cg, one_shot);
        Ok(Container::Cgroup(CgContainer {
            cg,
            one_shot,
            has_kill: host.has_kill,
            frozen: std::sync::atomic::AtomicBool::new(false),
            gate: std::sync::RwLock::new(()),
        }))
    }

    /// The mechanism in use.
    pub(crate) fn mechanism(&self) -> Mechanism {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(_) => Mechanism::CgroupV2,
            Container::Pgroup(pg) => pg.mechanism(),
            #[cfg(target_os = "linux")]
            Container::Subreaper(_) => Mechanism::Subreaper,
        }
    }

    /// Starts one child inside this container.
    pub(crate) fn spawn(&self, req: SpawnRequest<'_>) -> Result<Spawned, Error> {
        // A guardian that exited, was stopped or stopped reading is
        // replaced before the child starts (a look that never waits).
        guardian::ensure_started();
        let plan = prep::plan(&req)?;
        let cwd = req.cwd.map(|p| p.to_owned());
        self.spawn_planned(&plan, req)
            .map_err(|e| explain_exec_failure(e, &plan, cwd.as_deref()))
    }

    fn spawn_planned(
        &self,
        plan: &prep::ExecPlan,
        mut req: SpawnRequest<'_>,
    ) -> Result<Spawned, Error> {
        let name = req.display_name;
        let mut stdio = Stdio::default();
        if let Some((cols, rows)) = req.pty {
            stdio.prepare_pty(name, cols, rows)?;
        } else {
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

        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(c) => {
                let _no_freeze = c.refuse_if_frozen(name)?;
                let (leaf, owned) = if c.one_shot {
                    (c.cg.clone(), false)
                } else {
                    let leaf = Cg::create_under(&c.cg.path, "c")
                        .map_err(|e| Error::io(name, "creating the child's cgroup", e))?;
                    (leaf, true)
                };
                let base = if owned {
                    crate::sys::linux::stats::Baseline::FRESH
                } else {
                    crate::sys::linux::stats::Baseline::read(&leaf)
                };
                let result = (|| {
                    let mode = pg_mode(&req, crate::sys::linux::spawn::PgMode::Inherit);
                    if owned {
                        // A group member's own leaf: opened for this spawn
                        // only, so a live member holds no descriptor.
                        let dir = leaf
                            .dir_fd()
                            .map_err(|e| Error::io(name, "opening the cgroup", e))?;
                        spawn_linux(plan, &req, &stdio, dir.as_raw_fd(), mode, false)
                    } else {
                        // A one-shot leaf, reused through the pool: its
                        // directory fd stays open with it.
                        let dir = leaf
                            .kept_dir_fd()
                            .map_err(|e| Error::io(name, "opening the cgroup", e))?;
                        spawn_linux(plan, &req, &stdio, dir.as_raw_fd(), mode, false)
                    }
                })();
                match result {
                    Ok(child) => {
                        let member = Member::Cgroup {
                            leaf,
                            owned,
                            has_kill: c.has_kill,
                            base,
                        };
                        Ok(stdio.finish(child, member))
                    }
                    Err(e) => {
                        if owned {
                            let _ = leaf.remove_tree();
                        }
                        Err(e)
                    }
                }
            }
            Container::Pgroup(pg) => {
                #[cfg(target_os = "linux")]
                let child = {
                    let mode = pg_mode(&req, crate::sys::linux::spawn::PgMode::NewGroup);
                    spawn_linux(plan, &req, &stdio, -1, mode, true)?
                };
                #[cfg(not(target_os = "linux"))]
                let child = spawn_std::spawn(plan, &req, &stdio.child_fds(), -1, true, true)?;
                let leader = pg.track(child.id());
                // Signals to the leader alone go through its group, which
                // refuses them once the leader may have been reaped.
                #[cfg(not(target_os = "linux"))]
                let child = child.with_leader(leader.clone());
                Ok(stdio.finish(child, Member::Pgroup(leader)))
            }
            #[cfg(target_os = "linux")]
            Container::Subreaper(sr) => {
                let (child, helper) = sr.spawn(plan, &req, stdio.child_fds())?;
                Ok(stdio.finish(child, Member::Subreaper(helper)))
            }
        }
    }

    /// Hard-kills the whole tree.
    pub(crate) fn kill_all(&self) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(c) => {
                if c.cg.populated().unwrap_or(true) {
                    c.cg.kill(c.has_kill)?;
                }
                // A killed group stays usable: thaw it if it was suspended.
                if c.frozen.load(std::sync::atomic::Ordering::SeqCst) {
                    let _no_spawns = c.gate.write().unwrap_or_else(|p| p.into_inner());
                    c.cg.set_frozen(false)?;
                    c.frozen.store(false, std::sync::atomic::Ordering::SeqCst);
                }
                Ok(())
            }
            Container::Pgroup(pg) => pg.signal_all(libc::SIGKILL),
            #[cfg(target_os = "linux")]
            Container::Subreaper(sr) => sr.kill_all(),
        }
    }

    /// Sends `sig` to every member (every process on a cgroup, every tracked
    /// group on process groups). `SIGKILL` takes the hard-kill path.
    pub(crate) fn signal_all(&self, sig: i32) -> io::Result<()> {
        if sig == libc::SIGKILL {
            return self.kill_all();
        }
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(c) => c.cg.signal_each(true, sig),
            Container::Pgroup(pg) => pg.signal_all(sig),
            #[cfg(target_os = "linux")]
            Container::Subreaper(sr) => sr.signal_all(sig),
        }
    }

    /// Freezes (`true`) or thaws the whole tree.
    #[cfg_attr(not(feature = "process-control"), allow(dead_code))]
    pub(crate) fn freeze(&self, frozen: bool) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(c) => {
                let _no_spawns = c.gate.write().unwrap_or_else(|p| p.into_inner());
                // Set first: a spawn waiting for the gate must see it.
                if frozen {
                    c.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                let r = c.cg.set_frozen(frozen);
                if !frozen || r.is_err() {
                    c.frozen.store(
                        frozen && c.cg.read("cgroup.freeze").is_ok_and(|v| v.trim() == "1"),
                        std::sync::atomic::Ordering::SeqCst,
                    );
                }
                r
            }
            Container::Pgroup(pg) => {
                pg.signal_all(if frozen { libc::SIGSTOP } else { libc::SIGCONT })
            }
            #[cfg(target_os = "linux")]
            Container::Subreaper(sr) => {
                sr.signal_all(if frozen { libc::SIGSTOP } else { libc::SIGCONT })
            }
        }
    }

    /// Live member pids: the whole tree on a cgroup, the group leaders on
    /// process groups.
    #[cfg_attr(not(feature = "process-control"), allow(dead_code))]
    pub(crate) fn members(&self) -> io::Result<Vec<u32>> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(c) => {
                let mut pids = c.cg.pids(true)?;
                pids.sort_unstable();
                pids.dedup();
                Ok(pids)
            }
            Container::Pgroup(pg) => Ok(pg.members()),
            #[cfg(target_os = "linux")]
            Container::Subreaper(sr) => Ok(sr.members()),
        }
    }

    /// `true` once no process is left in the container.
    pub(crate) fn is_empty(&self) -> io::Result<bool> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(c) => Ok(!c.cg.populated()?),
            Container::Pgroup(pg) => Ok(pg.is_empty()),
            #[cfg(target_os = "linux")]
            Container::Subreaper(sr) => Ok(sr.is_empty()),
        }
    }

    /// Moves an existing process (and, on a cgroup, only it: its existing
    /// children stay where they are) into the container.
    #[cfg_attr(not(feature = "process-control"), allow(dead_code))]
    pub(crate) fn adopt(&self, pid: u32) -> Result<(), Error> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(c) => {
                let leaf = Cg::create_under(&c.cg.path, "a")
                    .map_err(|e| Error::io("process group", "creating a cgroup for adoption", e))?;
                let path = leaf.path.join("cgroup.procs");
                std::fs::write(&path, pid.to_string()).map_err(|e| {
                    let _ = leaf.remove_tree();
                    Error::io(
                        "process group",
                        format!("moving pid {pid} into {}", path.display()),
                        e,
                    )
                })?;
                // The adopted process's leaf goes once it is empty.
                cgroup::remove_when_empty(leaf);
                Ok(())
            }
            #[cfg(target_os = "linux")]
            Container::Subreaper(_) => Err(Error::unsupported(
                "process group",
                &format!("adopting pid {pid}"),
                "a running process cannot be moved below a subreaper helper; use the cgroup \
                 mechanism",
            )),
            Container::Pgroup(_) => Err(Error::unsupported(
                "process group",
                &format!("adopting pid {pid}"),
                "a running process cannot be moved into another process group unless it is a \
                 child of the caller that has not yet called exec; use the cgroup mechanism",
            )),
        }
    }

    /// The raw escape hatch: spawns a tokio command inside the container.
    pub(crate) fn spawn_raw(
        &self,
        cmd: &mut tokio::process::Command,
    ) -> Result<tokio::process::Child, Error> {
        let name = cmd.as_std().get_program().to_string_lossy().into_owned();
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(c) => {
                let _no_freeze = c.refuse_if_frozen(&name)?;
                let leaf = Cg::create_under(&c.cg.path, "x")
                    .map_err(|e| Error::io(&name, "creating the child's cgroup", e))?;
                use std::os::unix::ffi::OsStrExt;
                let procs =
                    std::ffi::CString::new(leaf.path.join("cgroup.procs").as_os_str().as_bytes())
                        .map_err(|_| Error::invalid(&name, "the cgroup path contains a NUL byte"))?;
                // SAFETY: the hook runs in the forked child and only makes
                // async-signal-safe calls (open, write, close) on a C string
                // it owns. std keeps every hook of a command: if the same
                // command is spawned again, the later hook (this group's
                // newest leaf) is the one whose write takes effect last.
                unsafe {
                    cmd.pre_exec(move || {
                        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                        if fd < 0 {
                            return Err(io::Error::last_os_error());
                        }
                        let wrote = libc::write(fd, b"0".as_ptr().cast(), 1);
                        let err = io::Error::last_os_error();
                        libc::close(fd);
                        if wrote != 1 {
                            return Err(err);
                        }
                        Ok(())
                    });
                }
                let r = cmd.spawn().map_err(|e| Error::from_spawn(&name, None, e));
                match &r {
                    // The child joined the leaf before `exec`: the leaf goes
                    // once the child and its descendants are gone.
                    Ok(_) => cgroup::remove_when_empty(leaf),
                    Err(_) => {
                        let _ = leaf.remove_tree();
                    }
                }
                r
            }
            #[cfg(target_os = "linux")]
            Container::Subreaper(sr) => {
                // tokio must be the child's parent to reap it, so it cannot
                // live below a helper: it gets its own process group.
                cmd.process_group(0);
                let child = cmd.spawn().map_err(|e| Error::from_spawn(&name, None, e))?;
                if let Some(pid) = child.id() {
                    sr.raw.track_raw(pid);
                }
                Ok(child)
            }
            Container::Pgroup(pg) => {
                cmd.process_group(0);
                let child = {
                    #[cfg(not(target_os = "linux"))]
                    let _no_new_fds = fd_creation_pause();
                    cmd.spawn()
                }
                .map_err(|e| Error::from_spawn(&name, None, e))?;
                if let Some(pid) = child.id() {
                    pg.track_raw(pid);
                }
                Ok(child)
            }
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(c) => {
                let populated = c.cg.populated().unwrap_or(true);
                if populated {
                    let _ = c.cg.kill(c.has_kill);
                }
                if c.one_shot {
                    cgroup::retire(c.cg.clone(), Retire::Pool);
                } else {
                    cgroup::retire(c.cg.clone(), Retire::Remove);
                }
            }
            Container::Pgroup(pg) => pg.teardown(),
            #[cfg(target_os = "linux")]
            Container::Subreaper(sr) => sr.teardown(),
        }
    }
}

impl Member {
    /// Hard-kills this child's own subtree (not its siblings in a group).
    pub(crate) fn kill_tree(&self) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Member::Cgroup { leaf, has_kill, .. } => {
                if leaf.populated().unwrap_or(true) {
                    leaf.kill(*has_kill)
                } else {
                    Ok(())
                }
            }
            Member::Pgroup(leader) => leader.signal(libc::SIGKILL),
            #[cfg(target_os = "linux")]
            Member::Subreaper(helper) => {
                helper.kill_tree();
                Ok(())
            }
        }
    }

    /// Sends `sig` to this child's subtree.
    pub(crate) fn signal_tree(&self, sig: i32) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Member::Cgroup { leaf, has_kill, .. } => {
                if sig == libc::SIGKILL {
                    return leaf.kill(*has_kill);
                }
                leaf.signal_each(false, sig)
            }
            Member::Pgroup(leader) => leader.signal(sig),
            #[cfg(target_os = "linux")]
            Member::Subreaper(helper) => {
                helper.signal_tree(sig);
                Ok(())
            }
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        // A group's per-child leaf goes once it is empty: now, or (a killed
        // tree still dying, a detached child still running) when the reaper
        // thread sees it empty.
        #[cfg(target_os = "linux")]
        if let Member::Cgroup {
            leaf, owned: true, ..
        } = self
        {
            if leaf.populated().unwrap_or(true) {
                cgroup::remove_when_empty(leaf.clone());
            } else {
                let _ = leaf.remove_tree();
            }
        }
    }
}

/// How the child relates to sessions: a `pty` run leads a new session
/// with its terminal as the controlling one, a `setsid` run leads a new
/// session, anything else gets `otherwise`.
#[cfg(target_os = "linux")]
fn pg_mode(
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

/// The three standard streams while a spawn is being set up.
#[derive(Default)]
pub(crate) struct Stdio {
    /// What the child gets as fd 0, 1, 2 (`None`: the parent's own).
    child: [Option<OwnedFd>; 3],
    /// The parent's ends of piped streams.
    parent: [Option<OwnedFd>; 3],
    /// A `pty` run: the master, and the two streams over it that become
    /// the handle's input and (merged) output.
    pty: Option<(pty::PtyMaster, pty::PtyStream, pty::PtyStream)>,
}

impl Stdio {
    /// A new terminal: its slave becomes the child's fds 0, 1 and 2.
    fn prepare_pty(&mut self, program: &str, cols: u16, rows: u16) -> Result<(), Error> {
        let io_err = |e: io::Error| Error::io(program, "opening a pseudo-terminal", e);
        let pair = pty::open(cols, rows).map_err(io_err)?;
        let master = pty::PtyMaster::new(pair.master);
        let input = master.stream().map_err(io_err)?;
        let output = master.stream().map_err(io_err)?;
        self.child[1] = Some(pair.slave.try_clone().map_err(io_err)?);
        self.child[2] = Some(pair.slave.try_clone().map_err(io_err)?);
        self.child[0] = Some(pair.slave);
        self.pty = Some((master, input, output));
        Ok(())
    }

    fn prepare(&mut self, program: &str, index: usize, kind: StdioKind) -> Result<(), Error> {
        match kind {
            StdioKind::Inherit => {}
            StdioKind::Null => {
                let mode = if index == 0 {
                    rustix::fs::OFlags::RDONLY
                } else {
                    rustix::fs::OFlags::WRONLY
                };
                let fd = rustix::fs::open(
                    "/dev/null",
                    mode | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
                .map_err(|e| Error::io(program, "opening /dev/null", e.into()))?;
                self.child[index] = Some(fd);
            }
            StdioKind::Piped => {
                let (r, w) =
                    cloexec_pipe().map_err(|e| Error::io(program, "creating a pipe", e))?;
                let (mine, theirs) = if index == 0 { (w, r) } else { (r, w) };
                self.child[index] = Some(theirs);
                self.parent[index] = Some(mine);
            }
            StdioKind::Io(fd) => self.child[index] = Some(fd),
            StdioKind::Stdout => {
                // The same open file description as the child's stdout, so
                // the two streams share one pipe (or one file offset) and
                // keep the order they were written in.
                let dup = match &self.child[1] {
                    Some(fd) => fd.try_clone(),
                    None => std::io::stdout().as_fd().try_clone_to_owned(),
                };
                self.child[index] =
                    Some(dup.map_err(|e| Error::io(program, "duplicating stdout for stderr", e))?);
            }
        }
        Ok(())
    }

    fn child_fds(&self) -> [RawFd; 3] {
        let mut out = [-1; 3];
        for (i, fd) in self.child.iter().enumerate() {
            if let Some(fd) = fd {
                out[i] = fd.as_raw_fd();
            }
        }
        out
    }

    /// Closes the child's ends and wraps the parent's ends for tokio.
    fn finish(mut self, child: Child, member: Member) -> Spawned {
        self.child = [None, None, None];
        let stdin: Option<WritePipe> = self.parent[0].take().and_then(|fd| {
            set_nonblocking(&fd);
            tokio::net::unix::pipe::Sender::from_owned_fd_unchecked(fd)
                .ok()
                .map(|p| Box::new(p) as WritePipe)
        });
        let wrap = |fd: Option<OwnedFd>| -> Option<ReadPipe> {
            fd.and_then(|fd| {
                set_nonblocking(&fd);
                tokio::net::unix::pipe::Receiver::from_owned_fd_unchecked(fd)
                    .ok()
                    .map(|p| Box::new(pipe::PipeReader::new(p)) as ReadPipe)
            })
        };
        let stdout = wrap(self.parent[1].take());
        let stderr = wrap(self.parent[2].take());
        if let Some((master, input, output)) = self.pty.take() {
            return Spawned {
                child,
                member,
                stdin: Some(Box::new(input)),
                stdout: Some(Box::new(output)),
                stderr: None,
                terminal: Some(master),
            };
        }
        Spawned {
            child,
            member,
            stdin,
            stdout,
            stderr,
            terminal: None,
        }
    }
}

/// A pipe whose both ends are close-on-exec.
pub(crate) fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    #[cfg(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))]
    {
        Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    )))]
    {
        // No pipe2 here: the flag is set right after creation. Our own
        // spawns wait for that (see `fd_creation_pause`); a spawn made
        // elsewhere in the process (std or tokio directly) can still catch
        // the pipe in between, which is the same window std's own pipes have
        // on these targets.
        let _making = FD_CREATION.read().unwrap_or_else(|p| p.into_inner());
        let (r, w) = rustix::pipe::pipe()?;
        for fd in [&r, &w] {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC)?;
        }
        Ok((r, w))
    }
}

/// Held for reading while a pipe exists but is not close-on-exec yet
/// (targets without `pipe2`), and for writing while this crate creates a
/// child there.
#[cfg(not(target_os = "linux"))]
static FD_CREATION: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Keeps new pipes from being half-made while a child is created, so that
/// no child of this crate inherits another spawn's pipe end (which would
/// hold that child's stdin, or its output pipe, open past its exit). On
/// targets with `pipe2` every pipe is close-on-exec from the start and
/// nothing is held.
#[cfg(not(target_os = "linux"))]
pub(crate) fn fd_creation_pause() -> Option<std::sync::RwLockWriteGuard<'static, ()>> {
    let needed = !cfg!(any(
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ));
    needed.then(|| FD_CREATION.write().unwrap_or_else(|p| p.into_inner()))
}

/// Puts the parent's end of a pipe into non-blocking mode (one `ioctl`
/// instead of a `fcntl` read-modify-write pair).
fn set_nonblocking(fd: &OwnedFd) {
    if rustix::io::ioctl_fionbio(fd, true).is_err()
        && let Ok(flags) = rustix::fs::fcntl_getfl(fd)
    {
        let _ = rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK);
    }
}

/// Which spawner Linux uses, decided once.
#[cfg(target_os = "linux")]
static CLONE_REFUSED: OnceLock<String> = OnceLock::new();

/// Which Linux spawner `PROCESSKIT_SPAWNER` asks for (read once): `std`
/// (std::process with a `pre_exec` hook) or `clone` (the vfork-style clone
/// joining the cgroup through `cgroup.procs`, without `clone3`). Both are
/// the fallbacks of the default and exist so they can be tested on any host.
#[cfg(target_os = "linux")]
pub(crate) fn forced_spawner() -> Option<&'static str> {
    static FORCED: OnceLock<Option<String>> = OnceLock::new();
    FORCED
        .get_or_init(|| {
            std::env::var("PROCESSKIT_SPAWNER")
                .ok()
                .filter(|v| v == "std" || v == "clone")
        })
        .as_deref()
}

/// The spawner in use on this host, for reporting.
pub(crate) fn spawner_name() -> &'static str {
    #[cfg(target_os = "linux")]
    {
        let mechanism = match Request::Best.resolve() {
            Request::Exactly(m) => m,
            Request::Best => host_mechanism().0,
        };
        if mechanism == Mechanism::Subreaper {
            // The helper, not the host, starts the child (never into a cgroup).
            "clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD), from a subreaper helper"
        } else if CLONE_REFUSED.get().is_some() || forced_spawner() == Some("std") {
            "std::process (fork + pre_exec)"
        } else if crate::sys::linux::spawn::clone3_in_use() {
            "clone3(CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP)"
        } else {
            "clone(CLONE_VM | CLONE_VFORK) + cgroup.procs"
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        "std::process (posix_spawn)"
    }
}

/// The error for a spawn knob the child could not apply: a permission
/// problem as [`Error::PermissionDenied`], anything else as
/// [`Error::Spawn`], both saying which setting failed.
#[cfg(target_os = "linux")]
pub(crate) fn knob_error(name: &str, what: &str, e: io::Error) -> Error {
    let source = io::Error::new(e.kind(), format!("{what}: {e}"));
    if e.kind() == io::ErrorKind::PermissionDenied {
        Error::PermissionDenied {
            program: name.to_owned(),
            source,
        }
    } else {
        Error::Spawn {
            program: name.to_owned(),
            source,
        }
    }
}

#[cfg(target_os = "linux")]
fn spawn_linux(
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

/// The typed error for a child-side setup step that failed (from the
/// spawner, or reported by a subreaper helper).
#[cfg(target_os = "linux")]
pub(crate) fn child_failure(
    req: &SpawnRequest<'_>,
    stage: crate::sys::linux::spawn::Stage,
    e: io::Error,
) -> Error {
    use crate::sys::linux::spawn::Stage;
    let name = req.display_name;
    match stage {
        Stage::Exec => Error::from_spawn(name, None, e),
        Stage::Chdir => Error::BadDirectory {
            program: name.to_owned(),
            dir: req.cwd.map(|p| p.to_owned()).unwrap_or_default(),
            source: e,
        },
        Stage::Uid | Stage::Gid | Stage::Groups => Error::PermissionDenied {
            program: name.to_owned(),
            source: io::Error::new(e.kind(), format!("dropping privileges: {e}")),
        },
        Stage::Cgroup => Error::Spawn {
            program: name.to_owned(),
            source: io::Error::new(e.kind(), format!("joining the cgroup: {e}")),
        },
        Stage::Rlimit => knob_error(name, "setting a resource limit", e),
        Stage::Priority => knob_error(name, "setting the priority", e),
        Stage::Affinity => knob_error(name, "setting the CPU affinity", e),
        Stage::IoPriority => knob_error(name, "setting the I/O priority", e),
        other => Error::Spawn {
            program: name.to_owned(),
            source: io::Error::new(e.kind(), format!("child setup ({other:?}): {e}")),
        },
    }
}

#[cfg(target_os = "linux")]
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

/// Starts a process outside every container (see
/// [`Command::spawn_detached`](crate::Command::spawn_detached)). Stdio must
/// not be [`StdioKind::Piped`]: nobody would read the pipe.
pub(crate) fn spawn_detached(req: SpawnRequest<'_>) -> Result<u32, Error> {
    let plan = prep::plan(&req)?;
    let cwd = req.cwd.map(|p| p.to_owned());
    spawn_detached_planned(&plan, req).map_err(|e| explain_exec_failure(e, &plan, cwd.as_deref()))
}

fn spawn_detached_planned(plan: &prep::ExecPlan, mut req: SpawnRequest<'_>) -> Result<u32, Error> {
    let name = req.display_name;
    let mut stdio = Stdio::default();
    for (i, slot) in [&mut req.stdin, &mut req.stdout, &mut req.stderr]
        .into_iter()
        .enumerate()
    {
        stdio.prepare(name, i, std::mem::replace(slot, StdioKind::Inherit))?;
    }
    spawn_std::spawn_detached(plan, &req, &stdio.child_fds())
}

/// The typed error for a process that could not be created at all (`clone`
/// refused for want of processes or memory, no fd for its pidfd), saying
/// which limit is the likely cause.
pub(crate) fn creation_failure(name: &str, e: io::Error) -> Error {
    let why = match e.raw_os_error() {
        Some(libc::EAGAIN) => {
            "; the limit on processes or threads is reached (RLIMIT_NPROC, a cgroup's \
             pids.max, or kernel.threads-max)"
        }
        Some(libc::ENOMEM) => "; the system is out of memory",
        Some(libc::EMFILE | libc::ENFILE) => "; no file descriptor is free",
        _ => "",
    };
    Error::Spawn {
        program: name.to_owned(),
        source: io::Error::new(e.kind(), format!("creating the process: {e}{why}")),
    }
}

/// `execve` said `ENOENT`, yet the file it was given exists: what is
/// missing is what the file needs to run (the interpreter its `#!` line
/// names, or the loader of a dynamically linked program). Says so instead
/// of "program not found".
pub(crate) fn explain_exec_failure(
    err: Error,
    plan: &prep::ExecPlan,
    cwd: Option<&std::path::Path>,
) -> Error {
    use std::os::unix::ffi::OsStrExt;
    let Error::NotFound {
        program,
        searched: None,
    } = &err
    else {
        return err;
    };
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(plan.program.as_bytes()));
    let seen = match cwd {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_owned(),
    };
    if !seen.is_file() {
        return err;
    }
    let what = match interpreter_of(&seen) {
        Some(interp) => format!(
            "{} exists, but the interpreter its #! line names ({interp}) was not found",
            path.display()
        ),
        None => format!(
            "{} exists, but something it needs to run (its program loader, the ELF \
             interpreter) was not found",
            path.display()
        ),
    };
    Error::Spawn {
        program: program.clone(),
        source: io::Error::new(io::ErrorKind::NotFound, what),
    }
}

/// The interpreter named on a script's `#!` line.
fn interpreter_of(path: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|&b| b == b'\n').next()?;
    let text = String::from_utf8_lossy(line);
    text.split_whitespace().next().map(str::to_owned)
}

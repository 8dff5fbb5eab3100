//! The Unix side: process-group containers everywhere, cgroup containers on
//! Linux, and the glue that picks a spawner.

pub(crate) mod failure;
pub(crate) mod fds;
pub(crate) mod guardian;
#[cfg(target_os = "linux")]
pub(crate) mod launch;
pub(crate) mod pgroup;
pub(crate) mod pipe;
pub(crate) mod prep;
pub(crate) mod pty;
pub(crate) mod shortage;
pub(crate) mod spawn_std;
pub(crate) mod spawner;
pub(crate) mod stats;
pub(crate) mod stdio;
#[cfg(any(not(target_os = "linux"), test))]
pub(crate) mod waitchild;

use std::io;
#[cfg(target_os = "linux")]
use std::os::fd::AsRawFd;

use crate::sys::error::Error;
use crate::sys::mechanism::Mechanism;
use crate::sys::request::{Request, SpawnRequest, StdioKind};
use crate::sys::unix::failure::explain_exec_failure;
#[cfg(target_os = "linux")]
use crate::sys::unix::launch::{pg_mode, spawn_linux};
#[cfg(target_os = "linux")]
use crate::sys::unix::spawner::{CLONE_REFUSED, forced_spawner};
use crate::sys::unix::stdio::Stdio;

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
        match cgroup_host() {
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

/// The cgroup host root (created on first use, see [`cgroup::host`]),
/// registered with the guardian the first time it is seen. The façade, not
/// the backend, registers it: every use of the root goes through here, so it
/// is registered before any child can be placed under it.
#[cfg(target_os = "linux")]
pub(crate) fn cgroup_host() -> Result<&'static cgroup::Host, std::borrow::Cow<'static, str>> {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    let host = cgroup::host()?;
    REGISTERED.call_once(|| guardian::register_cgroup(&host.root));
    Ok(host)
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
                let host = cgroup_host().map_err(|reason| {
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
                match cgroup_host() {
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
        crate::sys::linux::stats::enable_accounting(
            &host.root,
            (!one_shot).then_some(cg.path.as_path()),
        );
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
                    let _no_new_fds = fds::fd_creation_pause();
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

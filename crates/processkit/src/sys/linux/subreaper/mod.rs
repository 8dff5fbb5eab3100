//! The child-subreaper backend: containment of `setsid` and double-forked
//! descendants without any privilege, for hosts where no writable cgroup
//! exists (a non-root user, a container with a read-only cgroupfs).
//!
//! # Shape
//!
//! Every child gets its own small helper process, which is the child's real
//! parent and a *child subreaper* (`PR_SET_CHILD_SUBREAPER`): a descendant
//! whose parent exits (a double fork, a daemon, `setsid sh -c '… &'`) is
//! re-parented to the helper instead of to init. So the whole tree stays
//! below the helper whatever sessions or process groups it creates, and
//! `/proc/<pid>/task/<tid>/children` walks it from the helper down.
//!
//! ```text
//! host ──socket──▶ helper (subreaper, the host's child)
//!                    └─ child (the program, the host's grandchild)
//!                         └─ … every descendant, orphans re-parented here
//! ```
//!
//! * **Start.** The host re-executes its own binary (`/proc/self/exe`) with
//!   a marker variable and one end of a socket pair on fd 0. A library
//!   constructor (see `helper.rs`) recognises the marker before `main` and
//!   runs the helper instead; the host program itself never runs. The
//!   helper says hello, receives the spawn request (argv, environment,
//!   working directory, session flag, ids) with the three standard streams
//!   attached as `SCM_RIGHTS`, starts the child with the crate's own
//!   vfork-style spawner and sends back the child's pid with a pidfd for it.
//!   A spawn failure comes back as the failing stage and `errno`, and
//!   becomes the same typed error as on the other mechanisms.
//! * **Signals** to the child alone go through that pidfd: it names the
//!   process even after it exits, so a reused pid is never hit.
//! * **Exit status.** The host cannot `waitpid` a grandchild. The helper
//!   reaps the child (and every orphan that lands on it) and sends the raw
//!   wait status over the socket; the host's handle waits for that message
//!   on tokio's reactor. The helper leaves on its own once the child and
//!   every descendant are gone.
//! * **Whole-tree verbs** (kill, signal, suspend, resume, members, stats)
//!   walk the tree from the helper down in the host (`tree.rs`); every
//!   process is signalled through a pidfd opened and then checked to still
//!   hang below the helper. A kill first stops every process (SIGSTOP, walk
//!   again until nobody new appears: a stopped process cannot fork), then
//!   SIGKILLs each one.
//! * **Teardown and host death.** Dropping the container sends the helper
//!   one byte; end-of-file on the socket (the host died, even by SIGKILL:
//!   the kernel closes its fds) means the same. The helper then stops and
//!   kills its whole tree, reaps it, and exits; the host reaps the helper
//!   from its reaper thread. The child also has `PR_SET_PDEATHSIG` towards
//!   the single-threaded helper, so even a helper killed from outside takes
//!   its direct child along.
//!
//! # Why this design
//!
//! * **Never the host as subreaper.** `PR_SET_CHILD_SUBREAPER` is
//!   process-wide: the host would inherit every orphan of every library in
//!   it, and reaping them takes `waitpid(-1)`, which steals the exit status
//!   of children started with `std::process` or `tokio::process`.
//! * **A fresh exec, not a fork of the host.** A fork of a large,
//!   multi-threaded host copies its page tables and may run only
//!   async-signal-safe code; a helper that lives as long as its child needs
//!   to read sockets and `/proc`. Re-executing the host's own binary costs
//!   one more `execve` per child (measured in `docs/performance.md`) and
//!   ships no extra file: the helper is in every binary that links the
//!   crate. The marker check runs in a constructor, before `main`, so the
//!   program's own startup never runs in the helper.
//! * **One helper per child**, not per container: the helper's subtree *is*
//!   the child's subtree, so a group member's own tree (a pipeline stage,
//!   `kill` on one handle of a group) is exact, as with one cgroup leaf per
//!   child.
//! * **A user + PID namespace** (the namespace's init dies, the kernel kills
//!   everything inside) would need no walk, but unprivileged user
//!   namespaces are refused on many hosts (Ubuntu's AppArmor restriction,
//!   Docker's default seccomp profile, `user.max_user_namespaces=0`), pids
//!   inside differ from the host's, and the init ignores every signal it has
//!   no handler for, so `terminate` would need forwarding. It could only
//!   ever be a probed extra; it is not implemented.
//!
//! # Limits
//!
//! * A helper killed from outside (`kill -9` on the helper itself) loses
//!   the grandchildren it held: they re-parent to init. Its direct child
//!   dies with it (`PR_SET_PDEATHSIG`).
//! * No resource limits (`Error::ResourceLimit`); stats are read from
//!   `/proc` (processes, resident memory, CPU time of the live tree and of
//!   the descendants already reaped).
//! * Children started through the raw tokio escape hatch must be the host's
//!   own children (tokio reaps them): they get their own process group,
//!   as on the process-group mechanism.
//! * FreeBSD's `procctl(PROC_REAP_ACQUIRE)` and `PROC_REAP_KILL` would
//!   allow the same design there; it is not implemented (FreeBSD and macOS
//!   use process groups).
//! * Needs `/proc` with `task/<tid>/children` (`CONFIG_PROC_CHILDREN`),
//!   pidfds (Linux 5.3), and a host binary that can be executed again
//!   through `/proc/self/exe`; the preflight checks all of these.

pub(crate) mod found;
mod helper;
mod tree;
mod wire;

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

use crate::sys::error::Error;
use crate::sys::linux::pidfd::PidfdChild;
use crate::sys::linux::spawn::Stage;
use crate::sys::measure::RawStats;
use crate::sys::reaper;
use crate::sys::request::SpawnRequest;
use crate::sys::status::ExitStatus;
use crate::sys::unix::pgroup::PgContainer;
use crate::sys::unix::prep::ExecPlan;

/// How long a helper may take to start and answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether this host can use the mechanism, and if not, why. Never spawns.
/// A failure for a passing shortage (no free fd for the pidfd probe) is not
/// kept: the next call probes again.
pub(crate) fn available() -> Result<(), std::borrow::Cow<'static, str>> {
    use crate::sys::unix::shortage::{Probe, ProbeError};
    static PROBE: Probe<()> = Probe::new();
    PROBE
        .get(|| {
            probe().map_err(|(why, e)| match e {
                Some(e) => ProbeError::from_io(why, &e),
                None => ProbeError::Final(why),
            })
        })
        .map(|_| ())
}

/// `Err` carries the reason and, when an OS error caused it, that error.
fn probe() -> Result<(), (String, Option<io::Error>)> {
    if !helper::CONSTRUCTOR_RAN.load(Ordering::Relaxed) {
        return Err((
            "the subreaper helper's constructor did not run in this binary".into(),
            None,
        ));
    }
    // SAFETY: access with a NUL-terminated path and a mode constant.
    if unsafe { libc::access(c"/proc/self/exe".as_ptr(), libc::X_OK) } != 0 {
        let e = io::Error::last_os_error();
        return Err(("/proc/self/exe cannot be executed again".into(), Some(e)));
    }
    let mut flag: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes one int through the pointer.
    if unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut flag as *mut libc::c_int) } != 0 {
        let e = io::Error::last_os_error();
        return Err(("PR_SET_CHILD_SUBREAPER is not available".into(), Some(e)));
    }
    let me = std::process::id();
    if !std::path::Path::new(&format!("/proc/{me}/task/{me}/children")).exists() {
        return Err((
            "/proc/<pid>/task/<tid>/children is missing (CONFIG_PROC_CHILDREN)".into(),
            None,
        ));
    }
    let pid = rustix::process::Pid::from_raw(me as i32).ok_or(("no pid".to_owned(), None))?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        .map_err(|e| ("pidfd_open is not available".to_owned(), Some(e.into())))?;
    Ok(())
}

/// A direct child on Linux: the host's own (pidfd) or a helper's
/// (the subreaper mechanism).
pub(crate) enum Child {
    Local(PidfdChild),
    Remote(RemoteChild),
}

impl Child {
    pub(crate) fn new(pid: u32, pidfd: OwnedFd, defer_reap: bool) -> Self {
        Child::Local(PidfdChild::new(pid, pidfd, defer_reap))
    }

    pub(crate) fn id(&self) -> u32 {
        match self {
            Child::Local(c) => c.id(),
            Child::Remote(c) => c.pid,
        }
    }

    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        match self {
            Child::Local(c) => c.poll_wait(cx),
            Child::Remote(c) => c.poll_wait(cx),
        }
    }

    pub(crate) fn signal(&self, sig: i32) -> io::Result<()> {
        match self {
            Child::Local(c) => c.signal(sig),
            Child::Remote(c) => c.signal(sig),
        }
    }
}

/// A child whose parent is a helper: signalled through its pidfd, its exit
/// status read from the helper's socket.
pub(crate) struct RemoteChild {
    pid: u32,
    pidfd: OwnedFd,
    chan: Chan,
    status: Option<ExitStatus>,
    buf: [u8; wire::FRAME],
    have: usize,
}

enum Chan {
    Plain(Arc<OwnedFd>),
    Registered(AsyncFd<Arc<OwnedFd>>),
    Gone,
}

fn to_status(raw: i32) -> ExitStatus {
    if libc::WIFEXITED(raw) {
        ExitStatus::from_code(libc::WEXITSTATUS(raw))
    } else if libc::WIFSIGNALED(raw) {
        ExitStatus::from_signal(libc::WTERMSIG(raw))
    } else {
        ExitStatus::from_signal(libc::SIGKILL)
    }
}

impl RemoteChild {
    fn sock(&self) -> Option<&OwnedFd> {
        match &self.chan {
            Chan::Plain(fd) => Some(fd),
            Chan::Registered(a) => Some(a.get_ref()),
            Chan::Gone => None,
        }
    }

    /// Reads what the helper sent so far. `Ok(true)` once the status is
    /// known, `Ok(false)` when nothing more is there yet.
    fn read_frames(&mut self) -> io::Result<bool> {
        loop {
            if self.status.is_some() {
                return Ok(true);
            }
            let Some(sock) = self.sock() else {
                return Ok(true);
            };
            let fd = sock.as_raw_fd();
            // SAFETY: reads into the unfilled part of our own buffer from a
            // socket we keep open.
            let n = unsafe {
                libc::recv(
                    fd,
                    self.buf[self.have..].as_mut_ptr().cast(),
                    wire::FRAME - self.have,
                    libc::MSG_DONTWAIT,
                )
            };
            if n == 0 {
                // The helper is gone without reporting: it was killed, and
                // its child died with it (PR_SET_PDEATHSIG).
                self.status = Some(ExitStatus::from_signal(libc::SIGKILL));
                return Ok(true);
            }
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => Ok(false),
                    io::ErrorKind::Interrupted => continue,
                    _ => Err(e),
                };
            }
            self.have += n as usize;
            if self.have == wire::FRAME {
                self.have = 0;
                let (tag, a, _) = wire::parse(&self.buf);
                if tag == wire::EXITED {
                    self.status = Some(to_status(a));
                }
            }
        }
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        loop {
            if let Some(s) = self.status {
                return Poll::Ready(Ok(s));
            }
            match self.read_frames() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            if let Chan::Plain(_) = self.chan {
                let Chan::Plain(fd) = std::mem::replace(&mut self.chan, Chan::Gone) else {
                    unreachable!()
                };
                // SAFETY: the `Arc<OwnedFd>` keeps the socket open, and
                // referring to the same socket, for as long as the AsyncFd
                // owns it.
                match unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
                {
                    Ok(a) => self.chan = Chan::Registered(a),
                    Err(e) => return Poll::Ready(Err(e.into())),
                }
                continue;
            }
            let Chan::Registered(a) = &self.chan else {
                return Poll::Ready(Err(io::Error::other("helper socket closed")));
            };
            match a.poll_read_ready(cx) {
                Poll::Ready(Ok(mut guard)) => guard.clear_ready(),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn signal(&self, sig: i32) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        // SAFETY: a valid pidfd borrowed for the call, a null siginfo, no
        // flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) {
            Ok(())
        } else {
            Err(e)
        }
    }
}

/// One helper: the home of one child's tree.
pub(crate) struct Helper {
    pid: u32,
    /// The helper is the host's child: reaped through this pidfd when the
    /// handle goes.
    pidfd: Mutex<Option<OwnedFd>>,
    chan: Arc<OwnedFd>,
    quit_sent: AtomicBool,
}

impl Helper {
    /// Hard-kills the helper's tree (the helper stays, and reaps it).
    pub(crate) fn kill_tree(&self) {
        tree::kill(self.pid);
    }

    /// Sends `sig` to every process of the tree. SIGKILL takes the
    /// stop-then-kill path, SIGSTOP the stop-until-stable one.
    pub(crate) fn signal_tree(&self, sig: i32) {
        match sig {
            libc::SIGKILL => tree::kill(self.pid),
            libc::SIGSTOP => tree::suspend(self.pid),
            _ => tree::signal(self.pid, sig),
        }
    }

    /// Live processes of the tree.
    pub(crate) fn members(&self) -> Vec<u32> {
        tree::live(self.pid)
    }

    /// Asks the helper to kill its tree and leave. Never blocks.
    fn quit(&self) {
        if self.quit_sent.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: a one-byte send from a static buffer on our own socket.
        unsafe {
            libc::send(
                self.chan.as_raw_fd(),
                [wire::QUIT].as_ptr().cast(),
                1,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            );
        }
    }

    /// SIGKILLs the helper itself (through its pidfd).
    fn kill(&self) {
        let guard = self.pidfd.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(fd) = guard.as_ref() {
            // SAFETY: a valid pidfd borrowed for the call, a null siginfo,
            // no flags.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                );
            }
        }
    }

    /// `true` once the helper process has exited.
    fn exited(&self) -> bool {
        let guard = self.pidfd.lock().unwrap_or_else(|p| p.into_inner());
        let Some(fd) = guard.as_ref() else {
            return true;
        };
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    /// Whole-tree measurements from `/proc`.
    pub(crate) fn stats(&self) -> RawStats {
        let pids = tree::descendants(self.pid);
        let mut live = Vec::new();
        let (mut user, mut system) = (0u64, 0u64);
        // The helper's own "waited-for children" times hold every
        // descendant already reaped (each reaped by its parent, and so on).
        if let Some(t) = cpu_ticks(self.pid, true) {
            user += t.0;
            system += t.1;
        }
        for pid in pids {
            if let Some(t) = cpu_ticks(pid, false) {
                user += t.0;
                system += t.1;
            }
            if matches!(tree::stat(pid), Some((s, _, _)) if s != b'Z' && s != b'X') {
                live.push(pid);
            }
        }
        // SAFETY: sysconf has no preconditions.
        let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
            n if n > 0 => n as u64,
            _ => 100,
        };
        let dur = |t: u64| Duration::from_micros(t.saturating_mul(1_000_000) / hz);
        RawStats {
            user_cpu: Some(dur(user)),
            system_cpu: Some(dur(system)),
            memory_current: crate::sys::linux::stats::rss_sum(&live),
            memory_peak: None,
            processes_current: Some(live.len() as u64),
            processes_peak: None,
        }
    }
}

/// (user, system) clock ticks of `pid` from `/proc/<pid>/stat`: with
/// `children_only`, only its reaped children's; otherwise its own plus its
/// reaped children's.
fn cpu_ticks(pid: u32, children_only: bool) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<u64> = rest
        .split_ascii_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let [ut, st, cut, cst] = f[..] else {
        return None;
    };
    if children_only {
        Some((cut, cst))
    } else {
        Some((ut + cut, st + cst))
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.quit();
        if let Some(fd) = self
            .pidfd
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            reaper::submit(reaper::Task::ReapPidfd(fd));
        }
    }
}

/// A container on this mechanism: one helper per child, plus the process
/// groups of children started through the raw tokio escape hatch.
pub(crate) struct SrContainer {
    helpers: Mutex<Vec<Arc<Helper>>>,
    pub(crate) raw: PgContainer,
}

impl SrContainer {
    pub(crate) fn new() -> Self {
        SrContainer {
            helpers: Mutex::new(Vec::new()),
            raw: PgContainer::new(),
        }
    }

    fn helpers(&self) -> Vec<Arc<Helper>> {
        self.helpers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Starts one child below a new helper.
    pub(crate) fn spawn(
        &self,
        plan: &ExecPlan,
        req: &SpawnRequest<'_>,
        stdio: [RawFd; 3],
    ) -> Result<(Child, Arc<Helper>), Error> {
        let (child, helper) = start(plan, req, stdio)?;
        let helper = Arc::new(helper);
        let mut list = self.helpers.lock().unwrap_or_else(|p| p.into_inner());
        // Helpers whose tree is over and whose handle is gone leave the
        // list (and are reaped), so a long-lived group does not collect them.
        list.retain(|h| Arc::strong_count(h) > 1 || !h.exited());
        list.push(helper.clone());
        Ok((Child::Remote(child), helper))
    }

    pub(crate) fn kill_all(&self) -> io::Result<()> {
        let roots: Vec<u32> = self.helpers().iter().map(|h| h.pid).collect();
        tree::kill_many(&roots);
        self.raw.signal_all(libc::SIGKILL)
    }

    pub(crate) fn signal_all(&self, sig: i32) -> io::Result<()> {
        for h in self.helpers() {
            h.signal_tree(sig);
        }
        self.raw.signal_all(sig)
    }

    pub(crate) fn members(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.helpers().iter().flat_map(|h| h.members()).collect();
        pids.extend(self.raw.live_leaders());
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.helpers().iter().all(|h| h.members().is_empty()) && self.raw.is_empty()
    }

    pub(crate) fn stats(&self) -> RawStats {
        let mut total = RawStats {
            user_cpu: Some(Duration::ZERO),
            system_cpu: Some(Duration::ZERO),
            memory_current: Some(0),
            processes_current: Some(0),
            ..RawStats::default()
        };
        for h in self.helpers() {
            let s = h.stats();
            let add = |a: Option<Duration>, b: Option<Duration>| Some(a? + b?);
            total.user_cpu = add(total.user_cpu, s.user_cpu);
            total.system_cpu = add(total.system_cpu, s.system_cpu);
            total.memory_current = match (total.memory_current, s.memory_current) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            total.processes_current =
                Some(total.processes_current.unwrap_or(0) + s.processes_current.unwrap_or(0));
        }
        total
    }

    /// Kills everything: each helper takes its own tree down and exits.
    pub(crate) fn teardown(&self) {
        let helpers = std::mem::take(&mut *self.helpers.lock().unwrap_or_else(|p| p.into_inner()));
        for h in helpers {
            h.quit();
        }
        self.raw.teardown();
    }
}

/// The helper program, prepared once.
fn helper_plan() -> &'static ExecPlan {
    static PLAN: OnceLock<ExecPlan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let exe = c"/proc/self/exe".to_owned();
        // The owner's identity after the marker argument lets `processkit
        // ps` (through `found`) list helpers and judge their owners.
        let me = std::process::id();
        let owner = format!(
            "{me}-{}",
            crate::sys::linux::procfs::start_time(me).unwrap_or(0)
        );
        let argv = vec![
            exe.clone(),
            std::ffi::CString::new(found::ARG).expect("no NUL in the argument"),
            std::ffi::CString::new(owner).expect("no NUL in a number"),
        ];
        let envp = vec![
            std::ffi::CString::new(format!("{}=1", helper::MARKER)).expect("no NUL in the marker"),
        ];
        ExecPlan::from_parts(exe, argv, envp, None, None)
    })
}

fn wait_readable(fd: &OwnedFd, deadline: Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the subreaper helper did not answer",
            ));
        }
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, ms.max(1)) };
        if n > 0 {
            return Ok(());
        }
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// Reads one whole frame (blocking, bounded), with any fds sent with it.
fn read_frame(sock: &OwnedFd, deadline: Instant) -> io::Result<([u8; wire::FRAME], Vec<OwnedFd>)> {
    let mut f = [0u8; wire::FRAME];
    let mut have = 0;
    let mut fds = Vec::new();
    while have < wire::FRAME {
        wait_readable(sock, deadline)?;
        let (n, mut more) = match wire::recv_with_fds(sock.as_fd(), &mut f[have..], true) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        fds.append(&mut more);
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the subreaper helper exited before answering",
            ));
        }
        have += n;
    }
    Ok((f, fds))
}

/// A close-on-exec Unix stream socket pair.
fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: socketpair writes two new fds into the array on success; each
    // is then owned by exactly one `OwnedFd`.
    unsafe {
        if libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        use std::os::fd::FromRawFd;
        Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])))
    }
}

/// The host's own standard stream `i`, or `/dev/null` when it is closed,
/// for a child that inherits it.
fn own_stream(i: RawFd) -> io::Result<Option<OwnedFd>> {
    // SAFETY: F_GETFD only asks whether the fd is open.
    if unsafe { libc::fcntl(i, libc::F_GETFD) } >= 0 {
        return Ok(None);
    }
    let mode = if i == 0 {
        rustix::fs::OFlags::RDONLY
    } else {
        rustix::fs::OFlags::WRONLY
    };
    Ok(Some(rustix::fs::open(
        "/dev/null",
        mode | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?))
}

fn start(
    plan: &ExecPlan,
    req: &SpawnRequest<'_>,
    stdio: [RawFd; 3],
) -> Result<(RemoteChild, Helper), Error> {
    let name = req.display_name;
    let io_err = |what: &str, e: io::Error| Error::io(name, what, e);
    let (mine, theirs) =
        socketpair().map_err(|e| io_err("creating the subreaper helper's socket", e))?;

    // The helper: the host's own binary again, the socket as its stdin.
    let null = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| io_err("opening /dev/null", e.into()))?;
    let setup = crate::sys::linux::spawn::Setup {
        plan: helper_plan(),
        cgroup: -1,
        pgroup: crate::sys::linux::spawn::PgMode::Inherit,
        stdio: [theirs.as_raw_fd(), null.as_raw_fd(), null.as_raw_fd()],
        uid: None,
        gid: None,
        pdeathsig: false,
    };
    let (helper_pid, helper_fd) = match crate::sys::linux::spawn::spawn(&setup) {
        Ok(r) => r,
        // No process could be created (the process limit, no memory): a
        // spawn error of this child, not an I/O error.
        Err(crate::sys::linux::spawn::SpawnFailure::Parent(e)) => {
            return Err(crate::sys::unix::failure::creation_failure(name, e));
        }
        Err(crate::sys::linux::spawn::SpawnFailure::Child(_, e))
        | Err(crate::sys::linux::spawn::SpawnFailure::CloneRefused(e)) => {
            return Err(io_err("starting the subreaper helper", e));
        }
    };
    drop(theirs);
    drop(null);
    let helper = Helper {
        pid: helper_pid,
        pidfd: Mutex::new(Some(helper_fd)),
        chan: Arc::new(mine),
        quit_sent: AtomicBool::new(false),
    };
    // From here on, dropping `helper` on an error path tells it to go and
    // reaps it.

    let mut extra = Vec::new();
    let mut fds = [-1; 3];
    for (i, slot) in fds.iter_mut().enumerate() {
        if stdio[i] >= 0 {
            *slot = stdio[i];
        } else {
            match own_stream(i as RawFd) {
                Ok(None) => *slot = i as RawFd,
                Ok(Some(fd)) => {
                    *slot = fd.as_raw_fd();
                    extra.push(fd);
                }
                Err(e) => return Err(io_err("opening /dev/null", e)),
            }
        }
    }
    let request = wire::Request {
        pgroup: if req.pty.is_some() {
            wire::PG_SETSID_CTTY
        } else if req.setsid {
            wire::PG_SETSID
        } else {
            wire::PG_INHERIT
        },
        uid: req.uid,
        gid: req.gid,
        program: plan.program.clone(),
        argv: plan.argv().to_vec(),
        envp: plan.envp().to_vec(),
        cwd: plan.cwd.clone(),
        knobs: plan.knobs.clone(),
    };
    let bytes = wire::encode_request(&request);
    let deadline = Instant::now() + START_TIMEOUT;
    let sock = helper.chan.clone();
    let answer = (|| {
        let (hello, _) = read_frame(&sock, deadline)?;
        if wire::parse(&hello).0 != wire::HELLO {
            let (_, _, errno) = wire::parse(&hello);
            return Err(io::Error::other(format!(
                "the subreaper helper could not set itself up: {}",
                io::Error::from_raw_os_error(errno)
            )));
        }
        wire::send_with_fds(sock.as_fd(), &bytes, &fds)?;
        read_frame(&sock, deadline)
    })();
    drop(extra);
    let (frame, mut got) = answer.map_err(|e| {
        // A helper that does not answer is not trusted to leave by itself.
        helper.kill();
        io_err("starting the subreaper helper", e)
    })?;
    let (tag, a, b) = wire::parse(&frame);
    match tag {
        wire::STARTED if !got.is_empty() && a > 0 => {
            let pidfd = got.swap_remove(0);
            let child = RemoteChild {
                pid: a as u32,
                pidfd,
                chan: Chan::Plain(sock),
                status: None,
                buf: [0; wire::FRAME],
                have: 0,
            };
            Ok((child, helper))
        }
        wire::FAILED => Err(failure(req, a, io::Error::from_raw_os_error(b))),
        _ => Err(io_err(
            "starting the subreaper helper",
            io::Error::other("unexpected answer from the helper"),
        )),
    }
}

/// The typed error for a failed spawn stage reported by the helper.
fn failure(req: &SpawnRequest<'_>, stage: i32, e: io::Error) -> Error {
    if stage <= wire::STAGE_HELPER {
        return Error::Spawn {
            program: req.display_name.to_owned(),
            source: io::Error::new(e.kind(), format!("the subreaper helper failed: {e}")),
        };
    }
    crate::sys::unix::failure::child_failure(req, Stage::from_u32(stage as u32), e)
}

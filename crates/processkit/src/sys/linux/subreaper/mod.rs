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
//! host ──socket──▶ factory (the host's child, one per host process)
//!   │                └─ helper (subreaper, forked by the factory)
//!   └──socket (one per helper)──▶ │
//!                                 └─ child (the program)
//!                                      └─ … every descendant, orphans re-parented here
//! ```
//!
//! * **Start.** A helper is forked by the host's *helper factory*
//!   (`factory.rs` on the host's side, `forge.rs` on the factory's): one
//!   long-lived, single-threaded process per host process, started by the
//!   second spawn on this mechanism the same way a helper is (the host
//!   re-executes its own binary, `/proc/self/exe`, with a marker variable
//!   and one end of a socket pair on fd 0; a library constructor, see
//!   `entry.rs`, recognises the marker before `main`, so the host program
//!   itself never runs). The first spawn starts its helper directly, so a
//!   program with one child pays one exec, as before. For each spawn the
//!   host sends the factory a new socket pair end and its working directory
//!   (`SCM_RIGHTS`) with its umask, resource limits, nice value, ignored
//!   signals and CPU affinity of that moment; the factory forks, and the
//!   new process takes these on, becomes a helper on that socket and says
//!   hello with its pid and a pidfd on itself. When the factory cannot
//!   serve (it cannot start, died, is stuck past the start timeout, its
//!   helper cannot take on the host's attributes), the host re-executes its
//!   binary as the helper itself, as it did for every child before the
//!   factory. The helper says hello and reads the spawn request (sent ahead
//!   of the hello, so it is already waiting: argv, environment, working
//!   directory, session flag, ids) with the three standard streams attached
//!   as `SCM_RIGHTS`, starts the child with the crate's own vfork-style
//!   spawner and sends back the child's pid with a pidfd for it. A spawn
//!   failure comes back as the failing stage and `errno`, and becomes the
//!   same typed error as on the other mechanisms.
//! * **Signals** to the child alone go through that pidfd: it names the
//!   process even after it exits, so a reused pid is never hit.
//! * **Exit status.** The host cannot `waitpid` a grandchild. The helper
//!   reaps the child (and every orphan that lands on it) and sends the raw
//!   wait status over the socket; the host's handle waits for that message
//!   on tokio's reactor. The helper leaves on its own once the child and
//!   every descendant are gone.
//! * **Helper lifetime.** A forked helper is the factory's child, so the
//!   host cannot wait for it: the factory keeps every helper unreaped until
//!   the host releases it (a message when the host's handle goes), and
//!   reaps it once it has exited. So the helper's pid cannot be reused while
//!   the host may still walk its tree or signal from it; the host signals
//!   the helper itself only through the pidfd it got with the hello.
//! * **Whole-tree verbs** (kill, signal, suspend, resume, members, stats)
//!   walk the tree from the helper down in the host (`tree.rs`); every
//!   process is signalled through a pidfd opened and then checked to still
//!   hang below the helper. A kill first stops every process (SIGSTOP, walk
//!   again until nobody new appears: a stopped process cannot fork), then
//!   SIGKILLs each one.
//! * **Teardown and host death.** Dropping the container sends the helper
//!   one byte; end-of-file on the socket (the host died, even by SIGKILL:
//!   the kernel closes its fds) means the same. The helper then stops and
//!   kills its whole tree, reaps it, and exits; the host reaps the helpers
//!   it started itself from its reaper thread, the factory the ones it
//!   forked. The factory leaves at end-of-file on its own socket (the host
//!   is gone) once every helper it forked has exited and been reaped. The
//!   child also has `PR_SET_PDEATHSIG` towards
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
//!   to read sockets and `/proc`. Re-executing the host's own binary ships
//!   no extra file: the helper is in every binary that links the crate. The
//!   marker check runs in a constructor, before `main`, so the program's
//!   own startup never runs in the helper.
//! * **A factory, so that exec is paid once.** An exec of the host binary
//!   per child cost about as much as the child's own exec (a `batch` of
//!   `true` ran 2.2× as long as `xargs -P`). The factory is such an exec,
//!   once per host process; a fork of it (small and single-threaded, it
//!   never ran the program's `main`) is far cheaper. It does not wait for
//!   answers: a request is one `SOCK_SEQPACKET` message, the forked helper
//!   answers on its own socket, so parallel spawns do not queue behind each
//!   other, and a helper's release never blocks (`Drop`). Attributes a
//!   child inherits are sent with each request, because a factory started
//!   earlier would otherwise hand out the host's state of back then
//!   (`docs/decisions/0005-subreaper-helper-factory.md`).
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
//!   dies with it (`PR_SET_PDEATHSIG`). The factory is not a subreaper
//!   either: this does not change for forked helpers.
//! * A factory killed from outside: its helpers (and their trees) go on,
//!   adopted by init, which also reaps them once they exit, so their pids
//!   may then be reused while the host still holds their handles. Every
//!   tree walk therefore re-checks the helper's pidfd after it has opened
//!   the members' pidfds (`tree.rs`): a dead helper has no tree, and a
//!   reused pid is never walked into. The next spawn starts a new factory
//!   (at most four per process, then every helper is started directly).
//! * What the factory does not carry over from the host at each spawn is
//!   the host's state when the factory started: credentials and
//!   capabilities, `no_new_privs` and seccomp filters, namespaces and
//!   cgroup, `oom_score_adj`, the process group and session. Pass explicit
//!   `uid`/`gid` to the command, or change these before the first spawn on
//!   this mechanism. (The signal mask needs no carrying: every child starts
//!   with an empty one.)
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

mod child;
mod entry;
mod exec;
mod factory;
mod forge;
pub(crate) mod found;
mod handle;
mod helper;
mod start;
mod tree;
mod wire;

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::sys::error::Error;
use crate::sys::measure::RawStats;
use crate::sys::request::SpawnRequest;
use crate::sys::unix::pgroup::PgContainer;
use crate::sys::unix::prep::ExecPlan;
use crate::sys::unix::registry::GroupRegistry;

pub(crate) use child::Child;
pub(crate) use handle::Helper;
use start::start;

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
    if !entry::CONSTRUCTOR_RAN.load(Ordering::Relaxed) {
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

/// A container on this mechanism: one helper per child, plus the process
/// groups of children started through the raw tokio escape hatch.
pub(crate) struct SrContainer {
    helpers: Mutex<Vec<Arc<Helper>>>,
    pub(crate) raw: PgContainer,
}

impl SrContainer {
    /// An empty container; the groups of raw children are registered with
    /// `registry`.
    pub(crate) fn new(registry: GroupRegistry) -> Self {
        SrContainer {
            helpers: Mutex::new(Vec::new()),
            raw: PgContainer::new(registry),
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
        let helpers = self.helpers();
        let roots: Vec<tree::Root<'_>> = helpers.iter().map(|h| h.root()).collect();
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

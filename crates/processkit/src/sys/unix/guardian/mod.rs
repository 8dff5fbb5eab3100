//! The guardian: a small watcher process that tears this host's containers
//! down when the host dies without running `Drop` (SIGKILL, `abort`,
//! `std::process::exit`, a crash).
//!
//! # Why a separate process
//!
//! Destructors and exit handlers cover every orderly ending, but nothing in
//! a process runs after SIGKILL. Linux's `PR_SET_PDEATHSIG` reaches only a
//! direct child, and macOS and the BSDs have nothing of the kind. What the
//! kernel *does* do on every death is close the dead process's file
//! descriptors. So the host keeps one end of a socket pair; a guardian
//! process reads the other end and, at end-of-file, kills what the host
//! still owned.
//!
//! # Shape
//!
//! * One guardian per host process, started with the first container
//!   ([`ensure_started`], called when a container is created). Registering a
//!   container earlier (the cgroup host root is created by a spawn-free
//!   preflight) only records it; it is sent when the guardian starts.
//! * The guardian is `/bin/sh -c '<script>'`, started with the crate's own
//!   spawner and never joined to any container: it stays in the host's own
//!   cgroup (outside the `processkit-*` subtree, so the host's teardown never
//!   kills it), in a new session (terminal signals and a `killpg` aimed at
//!   the host's group do not reach it), with `/` as its working directory,
//!   `/dev/null` as stdout and stderr and only `PATH` in its environment.
//!   A multi-threaded host must not run Rust code between fork and exec, so
//!   the guardian is a shell script rather than a forked copy of the host.
//! * The host's end of the socket is close-on-exec, so no child inherits it
//!   (a child holding it would keep the guardian from ever seeing EOF).
//!   Writes use `MSG_NOSIGNAL` (`SO_NOSIGPIPE` on Apple targets) and a
//!   non-blocking socket: a dead or stalled guardian never raises SIGPIPE in
//!   the host and never blocks it.
//! * Protocol: one line per change, `cg <dir>`, `pg <pgid> [<start>]` and
//!   `unpg <pgid>`. A line cut short by the host's death is ignored (the
//!   shell's `read` drops a last line without a newline). `<start>` is the
//!   leader's start time (field 22 of `/proc/<pgid>/stat`, Linux only).
//! * At end-of-file the guardian SIGKILLs every process group still
//!   registered, except one whose id now names a process with another start
//!   time (the leader was reaped and its pid reused: the group is not
//!   ours), writes `1` to `cgroup.kill` of every registered cgroup
//!   (freeze, kill each member, thaw where `cgroup.kill` is missing), waits
//!   (bounded) for `cgroup.events` to say `populated 0`, removes the
//!   directories deepest first and exits. After an orderly exit the host's
//!   own exit handler has already removed its cgroup root; the guardian
//!   finds it gone and only exits.
//! * The guardian is the host's child. While the host lives it keeps
//!   running; once the host is gone it is re-parented to init (or the
//!   nearest subreaper), which reaps it.
//!
//! # Failures
//!
//! The host keeps a copy of everything it registered. If the guardian dies
//! while the host lives, is stopped (SIGSTOP: the stop is seen through
//! `waitid(WSTOPPED)`), or stops reading (what the host sent has stayed
//! unread for [`SEND_PATIENCE`]), which is noticed on the next container,
//! registration or [`guarantee`] call (or, for a stopped or stalled one, by
//! the reaper thread, which looks at a running guardian about twice a
//! second), it is SIGKILLed, reaped, and a new one is started with the
//! whole registry replayed. Nothing here ever waits
//! for the guardian: sends are non-blocking, and what does not fit in the
//! socket waits in the host until the next call. The socket is closed only
//! after the old guardian is dead, so it can never mistake that for the
//! host's death.
//!
//! Only guardians that started count against the [`MAX_STARTS`] budget. A
//! start that fails for a passing shortage (no free fd, the process limit
//! reached, no memory) is tried again with the next container or
//! registration, up to [`MAX_SHORTAGES`] times; until then the guarantee is
//! `DropOnly` with the real reason. After [`MAX_STARTS`] guardians, or when
//! no guardian can be started for good, the guarantee drops to `DropOnly`
//! with the reason, and a trace event says so.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::sys::guarantee::Guarantee;
use crate::sys::reaper;
use crate::sys::unix::shortage::{MAX_SHORTAGES, is_shortage};

mod process;

use process::{Proc, ProcState, SHELL, spawn_shell};

/// Setting this variable (to anything but `0` or an empty string) keeps the
/// guardian from starting.
pub(crate) const OPT_OUT_VAR: &str = "PROCESSKIT_NO_GUARDIAN";

/// How many guardians one host starts at most (the first and its
/// replacements). Starts that failed do not count.
const MAX_STARTS: u32 = 4;

/// How many starts that failed for good (not for a passing shortage) are
/// tried before the guardian is given up.
const MAX_REFUSED: u32 = 4;

/// A running guardian: its process and the host's end of the socket.
///
/// Never dropped while the guardian may still run: closing `sock` is the
/// guardian's signal to kill everything. [`retire`] kills it first.
struct Guardian {
    proc: Proc,
    sock: UnixStream,
}

enum Phase {
    /// Not started yet; starts with the first container.
    Idle,
    /// Running (as far as was last seen).
    Running(Guardian),
    /// Found dead while the host lives, or could not be started; another
    /// start is tried with the next container or registration (up to
    /// [`MAX_STARTS`] starts in all).
    Lost(String),
    /// Off for good (opted out, or too many starts).
    Off(String),
}

struct State {
    phase: Phase,
    /// Every registered cgroup directory, for replay into a new guardian.
    cgroups: Vec<PathBuf>,
    /// Every registered, not yet released process group, with its leader's
    /// start time where known.
    pgroups: Vec<(u32, Option<u64>)>,
    /// Guardians started so far.
    starts: u32,
    /// Starts that failed for a passing shortage.
    shortages: u32,
    /// Starts that failed for any other reason.
    refused: u32,
    /// What the running guardian has not taken yet (its socket was full);
    /// goes out before anything else is sent to it.
    pending: Vec<u8>,
    /// Since when `pending` has been waiting.
    pending_since: Option<Instant>,
    /// The reaper thread looks at the guardian periodically.
    watched: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    phase: Phase::Idle,
    cgroups: Vec::new(),
    pgroups: Vec::new(),
    starts: 0,
    shortages: 0,
    refused: 0,
    pending: Vec::new(),
    pending_since: None,
    watched: false,
});

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the guardian if it is not running yet (or restarts a dead one).
/// Called when a container is created, before any child is placed in it.
pub(crate) fn ensure_started() {
    let mut st = state();
    settle_opt_out(&mut st);
    let _ = check_running(&mut st);
    if matches!(st.phase, Phase::Idle | Phase::Lost(_)) {
        start(&mut st);
    }
}

/// Looks at a running guardian without waiting for it: one that exited,
/// was stopped, or has left what was sent to it unread for longer than
/// [`SEND_PATIENCE`] is retired, and the phase becomes `Lost` with the
/// reason. Sends what is pending if the socket has room.
///
/// Returns `true` when a guardian that is still there (stopped, or not
/// reading) was retired.
fn check_running(st: &mut State) -> bool {
    let Phase::Running(g) = &st.phase else {
        return false;
    };
    let pid = g.proc.pid;
    let state = g.proc.state();
    let reason = match state {
        ProcState::Exited => Some(format!(
            "the guardian (pid {pid}) exited while this process was running"
        )),
        ProcState::Stopped => Some(format!(
            "the guardian (pid {pid}) was stopped (SIGSTOP), so it could not act"
        )),
        ProcState::Running => match flush(st) {
            Err(e) => Some(format!("the guardian (pid {pid}) stopped reading: {e}")),
            Ok(()) => st.pending_since.and_then(|since| {
                (since.elapsed() > SEND_PATIENCE).then(|| {
                    format!(
                        "the guardian (pid {pid}) stopped reading: what was sent {} ms ago is \
                         still unread",
                        since.elapsed().as_millis()
                    )
                })
            }),
        },
    };
    let Some(reason) = reason else { return false };
    crate::sys::trace::guardian_unavailable(&reason);
    if let Phase::Running(g) = std::mem::replace(&mut st.phase, Phase::Lost(reason))
        && state != ProcState::Exited
    {
        // An exited guardian was reaped just now: it is never signalled
        // (its pid may be reused); dropping it only closes the socket.
        retire(g);
    }
    st.pending.clear();
    st.pending_since = None;
    state != ProcState::Exited
}

/// Has the reaper look at the guardian about twice a second (a few
/// non-blocking syscalls), so one that was stopped or stopped reading is
/// replaced even while this process starts nothing. Never waits for the
/// registry: a look that finds it busy is skipped.
fn watch() {
    reaper::submit(reaper::Task::Watch(Box::new(|| {
        let mut st = match STATE.try_lock() {
            Ok(st) => st,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return false,
        };
        match st.phase {
            // A guardian that is there but cannot act is replaced at once;
            // one that exited is reported by `guarantee()` and replaced
            // with the next container, as before.
            Phase::Running(_) => {
                if check_running(&mut st) {
                    start(&mut st);
                }
                false
            }
            Phase::Off(_) => true,
            Phase::Idle | Phase::Lost(_) => false,
        }
    })));
}

/// Sends as much of `st.pending` as the running guardian's socket takes
/// right now. Never waits.
fn flush(st: &mut State) -> io::Result<()> {
    let Phase::Running(g) = &st.phase else {
        return Ok(());
    };
    if st.pending.is_empty() {
        st.pending_since = None;
        return Ok(());
    }
    let n = send_some(&g.sock, &st.pending)?;
    st.pending.drain(..n);
    if st.pending.is_empty() {
        st.pending_since = None;
    } else if n > 0 || st.pending_since.is_none() {
        // The guardian is reading: patience starts again.
        st.pending_since = Some(Instant::now());
    }
    Ok(())
}

/// Registers a cgroup directory to be killed and removed at host death.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn register_cgroup(dir: &Path) {
    let mut st = state();
    if matches!(st.phase, Phase::Off(_)) || st.cgroups.iter().any(|d| d == dir) {
        return;
    }
    let Some(line) = cgroup_line(dir) else {
        crate::sys::trace::guardian_unavailable(&format!(
            "cgroup {} cannot be registered with the guardian (not an absolute path, or it holds a \
             newline or ends in white space); only destructors tear it down",
            dir.display()
        ));
        return;
    };
    st.cgroups.push(dir.to_owned());
    deliver(&mut st, &line);
}

/// Registers a process group to be killed at host death. Call it while the
/// leader is unreaped: its start time is recorded with it.
pub(crate) fn register_pgroup(pgid: u32) {
    #[cfg(target_os = "linux")]
    let start_time = crate::sys::linux::procfs::start_time(pgid);
    #[cfg(not(target_os = "linux"))]
    let start_time = None;
    let mut st = state();
    settle_opt_out(&mut st);
    if matches!(st.phase, Phase::Off(_)) {
        return;
    }
    check_running(&mut st);
    st.pgroups.push((pgid, start_time));
    match st.phase {
        // The group exists already: start a guardian now rather than leave
        // it unguarded until the next container.
        Phase::Idle | Phase::Lost(_) => start(&mut st),
        _ => deliver(&mut st, &pg_line(pgid, start_time)),
    }
}

fn pg_line(pgid: u32, start_time: Option<u64>) -> Vec<u8> {
    match start_time {
        Some(t) => format!("pg {pgid} {t}\n").into_bytes(),
        None => format!("pg {pgid}\n").into_bytes(),
    }
}

/// Forgets a process group that was torn down normally. Runs in `Drop`, so
/// it never waits: not for the registry's lock, not for room in the
/// guardian's socket, and it never starts a guardian. Returns `false` when
/// it could not be done right now; the caller tries again later (from the
/// reaper thread) and must not reap the leader before it is done, so the
/// guardian never holds an id that may have been reused.
pub(crate) fn try_unregister_pgroup(pgid: u32) -> bool {
    let mut st = match STATE.try_lock() {
        Ok(st) => st,
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return false,
    };
    let Some(i) = st.pgroups.iter().position(|&(p, _)| p == pgid) else {
        return true;
    };
    let st = &mut *st;
    // A stopped or stalled guardian is retired here too (never waited
    // for); its replacement comes with the next container or registration.
    check_running(st);
    let mut failed = None;
    if let Phase::Running(g) = &st.phase {
        let mut out = std::mem::take(&mut st.pending);
        let before = out.len();
        out.extend_from_slice(format!("unpg {pgid}\n").as_bytes());
        match send_some(&g.sock, &out) {
            // The line itself did not start to go out: keep only the
            // earlier rest, and try again later.
            Ok(n) if n <= before => {
                out.truncate(before);
                out.drain(..n);
                if out.is_empty() {
                    st.pending_since = None;
                } else if n > 0 || st.pending_since.is_none() {
                    st.pending_since = Some(Instant::now());
                }
                st.pending = out;
                return false;
            }
            Ok(n) => {
                st.pending = out.split_off(n);
                st.pending_since = (!st.pending.is_empty()).then(Instant::now);
            }
            Err(e) => {
                failed = Some(format!(
                    "the guardian (pid {}) stopped reading: {e}",
                    g.proc.pid
                ))
            }
        }
    }
    if let Some(reason) = failed {
        // A guardian that cannot be written to is replaced when the next
        // container or registration comes, not here.
        if let Phase::Running(g) = std::mem::replace(&mut st.phase, Phase::Lost(reason)) {
            retire(g);
        }
        st.pending.clear();
        st.pending_since = None;
    }
    st.pgroups.swap_remove(i);
    true
}

/// Holds the registry's lock (tests: a guardian delivery under way).
#[cfg(test)]
pub(crate) fn hold_registry() -> Box<dyn std::any::Any> {
    Box::new(state())
}

/// Keeps the guardian from starting. Returns `true` when no guardian runs
/// from now on, `false` when one has already started (it keeps running).
pub(crate) fn disable() -> bool {
    let mut st = state();
    match st.phase {
        Phase::Idle => {
            let reason = "the guardian is disabled by processkit::disable_guardian()".to_owned();
            crate::sys::trace::guardian_unavailable(&reason);
            st.phase = Phase::Off(reason);
            st.cgroups.clear();
            st.pgroups.clear();
            true
        }
        Phase::Off(_) => true,
        Phase::Running(_) | Phase::Lost(_) => false,
    }
}

/// The guarantee in force. Never spawns anything.
pub(crate) fn guarantee() -> Guarantee {
    let mut st = state();
    settle_opt_out(&mut st);
    match &st.phase {
        Phase::Idle => match shell_usable() {
            Ok(()) => Guarantee::Guardian,
            Err(reason) => Guarantee::DropOnly { reason },
        },
        Phase::Running(_) => {
            check_running(&mut st);
            match &st.phase {
                Phase::Running(_) => Guarantee::Guardian,
                Phase::Lost(reason) | Phase::Off(reason) => Guarantee::DropOnly {
                    reason: format!("{reason}; a new one starts with the next container"),
                },
                Phase::Idle => unreachable!("a running guardian never becomes idle"),
            }
        }
        Phase::Lost(reason) | Phase::Off(reason) => Guarantee::DropOnly {
            reason: reason.clone(),
        },
    }
}

/// Turns an `Idle` state into `Off` when the environment opts out.
fn settle_opt_out(st: &mut State) {
    if !matches!(st.phase, Phase::Idle) {
        return;
    }
    let Some(value) = std::env::var_os(OPT_OUT_VAR) else {
        return;
    };
    if value.is_empty() || value == "0" {
        return;
    }
    let reason = format!("the guardian is disabled by the {OPT_OUT_VAR} environment variable");
    crate::sys::trace::guardian_unavailable(&reason);
    st.phase = Phase::Off(reason);
    st.cgroups.clear();
    st.pgroups.clear();
}

fn shell_usable() -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(SHELL) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(()),
        Ok(_) => Err(format!(
            "{SHELL} is not an executable file, so no guardian can run"
        )),
        Err(e) => Err(format!(
            "{SHELL} is not usable ({e}), so no guardian can run"
        )),
    }
}

/// The registration line for `dir`, or `None` if the shell could not read
/// it back intact.
fn cgroup_line(dir: &Path) -> Option<Vec<u8>> {
    let bytes = dir.as_os_str().as_bytes();
    let last = *bytes.last()?;
    if bytes.first() != Some(&b'/') || bytes.contains(&b'\n') || last == b' ' || last == b'\t' {
        return None;
    }
    let mut line = Vec::with_capacity(bytes.len() + 4);
    line.extend_from_slice(b"cg ");
    line.extend_from_slice(bytes);
    line.push(b'\n');
    Some(line)
}

/// Everything registered so far, as one batch of lines.
fn replay(st: &State) -> Vec<u8> {
    let mut out = Vec::new();
    for dir in &st.cgroups {
        if let Some(line) = cgroup_line(dir) {
            out.extend_from_slice(&line);
        }
    }
    for &(pgid, start_time) in &st.pgroups {
        out.extend_from_slice(&pg_line(pgid, start_time));
    }
    out
}

/// Sends `line` to a running guardian; on failure, replaces the guardian
/// (the replacement gets the whole registry, `line` included).
fn deliver(st: &mut State, line: &[u8]) {
    check_running(st);
    match st.phase {
        Phase::Running(_) => {
            if st.pending.is_empty() {
                st.pending_since = Some(Instant::now());
            }
            st.pending.extend_from_slice(line);
            check_running(st);
            if matches!(st.phase, Phase::Lost(_)) {
                start(st);
            }
        }
        // The replacement gets the whole registry, `line` included.
        Phase::Lost(_) => start(st),
        Phase::Idle | Phase::Off(_) => {}
    }
}

/// Starts a guardian, replays the registry into it, and records the
/// outcome in `st.phase`.
fn start(st: &mut State) {
    if st.starts >= MAX_STARTS {
        let why = match &st.phase {
            Phase::Lost(r) => format!(": {r}"),
            _ => String::new(),
        };
        let reason =
            format!("the guardian was started {MAX_STARTS} times and did not stay up{why}");
        crate::sys::trace::guardian_unavailable(&reason);
        st.phase = Phase::Off(reason);
        return;
    }
    // A new guardian gets the whole registry; a cut line was for the old one.
    st.pending.clear();
    st.pending_since = None;
    let outcome = shell_usable().map_err(|r| (r, false)).and_then(|()| {
        spawn_guardian().map_err(|e| (format!("cannot start {SHELL}: {e}"), is_shortage(&e)))
    });
    match outcome {
        Ok(g) => {
            st.starts += 1;
            // Whatever the socket does not take now goes with later calls;
            // a new guardian that never reads is replaced like any other.
            let batch = replay(st);
            match send_some(&g.sock, &batch) {
                Ok(n) => {
                    st.pending = batch[n..].to_vec();
                    st.pending_since = (!st.pending.is_empty()).then(Instant::now);
                }
                Err(e) => {
                    let reason = format!(
                        "the new guardian (pid {}) did not accept registrations: {e}",
                        g.proc.pid
                    );
                    retire(g);
                    crate::sys::trace::guardian_unavailable(&reason);
                    st.phase = Phase::Lost(reason);
                    return;
                }
            }
            crate::sys::trace::guardian_started(g.proc.pid);
            st.phase = Phase::Running(g);
            if !st.watched {
                st.watched = true;
                watch();
            }
        }
        Err((reason, shortage)) => {
            let (count, bound) = if shortage {
                st.shortages += 1;
                (st.shortages, MAX_SHORTAGES)
            } else {
                st.refused += 1;
                (st.refused, MAX_REFUSED)
            };
            let reason = format!("the guardian could not be started: {reason}");
            crate::sys::trace::guardian_unavailable(&reason);
            st.phase = if count >= bound {
                Phase::Off(format!("{reason} ({count} failed starts: not tried again)"))
            } else if shortage {
                Phase::Lost(format!(
                    "{reason} (a passing shortage: tried again with the next container)"
                ))
            } else {
                Phase::Lost(reason)
            };
        }
    }
}

/// Kills a guardian that is no longer trusted, then (on the reaper thread)
/// reaps it and only then closes its socket: a guardian that saw EOF while
/// the host lives would kill the host's live children.
fn retire(g: Guardian) {
    g.proc.kill();
    let mut g = Some(g);
    reaper::submit(reaper::Task::Poll(Box::new(move || {
        let done = g.as_ref().is_none_or(|old| old.proc.exited());
        if done {
            g = None; // closes the socket only now
        }
        done
    })));
}

/// Flags for `send`: never SIGPIPE on a dead guardian (Apple targets use
/// the `SO_NOSIGPIPE` socket option instead).
#[cfg(not(target_vendor = "apple"))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(target_vendor = "apple")]
const SEND_FLAGS: libc::c_int = 0;

/// How long what was sent may stay unread (the socket full) before the
/// guardian counts as stalled. Nothing waits for it: it is looked at on the
/// next container, registration or `guarantee()` call.
const SEND_PATIENCE: Duration = Duration::from_millis(500);

/// One non-blocking send: how many bytes went out (0 when the buffer is
/// full).
fn send_some(sock: &UnixStream, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: the fd is open for the duration of the call (borrowed from
        // `sock`) and `buf` is a valid, initialised slice of `buf.len()` bytes.
        let n = unsafe {
            libc::send(
                sock.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                SEND_FLAGS | libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(0),
            _ => return Err(e),
        }
    }
}

fn spawn_guardian() -> io::Result<Guardian> {
    // std creates both ends close-on-exec (atomically where the platform can).
    let (host_end, guardian_end) = UnixStream::pair()?;
    host_end.set_nonblocking(true)?;
    #[cfg(target_vendor = "apple")]
    {
        let one: libc::c_int = 1;
        // SAFETY: valid socket fd; the option value is a live c_int of the
        // size passed.
        let rc = unsafe {
            libc::setsockopt(
                host_end.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_NOSIGPIPE,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let proc = spawn_shell(OwnedFd::from(guardian_end))?;
    Ok(Guardian {
        proc,
        sock: host_end,
    })
}

#[cfg(test)]
mod tests;

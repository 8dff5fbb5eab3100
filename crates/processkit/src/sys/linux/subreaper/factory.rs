//! The host's side of the helper factory: starting it, asking it for a
//! helper, releasing helpers, and giving up on it.
//!
//! One factory per host process, started lazily by the second spawn on
//! this mechanism (the same re-exec of the host's binary as a helper, with
//! the marker set to `factory`). The first spawn starts its helper
//! directly: a program that starts one child (`processkit run`) pays one
//! exec, as before, and not the factory's exec and a fork on top. Everything is best effort: whenever the
//! factory cannot be used ([`request`] returns `None`), the spawn starts
//! its helper directly, as without a factory. A factory is started at most
//! [`MAX_STARTS`] times per process.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::exec::{ReexecError, reexec, socketpair};
use super::forge::{Attrs, RELEASE};
use crate::sys::reaper;

/// How many factories one process starts at most (the first, and a few
/// replacements for one that died or went stale).
const MAX_STARTS: u32 = 4;

struct Conn {
    pidfd: OwnedFd,
    sock: OwnedFd,
}

struct State {
    conn: Option<Conn>,
    /// Factories that went stale but may still hold helpers of ours: kept
    /// (they only ever get releases) until the host exits.
    old: Vec<Conn>,
    starts: u32,
}

static STATE: Mutex<State> = Mutex::new(State {
    conn: None,
    old: Vec::new(),
    starts: 0,
});

/// Helpers let go of whose release is not sent yet. Held only to push and
/// to take, never across a syscall, so `Drop` never waits on a spawn.
static PENDING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn exited(pidfd: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}

impl State {
    /// Stops using the current factory. A dead one is reaped by the reaper
    /// thread; `kill` ends a hung one first (its helpers go on, adopted by
    /// init); otherwise it is kept for the releases of its helpers.
    fn drop_conn(&mut self, kill: bool) {
        let Some(conn) = self.conn.take() else { return };
        if !kill && !exited(&conn.pidfd) {
            self.old.push(conn);
            return;
        }
        super::tree::send(&conn.pidfd, libc::SIGKILL);
        drop(conn.sock);
        reaper::submit(reaper::Task::ReapPidfd(conn.pidfd));
    }

    /// Sends the pending releases (the rest stay pending if the socket is
    /// full; with no live factory they are moot: a dead factory's helpers
    /// are init's).
    fn flush(&mut self) {
        let pids = std::mem::take(&mut *PENDING.lock().unwrap_or_else(|p| p.into_inner()));
        for (i, pid) in pids.iter().enumerate() {
            let mut msg = [RELEASE, 0, 0, 0, 0, 0, 0, 0];
            msg[4..].copy_from_slice(&pid.to_le_bytes());
            // A stale factory may be the helper's parent (any other factory
            // finds it is no child of its own and ignores it).
            for old in &self.old {
                let _ = send(&old.sock, &msg, &[]);
            }
            let Some(conn) = &self.conn else { continue };
            if let Err(e) = send(&conn.sock, &msg, &[]) {
                if e.kind() == io::ErrorKind::WouldBlock {
                    PENDING
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend_from_slice(&pids[i..]);
                }
                return;
            }
        }
    }
}

/// One message, never blocking, never raising SIGPIPE.
fn send(sock: &OwnedFd, data: &[u8], fds: &[std::os::fd::RawFd]) -> io::Result<()> {
    super::wire::send_msg(sock.as_fd(), data, fds, libc::MSG_DONTWAIT)
}

/// Starts a factory: the host's binary again, marked as the factory, with
/// one end of a sequenced-packet socket pair on fd 0. Not waited for: the
/// first request queues on the socket until it runs.
fn start() -> io::Result<Conn> {
    use crate::sys::linux::spawn::SpawnFailure;
    let (mine, theirs) = socketpair(libc::SOCK_SEQPACKET)?;
    match reexec(true, &theirs) {
        Ok((_, pidfd)) => Ok(Conn { pidfd, sock: mine }),
        Err(ReexecError::Null(e))
        | Err(ReexecError::Spawn(
            SpawnFailure::Parent(e) | SpawnFailure::Child(_, e) | SpawnFailure::CloneRefused(e),
        )) => Err(e),
    }
}

/// Asks the factory for a fresh helper that carries the calling thread's
/// attributes now (working directory, umask, resource limits, nice value,
/// ignored signals, CPU affinity). Returns the host's end of the new
/// helper's socket; the helper's hello on it brings its pid and a pidfd.
/// `None`: no factory to ask (start the helper directly).
pub(super) fn request() -> Option<OwnedFd> {
    static FIRST_DONE: AtomicBool = AtomicBool::new(false);
    if !FIRST_DONE.swap(true, Ordering::Relaxed) {
        return None;
    }
    let attrs = Attrs::capture()?;
    let cwd = rustix::fs::open(
        ".",
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()?;
    let (mine, theirs) = socketpair(libc::SOCK_STREAM).ok()?;
    let msg = attrs.encode();
    let mut st = STATE.lock().unwrap_or_else(|p| p.into_inner());
    // Twice at most: a factory found dead is replaced once per request.
    for _ in 0..2 {
        if st.conn.as_ref().is_some_and(|c| exited(&c.pidfd)) {
            st.drop_conn(false);
        }
        if st.conn.is_none() {
            if st.starts >= MAX_STARTS {
                return None;
            }
            st.starts += 1;
            st.conn = Some(start().ok()?);
        }
        st.flush();
        let conn = st.conn.as_ref()?;
        match send(&conn.sock, &msg, &[theirs.as_raw_fd(), cwd.as_raw_fd()]) {
            Ok(()) => return Some(mine),
            // A factory that is not reading (stopped, or swamped): this
            // spawn goes without it.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            // It is gone (EPIPE, ECONNRESET): start another.
            Err(_) => st.drop_conn(false),
        }
    }
    None
}

/// The host let go of helper `pid`: the factory may reap it once it has
/// exited. Never blocks: when a spawn holds the factory, the release goes
/// with that spawn's request.
pub(super) fn release(pid: u32) {
    PENDING.lock().unwrap_or_else(|p| p.into_inner()).push(pid);
    if let Ok(mut st) = STATE.try_lock() {
        st.flush();
    }
}

/// The factory failed a request. `hung`: it did not answer in time, so it
/// is killed; otherwise (its helper could not take on the host's
/// attributes, for example a hard limit the host raised since) it gets no
/// more requests, and the next request starts a fresh one.
pub(super) fn retire(hung: bool) {
    STATE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drop_conn(hung);
}

//! Walking and signalling the process tree below a subreaper.
//!
//! The tree is read from `/proc/<pid>/task/<tid>/children` (every thread
//! has its own list of the children it forked). Every process found is
//! signalled through a pidfd, and only after the pidfd is open is the
//! process checked to still hang below the subreaper (its parent is the
//! subreaper or a process already found): a pid that exited and was reused
//! between the listing and the `pidfd_open` is never signalled.
//!
//! The subreaper's own pid must name the same process for the whole walk.
//! A helper started by the host directly is the host's child and stays
//! unreaped until the host lets go of it. A helper forked by the helper
//! factory is the factory's child: the factory keeps it unreaped until the
//! host releases it, but if the factory is killed from outside, init
//! adopts and reaps the helper, and its pid may be reused. So every walk on
//! the host side carries a pidfd on the subreaper ([`Root`]) and checks, after
//! the members' pidfds are open and their parents read, that the subreaper
//! is still alive: then the pid named it throughout, and the parents read
//! were really it. A dead subreaper has no children left, so nothing is
//! lost by signalling nobody.
//!
//! Used by the host (kill, signal, suspend, members, stats) and by the
//! helper itself (teardown at end-of-file).

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// The top of a tree: the subreaper's pid and, on the host side, a pidfd on
/// it that proves the pid still names it.
#[derive(Clone, Copy)]
pub(crate) struct Root<'a> {
    pub pid: u32,
    pub fd: Option<BorrowedFd<'a>>,
}

impl Root<'_> {
    /// A root that is the calling process itself (the helper).
    pub(crate) fn me() -> Root<'static> {
        Root {
            pid: std::process::id(),
            fd: None,
        }
    }

    /// `true` while the subreaper has not exited (always for the calling
    /// process itself).
    pub(crate) fn alive(&self) -> bool {
        let Some(fd) = self.fd else { return true };
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut p, 1, 0) == 0 }
    }
}

/// The pids in `/proc/<pid>/task/*/children`.
fn children_of(pid: u32, out: &mut Vec<u32>) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        let mut path = task.path();
        path.push("children");
        if let Ok(text) = std::fs::read_to_string(&path) {
            out.extend(
                text.split_ascii_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
}

/// The children of a single-threaded process: one file, no listing of its
/// threads.
fn children_of_single(pid: u32, out: &mut Vec<u32>) {
    if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        out.extend(
            text.split_ascii_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
}

/// Every descendant of `root` (not `root` itself), parents before children.
/// `root` is a helper, which is single-threaded: its children are all in
/// its main thread's list.
pub(crate) fn descendants(root: u32) -> Vec<u32> {
    let mut seen = HashSet::new();
    let mut out: Vec<u32> = Vec::new();
    let mut buf = Vec::new();
    let mut next: Option<u32> = Some(root);
    let mut index = 0;
    while let Some(pid) = next {
        if pid == root {
            children_of_single(pid, &mut buf);
        } else {
            children_of(pid, &mut buf);
        }
        for c in buf.drain(..) {
            if c != root && seen.insert(c) {
                out.push(c);
            }
        }
        next = out.get(index).copied();
        index += 1;
    }
    out
}

/// State letter, parent pid, and CPU ticks (own user + system, waited-for
/// children's user + system) of `pid`, from `/proc/<pid>/stat`.
pub(crate) fn stat(pid: u32) -> Option<(u8, u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let mut f = rest.split_ascii_whitespace();
    let state = *f.next()?.as_bytes().first()?;
    let ppid = f.next()?.parse().ok()?;
    // After the state: ppid pgrp session tty tpgid flags minflt cminflt
    // majflt cmajflt utime stime cutime cstime.
    let f: Vec<&str> = f.take(12).collect();
    let ticks = f
        .get(8..12)?
        .iter()
        .map(|v| v.parse::<u64>().unwrap_or(0))
        .sum();
    Some((state, ppid, ticks))
}

/// Every descendant of `root`, or nothing once `root` has exited (its pid
/// may name another process by now).
pub(crate) fn checked_descendants(root: Root<'_>) -> Vec<u32> {
    let out = descendants(root.pid);
    if root.alive() { out } else { Vec::new() }
}

/// Live (not zombie) descendants of `root`.
pub(crate) fn live(root: Root<'_>) -> Vec<u32> {
    let out: Vec<u32> = descendants(root.pid)
        .into_iter()
        .filter(|p| matches!(stat(*p), Some((s, _, _)) if s != b'Z' && s != b'X'))
        .collect();
    if root.alive() { out } else { Vec::new() }
}

/// A pidfd on `pid`, if it is still a member: its parent is `root` or in
/// `members`. Checked after the pidfd is open, so the answer is about the
/// process the pidfd names (or that process is already gone, and a signal
/// through the pidfd does nothing).
fn open_member(pid: u32, root: u32, members: &HashSet<u32>) -> Option<OwnedFd> {
    let raw = rustix::process::Pid::from_raw(pid as i32)?;
    let fd = rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()).ok()?;
    let (_, ppid, _) = stat(pid)?;
    (ppid == root || members.contains(&ppid)).then_some(fd)
}

/// Sends `sig` through a pidfd (a process already gone is not an error).
pub(crate) fn send(fd: &OwnedFd, sig: i32) {
    // SAFETY: a valid pidfd borrowed for the call, a null siginfo, no flags.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
    }
}

/// Sends `sig` once to every process below `root`.
pub(crate) fn signal(root: Root<'_>, sig: i32) {
    if !root.alive() {
        return;
    }
    let tree = descendants(root.pid);
    let set: HashSet<u32> = tree.iter().copied().collect();
    let fds: Vec<OwnedFd> = tree
        .into_iter()
        .filter_map(|pid| open_member(pid, root.pid, &set))
        .collect();
    if !root.alive() {
        return;
    }
    for fd in &fds {
        send(fd, sig);
    }
}

/// How many walks a stop-the-world pass makes at most (a tree that keeps
/// growing faster than it is stopped is killed as far as it was reached,
/// and the next call goes on).
const MAX_WALKS: usize = 256;

/// Stops every process below `root` (SIGSTOP, walking again until a walk
/// finds nobody new: a stopped process cannot fork), and returns pidfds on
/// all of them.
fn stop_all(root: Root<'_>) -> HashMap<u32, OwnedFd> {
    let mut held: HashMap<u32, OwnedFd> = HashMap::new();
    // A subreaper that has exited had no child left (it leaves only then):
    // nothing to walk.
    if !root.alive() {
        return held;
    }
    for _ in 0..MAX_WALKS {
        let tree = descendants(root.pid);
        let set: HashSet<u32> = tree.iter().copied().collect();
        let mut new = Vec::new();
        for pid in tree {
            if held.contains_key(&pid) {
                continue;
            }
            if let Some(fd) = open_member(pid, root.pid, &set) {
                new.push((pid, fd));
            }
        }
        if new.is_empty() || !root.alive() {
            break;
        }
        for (pid, fd) in new {
            send(&fd, libc::SIGSTOP);
            held.insert(pid, fd);
        }
    }
    held
}

/// Freezes the whole tree below `root`.
pub(crate) fn suspend(root: Root<'_>) {
    drop(stop_all(root));
}

/// Kills the whole tree below `root`: stop everything first, so nothing
/// forks while the walk runs, then SIGKILL each process through its pidfd.
pub(crate) fn kill(root: Root<'_>) {
    kill_many(&[root]);
}

/// Kills the trees below every root as one: every tree is stopped before
/// any process dies, so no process sees another tree's death first (the
/// last stage of a pipeline reading end-of-file when the first stage goes)
/// and exits on its own instead of being killed.
pub(crate) fn kill_many(roots: &[Root<'_>]) {
    let stopped: Vec<HashMap<u32, OwnedFd>> = roots.iter().map(|r| stop_all(*r)).collect();
    for fd in stopped.iter().flat_map(|held| held.values()) {
        send(fd, libc::SIGKILL);
    }
}

//! The Linux cgroup v2 backend.
//!
//! # Layout
//!
//! The host finds the cgroup2 mount in `/proc/self/mountinfo` (on hybrid
//! hosts it is `/sys/fs/cgroup/unified`, not `/sys/fs/cgroup`) and its own
//! cgroup in the `0::` line of `/proc/self/cgroup`. Under that, each host
//! process owns one directory named after itself:
//!
//! ```text
//! <own cgroup>/processkit-<pid>-<start time>/   host root (one per process)
//!     r<N>/                                     one-shot run leaves (pooled)
//!     g<N>/                                     a ProcessGroup
//!         c<M>/                                 one leaf per started child
//! ```
//!
//! Processes only ever live in leaves, which keeps the cgroup v2 "no
//! internal processes" rule satisfied when controllers are enabled.
//!
//! # Teardown
//!
//! `cgroup.kill` (Linux 5.14+) SIGKILLs every process in a subtree
//! atomically, including ones forking at that very moment. On older kernels
//! the subtree is frozen, every member is killed through a pidfd, and the
//! subtree is thawed. A directory can be removed only once `cgroup.events`
//! says `populated 0`; that wait is handed to the reaper thread.
//!
//! # Leftovers
//!
//! The host root is named `processkit-<pid>-<start time>-<pid namespace>`:
//! its owner's pid and start time (from `/proc/<pid>/stat`) and the inode of
//! the owner's pid namespace (`/proc/self/ns/pid`). A later process sweeps
//! (kill, wait, remove) a root only when it is from its own pid namespace,
//! its own `/proc` shows that namespace, and the owner's pid is absent from
//! `/proc` or names a process with another start time. A root of another
//! namespace (a host in a container sharing the cgroup tree), or one whose
//! owner cannot be looked at, is never touched: its owner is unknown, not
//! dead.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::sys::linux::procfs::{
    cgroup2_mount_or_error, own_cgroup_or_error, own_pid_namespace, proc_is_own_namespace,
    start_time_of,
};
use crate::sys::reaper;
use crate::sys::unix::shortage::{Probe, ProbeError};
use std::borrow::Cow;

/// The host root: this process's own directory in the cgroup tree.
pub(crate) struct Host {
    /// `<mount><own>/processkit-<pid>-<start>`.
    pub root: PathBuf,
    /// `cgroup.kill` exists (Linux 5.14+).
    pub has_kill: bool,
    /// The pid of the process that created the root.
    pub owner: u32,
    /// Where the cgroup came from when it is not the process's own one
    /// (a systemd-delegated scope), for `preflight()`.
    pub source: Option<String>,
}

/// The host root's probe. A failure for a passing shortage (no free fd at
/// that moment) is not kept: the next container probes again.
static HOST: Probe<Host> = Probe::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The host root, created on first use; `Err` says why cgroups can't be used
/// (and, after a passing shortage, that the next call tries again).
pub(crate) fn host() -> Result<&'static Host, Cow<'static, str>> {
    HOST.get(init_host)
}

#[cfg(test)]
mod tests {

    /// A listing can be stale by the time each pid is pinned: a pid that is
    /// not in the cgroup any more (it exited and was reused outside) is
    /// never signalled; a member still listed is.
    #[test]
    fn a_stale_listing_never_signals_a_process_outside_the_cgroup() {
        let host = super::host().expect("a writable cgroup v2");
        let cg = super::Cg::create_under(&host.root, "t").unwrap();
        let mut member = std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .unwrap();
        std::fs::write(cg.path.join("cgroup.procs"), member.id().to_string()).unwrap();
        let mut outsider = std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .unwrap();
        // As if `outsider` had taken the pid of a member that just exited.
        super::signal_listed(&cg.path, &[outsider.id(), member.id()], libc::SIGKILL).unwrap();
        let status = member.wait().unwrap();
        assert!(!status.success(), "the member was signalled");
        let running = outsider.try_wait().unwrap().is_none();
        let _ = outsider.kill();
        let _ = outsider.wait();
        assert!(running, "a process outside the cgroup was killed");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while cg.populated().unwrap() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        cg.remove_tree().unwrap();
    }

    /// `remove_tree` takes an empty cgroup with one `rmdir`, and one with
    /// child cgroups (as a program that makes its own sub-cgroups leaves
    /// it) deepest first; a cgroup that still holds a process stays, with
    /// the error.
    #[test]
    fn remove_tree_takes_nested_cgroups_and_refuses_a_populated_one() {
        let host = super::host().expect("a writable cgroup v2");
        let cg = super::Cg::create_under(&host.root, "t").unwrap();
        std::fs::create_dir_all(cg.path.join("a/b/c")).unwrap();
        std::fs::create_dir(cg.path.join("d")).unwrap();
        cg.remove_tree().unwrap();
        assert!(!cg.path.exists(), "the nested tree is gone");

        let cg = super::Cg::create_under(&host.root, "t").unwrap();
        std::fs::create_dir(cg.path.join("a")).unwrap();
        let mut member = std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .unwrap();
        std::fs::write(cg.path.join("a/cgroup.procs"), member.id().to_string()).unwrap();
        let refused = cg.remove_tree();
        let _ = member.kill();
        let _ = member.wait();
        assert!(refused.is_err(), "a populated cgroup is not removed");
        assert!(cg.path.join("a").exists());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while cg.populated().unwrap() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        cg.remove_tree().unwrap();
        assert!(!cg.path.exists());
    }

    /// The kill for kernels without `cgroup.kill` runs in `Drop`: it never
    /// waits for the freezer, even one that does not settle.
    #[test]
    fn kill_without_cgroup_kill_never_waits_for_the_freezer() {
        let dir = tempfile::tempdir().unwrap();
        let fake = super::Cg::at(dir.path().to_owned());
        // A cgroup whose freezer never reports `frozen 1`.
        std::fs::write(dir.path().join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        std::fs::write(dir.path().join("cgroup.freeze"), "").unwrap();
        let mut member = std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .unwrap();
        std::fs::write(
            dir.path().join("cgroup.procs"),
            format!("{}\n", member.id()),
        )
        .unwrap();
        let start = std::time::Instant::now();
        fake.kill(false).unwrap();
        let took = start.elapsed();
        // No later re-kill round may see the pid once it is reaped.
        std::fs::write(dir.path().join("cgroup.procs"), "").unwrap();
        let status = member.wait().unwrap();
        // The re-kill rounds stop once the directory is gone.
        drop(dir);
        assert!(!status.success(), "the member was killed");
        assert!(
            took < std::time::Duration::from_millis(200),
            "the kill blocked for {took:?}"
        );
    }

    /// The path for kernels without `cgroup.kill` (before 5.14): freeze,
    /// kill every member through a pidfd, thaw.
    #[test]
    fn kill_without_cgroup_kill_freezes_sweeps_and_thaws() {
        let host = super::host().expect("a writable cgroup v2");
        let cg = super::Cg::create_under(&host.root, "t").unwrap();
        let mut kids = Vec::new();
        for _ in 0..3 {
            let child = std::process::Command::new("sleep")
                .arg("300")
                .spawn()
                .unwrap();
            std::fs::write(cg.path.join("cgroup.procs"), child.id().to_string()).unwrap();
            kids.push(child);
        }
        assert!(cg.populated().unwrap());
        cg.kill(false).unwrap();
        for mut k in kids {
            let status = k.wait().unwrap();
            assert!(!status.success(), "killed");
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while cg.populated().unwrap() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!cg.populated().unwrap());
        assert!(
            cg.read("cgroup.events").unwrap().contains("frozen 0"),
            "thawed again"
        );
        cg.remove_tree().unwrap();
    }
}

fn init_host() -> Result<Host, ProbeError> {
    let final_ = |s: &str| ProbeError::Final(s.to_owned());
    let mount = cgroup2_mount_or_error()
        .map_err(|e| ProbeError::from_io("cannot read /proc/self/mountinfo", &e))?
        .ok_or_else(|| final_("no cgroup2 filesystem is mounted"))?;
    let own = own_cgroup_or_error()
        .map_err(|e| ProbeError::from_io("cannot read /proc/self/cgroup", &e))?
        .ok_or_else(|| final_("/proc/self/cgroup has no cgroup v2 (0::) entry"))?;
    let parent = mount.join(own.trim_start_matches('/'));
    let pid = std::process::id();
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| ProbeError::from_io("cannot read this process's start time", &e))?;
    let start =
        start_time_of(&stat).ok_or_else(|| final_("cannot parse this process's start time"))?;
    let root = match create_root(&parent, pid, start) {
        Ok(root) => root,
        Err(e @ ProbeError::Shortage(_)) => return Err(e),
        #[cfg(feature = "systemd")]
        Err(ProbeError::Final(here)) => {
            // Not writable here: ask the user's systemd manager for a
            // delegated scope (see systemd.rs), then use it as the parent.
            let scope = super::systemd::delegated_scope(&mount)
                .map_err(|why| ProbeError::Final(format!("{here}; {why}")))?;
            let root = create_root(&scope.path, pid, start)?;
            return Ok(finish_host(&scope.path, root, pid, Some(scope.describe())));
        }
        #[cfg(not(feature = "systemd"))]
        Err(here) => return Err(here),
    };
    Ok(finish_host(&parent, root, pid, None))
}

/// Creates the host root under `parent` and proves it usable.
fn create_root(parent: &Path, pid: u32, start: u64) -> Result<PathBuf, ProbeError> {
    let root = match own_pid_namespace() {
        Some(ns) => parent.join(format!("processkit-{pid}-{start}-{ns}")),
        // No namespace identity: a name no sweep ever takes for dead.
        None => parent.join(format!("processkit-{pid}-{start}")),
    };
    match fs::create_dir(&root) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(ProbeError::from_io(
                format_args!("cannot create a cgroup under {}", parent.display()),
                &e,
            ));
        }
    }
    // Prove the directory is usable: we must be able to open cgroup.procs for writing.
    if let Err(e) = fs::OpenOptions::new()
        .write(true)
        .open(root.join("cgroup.procs"))
    {
        let _ = fs::remove_dir(&root);
        return Err(ProbeError::from_io(
            format_args!("cgroup {} is not writable", root.display()),
            &e,
        ));
    }
    Ok(root)
}

fn finish_host(parent: &Path, root: PathBuf, pid: u32, source: Option<String>) -> Host {
    let has_kill = root.join("cgroup.kill").exists();
    // SAFETY: registers a plain `extern "C" fn()` with no preconditions.
    unsafe {
        libc::atexit(at_exit);
    }
    sweep_leftovers(parent, &root);
    Host {
        root,
        has_kill,
        owner: pid,
        source,
    }
}

/// What a host root's name says about its owner.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    Alive,
    Dead,
    /// Another pid namespace, an older name without one, or an owner that
    /// cannot be looked at: never swept.
    Unknown,
}

/// Judges the host root named `name` from this process's point of view.
pub(crate) fn owner_of(name: &str, own_ns: u64) -> Owner {
    let Some(rest) = name.strip_prefix("processkit-") else {
        return Owner::Unknown;
    };
    let mut parts = rest.split('-');
    let (Some(pid), Some(start), Some(ns), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Owner::Unknown;
    };
    let (Ok(pid), Ok(start), Ok(ns)) =
        (pid.parse::<u32>(), start.parse::<u64>(), ns.parse::<u64>())
    else {
        return Owner::Unknown;
    };
    if ns != own_ns {
        return Owner::Unknown;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let started = stat
                .rfind(')')
                .and_then(|i| stat.get(i + 2..))
                .and_then(|rest| rest.split_whitespace().nth(19))
                .and_then(|v| v.parse::<u64>().ok());
            match started {
                Some(s) if s == start => Owner::Alive,
                Some(_) => Owner::Dead,
                None => Owner::Unknown,
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Owner::Dead,
        Err(_) => Owner::Unknown,
    }
}

/// Removes host roots of dead owners under `parent` (the second line of
/// defence after the guardian).
fn sweep_leftovers(parent: &Path, mine: &Path) {
    let Some(own_ns) = own_pid_namespace() else {
        return;
    };
    if !proc_is_own_namespace() {
        return;
    }
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == mine {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if owner_of(name, own_ns) != Owner::Dead {
            continue;
        }
        let cg = Cg::at(path);
        let _ = cg.kill(true);
        retire(cg, Retire::Remove);
    }
}

/// One cgroup directory.
#[derive(Debug, Clone)]
pub(crate) struct Cg {
    pub path: PathBuf,
    /// What is kept with the directory, shared by every clone; one
    /// allocation, since a group holds a `Cg` per live member.
    kept: std::sync::Arc<Kept>,
}

/// The descriptors and flags a [`Cg`] keeps.
#[derive(Debug, Default)]
struct Kept {
    /// `cgroup.events`, opened on first use: `populated()` runs several
    /// times per run, and a `pread` on a kept fd costs about a twentieth of
    /// an open + read + close on kernfs.
    events: OnceLock<fs::File>,
    /// `cpu.stat` and the directory itself, kept only on a one-shot leaf
    /// (see [`Cg::kept_dir_fd`], [`Cg::read_kept_cpu_stat`]), which the
    /// pool reuses run after run; a group's per-child leaf never opens
    /// them, so a live member costs no descriptor.
    cpu_stat: OnceLock<fs::File>,
    dir: OnceLock<OwnedFd>,
    /// Set once `cgroup.kill` (or the freeze-and-kill sweep) was used on
    /// this directory. Such a leaf is never reused: on current kernels a
    /// child created straight into a cgroup that was once killed
    /// (`clone3(CLONE_INTO_CGROUP)`) is itself killed at birth.
    killed: std::sync::atomic::AtomicBool,
}

impl Cg {
    pub(crate) fn at(path: PathBuf) -> Cg {
        Cg {
            path,
            kept: Default::default(),
        }
    }

    /// Creates a new, uniquely named directory under `parent`.
    pub(crate) fn create_under(parent: &Path, prefix: &str) -> io::Result<Cg> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!("{prefix}{id}"));
        fs::create_dir(&path)?;
        Ok(Cg::at(path))
    }

    /// Whether `cgroup.events` has the line `line` right now. Re-reads
    /// offset 0 of the kept fd: kernfs regenerates the text on every read
    /// from the start.
    fn events_has(&self, line: &[u8]) -> io::Result<bool> {
        let mut buf = [0u8; 256];
        let n = self.pread_kept(&self.kept.events, "cgroup.events", &mut buf)?;
        Ok(buf[..n].split(|&b| b == b'\n').any(|l| l == line))
    }

    /// Reads `file` from offset 0 through the fd kept in `slot` (opened on
    /// first use) into `buf`; returns the length read.
    fn pread_kept(
        &self,
        slot: &OnceLock<fs::File>,
        file: &str,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let f = match slot.get() {
            Some(f) => f,
            None => {
                let f = fs::File::open(self.path.join(file))?;
                let _ = slot.set(f);
                slot.get().expect("set just above")
            }
        };
        f.read_at(buf, 0).map_err(|e| {
            // A kept fd of a cgroup removed since reads ENODEV: to every
            // caller that is the same as the directory being gone, so say
            // so (a watcher that retried "any other error" would keep the
            // fd, and itself, forever).
            if e.raw_os_error() == Some(libc::ENODEV) {
                io::Error::new(io::ErrorKind::NotFound, e)
            } else {
                e
            }
        })
    }

    /// `cpu.stat` through a kept fd: one `pread` instead of open, `statx`,
    /// `lseek`, three reads and close. For a one-shot leaf, which is read
    /// before every run it is reused for.
    pub(crate) fn read_kept_cpu_stat(&self) -> io::Result<String> {
        let mut buf = [0u8; 1024];
        let n = self.pread_kept(&self.kept.cpu_stat, "cpu.stat", &mut buf)?;
        if n == buf.len() {
            // More lines than expected (many controllers): read it whole.
            return self.read("cpu.stat");
        }
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// The directory itself for `clone3(CLONE_INTO_CGROUP)`, opened once
    /// and kept: for a one-shot leaf, which the pool reuses run after run.
    pub(crate) fn kept_dir_fd(&self) -> io::Result<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        if self.kept.dir.get().is_none() {
            let _ = self.kept.dir.set(self.dir_fd()?);
        }
        Ok(self.kept.dir.get().expect("set just above").as_fd())
    }

    /// Opens the directory itself, for `clone3(CLONE_INTO_CGROUP)`.
    pub(crate) fn dir_fd(&self) -> io::Result<OwnedFd> {
        Ok(rustix::fs::open(
            &self.path,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?)
    }

    fn write(&self, file: &str, value: &str) -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(self.path.join(file))?;
        f.write_all(value.as_bytes())
    }

    pub(crate) fn read(&self, file: &str) -> io::Result<String> {
        let mut s = String::new();
        fs::File::open(self.path.join(file))?.read_to_string(&mut s)?;
        Ok(s)
    }

    /// `true` while any process lives in this cgroup or below.
    pub(crate) fn populated(&self) -> io::Result<bool> {
        self.events_has(b"populated 1")
    }

    /// Kills every process in the subtree. With `cgroup.kill` this is one
    /// atomic write; otherwise freeze, kill each member by pidfd, thaw.
    pub(crate) fn kill(&self, has_kill: bool) -> io::Result<()> {
        self.kept.killed.store(true, Ordering::Relaxed);
        if has_kill {
            match self.write("cgroup.kill", "1") {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound && !self.path.exists() => {
                    return Ok(());
                }
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                Err(_) => {}
            }
        }
        // Without `cgroup.kill`: freeze (so nothing forks past the listing),
        // kill every member, thaw. Nothing here waits for the freezer to
        // settle (this runs in `Drop`); a member forked before the freeze
        // took hold is caught by the same steps repeated on the reaper
        // thread until the subtree is empty.
        self.freeze_kill_thaw()?;
        if self.populated().unwrap_or(false) {
            let cg = self.clone();
            reaper::submit(reaper::Task::Poll(Box::new(move || match cg.populated() {
                Ok(true) => {
                    let _ = cg.freeze_kill_thaw();
                    false
                }
                _ => true,
            })));
        }
        Ok(())
    }

    /// One round of the kill for kernels without `cgroup.kill`, without
    /// waiting: SIGKILL reaches frozen and freezing processes alike.
    fn freeze_kill_thaw(&self) -> io::Result<()> {
        let _ = self.write("cgroup.freeze", "1");
        let r = self.signal_each(true, libc::SIGKILL);
        let _ = self.write("cgroup.freeze", "0");
        r
    }

    /// Sends `sig` to every process in this cgroup (and with `recursive`
    /// every cgroup below), each through a pidfd, and only to a process
    /// still listed in the cgroup once its pidfd is open: a pid that exited
    /// after the listing and was reused outside is never signalled.
    pub(crate) fn signal_each(&self, recursive: bool, sig: i32) -> io::Result<()> {
        let mut dirs = vec![self.path.clone()];
        if recursive {
            collect_dirs(&self.path, &mut dirs);
        }
        for dir in dirs {
            let mut listed = Vec::new();
            collect_pids(&dir, false, &mut listed)?;
            signal_listed(&dir, &listed, sig)?;
        }
        Ok(())
    }

    /// Writes `cgroup.freeze` and waits (bounded) for `frozen` to settle.
    pub(crate) fn set_frozen(&self, frozen: bool) -> io::Result<()> {
        self.write("cgroup.freeze", if frozen { "1" } else { "0" })?;
        let want: &[u8] = if frozen { b"frozen 1" } else { b"frozen 0" };
        let start = Instant::now();
        loop {
            if self.events_has(want)? || !self.populated()? {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(1) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} did not reach `{}` within 1 s",
                        self.path.display(),
                        String::from_utf8_lossy(want)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// The pids in this cgroup, and with `recursive` in every cgroup below it.
    pub(crate) fn pids(&self, recursive: bool) -> io::Result<Vec<u32>> {
        let mut out = Vec::new();
        collect_pids(&self.path, recursive, &mut out)?;
        Ok(out)
    }

    /// Removes this directory and any child directories, deepest first.
    pub(crate) fn remove_tree(&self) -> io::Result<()> {
        // Most cgroups have no child directories by now: one `rmdir`
        // instead of listing the directory first. A cgroup with child
        // directories refuses with EBUSY; then the children go first.
        match fs::remove_dir(&self.path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if !matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => {
                return Err(e);
            }
            Err(_) => {}
        }
        if let Ok(entries) = fs::read_dir(&self.path) {
            for e in entries.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    Cg::at(e.path()).remove_tree()?;
                }
            }
        }
        match fs::remove_dir(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Every directory below `dir`, parents before children.
fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.push(e.path());
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// Signals the processes `listed` (read from `dir/cgroup.procs` earlier,
/// possibly stale) that are still in `dir` once a pidfd pins each of them.
/// A pidfd names one process for good; if that process is still listed in
/// `dir` after the pidfd was opened, the pidfd names a member (had it been
/// reaped in between, the signal through it fails instead).
fn signal_listed(dir: &Path, listed: &[u32], sig: i32) -> io::Result<()> {
    let pinned: Vec<(u32, OwnedFd)> = listed
        .iter()
        .filter_map(|&pid| {
            let p = rustix::process::Pid::from_raw(pid as i32)?;
            let fd = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok()?;
            Some((pid, fd))
        })
        .collect();
    if pinned.is_empty() {
        return Ok(());
    }
    let mut now = Vec::new();
    collect_pids(dir, false, &mut now)?;
    for (pid, fd) in &pinned {
        if now.contains(pid) {
            super::pidfd_send(fd, sig);
        }
    }
    Ok(())
}

fn collect_pids(dir: &Path, recursive: bool, out: &mut Vec<u32>) -> io::Result<()> {
    match fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(text) => out.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    if recursive && let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_pids(&e.path(), true, out)?;
            }
        }
    }
    Ok(())
}

/// What to do with a cgroup once it is empty.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retire {
    /// Put the (empty) leaf back into the one-shot pool.
    Pool,
    /// Remove the directory tree.
    Remove,
}

/// Leaves of finished one-shot runs, ready for reuse. Bounded; the rest are removed.
static POOL: Mutex<Vec<Cg>> = Mutex::new(Vec::new());
/// Big enough that a burst of a few hundred concurrent runs finds its
/// leaves again next time instead of paying `mkdir` + `rmdir` (~50 µs) each.
const POOL_MAX: usize = 256;
/// Pooled leaves past this many give up their kept fds (`cgroup.events`,
/// `cpu.stat`, the directory), so the pool never holds more than three
/// times this many fds.
const POOL_KEEP_FDS: usize = 32;

/// A leaf for a one-shot run: from the pool, or a fresh directory.
pub(crate) fn take_leaf(host: &Host) -> io::Result<Cg> {
    if let Some(cg) = POOL.lock().unwrap_or_else(|p| p.into_inner()).pop() {
        return Ok(cg);
    }
    Cg::create_under(&host.root, "r")
}

/// Finishes with a cgroup whose processes have been killed (or have exited):
/// once `cgroup.events` says it is empty, pool or remove it. Never blocks:
/// the waiting happens on the reaper thread.
pub(crate) fn retire(cg: Cg, how: Retire) {
    let mut cg = Some(cg);
    reaper::submit(reaper::Task::Poll(Box::new(move || {
        let Some(c) = cg.as_ref() else { return true };
        match c.populated() {
            Ok(true) => false,
            Ok(false) => {
                let c = cg.take().expect("checked above");
                if how == Retire::Pool && !c.kept.killed.load(Ordering::Relaxed) {
                    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
                    if pool.len() < POOL_MAX {
                        let c = if pool.len() < POOL_KEEP_FDS {
                            c
                        } else {
                            Cg::at(c.path.clone())
                        };
                        pool.push(c);
                        return true;
                    }
                }
                let _ = c.remove_tree();
                true
            }
            // Gone already; any other failure (out of fds) is tried again.
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        }
    })));
}

/// Removes a per-member leaf (and anything its processes created below it)
/// once it is empty, however long that takes: a group that keeps starting
/// children must not collect one directory per child it ever had. Never
/// blocks: the watching happens on the reaper thread.
pub(crate) fn remove_when_empty(cg: Cg) {
    let mut cg = Some(cg);
    reaper::submit(reaper::Task::Watch(Box::new(move || {
        let Some(c) = cg.as_ref() else { return true };
        match c.populated() {
            Ok(true) => false,
            Ok(false) => {
                if let Some(c) = cg.take() {
                    let _ = c.remove_tree();
                }
                true
            }
            // Gone already (the group was removed); any other failure
            // (out of fds) is tried again.
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        }
    })));
}

extern "C" fn at_exit() {
    teardown_host();
}

/// Kills everything still in the host root and removes it (best effort, at
/// exit: `std::process::exit` and returning from `main` run this).
pub(crate) fn teardown_host() {
    let Some(Ok(host)) = HOST.settled() else {
        return;
    };
    // A process forked from the host inherits this handler; only the host
    // itself may tear its containers down.
    if std::process::id() != host.owner {
        return;
    }
    let leaves = std::mem::take(&mut *POOL.lock().unwrap_or_else(|p| p.into_inner()));
    for leaf in leaves {
        let _ = fs::remove_dir(&leaf.path);
    }
    let root = Cg::at(host.root.clone());
    if root.populated().unwrap_or(true) {
        let _ = root.kill(host.has_kill);
        let start = Instant::now();
        while root.populated().unwrap_or(false) && start.elapsed() < Duration::from_millis(500) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let _ = root.remove_tree();
}

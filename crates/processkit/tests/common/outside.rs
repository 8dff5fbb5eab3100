//! Looking at processes and cgroups from the outside, needing nothing of
//! processkit: shared by the library's tests (through `common`) and the
//! command-line tool's tests (included with `#[path]`).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

/// `true` while `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(
                stat[i + 1..].trim_start().chars().next(),
                Some('Z') | Some('X')
            ),
            None => false,
        },
        Err(_) => false,
    }
}

/// Polls `cond` until it holds or `within` passes; returns whether it held.
pub fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asserts every pid is gone (or a zombie) within `within`.
pub fn assert_all_gone(pids: &[u32], within: Duration, what: &str) {
    let ok = wait_until(within, || pids.iter().all(|p| !alive(*p)));
    let survivors: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(ok, "{what}: still alive after {within:?}: {survivors:?}");
}

/// Where cgroup2 is mounted, from `/proc/self/mountinfo`.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = info
        .lines()
        .find(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|t| t.starts_with("cgroup2 "))
        })?
        .split_whitespace()
        .nth(4)?
        .to_owned();
    Some(PathBuf::from(mount))
}

/// The cgroup v2 directory `pid` is in.
pub fn cgroup_dir_of(pid: u32) -> Option<PathBuf> {
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_owned))?;
    Some(cgroup2_mount()?.join(own.trim_start_matches('/')))
}

/// This process's own cgroup v2 directory (where processkit puts its roots).
pub fn own_cgroup() -> Option<PathBuf> {
    cgroup_dir_of(std::process::id())
}

/// The inode of this process's pid namespace (part of a root's name).
#[cfg(unix)]
pub fn own_pid_namespace() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid").unwrap().ino()
}

#[cfg(unix)]
/// A container root left behind by an owner that is certainly dead, planted
/// by hand below this process's cgroup, with a straggler in one of its leaves.
pub struct DeadOwner {
    /// The owner's pid: a process that exited, with a start time that
    /// cannot match whatever reuses the pid.
    pub pid: u32,
    /// `processkit-<pid>-1-<pid namespace>`.
    pub root: PathBuf,
    /// A `sleep` moved into `<root>/g1/c1`.
    pub straggler: Child,
}

#[cfg(unix)]
impl DeadOwner {
    /// Plants a root of a dead owner below `parent`, with a `sleep
    /// <sleep_secs>` straggler in it.
    pub fn plant(parent: &std::path::Path, sleep_secs: u32) -> DeadOwner {
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let pid = gone.id();
        gone.wait().unwrap();
        let root = parent.join(format!("processkit-{pid}-1-{}", own_pid_namespace()));
        let leaf = root.join("g1").join("c1");
        std::fs::create_dir_all(&leaf).unwrap();
        let straggler = std::process::Command::new("sleep")
            .arg(sleep_secs.to_string())
            .spawn()
            .unwrap();
        std::fs::write(leaf.join("cgroup.procs"), straggler.id().to_string()).unwrap();
        DeadOwner {
            pid,
            root,
            straggler,
        }
    }

    /// Waits (bounded) until a sweep has killed the straggler; returns how
    /// it ended.
    pub fn straggler_killed(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.straggler.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the straggler survived the sweep"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

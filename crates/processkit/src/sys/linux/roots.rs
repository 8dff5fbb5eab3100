//! Host roots left anywhere in the cgroup2 tree, for listing and sweeping
//! them ([`crate::containers`]): each one with its owner judged as the
//! cgroup backend's own sweep judges it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::sys::linux::cgroup::{Cg, Owner, owner_of};
use crate::sys::linux::procfs::{cgroup2_mount, own_pid_namespace, proc_is_own_namespace};

/// A host root found anywhere in the cgroup2 tree, for
/// [`crate::containers`].
pub(crate) struct FoundRoot {
    pub path: PathBuf,
    pub owner_pid: Option<u32>,
    /// `Some(true)` alive, `Some(false)` dead, `None` unknown.
    pub owner_alive: Option<bool>,
    pub uid: u32,
    pub members: Vec<u32>,
    pub memory_current: Option<u64>,
}

/// Every host root (`processkit-*` directory) in the cgroup2 tree, with
/// its owner judged as the sweep judges it. Does not create this process's
/// own root, so nothing is swept on the way.
pub(crate) fn find_roots() -> Result<Vec<FoundRoot>, String> {
    use std::os::unix::fs::MetadataExt;
    let mount = cgroup2_mount().ok_or("no cgroup2 filesystem is mounted")?;
    let own_ns = own_pid_namespace().filter(|_| proc_is_own_namespace());
    let mut out = Vec::new();
    let mut stack = vec![(mount, 0u32)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = e.file_name();
            let name = name.to_string_lossy();
            if !name.starts_with("processkit-") {
                if depth < 32 {
                    stack.push((e.path(), depth + 1));
                }
                continue;
            }
            let owner_pid = name
                .strip_prefix("processkit-")
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse().ok());
            let owner_alive = match own_ns.map(|ns| owner_of(&name, ns)) {
                Some(Owner::Alive) => Some(true),
                Some(Owner::Dead) => Some(false),
                _ => None,
            };
            let cg = Cg::at(e.path());
            out.push(FoundRoot {
                uid: e.metadata().map(|m| m.uid()).unwrap_or(u32::MAX),
                members: cg.pids(true).unwrap_or_default(),
                memory_current: cg
                    .read("memory.current")
                    .ok()
                    .and_then(|v| v.trim().parse().ok()),
                path: cg.path,
                owner_pid,
                owner_alive,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Kills everything in the host root at `path`, waits (up to 5 s) for it
/// to empty and removes it, deepest directories first.
pub(crate) fn remove_root(path: &Path) -> io::Result<()> {
    let cg = Cg::at(path.to_owned());
    cg.kill(path.join("cgroup.kill").exists())?;
    let start = Instant::now();
    while cg.populated()? {
        if start.elapsed() > Duration::from_secs(5) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{} still has processes 5 s after the kill", path.display()),
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cg.remove_tree()
}

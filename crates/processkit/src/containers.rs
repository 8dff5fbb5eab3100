//! The containers of every process on this host that uses processkit, as
//! the cgroup tree shows them: [`containers`] lists them, [`sweep_containers`]
//! removes the ones whose owner has died.
//!
//! Each process keeps its containers under one directory of the cgroup2
//! tree, `processkit-<pid>-<start time>-<pid namespace>`. The guardian and
//! the next process that starts a container clean up after an owner that
//! died; these functions let a person (or the `processkit ps` and
//! `processkit sweep` commands) look and clean up on demand.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Whether the process that owns a container is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnerState {
    /// The owner runs: its pid is live with the recorded start time.
    Alive,
    /// The owner has exited (its pid is gone or names another process):
    /// [`sweep_containers`] removes the container.
    Dead,
    /// The owner cannot be judged from here (another pid namespace, a
    /// name without a namespace identity, an unreadable `/proc` entry):
    /// never swept.
    Unknown,
}

/// One process's containers, as found in the cgroup tree.
///
/// ```no_run
/// for c in processkit::containers()? {
///     println!("{} owner {:?} ({:?}): {} members", c.path.display(), c.owner_pid, c.owner, c.members.len());
/// }
/// # Ok::<(), processkit::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ContainerInfo {
    /// The directory in the cgroup2 tree.
    pub path: PathBuf,
    /// The owner's pid, from the directory's name.
    pub owner_pid: Option<u32>,
    /// Whether the owner still runs.
    pub owner: OwnerState,
    /// The owner's command line, while it runs.
    pub owner_command: Option<String>,
    /// The uid that owns the directory.
    pub uid: u32,
    /// The pids of every process in the container.
    pub members: Vec<u32>,
    /// The memory charged to the container, where a memory controller
    /// measures it.
    pub memory_bytes: Option<u64>,
}

/// The containers of this user (the directories owned by this process's
/// effective uid) anywhere in the cgroup2 tree. Does not create a
/// container of its own, and removes nothing.
///
/// # Errors
///
/// [`Error::Unsupported`] where there is no cgroup2 tree to look at (not
/// Linux, or no cgroup2 mount): containers on process groups or Job
/// Objects leave nothing behind to list.
///
/// ```
/// match processkit::containers() {
///     Ok(list) => assert!(list.iter().all(|c| c.path.file_name().unwrap().to_string_lossy().starts_with("processkit-"))),
///     Err(processkit::Error::Unsupported { .. }) => {}
///     Err(e) => panic!("{e}"),
/// }
/// ```
pub fn containers() -> Result<Vec<ContainerInfo>> {
    imp::containers()
}

/// Removes this user's containers whose owner has died
/// ([`OwnerState::Dead`]): kills every process left in them, waits for
/// them to exit and removes the directories. Returns what it removed (as
/// it was just before). Containers of live or unknown owners are never
/// touched.
///
/// # Errors
///
/// [`Error::Unsupported`] as for [`containers`]; [`Error::Io`] when a
/// container could not be removed (the others are still removed).
///
/// ```
/// match processkit::sweep_containers() {
///     Ok(removed) => assert!(removed.iter().all(|c| c.owner == processkit::OwnerState::Dead)),
///     Err(processkit::Error::Unsupported { .. }) => {}
///     Err(e) => eprintln!("{e}"),
/// }
/// ```
pub fn sweep_containers() -> Result<Vec<ContainerInfo>> {
    imp::sweep()
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;
    use crate::sys::linux::cgroup;

    pub(super) fn containers() -> Result<Vec<ContainerInfo>> {
        let uid = rustix::process::geteuid().as_raw();
        let found = cgroup::find_roots().map_err(|reason| Error::Unsupported {
            program: "containers".into(),
            operation: "listing containers".into(),
            reason,
        })?;
        Ok(found
            .into_iter()
            .filter(|r| r.uid == uid)
            .map(|r| ContainerInfo {
                owner_command: match (r.owner_alive, r.owner_pid) {
                    (Some(true), Some(pid)) => command_line(pid),
                    _ => None,
                },
                owner: match r.owner_alive {
                    Some(true) => OwnerState::Alive,
                    Some(false) => OwnerState::Dead,
                    None => OwnerState::Unknown,
                },
                path: r.path,
                owner_pid: r.owner_pid,
                uid: r.uid,
                members: r.members,
                memory_bytes: r.memory_current,
            })
            .collect())
    }

    fn command_line(pid: u32) -> Option<String> {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let words: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        (!words.is_empty()).then(|| words.join(" "))
    }

    pub(super) fn sweep() -> Result<Vec<ContainerInfo>> {
        let mut removed = Vec::new();
        let mut failure = None;
        for c in containers()? {
            if c.owner != OwnerState::Dead {
                continue;
            }
            match cgroup::remove_root(&c.path) {
                Ok(()) => removed.push(c),
                Err(e) => {
                    failure.get_or_insert(Error::Io {
                        program: "containers".into(),
                        context: format!("removing {}", c.path.display()),
                        source: e,
                    });
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(removed),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::*;

    fn unsupported() -> Error {
        Error::Unsupported {
            program: "containers".into(),
            operation: "listing containers".into(),
            reason:
                "only Linux keeps containers in a shared tree (cgroup v2) that outlives their owner"
                    .into(),
        }
    }

    pub(super) fn containers() -> Result<Vec<ContainerInfo>> {
        Err(unsupported())
    }

    pub(super) fn sweep() -> Result<Vec<ContainerInfo>> {
        Err(unsupported())
    }
}

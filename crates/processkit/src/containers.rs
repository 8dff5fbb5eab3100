//! The containers of every process on this host that uses processkit:
//! [`containers`] lists them, [`sweep_containers`] removes the ones whose
//! owner has died.
//!
//! Two mechanisms leave something behind to find:
//! - [`Mechanism::CgroupV2`](crate::Mechanism::CgroupV2): each process
//!   keeps its containers under one directory of the cgroup2 tree,
//!   `processkit-<pid>-<start time>-<pid namespace>`. The guardian and the
//!   next process that starts a container clean up after an owner that
//!   died.
//! - [`Mechanism::Subreaper`](crate::Mechanism::Subreaper): each child runs
//!   below a helper process whose command line names its owner. A helper
//!   takes its tree down by itself when its owner dies.
//!
//! Process groups leave nothing that outlives their owner's bookkeeping,
//! so they are not listed. These functions let a person (or the
//! `processkit ps` and `processkit sweep` commands) look and clean up on
//! demand.

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
    /// Where the container lives: its directory in the cgroup2 tree, or
    /// for a subreaper container `/proc/<helper pid>`.
    pub path: PathBuf,
    /// The mechanism behind the container:
    /// [`Mechanism::CgroupV2`](crate::Mechanism::CgroupV2) or
    /// [`Mechanism::Subreaper`](crate::Mechanism::Subreaper).
    pub mechanism: crate::Mechanism,
    /// The owner's pid, from the directory's name or the helper's command
    /// line.
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
    /// measures it; for a subreaper container, the sum of its members'
    /// resident set sizes (pages they share are counted once per member).
    pub memory_bytes: Option<u64>,
}

/// The containers of this user (cgroup directories owned by this
/// process's effective uid anywhere in the cgroup2 tree, and subreaper
/// helpers running as that uid), cgroup directories first. Does not create
/// a container of its own, and removes nothing.
///
/// # Errors
///
/// [`Error::Unsupported`] off Linux: containers on process groups or Job
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
/// them to exit and removes the directories (for a subreaper container,
/// kills the helper, which normally has already done this itself). Returns what it removed (as
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
    use crate::sys::linux::roots;
    use crate::sys::linux::subreaper::found;

    pub(super) fn containers() -> Result<Vec<ContainerInfo>> {
        let uid = rustix::process::geteuid().as_raw();
        // No cgroup2 mount is not an error here: helpers may still be found.
        let found = roots::find_roots().unwrap_or_default();
        let mut list: Vec<ContainerInfo> = found
            .into_iter()
            .filter(|r| r.uid == uid)
            .map(|r| ContainerInfo {
                mechanism: crate::Mechanism::CgroupV2,
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
            .collect();
        list.extend(
            found::find_helpers()
                .into_iter()
                .filter(|h| h.uid == uid)
                .map(|h| ContainerInfo {
                    path: PathBuf::from(format!("/proc/{}", h.pid)),
                    mechanism: crate::Mechanism::Subreaper,
                    owner_pid: Some(h.owner_pid),
                    owner: if h.owner_alive {
                        OwnerState::Alive
                    } else {
                        OwnerState::Dead
                    },
                    owner_command: h.owner_alive.then(|| command_line(h.owner_pid)).flatten(),
                    uid: h.uid,
                    members: h.members,
                    memory_bytes: h.resident_bytes,
                }),
        );
        Ok(list)
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
            let done = match c.mechanism {
                crate::Mechanism::Subreaper => {
                    let helper = c
                        .path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .and_then(|n| n.parse().ok());
                    match (helper, c.owner_pid) {
                        (Some(helper), Some(owner)) => found::remove_helper(helper, owner),
                        _ => Ok(()),
                    }
                }
                _ => roots::remove_root(&c.path),
            };
            match done {
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
            reason: "only Linux keeps containers (cgroup v2 directories, subreaper helpers) \
                     that can be found outside their owner"
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

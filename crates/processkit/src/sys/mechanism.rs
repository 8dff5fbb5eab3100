//! [`Mechanism`]: the kernel mechanism a container uses, as `sys` reports it.

use std::fmt;

/// The kernel mechanism that contains a process tree.
///
/// ```
/// let m = processkit::Mechanism::current();
/// println!("children of this process are contained by {m}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Mechanism {
    /// A Linux cgroup v2: catches every descendant, including ones that call
    /// `setsid`; supports freeze, whole-tree stats and limits.
    CgroupV2,
    /// A POSIX process group: a descendant that calls `setsid` or `setpgid`
    /// escapes it. The Linux fallback and the macOS/BSD mechanism.
    ProcessGroup,
    /// A Windows Job Object with kill-on-close: catches every descendant.
    JobObject,
    /// Linux without a writable cgroup (a non-root user, a container with a
    /// read-only cgroupfs): each child runs below its own small helper
    /// process that is a child subreaper, so every orphaned descendant,
    /// including ones that call `setsid` or double-fork, is re-parented to
    /// the helper and torn down with it. Needs no privilege; offers no
    /// limits, and stats come from `/proc`.
    Subreaper,
    /// FreeBSD: this process is a reaper (`procctl(PROC_REAP_ACQUIRE)`) and
    /// each child leads a process group, as on
    /// [`ProcessGroup`](Mechanism::ProcessGroup); every signal and kill also
    /// reaches the child's whole reaper subtree (`PROC_REAP_KILL`), which
    /// a descendant keeps through `setsid`, `setpgid` and double forks, and
    /// `members()` lists that subtree. Process-wide: orphans of every child
    /// of the program re-parent to it (processkit reaps the ones that exit).
    /// Type-checked only; no FreeBSD machine runs this project's tests.
    Reaper,
    /// No containment (a target without any mechanism).
    None,
}

impl Mechanism {
    /// `true` when the mechanism catches descendants that start a new session.
    ///
    /// ```
    /// assert!(processkit::Mechanism::CgroupV2.contains_setsid());
    /// assert!(processkit::Mechanism::Subreaper.contains_setsid());
    /// assert!(processkit::Mechanism::Reaper.contains_setsid());
    /// assert!(!processkit::Mechanism::ProcessGroup.contains_setsid());
    /// ```
    pub fn contains_setsid(self) -> bool {
        matches!(
            self,
            Mechanism::CgroupV2 | Mechanism::JobObject | Mechanism::Subreaper | Mechanism::Reaper
        )
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mechanism::CgroupV2 => "cgroup v2",
            Mechanism::ProcessGroup => "POSIX process group",
            Mechanism::JobObject => "Job Object",
            Mechanism::Subreaper => "child subreaper",
            Mechanism::Reaper => "process reaper",
            Mechanism::None => "none",
        })
    }
}

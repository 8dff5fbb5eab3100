//! Spawn-time settings of the child process itself (Unix): `argv[0]`,
//! supplementary groups, umask, resource limits, scheduling priority, and on
//! Linux CPU affinity and I/O priority.
//!
//! They are applied in the spawned child between fork and `execve`, with raw
//! syscalls on data prepared beforehand, so they keep the vfork-style
//! spawner's speed. A setting the target cannot apply is an
//! [`Error::Unsupported`](crate::Error::Unsupported) when the process is
//! started, never a silent skip.

use std::ffi::OsString;

/// A resource whose limit [`Command::rlimit`](crate::Command::rlimit) sets
/// (`setrlimit(2)`).
///
/// ```
/// use processkit::{Command, Resource};
/// let _ = Command::new("server").rlimit(Resource::NoFile, 1024, 4096);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Resource {
    /// `RLIMIT_CORE`: the largest core dump, in bytes.
    Core,
    /// `RLIMIT_CPU`: CPU time, in seconds.
    Cpu,
    /// `RLIMIT_DATA`: the data segment, in bytes.
    Data,
    /// `RLIMIT_FSIZE`: the largest file the process may create, in bytes.
    FileSize,
    /// `RLIMIT_NOFILE`: one more than the highest file descriptor number.
    NoFile,
    /// `RLIMIT_STACK`: the main thread's stack, in bytes.
    Stack,
    /// `RLIMIT_AS`: the address space, in bytes.
    AddressSpace,
    /// `RLIMIT_NPROC`: processes of the real user id.
    Processes,
    /// `RLIMIT_MEMLOCK`: locked memory, in bytes.
    MemLock,
}

impl Resource {
    /// The name `ulimit` and `prlimit` use, for messages.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Resource::Core => "RLIMIT_CORE",
            Resource::Cpu => "RLIMIT_CPU",
            Resource::Data => "RLIMIT_DATA",
            Resource::FileSize => "RLIMIT_FSIZE",
            Resource::NoFile => "RLIMIT_NOFILE",
            Resource::Stack => "RLIMIT_STACK",
            Resource::AddressSpace => "RLIMIT_AS",
            Resource::Processes => "RLIMIT_NPROC",
            Resource::MemLock => "RLIMIT_MEMLOCK",
        }
    }
}

/// An I/O scheduling class and level for
/// [`Command::io_priority`](crate::Command::io_priority) (Linux,
/// `ioprio_set(2)`; what `ionice` sets).
///
/// ```
/// use processkit::{Command, IoPriority};
/// let _ = Command::new("backup").io_priority(IoPriority::Idle);
/// let _ = Command::new("build").io_priority(IoPriority::BestEffort(7));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoPriority {
    /// Real-time class, level 0 (highest) to 7. Needs `CAP_SYS_ADMIN`.
    RealTime(u8),
    /// Best-effort class (the default class), level 0 (highest) to 7.
    BestEffort(u8),
    /// Idle class: I/O only when no one else needs the disk.
    Idle,
}

impl IoPriority {
    /// The kernel's encoding (class << 13 | level), or `None` for a level
    /// out of range.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn encode(self) -> Option<i32> {
        let (class, level) = match self {
            IoPriority::RealTime(l) => (1, l),
            IoPriority::BestEffort(l) => (2, l),
            IoPriority::Idle => (3, 0),
        };
        (level <= 7).then_some((class << 13) | i32::from(level))
    }
}

/// The knobs set on a [`Command`](crate::Command); all empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SpawnKnobs {
    pub arg0: Option<OsString>,
    pub groups: Option<Vec<u32>>,
    pub umask: Option<u32>,
    pub rlimits: Vec<(Resource, u64, u64)>,
    pub priority: Option<i32>,
    pub cpu_affinity: Option<Vec<usize>>,
    pub io_priority: Option<IoPriority>,
}

/// No knobs, for the crate's own internal spawns.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) static NO_KNOBS: SpawnKnobs = SpawnKnobs {
    arg0: None,
    groups: None,
    umask: None,
    rlimits: Vec::new(),
    priority: None,
    cpu_affinity: None,
    io_priority: None,
};

impl SpawnKnobs {
    /// `true` when a knob other than `arg0` (which only changes argv) is set:
    /// those need code in the child before `execve`.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) fn needs_child_setup(&self) -> bool {
        self.groups.is_some()
            || self.umask.is_some()
            || !self.rlimits.is_empty()
            || self.priority.is_some()
            || self.cpu_affinity.is_some()
            || self.io_priority.is_some()
    }

    /// The first knob set that needs code in the child, by its builder name.
    pub(crate) fn first_child_knob(&self) -> Option<&'static str> {
        let probe = SpawnKnobs {
            arg0: None,
            ..self.clone()
        };
        probe.first_set(false)
    }

    /// The first knob set, by its builder name (for `Unsupported` errors).
    pub(crate) fn first_set(&self, linux_only: bool) -> Option<&'static str> {
        if !linux_only {
            if self.arg0.is_some() {
                return Some("arg0");
            }
            if self.groups.is_some() {
                return Some("groups");
            }
            if self.umask.is_some() {
                return Some("umask");
            }
            if !self.rlimits.is_empty() {
                return Some("rlimit");
            }
            if self.priority.is_some() {
                return Some("priority");
            }
        }
        if self.cpu_affinity.is_some() {
            return Some("cpu_affinity");
        }
        if self.io_priority.is_some() {
            return Some("io_priority");
        }
        None
    }
}

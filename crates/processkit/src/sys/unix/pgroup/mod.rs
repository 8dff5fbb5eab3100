//! The POSIX process-group backend: the Linux fallback, and the main backend
//! on macOS and the BSDs.
//!
//! Each child becomes the leader of a new process group (or a new session
//! with `setsid`), and teardown is `killpg` on every tracked group.
//!
//! # Known weaknesses (reported through `Mechanism::ProcessGroup`)
//!
//! * A descendant that calls `setsid` (or `setpgid`) leaves the group and
//!   survives `killpg`. Only a cgroup or a Job Object catches it.
//! * `members()` lists the tracked group leaders, not the whole tree.
//!
//! # No recycled group ids
//!
//! A process group id is the leader's pid. The kernel never hands out a pid
//! that is still in use as a process group id, and a leader that has exited
//! but not been reaped (a zombie) keeps its pid. So the leader is *observed*
//! with `WNOWAIT` and only reaped after the last `killpg` for its group: a
//! `killpg` can never reach an unrelated group that reused the id.
//!
//! A group is released (SIGKILL, then the leader reaped) when its container
//! is dropped. A long-lived container does not wait that long for groups
//! that are over: when a new child is tracked, a leader that has exited,
//! whose handle is gone and whose group has no live process left is reaped
//! then, so a group that keeps starting children does not collect zombies.
//!
//! A leader spawned through the raw escape hatch is reaped by its owner
//! (tokio), never here; once it is reaped its id is free and may lead an
//! unrelated group at any moment. So such a leader is held by a pidfd on
//! Linux (elsewhere, probed with `waitid(WNOWAIT)`), its group is signalled
//! only while the leader is known not to have been reaped, and once it has
//! been, the group is dropped and unregistered from the guardian (a watch on
//! the reaper thread notices it). The guardian itself also gets the leader's
//! start time and refuses a group whose id now names a process with another
//! start time.
//!
//! # Telling a live group from a zombie leader
//!
//! `kill(-pgid, 0)` succeeds while the zombie leader exists, so liveness
//! comes from listing the group: `/proc` on Linux, `proc_listpgrppids` and
//! `proc_pidinfo` on macOS, the `kern.proc.pgrp` sysctl on FreeBSD. Other
//! systems fall back to `kill(-pgid, 0)`, where a finished group may look
//! alive until it is released.

mod container;
mod leader;
mod live;
#[cfg(all(test, target_os = "linux"))]
mod tests;

pub(crate) use container::PgContainer;
pub(crate) use leader::Leader;
#[cfg(not(target_os = "linux"))]
pub(crate) use live::group_alive;

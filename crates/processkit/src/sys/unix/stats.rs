//! Stats and limits for the Unix containers.
//!
//! * A cgroup (Linux) reads its own files: see `sys/linux/stats.rs`.
//! * Process groups have no kernel accounting for a tree, so they give
//!   counts only: the live processes in the tracked groups (a `/proc` scan
//!   on Linux; elsewhere the number of tracked groups that still have a live
//!   process, one per group). CPU time and memory are `None`, and no limit
//!   can be applied.

use std::io;

use crate::sys::error::Error;
use crate::sys::measure::{Limits, RawStats};

use super::{Container, Member, PgContainer};
#[cfg(target_os = "linux")]
use crate::sys::linux::stats as cg_stats;

impl Container {
    /// Whole-tree measurements; `None` where this container cannot give a value.
    #[cfg_attr(not(feature = "stats"), allow(dead_code))]
    pub(crate) fn stats(&self) -> io::Result<RawStats> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(c) => {
                // A one-shot container is a pooled leaf whose counters may
                // include earlier runs, and no baseline is known here: only
                // the current values are its own. (Per-run numbers come from
                // its `Member`, which has the baseline.)
                if c.one_shot {
                    cg_stats::read_stats(&c.cg, Some(&cg_stats::Baseline::REUSED)).map(|s| {
                        RawStats {
                            user_cpu: None,
                            system_cpu: None,
                            ..s
                        }
                    })
                } else {
                    cg_stats::read_stats(&c.cg, None)
                }
            }
            Container::Pgroup(pg) => Ok(counts_only(process_count(pg)?)),
            #[cfg(target_os = "linux")]
            Container::Subreaper(sr) => Ok(sr.stats()),
        }
    }

    /// Applies whole-tree limits to a freshly created group container. The
    /// values are already checked to be positive and finite.
    pub(crate) fn apply_limits(&self, limits: &Limits) -> Result<(), Error> {
        match self {
            #[cfg(target_os = "linux")]
            Container::Cgroup(c) => cg_stats::apply_limits(&c.cg, limits),
            Container::Pgroup(_) => Err(Error::ResourceLimit {
                limit: first_limit(limits).to_owned(),
                reason: pgroup_reason(),
            }),
            #[cfg(target_os = "linux")]
            Container::Subreaper(_) => Err(Error::ResourceLimit {
                limit: first_limit(limits).to_owned(),
                reason: subreaper_reason(),
            }),
        }
    }
}

impl Member {
    /// This child's own subtree's measurements (per run: CPU time counts
    /// from the spawn even in a reused leaf).
    #[cfg_attr(not(feature = "stats"), allow(dead_code))]
    pub(crate) fn stats(&self) -> io::Result<RawStats> {
        match self {
            #[cfg(target_os = "linux")]
            Member::Cgroup { leaf, base, .. } => cg_stats::read_stats(leaf, Some(base)),
            Member::Pgroup(leader) => {
                #[cfg(target_os = "linux")]
                let count = cg_stats::count_in_process_groups(&[leader.pid()])?;
                #[cfg(not(target_os = "linux"))]
                // A zombie leader does not count: only live group members.
                let count = u64::from(crate::sys::unix::pgroup::group_alive(leader.pid()));
                Ok(counts_only(count))
            }
            #[cfg(target_os = "linux")]
            Member::Subreaper(helper) => Ok(helper.stats()),
        }
    }
}

fn counts_only(processes: u64) -> RawStats {
    RawStats {
        processes_current: Some(processes),
        ..RawStats::default()
    }
}

/// Live processes in a process-group container.
fn process_count(pg: &PgContainer) -> io::Result<u64> {
    let leaders = pg.live_leaders();
    #[cfg(target_os = "linux")]
    {
        cg_stats::count_in_process_groups(&leaders)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(leaders.len() as u64)
    }
}

/// The name of the first limit that is set (the one an error reports).
pub(crate) fn first_limit(limits: &Limits) -> &'static str {
    if limits.memory_max.is_some() {
        "memory_max"
    } else if limits.max_processes.is_some() {
        "max_processes"
    } else {
        "cpu_quota"
    }
}

#[cfg(target_os = "linux")]
fn subreaper_reason() -> String {
    let base = "the subreaper mechanism has no whole-tree limits (a helper process is not a kernel \
                container); limits need a Linux cgroup v2 with delegated controllers";
    match super::host_mechanism() {
        (_, Some(why)) => format!("{base}; no cgroup is usable here because {why}"),
        (_, None) => base.to_owned(),
    }
}

fn pgroup_reason() -> String {
    let base = "the process-group mechanism has no whole-tree limits (a POSIX process group is not a kernel \
                container); limits need a Linux cgroup v2 with delegated controllers or a Windows Job Object";
    #[cfg(target_os = "linux")]
    {
        match super::host_mechanism() {
            (_, Some(why)) => {
                format!("{base}; this host fell back to process groups because {why}")
            }
            (_, None) => base.to_owned(),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        base.to_owned()
    }
}

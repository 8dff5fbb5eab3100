//! cgroup v2 accounting and limits, and the `/proc` readings that stand in
//! for controllers a host does not delegate.
//!
//! # Where each number comes from
//!
//! | value | with controllers | without (core cgroup v2 only) |
//! |---|---|---|
//! | user / system CPU | `cpu.stat` | `cpu.stat` (the core always has it) |
//! | current memory | `memory.current` | sum of the members' RSS (`/proc/<pid>/statm`) |
//! | peak memory | `memory.peak` | none |
//! | live processes | count of `cgroup.procs` | the same |
//! | peak processes | `pids.peak` (tasks, threads included) | none |
//!
//! `cpu.stat`'s `user_usec` and `system_usec` come from the cgroup core, so
//! CPU time is there even on a hybrid host whose v2 hierarchy has no
//! controllers at all.
//!
//! # Accounting
//!
//! When a container is created, the `memory` and `pids` controllers are
//! switched on for the host root's children (and a group's children) where
//! the host root's parent makes them available. That only turns on
//! accounting (no limit is set), and it is what makes `memory.peak` and
//! `pids.peak` exist. `cpu` is switched on only when a CPU quota is asked for,
//! because it also changes how CPU time is shared between sibling cgroups.
//!
//! # Reused leaves
//!
//! One-shot runs reuse pooled leaves (`r<N>`), whose counters still hold the
//! earlier runs. A [`Baseline`] taken just before the spawn makes CPU time a
//! per-run delta. Peaks cannot be made into deltas: on a reused leaf they are
//! reported as unknown, and memory falls back to the members' RSS.
//!
//! # Limits
//!
//! A limit is written into the group's own directory (`g<N>`): `memory.max`
//! (and `memory.swap.max = 0`, so the cap cannot be dodged by swapping),
//! `pids.max` and `cpu.max` (`<quota> 100000`). The controller has to be
//! enabled in the parent's (the host root's) `cgroup.subtree_control`, which
//! in turn needs it enabled in the process's own cgroup. A cgroup may hand
//! controllers to its children only while it has no processes of its own
//! (the root is exempt), so a process that sits in a non-root cgroup of its
//! own gets limits only where that cgroup already delegates the controllers.
//! Whatever the reason a limit cannot be applied, the caller gets
//! [`Error::ResourceLimit`] naming it.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use crate::sys::error::Error;
use crate::sys::linux::cgroup::Cg;
use crate::sys::measure::{Limits, RawStats};

/// The CFS bandwidth period written into `cpu.max`, in microseconds.
pub(crate) const CPU_PERIOD_USEC: u64 = 100_000;
/// The smallest quota the kernel accepts, in microseconds.
const CPU_MIN_QUOTA_USEC: u64 = 1_000;
/// The kernel's highest pid (`PID_MAX_LIMIT` on 64-bit): `pids.max` above it
/// is refused, and no tree can hold more processes anyway.
const PID_MAX_LIMIT: u64 = 4_194_304;

/// A leaf's counters just before a child was spawned into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Baseline {
    user_usec: u64,
    system_usec: u64,
    /// No process ever ran in the leaf: its peaks and `memory.current`
    /// belong to this run alone.
    fresh: bool,
}

impl Baseline {
    /// A leaf created for this child.
    pub(crate) const FRESH: Baseline = Baseline {
        user_usec: 0,
        system_usec: 0,
        fresh: true,
    };
    /// A leaf that may have been used before, with no known CPU baseline.
    pub(crate) const REUSED: Baseline = Baseline {
        user_usec: 0,
        system_usec: 0,
        fresh: false,
    };

    /// Reads a leaf that may have been used before (a pooled one-shot leaf).
    /// A leaf whose `cpu.stat` cannot be read is treated as used: nothing
    /// read from it later is taken for this run's own peak.
    pub(crate) fn read(leaf: &Cg) -> Baseline {
        match leaf.read_kept_cpu_stat().map(|t| CpuStat::parse(&t)) {
            Ok(cpu) => Baseline {
                user_usec: cpu.user_usec,
                system_usec: cpu.system_usec,
                fresh: cpu.usage_usec == 0,
            },
            Err(_) => Baseline {
                user_usec: 0,
                system_usec: 0,
                fresh: false,
            },
        }
    }
}

/// The three CPU lines of `cpu.stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct CpuStat {
    usage_usec: u64,
    user_usec: u64,
    system_usec: u64,
}

impl CpuStat {
    fn read(cg: &Cg) -> io::Result<CpuStat> {
        Ok(Self::parse(&cg.read("cpu.stat")?))
    }

    fn parse(text: &str) -> CpuStat {
        let mut s = CpuStat::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(' ') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<u64>() else {
                continue;
            };
            match key {
                "usage_usec" => s.usage_usec = value,
                "user_usec" => s.user_usec = value,
                "system_usec" => s.system_usec = value,
                _ => {}
            }
        }
        s
    }
}

/// Reads a single-number cgroup file (`memory.current`, `pids.peak`, ...).
/// `Ok(None)` when the file does not exist (its controller is off) or says `max`.
fn read_number(cg: &Cg, file: &str) -> io::Result<Option<u64>> {
    match cg.read(file) {
        Ok(text) => Ok(text.trim().parse().ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whole-tree stats of `cg`. `base` is the leaf's baseline for a member;
/// `None` for a container (a group directory, always created fresh).
pub(crate) fn read_stats(cg: &Cg, base: Option<&Baseline>) -> io::Result<RawStats> {
    let cpu = CpuStat::read(cg)?;
    let (user_base, system_base, fresh) = match base {
        Some(b) => (b.user_usec, b.system_usec, b.fresh),
        None => (0, 0, true),
    };
    let pids = cg.pids(true)?;
    let memory_current = match read_number(cg, "memory.current")? {
        Some(bytes) if fresh => Some(bytes),
        _ => rss_sum(&pids),
    };
    let (memory_peak, processes_peak) = if fresh {
        (
            read_number(cg, "memory.peak")?,
            read_number(cg, "pids.peak")?,
        )
    } else {
        (None, None)
    };
    Ok(RawStats {
        user_cpu: Some(Duration::from_micros(
            cpu.user_usec.saturating_sub(user_base),
        )),
        system_cpu: Some(Duration::from_micros(
            cpu.system_usec.saturating_sub(system_base),
        )),
        memory_current,
        memory_peak,
        processes_current: Some(pids.len() as u64),
        processes_peak,
    })
}

/// The summed resident set size of `pids`, from `/proc/<pid>/statm`. A
/// process that exits while it is read counts as zero. Shared pages count
/// once per process that maps them.
pub(crate) fn rss_sum(pids: &[u32]) -> Option<u64> {
    // SAFETY: sysconf has no preconditions; it returns -1 on error.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as u64,
        _ => 4096,
    };
    let mut total = 0u64;
    for pid in pids {
        let Ok(statm) = fs::read_to_string(format!("/proc/{pid}/statm")) else {
            continue;
        };
        if let Some(resident) = statm
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u64>().ok())
        {
            total = total.saturating_add(resident.saturating_mul(page));
        }
    }
    Some(total)
}

/// The number of live (not zombie) processes whose process group is one of
/// `pgids`, from one pass over `/proc`.
pub(crate) fn count_in_process_groups(pgids: &[u32]) -> io::Result<u64> {
    super::pgscan::count_live_in(pgids)
}

/// The controllers a cgroup's children may use (its `cgroup.controllers`).
fn controllers(dir: &Path) -> io::Result<Vec<String>> {
    Ok(fs::read_to_string(dir.join("cgroup.controllers"))?
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

/// Writes `+<controller>` into `dir/cgroup.subtree_control`.
fn enable_for_children(dir: &Path, controller: &str) -> io::Result<()> {
    fs::write(dir.join("cgroup.subtree_control"), format!("+{controller}"))
}

/// Switches on memory and pids accounting for the children of the host root
/// (once per process) and of `group` (a fresh group directory), where the
/// hierarchy makes them available. Best effort: a host that offers neither
/// just keeps the core-only readings.
pub(crate) fn enable_accounting(host_root: &Path, group: Option<&Path>) {
    static HOST_DONE: OnceLock<Vec<&'static str>> = OnceLock::new();
    let enabled = HOST_DONE.get_or_init(|| {
        let offered = controllers(host_root).unwrap_or_default();
        ["memory", "pids"]
            .into_iter()
            .filter(|c| offered.iter().any(|o| o == c) && enable_for_children(host_root, c).is_ok())
            .collect()
    });
    if let Some(group) = group {
        for controller in enabled {
            let _ = enable_for_children(group, controller);
        }
    }
}

/// Applies `limits` to a group directory. Input is already validated as
/// platform-neutral (positive, finite); the kernel's own bounds are checked
/// here.
pub(crate) fn apply_limits(group: &Cg, limits: &Limits) -> Result<(), Error> {
    if let Some(bytes) = limits.memory_max {
        let limit = "memory_max";
        ensure_controller(group, "memory").map_err(|reason| refused(limit, reason))?;
        write_limit(group, limit, "memory.max", &bytes.to_string())?;
        // Without this, a tree over its cap would swap instead of being held
        // to it. No swap accounting (no swap, or swapaccount=0): nothing to cap.
        if group.path.join("memory.swap.max").exists() {
            write_limit(group, limit, "memory.swap.max", "0")?;
        }
    }
    if let Some(n) = limits.max_processes {
        let limit = "max_processes";
        ensure_controller(group, "pids").map_err(|reason| refused(limit, reason))?;
        let value = if n > PID_MAX_LIMIT {
            "max".to_owned()
        } else {
            n.to_string()
        };
        write_limit(group, limit, "pids.max", &value)?;
    }
    if let Some(cores) = limits.cpu_quota {
        let limit = "cpu_quota";
        let quota =
            cpu_quota_usec(cores).map_err(|reason| Error::invalid("process group", reason))?;
        ensure_controller(group, "cpu").map_err(|reason| refused(limit, reason))?;
        write_limit(
            group,
            limit,
            "cpu.max",
            &format!("{quota} {CPU_PERIOD_USEC}"),
        )?;
    }
    Ok(())
}

/// `cores` as a `cpu.max` quota per [`CPU_PERIOD_USEC`].
pub(crate) fn cpu_quota_usec(cores: f64) -> Result<u64, String> {
    let quota = (cores * CPU_PERIOD_USEC as f64).round();
    if quota.is_nan() || quota < CPU_MIN_QUOTA_USEC as f64 {
        return Err(format!(
            "cpu_quota({cores}) is below the kernel's minimum of {} core",
            CPU_MIN_QUOTA_USEC as f64 / CPU_PERIOD_USEC as f64
        ));
    }
    // Far beyond any machine; the kernel itself refuses quotas past ~2^44 us.
    if quota > 1e15 {
        return Err(format!("cpu_quota({cores}) is too large"));
    }
    Ok(quota as u64)
}

fn refused(limit: &str, reason: String) -> Error {
    Error::ResourceLimit {
        limit: limit.to_owned(),
        reason,
    }
}

fn write_limit(group: &Cg, limit: &str, file: &str, value: &str) -> Result<(), Error> {
    let path = group.path.join(file);
    fs::write(&path, value).map_err(|e| {
        refused(
            limit,
            format!("writing {value:?} to {} failed: {e}", path.display()),
        )
    })
}

/// Makes `controller` available in `group` (a child of the host root),
/// enabling it in the host root and, if need be, in the process's own cgroup.
/// `Err` says why it cannot be.
fn ensure_controller(group: &Cg, controller: &str) -> Result<(), String> {
    let has = |dir: &Path| controllers(dir).is_ok_and(|c| c.iter().any(|x| x == controller));
    if has(&group.path) {
        return Ok(());
    }
    let host_root = group
        .path
        .parent()
        .ok_or("the group's cgroup has no parent")?;
    if !has(host_root) {
        let own = host_root.parent().ok_or("the host cgroup has no parent")?;
        if !has(own) {
            return Err(unavailable(own, controller));
        }
        enable_for_children(own, controller).map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(libc::EBUSY) => format!(
                    "{} holds processes of its own (this one among them), and cgroup v2 lets only a cgroup \
                     without processes hand controllers to its children; run inside a cgroup that already \
                     delegates {controller} to its children (systemd: Delegate=yes)",
                    own.display()
                ),
                Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => format!(
                    "{} is not writable here: the cgroup is not delegated to this user \
                     (run as root, in a container, or under a systemd unit with Delegate=yes)",
                    own.display()
                ),
                _ => String::new(),
            };
            format!(
                "enabling the {controller} controller in {}/cgroup.subtree_control failed: {e}{}{hint}",
                own.display(),
                if hint.is_empty() { "" } else { ": " }
            )
        })?;
    }
    enable_for_children(host_root, controller).map_err(|e| {
        format!(
            "enabling the {controller} controller in {}/cgroup.subtree_control failed: {e}",
            host_root.display()
        )
    })?;
    if has(&group.path) {
        Ok(())
    } else {
        Err(format!(
            "the {controller} controller did not appear in {} after enabling it",
            group.path.display()
        ))
    }
}

/// Why `controller` is missing from `own`'s `cgroup.controllers`.
fn unavailable(own: &Path, controller: &str) -> String {
    let offered = controllers(own).map(|c| c.join(" ")).unwrap_or_default();
    let offered = if offered.is_empty() {
        "none".to_owned()
    } else {
        offered
    };
    let at_mount = crate::sys::linux::procfs::cgroup2_mount().is_some_and(|m| m == own);
    if at_mount {
        format!(
            "this host's cgroup v2 hierarchy ({}) offers no {controller} controller (it offers: {offered}); \
             on a hybrid host the controllers are bound to cgroup v1",
            own.display()
        )
    } else {
        format!(
            "the {controller} controller is not delegated to {} (it offers: {offered}); \
             run as root, in a container, or under a systemd unit with Delegate=yes",
            own.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_stat() {
        let s = CpuStat::parse("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n");
        assert_eq!(
            s,
            CpuStat {
                usage_usec: 1500,
                user_usec: 1000,
                system_usec: 500
            }
        );
    }

    #[test]
    fn cpu_quota_converts_and_rejects_out_of_range() {
        assert_eq!(cpu_quota_usec(0.5), Ok(50_000));
        assert_eq!(cpu_quota_usec(2.0), Ok(200_000));
        assert_eq!(cpu_quota_usec(0.01), Ok(1_000));
        assert!(cpu_quota_usec(0.001).is_err());
        assert!(cpu_quota_usec(f64::NAN).is_err());
        assert!(cpu_quota_usec(1e300).is_err());
    }
}

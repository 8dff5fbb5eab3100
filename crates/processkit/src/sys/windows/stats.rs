//! Stats and limits for Job Object containers.
//!
//! * CPU time: the job's accounting (`TotalUserTime`, `TotalKernelTime`),
//!   which includes processes that have already exited.
//! * Memory: committed (private) memory, the quantity job memory limits are
//!   enforced on. The peak is the job's `PeakJobMemoryUsed`; the current
//!   value is the sum over the live members.
//! * Processes: the job's active count, and the peak from the completion
//!   port's join/leave messages.
//! * Limits go into the job's one extended-limit block (next to
//!   `KILL_ON_JOB_CLOSE`, never replacing it) and are read back: a limit the
//!   host accepts but does not report in force is an error, not a silent
//!   no-op. The CPU cap is a hard cap in hundredths of a percent of the whole
//!   machine, so a fraction of one core is converted against the number of
//!   logical processors, rounded, and is approximate.
//!
//! Under Wine, which reports zero CPU time and zero memory for other
//! processes, CPU time and memory are `None`; Wine also accepts but ignores
//! memory and process-count limits (they fail the read-back) and refuses CPU
//! rate control.

use std::io;
use std::mem::size_of;
use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::time::Duration;

use windows_sys::Win32::Foundation::{FILETIME, HANDLE};
use windows_sys::Win32::System::JobObjects::{
    JOB_OBJECT_CPU_RATE_CONTROL_ENABLE, JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP,
    JOB_OBJECT_LIMIT_ACTIVE_PROCESS, JOB_OBJECT_LIMIT_JOB_MEMORY,
    JOBOBJECT_CPU_RATE_CONTROL_INFORMATION, JobObjectCpuRateControlInformation,
    QueryInformationJobObject, SetInformationJobObject,
};
use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::Threading::{
    ALL_PROCESSOR_GROUPS, GetActiveProcessorCount, GetProcessTimes, OpenProcess,
    PROCESS_QUERY_LIMITED_INFORMATION,
};

use super::job::{Job, has_exited};
use super::win32::{is_wine, last_error, owned};
use super::{Container, Member};
use crate::sys::error::Error;
use crate::sys::measure::{Limits, RawStats};

impl Container {
    /// Whole-tree measurements; `None` where the host cannot give a value.
    #[cfg_attr(not(feature = "stats"), allow(dead_code))]
    pub(crate) fn stats(&self) -> io::Result<RawStats> {
        job_stats(&self.job)
    }

    /// Applies whole-tree limits to a freshly created group container. The
    /// values are already checked to be positive and finite.
    #[cfg_attr(not(feature = "limits"), allow(dead_code))]
    pub(crate) fn apply_limits(&self, limits: &Limits) -> Result<(), Error> {
        if limits.memory_max.is_some() || limits.max_processes.is_some() {
            apply_block_limits(&self.job, limits)?;
        }
        if let Some(cores) = limits.cpu_quota {
            apply_cpu_rate(&self.job, cores)?;
        }
        Ok(())
    }
}

impl Member {
    /// This child's own subtree's measurements: the whole job for a one-shot
    /// run, the nested job for a group member, the direct child alone where
    /// nesting was refused.
    #[cfg_attr(not(feature = "stats"), allow(dead_code))]
    pub(crate) fn stats(&self) -> io::Result<RawStats> {
        match self {
            Member::Whole(job) => job_stats(job),
            Member::Nested(job) => job_stats(job),
            Member::Direct { process, .. } => process_stats(process),
        }
    }
}

fn from_100ns(ticks: i64) -> Duration {
    let ticks = u64::try_from(ticks).unwrap_or(0);
    Duration::from_secs(ticks / 10_000_000) + Duration::from_nanos((ticks % 10_000_000) * 100)
}

fn job_stats(job: &Job) -> io::Result<RawStats> {
    let acct = job.accounting()?;
    let active = u64::from(acct.ActiveProcesses);
    let processes_peak = job.peak_processes(active);
    if is_wine() {
        return Ok(RawStats {
            processes_current: Some(active),
            processes_peak,
            ..RawStats::default()
        });
    }
    let memory_peak = job
        .query_limits()
        .ok()
        .map(|l| l.PeakJobMemoryUsed as u64)
        .filter(|&p| p > 0);
    Ok(RawStats {
        user_cpu: Some(from_100ns(acct.TotalUserTime)),
        system_cpu: Some(from_100ns(acct.TotalKernelTime)),
        memory_current: Some(committed_sum(&job.pids()?)),
        memory_peak,
        processes_current: Some(active),
        processes_peak,
    })
}

/// The memory counters of one process.
fn memory_counters(process: HANDLE) -> Option<PROCESS_MEMORY_COUNTERS> {
    let mut counters = PROCESS_MEMORY_COUNTERS {
        cb: size_of::<PROCESS_MEMORY_COUNTERS>() as u32,
        ..Default::default()
    };
    // SAFETY: a valid process handle with query rights, and a writable
    // structure of the size given in `cb`.
    let ok = unsafe { K32GetProcessMemoryInfo(process, &mut counters, counters.cb) };
    (ok != 0).then_some(counters)
}

/// The committed memory of the given processes, summed (processes that exit
/// meanwhile count as zero).
fn committed_sum(pids: &[u32]) -> u64 {
    let mut total = 0u64;
    for &pid in pids {
        // SAFETY: plain call; a null result is checked.
        let raw = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
        if raw.is_null() {
            continue;
        }
        // SAFETY: OpenProcess succeeded: a fresh handle we own.
        let handle = unsafe { owned(raw) };
        if let Some(c) = memory_counters(handle.as_raw_handle()) {
            total += c.PagefileUsage as u64;
        }
    }
    total
}

/// Measurements of a single process (a group member without a nested job).
fn process_stats(process: &OwnedHandle) -> io::Result<RawStats> {
    let raw = process.as_raw_handle();
    let alive = !has_exited(raw);
    let count = Some(u64::from(alive));
    if is_wine() {
        return Ok(RawStats {
            processes_current: count,
            ..RawStats::default()
        });
    }
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: a valid process handle and out-pointers to locals.
    if unsafe { GetProcessTimes(raw, &mut created, &mut exited, &mut kernel, &mut user) } == 0 {
        return Err(last_error());
    }
    let ticks =
        |t: FILETIME| ((u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime)) as i64;
    let memory = memory_counters(raw);
    Ok(RawStats {
        user_cpu: Some(from_100ns(ticks(user))),
        system_cpu: Some(from_100ns(ticks(kernel))),
        memory_current: memory.map(|m| if alive { m.PagefileUsage as u64 } else { 0 }),
        memory_peak: memory
            .map(|m| m.PeakPagefileUsage as u64)
            .filter(|&p| p > 0),
        processes_current: count,
        processes_peak: Some(1),
    })
}

/// The reason given when the host takes a limit but does not show it in force.
fn not_in_force() -> String {
    if is_wine() {
        "Wine accepts Job Object limits but does not enforce them (they do not read back)"
            .to_owned()
    } else {
        "the Job Object accepted the limit but does not report it in force".to_owned()
    }
}

fn apply_block_limits(job: &Job, limits: &Limits) -> Result<(), Error> {
    let memory = match limits.memory_max {
        Some(bytes) => Some(usize::try_from(bytes).map_err(|_| Error::ResourceLimit {
            limit: "memory_max".into(),
            reason: format!("{bytes} bytes does not fit this platform's address size"),
        })?),
        None => None,
    };
    let processes = match limits.max_processes {
        Some(n) => Some(u32::try_from(n).map_err(|_| Error::ResourceLimit {
            limit: "max_processes".into(),
            reason: format!("{n} is more than a Job Object can count ({})", u32::MAX),
        })?),
        None => None,
    };
    let first = if memory.is_some() {
        "memory_max"
    } else {
        "max_processes"
    };
    let previous = job.limits();
    job.add_limits(|info| {
        if let Some(bytes) = memory {
            info.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_JOB_MEMORY;
            info.JobMemoryLimit = bytes;
        }
        if let Some(n) = processes {
            info.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_ACTIVE_PROCESS;
            info.BasicLimitInformation.ActiveProcessLimit = n;
        }
    })
    .map_err(|e| Error::ResourceLimit {
        limit: first.into(),
        reason: format!("the Job Object refused it: {e}"),
    })?;

    let read = job.query_limits().ok();
    let flags = read.map_or(0, |r| r.BasicLimitInformation.LimitFlags);
    let memory_ok = memory.is_none_or(|bytes| {
        flags & JOB_OBJECT_LIMIT_JOB_MEMORY != 0 && read.is_some_and(|r| r.JobMemoryLimit == bytes)
    });
    let processes_ok = processes.is_none_or(|n| {
        flags & JOB_OBJECT_LIMIT_ACTIVE_PROCESS != 0
            && read.is_some_and(|r| r.BasicLimitInformation.ActiveProcessLimit == n)
    });
    if memory_ok && processes_ok {
        return Ok(());
    }
    job.restore_limits(previous);
    Err(Error::ResourceLimit {
        limit: if memory_ok {
            "max_processes"
        } else {
            "memory_max"
        }
        .into(),
        reason: not_in_force(),
    })
}

/// The number of logical processors in every processor group.
fn processor_count() -> u32 {
    // SAFETY: plain call without pointers.
    let n = unsafe { GetActiveProcessorCount(ALL_PROCESSOR_GROUPS) };
    if n > 0 {
        n
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
    }
}

/// The hard-cap rate for `cores` cores out of `ncpu`: hundredths of a
/// percent of the whole machine, between 1 and 10 000.
pub(crate) fn cpu_rate(cores: f64, ncpu: u32) -> u32 {
    let rate = (cores / f64::from(ncpu.max(1)) * 10_000.0).round();
    rate.clamp(1.0, 10_000.0) as u32
}

fn apply_cpu_rate(job: &Job, cores: f64) -> Result<(), Error> {
    let rate = cpu_rate(cores, processor_count());
    let mut info = JOBOBJECT_CPU_RATE_CONTROL_INFORMATION {
        ControlFlags: JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP,
        ..Default::default()
    };
    info.Anonymous.CpuRate = rate;
    // SAFETY: `info` is a valid structure of the size passed, alive for the
    // call; valid job handle.
    let ok = unsafe {
        SetInformationJobObject(
            job.raw(),
            JobObjectCpuRateControlInformation,
            (&raw const info).cast(),
            size_of::<JOBOBJECT_CPU_RATE_CONTROL_INFORMATION>() as u32,
        )
    };
    if ok == 0 {
        let e = last_error();
        let host = if is_wine() {
            " (Wine does not implement Job Object CPU rate control)"
        } else {
            ""
        };
        return Err(Error::ResourceLimit {
            limit: "cpu_quota".into(),
            reason: format!("the Job Object refused CPU rate control: {e}{host}"),
        });
    }
    let mut read = JOBOBJECT_CPU_RATE_CONTROL_INFORMATION::default();
    // SAFETY: `read` is writable for the size passed; valid job handle.
    let ok = unsafe {
        QueryInformationJobObject(
            job.raw(),
            JobObjectCpuRateControlInformation,
            (&raw mut read).cast(),
            size_of::<JOBOBJECT_CPU_RATE_CONTROL_INFORMATION>() as u32,
            std::ptr::null_mut(),
        )
    };
    // SAFETY: every member of the union is a plain integer; reading
    // `CpuRate` reads the four bytes the kernel wrote.
    let read_rate = unsafe { read.Anonymous.CpuRate };
    if ok == 0 || read.ControlFlags & JOB_OBJECT_CPU_RATE_CONTROL_ENABLE == 0 || read_rate != rate {
        return Err(Error::ResourceLimit {
            limit: "cpu_quota".into(),
            reason: not_in_force(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::cpu_rate;

    #[test]
    fn cpu_quota_is_converted_against_the_processor_count() {
        assert_eq!(cpu_rate(0.5, 2), 2_500);
        assert_eq!(cpu_rate(1.0, 4), 2_500);
        assert_eq!(cpu_rate(2.0, 2), 10_000);
        assert_eq!(cpu_rate(8.0, 2), 10_000);
        assert_eq!(cpu_rate(0.000_01, 64), 1);
    }
}

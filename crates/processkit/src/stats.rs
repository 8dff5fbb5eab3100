//! Whole-tree resource stats ([`GroupStats`], [`Profile`]) and limits.
//!
//! Every number is read from the container the tree lives in, so it covers
//! grandchildren too. What a host can give differs (see
//! `docs/limits-and-stats.md`); a value the host cannot give is `None`,
//! never a made-up zero.
//!
//! | value | cgroup v2 with controllers | cgroup v2 core only (hybrid host) | process groups | Job Object |
//! |---|---|---|---|---|
//! | CPU time | `cpu.stat` | `cpu.stat` | `None` | job accounting |
//! | current memory | `memory.current` | summed member RSS | `None` | summed member commit |
//! | peak memory | `memory.peak` | `None` | `None` | `PeakJobMemoryUsed` |
//! | live processes | yes | yes | yes | yes |
//! | peak processes | `pids.peak` | `None` | `None` | job notifications |
//!
//! (Under Wine, which reports no CPU time or memory for other processes, the
//! Job Object gives counts only.)

#[cfg(feature = "stats")]
use std::time::Duration;

#[cfg(feature = "stats")]
use crate::error::{Error, Result};
#[cfg(feature = "stats")]
use crate::sys;

/// A snapshot of a whole [`ProcessGroup`](crate::ProcessGroup)'s resource use.
///
/// Each `Option` is `None` where the host cannot give that value (see the
/// table in the [`stats`](crate::ProcessGroup::stats) docs).
///
/// ```
/// use processkit::{Command, ProcessGroup};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let group = ProcessGroup::new()?;
/// let _run = group.start(&Command::new("sleep").arg("5")).await?;
/// let s = group.stats()?;
/// assert_eq!(s.active_process_count, 1);
/// println!("cpu={:?} memory={:?} peak={:?}", s.cpu_time(), s.memory_bytes, s.peak_memory_bytes);
/// group.kill()?;
/// # Ok(()) }
/// ```
#[cfg(feature = "stats")]
#[cfg_attr(docsrs, doc(cfg(feature = "stats")))]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GroupStats {
    /// CPU time spent in user mode by every process that ever ran in the
    /// group, the exited ones included.
    pub user_cpu: Option<Duration>,
    /// CPU time spent in the kernel on behalf of the group.
    pub system_cpu: Option<Duration>,
    /// Memory in use now: the cgroup's charge (`memory.current`, which
    /// includes page cache) with the memory controller; the summed resident
    /// set size of the live members without it (shared pages counted once
    /// per process); on Windows, the members' summed committed memory.
    pub memory_bytes: Option<u64>,
    /// The highest memory charge the group ever reached (`memory.peak`;
    /// the job's peak on Windows).
    pub peak_memory_bytes: Option<u64>,
    /// Processes alive in the group now. On the process-group mechanism
    /// outside Linux it is the number of tracked process groups that still
    /// have a live process (one per group).
    pub active_process_count: u64,
    /// The highest number of tasks the group ever held at once (`pids.peak`,
    /// which counts threads too; on Windows, processes, from the job's
    /// notifications).
    pub peak_process_count: Option<u64>,
}

#[cfg(feature = "stats")]
impl GroupStats {
    fn from_raw(raw: sys::RawStats) -> GroupStats {
        GroupStats {
            user_cpu: raw.user_cpu,
            system_cpu: raw.system_cpu,
            memory_bytes: raw.memory_current,
            peak_memory_bytes: raw.memory_peak,
            active_process_count: raw.processes_current.unwrap_or(0),
            peak_process_count: raw.processes_peak,
        }
    }

    /// User plus system CPU time, when both are known.
    ///
    /// ```
    /// let s = processkit::GroupStats::default();
    /// assert_eq!(s.cpu_time(), None);
    /// ```
    pub fn cpu_time(&self) -> Option<Duration> {
        Some(self.user_cpu? + self.system_cpu?)
    }
}

#[cfg(feature = "stats")]
#[cfg_attr(docsrs, doc(cfg(feature = "stats")))]
impl crate::ProcessGroup {
    /// Reads the whole tree's resource use now.
    ///
    /// | value | cgroup v2 with controllers | cgroup v2 without them (hybrid host) | process groups | Windows Job Object |
    /// |---|---|---|---|---|
    /// | `user_cpu`, `system_cpu` | `cpu.stat` | `cpu.stat` | `None` | job accounting |
    /// | `memory_bytes` | `memory.current` | summed member RSS | `None` | summed committed memory of the members |
    /// | `peak_memory_bytes` | `memory.peak` | `None` | `None` | the job's peak committed memory |
    /// | `active_process_count` | live members | live members | live processes in the tracked groups | active processes |
    /// | `peak_process_count` | `pids.peak` | `None` | `None` | from the job's process notifications |
    ///
    /// On Windows under Wine, which reports no CPU time or memory for other
    /// processes, only the counts are given.
    ///
    /// ```
    /// use processkit::{Command, ProcessGroup};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let group = ProcessGroup::new()?;
    /// let _run = group.start(&Command::new("sh").args(["-c", "sleep 5 & sleep 5 & wait"])).await?;
    /// let s = group.stats()?;
    /// assert!(s.active_process_count >= 1);
    /// group.kill()?;
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> Result<GroupStats> {
        self.container()
            .stats()
            .map(GroupStats::from_raw)
            .map_err(|e| Error::io("process group", "reading the group's stats", e))
    }

    /// A series of [`stats`](Self::stats) snapshots: the first at once, then
    /// one per `interval` (kept between 1 ms and a year; a slow reader delays the next
    /// sample rather than getting a burst). The stream ends if the stats can
    /// no longer be read. It borrows the group; drop it to stop sampling.
    ///
    /// ```
    /// use processkit::{Command, ProcessGroup, StreamExt};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let group = ProcessGroup::new()?;
    /// let _worker = group.start(&Command::new("sleep").arg("5")).await?;
    /// let mut samples = group.sample_stats(Duration::from_millis(20));
    /// let first = samples.next().await.expect("a first sample");
    /// assert_eq!(first.active_process_count, 1);
    /// drop(samples);
    /// group.kill()?;
    /// # Ok(()) }
    /// ```
    pub fn sample_stats(
        &self,
        interval: Duration,
    ) -> impl tokio_stream::Stream<Item = GroupStats> + Send + Unpin + '_ {
        use tokio_stream::StreamExt as _;
        let mut ticker = tokio::time::interval(sample_period(interval));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio_stream::wrappers::IntervalStream::new(ticker).map_while(move |_| self.stats().ok())
    }
}

/// `interval` kept between 1 ms and a year (a timer cannot tick at zero,
/// nor past the end of time).
#[cfg(feature = "stats")]
fn sample_period(interval: Duration) -> Duration {
    interval.clamp(
        Duration::from_millis(1),
        Duration::from_secs(365 * 24 * 3600),
    )
}

/// The summary of one run, from [`RunningProcess::profile`](crate::RunningProcess::profile).
///
/// ```
/// use processkit::Command;
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let profile = Command::new("sh").args(["-c", "exit 3"]).start().await?
///     .profile(Duration::from_millis(10)).await?;
/// assert_eq!(profile.exit_code, Some(3));
/// println!("took {:?}, peak {:?}, avg cpu {:?}", profile.duration, profile.peak_memory_bytes, profile.avg_cpu());
/// # Ok(()) }
/// ```
#[cfg(feature = "stats")]
#[cfg_attr(docsrs, doc(cfg(feature = "stats")))]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Profile {
    /// The exit code; `None` when the run was killed (timeout, signal, OOM).
    pub exit_code: Option<i32>,
    /// The run's own deadline passed and its tree was killed.
    pub timed_out: bool,
    /// From the handle's creation, right after the spawn, to the observed
    /// exit.
    pub duration: Duration,
    /// User CPU time of the child's whole subtree over the run.
    pub user_cpu: Option<Duration>,
    /// System CPU time of the child's whole subtree over the run.
    pub system_cpu: Option<Duration>,
    /// The highest memory use seen: the kernel's own peak (`memory.peak` of
    /// a fresh cgroup leaf) where there is one, else the highest sampled
    /// current value, which can miss a spike shorter than the interval.
    /// `None` when there is neither (a run that ended before any sample saw
    /// it alive, on a host without a kernel peak).
    pub peak_memory_bytes: Option<u64>,
    /// How many samples were taken.
    pub samples: u32,
}

#[cfg(feature = "stats")]
impl Profile {
    /// User plus system CPU time, when both are known.
    ///
    /// ```
    /// assert_eq!(processkit::Profile::default().cpu_time(), None);
    /// ```
    pub fn cpu_time(&self) -> Option<Duration> {
        Some(self.user_cpu? + self.system_cpu?)
    }

    /// Average CPU use over the run, in cores (1.0 = one core busy the whole
    /// time). `None` when CPU time is unknown or the run took no time.
    ///
    /// The CPU time includes the child's `exec` (program loading), which
    /// happens before the handle exists and so before
    /// [`duration`](Self::duration) starts: for a run of a few milliseconds
    /// the average can come out above the real parallelism.
    ///
    /// ```
    /// assert_eq!(processkit::Profile::default().avg_cpu(), None);
    /// ```
    pub fn avg_cpu(&self) -> Option<f64> {
        let cpu = self.cpu_time()?;
        if self.duration.is_zero() {
            return None;
        }
        Some(cpu.as_secs_f64() / self.duration.as_secs_f64())
    }

    fn add_sample(&mut self, raw: sys::RawStats) {
        self.samples += 1;
        if raw.user_cpu.is_some() {
            self.user_cpu = raw.user_cpu;
        }
        if raw.system_cpu.is_some() {
            self.system_cpu = raw.system_cpu;
        }
        // A current reading with nothing alive says nothing about the run's
        // peak (an RSS sum over no process is zero): only the kernel's own
        // peak, or a reading of live processes, counts.
        let live = raw.processes_current.is_none_or(|n| n > 0);
        let current = raw.memory_current.filter(|_| live);
        if let Some(m) = raw.memory_peak.max(current) {
            self.peak_memory_bytes = Some(self.peak_memory_bytes.map_or(m, |p| p.max(m)));
        }
    }
}

#[cfg(feature = "stats")]
#[cfg_attr(docsrs, doc(cfg(feature = "stats")))]
impl crate::RunningProcess {
    /// Runs the process to completion while sampling its own subtree every
    /// `interval` (kept between 1 ms and a year), and summarises the run.
    ///
    /// The run is driven as [`finish_streamed`](Self::finish_streamed)
    /// drives it: the command's timeout applies (a timed-out run gives
    /// `timed_out: true` and no exit code), line handlers see the output,
    /// the output itself is discarded, and a cancelled run is
    /// [`Error::Cancelled`]. CPU time is exact where the container counts it
    /// (a cgroup: taken once more after the exit); memory is the kernel's
    /// peak where a fresh cgroup leaf has one, otherwise the highest sample.
    /// On the process-group mechanism only the exit code and duration are
    /// known.
    ///
    /// ```
    /// use processkit::Command;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let profile = Command::new("sh").args(["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"])
    ///     .start().await?
    ///     .profile(Duration::from_millis(10)).await?;
    /// assert_eq!(profile.exit_code, Some(0));
    /// if let Some(cores) = profile.avg_cpu() {
    ///     assert!(cores >= 0.0);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn profile(mut self, interval: Duration) -> Result<Profile> {
        use tokio_stream::StreamExt as _;
        let mut ticker = tokio::time::interval(sample_period(interval));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut profile = Profile::default();
        // The first sample now, the next one interval later.
        self.sample_into(&mut profile);
        ticker.reset();
        let mut stdout_open = true;
        loop {
            if stdout_open {
                let mut lines = self.stdout_lines();
                tokio::select! {
                    line = lines.next() => {
                        stdout_open = line.is_some();
                        continue;
                    }
                    _ = ticker.tick() => {}
                }
            } else {
                tokio::select! {
                    exited = self.wait() => {
                        exited?;
                        break;
                    }
                    _ = ticker.tick() => {}
                }
            }
            self.sample_into(&mut profile);
        }
        profile.duration = self.elapsed();
        // The subtree's counters outlive the exit: this last reading has
        // all of the run's CPU time.
        self.sample_into(&mut profile);
        profile.timed_out = self.timed_out();
        let (code, _stderr) = self.finish_streamed().await?;
        profile.exit_code = code;
        Ok(profile)
    }

    fn sample_into(&self, profile: &mut Profile) {
        if let Some(raw) = self.proc_ref().member().and_then(|m| m.stats().ok()) {
            profile.add_sample(raw);
        }
    }
}

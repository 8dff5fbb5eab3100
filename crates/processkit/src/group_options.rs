//! [`ProcessGroupOptions`]: how a process group is created, and the
//! whole-tree limits it asks its container to enforce.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::{Mechanism, sys};

/// How a [`ProcessGroup`](crate::ProcessGroup) is created.
///
/// ```
/// use processkit::ProcessGroupOptions;
/// use std::time::Duration;
/// let opts = ProcessGroupOptions::default().grace(Duration::from_secs(2));
/// assert_eq!(opts.get_grace(), Duration::from_secs(2));
/// ```
#[derive(Debug, Clone)]
pub struct ProcessGroupOptions {
    pub(crate) grace: Duration,
    pub(crate) mechanism: Option<Mechanism>,
    pub(crate) memory_max: Option<u64>,
    pub(crate) max_processes: Option<u64>,
    pub(crate) cpu_quota: Option<f64>,
}

impl Default for ProcessGroupOptions {
    fn default() -> Self {
        ProcessGroupOptions {
            grace: Duration::from_secs(5),
            mechanism: None,
            memory_max: None,
            max_processes: None,
            cpu_quota: None,
        }
    }
}

impl ProcessGroupOptions {
    /// How long [`ProcessGroup::shutdown`](crate::ProcessGroup::shutdown) waits after SIGTERM before it
    /// kills (default 5 s).
    ///
    /// ```
    /// let _ = processkit::ProcessGroupOptions::default().grace(std::time::Duration::from_millis(500));
    /// ```
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The shutdown grace period.
    ///
    /// ```
    /// assert_eq!(processkit::ProcessGroupOptions::default().get_grace().as_secs(), 5);
    /// ```
    pub fn get_grace(&self) -> Duration {
        self.grace
    }

    /// Requires a specific mechanism instead of the host's best. Creating
    /// the group fails if it is not available. Forcing
    /// [`Mechanism::ProcessGroup`] on Linux gives the macOS/BSD behaviour
    /// (the `PROCESSKIT_MECHANISM=process-group` environment variable does
    /// the same for every container of the process).
    ///
    /// ```
    /// use processkit::{Mechanism, ProcessGroup, ProcessGroupOptions};
    /// let g = ProcessGroup::with_options(ProcessGroupOptions::default().mechanism(Mechanism::ProcessGroup))?;
    /// assert_eq!(g.mechanism(), Mechanism::ProcessGroup);
    /// # Ok::<(), processkit::Error>(())
    /// ```
    pub fn mechanism(mut self, mechanism: Mechanism) -> Self {
        self.mechanism = Some(mechanism);
        self
    }

    /// Caps the whole tree's memory, in bytes.
    ///
    /// ```
    /// let _ = processkit::ProcessGroupOptions::default().memory_max(512 * 1024 * 1024);
    /// ```
    #[cfg(feature = "limits")]
    #[cfg_attr(docsrs, doc(cfg(feature = "limits")))]
    pub fn memory_max(mut self, bytes: u64) -> Self {
        self.memory_max = Some(bytes);
        self
    }

    /// Caps the number of processes (and threads, on Linux) in the tree.
    ///
    /// ```
    /// let _ = processkit::ProcessGroupOptions::default().max_processes(64);
    /// ```
    #[cfg(feature = "limits")]
    #[cfg_attr(docsrs, doc(cfg(feature = "limits")))]
    pub fn max_processes(mut self, n: u64) -> Self {
        self.max_processes = Some(n);
        self
    }

    /// Caps the tree's CPU use, as a fraction of one core (0.5 = half a
    /// core, 2.0 = two cores). On Windows it is converted against the host's
    /// CPU count and is approximate.
    ///
    /// ```
    /// let _ = processkit::ProcessGroupOptions::default().cpu_quota(0.5);
    /// ```
    #[cfg(feature = "limits")]
    #[cfg_attr(docsrs, doc(cfg(feature = "limits")))]
    pub fn cpu_quota(mut self, cores: f64) -> Self {
        self.cpu_quota = Some(cores);
        self
    }

    pub(crate) fn has_limits(&self) -> bool {
        self.memory_max.is_some() || self.max_processes.is_some() || self.cpu_quota.is_some()
    }
}

/// Checks the limits in `options` and applies them to a freshly created
/// container. Fails with [`Error::InvalidInput`] for a value that is no
/// limit at all and with [`Error::ResourceLimit`] when the container cannot
/// enforce one: a group is never handed back silently unbounded.
pub(crate) fn apply_limits(
    container: &sys::Container,
    options: &ProcessGroupOptions,
) -> Result<()> {
    let limits = validate(options)?;
    container.apply_limits(&limits)
}

/// The platform-neutral checks: every limit must be a positive amount.
fn validate(options: &ProcessGroupOptions) -> Result<sys::Limits> {
    const GROUP: &str = "process group";
    if options.memory_max == Some(0) {
        return Err(Error::invalid(
            GROUP,
            "memory_max(0) would leave no memory for any process; give a positive number of bytes",
        ));
    }
    if options.max_processes == Some(0) {
        return Err(Error::invalid(
            GROUP,
            "max_processes(0) would forbid every process; give a positive count",
        ));
    }
    if let Some(cores) = options.cpu_quota
        && (!cores.is_finite() || cores <= 0.0)
    {
        return Err(Error::invalid(
            GROUP,
            format!(
                "cpu_quota({cores}) must be a finite, positive fraction of one core (0.5 = half a core)"
            ),
        ));
    }
    Ok(sys::Limits {
        memory_max: options.memory_max,
        max_processes: options.max_processes,
        cpu_quota: options.cpu_quota,
    })
}

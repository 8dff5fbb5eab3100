//! Which containment mechanism is in force, and a spawn-free host preflight.

use std::fmt;

pub use crate::sys::mechanism::Mechanism;

impl Mechanism {
    /// The mechanism new groups and runs get on this host (honouring the
    /// `PROCESSKIT_MECHANISM` override). Never spawns a process.
    ///
    /// ```
    /// let m = processkit::Mechanism::current();
    /// # #[cfg(target_os = "linux")]
    /// assert!(matches!(
    ///     m,
    ///     processkit::Mechanism::CgroupV2
    ///         | processkit::Mechanism::Subreaper
    ///         | processkit::Mechanism::ProcessGroup
    /// ));
    /// ```
    pub fn current() -> Mechanism {
        preflight().mechanism
    }
}

/// What the host offers, found without spawning anything.
///
/// ```
/// let report = processkit::preflight();
/// println!("{report}");
/// if let Some(why) = &report.fallback_reason {
///     eprintln!("weaker containment in use: {why}");
/// }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Preflight {
    /// The mechanism new containers get.
    pub mechanism: Mechanism,
    /// The strongest mechanism the host itself offers (before any override).
    pub host_mechanism: Mechanism,
    /// Why the host's mechanism is weaker than the platform's best, if it is.
    /// It names the real cause: a probe that failed for a passing shortage
    /// (no free fd, the process limit reached) says so, and is asked again
    /// by the next container and the next `preflight()`.
    pub fallback_reason: Option<String>,
    /// Where the cgroup came from when it is not this process's own: on a
    /// systemd host where a non-root process may not create a cgroup where it
    /// stands, the user manager's delegated scope (the unit is named, and
    /// that this process moved itself into it). `None` otherwise.
    pub cgroup_source: Option<String>,
    /// Which spawner starts children.
    pub spawner: &'static str,
    /// Whether containers are torn down even if this process dies without
    /// running destructors (SIGKILL, abort, `exit`).
    pub guarantee: crate::Guarantee,
}

impl fmt::Display for Preflight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mechanism: {}; spawner: {}; guarantee: {}",
            self.mechanism, self.spawner, self.guarantee
        )?;
        if let Some(s) = &self.cgroup_source {
            write!(f, "; cgroup: {s}")?;
        }
        if let Some(r) = &self.fallback_reason {
            write!(f, "; fallback because: {r}")?;
        }
        Ok(())
    }
}

/// Inspects the host: which mechanism is available, which spawner is used,
/// and which no-orphan guarantee is in force. Never spawns a process.
///
/// On Linux the first call sets up the host's cgroup root (as the first
/// container would). Where that needs the user's systemd manager (feature
/// `systemd`: a non-root process whose own cgroup is not writable), it asks
/// the manager for a delegated scope over D-Bus and moves this process into
/// it; [`Preflight::cgroup_source`] then names the unit. That exchange is
/// bounded in time; a missing or refusing manager becomes a
/// [`Preflight::fallback_reason`].
///
/// ```
/// let p = processkit::preflight();
/// assert_eq!(p.mechanism, processkit::Mechanism::current());
/// ```
pub fn preflight() -> Preflight {
    let (host_mechanism, fallback_reason) = crate::sys::host_mechanism();
    let mechanism = match crate::sys::Request::Best.resolve() {
        crate::sys::Request::Exactly(m) => m,
        crate::sys::Request::Best => host_mechanism,
    };
    Preflight {
        mechanism,
        host_mechanism,
        fallback_reason,
        cgroup_source: crate::sys::cgroup_source(),
        spawner: crate::sys::spawner_name(),
        guarantee: crate::guarantee(),
    }
}

//! Events `sys` itself reports for the `tracing` feature: a weaker
//! mechanism or spawner in force, the guardian's state, a refused nested
//! Job Object. Without the feature every function here is an empty no-op.
//! The lifecycle events of runs live in the crate's `trace` module.

#![allow(unused_variables)]

#[cfg(feature = "tracing")]
macro_rules! ev {
    ($lvl:ident, $($t:tt)*) => { tracing::$lvl!(target: "processkit", $($t)*) };
}

/// A weaker containment mechanism is in use (reported once per process).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn fallback(reason: &str) {
    #[cfg(feature = "tracing")]
    ev!(
        warn,
        reason,
        "cgroup v2 unavailable; falling back to POSIX process groups"
    );
}

/// The vfork-style spawner was refused; std's spawner is used from now on.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn spawner_fallback(reason: &str) {
    #[cfg(feature = "tracing")]
    ev!(
        warn,
        reason,
        "vfork-style spawner unavailable; using std::process"
    );
}

/// A group member got no nested Job Object of its own (Windows before 8):
/// killing it kills only its direct child.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn nested_job_refused(program: &str, reason: &str) {
    #[cfg(feature = "tracing")]
    ev!(
        warn,
        program,
        reason,
        "no nested Job Object for this group member; killing it kills only its direct child"
    );
}

/// The guardian process started (it tears containers down if this process
/// dies without running destructors).
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) fn guardian_started(pid: u32) {
    #[cfg(feature = "tracing")]
    ev!(debug, pid, "guardian started");
}

/// No guardian protects this process's containers (opted out, or it could
/// not be started or kept running): an abrupt death can leave descendants.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) fn guardian_unavailable(reason: &str) {
    #[cfg(feature = "tracing")]
    ev!(
        warn,
        reason,
        "no guardian: only destructors tear containers down"
    );
}

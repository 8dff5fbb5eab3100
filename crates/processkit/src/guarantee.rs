//! Which no-orphan guarantee is in force when this process dies abruptly.
//!
//! Dropping a handle, a group or a future always tears its tree down. This
//! module answers the harder question: what happens to the descendants if
//! the process itself dies without running destructors (SIGKILL, `abort`,
//! `std::process::exit`, a crash)?

pub use crate::sys::guarantee::Guarantee;

/// The guarantee in force for this process. Never spawns a process.
///
/// On Unix this is [`Guarantee::Guardian`] unless the guardian was turned
/// off (the `PROCESSKIT_NO_GUARDIAN` environment variable, or
/// [`disable_guardian`]) or could not run, which gives
/// [`Guarantee::DropOnly`] with the reason. On Windows it is
/// [`Guarantee::Kernel`].
///
/// A guardian that could not start for a passing shortage (no free fd, the
/// process limit reached) gives `DropOnly` naming that cause until a later
/// container starts one; a guardian that was stopped (`SIGSTOP`) or stopped
/// reading is not reported as `Guardian`: it is replaced.
///
/// ```
/// match processkit::guarantee() {
///     processkit::Guarantee::DropOnly { reason } => eprintln!("weaker guarantee: {reason}"),
///     other => println!("{other}"),
/// }
/// ```
pub fn guarantee() -> Guarantee {
    crate::sys::guarantee()
}

/// Keeps the guardian process from starting, for environments that forbid
/// an extra process. Call it before the first container is created (before
/// the first run, `start` or `ProcessGroup`); the guarantee then becomes
/// [`Guarantee::DropOnly`].
///
/// Returns `true` when no guardian runs from now on, `false` when one has
/// already started (it keeps running and keeps guarding). Setting the
/// environment variable `PROCESSKIT_NO_GUARDIAN=1` before the first
/// container has the same effect. On Windows there is no guardian and
/// this returns `true` without changing anything: the Job Object already
/// covers an abrupt death.
///
/// ```
/// if processkit::disable_guardian() {
///     assert!(!matches!(processkit::guarantee(), processkit::Guarantee::Guardian));
/// }
/// ```
pub fn disable_guardian() -> bool {
    crate::sys::disable_guardian()
}

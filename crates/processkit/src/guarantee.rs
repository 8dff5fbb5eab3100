//! Which no-orphan guarantee is in force when this process dies abruptly.
//!
//! Dropping a handle, a group or a future always tears its tree down. This
//! module answers the harder question: what happens to the descendants if
//! the process itself dies without running destructors (SIGKILL, `abort`,
//! `std::process::exit`, a crash)?

use std::fmt;

/// How strongly this process's containers are guaranteed to die with it,
/// however it dies.
///
/// ```
/// let g = processkit::guarantee();
/// println!("no-orphan guarantee: {g}");
/// # #[cfg(windows)]
/// # assert_eq!(g, processkit::Guarantee::Kernel);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Guarantee {
    /// The operating system tears the containers down when this process
    /// dies, however it dies (Windows: the Job Object's last handle closes
    /// with the process, and the job kills every member).
    Kernel,
    /// A guardian process tears the containers down if this process dies
    /// without running destructors (Linux, macOS, the BSDs).
    ///
    /// One small guardian runs per process, started with the first
    /// container. It holds one end of a socket whose other end only this
    /// process holds; when the kernel closes that end at this process's
    /// death, the guardian kills every container still registered and
    /// exits. Reported as soon as a guardian is running or can start with
    /// the first container.
    Guardian,
    /// Only destructors and exit handlers tear containers down; an abrupt
    /// death can leave descendants running. The reason says why (the
    /// guardian was disabled, could not be started, or died and has not
    /// been replaced yet).
    DropOnly {
        /// Why no stronger guarantee is in force.
        reason: String,
    },
}

impl fmt::Display for Guarantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Guarantee::Kernel => f.write_str("kernel (containers close with the process)"),
            Guarantee::Guardian => {
                f.write_str("guardian (a watcher process tears containers down)")
            }
            Guarantee::DropOnly { reason } => write!(f, "drop only ({reason})"),
        }
    }
}

/// The guarantee in force for this process. Never spawns a process.
///
/// On Unix this is [`Guarantee::Guardian`] unless the guardian was turned
/// off (the `PROCESSKIT_NO_GUARDIAN` environment variable, or
/// [`disable_guardian`]) or could not run, which gives
/// [`Guarantee::DropOnly`] with the reason. On Windows it is
/// [`Guarantee::Kernel`].
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

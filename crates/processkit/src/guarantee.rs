//! Which no-orphan guarantee is in force.

use std::fmt;

/// How strongly this process's containers are guaranteed to die with it.
///
/// ```
/// let g = processkit::guarantee();
/// println!("no-orphan guarantee: {g}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Guarantee {
    /// The operating system tears the containers down when this process
    /// dies, however it dies (Windows: the Job Object handle closes).
    Kernel,
    /// A guardian process tears the containers down if this process dies
    /// without running destructors (SIGKILL, abort, `exit`).
    Guardian,
    /// Only destructors and exit handlers tear containers down; an abrupt
    /// death can leave descendants running. The reason says why.
    DropOnly {
        /// Why no stronger guarantee is in force.
        reason: String,
    },
}

impl fmt::Display for Guarantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Guarantee::Kernel => f.write_str("kernel (containers close with the process)"),
            Guarantee::Guardian => f.write_str("guardian (a watcher process tears containers down)"),
            Guarantee::DropOnly { reason } => write!(f, "drop only ({reason})"),
        }
    }
}

/// The guarantee in force for this process.
///
/// ```
/// let _ = processkit::guarantee();
/// ```
pub fn guarantee() -> Guarantee {
    crate::sys::guarantee()
}

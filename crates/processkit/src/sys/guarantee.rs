//! [`Guarantee`]: how strongly containers die with this process, as `sys`
//! reports it.

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

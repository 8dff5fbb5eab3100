//! [`RunningProcess`]: a live child, for streaming, interactive stdin,
//! readiness probes and explicit waiting.
//!
//! One state machine serves every consuming path. Each poll drives, in this
//! order: the cancellation token, the run's deadline, the child's exit, and
//! the output pumps. When the direct child exits and the handle owns its
//! container (a [`Command::start`](crate::Command::start) or one-shot run),
//! the container is torn down at once: a daemonised grandchild can neither
//! survive nor hold a pipe open and keep the caller waiting. After that the
//! pumps get a short, bounded drain (2 s) to reach EOF.

mod proc;
mod process;
pub(crate) mod pump;
mod stdin;
mod stop;

pub(crate) use proc::{Owner, Proc};
pub use process::RunningProcess;
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub use process::lines::JsonLines;
pub use process::lines::StdoutLines;
#[cfg(feature = "json")]
pub(crate) use process::lines::json_error;
pub(crate) use process::{DRAIN, Parts};
pub use pump::MAX_LINE;
pub use stdin::StdinWriter;

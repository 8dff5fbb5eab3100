//! Test doubles for the [`ProcessRunner`](crate::ProcessRunner) seam: code
//! that takes a runner instead of calling [`Command`](crate::Command)'s verbs directly can be
//! tested without starting a single process.
//!
//! * [`ScriptedRunner`] answers each invocation from a script of canned
//!   outcomes and records every call for assertions.
//! * `RecordReplayRunner` (feature `record`) captures real runs into a JSON
//!   cassette once and replays them afterwards.
//! * `MockRunner` (feature `mock`) is a mockall mock with expectations on
//!   every call.
//!
//! All of them hand out [`RunningProcess`](crate::RunningProcess) handles that go through the same
//! output pumps as a real child, so line streaming, readiness probes and
//! `finish_streamed` behave as they do against a real process.
//!
//! ```
//! use processkit::{Command, ProcessRunner, ProcessRunnerExt, ScriptedRunner};
//!
//! async fn current_branch(runner: &impl ProcessRunner) -> processkit::Result<String> {
//!     runner.run(&Command::new("git").args(["branch", "--show-current"])).await
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> processkit::Result<()> {
//! let runner = ScriptedRunner::new().on(["git", "branch", "--show-current"], "main\n");
//! assert_eq!(current_branch(&runner).await?, "main");
//! assert_eq!(runner.calls()[0].args, ["branch", "--show-current"]);
//! # Ok(()) }
//! ```

mod invocation;
#[cfg(feature = "mock")]
mod mock;
#[cfg(feature = "record")]
mod record;
mod scripted;

pub use invocation::Invocation;
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use mock::MockRunner;
#[cfg(feature = "record")]
#[cfg_attr(docsrs, doc(cfg(feature = "record")))]
pub use record::{CASSETTE_VERSION, RecordReplayRunner};
pub use scripted::{ScriptedOutcome, ScriptedRunner};

//! Async child-process management for tokio with a kernel-backed no-orphan
//! guarantee.
//!
//! Every process started through this crate, and everything that process
//! spawns, lives in a kill-on-drop container: a cgroup v2 on Linux (with a
//! POSIX process-group fallback), a Job Object on Windows, a process group on
//! macOS and the BSDs. Dropping the handle, the group or the future tears the
//! whole tree down; the mechanism in force is always reported
//! ([`Mechanism`], [`preflight`]).
//!
//! ```
//! use processkit::Command;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> processkit::Result<()> {
//! // Trimmed stdout, success required:
//! let greeting = Command::new("echo").arg("hello").run().await?;
//! assert_eq!(greeting, "hello");
//!
//! // The full outcome as data:
//! let r = Command::new("sh").args(["-c", "echo out; exit 3"]).output_string().await?;
//! assert_eq!((r.code(), r.stdout().as_str()), (Some(3), "out\n"));
//!
//! // A timeout kills the whole tree, grandchildren included:
//! let r = Command::new("sh").args(["-c", "sleep 30 & sleep 30"])
//!     .timeout(std::time::Duration::from_millis(100))
//!     .output_string().await?;
//! assert!(r.timed_out());
//! # Ok(()) }
//! ```
//!
//! # Coming from `tokio::process`
//!
//! The verbs have other names, and containment needs no opt-in
//! (rustdoc search finds these names from tokio's as well):
//!
//! | `tokio::process` | processkit |
//! |---|---|
//! | `Command::new(p).spawn()?` | `Command::new(p).start().await?`: a `RunningProcess` (in a group: `group.start(&cmd)`) |
//! | `cmd.output().await?` | `cmd.output_bytes().await?` or `cmd.output_string().await?`: a `ProcessResult` (or `run()`: trimmed stdout, success required) |
//! | `cmd.status().await?` | `cmd.exit_code().await?`: the code as an `i32` (a run killed by a signal is `Error::Killed`) |
//! | `cmd.kill_on_drop(true)` | the default, for the whole tree: dropping the handle, the future or the group kills every descendant |
//! | `Stdio::inherit()`, `Stdio::null()`, `Stdio::piped()` | `Destination::inherit()`, `Destination::null()`, captured by default (`Destination::file`, `append`, `tee` too) on `cmd.stdout(..)` / `cmd.stderr(..)`; `Stdin::inherit()`, `Stdin::null()` (the default), `Stdin::from_string(..)` on `cmd.stdin(..)` |
//! | `child.id()` | `run.pid()` |
//! | `child.wait().await?` | `run.wait().await?`: the code, `None` when killed |
//! | `child.wait_with_output().await?` | `run.output_bytes().await?` |
//! | `child.kill().await?` | `run.kill().await?` (the whole tree) |
//! | `child.stdin.take()` | `run.standard_input()` |
//! | `BufReader::new(child.stdout.take().unwrap()).lines()` | `run.stdout_lines()` |
//!
//! # Feature flags
//!
//! | Feature | Default | Adds |
//! |---|---|---|
//! | `stats` | yes | whole-tree stats: `ProcessGroup::stats`, `sample_stats`, `RunningProcess::profile` |
//! | `process-control` | yes | [`Signal`], `ProcessGroup::{signal, suspend, resume, members, adopt}` |
//! | `limits` | no | whole-tree caps on [`ProcessGroupOptions`] (implies `stats`) |
//! | `cancellation` | no | `CancellationToken` integration (`Command::cancel_on`) |
//! | `record` | no | record/replay cassettes (`RecordReplayRunner`) |
//! | `serde` | no | `serde::Serialize` for report types ([`RunReport`], stats, `SupervisionOutcome`, [`ShutdownReport`]); never output, argv or env |
//! | `metrics` | no | counters and histograms (spawns, exits, durations, timeouts, retries, restarts, shutdowns) into any `metrics` recorder |
//! | `json` | no | typed JSON output: `Command::output_json`, `RunningProcess::json_lines` (NDJSON) |
//! | `mock` | no | a mockall-generated `MockRunner` |
//! | `tracing` | no | lifecycle events; never argv or environment values |
//! | `systemd` | yes | Linux: a non-root process whose own cgroup is not writable gets a delegated scope from the user's systemd manager over D-Bus (pulls `zbus`); nothing off Linux |
//! | `pty` | no | run a child on a pseudo-terminal (`Command::pty`, `Terminal`) and strip escape sequences (`Command::strip_escapes`, `strip_escapes`); Unix |
//!
//! Every flag only adds API: the kill-on-drop guarantee holds in every
//! configuration.

#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batch;
mod cli;
mod command;
mod containers;
mod group;
mod group_options;
mod guarantee;
mod mechanism;
mod output;
mod pipeline;
mod result;
mod retry;
mod runner;
pub mod running;
#[cfg(feature = "process-control")]
mod signal;
#[cfg(not(feature = "process-control"))]
#[allow(dead_code)]
mod signal;
mod stats;
mod stdin;
mod supervisor;
mod sys;
mod terminal;
pub mod testing;
mod trace;
mod verbs;

// The bottom floor's own modules, under the names the layers above use.
use sys::{error, knobs};

pub use batch::{output_all, wait_all, wait_any};
pub use cli::CliClient;
pub use command::Command;
pub use containers::{ContainerInfo, OwnerState, containers, sweep_containers};
pub use group::ProcessGroup;
pub use group_options::ProcessGroupOptions;
pub use guarantee::{Guarantee, disable_guardian, guarantee};
pub use mechanism::{Mechanism, Preflight, preflight};
pub use output::{CaptureLimit, Destination, Keep};
pub use pipeline::Pipeline;
pub use result::{ExitStatus, ProcessResult, RunReport, ShutdownReport};
pub use retry::{Attempt, RetryPolicy};
pub use runner::{BoxFuture, JobRunner, ProcessRunner, ProcessRunnerExt};
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub use running::JsonLines;
pub use running::{RunningProcess, StdinWriter, StdoutLines};
#[cfg(feature = "process-control")]
pub use signal::Signal;
#[cfg(feature = "stats")]
#[cfg_attr(docsrs, doc(cfg(feature = "stats")))]
pub use stats::{GroupStats, Profile};
pub use stdin::Stdin;
pub use supervisor::{RestartPolicy, StopReason, SupervisionOutcome, Supervisor, SupervisorStop};
pub use sys::error::{Error, Result};
pub use sys::knobs::{IoPriority, Resource};
#[cfg(feature = "pty")]
pub use terminal::{Terminal, strip_escapes};
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use testing::MockRunner;
#[cfg(feature = "record")]
#[cfg_attr(docsrs, doc(cfg(feature = "record")))]
pub use testing::RecordReplayRunner;
pub use testing::{ScriptedOutcome, ScriptedRunner};
pub use tokio_stream::StreamExt;
#[cfg(feature = "cancellation")]
#[cfg_attr(docsrs, doc(cfg(feature = "cancellation")))]
pub use tokio_util::sync::CancellationToken;

/// The guides in `docs/`, compiled as doctests so their snippets keep
/// matching the API.
#[cfg(all(
    doctest,
    unix,
    feature = "cancellation",
    feature = "record",
    feature = "limits",
    feature = "mock",
    feature = "json",
    feature = "pty"
))]
mod guides {
    #[doc = include_str!("../../../docs/cookbook.md")]
    struct Cookbook;
    #[doc = include_str!("../../../docs/running-commands.md")]
    struct RunningCommands;
    #[doc = include_str!("../../../docs/process-groups.md")]
    struct ProcessGroups;
    #[doc = include_str!("../../../docs/streaming.md")]
    struct Streaming;
    #[doc = include_str!("../../../docs/pipelines.md")]
    struct Pipelines;
    #[doc = include_str!("../../../docs/supervision.md")]
    struct Supervision;
    #[doc = include_str!("../../../docs/timeouts-and-cancellation.md")]
    struct TimeoutsAndCancellation;
    #[doc = include_str!("../../../docs/limits-and-stats.md")]
    struct LimitsAndStats;
    #[doc = include_str!("../../../docs/testing.md")]
    struct Testing;
    #[doc = include_str!("../../../docs/guardian.md")]
    struct Guardian;
    #[doc = include_str!("../../../docs/errors.md")]
    struct Errors;
    #[doc = include_str!("../../../docs/troubleshooting.md")]
    struct Troubleshooting;
}

/// Runs `program` with `args` and returns its trimmed stdout; a non-zero
/// exit is an error. Shorthand for `Command::new(program).args(args).run()`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// assert_eq!(processkit::run("echo", ["a", "b"]).await?, "a b");
/// # Ok(()) }
/// ```
pub async fn run<I, S>(program: impl AsRef<std::ffi::OsStr>, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(program).args(args).run().await
}

/// Runs `program` with `args` and returns the full outcome; a non-zero exit
/// is data. Shorthand for `Command::new(program).args(args).output_string()`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let r = processkit::output("sh", ["-c", "exit 4"]).await?;
/// assert_eq!(r.code(), Some(4));
/// # Ok(()) }
/// ```
pub async fn output<I, S>(
    program: impl AsRef<std::ffi::OsStr>,
    args: I,
) -> Result<ProcessResult<String>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(program).args(args).output_string().await
}

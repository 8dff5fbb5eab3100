//! Supervision: restart policies, backoff growth and cap, jitter bounds, the
//! failure-storm guard, stop conditions, outcomes, error handling, and a
//! shared process group as the runner.
//!
//! The supervision logic is checked hermetically on tokio's paused clock
//! with a runner double that returns canned outcomes and records the
//! (virtual) instant of every call, so delays can be asserted exactly. The
//! `real_processes` module runs the same machinery on real children.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use processkit::{
    BoxFuture, Command, Error, ExitStatus, ProcessResult, ProcessRunner, RestartPolicy,
    RunningProcess, StopReason, SupervisionOutcome, Supervisor,
};
use tokio::time::Instant;

/// One canned outcome: how long the "run" takes (virtual time) and what it
/// returns.
enum Canned {
    Exit(i32),
    Signal(i32),
    TimedOut,
    NotFound,
    SpawnFailed,
}

impl Canned {
    fn into_outcome(self, program: &str) -> processkit::Result<ProcessResult<Vec<u8>>> {
        let result = |status, timed_out| {
            Ok(ProcessResult::new(
                program,
                status,
                b"out\n".to_vec(),
                b"err\n".to_vec(),
                timed_out,
                Duration::ZERO,
            ))
        };
        match self {
            Canned::Exit(code) => result(ExitStatus::from_code(code), false),
            Canned::Signal(sig) => result(ExitStatus::from_signal(sig), false),
            Canned::TimedOut => result(ExitStatus::from_signal(9), true),
            Canned::NotFound => Err(Error::NotFound {
                program: program.to_owned(),
                searched: None,
            }),
            Canned::SpawnFailed => Err(Error::Spawn {
                program: program.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::WouldBlock, "process table full"),
            }),
        }
    }
}

/// A runner double: serves `script` in order, then `then` forever; each
/// call "runs" for `run_time` of virtual time. Records when each call began.
struct Double {
    script: Mutex<VecDeque<Canned>>,
    then: fn() -> Canned,
    run_time: Duration,
    calls: Mutex<Vec<Instant>>,
}

impl Double {
    fn new(script: impl IntoIterator<Item = Canned>, then: fn() -> Canned) -> Self {
        Double {
            script: Mutex::new(script.into_iter().collect()),
            then,
            run_time: Duration::ZERO,
            calls: Mutex::new(Vec::new()),
        }
    }

    fn always(then: fn() -> Canned) -> Self {
        Self::new([], then)
    }

    fn run_time(mut self, d: Duration) -> Self {
        self.run_time = d;
        self
    }

    fn calls(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().clone()
    }

    /// Offsets of every call from the first one.
    fn offsets(&self) -> Vec<Duration> {
        let calls = self.calls();
        calls.iter().map(|t| *t - calls[0]).collect()
    }

    /// Gaps between consecutive calls.
    fn gaps(&self) -> Vec<Duration> {
        self.calls().windows(2).map(|w| w[1] - w[0]).collect()
    }
}

impl ProcessRunner for Double {
    fn execute<'a>(
        &'a self,
        cmd: &'a Command,
    ) -> BoxFuture<'a, processkit::Result<ProcessResult<Vec<u8>>>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(Instant::now());
            let next = self
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(self.then);
            tokio::time::sleep(self.run_time).await;
            next.into_outcome(&cmd.get_program().to_string_lossy())
        })
    }

    fn start<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, processkit::Result<RunningProcess>> {
        Box::pin(async move {
            Err(Error::Unsupported {
                program: cmd.get_program().to_string_lossy().into_owned(),
                operation: "start".into(),
                reason: "this double only executes".into(),
            })
        })
    }
}

#[cfg(unix)]
#[path = "../common/mod.rs"]
mod common;
// `common` is for Unix; elsewhere its scheduled cancel comes alone.
#[cfg(all(not(unix), feature = "cancellation"))]
#[path = "../common/cancel.rs"]
mod common;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn supervisor() -> Supervisor {
    Supervisor::new(Command::new("worker")).jitter(false)
}

/// Runs [`supervisor`], set up by `configure`, through `double`.
async fn supervise(
    double: &Double,
    configure: impl FnOnce(Supervisor) -> Supervisor,
) -> processkit::Result<SupervisionOutcome> {
    configure(supervisor()).with_runner(double).run().await
}

mod policies;

mod stop_conditions;

mod backoff;

mod storm_guard;

mod errors;

mod scripted_runner;

#[cfg(feature = "cancellation")]
mod cancel;

#[cfg(unix)]
mod real_processes;

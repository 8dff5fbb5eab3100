//! `processkit supervise`: keeps a command alive with the library's
//! [`Supervisor`], one line on stderr per restart.

use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use processkit::{
    BoxFuture, Command, Error, ExitStatus, ProcessResult, ProcessRunner, RestartPolicy,
    RunningProcess, StopReason, Supervisor,
};
use tokio::sync::Notify;

use crate::args::{Restart, SpawnArgs, SuperviseArgs};
use crate::run::group_for;
use crate::util::{self, EXIT_TOOL};

/// Runs each incarnation with inherited stdio in its own container, and
/// says on stderr when it restarts one.
struct Incarnations {
    argv: Vec<OsString>,
    spawn: SpawnArgs,
    grace: Duration,
    stopping: Arc<Notify>,
    /// The attempt count and how the previous one ended.
    last: Mutex<(u32, Option<(String, Instant)>)>,
}

impl Incarnations {
    async fn once(&self) -> processkit::Result<ProcessResult<Vec<u8>>> {
        let program = self.argv[0].to_string_lossy().into_owned();
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            last.0 += 1;
            if let Some((how, at)) = &last.1 {
                util::complain(format!(
                    "restarting `{program}` (attempt {}): it {how}; paused {}",
                    last.0,
                    humantime::format_duration(Duration::from_millis(
                        at.elapsed().as_millis() as u64
                    ))
                ));
            }
        }
        let group = group_for(&Default::default(), self.grace).map_err(|reason| Error::Spawn {
            program: program.clone(),
            source: std::io::Error::other(reason),
        })?;
        let cmd = util::command(&self.argv, &self.spawn).map_err(|reason| Error::InvalidInput {
            program: program.clone(),
            reason,
        })?;
        let started = Instant::now();
        // Inherited stdio: a supervised service writes straight to the
        // tool's stdout and stderr.
        let mut child = group.start(&cmd).await?;
        tokio::select! {
            r = child.wait() => { r?; }
            _ = self.stopping.notified() => {
                let _ = group.shutdown().await;
                child.wait().await?;
            }
        }
        if !group.is_empty().unwrap_or(true) {
            let left = group.members().unwrap_or_default();
            if !left.is_empty() {
                let list: Vec<String> = left
                    .iter()
                    .map(|p| format!("{p} ({})", util::program_of(*p)))
                    .collect();
                util::complain(format!(
                    "`{program}` left descendants running; killed: {}",
                    list.join(", ")
                ));
            }
            let _ = group.kill();
            let _ = util::wait_empty(&group, Duration::from_secs(10)).await;
        }
        let st = child
            .exit_status()
            .unwrap_or_else(|| ExitStatus::from_code(EXIT_TOOL));
        let how = util::describe_exit(st.code(), st.signal(), false);
        self.last.lock().unwrap_or_else(|p| p.into_inner()).1 = Some((how, Instant::now()));
        Ok(ProcessResult::new(
            program,
            st,
            Vec::new(),
            Vec::new(),
            false,
            started.elapsed(),
        ))
    }
}

impl ProcessRunner for Incarnations {
    fn execute<'a>(
        &'a self,
        _cmd: &'a Command,
    ) -> BoxFuture<'a, processkit::Result<ProcessResult<Vec<u8>>>> {
        Box::pin(self.once())
    }

    fn start<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, processkit::Result<RunningProcess>> {
        Box::pin(async move {
            Err(Error::Unsupported {
                program: cmd.get_program().to_string_lossy().into_owned(),
                operation: "start".into(),
                reason: "the supervisor's runner only runs to completion".into(),
            })
        })
    }
}

/// Runs `processkit supervise` and returns the tool's exit code.
pub async fn run(args: SuperviseArgs) -> i32 {
    let mut signals = match util::listen_signals() {
        Ok(rx) => rx,
        Err(e) => {
            util::complain(format!("cannot catch signals: {e}"));
            return EXIT_TOOL;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::new(Notify::new());
    let runner = Incarnations {
        argv: args.command.clone(),
        spawn: args.spawn.clone(),
        grace: args.grace,
        stopping: stopping.clone(),
        last: Mutex::new((0, None)),
    };
    let policy = match args.restart {
        Restart::Always => RestartPolicy::Always,
        Restart::OnCrash => RestartPolicy::OnCrash,
        Restart::Never => RestartPolicy::Never,
    };
    let flag = stop.clone();
    let mut sup = Supervisor::new(Command::new(&args.command[0]).args(&args.command[1..]))
        .restart(policy)
        .backoff(args.backoff, 2.0)
        .max_backoff(args.max_backoff)
        .stop_when(move |_| flag.load(Ordering::SeqCst))
        .with_runner(runner);
    if let Some(n) = args.max_restarts {
        sup = sup.max_restarts(n);
    }
    if let Some(p) = args.storm_pause {
        sup = sup.storm_pause(p);
    }
    let outcome = {
        let supervise = sup.run();
        tokio::pin!(supervise);
        loop {
            tokio::select! {
                o = &mut supervise => break o,
                Some(sig) = signals.recv() => {
                    util::complain(format!("signal {sig} received: stopping the command", sig = sig.signal));
                    stop.store(true, Ordering::SeqCst);
                    stopping.notify_one();
                }
            }
        }
    };
    match outcome {
        Ok(o) => {
            let last = o.last.as_ref();
            let (code, signal) = (last.and_then(|r| r.code()), last.and_then(|r| r.signal()));
            let why = match o.stopped {
                StopReason::StopCondition => "stopped on request".to_owned(),
                StopReason::CleanExit => "the command exited cleanly".to_owned(),
                StopReason::PolicyNever => "restart policy is never".to_owned(),
                StopReason::MaxRestarts => format!("{} restarts, the maximum", o.restarts),
                _ => "supervision ended".to_owned(),
            };
            util::complain(format!(
                "supervision ended: {why}; last run {}; {} restart{}, {} crash{}",
                util::describe_exit(code, signal, false),
                o.restarts,
                if o.restarts == 1 { "" } else { "s" },
                o.failures,
                if o.failures == 1 { "" } else { "es" },
            ));
            if matches!(o.stopped, StopReason::StopCondition) {
                0
            } else {
                util::status_code(code, signal)
            }
        }
        Err(e) => {
            util::complain(&e);
            util::spawn_error_code(&e)
        }
    }
}

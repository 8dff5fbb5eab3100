//! The [`ProcessRunner`] seam: every verb goes through it, so the real
//! spawner can be swapped for a scripted double, a recorder or a mock.
//!
//! A runner implements two things: [`execute`](ProcessRunner::execute) (run to
//! completion, capture everything) and [`start`](ProcessRunner::start) (a live
//! handle). [`ProcessRunnerExt`] builds the whole verb vocabulary on top,
//! including retries and cancellation, so every runner behaves the same.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::command::Command;
use crate::error::{Error, Result};
use crate::output::{DestKind, Destination};
use crate::result::{ProcessResult, stderr_tail};
use crate::running::{Owner, Parts, Proc, RunningProcess};
use crate::stdin::StdinKind;
use crate::sys::{self, SpawnRequest, StdioKind};

/// A boxed, sendable future (the return type of [`ProcessRunner`] methods).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs commands. Implemented by [`JobRunner`] (real processes, each in its
/// own container), [`ProcessGroup`](crate::ProcessGroup) (real processes in
/// one shared container), [`ScriptedRunner`](crate::ScriptedRunner) and the
/// record/replay and mock doubles.
///
/// ```
/// use processkit::{Command, JobRunner, ProcessRunner, ProcessRunnerExt};
///
/// async fn head_commit(runner: &impl ProcessRunner) -> processkit::Result<String> {
///     runner.run(&Command::new("git").args(["rev-parse", "HEAD"])).await
/// }
/// # let _ = head_commit(&JobRunner);
/// ```
pub trait ProcessRunner: Send + Sync {
    /// Runs `cmd` to completion and captures its output losslessly. A
    /// non-zero exit is data. No retry: [`ProcessRunnerExt`] adds it.
    fn execute<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, Result<ProcessResult<Vec<u8>>>>;

    /// Starts `cmd` and returns a live handle.
    fn start<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, Result<RunningProcess>>;

    /// `true` once this runner starts nothing more: a
    /// [`ProcessGroup`](crate::ProcessGroup) after its
    /// [`shutdown`](crate::ProcessGroup::shutdown). A
    /// [`Supervisor`](crate::Supervisor) running through such a runner stops
    /// with [`StopReason::GroupShutDown`](crate::StopReason::GroupShutDown)
    /// instead of restarting. The default is `false`.
    ///
    /// ```
    /// use processkit::{JobRunner, ProcessRunner};
    /// assert!(!JobRunner::new().is_shut_down());
    /// ```
    fn is_shut_down(&self) -> bool {
        false
    }
}

/// Forwards [`ProcessRunner`] through a reference or smart pointer to a runner.
macro_rules! forward_runner {
    ($($ptr:ty),+) => {$(
        impl<R: ProcessRunner + ?Sized> ProcessRunner for $ptr {
            fn execute<'a>(
                &'a self,
                cmd: &'a Command,
            ) -> BoxFuture<'a, Result<ProcessResult<Vec<u8>>>> {
                (**self).execute(cmd)
            }
            fn start<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, Result<RunningProcess>> {
                (**self).start(cmd)
            }
            fn is_shut_down(&self) -> bool {
                (**self).is_shut_down()
            }
        }
    )+};
}

forward_runner!(&R, Arc<R>, Box<R>);

/// The verb vocabulary for every [`ProcessRunner`]: the same verbs as on
/// [`Command`], with the runner chosen by the caller.
///
/// ```
/// use processkit::{Command, JobRunner, ProcessRunnerExt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let runner = JobRunner::new();
/// assert_eq!(runner.run(&Command::new("echo").arg("hi")).await?, "hi");
/// assert!(runner.probe(&Command::new("true")).await?);
/// # Ok(()) }
/// ```
pub trait ProcessRunnerExt: ProcessRunner {
    /// See [`Command::output_bytes`]. Applies the command's retry policy.
    fn output_bytes<'a>(
        &'a self,
        cmd: &'a Command,
    ) -> BoxFuture<'a, Result<ProcessResult<Vec<u8>>>> {
        Box::pin(async move {
            if cmd.is_cancelled() {
                return Err(Error::Cancelled {
                    program: cmd.name().to_owned(),
                });
            }
            match &cmd.retry {
                None => self.execute(cmd).await,
                Some(policy) => policy.drive(cmd, || self.execute(cmd)).await,
            }
        })
    }

    /// See [`Command::output_string`].
    fn output_string<'a>(
        &'a self,
        cmd: &'a Command,
    ) -> BoxFuture<'a, Result<ProcessResult<String>>> {
        Box::pin(async move {
            let r = self.output_bytes(cmd).await?;
            if cmd.strip_escapes {
                return Ok(r.map_output(|b| crate::terminal::stripped_text(&b)));
            }
            Ok(r.into_lossy())
        })
    }

    /// See [`Command::run`].
    fn run<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            cmd.require_captured_stdout("run")?;
            let r = self.output_string(cmd).await?;
            require_success(cmd, &r)?;
            let (mut out, _) = r.into_output();
            out.truncate(out.trim_end().len());
            Ok(out)
        })
    }

    /// See [`Command::exit_code`].
    fn exit_code<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, Result<i32>> {
        Box::pin(async move {
            let r = self.output_string(cmd).await?;
            let code = require_exit(cmd, &r)?;
            if cmd.ok_codes.is_some() && !cmd.is_ok_code(code) {
                return Err(Error::NonZeroExit {
                    program: r.program().to_owned(),
                    code,
                    stderr_tail: stderr_tail(r.stderr(), 5),
                });
            }
            Ok(code)
        })
    }

    /// See [`Command::probe`].
    fn probe<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let r = self.output_string(cmd).await?;
            match require_exit(cmd, &r)? {
                0 => Ok(true),
                1 => Ok(false),
                code => Err(Error::NonZeroExit {
                    program: r.program().to_owned(),
                    code,
                    stderr_tail: stderr_tail(r.stderr(), 5),
                }),
            }
        })
    }

    /// See [`Command::first_line`].
    fn first_line<'a, P>(
        &'a self,
        cmd: &'a Command,
        pred: P,
    ) -> BoxFuture<'a, Result<Option<String>>>
    where
        P: FnMut(&str) -> bool + Send + 'a,
    {
        Box::pin(async move {
            if cmd.is_cancelled() {
                return Err(Error::Cancelled {
                    program: cmd.name().to_owned(),
                });
            }
            cmd.require_captured_stdout("first_line")?;
            let mut run = self.start(cmd).await?;
            let line = run.first_matching_line(pred).await;
            // The run is over once the match is in: its tree goes, on a
            // group runner too (only this run's subtree).
            run.kill_leftovers();
            drop(run);
            line
        })
    }
}

impl<R: ProcessRunner + ?Sized> ProcessRunnerExt for R {}

/// The error for a run that did not exit, or exited non-zero.
pub(crate) fn require_success<T: AsRef<[u8]>>(cmd: &Command, r: &ProcessResult<T>) -> Result<()> {
    let code = require_exit(cmd, r)?;
    if !cmd.is_ok_code(code) {
        return Err(Error::NonZeroExit {
            program: r.program().to_owned(),
            code,
            stderr_tail: stderr_tail(&String::from_utf8_lossy(r.stderr().as_ref()), 5),
        });
    }
    Ok(())
}

fn require_exit<T: AsRef<[u8]>>(cmd: &Command, r: &ProcessResult<T>) -> Result<i32> {
    if r.timed_out() {
        return Err(Error::Timeout {
            program: r.program().to_owned(),
            timeout: cmd.timeout.unwrap_or_default(),
        });
    }
    if r.idle_timed_out() {
        return Err(Error::Inactive {
            program: r.program().to_owned(),
            idle: cmd.idle_timeout.unwrap_or_default(),
        });
    }
    match r.code() {
        Some(c) => Ok(c),
        None => Err(Error::Killed {
            program: r.program().to_owned(),
            signal: r.signal().unwrap_or(9),
            stderr_tail: stderr_tail(&String::from_utf8_lossy(r.stderr().as_ref()), 5),
        }),
    }
}

/// The real runner: each command runs in its own kill-on-drop container.
///
/// ```
/// use processkit::{Command, JobRunner, ProcessRunnerExt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let out = JobRunner::new().output_string(&Command::new("echo").arg("x")).await?;
/// assert_eq!(out.stdout(), "x\n");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JobRunner;

impl JobRunner {
    /// The real runner.
    ///
    /// ```
    /// let _runner = processkit::JobRunner::new();
    /// ```
    pub fn new() -> Self {
        JobRunner
    }
}

impl ProcessRunner for JobRunner {
    fn execute<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, Result<ProcessResult<Vec<u8>>>> {
        Box::pin(async move { start_owned(cmd)?.output_bytes().await })
    }

    fn start<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, Result<RunningProcess>> {
        Box::pin(async move { start_owned(cmd) })
    }
}

/// Starts `cmd` in a private container owned by the returned handle.
pub(crate) fn start_owned(cmd: &Command) -> Result<RunningProcess> {
    if cmd.is_cancelled() {
        return Err(Error::Cancelled {
            program: cmd.name().to_owned(),
        });
    }
    check_platform(cmd)?;
    let container = sys::Container::one_shot(sys::Request::Best)?;
    let spawned = container.spawn(request(cmd, None, None)?)?;
    crate::trace::spawned(cmd.name(), Some(spawned.child.id()), container.mechanism());
    Ok(assemble(cmd, spawned, Owner::Own(Box::new(container))))
}

/// Starts `cmd` in a shared container (a group member).
pub(crate) fn start_in(container: &sys::Container, cmd: &Command) -> Result<RunningProcess> {
    if cmd.is_cancelled() {
        return Err(Error::Cancelled {
            program: cmd.name().to_owned(),
        });
    }
    check_platform(cmd)?;
    let spawned = container.spawn(request(cmd, None, None)?)?;
    crate::trace::spawned(cmd.name(), Some(spawned.child.id()), container.mechanism());
    Ok(assemble(cmd, spawned, Owner::Shared))
}

pub(crate) fn assemble(cmd: &Command, s: sys::Spawned, owner: Owner) -> RunningProcess {
    RunningProcess::from_parts(
        Parts {
            program: cmd.name().to_owned(),
            proc_: Proc::Real {
                child: s.child,
                member: std::sync::Arc::new(s.member),
                owner,
            },
            stdin: s.stdin,
            stdout: s.stdout,
            stderr: s.stderr,
            terminal: s.terminal,
        },
        cmd,
    )
}

/// Rejects Unix-only spawn flags on targets that lack them, and a start
/// outside a tokio runtime (before anything is spawned: the handle's pipes,
/// pidfd and timers need one).
pub(crate) fn check_platform(cmd: &Command) -> Result<()> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::unsupported(
            cmd.name(),
            "starting a process outside a tokio runtime",
            "processkit needs a tokio runtime with I/O and time enabled; \
             start the process from inside one (for example under #[tokio::main])",
        ));
    }
    if cfg!(not(unix)) {
        let flag = if cmd.uid.is_some() {
            Some("uid")
        } else if cmd.gid.is_some() {
            Some("gid")
        } else if cmd.setsid {
            Some("setsid")
        } else if cmd.grace.is_some() {
            Some("grace_period")
        } else {
            None
        };
        if let Some(flag) = flag.or_else(|| cmd.knobs.first_set(false)) {
            return Err(Error::unsupported(
                cmd.name(),
                flag,
                "it is a POSIX-only spawn flag",
            ));
        }
    }
    if cfg!(not(target_os = "linux"))
        && let Some(flag) = cmd.knobs.first_set(true)
    {
        return Err(Error::unsupported(
            cmd.name(),
            flag,
            "it is a Linux-only spawn setting",
        ));
    }
    Ok(())
}

/// What the child's stdout or stderr is connected to for `dest`.
fn destination(cmd: &Command, dest: &Destination, stream: &str) -> Result<StdioKind> {
    Ok(match &dest.0 {
        DestKind::Capture | DestKind::Tee(_) => StdioKind::Piped,
        DestKind::Inherit => StdioKind::Inherit,
        DestKind::Null => StdioKind::Null,
        DestKind::Stdout => StdioKind::Stdout,
        DestKind::File { path, append } => {
            let mut open = std::fs::OpenOptions::new();
            if *append {
                open.append(true);
            } else {
                open.write(true).truncate(true);
            }
            let f = open.create(true).open(path).map_err(|e| {
                Error::io(
                    cmd.name(),
                    format!("opening {stream} file {}", path.display()),
                    e,
                )
            })?;
            StdioKind::Io(f.into())
        }
    })
}

/// Builds the spawn request for `cmd`. `stdin`/`stdout` override the
/// command's own choices (pipelines connect stages this way).
pub(crate) fn request(
    cmd: &Command,
    stdin: Option<StdioKind>,
    stdout: Option<StdioKind>,
) -> Result<SpawnRequest<'_>> {
    if cmd.pty.is_some() {
        check_pty(cmd, stdin.is_some() || stdout.is_some())?;
    }
    let stdin = match stdin {
        Some(k) => k,
        None if cmd.keep_stdin_open => StdioKind::Piped,
        None => match &cmd.stdin.0 {
            StdinKind::Null => StdioKind::Null,
            StdinKind::Inherit => StdioKind::Inherit,
            StdinKind::Bytes(_) | StdinKind::Lines(_) => StdioKind::Piped,
            StdinKind::File(path) => {
                let f = std::fs::File::open(path).map_err(|e| {
                    Error::io(
                        cmd.name(),
                        format!("opening stdin file {}", path.display()),
                        e,
                    )
                })?;
                StdioKind::Io(f.into())
            }
        },
    };
    let stdout = match stdout {
        Some(k) => k,
        None => destination(cmd, &cmd.stdout, "stdout")?,
    };
    let stderr = destination(cmd, &cmd.stderr, "stderr")?;
    if cmd.idle_timeout.is_some()
        && !matches!(stdout, StdioKind::Piped)
        && !matches!(stderr, StdioKind::Piped)
    {
        return Err(Error::invalid(
            cmd.name(),
            "idle_timeout needs stdout or stderr captured: no output passes through this process",
        ));
    }
    if cmd.grace.is_some() {
        cmd.stop_signal.to_raw(cmd.name())?;
    }
    Ok(SpawnRequest {
        display_name: cmd.name(),
        program: &cmd.program,
        args: &cmd.args,
        env: cmd.resolved_env(),
        cwd: cmd.cwd.as_deref(),
        stdin,
        stdout,
        stderr,
        setsid: cmd.setsid,
        uid: cmd.uid,
        gid: cmd.gid,
        kill_on_parent_death: cmd.kill_on_parent_death,
        knobs: &cmd.knobs,
        create_no_window: cmd.create_no_window,
        pty: cmd.pty,
    })
}

/// Refuses what a terminal run cannot do: its one terminal is stdin,
/// stdout and stderr at once, and this process reads and types into it.
fn check_pty(cmd: &Command, in_pipeline: bool) -> Result<()> {
    let refuse = |what: &str| {
        Err(Error::invalid(
            cmd.name(),
            format!("a pty run {what}: the terminal is its stdin, stdout and stderr"),
        ))
    };
    if in_pipeline {
        return refuse("cannot be a pipeline stage");
    }
    if matches!(cmd.stdin.0, StdinKind::Inherit | StdinKind::File(_)) {
        return refuse("cannot read stdin from a file or from this process");
    }
    if !cmd.stdout.is_captured() {
        return refuse(&format!("cannot have its output {}", cmd.stdout.describe()));
    }
    if !matches!(cmd.stderr.0, DestKind::Capture | DestKind::Stdout) {
        return refuse(&format!("cannot have stderr {}", cmd.stderr.describe()));
    }
    Ok(())
}

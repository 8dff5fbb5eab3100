//! [`RunningProcess`]: the handle of a live child and its state machine.
//! The line streams, the collecting verbs and the readiness probes are its
//! child modules, each an `impl RunningProcess` block.

mod accessors;
mod collect;
mod extras;
pub(super) mod lines;
mod probe;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::time::Sleep;

#[cfg(feature = "process-control")]
use super::proc::kill_signal;
use super::proc::{Owner, Proc};
use super::pump::{Activity, Pump};
use super::stdin::StdinWriter;
use super::stop::{Stop, watchdog};
use crate::error::{Error, Result};
use crate::output::CaptureLimit;
use crate::result::ExitStatus;
use crate::sys;

/// How long output pumps may take to reach EOF after the direct child exited
/// and its container was torn down. Only an fd that escaped the container
/// (possible on the process-group mechanism) can make this bound matter.
pub(crate) const DRAIN: Duration = Duration::from_secs(2);

/// How much stderr a streaming path keeps (the last bytes) when the command
/// set no [`CaptureLimit`] of its own.
const STREAM_STDERR_CAP: usize = 4 * 1024 * 1024;

/// How much unread stdout [`RunningProcess::wait`] buffers while waiting.
const WAIT_BUFFER: usize = 64 * 1024 * 1024;

/// Where stderr goes while the caller works with stdout.
enum Stderr {
    /// Read by whoever polls the handle (capture verbs).
    Inline(Pump),
    /// Drained into memory by a background task (streaming and probes),
    /// with the number of bytes its cap dropped.
    Task(tokio::task::JoinHandle<(Vec<u8>, u64)>),
    /// Finished.
    Done(Vec<u8>),
}

/// A live child process.
///
/// Get one from [`Command::start`](crate::Command::start) (the handle owns a
/// private container: dropping it kills the whole tree) or from
/// [`ProcessGroup::start`](crate::ProcessGroup::start) (the group owns the
/// tree: dropping the handle detaches from the process, dropping the group
/// kills it).
///
/// ```
/// use processkit::{Command, StreamExt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let mut run = Command::new("sh").args(["-c", "echo one; echo two; echo oops >&2; exit 4"]).start().await?;
/// let mut lines = run.stdout_lines();
/// let mut seen = Vec::new();
/// while let Some(line) = lines.next().await {
///     seen.push(line);
/// }
/// let (code, stderr) = run.finish_streamed().await?;
/// assert_eq!(seen, ["one", "two"]);
/// assert_eq!((code, stderr.as_str()), (Some(4), "oops\n"));
/// # Ok(()) }
/// ```
#[doc(alias = "Child")]
#[doc(alias = "kill_on_drop")]
pub struct RunningProcess {
    program: String,
    proc_: Proc,
    started: Instant,
    drain: Option<Pin<Box<Sleep>>>,
    stdout: Pump,
    stderr: Stderr,
    /// Where stdout goes when it is not captured (for error messages).
    stdout_dest: Option<&'static str>,
    status: Option<ExitStatus>,
    timed_out: bool,
    cancelled: bool,
    idle_timed_out: bool,
    /// A consuming verb runs this process to its end: once the direct child
    /// exits, whatever it left behind in its subtree is killed, on every
    /// runner (a group member's siblings are untouched).
    run_over: bool,
    /// Bytes a cap dropped from the captured stderr.
    stderr_dropped: u64,
    /// Whether the background stderr drain, dropped before EOF, hands its
    /// pipe to a drain thread (a group member that may live on). Made when
    /// stderr moves to a background task.
    stderr_hand_off: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// What only some runs use (deadlines, cancellation, a stdin writer or
    /// feeder, a terminal), boxed so that a plain run's handle stays small:
    /// a group can hold thousands of them.
    extras: Option<Box<Extras>>,
}

/// The rarely used parts of a [`RunningProcess`].
#[derive(Default)]
struct Extras {
    timeout: Option<Duration>,
    deadline: Option<Pin<Box<Sleep>>>,
    #[cfg(feature = "cancellation")]
    cancel: Option<(
        tokio_util::sync::CancellationToken,
        Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    )>,
    stdin: Option<StdinWriter>,
    feeder: Option<tokio::task::JoinHandle<()>>,
    /// A supervisor's graceful stop, until it fires.
    graceful_stop: Option<Pin<Box<dyn Future<Output = Option<crate::signal::StopRequest>> + Send>>>,
    /// Kills the tree at the deadline or on cancellation even while nobody
    /// polls the handle (a server started with a safety deadline).
    watchdog: Option<tokio::task::JoinHandle<()>>,
    /// How a deadline stops the tree (shared with the watchdog). Made with
    /// the extras of a run that has a deadline, an inactivity deadline, a
    /// graceful stop or a cancellation token.
    stop: Option<std::sync::Arc<Stop>>,
    /// The escalation to `SIGKILL` after a polite stop signal.
    kill_at: Option<Pin<Box<Sleep>>>,
    /// The inactivity deadline and the clock of the last output byte.
    idle: Option<(Duration, std::sync::Arc<Activity>)>,
    idle_sleep: Option<Pin<Box<Sleep>>>,
    /// The child's terminal (a `pty` run).
    #[cfg_attr(not(feature = "pty"), allow(dead_code))]
    terminal: Option<std::sync::Arc<sys::PtyMaster>>,
}

impl std::fmt::Debug for RunningProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningProcess")
            .field("program", &self.program)
            .field("pid", &self.proc_.pid())
            .field("status", &self.status)
            .field("timed_out", &self.timed_out)
            .finish_non_exhaustive()
    }
}

/// The parts a runner assembles a handle from.
pub(crate) struct Parts {
    pub program: String,
    pub proc_: Proc,
    pub stdin: Option<sys::WritePipe>,
    pub stdout: Option<sys::ReadPipe>,
    pub stderr: Option<sys::ReadPipe>,
    /// The master of the child's terminal (a `pty` run).
    pub terminal: Option<sys::PtyMaster>,
}

impl RunningProcess {
    /// Assembles a handle and starts the stdin feeder.
    pub(crate) fn from_parts(parts: Parts, cmd: &crate::Command) -> RunningProcess {
        let started = Instant::now();
        let mut stdin_writer = None;
        let mut feeder = None;
        if let Some(pipe) = parts.stdin {
            // A terminal is interactive: with no input source, its input
            // stays open for the caller to type into.
            let interactive =
                parts.terminal.is_some() && matches!(cmd.stdin.0, crate::stdin::StdinKind::Null);
            if cmd.keep_stdin_open || interactive {
                stdin_writer = Some(StdinWriter::new(parts.program.clone(), pipe));
            } else {
                feeder = Some(tokio::spawn(super::stdin::feed(cmd.stdin.0.clone(), pipe)));
            }
        }
        #[cfg(feature = "cancellation")]
        let cancellable = cmd.cancel.is_some();
        #[cfg(not(feature = "cancellation"))]
        let cancellable = false;
        let stoppable = cmd.timeout.is_some()
            || cmd.idle_timeout.is_some()
            || cmd.graceful_stop.is_some()
            || cancellable;
        let idle = cmd
            .idle_timeout
            .map(|d| (d, std::sync::Arc::new(Activity::new())));
        let activity = idle.as_ref().map(|(_, a)| a.clone());
        let extras =
            (stoppable || stdin_writer.is_some() || feeder.is_some() || parts.terminal.is_some())
                .then(|| {
                    let stop = stoppable.then(|| std::sync::Arc::new(Stop::new(cmd)));
                    let watchdog = stop
                        .as_ref()
                        .and_then(|stop| watchdog(&parts.proc_, cmd, stop, activity.clone()));
                    Box::new(Extras {
                        timeout: cmd.timeout,
                        deadline: cmd.timeout.map(|t| Box::pin(tokio::time::sleep(t))),
                        #[cfg(feature = "cancellation")]
                        cancel: cmd.cancel.clone().map(|t| {
                            let fut = Box::pin(t.clone().cancelled_owned());
                            (t, fut)
                        }),
                        stdin: stdin_writer,
                        feeder,
                        graceful_stop: cmd.graceful_stop.clone().map(|mut rx| {
                            Box::pin(async move {
                                rx.wait_for(Option::is_some).await.ok().and_then(|r| *r)
                            })
                                as Pin<Box<dyn Future<Output = _> + Send>>
                        }),
                        watchdog,
                        stop,
                        kill_at: None,
                        idle,
                        idle_sleep: None,
                        terminal: parts.terminal.map(std::sync::Arc::new),
                    })
                });
        RunningProcess {
            program: parts.program,
            proc_: parts.proc_,
            started,
            drain: None,
            stdout: Pump::new(parts.stdout, cmd.on_stdout.clone())
                .with_strip(cmd.strip_escapes)
                .with_tee(cmd.stdout.tee_writer())
                .with_activity(activity.clone())
                .with_limit(cmd.stdout_limit),
            stderr: Stderr::Inline(
                Pump::new(parts.stderr, cmd.on_stderr.clone())
                    .with_strip(cmd.strip_escapes)
                    .with_tee(cmd.stderr.tee_writer())
                    .with_activity(activity)
                    .with_limit(cmd.stderr_limit),
            ),
            stdout_dest: (!cmd.stdout.is_captured()).then(|| cmd.stdout.describe()),
            status: None,
            timed_out: false,
            cancelled: false,
            idle_timed_out: false,
            run_over: false,
            stderr_dropped: 0,
            stderr_hand_off: None,
            extras,
        }
    }

    /// Closes a kept-open stdin that was never taken with
    /// [`standard_input`](Self::standard_input): a child reading stdin to
    /// its end (`cat`) would otherwise wait for ever, since nobody can reach
    /// the writer any more. Waiting verbs call it first, as std's
    /// `wait_with_output` and tokio's `wait` close stdin.
    fn close_untaken_stdin(&mut self) {
        if let Some(x) = self.extras.as_mut() {
            drop(x.stdin.take());
        }
    }

    #[cfg_attr(not(feature = "stats"), allow(dead_code))]
    pub(crate) fn proc_ref(&self) -> &Proc {
        &self.proc_
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn is_cancel_requested(&self) -> bool {
        #[cfg(feature = "cancellation")]
        {
            self.cancelled
                || self
                    .extras
                    .as_ref()
                    .and_then(|x| x.cancel.as_ref())
                    .is_some_and(|(t, _)| t.is_cancelled())
        }
        #[cfg(not(feature = "cancellation"))]
        {
            self.cancelled
        }
    }

    /// Drives cancellation, the deadline and the child's exit. Returns the
    /// exit status once the direct child has exited (after teardown).
    fn poll_exit(&mut self, cx: &mut Context<'_>) -> Poll<Result<ExitStatus>> {
        if let Some(s) = self.status {
            return Poll::Ready(Ok(s));
        }
        if self.extras.is_some() {
            self.poll_extras(cx);
        }
        match self.proc_.poll_wait(cx) {
            Poll::Ready(Ok(status)) => {
                self.status = Some(status);
                if let Some(x) = self.extras.as_mut() {
                    x.kill_at = None;
                    x.idle_sleep = None;
                    x.deadline = None;
                    if let Some(w) = x.watchdog.take() {
                        w.abort();
                    }
                }
                crate::trace::exited(
                    &self.program,
                    self.proc_.pid(),
                    status.code(),
                    status.signal(),
                    self.elapsed(),
                );
                if self.proc_.kills_tree_on_exit()
                    || self.run_over
                    || self.timed_out
                    || self.idle_timed_out
                {
                    // Take down whatever the child left behind (after a
                    // deadline, a group member's subtree too).
                    self.proc_.kill_tree();
                }
                self.drain = Some(Box::pin(tokio::time::sleep(DRAIN)));
                Poll::Ready(Ok(status))
            }
            Poll::Ready(Err(e)) => {
                Poll::Ready(Err(Error::io(&self.program, "waiting for the process", e)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// A consuming verb took this handle: the run is over when the verb
    /// returns, so a group member's leftovers go when its direct child
    /// exits (now, if it has exited already), as a one-shot run's do.
    fn end_with_run(&mut self) {
        self.run_over = true;
        if self.status.is_some() {
            self.kill_leftovers();
        }
    }

    /// Kills this run's own subtree when it is a group member (a one-shot
    /// run's container already went with its direct child).
    pub(crate) fn kill_leftovers(&mut self) {
        if matches!(
            self.proc_,
            Proc::Real {
                owner: Owner::Shared,
                ..
            }
        ) {
            self.proc_.kill_tree();
        }
    }

    fn drain_expired(&mut self, cx: &mut Context<'_>) -> bool {
        match self.drain.as_mut() {
            Some(d) => d.as_mut().poll(cx).is_ready(),
            None => false,
        }
    }

    /// Moves stderr to a background task (for streaming paths).
    fn detach_stderr(&mut self) {
        if let Stderr::Inline(_) = self.stderr {
            let Stderr::Inline(mut pump) =
                std::mem::replace(&mut self.stderr, Stderr::Done(Vec::new()))
            else {
                unreachable!()
            };
            if pump.is_eof() {
                self.stderr = Stderr::Done(pump.take_captured());
                self.stderr_dropped = pump.dropped();
            } else {
                // Nobody reads this stderr until the end: keep its tail only,
                // unless the command chose a cap itself.
                pump.set_limit(Some(CaptureLimit::tail(STREAM_STDERR_CAP)));
                let is_member = matches!(
                    self.proc_,
                    Proc::Real {
                        owner: Owner::Shared,
                        ..
                    }
                );
                let hand_off = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(is_member));
                self.stderr_hand_off = Some(hand_off.clone());
                let mut drain = StderrDrain {
                    pump: Some(pump),
                    hand_off,
                };
                self.stderr = Stderr::Task(tokio::spawn(async move {
                    let Some(pump) = drain.pump.as_mut() else {
                        return (Vec::new(), 0);
                    };
                    poll_fn(|cx| pump.poll_capture(cx)).await;
                    let bytes = pump.take_captured();
                    (bytes, pump.dropped())
                }));
            }
        }
    }

    async fn stderr_bytes(&mut self) -> Vec<u8> {
        let stderr = std::mem::replace(&mut self.stderr, Stderr::Done(Vec::new()));
        match stderr {
            Stderr::Done(b) => b,
            Stderr::Inline(mut p) => {
                // Bounded: the child has exited and its tree is gone.
                let _ = tokio::time::timeout(DRAIN, poll_fn(|cx| p.poll_capture(cx))).await;
                let bytes = p.take_captured();
                self.stderr_dropped = p.dropped();
                bytes
            }
            Stderr::Task(mut handle) => match tokio::time::timeout(DRAIN, &mut handle).await {
                Ok(Ok((b, dropped))) => {
                    self.stderr_dropped = dropped;
                    b
                }
                _ => {
                    handle.abort();
                    Vec::new()
                }
            },
        }
    }

    fn final_error(&self) -> Option<Error> {
        if self.is_cancel_requested() && (self.cancelled || self.timed_out) {
            return Some(Error::Cancelled {
                program: self.program.clone(),
            });
        }
        None
    }

    /// Why the run ended early, as an error: cancelled (which wins), or
    /// killed by its own deadline.
    pub(crate) fn end_error(&self) -> Option<Error> {
        self.final_error()
            .or_else(|| {
                self.timed_out.then(|| Error::Timeout {
                    program: self.program.clone(),
                    timeout: self.timeout().unwrap_or_default(),
                })
            })
            .or_else(|| {
                self.idle_timed_out.then(|| Error::Inactive {
                    program: self.program.clone(),
                    idle: self
                        .extras
                        .as_ref()
                        .and_then(|x| x.idle.as_ref())
                        .map(|(d, _)| *d)
                        .unwrap_or_default(),
                })
            })
    }

    /// Waits for the direct child to exit and returns its exit code (`None`
    /// when it was killed: timeout, cancellation or signal). Unread stdout is
    /// buffered meanwhile (up to 64 MiB) so a chatty child cannot block; it
    /// is still there for [`stdout_lines`](Self::stdout_lines). Cancel-safe.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("sh").args(["-c", "exit 3"]).start().await?;
    /// assert_eq!(run.wait().await?, Some(3));
    /// # Ok(()) }
    /// ```
    pub async fn wait(&mut self) -> Result<Option<i32>> {
        self.close_untaken_stdin();
        self.detach_stderr();
        let status = poll_fn(|cx| {
            let r = self.poll_exit(cx);
            let _ = self.stdout.poll_buffer(cx, WAIT_BUFFER);
            r
        })
        .await?;
        if let Some(e) = self.final_error() {
            return Err(e);
        }
        Ok(status.code())
    }

    /// Kills the whole tree this handle is responsible for (for a group
    /// member: its own subtree) and waits for the direct child.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("sleep").arg("30").start().await?;
    /// run.kill().await?;
    /// assert_eq!(run.wait().await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn kill(&mut self) -> Result<()> {
        if self.status.is_none() {
            self.proc_.kill_tree();
        }
        poll_fn(|cx| match self.proc_.poll_wait(cx) {
            Poll::Ready(Ok(s)) => {
                if self.status.is_none() {
                    self.status = Some(s);
                    self.drain = Some(Box::pin(tokio::time::sleep(DRAIN)));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => {
                Poll::Ready(Err(Error::io(&self.program, "waiting for the process", e)))
            }
            Poll::Pending => Poll::Pending,
        })
        .await
    }

    /// Sends `signal` to this process's own tree.
    ///
    /// ```
    /// use processkit::Signal;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("sleep").arg("30").start().await?;
    /// run.signal(Signal::Term)?;
    /// assert_eq!(run.wait().await?, None);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "process-control")]
    #[cfg_attr(docsrs, doc(cfg(feature = "process-control")))]
    pub fn signal(&mut self, signal: crate::Signal) -> Result<()> {
        let sig = signal.to_raw(&self.program)?;
        if sig == kill_signal() {
            self.proc_.kill_tree();
            return Ok(());
        }
        self.proc_
            .signal_tree(sig)
            .map_err(|e| Error::io(&self.program, "sending a signal", e))
    }
}

fn lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

impl Drop for RunningProcess {
    fn drop(&mut self) {
        if let Some(x) = self.extras.as_mut() {
            if let Some(w) = x.watchdog.take() {
                w.abort();
            }
            if let Some(f) = x.feeder.take() {
                f.abort();
            }
        }
        // A handle that owns its container takes the whole tree down with
        // it: dropping the container (a field of `proc_`) kills the tree
        // and finishes the teardown off the worker. A group member is left
        // to its group: it keeps running, so its output is drained in the
        // background (closing the pipes would kill it with SIGPIPE).
        // The same holds with no runtime to drain it (the handle dropped
        // outside one, or the runtime shutting down with the handle in a
        // task): the output goes on being drained on a thread.
        if self.status.is_none()
            && matches!(
                self.proc_,
                Proc::Real {
                    owner: Owner::Shared,
                    ..
                }
            )
        {
            let stdout = std::mem::replace(&mut self.stdout, Pump::new(None, None));
            let stderr = std::mem::replace(&mut self.stderr, Stderr::Done(Vec::new()));
            let (stderr, stderr_task) = match stderr {
                Stderr::Inline(p) => (Some(p), None),
                Stderr::Task(h) => (None, Some(h)),
                Stderr::Done(_) => (None, None),
            };
            let mut detached = Detached {
                stdout: Some(stdout),
                stderr,
            };
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let stderr_task = async move {
                        if let Some(h) = stderr_task {
                            let _ = h.await;
                        }
                    };
                    let Detached { stdout, stderr } = &mut detached;
                    tokio::join!(
                        poll_fn(|cx| discard(stdout, cx)),
                        poll_fn(|cx| discard(stderr, cx)),
                        stderr_task
                    );
                });
            }
            // Without a runtime, `detached` drops here and hands its pipes
            // to a drain thread; a stderr task left behind does the same
            // when its runtime drops it.
        } else if let Stderr::Task(h) = &self.stderr {
            if let Some(hand_off) = &self.stderr_hand_off {
                hand_off.store(false, std::sync::atomic::Ordering::Release);
            }
            h.abort();
        }
    }
}

/// A detached group member's output, drained to EOF. Dropped before EOF
/// (its runtime is gone or shutting down), it hands each pipe to a drain
/// thread instead of closing it, so the member does not die of `SIGPIPE`.
struct Detached {
    stdout: Option<Pump>,
    stderr: Option<Pump>,
}

impl Drop for Detached {
    fn drop(&mut self) {
        for pump in [self.stdout.take(), self.stderr.take()]
            .into_iter()
            .flatten()
        {
            pump.drain_on_thread();
        }
    }
}

/// Reads `pump` to EOF, keeping nothing.
fn discard(pump: &mut Option<Pump>, cx: &mut Context<'_>) -> Poll<()> {
    match pump {
        Some(p) => p.poll_discard(cx),
        None => Poll::Ready(()),
    }
}

/// The background stderr drain's pump. When a group member's drain task is
/// dropped before EOF (its runtime shutting down) while the member may live
/// on, the pump goes to a drain thread rather than closing the pipe.
struct StderrDrain {
    pump: Option<Pump>,
    hand_off: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for StderrDrain {
    fn drop(&mut self) {
        if let Some(p) = self.pump.take()
            && !p.is_eof()
            && self.hand_off.load(std::sync::atomic::Ordering::Acquire)
        {
            p.drain_on_thread();
        }
    }
}

#[cfg(all(test, target_os = "linux", target_pointer_width = "64"))]
mod tests {
    /// A group holds one handle per live child: the rarely used parts stay
    /// behind one box, so the handle stays small.
    #[test]
    fn handle_stays_small() {
        let size = std::mem::size_of::<super::RunningProcess>();
        assert!(size <= 400, "RunningProcess grew to {size} bytes");
    }
}

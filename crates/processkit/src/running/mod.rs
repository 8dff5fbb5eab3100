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

mod probe;
pub(crate) mod pump;
mod stdin;

pub use pump::MAX_LINE;
pub use stdin::StdinWriter;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::time::Sleep;
use tokio_stream::Stream;

use crate::error::{Error, Result};
use crate::output::CaptureLimit;
use crate::result::{ExitStatus, ProcessResult};
use crate::sys;
use pump::Pump;

/// How long output pumps may take to reach EOF after the direct child exited
/// and its container was torn down. Only an fd that escaped the container
/// (possible on the process-group mechanism) can make this bound matter.
pub(crate) const DRAIN: Duration = Duration::from_secs(2);

/// How much stderr a streaming path keeps (the last bytes) when the command
/// set no [`CaptureLimit`] of its own.
const STREAM_STDERR_CAP: usize = 4 * 1024 * 1024;

/// How much unread stdout [`RunningProcess::wait`] buffers while waiting.
const WAIT_BUFFER: usize = 64 * 1024 * 1024;

/// Who owns the container a process lives in.
pub(crate) enum Owner {
    /// The handle owns it: dropping the handle tears it down.
    Own(sys::Container),
    /// A shared [`ProcessGroup`](crate::ProcessGroup) owns it.
    Shared,
    /// A pipeline stage: the pipeline owns the container, but this stage's
    /// own subtree is torn down when its direct child exits (so a
    /// backgrounded grandchild cannot hold the next stage's pipe open).
    Stage,
}

/// The process behind a handle: a real child or a scripted stand-in.
pub(crate) enum Proc {
    /// Fields drop in this order: a container the handle owns is killed
    /// before the child is dropped, so the child's reaping (handed off by
    /// its `Drop`) finds a dying process, not a live one.
    Real {
        owner: Owner,
        member: std::sync::Arc<sys::Member>,
        child: sys::Child,
    },
    Scripted {
        status: ExitStatus,
        exit_at: Option<Pin<Box<Sleep>>>,
        killed: bool,
    },
}

impl Proc {
    fn pid(&self) -> Option<u32> {
        match self {
            Proc::Real { child, .. } => Some(child.id()),
            Proc::Scripted { .. } => None,
        }
    }

    fn kills_tree_on_exit(&self) -> bool {
        matches!(
            self,
            Proc::Real {
                owner: Owner::Own(_) | Owner::Stage,
                ..
            }
        )
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<ExitStatus>> {
        match self {
            Proc::Real { child, .. } => child.poll_wait(cx),
            Proc::Scripted {
                status,
                exit_at,
                killed,
            } => {
                if *killed {
                    return Poll::Ready(Ok(ExitStatus::from_signal(9)));
                }
                if let Some(sleep) = exit_at
                    && sleep.as_mut().poll(cx).is_pending()
                {
                    return Poll::Pending;
                }
                Poll::Ready(Ok(*status))
            }
        }
    }

    /// Hard-kills this process's own tree (not siblings in a shared group).
    /// A handle that owns its container takes all of it down (for a started
    /// pipeline: every stage).
    fn kill_tree(&mut self) {
        match self {
            Proc::Real {
                member,
                child,
                owner,
            } => {
                match owner {
                    // The handle owns the container (a one-shot run, or a
                    // started pipeline whose other stages share it): the
                    // whole container goes.
                    Owner::Own(container) => {
                        let _ = container.kill_all();
                    }
                    // A group member or pipeline stage: only its own subtree.
                    Owner::Shared | Owner::Stage => {
                        let _ = member.kill_tree();
                    }
                }
                let _ = child.signal(kill_signal());
            }
            Proc::Scripted { killed, .. } => *killed = true,
        }
    }

    #[cfg_attr(not(feature = "process-control"), allow(dead_code))]
    fn signal_tree(&mut self, sig: i32) -> std::io::Result<()> {
        match self {
            Proc::Real { member, .. } => member.signal_tree(sig),
            Proc::Scripted { killed, .. } => {
                if sig == kill_signal() {
                    *killed = true;
                }
                Ok(())
            }
        }
    }

    #[cfg_attr(not(feature = "stats"), allow(dead_code))]
    pub(crate) fn member(&self) -> Option<&sys::Member> {
        match self {
            Proc::Real { member, .. } => Some(member.as_ref()),
            Proc::Scripted { .. } => None,
        }
    }
}

#[cfg(unix)]
fn kill_signal() -> i32 {
    libc::SIGKILL
}
#[cfg(not(unix))]
fn kill_signal() -> i32 {
    9
}

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
    pid: Option<u32>,
    proc_: Proc,
    started: Instant,
    timeout: Option<Duration>,
    deadline: Option<Pin<Box<Sleep>>>,
    drain: Option<Pin<Box<Sleep>>>,
    #[cfg(feature = "cancellation")]
    cancel: Option<(
        tokio_util::sync::CancellationToken,
        Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    )>,
    stdin: Option<StdinWriter>,
    feeder: Option<tokio::task::JoinHandle<()>>,
    /// A supervisor's graceful stop, until it fires.
    graceful_stop:
        Option<Pin<Box<dyn Future<Output = Option<crate::supervisor::StopRequest>> + Send>>>,
    /// Kills the tree at the deadline or on cancellation even while nobody
    /// polls the handle (a server started with a safety deadline).
    watchdog: Option<tokio::task::JoinHandle<()>>,
    stdout: Pump,
    stderr: Stderr,
    /// Where stdout goes when it is not captured (for error messages).
    stdout_dest: Option<&'static str>,
    status: Option<ExitStatus>,
    timed_out: bool,
    cancelled: bool,
    /// How a deadline stops the tree (shared with the watchdog).
    stop: std::sync::Arc<Stop>,
    /// The escalation to `SIGKILL` after a polite stop signal.
    kill_at: Option<Pin<Box<Sleep>>>,
    /// The inactivity deadline and the clock of the last output byte.
    idle: Option<(Duration, std::sync::Arc<Activity>)>,
    idle_sleep: Option<Pin<Box<Sleep>>>,
    idle_timed_out: bool,
    /// Bytes a cap dropped from the captured stderr.
    stderr_dropped: u64,
    /// A consuming verb runs this process to its end: once the direct child
    /// exits, whatever it left behind in its subtree is killed, on every
    /// runner (a group member's siblings are untouched).
    run_over: bool,
    /// Whether the background stderr drain, dropped before EOF, hands its
    /// pipe to a drain thread (a group member that may live on).
    stderr_hand_off: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The child's terminal (a `pty` run).
    #[cfg_attr(not(feature = "pty"), allow(dead_code))]
    terminal: Option<std::sync::Arc<sys::PtyMaster>>,
}

/// How a deadline stops a process tree: at once, or with a polite signal
/// first and `SIGKILL` after a grace period. Shared by the handle and its
/// watchdog task, so the polite signal goes out once whoever notices first.
pub(crate) struct Stop {
    grace: Option<Duration>,
    signal: i32,
    /// 0: running; 1: the polite signal was sent; 2: killed.
    state: std::sync::atomic::AtomicU8,
}

impl Stop {
    fn new(cmd: &crate::Command) -> Stop {
        let signal = cmd
            .stop_signal
            .to_raw(cmd.name())
            .unwrap_or_else(|_| kill_signal());
        Stop {
            grace: cmd.grace.filter(|_| signal != kill_signal()),
            signal,
            state: std::sync::atomic::AtomicU8::new(0),
        }
    }

    /// Claims the right to send the polite signal (once per run).
    fn claim_signal(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.state.compare_exchange(0, 1, SeqCst, SeqCst).is_ok()
    }

    fn mark_killed(&self) {
        self.state.store(2, std::sync::atomic::Ordering::SeqCst);
    }
}

/// When the child last delivered a byte on a captured stream.
pub(crate) struct Activity {
    origin: Instant,
    /// Milliseconds from `origin` to the last byte (0: none yet).
    last_ms: std::sync::atomic::AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            origin: Instant::now(),
            last_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Records that a byte arrived now.
    pub(crate) fn touch(&self) {
        let ms = self.origin.elapsed().as_millis().min(u64::MAX as u128) as u64;
        self.last_ms
            .fetch_max(ms, std::sync::atomic::Ordering::Relaxed);
    }

    fn last(&self) -> u64 {
        self.last_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When the run is idle for `idle` unless another byte arrives.
    fn due(&self, idle: Duration) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.origin + Duration::from_millis(self.last()) + idle)
    }
}

impl std::fmt::Debug for RunningProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningProcess")
            .field("program", &self.program)
            .field("pid", &self.pid)
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
        let pid = parts.proc_.pid();
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
                feeder = Some(tokio::spawn(stdin::feed(cmd.stdin.0.clone(), pipe)));
            }
        }
        let stop = std::sync::Arc::new(Stop::new(cmd));
        let idle = cmd
            .idle_timeout
            .map(|d| (d, std::sync::Arc::new(Activity::new())));
        let activity = idle.as_ref().map(|(_, a)| a.clone());
        let watchdog = watchdog(&parts.proc_, cmd, &stop, activity.clone());
        RunningProcess {
            program: parts.program,
            pid,
            watchdog,
            proc_: parts.proc_,
            started,
            timeout: cmd.timeout,
            deadline: cmd.timeout.map(|t| Box::pin(tokio::time::sleep(t))),
            drain: None,
            #[cfg(feature = "cancellation")]
            cancel: cmd.cancel.clone().map(|t| {
                let fut = Box::pin(t.clone().cancelled_owned());
                (t, fut)
            }),
            stdin: stdin_writer,
            feeder,
            graceful_stop: cmd.graceful_stop.clone().map(|mut rx| {
                Box::pin(async move { rx.wait_for(Option::is_some).await.ok().and_then(|r| *r) })
                    as Pin<Box<dyn Future<Output = _> + Send>>
            }),
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
            stop,
            kill_at: None,
            idle,
            idle_sleep: None,
            idle_timed_out: false,
            stderr_dropped: 0,
            run_over: false,
            stderr_hand_off: Default::default(),
            terminal: parts.terminal.map(std::sync::Arc::new),
        }
    }

    /// The program name.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let run = processkit::Command::new("true").start().await?;
    /// assert_eq!(run.program(), "true");
    /// # Ok(()) }
    /// ```
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The direct child's pid (`None` for a scripted stand-in).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let run = processkit::Command::new("true").start().await?;
    /// assert!(run.pid().is_some());
    /// # Ok(()) }
    /// ```
    #[doc(alias = "id")]
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Closes a kept-open stdin that was never taken with
    /// [`standard_input`](Self::standard_input): a child reading stdin to
    /// its end (`cat`) would otherwise wait for ever, since nobody can reach
    /// the writer any more. Waiting verbs call it first, as std's
    /// `wait_with_output` and tokio's `wait` close stdin.
    fn close_untaken_stdin(&mut self) {
        drop(self.stdin.take());
    }

    /// Takes the interactive stdin writer (present when the command used
    /// [`keep_stdin_open`](crate::Command::keep_stdin_open)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("cat").start().await?;
    /// assert!(run.standard_input().is_none()); // not kept open
    /// # Ok(()) }
    /// ```
    #[doc(alias = "stdin")]
    pub fn standard_input(&mut self) -> Option<StdinWriter> {
        self.stdin.take()
    }

    /// The child's terminal, for a run started with
    /// [`Command::pty`](crate::Command::pty) (`None` otherwise): resize it,
    /// type Ctrl-C or Ctrl-D. Type text with
    /// [`standard_input`](Self::standard_input).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("cat").pty().start().await?;
    /// let term = run.terminal().expect("started with pty()");
    /// term.send_eof()?;
    /// assert_eq!(run.wait().await?, Some(0));
    /// assert!(processkit::Command::new("true").start().await?.terminal().is_none());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "pty")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pty")))]
    pub fn terminal(&self) -> Option<crate::Terminal> {
        self.terminal
            .as_ref()
            .map(|m| crate::Terminal::new(&self.program, m.clone()))
    }

    /// Hands this handle a stdin writer (a pipeline's first stage's).
    pub(crate) fn set_standard_input(&mut self, writer: StdinWriter) {
        self.stdin = Some(writer);
    }

    /// The exit status, once the process has exited.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("true").start().await?;
    /// run.wait().await?;
    /// assert_eq!(run.exit_status().and_then(|s| s.code()), Some(0));
    /// # Ok(()) }
    /// ```
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// `true` if the run's deadline passed and the tree was killed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("sleep").arg("5").timeout(std::time::Duration::from_millis(50)).start().await?;
    /// assert_eq!(run.wait().await?, None);
    /// assert!(run.timed_out());
    /// # Ok(()) }
    /// ```
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// `true` if the run's inactivity deadline
    /// ([`Command::idle_timeout`](crate::Command::idle_timeout)) passed and
    /// the tree was stopped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("sleep").arg("5")
    ///     .idle_timeout(std::time::Duration::from_millis(100))
    ///     .start().await?;
    /// assert_eq!(run.wait().await?, None);
    /// assert!(run.idle_timed_out() && !run.timed_out());
    /// # Ok(()) }
    /// ```
    pub fn idle_timed_out(&self) -> bool {
        self.idle_timed_out
    }

    /// Stops the tree because a deadline passed: at once, or with the polite
    /// signal first and `SIGKILL` after the grace period.
    /// A supervisor's graceful stop: the requested signal to the tree now,
    /// `SIGKILL` after the grace period (at once when the signal cannot be
    /// sent here, or is `SIGKILL` itself).
    fn stop_gracefully(&mut self, request: crate::supervisor::StopRequest) {
        let polite = request
            .signal
            .to_raw(&self.program)
            .ok()
            .filter(|&sig| sig != kill_signal() && !request.grace.is_zero());
        let Some(sig) = polite else {
            self.stop.mark_killed();
            self.proc_.kill_tree();
            return;
        };
        if self.stop.claim_signal() && self.proc_.signal_tree(sig).is_err() {
            self.stop.mark_killed();
            self.proc_.kill_tree();
            return;
        }
        let at = tokio::time::sleep(request.grace);
        match self.kill_at.as_mut() {
            // A deadline's own escalation already runs: the earlier wins.
            Some(k) if k.deadline() <= at.deadline() => {}
            _ => self.kill_at = Some(Box::pin(at)),
        }
    }

    fn stop_tree(&mut self) {
        match self.stop.grace {
            Some(grace) => {
                if self.stop.claim_signal() {
                    let _ = self.proc_.signal_tree(self.stop.signal);
                }
                if self.kill_at.is_none() {
                    self.kill_at = Some(Box::pin(tokio::time::sleep(grace)));
                }
            }
            None => {
                self.stop.mark_killed();
                self.proc_.kill_tree();
            }
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
            self.cancelled || self.cancel.as_ref().is_some_and(|(t, _)| t.is_cancelled())
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
        #[cfg(feature = "cancellation")]
        if !self.cancelled
            && let Some((_, fut)) = self.cancel.as_mut()
            && fut.as_mut().poll(cx).is_ready()
        {
            self.cancelled = true;
            crate::trace::cancelled(&self.program);
            self.proc_.kill_tree();
        }
        if let Some(stop) = self.graceful_stop.as_mut()
            && let Poll::Ready(request) = stop.as_mut().poll(cx)
        {
            self.graceful_stop = None;
            if let Some(request) = request {
                self.stop_gracefully(request);
            }
        }
        if !self.timed_out
            && !self.cancelled
            && let Some(d) = self.deadline.as_mut()
            // The clock check catches a deadline the timer driver has not
            // processed yet (a task that never yields, e.g. a flood of
            // buffered lines on a current-thread runtime).
            && (tokio::time::Instant::now() >= d.deadline() || d.as_mut().poll(cx).is_ready())
        {
            self.timed_out = true;
            crate::trace::timed_out(&self.program, self.timeout.unwrap_or_default());
            self.stop_tree();
        }
        if !self.timed_out
            && !self.cancelled
            && !self.idle_timed_out
            && let Some((idle, activity)) = self.idle.as_ref()
        {
            let due = activity.due(*idle);
            let idle = *idle;
            let expired = tokio::time::Instant::now() >= due || {
                let sleep = self
                    .idle_sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                if sleep.deadline() != due {
                    sleep.as_mut().reset(due);
                }
                sleep.as_mut().poll(cx).is_ready()
            };
            if expired {
                self.idle_timed_out = true;
                self.idle_sleep = None;
                crate::trace::idle_timed_out(&self.program, idle);
                self.stop_tree();
            }
        }
        if let Some(k) = self.kill_at.as_mut()
            && k.as_mut().poll(cx).is_ready()
        {
            self.kill_at = None;
            self.stop.mark_killed();
            self.proc_.kill_tree();
        }
        match self.proc_.poll_wait(cx) {
            Poll::Ready(Ok(status)) => {
                self.status = Some(status);
                self.kill_at = None;
                self.idle_sleep = None;
                if let Some(w) = self.watchdog.take() {
                    w.abort();
                }
                crate::trace::exited(
                    &self.program,
                    self.pid,
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
                self.deadline = None;
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
                self.stderr_hand_off
                    .store(is_member, std::sync::atomic::Ordering::Release);
                let mut drain = StderrDrain {
                    pump: Some(pump),
                    hand_off: self.stderr_hand_off.clone(),
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
                    timeout: self.timeout.unwrap_or_default(),
                })
            })
            .or_else(|| {
                self.idle_timed_out.then(|| Error::Inactive {
                    program: self.program.clone(),
                    idle: self.idle.as_ref().map(|(d, _)| *d).unwrap_or_default(),
                })
            })
    }

    /// Streams stdout line by line (see [`MAX_LINE`] for the splitting rules)
    /// for splitting rules). Stderr is drained in the background meanwhile.
    /// The stream ends at EOF, or when the run's deadline kills the tree.
    ///
    /// ```
    /// use processkit::StreamExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("seq").arg("3").start().await?;
    /// let n = run.stdout_lines().collect::<Vec<_>>().await.len();
    /// assert_eq!(n, 3);
    /// # Ok(()) }
    /// ```
    ///
    /// When the command's stdout is not captured (see
    /// [`Command::stdout`](crate::Command::stdout)) the stream is empty; use
    /// [`try_stdout_lines`](Self::try_stdout_lines) to get an error instead.
    #[doc(alias = "lines")]
    pub fn stdout_lines(&mut self) -> StdoutLines<'_> {
        self.detach_stderr();
        StdoutLines { run: self }
    }

    /// Like [`stdout_lines`](Self::stdout_lines), but returns
    /// [`Error::OutputNotCaptured`] when the command's stdout is not
    /// captured (inherited, a file, `/dev/null`) instead of an empty stream.
    ///
    /// ```
    /// use processkit::{Command, Destination, Error, StreamExt};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = Command::new("seq").arg("2").start().await?;
    /// assert_eq!(run.try_stdout_lines()?.collect::<Vec<_>>().await, ["1", "2"]);
    ///
    /// let mut quiet = Command::new("seq").arg("2").stdout(Destination::null()).start().await?;
    /// assert!(matches!(quiet.try_stdout_lines(), Err(Error::OutputNotCaptured { .. })));
    /// # Ok(()) }
    /// ```
    pub fn try_stdout_lines(&mut self) -> Result<StdoutLines<'_>> {
        if let Some(dest) = self.stdout_dest {
            return Err(Error::OutputNotCaptured {
                program: self.program.clone(),
                verb: "stdout_lines".to_owned(),
                destination: dest.to_owned(),
            });
        }
        Ok(self.stdout_lines())
    }

    /// The next stdout line. Every line delivered uses up a unit of tokio's
    /// cooperative budget, so a consumer of a fast child's lines gives the
    /// other tasks on its thread a turn (and sees a runtime shutdown) every
    /// so often, even while all the lines come out of the buffer.
    fn poll_next_line(&mut self, cx: &mut Context<'_>) -> Poll<Option<String>> {
        let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        let line = std::task::ready!(self.poll_next_line_inner(cx));
        coop.made_progress();
        Poll::Ready(line)
    }

    fn poll_next_line_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<String>> {
        // A line already in the buffer needs no exit check, reactor round
        // trip or syscall (the exit, deadline and token are polled again as
        // soon as the buffer runs dry). A requested cancellation or an
        // expired deadline still takes the full path at once.
        if !self.is_cancel_requested()
            && self
                .deadline
                .as_ref()
                .is_none_or(|d| tokio::time::Instant::now() < d.deadline())
            && let Some(line) = self.stdout.buffered_line()
        {
            return Poll::Ready(Some(line));
        }
        let exit = self.poll_exit(cx);
        if self.cancelled {
            // A cancelled run is abandoned: its stream ends, unread lines included.
            self.stdout.close();
            return Poll::Ready(None);
        }
        match self.stdout.poll_line(cx) {
            Poll::Ready(line) => Poll::Ready(line),
            Poll::Pending => {
                if exit.is_ready() && self.drain_expired(cx) {
                    self.stdout.close();
                    return Poll::Ready(None);
                }
                if let Poll::Ready(Err(_)) = exit {
                    return Poll::Ready(None);
                }
                Poll::Pending
            }
        }
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

    /// Reads the rest of stdout (running the line handler, discarding the
    /// text), waits for the exit and returns the exit code (`None` when the
    /// run was killed) and everything written to stderr.
    ///
    /// A cancelled run returns [`Error::Cancelled`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let run = processkit::Command::new("sh").args(["-c", "echo warn >&2"]).start().await?;
    /// let (code, stderr) = run.finish_streamed().await?;
    /// assert_eq!((code, stderr.as_str()), (Some(0), "warn\n"));
    /// # Ok(()) }
    /// ```
    pub async fn finish_streamed(mut self) -> Result<(Option<i32>, String)> {
        self.end_with_run();
        self.close_untaken_stdin();
        self.detach_stderr();
        let status = poll_fn(|cx| {
            let exit = self.poll_exit(cx);
            let out_done = self.stdout.poll_discard(cx).is_ready();
            match exit {
                Poll::Ready(Ok(s)) => {
                    if out_done || self.drain_expired(cx) {
                        Poll::Ready(Ok(s))
                    } else {
                        Poll::Pending
                    }
                }
                other => other,
            }
        })
        .await?;
        self.stdout.close();
        let stderr = self.stderr_bytes().await;
        if let Some(e) = self.final_error() {
            return Err(e);
        }
        Ok((status.code(), lossy(stderr)))
    }

    /// Runs to completion, capturing stdout and stderr losslessly.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let run = processkit::Command::new("echo").arg("x").start().await?;
    /// let r = run.output_bytes().await?;
    /// assert_eq!(r.stdout(), b"x\n");
    /// # Ok(()) }
    /// ```
    #[doc(alias = "wait_with_output")]
    pub async fn output_bytes(mut self) -> Result<ProcessResult<Vec<u8>>> {
        self.end_with_run();
        self.close_untaken_stdin();
        let mut stderr_inline = match std::mem::replace(&mut self.stderr, Stderr::Done(Vec::new()))
        {
            Stderr::Inline(p) => Some(p),
            other => {
                self.stderr = other;
                None
            }
        };
        let status = poll_fn(|cx| {
            let exit = self.poll_exit(cx);
            let out_done = self.stdout.poll_capture(cx).is_ready();
            let err_done = match stderr_inline.as_mut() {
                Some(p) => p.poll_capture(cx).is_ready(),
                None => true,
            };
            match exit {
                Poll::Ready(Ok(s)) => {
                    if (out_done && err_done) || self.drain_expired(cx) {
                        Poll::Ready(Ok(s))
                    } else {
                        Poll::Pending
                    }
                }
                other => other,
            }
        })
        .await?;
        let stdout = self.stdout.take_captured();
        self.stdout.close();
        let stderr = match stderr_inline.as_mut() {
            Some(p) => {
                let b = p.take_captured();
                self.stderr_dropped = p.dropped();
                p.close();
                b
            }
            None => self.stderr_bytes().await,
        };
        if let Some(e) = self.final_error() {
            return Err(e);
        }
        Ok(ProcessResult::new(
            self.program.clone(),
            status,
            stdout,
            stderr,
            self.timed_out,
            self.started.elapsed(),
        )
        .with_idle_timed_out(self.idle_timed_out)
        .with_dropped(self.stdout.dropped(), self.stderr_dropped))
    }

    /// Like [`output_bytes`](Self::output_bytes), with text output (invalid
    /// UTF-8 replaced with U+FFFD).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = processkit::Command::new("echo").arg("x").start().await?.output_string().await?;
    /// assert_eq!(r.stdout(), "x\n");
    /// # Ok(()) }
    /// ```
    pub async fn output_string(self) -> Result<ProcessResult<String>> {
        Ok(self.output_bytes().await?.into_lossy())
    }

    /// Reads stdout lines until one satisfies `pred`; `Ok(None)` when stdout
    /// closes first. Used by [`Command::first_line`](crate::Command::first_line).
    pub(crate) async fn first_matching_line(
        &mut self,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<Option<String>> {
        self.detach_stderr();
        loop {
            let line = poll_fn(|cx| self.poll_next_line(cx)).await;
            match line {
                Some(l) if pred(&l) => return Ok(Some(l)),
                Some(_) => continue,
                None => {
                    if let Some(e) = self.end_error() {
                        return Err(e);
                    }
                    return Ok(None);
                }
            }
        }
    }
}

/// A task that stops a real process's own tree when its deadline or
/// inactivity deadline passes (politely first, when a grace period is set)
/// or its token is cancelled. The handle's own polling notices the same
/// events and records them; this only makes sure the stop does not wait for
/// a poll.
fn watchdog(
    proc_: &Proc,
    cmd: &crate::Command,
    stop: &std::sync::Arc<Stop>,
    activity: Option<std::sync::Arc<Activity>>,
) -> Option<tokio::task::JoinHandle<()>> {
    let Proc::Real { member, .. } = proc_ else {
        return None;
    };
    #[cfg(feature = "cancellation")]
    let token = cmd.cancel.clone();
    #[cfg(not(feature = "cancellation"))]
    let token: Option<()> = None;
    if cmd.timeout.is_none() && token.is_none() && activity.is_none() {
        return None;
    }
    let member = member.clone();
    let timeout = cmd.timeout;
    let idle = cmd.idle_timeout;
    let stop = stop.clone();
    Some(tokio::spawn(async move {
        let deadline = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let inactive = async {
            match (idle, activity) {
                (Some(idle), Some(activity)) => loop {
                    let seen = activity.last();
                    tokio::time::sleep_until(activity.due(idle)).await;
                    if activity.last() == seen {
                        break;
                    }
                },
                _ => std::future::pending().await,
            }
        };
        #[cfg(feature = "cancellation")]
        let cancelled = async {
            match token {
                Some(t) => t.cancelled_owned().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(feature = "cancellation"))]
        let cancelled = {
            let _ = token;
            std::future::pending::<()>()
        };
        let polite = tokio::select! {
            _ = deadline => true,
            _ = inactive => true,
            _ = cancelled => false,
        };
        if polite && let Some(grace) = stop.grace {
            if stop.claim_signal() {
                let _ = member.signal_tree(stop.signal);
            }
            tokio::time::sleep(grace).await;
        }
        stop.mark_killed();
        let _ = member.kill_tree();
    }))
}

fn lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

impl Drop for RunningProcess {
    fn drop(&mut self) {
        if let Some(w) = self.watchdog.take() {
            w.abort();
        }
        if let Some(f) = self.feeder.take() {
            f.abort();
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
            self.stderr_hand_off
                .store(false, std::sync::atomic::Ordering::Release);
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

/// The stream returned by [`RunningProcess::stdout_lines`].
pub struct StdoutLines<'a> {
    run: &'a mut RunningProcess,
}

impl std::fmt::Debug for StdoutLines<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutLines")
            .field("program", &self.run.program)
            .finish()
    }
}

impl Stream for StdoutLines<'_> {
    type Item = String;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.get_mut().run.poll_next_line(cx)
    }
}

/// The error for JSON that does not parse: the line serde stopped at
/// (1-based, counted in `text`) and a bounded excerpt of that line.
#[cfg(feature = "json")]
pub(crate) fn json_error(program: &str, text: &str, e: serde_json::Error) -> Error {
    let line = e.line().max(1);
    let quoted = text.lines().nth(line - 1).unwrap_or(text);
    Error::Parse {
        program: program.to_owned(),
        line: Some(line),
        excerpt: crate::error::excerpt(quoted, 120),
        reason: e.to_string(),
    }
}

#[cfg(feature = "json")]
impl RunningProcess {
    /// Streams stdout as newline-delimited JSON (NDJSON): each non-blank
    /// line is deserialized into a `T`. A malformed line yields an
    /// [`Error::Parse`] with its 1-based line number and a bounded excerpt,
    /// and the stream goes on with the next line. Stderr is drained in the
    /// background meanwhile, as for [`stdout_lines`](Self::stdout_lines).
    ///
    /// ```
    /// use processkit::{Command, Error, StreamExt};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// #[derive(serde::Deserialize)]
    /// struct Event { n: u32 }
    /// let mut run = Command::new("printf").arg("{\"n\":1}\\nnot json\\n{\"n\":3}\\n").start().await?;
    /// let got: Vec<processkit::Result<Event>> = run.json_lines().collect().await;
    /// assert_eq!(got[0].as_ref().unwrap().n, 1);
    /// assert!(matches!(got[1], Err(Error::Parse { line: Some(2), .. })));
    /// assert_eq!(got[2].as_ref().unwrap().n, 3);
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json_lines<T: serde::de::DeserializeOwned>(&mut self) -> JsonLines<'_, T> {
        self.detach_stderr();
        JsonLines {
            run: self,
            line: 0,
            _t: std::marker::PhantomData,
        }
    }
}

/// The stream returned by [`RunningProcess::json_lines`].
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub struct JsonLines<'a, T> {
    run: &'a mut RunningProcess,
    line: usize,
    _t: std::marker::PhantomData<fn() -> T>,
}

#[cfg(feature = "json")]
impl<T> std::fmt::Debug for JsonLines<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLines")
            .field("program", &self.run.program)
            .field("line", &self.line)
            .finish()
    }
}

#[cfg(feature = "json")]
impl<T: serde::de::DeserializeOwned> Stream for JsonLines<'_, T> {
    type Item = Result<T>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let this = self.get_mut();
        loop {
            let Some(text) = std::task::ready!(this.run.poll_next_line(cx)) else {
                return Poll::Ready(None);
            };
            this.line += 1;
            if text.trim().is_empty() {
                continue;
            }
            return Poll::Ready(Some(serde_json::from_str(&text).map_err(|e| {
                let mut err = json_error(&this.run.program, &text, e);
                if let Error::Parse { line, .. } = &mut err {
                    *line = Some(this.line);
                }
                err
            })));
        }
    }
}

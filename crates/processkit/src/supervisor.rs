//! [`Supervisor`]: keep a command alive by restarting it when it exits.
//!
//! The supervisor is pure composition: each incarnation is one
//! `output_bytes` call through the [`ProcessRunner`] seam, and the loop
//! around it (policy, backoff, storm guard, stop condition, cancellation)
//! uses nothing but `tokio::time`, so it can be tested on a paused clock
//! with a runner double.

mod run;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::command::Command;
use crate::result::ProcessResult;
use crate::retry::{backoff_delay, sane_multiplier};
use crate::runner::{JobRunner, ProcessRunner};
use crate::signal::StopRequest;

/// When a [`Supervisor`] starts its command again.
///
/// ```
/// use processkit::RestartPolicy;
/// assert_eq!(RestartPolicy::default(), RestartPolicy::OnCrash);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RestartPolicy {
    /// Restart after every exit, clean or not.
    Always,
    /// Restart only after a crash: a non-zero exit, a kill by a signal, or
    /// the command's own timeout. A clean exit (code 0) ends supervision with
    /// [`StopReason::CleanExit`]. The default.
    #[default]
    OnCrash,
    /// Run once; never restart. Supervision ends with
    /// [`StopReason::PolicyNever`] after the first run.
    Never,
}

/// Why supervision ended (see [`SupervisionOutcome::stopped`]).
///
/// A cancellation is not a stop reason: it is an error
/// ([`Error::Cancelled`](crate::Error::Cancelled)), as on every other consuming path.
///
/// ```
/// use processkit::{Command, RestartPolicy, StopReason, Supervisor};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let outcome = Supervisor::new(Command::new("true")).restart(RestartPolicy::Never).run().await?;
/// assert_eq!(outcome.stopped, StopReason::PolicyNever);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum StopReason {
    /// The [`stop_when`](Supervisor::stop_when) predicate held for a
    /// finished run. It is checked first, so it wins over every other reason.
    StopCondition,
    /// Under [`RestartPolicy::OnCrash`], the run exited cleanly (code 0).
    CleanExit,
    /// Under [`RestartPolicy::Never`], the one run finished.
    PolicyNever,
    /// The policy asked for another restart, but
    /// [`max_restarts`](Supervisor::max_restarts) were already spent.
    MaxRestarts,
    /// A graceful stop was asked for through a [`SupervisorStop`]
    /// ([`Supervisor::stop_handle`]): the current run got the signal, then
    /// `SIGKILL` after the grace period, and no restart followed. The run
    /// it ended does not count as a failure.
    Stopped,
    /// The runner was shut down ([`ProcessRunner::is_shut_down`]): the
    /// [`ProcessGroup`](crate::ProcessGroup) the supervisor runs through got
    /// [`shutdown`](crate::ProcessGroup::shutdown). The run the shutdown
    /// ended does not count as a failure, and nothing restarts into the
    /// group.
    GroupShutDown,
}

/// Stops a running [`Supervisor`] gracefully from elsewhere (another task,
/// a signal handler): the current run's tree gets `SIGTERM` (or the signal
/// of [`stop_with`](Self::stop_with)), then `SIGKILL` after the grace
/// period, and [`Supervisor::run`] returns `Ok` with
/// [`StopReason::Stopped`] and the counts so far, rather than an error. A
/// stop during a backoff delay ends it at once. The first stop asked for
/// is the one that counts.
///
/// ```
/// use processkit::{Command, RestartPolicy, StopReason, Supervisor};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let sup = Supervisor::new(Command::new("sleep").arg("30")).restart(RestartPolicy::Always);
/// let stop = sup.stop_handle();
/// let task = tokio::spawn(async move { sup.run().await });
/// tokio::time::sleep(Duration::from_millis(100)).await;
/// stop.stop(Duration::from_secs(2)); // SIGTERM now, SIGKILL after 2 s
/// let outcome = task.await.unwrap()?;
/// assert_eq!(outcome.stopped, StopReason::Stopped);
/// assert_eq!(outcome.failures, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SupervisorStop {
    tx: Arc<tokio::sync::watch::Sender<Option<StopRequest>>>,
}

impl SupervisorStop {
    /// Asks for a graceful stop: `SIGTERM` to the current run's tree, then
    /// `SIGKILL` after `grace` (at once with a zero grace, and on Windows,
    /// which has no `SIGTERM`).
    ///
    /// ```
    /// use processkit::{Command, Supervisor};
    /// use std::time::Duration;
    /// let sup = Supervisor::new(Command::new("worker"));
    /// sup.stop_handle().stop(Duration::from_secs(5));
    /// assert!(sup.stop_handle().is_stopping());
    /// ```
    pub fn stop(&self, grace: Duration) {
        self.request(crate::signal::Signal::Term, grace);
    }

    /// Like [`stop`](Self::stop), with `signal` as the polite signal.
    ///
    /// ```
    /// use processkit::{Command, Signal, Supervisor};
    /// use std::time::Duration;
    /// let sup = Supervisor::new(Command::new("worker"));
    /// sup.stop_handle().stop_with(Signal::Int, Duration::from_secs(5));
    /// ```
    #[cfg(feature = "process-control")]
    #[cfg_attr(docsrs, doc(cfg(feature = "process-control")))]
    pub fn stop_with(&self, signal: crate::Signal, grace: Duration) {
        self.request(signal, grace);
    }

    fn request(&self, signal: crate::signal::Signal, grace: Duration) {
        self.tx.send_if_modified(|slot| {
            if slot.is_some() {
                return false;
            }
            *slot = Some(StopRequest { signal, grace });
            true
        });
    }

    /// `true` once a stop was asked for.
    ///
    /// ```
    /// let sup = processkit::Supervisor::new(processkit::Command::new("worker"));
    /// assert!(!sup.stop_handle().is_stopping());
    /// ```
    pub fn is_stopping(&self) -> bool {
        self.tx.borrow().is_some()
    }
}

/// What a supervision run came to: how many restarts it took, why it
/// stopped, and the final run's result.
///
/// ```
/// use processkit::{Command, RestartPolicy, StopReason, Supervisor};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let outcome = Supervisor::new(Command::new("sh").args(["-c", "exit 3"]))
///     .max_restarts(2)
///     .backoff(Duration::from_millis(1), 2.0)
///     .run()
///     .await?;
/// assert_eq!((outcome.restarts, outcome.stopped), (2, StopReason::MaxRestarts));
/// assert_eq!(outcome.failures, 3);
/// assert_eq!(outcome.last.as_ref().and_then(|r| r.code()), Some(3));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SupervisionOutcome {
    /// How many times the command was started again after its first run.
    pub restarts: u32,
    /// Why supervision ended.
    pub stopped: StopReason,
    /// The final run's result (stdout and stderr as text, invalid UTF-8
    /// replaced). [`Supervisor::run`] fills it in whenever a run finished:
    /// it is `None` only when a stop ([`StopReason::Stopped`] or
    /// [`StopReason::GroupShutDown`]) came before the first run. Serialized as
    /// its [`RunReport`](crate::RunReport): never the output.
    #[cfg_attr(feature = "serde", serde(serialize_with = "serialize_last"))]
    pub last: Option<ProcessResult>,
    /// How many runs crashed (non-zero exit, killed, or timed out).
    pub failures: u32,
    /// How many times the failure-storm guard tripped and paused restarts.
    pub storms: u32,
}

#[cfg(feature = "serde")]
fn serialize_last<S: serde::Serializer>(
    last: &Option<ProcessResult>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::Serialize;
    last.as_ref().map(ProcessResult::report).serialize(s)
}

type StopPredicate = Arc<dyn Fn(&ProcessResult) -> bool + Send + Sync>;

/// The opt-in crash-loop guard.
#[derive(Debug, Clone, Copy)]
struct StormGuard {
    pause: Option<Duration>,
    threshold: f64,
    decay: Duration,
}

/// The failure score: each crash adds 1, and the score halves every
/// `decay`.
#[derive(Debug, Default)]
struct Score {
    value: f64,
    at: Option<Instant>,
}

impl Score {
    /// Adds one failure at `now` and returns the new score.
    fn add_failure(&mut self, now: Instant, decay: Duration) -> f64 {
        let decayed = match self.at {
            None => 0.0,
            Some(_) if decay.is_zero() => 0.0,
            Some(at) => {
                let halvings =
                    now.saturating_duration_since(at).as_secs_f64() / decay.as_secs_f64();
                self.value * 0.5f64.powf(halvings)
            }
        };
        self.value = decayed + 1.0;
        self.at = Some(now);
        self.value
    }

    fn reset(&mut self) {
        *self = Score::default();
    }
}

/// Keeps a command alive: restarts it per [`RestartPolicy`] whenever it
/// exits, with bounded restarts, exponential backoff (jittered by default)
/// and an optional crash-loop guard.
///
/// Where [`Command::retry`] replays one run until it succeeds, a supervisor
/// treats every exit as an event. After each finished run, in this order:
///
/// 1. the stop condition ([`stop_when`](Self::stop_when)) holding ends
///    supervision with [`StopReason::StopCondition`];
/// 2. the policy not asking for a restart ends it with
///    [`StopReason::PolicyNever`] or [`StopReason::CleanExit`];
/// 3. a spent restart budget ends it with [`StopReason::MaxRestarts`];
/// 4. otherwise it waits (the backoff delay, or the storm pause when the
///    guard trips) and starts the command again. Each such re-spawn counts
///    as one restart.
///
/// An error from a run ends supervision with that error (see
/// [`run`](Self::run)): restarting a program that cannot be found or
/// started could only fail the same way, as fast as the backoff allows.
///
/// Defaults: [`RestartPolicy::OnCrash`], no restart limit, a 100 ms backoff
/// base doubling up to 30 s, jitter on, storm guard off, no stop condition,
/// each run in its own container ([`JobRunner`]).
///
/// Each run captures the command's stdout and stderr (as
/// [`Command::output_bytes`] does) until it exits; the capture of a run is
/// dropped once the next one starts. For a long-lived, chatty child, handle
/// output as it arrives with
/// [`on_stdout_line`](Command::on_stdout_line) and redirect what you don't
/// need. A [`Stdin::from_lines`](crate::Stdin::from_lines) source is consumed
/// by the first run; later runs get empty stdin.
///
/// ```
/// use processkit::{Command, RestartPolicy, StopReason, Supervisor};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let dir = tempfile::tempdir().expect("a temp dir");
/// let count = dir.path().join("count");
/// // Crashes twice, then exits cleanly.
/// let script = format!("echo x >> {0}; [ $(wc -l < {0}) -ge 3 ]", count.display());
/// let outcome = Supervisor::new(Command::new("sh").args(["-c", &script]))
///     .restart(RestartPolicy::OnCrash)
///     .max_restarts(5)
///     .backoff(Duration::from_millis(10), 2.0)
///     .run()
///     .await?;
/// assert_eq!(outcome.restarts, 2);
/// assert_eq!(outcome.stopped, StopReason::CleanExit);
/// # Ok(()) }
/// ```
pub struct Supervisor<R = JobRunner> {
    cmd: Command,
    runner: R,
    policy: RestartPolicy,
    max_restarts: Option<u32>,
    base: Duration,
    multiplier: f64,
    max_backoff: Duration,
    jitter: bool,
    storm: StormGuard,
    stop_when: Option<StopPredicate>,
    #[cfg(feature = "cancellation")]
    cancel: Option<tokio_util::sync::CancellationToken>,
    /// The graceful stop ([`SupervisorStop`]).
    stop: Arc<tokio::sync::watch::Sender<Option<StopRequest>>>,
}

impl<R> fmt::Debug for Supervisor<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("command", &self.cmd)
            .field("policy", &self.policy)
            .field("max_restarts", &self.max_restarts)
            .field("base", &self.base)
            .field("multiplier", &self.multiplier)
            .field("max_backoff", &self.max_backoff)
            .field("jitter", &self.jitter)
            .field("storm_pause", &self.storm.pause)
            .field("failure_threshold", &self.storm.threshold)
            .field("failure_decay", &self.storm.decay)
            .field("stop_when", &self.stop_when.is_some())
            .finish_non_exhaustive()
    }
}

impl Supervisor<JobRunner> {
    /// A supervisor for `cmd` with the defaults listed on [`Supervisor`].
    ///
    /// ```
    /// let sup = processkit::Supervisor::new(processkit::Command::new("my-server"));
    /// # let _ = sup;
    /// ```
    pub fn new(cmd: Command) -> Self {
        Supervisor {
            cmd,
            runner: JobRunner,
            policy: RestartPolicy::OnCrash,
            max_restarts: None,
            base: Duration::from_millis(100),
            multiplier: 2.0,
            max_backoff: Duration::from_secs(30),
            jitter: true,
            storm: StormGuard {
                pause: None,
                threshold: 5.0,
                decay: Duration::from_secs(60),
            },
            stop_when: None,
            #[cfg(feature = "cancellation")]
            cancel: None,
            stop: Arc::new(tokio::sync::watch::Sender::new(None)),
        }
    }
}

impl<R> Supervisor<R> {
    /// When to restart (default [`RestartPolicy::OnCrash`]).
    ///
    /// ```
    /// use processkit::{Command, RestartPolicy, Supervisor};
    /// let _ = Supervisor::new(Command::new("worker")).restart(RestartPolicy::Always);
    /// ```
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// At most `n` restarts (re-spawns after the first run); when the policy
    /// asks for one more, supervision ends with [`StopReason::MaxRestarts`].
    /// `0` runs the command once. Default: no limit.
    ///
    /// ```
    /// use processkit::{Command, Supervisor};
    /// let _ = Supervisor::new(Command::new("worker")).max_restarts(5);
    /// ```
    pub fn max_restarts(mut self, n: u32) -> Self {
        self.max_restarts = Some(n);
        self
    }

    /// The delay before the first restart, and the factor for each later one:
    /// restart `k` waits `base * multiplier^(k-1)`, capped by
    /// [`max_backoff`](Self::max_backoff). A multiplier below 1 (or not
    /// finite) is taken as 1. Default: 100 ms, doubling.
    ///
    /// ```
    /// use processkit::{Command, Supervisor};
    /// use std::time::Duration;
    /// let _ = Supervisor::new(Command::new("worker")).backoff(Duration::from_millis(200), 2.0);
    /// ```
    pub fn backoff(mut self, base: Duration, multiplier: f64) -> Self {
        self.base = base;
        self.multiplier = sane_multiplier(multiplier);
        self
    }

    /// Caps each backoff delay (default 30 s). The storm pause is not capped.
    ///
    /// ```
    /// use processkit::{Command, Supervisor};
    /// use std::time::Duration;
    /// let _ = Supervisor::new(Command::new("worker")).max_backoff(Duration::from_secs(5));
    /// ```
    pub fn max_backoff(mut self, cap: Duration) -> Self {
        self.max_backoff = cap;
        self
    }

    /// Turns jitter on or off (default on). With jitter, each backoff delay
    /// is a random 50–100 % of its nominal value, so a fleet restarted at
    /// the same moment doesn't come back in lockstep. The storm pause is
    /// never jittered.
    ///
    /// ```
    /// use processkit::{Command, Supervisor};
    /// let _ = Supervisor::new(Command::new("worker")).jitter(false);
    /// ```
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// Turns the failure-storm guard on, with `pause` as its one collective
    /// pause. Off by default.
    ///
    /// Each crash adds 1 to a failure score that halves every
    /// [`failure_decay`](Self::failure_decay). When a crash brings the score
    /// to [`failure_threshold`](Self::failure_threshold) or above, the next
    /// restart waits `pause` instead of its backoff delay; then the score and
    /// the backoff start over from zero. A command that fails now and then
    /// restarts at backoff speed; a crash loop restarts in bursts separated
    /// by `pause`.
    ///
    /// ```
    /// use processkit::{Command, Supervisor};
    /// use std::time::Duration;
    /// let _ = Supervisor::new(Command::new("worker"))
    ///     .storm_pause(Duration::from_secs(15))
    ///     .failure_threshold(4.5)
    ///     .failure_decay(Duration::from_secs(30));
    /// ```
    pub fn storm_pause(mut self, pause: Duration) -> Self {
        self.storm.pause = Some(pause);
        self
    }

    /// The score at which the storm guard trips (default 5). The score
    /// decays continuously, so `n` crashes in quick succession score a
    /// little under `n`: to trip on the fifth quick crash, use 4.5. A NaN is
    /// ignored and a negative value is taken as 0 (every crash trips).
    ///
    /// ```
    /// use processkit::{Command, Supervisor};
    /// let _ = Supervisor::new(Command::new("worker")).failure_threshold(2.5);
    /// ```
    pub fn failure_threshold(mut self, threshold: f64) -> Self {
        if !threshold.is_nan() {
            self.storm.threshold = threshold.max(0.0);
        }
        self
    }

    /// The failure score's half-life (default 60 s). Zero forgets every
    /// earlier crash, so each crash scores exactly 1.
    ///
    /// ```
    /// use processkit::{Command, Supervisor};
    /// use std::time::Duration;
    /// let _ = Supervisor::new(Command::new("worker")).failure_decay(Duration::from_secs(10));
    /// ```
    pub fn failure_decay(mut self, decay: Duration) -> Self {
        self.storm.decay = decay;
        self
    }

    /// Ends supervision with [`StopReason::StopCondition`] as soon as `pred`
    /// holds for a finished run, whatever the policy says.
    ///
    /// ```
    /// use processkit::{Command, Supervisor};
    /// let _ = Supervisor::new(Command::new("worker")).stop_when(|res| res.code() == Some(0));
    /// ```
    pub fn stop_when(
        mut self,
        pred: impl Fn(&ProcessResult) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.stop_when = Some(Arc::new(pred));
        self
    }

    /// Cancels supervision when `token` is cancelled: the current run's tree
    /// is killed (or the pending backoff cut short) and [`Supervisor::run`]
    /// returns [`Error::Cancelled`](crate::Error::Cancelled). It works alongside a token the command
    /// itself carries ([`Command::cancel_on`]): either one stops supervision
    /// for good.
    ///
    /// ```
    /// use processkit::{CancellationToken, Command, Supervisor};
    /// let shutdown = CancellationToken::new();
    /// let _ = Supervisor::new(Command::new("worker")).cancel_on(shutdown.child_token());
    /// ```
    #[cfg(feature = "cancellation")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cancellation")))]
    pub fn cancel_on(mut self, token: tokio_util::sync::CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Runs every incarnation through `runner` instead of a private
    /// container each: pass `&group` to keep them all in one shared
    /// kill-on-drop [`ProcessGroup`](crate::ProcessGroup), or a test double
    /// to check the supervision logic without processes.
    ///
    /// ```
    /// use processkit::{Command, ProcessGroup, Supervisor};
    /// let group = ProcessGroup::new()?;
    /// let _ = Supervisor::new(Command::new("worker")).with_runner(&group);
    /// # Ok::<(), processkit::Error>(())
    /// ```
    pub fn with_runner<R2: ProcessRunner>(self, runner: R2) -> Supervisor<R2> {
        Supervisor {
            cmd: self.cmd,
            runner,
            policy: self.policy,
            max_restarts: self.max_restarts,
            base: self.base,
            multiplier: self.multiplier,
            max_backoff: self.max_backoff,
            jitter: self.jitter,
            storm: self.storm,
            stop_when: self.stop_when,
            #[cfg(feature = "cancellation")]
            cancel: self.cancel,
            stop: self.stop,
        }
    }

    /// A handle to stop this supervisor gracefully from elsewhere (see
    /// [`SupervisorStop`]). Every handle stops the same supervisor, also
    /// after [`with_runner`](Self::with_runner).
    ///
    /// ```
    /// use processkit::{Command, Supervisor};
    /// let sup = Supervisor::new(Command::new("worker"));
    /// let stop = sup.stop_handle();
    /// # drop(stop);
    /// ```
    pub fn stop_handle(&self) -> SupervisorStop {
        SupervisorStop {
            tx: self.stop.clone(),
        }
    }

    /// The supervised command.
    ///
    /// ```
    /// use processkit::{Command, Supervisor};
    /// let sup = Supervisor::new(Command::new("worker"));
    /// assert_eq!(sup.command().get_program(), "worker");
    /// ```
    pub fn command(&self) -> &Command {
        &self.cmd
    }

    /// The backoff delay before restart `k` (1 for the first restart),
    /// before jitter. The storm pause, when it trips, replaces it.
    ///
    /// ```
    /// use processkit::{Command, Supervisor};
    /// use std::time::Duration;
    /// let sup = Supervisor::new(Command::new("worker"))
    ///     .backoff(Duration::from_millis(100), 2.0)
    ///     .max_backoff(Duration::from_millis(300));
    /// assert_eq!(sup.delay_before_restart(1), Duration::from_millis(100));
    /// assert_eq!(sup.delay_before_restart(2), Duration::from_millis(200));
    /// assert_eq!(sup.delay_before_restart(3), Duration::from_millis(300));
    /// ```
    pub fn delay_before_restart(&self, k: u32) -> Duration {
        backoff_delay(self.base, self.multiplier, self.max_backoff, k)
    }

    /// Decides, after a finished run, whether supervision ends here.
    fn stop_reason(&self, res: &ProcessResult, restarts: u32) -> Option<StopReason> {
        if self.stop_when.as_ref().is_some_and(|p| p(res)) {
            return Some(StopReason::StopCondition);
        }
        match self.policy {
            RestartPolicy::Never => return Some(StopReason::PolicyNever),
            RestartPolicy::OnCrash if res.is_success() => return Some(StopReason::CleanExit),
            RestartPolicy::OnCrash | RestartPolicy::Always => {}
        }
        if self.max_restarts.is_some_and(|max| restarts >= max) {
            return Some(StopReason::MaxRestarts);
        }
        None
    }
}

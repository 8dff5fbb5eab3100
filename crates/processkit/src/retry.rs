//! [`RetryPolicy`]: replay one run until it succeeds.
//!
//! A policy has a maximum number of attempts, an exponential backoff
//! (jittered by default) and a classifier that decides which outcomes are
//! worth another attempt. The result is honest: whatever the last attempt
//! produced, success or not.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::result::ProcessResult;

pub(crate) mod drive;

/// One finished attempt, as seen by a retry classifier.
///
/// ```
/// use processkit::RetryPolicy;
/// // Retry only exit code 75 (EX_TEMPFAIL).
/// let policy = RetryPolicy::new(5).retry_if(|a| a.code() == Some(75));
/// # let _ = policy;
/// ```
#[derive(Debug)]
pub struct Attempt<'a> {
    number: u32,
    outcome: &'a Result<ProcessResult<Vec<u8>>>,
}

impl Attempt<'_> {
    /// 1 for the first attempt.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The exit code, if the attempt ran and exited.
    pub fn code(&self) -> Option<i32> {
        self.outcome.as_ref().ok().and_then(|r| r.code())
    }

    /// `true` if the attempt hit the command's timeout.
    pub fn timed_out(&self) -> bool {
        matches!(self.outcome, Ok(r) if r.timed_out())
    }

    /// `true` if the attempt ran and succeeded.
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Ok(r) if r.is_success())
    }

    /// The error, if the attempt could not run at all.
    pub fn error(&self) -> Option<&Error> {
        self.outcome.as_ref().err()
    }

    /// The attempt's stderr, as text (empty if it did not run).
    pub fn stderr(&self) -> String {
        match self.outcome {
            Ok(r) => String::from_utf8_lossy(r.stderr()).into_owned(),
            Err(_) => String::new(),
        }
    }

    /// The attempt's stdout, as text (empty if it did not run).
    pub fn stdout(&self) -> String {
        match self.outcome {
            Ok(r) => String::from_utf8_lossy(r.stdout()).into_owned(),
            Err(_) => String::new(),
        }
    }
}

type Classifier = Arc<dyn Fn(&Attempt<'_>) -> bool + Send + Sync>;

/// How to retry a failing run.
///
/// The default classifier retries every unsuccessful attempt: a non-zero
/// exit, a timeout, a kill, a transient spawn or I/O error. Some errors are
/// never retried, whatever the classifier says, because another attempt
/// would give the same answer or the caller asked to stop: a missing
/// program ([`Error::NotFound`]), a bad working directory, a permission
/// error, invalid input, an unsupported request, an unenforceable resource
/// limit, a scripted runner with no answer, and a cancellation
/// ([`Error::Cancelled`]). A cancellation that lands while another attempt
/// is due (after a failed attempt, or during its backoff delay) ends the
/// loop at once with [`Error::Cancelled`]: the loop was abandoned, so no
/// attempt's result stands for it.
///
/// The outcome is the last attempt's, success or not: a capture verb returns
/// its [`ProcessResult`], and a verb that requires success turns it into the
/// matching error.
///
/// ```
/// use processkit::{Command, RetryPolicy};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let dir = tempfile::tempdir().expect("a temp dir");
/// let count = dir.path().join("count");
/// // Fails twice, then succeeds.
/// let script = format!("echo x >> {0}; [ $(wc -l < {0}) -ge 3 ]", count.display());
/// let out = Command::new("sh").args(["-c", &script])
///     .retry(RetryPolicy::new(5).backoff(Duration::from_millis(1), 1.0).jitter(false))
///     .output_string().await?;
/// assert!(out.is_success());
/// assert_eq!(std::fs::read_to_string(&count).expect("the counter file").lines().count(), 3);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    base: Duration,
    multiplier: f64,
    max_backoff: Duration,
    jitter: bool,
    classifier: Option<Classifier>,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("base", &self.base)
            .field("multiplier", &self.multiplier)
            .field("max_backoff", &self.max_backoff)
            .field("jitter", &self.jitter)
            .field("custom_classifier", &self.classifier.is_some())
            .finish()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::new(3)
    }
}

impl RetryPolicy {
    /// At most `max_attempts` attempts in all (at least 1), with a 100 ms
    /// base delay doubling up to 10 s, jittered.
    ///
    /// ```
    /// let p = processkit::RetryPolicy::new(4);
    /// assert_eq!(p.max_attempts(), 4);
    /// ```
    pub fn new(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            base: Duration::from_millis(100),
            multiplier: 2.0,
            max_backoff: Duration::from_secs(10),
            jitter: true,
            classifier: None,
        }
    }

    /// Delay before the second attempt, and the factor for each later one.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = processkit::RetryPolicy::new(3).backoff(Duration::from_millis(10), 3.0).jitter(false);
    /// assert_eq!(p.delay_before(2), Duration::from_millis(10));
    /// assert_eq!(p.delay_before(3), Duration::from_millis(30));
    /// ```
    pub fn backoff(mut self, base: Duration, multiplier: f64) -> Self {
        self.base = base;
        self.multiplier = sane_multiplier(multiplier);
        self
    }

    /// Caps each delay.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = processkit::RetryPolicy::new(9).backoff(Duration::from_secs(1), 10.0)
    ///     .max_backoff(Duration::from_secs(5)).jitter(false);
    /// assert_eq!(p.delay_before(5), Duration::from_secs(5));
    /// ```
    pub fn max_backoff(mut self, cap: Duration) -> Self {
        self.max_backoff = cap;
        self
    }

    /// Turns jitter (a random 50–100 % of each delay) on or off.
    ///
    /// ```
    /// let _ = processkit::RetryPolicy::new(3).jitter(false);
    /// ```
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// Retries only the attempts for which `classify` returns `true`. A
    /// successful attempt always ends the loop, and the errors listed on
    /// [`RetryPolicy`] are never retried, whatever `classify` says.
    ///
    /// ```
    /// let p = processkit::RetryPolicy::new(3).retry_if(|a| a.timed_out());
    /// # let _ = p;
    /// ```
    pub fn retry_if(
        mut self,
        classify: impl Fn(&Attempt<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.classifier = Some(Arc::new(classify));
        self
    }

    /// The maximum number of attempts.
    ///
    /// ```
    /// assert_eq!(processkit::RetryPolicy::new(0).max_attempts(), 1);
    /// ```
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The un-jittered delay before attempt `attempt` (2 is the first retry).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = processkit::RetryPolicy::new(3).backoff(Duration::from_millis(5), 2.0);
    /// assert_eq!(p.delay_before(1), Duration::ZERO);
    /// ```
    pub fn delay_before(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        backoff_delay(self.base, self.multiplier, self.max_backoff, attempt - 1)
    }

    fn should_retry(&self, attempt: &Attempt<'_>) -> bool {
        if attempt.succeeded() {
            return false;
        }
        if attempt.error().is_some_and(is_permanent) {
            return false;
        }
        match &self.classifier {
            Some(c) => c(attempt),
            None => true,
        }
    }
}

/// Errors that another attempt cannot fix: the same input gives the same
/// answer, or the caller asked to stop.
fn is_permanent(e: &Error) -> bool {
    matches!(
        e,
        Error::Cancelled { .. }
            | Error::GroupShutDown { .. }
            | Error::NotFound { .. }
            | Error::InvalidInput { .. }
            | Error::OutputNotCaptured { .. }
            | Error::Parse { .. }
            | Error::Unsupported { .. }
            | Error::BadDirectory { .. }
            | Error::PermissionDenied { .. }
            | Error::ResourceLimit { .. }
            | Error::NoScriptedOutcome { .. }
    )
}

/// The un-jittered delay before the `step`-th repetition (1-based):
/// `base * multiplier^(step - 1)`, capped at `cap`. Shared by retries and
/// supervision.
pub(crate) fn backoff_delay(base: Duration, multiplier: f64, cap: Duration, step: u32) -> Duration {
    if step == 0 || base.is_zero() {
        return Duration::ZERO;
    }
    let factor = multiplier.powi((step - 1).min(1024) as i32);
    let secs = (base.as_secs_f64() * factor).min(cap.as_secs_f64());
    Duration::try_from_secs_f64(secs).unwrap_or(cap).min(cap)
}

/// A backoff multiplier that cannot shrink or explode the delay: finite and
/// at least 1.
pub(crate) fn sane_multiplier(multiplier: f64) -> f64 {
    if multiplier.is_finite() && multiplier >= 1.0 {
        multiplier
    } else {
        1.0
    }
}

/// A random 50–100 % of `delay`, so that many clients backing off at once
/// spread out instead of arriving together.
pub(crate) fn jittered(delay: Duration) -> Duration {
    if delay.is_zero() {
        return delay;
    }
    delay.mul_f64(0.5 + fastrand::f64() * 0.5)
}

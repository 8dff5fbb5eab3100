//! The retry loop: runs a [`Command`] again under its [`RetryPolicy`]
//! until it succeeds or the policy gives up.

use std::future::Future;
use std::time::Duration;

use super::{Attempt, RetryPolicy, jittered};
use crate::command::Command;
use crate::error::{Error, Result};
use crate::result::ProcessResult;

impl RetryPolicy {
    /// Runs `once` until it succeeds or the policy gives up, and returns the
    /// last attempt's outcome. A cancellation that lands while another
    /// attempt is due (after a failed attempt, or during the backoff delay)
    /// ends the loop at once with [`Error::Cancelled`].
    pub(crate) async fn drive<F, Fut>(
        &self,
        cmd: &Command,
        mut once: F,
    ) -> Result<ProcessResult<Vec<u8>>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<ProcessResult<Vec<u8>>>>,
    {
        let mut n = 1;
        loop {
            let outcome = once().await;
            let attempt = Attempt {
                number: n,
                outcome: &outcome,
            };
            // A supervisor's graceful stop ended the attempt: no retry.
            let stopping = cmd
                .graceful_stop
                .as_ref()
                .is_some_and(|rx| rx.borrow().is_some());
            if n >= self.max_attempts || stopping || !self.should_retry(&attempt) {
                return outcome;
            }
            if cmd.is_cancelled() {
                // The loop would go on, but the caller asked to stop.
                return Err(Error::Cancelled {
                    program: cmd.name().to_owned(),
                });
            }
            n += 1;
            let mut delay = self.delay_before(n);
            if self.jitter {
                delay = jittered(delay);
            }
            crate::trace::retry(cmd.name(), n, delay);
            sleep_unless_cancelled(cmd, delay).await?;
        }
    }
}

/// Sleeps for `delay`, or returns [`Error::Cancelled`] as soon as the
/// command's cancellation token fires.
pub(crate) async fn sleep_unless_cancelled(cmd: &Command, delay: Duration) -> Result<()> {
    #[cfg(feature = "cancellation")]
    if let Some(token) = &cmd.cancel {
        return tokio::select! {
            biased;
            _ = token.cancelled() => Err(Error::Cancelled { program: cmd.name().to_owned() }),
            _ = tokio::time::sleep(delay) => Ok(()),
        };
    }
    #[cfg(not(feature = "cancellation"))]
    let _ = cmd;
    tokio::time::sleep(delay).await;
    Ok(())
}

//! How a deadline, an idle timeout or a cancellation stops a process tree,
//! and the watchdog task that does it while nobody polls the handle.

use std::time::Duration;

use super::proc::{Proc, kill_signal};
use super::pump::Activity;

/// How a deadline stops a process tree: at once, or with a polite signal
/// first and `SIGKILL` after a grace period. Shared by the handle and its
/// watchdog task, so the polite signal goes out once whoever notices first.
pub(crate) struct Stop {
    pub(crate) grace: Option<Duration>,
    pub(crate) signal: i32,
    /// 0: running; 1: the polite signal was sent; 2: killed.
    state: std::sync::atomic::AtomicU8,
}

impl Stop {
    pub(crate) fn new(cmd: &crate::Command) -> Stop {
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
    pub(crate) fn claim_signal(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.state.compare_exchange(0, 1, SeqCst, SeqCst).is_ok()
    }

    pub(crate) fn mark_killed(&self) {
        self.state.store(2, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A task that stops a real process's own tree when its deadline or
/// inactivity deadline passes (politely first, when a grace period is set)
/// or its token is cancelled. The handle's own polling notices the same
/// events and records them; this only makes sure the stop does not wait for
/// a poll.
pub(crate) fn watchdog(
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

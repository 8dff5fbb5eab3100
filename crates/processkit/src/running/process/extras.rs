//! The rarely used parts of a [`RunningProcess`] (deadlines, cancellation,
//! a graceful stop, a stdin writer or feeder, a terminal), kept behind one
//! box, and how the handle drives them.

use std::future::Future;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{Extras, RunningProcess};
use crate::running::proc::kill_signal;
use crate::running::stop::Stop;

impl RunningProcess {
    /// The extras, made on first use.
    pub(super) fn extras_mut(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// The deadline the run was started with.
    pub(super) fn timeout(&self) -> Option<Duration> {
        self.extras.as_ref().and_then(|x| x.timeout)
    }

    /// Stops the tree because a deadline passed: at once, or with the polite
    /// signal first and `SIGKILL` after the grace period.
    /// A supervisor's graceful stop: the requested signal to the tree now,
    /// `SIGKILL` after the grace period (at once when the signal cannot be
    /// sent here, or is `SIGKILL` itself).
    fn stop_gracefully(&mut self, request: crate::signal::StopRequest) {
        let polite = request
            .signal
            .to_raw(&self.program)
            .ok()
            .filter(|&sig| sig != kill_signal() && !request.grace.is_zero());
        let stop = self.extras.as_ref().and_then(|x| x.stop.clone());
        let Some(sig) = polite else {
            mark_killed(stop.as_deref());
            self.proc_.kill_tree();
            return;
        };
        if stop.as_ref().is_none_or(|s| s.claim_signal()) && self.proc_.signal_tree(sig).is_err() {
            mark_killed(stop.as_deref());
            self.proc_.kill_tree();
            return;
        }
        let at = tokio::time::sleep(request.grace);
        let extras = self.extras_mut();
        match extras.kill_at.as_mut() {
            // A deadline's own escalation already runs: the earlier wins.
            Some(k) if k.deadline() <= at.deadline() => {}
            _ => extras.kill_at = Some(Box::pin(at)),
        }
    }

    fn stop_tree(&mut self) {
        let stop = self.extras.as_ref().and_then(|x| x.stop.clone());
        match stop.as_ref().and_then(|s| s.grace) {
            Some(grace) => {
                let stop = stop.as_ref().expect("a grace period comes with its stop");
                if stop.claim_signal() {
                    let _ = self.proc_.signal_tree(stop.signal);
                }
                let extras = self.extras_mut();
                if extras.kill_at.is_none() {
                    extras.kill_at = Some(Box::pin(tokio::time::sleep(grace)));
                }
            }
            None => {
                mark_killed(stop.as_deref());
                self.proc_.kill_tree();
            }
        }
    }

    /// Drives what only some runs have: cancellation, a graceful stop, the
    /// deadline, the inactivity deadline and the `SIGKILL` escalation.
    pub(super) fn poll_extras(&mut self, cx: &mut Context<'_>) {
        #[cfg(feature = "cancellation")]
        if !self.cancelled
            && let Some(x) = self.extras.as_mut()
            && let Some((_, fut)) = x.cancel.as_mut()
            && fut.as_mut().poll(cx).is_ready()
        {
            self.cancelled = true;
            crate::trace::cancelled(&self.program);
            self.proc_.kill_tree();
        }
        if let Some(x) = self.extras.as_mut()
            && let Some(stop) = x.graceful_stop.as_mut()
            && let Poll::Ready(request) = stop.as_mut().poll(cx)
        {
            x.graceful_stop = None;
            if let Some(request) = request {
                self.stop_gracefully(request);
            }
        }
        if !self.timed_out
            && !self.cancelled
            && let Some(x) = self.extras.as_mut()
            && let Some(d) = x.deadline.as_mut()
            // The clock check catches a deadline the timer driver has not
            // processed yet (a task that never yields, e.g. a flood of
            // buffered lines on a current-thread runtime).
            && (tokio::time::Instant::now() >= d.deadline() || d.as_mut().poll(cx).is_ready())
        {
            self.timed_out = true;
            crate::trace::timed_out(&self.program, self.timeout().unwrap_or_default());
            self.stop_tree();
        }
        if !self.timed_out
            && !self.cancelled
            && !self.idle_timed_out
            && let Some(x) = self.extras.as_mut()
            && let Some((idle, activity)) = x.idle.as_ref()
        {
            let due = activity.due(*idle);
            let idle = *idle;
            let expired = tokio::time::Instant::now() >= due || {
                let sleep = x
                    .idle_sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                if sleep.deadline() != due {
                    sleep.as_mut().reset(due);
                }
                sleep.as_mut().poll(cx).is_ready()
            };
            if expired {
                self.idle_timed_out = true;
                x.idle_sleep = None;
                crate::trace::idle_timed_out(&self.program, idle);
                self.stop_tree();
            }
        }
        if let Some(x) = self.extras.as_mut()
            && let Some(k) = x.kill_at.as_mut()
            && k.as_mut().poll(cx).is_ready()
        {
            x.kill_at = None;
            mark_killed(x.stop.as_deref());
            self.proc_.kill_tree();
        }
    }
}

/// Records that the tree was killed (when the run has a stop to tell).
fn mark_killed(stop: Option<&Stop>) {
    if let Some(stop) = stop {
        stop.mark_killed();
    }
}

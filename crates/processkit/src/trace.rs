//! Lifecycle events for the `tracing` feature, and the counters and
//! histograms of the `metrics` feature. Without either feature every
//! function here is an empty inline no-op.
//!
//! Metrics (all names start with `processkit_`): `spawns_total`
//! (label `mechanism`), `exits_total` (label `outcome`: `success`,
//! `failure`, `signal`), `run_duration_seconds` (histogram, spawn to exit),
//! `timeouts_total` (label `kind`: `wall_clock`, `inactivity`),
//! `cancellations_total`, `retries_total`, `restarts_total`,
//! `shutdowns_total`, `shutdown_kills_total`, `shutdown_seconds`.
//!
//! Events never carry argv or environment values: only the program name, a
//! pid, a mechanism, a duration or a count.

#![allow(unused_variables)]

use std::time::Duration;

#[cfg(feature = "tracing")]
macro_rules! ev {
    ($lvl:ident, $($t:tt)*) => { tracing::$lvl!(target: "processkit", $($t)*) };
}

/// A child was spawned.
pub(crate) fn spawned(program: &str, pid: Option<u32>, mechanism: crate::Mechanism) {
    #[cfg(feature = "tracing")]
    ev!(debug, program, pid, mechanism = ?mechanism, "spawned");
    #[cfg(feature = "metrics")]
    metrics::counter!("processkit_spawns_total", "mechanism" => mechanism.to_string()).increment(1);
}

/// A child exited.
pub(crate) fn exited(
    program: &str,
    pid: Option<u32>,
    code: Option<i32>,
    signal: Option<i32>,
    elapsed: Duration,
) {
    #[cfg(feature = "tracing")]
    ev!(
        debug,
        program,
        pid,
        code,
        signal,
        elapsed_ms = elapsed.as_millis() as u64,
        "exited"
    );
    #[cfg(feature = "metrics")]
    {
        let outcome = match (code, signal) {
            (Some(0), _) => "success",
            (Some(_), _) => "failure",
            _ => "signal",
        };
        metrics::counter!("processkit_exits_total", "outcome" => outcome).increment(1);
        metrics::histogram!("processkit_run_duration_seconds").record(elapsed.as_secs_f64());
    }
}

/// A run's deadline passed and its tree was killed.
pub(crate) fn timed_out(program: &str, timeout: Duration) {
    #[cfg(feature = "tracing")]
    ev!(
        info,
        program,
        timeout_ms = timeout.as_millis() as u64,
        "timed out; tree killed"
    );
    #[cfg(feature = "metrics")]
    metrics::counter!("processkit_timeouts_total", "kind" => "wall_clock").increment(1);
}

/// A run printed nothing for its inactivity deadline and its tree was stopped.
pub(crate) fn idle_timed_out(program: &str, idle: Duration) {
    #[cfg(feature = "tracing")]
    ev!(
        info,
        program,
        idle_ms = idle.as_millis() as u64,
        "no output for the inactivity deadline; tree stopped"
    );
    #[cfg(feature = "metrics")]
    metrics::counter!("processkit_timeouts_total", "kind" => "inactivity").increment(1);
}

/// A group shutdown finished.
pub(crate) fn shutdown_done(report: &crate::ShutdownReport) {
    #[cfg(feature = "tracing")]
    ev!(
        info,
        signalled = report.signalled as u64,
        killed = report.killed as u64,
        duration_ms = report.duration.as_millis() as u64,
        "group shut down"
    );
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("processkit_shutdowns_total").increment(1);
        metrics::counter!("processkit_shutdown_kills_total").increment(report.killed as u64);
        metrics::histogram!("processkit_shutdown_seconds").record(report.duration.as_secs_f64());
    }
}

/// A process was started outside every container, on purpose.
pub(crate) fn detached(program: &str, pid: u32) {
    #[cfg(feature = "tracing")]
    ev!(
        warn,
        program,
        pid,
        "started detached: not contained, it may outlive this program"
    );
    #[cfg(feature = "metrics")]
    metrics::counter!("processkit_detached_total").increment(1);
}

/// A run was cancelled and its tree was killed.
#[cfg_attr(not(feature = "cancellation"), allow(dead_code))]
pub(crate) fn cancelled(program: &str) {
    #[cfg(feature = "tracing")]
    ev!(info, program, "cancelled; tree killed");
    #[cfg(feature = "metrics")]
    metrics::counter!("processkit_cancellations_total").increment(1);
}

/// A container was torn down.
pub(crate) fn teardown(what: &str, mechanism: crate::Mechanism) {
    #[cfg(feature = "tracing")]
    ev!(debug, what, mechanism = ?mechanism, "teardown");
}

/// A retry is about to happen.
pub(crate) fn retry(program: &str, attempt: u32, delay: Duration) {
    #[cfg(feature = "tracing")]
    ev!(
        info,
        program,
        attempt,
        delay_ms = delay.as_millis() as u64,
        "retrying"
    );
    #[cfg(feature = "metrics")]
    metrics::counter!("processkit_retries_total").increment(1);
}

/// A supervised command is restarted.
pub(crate) fn restart(program: &str, restarts: u32, delay: Duration) {
    #[cfg(feature = "tracing")]
    ev!(
        info,
        program,
        restarts,
        delay_ms = delay.as_millis() as u64,
        "restarting"
    );
    #[cfg(feature = "metrics")]
    metrics::counter!("processkit_restarts_total").increment(1);
}

/// The supervisor's failure-storm guard tripped.
pub(crate) fn storm(program: &str, pause: Duration) {
    #[cfg(feature = "tracing")]
    ev!(
        warn,
        program,
        pause_ms = pause.as_millis() as u64,
        "failure storm; pausing restarts"
    );
}

//! Supervision and group shutdown work together: `shutdown()` seals the
//! group, a supervisor running through it stops with an outcome instead of
//! restarting into it, and a supervisor stops gracefully on request with
//! its counts. Checked on every mechanism a group can use here.
#![cfg(target_os = "linux")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{assert_gone_within, read_pids};
use processkit::{
    Command, Error, Mechanism, ProcessGroup, ProcessGroupOptions, RestartPolicy, StopReason,
    SupervisionOutcome, Supervisor, SupervisorStop,
};

use common::group_mechanisms as mechanisms;

fn group_on(m: Mechanism) -> Arc<ProcessGroup> {
    Arc::new(common::group_on_with(
        m,
        ProcessGroupOptions::default().grace(Duration::from_secs(5)),
    ))
}

async fn pids_in(path: std::path::PathBuf, count: usize) -> Vec<u32> {
    tokio::task::spawn_blocking(move || read_pids(&path, count, Duration::from_secs(30)))
        .await
        .unwrap()
}

const GONE: Duration = Duration::from_secs(10);
const ENDS: Duration = Duration::from_secs(30);

type Supervised = tokio::task::JoinHandle<processkit::Result<SupervisionOutcome>>;

/// Supervises `sh -c <script>` through `group`, restarting always, set up
/// further by `configure`: the supervision's task and its stop handle.
fn supervise_in(
    group: &Arc<ProcessGroup>,
    script: &str,
    configure: impl FnOnce(Supervisor) -> Supervisor,
) -> (Supervised, SupervisorStop) {
    let sup = configure(
        Supervisor::new(Command::new("sh").args(["-c", script])).restart(RestartPolicy::Always),
    )
    .with_runner(group.clone());
    let stop = sup.stop_handle();
    (tokio::spawn(async move { sup.run().await }), stop)
}

/// The outcome of a supervision that must end within [`ENDS`]; `hung`
/// says what it means if it does not.
async fn outcome_of(task: Supervised, hung: &str) -> SupervisionOutcome {
    tokio::time::timeout(ENDS, task)
        .await
        .unwrap_or_else(|_| panic!("{hung}"))
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_shutdown_stops_its_supervisor_and_seals_the_group() {
    for m in mechanisms() {
        let group = group_on(m);
        let dir = common::scratch();
        let pids = dir.path().join("pids");
        // Each incarnation records its pid and a background child's.
        let script = format!(
            "sleep 300 & echo $! >> {0}; echo $$ >> {0}; wait",
            pids.display()
        );
        let (task, _) = supervise_in(&group, &script, |s| {
            s.backoff(Duration::from_millis(10), 1.0)
        });
        let first = pids_in(pids.clone(), 2).await;

        let report = group.shutdown().await.unwrap();
        assert!(report.signalled >= 1, "{report:?} on {m}");
        let outcome = outcome_of(
            task,
            &format!("the supervisor kept going after the shutdown on {m}"),
        )
        .await;
        assert_eq!(outcome.stopped, StopReason::GroupShutDown, "on {m}");
        assert_eq!((outcome.restarts, outcome.failures), (0, 0), "on {m}");
        assert!(outcome.last.is_some());

        // Nothing restarted into the group: one incarnation's pids, all gone.
        let all = pids_in(pids.clone(), 2).await;
        assert_eq!(all, first, "a restart after the shutdown on {m}");
        assert_gone_within(&all, GONE, &format!("the supervised tree on {m}")).await;
        assert!(group.is_empty().unwrap());

        // The group is sealed: later starts fail with a typed error.
        assert!(group.is_shut_down());
        let err = group.start(&Command::new("true")).await.unwrap_err();
        assert!(matches!(err, Error::GroupShutDown { .. }), "{err:?}");
        assert_eq!(err.program(), Some("true"));
        let err = group
            .spawn(&mut tokio::process::Command::new("true"))
            .unwrap_err();
        assert!(matches!(err, Error::GroupShutDown { .. }), "{err:?}");
        use processkit::ProcessRunnerExt;
        let err = group.run(&Command::new("true")).await.unwrap_err();
        assert!(matches!(err, Error::GroupShutDown { .. }), "{err:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_returns_the_outcome_with_its_counts() {
    for m in mechanisms() {
        let group = group_on(m);
        let dir = common::scratch();
        let pids = dir.path().join("pids");
        let log = dir.path().join("log");
        // Crashes twice, then runs until SIGTERM, which it reports.
        let script = format!(
            "n=$(cat {0} 2>/dev/null | wc -l); echo $$ >> {0}; [ $n -lt 2 ] && exit 3; \
             trap 'echo term >> {1}; exit 0' TERM; while :; do sleep 0.05; done",
            pids.display(),
            log.display()
        );
        let (task, stop) = supervise_in(&group, &script, |s| {
            s.backoff(Duration::from_millis(10), 1.0).jitter(false)
        });
        let all = pids_in(pids.clone(), 3).await;

        stop.stop(Duration::from_secs(20));
        let outcome = outcome_of(task, &format!("the stop did not end supervision on {m}")).await;
        assert_eq!(outcome.stopped, StopReason::Stopped, "on {m}");
        assert_eq!((outcome.restarts, outcome.failures), (2, 2), "on {m}");
        // The polite signal came first, and the run ended on it.
        assert_eq!(
            outcome.last.as_ref().and_then(|r| r.code()),
            Some(0),
            "on {m}"
        );
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "term\n");
        assert_gone_within(&all, GONE, &format!("the supervised runs on {m}")).await;
        // The group itself was left usable.
        assert!(!group.is_shut_down());
    }
}

/// A child that ignores the polite signal is killed after the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_kills_after_the_grace_period() {
    for m in mechanisms() {
        let group = group_on(m);
        let dir = common::scratch();
        let pids = dir.path().join("pids");
        let script = format!(
            "trap '' TERM; sh -c \"trap '' TERM; echo \\$\\$ >> {0}; while :; do sleep 0.05; done\" & echo $$ >> {0}; while :; do sleep 0.05; done",
            pids.display()
        );
        let (task, stop) = supervise_in(&group, &script, |s| s);
        let all = pids_in(pids.clone(), 2).await;
        stop.stop(Duration::from_millis(300));
        let outcome = outcome_of(task, &format!("the stop did not end supervision on {m}")).await;
        assert_eq!(outcome.stopped, StopReason::Stopped, "on {m}");
        assert_eq!((outcome.restarts, outcome.failures), (0, 0), "on {m}");
        assert_eq!(
            outcome.last.as_ref().and_then(|r| r.signal()),
            Some(9),
            "on {m}"
        );
        assert_gone_within(&all, GONE, &format!("the TERM-ignoring tree on {m}")).await;
    }
}

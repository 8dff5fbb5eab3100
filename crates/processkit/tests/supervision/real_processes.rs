use super::*;
use processkit::ProcessGroup;

use super::common::{alive, pids_in, wait_for as eventually};

#[tokio::test]
async fn a_crash_looping_child_is_restarted_up_to_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let count = dir.path().join("count");
    let script = format!("echo run >> {}; exit 4", count.display());
    let outcome = Supervisor::new(Command::new("sh").args(["-c", &script]))
        .backoff(ms(5), 2.0)
        .max_restarts(3)
        .run()
        .await
        .unwrap();
    assert_eq!(
        (outcome.restarts, outcome.stopped),
        (3, StopReason::MaxRestarts)
    );
    assert_eq!(outcome.last.and_then(|r| r.code()), Some(4));
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 4);
}

#[tokio::test]
async fn a_timed_out_run_is_a_crash_and_gets_restarted() {
    let outcome = Supervisor::new(Command::new("sleep").arg("30").timeout(ms(50)))
        .backoff(ms(5), 1.0)
        .max_restarts(1)
        .run()
        .await
        .unwrap();
    assert_eq!((outcome.restarts, outcome.failures), (1, 2));
    assert!(outcome.last.expect("last run").timed_out());
}

#[tokio::test]
async fn a_missing_program_ends_supervision_at_once() {
    let err = Supervisor::new(Command::new("processkit-no-such-program-4711"))
        .restart(RestartPolicy::Always)
        .backoff(Duration::from_secs(3600), 1.0)
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { ref program, .. } if program == "processkit-no-such-program-4711")
    );
}

#[tokio::test]
async fn each_incarnation_in_the_group_takes_its_leftovers_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // Each incarnation leaves a backgrounded grandchild behind.
    let script = format!("sleep 30 >/dev/null 2>&1 & echo $! >> {}", pids.display());
    let group = ProcessGroup::new().unwrap();
    let outcome = Supervisor::new(Command::new("sh").args(["-c", &script]))
        .restart(RestartPolicy::Always)
        .backoff(ms(5), 1.0)
        .max_restarts(2)
        .with_runner(&group)
        .run()
        .await
        .unwrap();
    assert_eq!(
        (outcome.restarts, outcome.stopped),
        (2, StopReason::MaxRestarts)
    );
    let left = pids_in(&pids);
    assert_eq!(left.len(), 3, "one grandchild per incarnation");
    // A consuming run is over when it returns, on a group runner too:
    // every incarnation's grandchild went with its run, while the group
    // lives on.
    eventually(
        "every incarnation's grandchild to die with its run",
        Duration::from_secs(5),
        || left.iter().all(|p| !alive(*p)),
    )
    .await;
    assert!(!group.is_shut_down());
    drop(group);
}

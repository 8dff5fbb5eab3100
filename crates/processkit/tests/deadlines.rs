//! Graceful deadlines (polite signal, grace, then KILL on the whole tree),
//! the inactivity deadline, and `ok_codes`, against real processes.
#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use processkit::{Command, Destination, Error, ProcessGroup, StreamExt};

#[tokio::test]
async fn graceful_timeout_lets_a_term_trapping_child_exit_cleanly() {
    let started = Instant::now();
    let r = Command::new("sh")
        .args([
            "-c",
            "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .timeout(Duration::from_millis(300))
        .grace_period(Duration::from_secs(20))
        .output_string()
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(r.timed_out(), "{r:?}");
    assert!(!r.idle_timed_out());
    // Exited on its own (code 0), long before the grace period ran out: no KILL.
    assert_eq!(
        (r.code(), r.signal(), r.stdout().as_str()),
        (Some(0), None, "ready\ngot-term\n")
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(!r.is_success());
}

#[tokio::test]
async fn graceful_timeout_kills_a_term_ignoring_tree_after_the_grace() {
    let dir = common::scratch();
    let pidfile = dir.path().join("pids");
    let script = format!(
        "trap '' TERM; sleep 1000 & echo $! > {p}; echo $$ >> {p}; while :; do sleep 0.05; done",
        p = pidfile.display()
    );
    let grace = Duration::from_millis(800);
    let started = Instant::now();
    let cmd = Command::new("sh")
        .args(["-c", &script])
        .timeout(Duration::from_millis(300))
        .grace_period(grace);
    let run = cmd.output_string();
    let (r, pids) = tokio::join!(run, async {
        common::wait_for_pids_within(&pidfile, 2, Duration::from_secs(10)).await
    });
    let r = r.unwrap();
    let took = started.elapsed();
    assert!(r.timed_out());
    assert_eq!(r.signal(), Some(9), "{r:?}");
    assert!(
        took >= Duration::from_millis(300) + grace - Duration::from_millis(50),
        "killed before the grace period ended: {took:?}"
    );
    common::assert_gone_within(&pids, Duration::from_secs(5), "TERM-ignoring tree").await;
}

#[tokio::test]
async fn graceful_timeout_on_a_group_member_kills_what_it_leaves_behind() {
    let dir = common::scratch();
    let pidfile = dir.path().join("pids");
    // The direct child exits on TERM; its grandchild ignores TERM and would
    // stay in the shared group.
    let script = format!(
        "(trap '' TERM; exec sleep 1000) & echo $! > {p}; trap 'exit 0' TERM; while :; do sleep 0.05; done",
        p = pidfile.display()
    );
    let group = ProcessGroup::new().unwrap();
    let mut run = group
        .start(
            &Command::new("sh")
                .args(["-c", &script])
                .timeout(Duration::from_millis(300))
                .grace_period(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    let pids = common::wait_for_pids_within(&pidfile, 1, Duration::from_secs(10)).await;
    assert_eq!(run.wait().await.unwrap(), Some(0));
    assert!(run.timed_out());
    common::assert_gone_within(&pids, Duration::from_secs(5), "left-behind grandchild").await;
}

#[tokio::test]
async fn a_timeout_without_grace_still_kills_at_once() {
    let started = Instant::now();
    let r = Command::new("sh")
        .args(["-c", "trap '' TERM; sleep 30"])
        .timeout(Duration::from_millis(200))
        .output_string()
        .await
        .unwrap();
    assert!(r.timed_out());
    assert_eq!(r.signal(), Some(9));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_child_that_prints_once_then_sleeps_ends_at_the_inactivity_deadline() {
    let started = Instant::now();
    let r = Command::new("sh")
        .args(["-c", "echo hello; sleep 30"])
        .idle_timeout(Duration::from_millis(400))
        .output_string()
        .await
        .unwrap();
    assert!(r.idle_timed_out(), "{r:?}");
    assert!(
        !r.timed_out(),
        "recorded as inactivity, not as the wall clock"
    );
    assert_eq!(r.stdout(), "hello\n");
    assert!(started.elapsed() < Duration::from_secs(10));

    let err = Command::new("sleep")
        .arg("30")
        .idle_timeout(Duration::from_millis(200))
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Inactive { program, idle } if program == "sleep" && *idle == Duration::from_millis(200)),
        "{err}"
    );
    assert!(err.is_inactive() && !err.is_timeout());
}

#[tokio::test]
async fn a_child_that_keeps_printing_is_not_idle() {
    let r = Command::new("sh")
        .args([
            "-c",
            "i=0; while [ $i -lt 12 ]; do echo tick >&2; sleep 0.1; i=$((i+1)); done; echo done",
        ])
        .idle_timeout(Duration::from_millis(1500))
        .output_string()
        .await
        .unwrap();
    assert!(!r.idle_timed_out(), "{r:?}");
    assert_eq!((r.code(), r.stdout().as_str()), (Some(0), "done\n"));
    assert_eq!(r.stderr().lines().count(), 12);
    assert!(r.is_success());
}

#[tokio::test]
async fn the_inactivity_deadline_ends_a_stream_and_a_graceful_stop() {
    let mut run = Command::new("sh")
        .args([
            "-c",
            "trap 'echo bye; exit 0' TERM; echo one; echo two; while :; do sleep 0.05; done",
        ])
        .idle_timeout(Duration::from_millis(400))
        .grace_period(Duration::from_secs(20))
        .start()
        .await
        .unwrap();
    let lines: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(lines, ["one", "two", "bye"]);
    assert_eq!(run.wait().await.unwrap(), Some(0));
    assert!(run.idle_timed_out() && !run.timed_out());
}

#[tokio::test]
async fn the_inactivity_deadline_fires_on_a_handle_nobody_polls() {
    let dir = common::scratch();
    let pidfile = dir.path().join("pid");
    let mut run = Command::new("sh")
        .args([
            "-c",
            &format!("echo $$ > {}; exec sleep 30", pidfile.display()),
        ])
        .idle_timeout(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let pids = common::wait_for_pids_within(&pidfile, 1, Duration::from_secs(10)).await;
    common::assert_gone_within(&pids, Duration::from_secs(5), "idle child, unpolled").await;
    assert_eq!(run.wait().await.unwrap(), None);
    assert!(run.idle_timed_out());
}

#[tokio::test]
async fn an_inactivity_deadline_with_nothing_captured_is_invalid_input() {
    let err = Command::new("true")
        .stdout(Destination::null())
        .stderr(Destination::inherit())
        .idle_timeout(Duration::from_secs(1))
        .output_string()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { program, .. } if program == "true"),
        "{err}"
    );
}

#[tokio::test]
async fn ok_codes_decide_success_for_run_and_exit_code_but_not_probe() {
    let grep = Command::new("grep")
        .arg("absent")
        .stdin("some text\n")
        .ok_codes([0, 1]);
    assert_eq!(grep.run().await.unwrap(), "");
    assert_eq!(grep.exit_code().await.unwrap(), 1);

    let three = Command::new("sh").args(["-c", "echo e >&2; exit 3"]);
    assert_eq!(three.exit_code().await.unwrap(), 3, "no ok_codes: any code");
    let err = three
        .clone()
        .ok_codes([0, 1])
        .exit_code()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NonZeroExit { code: 3, stderr_tail, .. } if stderr_tail == "e"),
        "{err}"
    );
    let err = three.clone().ok_codes([0, 1]).run().await.unwrap_err();
    assert!(matches!(&err, Error::NonZeroExit { code: 3, .. }), "{err}");
    assert_eq!(three.clone().ok_codes([3]).run().await.unwrap(), "");

    // probe keeps 0 = true, 1 = false, whatever ok_codes says.
    let one = Command::new("sh").args(["-c", "exit 1"]).ok_codes([1]);
    assert!(!one.probe().await.unwrap());
    let zero_not_ok = Command::new("true").ok_codes([5]);
    assert!(zero_not_ok.probe().await.unwrap());
    assert!(matches!(
        zero_not_ok.run().await,
        Err(Error::NonZeroExit { code: 0, .. })
    ));
}

#[tokio::test]
async fn ok_codes_apply_per_stage_in_a_pipeline() {
    let chain = Command::new("printf").arg("a\\nb\\n")
        | Command::new("grep").arg("zzz").ok_codes([0, 1])
        | Command::new("cat");
    assert_eq!(chain.run().await.unwrap(), "");
    let strict = Command::new("printf").arg("a\\n") | Command::new("grep").arg("zzz");
    let err = strict.run().await.unwrap_err();
    assert!(
        matches!(&err, Error::NonZeroExit { program, code: 1, .. } if program == "grep (stage 2 of 2)"),
        "{err}"
    );
}

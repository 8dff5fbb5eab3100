//! ProcessGroup: shared containment, graceful shutdown, signals,
//! suspend/resume, members, adoption — on both backends.
#![cfg(all(target_os = "linux", feature = "process-control"))]

mod common;

use std::time::{Duration, Instant};

use common::{alive, assert_all_gone, read_pids};
use processkit::{Command, Error, Mechanism, ProcessGroup, ProcessGroupOptions, Signal};

fn backends() -> Vec<ProcessGroupOptions> {
    let mut v = vec![ProcessGroupOptions::default().mechanism(Mechanism::ProcessGroup)];
    if processkit::preflight().host_mechanism == Mechanism::CgroupV2 {
        v.push(ProcessGroupOptions::default().mechanism(Mechanism::CgroupV2));
    }
    v
}

#[tokio::test]
async fn shutdown_escalates_past_children_that_ignore_sigterm() {
    for opts in backends() {
        let grace = Duration::from_millis(500);
        let group = ProcessGroup::with_options(opts.grace(grace)).unwrap();
        let dir = common::scratch();
        let file = dir.path().join("pids");
        let f = file.display();
        let script = format!(
            "trap '' TERM; sh -c \"trap '' TERM; echo \\$\\$ >> {f}; while :; do sleep 0.05; done\" & echo $$ >> {f}; while :; do sleep 0.05; done"
        );
        let _run = group
            .start(&Command::new("sh").args(["-c", &script]))
            .await
            .unwrap();
        let pids = read_pids(&file, 2, Duration::from_secs(5));
        let started = Instant::now();
        group.shutdown().await.unwrap();
        let took = started.elapsed();
        assert!(
            took >= grace,
            "{}: shutdown waited the grace period ({took:?})",
            group.mechanism()
        );
        assert!(
            took < grace + Duration::from_secs(2),
            "{}: shutdown took {took:?}",
            group.mechanism()
        );
        assert_all_gone(
            &pids,
            Duration::from_secs(1),
            "TERM-ignoring tree after shutdown",
        );
        assert!(group.is_empty().unwrap());
    }
}

#[tokio::test]
async fn shutdown_returns_early_when_members_honour_sigterm() {
    for opts in backends() {
        let group = ProcessGroup::with_options(opts.grace(Duration::from_secs(10))).unwrap();
        let _a = group.start(&Command::new("sleep").arg("30")).await.unwrap();
        let started = Instant::now();
        group.shutdown().await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn signal_hup_reaches_a_grandchilds_trap() {
    for opts in backends() {
        let group = ProcessGroup::with_options(opts).unwrap();
        let dir = common::scratch();
        let marker = dir.path().join("hup");
        let ready = dir.path().join("ready");
        let script = format!(
            "sh -c \"trap 'echo got > {m}; exit 0' HUP; echo \\$\\$ > {r}; while :; do sleep 0.05; done\" & trap '' HUP; wait",
            m = marker.display(),
            r = ready.display()
        );
        let _run = group
            .start(&Command::new("sh").args(["-c", &script]))
            .await
            .unwrap();
        read_pids(&ready, 1, Duration::from_secs(5));
        group.signal(Signal::Hup).unwrap();
        assert!(
            common::wait_until(Duration::from_secs(3), || marker.exists()),
            "{}: the grandchild's HUP trap did not run",
            group.mechanism()
        );
    }
}

#[tokio::test]
async fn suspend_stops_progress_and_resume_restarts_it() {
    for opts in backends() {
        let group = ProcessGroup::with_options(opts).unwrap();
        let dir = common::scratch();
        let counter = dir.path().join("count");
        let script = format!(
            "i=0; while :; do i=$((i+1)); echo $i > {c}.tmp; mv {c}.tmp {c}; sleep 0.01; done",
            c = counter.display()
        );
        let _run = group
            .start(&Command::new("sh").args(["-c", &script]))
            .await
            .unwrap();
        let read = || {
            std::fs::read_to_string(&counter)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        assert!(common::wait_until(Duration::from_secs(5), || read() > 3));
        group.suspend().unwrap();
        group.suspend().unwrap(); // idempotent
        // Let any in-flight iteration land, then the value must stay put.
        let mut last = read();
        assert!(
            common::wait_until(Duration::from_secs(2), || {
                std::thread::sleep(Duration::from_millis(100));
                let now = read();
                let stable = now == last;
                last = now;
                stable
            }),
            "{}: writer kept going while suspended",
            group.mechanism()
        );
        let frozen_at = read();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            read(),
            frozen_at,
            "{}: progress while suspended",
            group.mechanism()
        );
        group.resume().unwrap();
        assert!(
            common::wait_until(Duration::from_secs(3), || read() > frozen_at + 2),
            "{}: no progress after resume",
            group.mechanism()
        );
    }
}

#[tokio::test]
async fn members_sees_the_whole_tree_on_cgroup_and_leaders_on_process_groups() {
    for opts in backends() {
        let group = ProcessGroup::with_options(opts).unwrap();
        let dir = common::scratch();
        let file = dir.path().join("pids");
        let f = file.display();
        let script = format!("sleep 300 & echo $! >> {f}; sleep 300 & echo $! >> {f}; wait");
        let run = group
            .start(&Command::new("sh").args(["-c", &script]))
            .await
            .unwrap();
        let kids = read_pids(&file, 2, Duration::from_secs(5));
        let leader = run.pid().unwrap();
        let members = group.members().unwrap();
        match group.mechanism() {
            Mechanism::CgroupV2 => {
                for p in [leader, kids[0], kids[1]] {
                    assert!(members.contains(&p), "cgroup members {members:?} lack {p}");
                }
            }
            _ => assert_eq!(members, vec![leader], "process groups list the leaders"),
        }
    }
}

#[tokio::test]
async fn kill_takes_the_tree_down_and_the_group_stays_usable() {
    for opts in backends() {
        let group = ProcessGroup::with_options(opts).unwrap();
        let dir = common::scratch();
        let file = dir.path().join("pids");
        let script = format!("sleep 300 & echo $! > {}; wait", file.display());
        let mut run = group
            .start(&Command::new("sh").args(["-c", &script]))
            .await
            .unwrap();
        let kids = read_pids(&file, 1, Duration::from_secs(5));
        group.kill().unwrap();
        assert_eq!(run.wait().await.unwrap(), None);
        assert_all_gone(&kids, Duration::from_secs(2), "after group.kill()");
        let out = group
            .start(&Command::new("echo").arg("still usable"))
            .await
            .unwrap()
            .output_string()
            .await
            .unwrap();
        assert_eq!(out.stdout(), "still usable\n");
    }
}

#[tokio::test]
async fn a_members_timeout_kills_only_its_own_subtree() {
    for opts in backends() {
        let group = ProcessGroup::with_options(opts).unwrap();
        let sibling = group.start(&Command::new("sleep").arg("30")).await.unwrap();
        let r = group
            .start(
                &Command::new("sh")
                    .args(["-c", "sleep 30 & wait"])
                    .timeout(Duration::from_millis(200)),
            )
            .await
            .unwrap()
            .output_string()
            .await
            .unwrap();
        assert!(r.timed_out());
        assert!(
            alive(sibling.pid().unwrap()),
            "{}: the sibling must survive",
            group.mechanism()
        );
    }
}

#[tokio::test]
async fn dropping_a_member_handle_detaches_but_the_group_still_owns_the_process() {
    for opts in backends() {
        let group = ProcessGroup::with_options(opts).unwrap();
        let run = group.start(&Command::new("sleep").arg("30")).await.unwrap();
        let pid = run.pid().unwrap();
        drop(run);
        assert!(
            alive(pid),
            "{}: dropping a member handle must not kill it",
            group.mechanism()
        );
        drop(group);
        assert_all_gone(
            &[pid],
            Duration::from_secs(2),
            "member after the group dropped",
        );
    }
}

#[tokio::test]
async fn adopt_moves_a_process_in_on_cgroup_and_is_unsupported_on_process_groups() {
    for opts in backends() {
        let group = ProcessGroup::with_options(opts).unwrap();
        let mut outside = tokio::process::Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = outside.id().unwrap();
        match group.mechanism() {
            Mechanism::CgroupV2 => {
                group.adopt(pid).unwrap();
                assert!(group.members().unwrap().contains(&pid));
                drop(group);
                let status = tokio::time::timeout(Duration::from_secs(2), outside.wait())
                    .await
                    .unwrap()
                    .unwrap();
                assert!(!status.success(), "the adopted process died with the group");
            }
            _ => {
                let err = group.adopt(pid).unwrap_err();
                assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
                outside.kill().await.unwrap();
            }
        }
    }
}

#[tokio::test]
async fn a_forced_mechanism_is_reported_and_an_unavailable_one_is_an_error() {
    let g = ProcessGroup::with_options(
        ProcessGroupOptions::default().mechanism(Mechanism::ProcessGroup),
    )
    .unwrap();
    assert_eq!(g.mechanism(), Mechanism::ProcessGroup);
    let err =
        ProcessGroup::with_options(ProcessGroupOptions::default().mechanism(Mechanism::JobObject))
            .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
}

#[tokio::test]
async fn signal_other_numbers_and_invalid_ones() {
    let group = ProcessGroup::new().unwrap();
    let mut run = group.start(&Command::new("sleep").arg("30")).await.unwrap();
    let err = group.signal(Signal::Other(0)).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    group.signal(Signal::Other(libc::SIGUSR1)).unwrap();
    assert_eq!(
        run.wait().await.unwrap(),
        None,
        "SIGUSR1's default action terminates sleep"
    );
}

//! The escape matrix: every way a descendant tries to leave its parent, and
//! whether the container still catches it.
//!
//! On cgroup v2 every escapee dies. On POSIX process groups a descendant
//! that starts a new session (`setsid`) survives — the documented weakness —
//! and everything else dies. Run this file a second time with
//! `PROCESSKIT_MECHANISM=process-group` to exercise the fallback for one-shot
//! runs too.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{alive, assert_all_gone, on_process_groups, read_pids};
use processkit::{Command, Mechanism, ProcessGroup, ProcessGroupOptions};

/// `sh -c` that backgrounds a `sleep 300` grandchild, writes its pid to
/// the returned file and waits; the scratch directory lives as long as the
/// returned guard.
fn grandchild_tree() -> (tempfile::TempDir, std::path::PathBuf, Command) {
    let dir = common::scratch();
    let file = dir.path().join("pids");
    let script = format!("sleep 300 & echo $! > {}; wait", file.display());
    (dir, file, Command::new("sh").args(["-c", &script]))
}

/// A shell script that starts one escapee per technique; each writes
/// "<technique> <pid>" to `file` and then becomes `sleep 300`.
fn escape_script(file: &Path) -> String {
    let f = file.display();
    format!(
        r#"
setsid sh -c 'echo setsid $$ >> {f}; exec sleep 300' &
(sh -c 'echo doublefork $$ >> {f}; exec sleep 300' &)
nohup sh -c 'echo nohup $$ >> {f}; exec sleep 300' >/dev/null 2>&1 &
sh -c "sh -c 'echo nested \$\$ >> {f}; exec sleep 300'" &
setsid sh -c "setsid sh -c 'echo setsid2 \$\$ >> {f}; exec sleep 300' & wait" &
sleep 300 &
echo "direct $!" >> {f}
wait
"#
    )
}

const ESCAPES: usize = 6;

fn labelled(file: &Path) -> Vec<(String, u32)> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (k, p) = l.split_once(' ')?;
            Some((k.to_owned(), p.trim().parse().ok()?))
        })
        .collect()
}

fn is_setsid(label: &str) -> bool {
    label.starts_with("setsid")
}

/// Waits until setsid escapees have really left the shell's session.
fn settle_sessions(entries: &[(String, u32)], shell_session: Option<u32>) {
    for (label, pid) in entries {
        if is_setsid(label) {
            common::wait_until(Duration::from_secs(2), || {
                common::session_of(*pid) != shell_session
            });
        }
    }
}

/// Asserts the outcome for `mechanism`, then kills any documented survivor.
fn check_outcome(entries: &[(String, u32)], mechanism: Mechanism, what: &str) {
    let (must_survive, must_die): (Vec<_>, Vec<_>) = entries
        .iter()
        .partition(|(label, _)| mechanism == Mechanism::ProcessGroup && is_setsid(label));
    let dying: Vec<u32> = must_die.iter().map(|(_, p)| *p).collect();
    assert_all_gone(&dying, Duration::from_secs(2), what);
    for (label, pid) in &must_survive {
        assert!(
            alive(*pid),
            "{what}: {label} escapee {pid} should survive a process group (documented)"
        );
        // Clean up the documented survivor ourselves.
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
    if mechanism == Mechanism::ProcessGroup {
        assert_eq!(
            must_survive.len(),
            2,
            "{what}: exactly the two setsid escapees survive"
        );
    }
}

async fn group_matrix(options: ProcessGroupOptions) {
    let dir = common::scratch();
    let file = dir.path().join("pids");
    let group = ProcessGroup::with_options(options).unwrap();
    let mechanism = group.mechanism();
    let run = group
        .start(&Command::new("sh").args(["-c", &escape_script(&file)]))
        .await
        .unwrap();
    let shell_session = common::session_of(run.pid().unwrap());
    read_pids(&file, ESCAPES, Duration::from_secs(10));
    let entries = labelled(&file);
    settle_sessions(&entries, shell_session);
    drop(group);
    check_outcome(&entries, mechanism, &format!("group on {mechanism}"));
    drop(run);
}

#[tokio::test]
async fn dropping_a_whole_tree_group_kills_every_escapee() {
    // The strongest mechanism this host offers: cgroup v2 where a cgroup can
    // be created, the subreaper helper where none can (a non-root user, a
    // read-only cgroupfs). Either way every escapee dies.
    let report = processkit::preflight();
    assert!(
        report.host_mechanism.contains_setsid(),
        "this Linux host offers no whole-tree mechanism: {report}"
    );
    group_matrix(ProcessGroupOptions::default().mechanism(report.host_mechanism)).await;
}

#[tokio::test]
async fn dropping_a_process_group_group_kills_all_but_setsid_escapees() {
    group_matrix(ProcessGroupOptions::default().mechanism(Mechanism::ProcessGroup)).await;
}

#[tokio::test]
async fn dropping_a_started_handle_kills_every_escapee_its_mechanism_can_catch() {
    let dir = common::scratch();
    let file = dir.path().join("pids");
    let run = Command::new("sh")
        .args(["-c", &escape_script(&file)])
        .start()
        .await
        .unwrap();
    let shell_session = common::session_of(run.pid().unwrap());
    read_pids(&file, ESCAPES, Duration::from_secs(10));
    let entries = labelled(&file);
    settle_sessions(&entries, shell_session);
    drop(run);
    check_outcome(&entries, Mechanism::current(), "one-shot start()");
}

#[tokio::test]
async fn a_timeout_kills_a_backgrounded_grandchild() {
    let (_dir, file, cmd) = grandchild_tree();
    let r = cmd
        .timeout(Duration::from_millis(500))
        .output_string()
        .await
        .unwrap();
    assert!(r.timed_out());
    let pids = read_pids(&file, 1, Duration::from_secs(1));
    assert_all_gone(&pids, Duration::from_secs(2), "timed-out run's grandchild");
}

#[tokio::test]
async fn dropped_future_kills_setsid_grandchild() {
    let dir = common::scratch();
    let file = dir.path().join("pids");
    let script = format!(
        "setsid sh -c 'echo $$ > {}; exec sleep 300' & wait",
        file.display()
    );
    let cmd = Command::new("sh").args(["-c", &script]);
    let fut = cmd.run();
    let pids = tokio::select! {
        _ = fut => panic!("the run should not finish"),
        pids = async {
            loop {
                if let Ok(s) = std::fs::read_to_string(&file) && let Ok(p) = s.trim().parse::<u32>() {
                    break vec![p];
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        } => pids,
    };
    // `select!` dropped the run's future here.
    if on_process_groups() {
        assert!(
            alive(pids[0]),
            "a setsid grandchild escapes a process group (documented)"
        );
        unsafe { libc::kill(pids[0] as i32, libc::SIGKILL) };
    } else {
        assert_all_gone(
            &pids,
            Duration::from_secs(2),
            "dropped future's setsid grandchild",
        );
    }
}

#[tokio::test]
async fn a_run_inside_tokio_timeout_is_killed_with_its_tree_when_it_expires() {
    let (_dir, file, cmd) = grandchild_tree();
    let r = tokio::time::timeout(Duration::from_millis(300), cmd.output_string()).await;
    assert!(r.is_err(), "the outer timeout fired");
    let pids = read_pids(&file, 1, Duration::from_secs(1));
    assert_all_gone(&pids, Duration::from_secs(2), "grandchild of a dropped run");
}

#[tokio::test]
async fn a_panic_in_the_owning_task_kills_the_tree() {
    let (_dir, file, cmd) = grandchild_tree();
    let f2 = file.clone();
    let task = tokio::spawn(async move {
        let run = cmd.start().await.unwrap();
        common::wait_until_async(Duration::from_secs(5), || f2.exists()).await;
        let _keep = run;
        panic!("the owner panics while holding the handle");
    });
    assert!(task.await.unwrap_err().is_panic());
    let pids = read_pids(&file, 1, Duration::from_secs(1));
    assert_all_gone(&pids, Duration::from_secs(2), "tree of a panicked task");
}

#[tokio::test]
async fn setsid_on_the_command_keeps_containment() {
    let (_dir, file, cmd) = grandchild_tree();
    let run = cmd.setsid().start().await.unwrap();
    let pid = run.pid().unwrap();
    assert!(
        common::wait_until(Duration::from_secs(2), || common::session_of(pid)
            == Some(pid)),
        "child leads a new session"
    );
    let pids = read_pids(&file, 1, Duration::from_secs(5));
    drop(run);
    assert_all_gone(
        &[pid, pids[0]],
        Duration::from_secs(2),
        "setsid command tree",
    );
}

//! What users of a process library run into (CLIs, build tools, test
//! runners, dev servers), each checked from the outside: `/proc`, marker
//! files, the cgroup tree, and child processes of the test binary itself.
//!
//! Every wait has a deadline; nothing asserts after a bare sleep.

#![cfg(unix)]

use std::path::Path;
use std::time::{Duration, Instant};

use processkit::{Command, Mechanism, ProcessGroup};

// ----- helpers ---------------------------------------------------------------

#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)]
use common::{DEADLINE, assert_gone, eventually, pids_in, script, wait_for_pids};

/// Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, session.
fn stat_of(pid: u32) -> Option<(char, u32, u32, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgrp = rest.next()?.parse().ok()?;
    let session = rest.next()?.parse().ok()?;
    Some((state, ppid, pgrp, session))
}

/// `true` while `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    stat_of(pid).is_some_and(|(s, ..)| s != 'Z' && s != 'X')
}

/// `true` when `pid` is a zombie whose parent is this test process.
fn our_zombie(pid: u32) -> bool {
    stat_of(pid).is_some_and(|(s, ppid, ..)| s == 'Z' && ppid == std::process::id())
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pk-user-")
        .tempdir()
        .expect("a scratch directory")
}

/// Where cgroup2 is mounted, from /proc/self/mountinfo.
fn cgroup2_mount() -> Option<std::path::PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next()? == "cgroup2")
            .then(|| std::path::PathBuf::from(pre.split_whitespace().nth(4).unwrap_or("/")))
    })
}

/// This process's own cgroup v2 directory.
fn own_cgroup_dir() -> Option<std::path::PathBuf> {
    let cg = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = cg.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(cgroup2_mount()?.join(rel.trim_start_matches('/')))
}

/// The cgroup directories a processkit host with pid `pid` owns under `parent`.
fn host_roots_of(parent: &Path, pid: u32) -> Vec<std::path::PathBuf> {
    let prefix = format!("processkit-{pid}-");
    std::fs::read_dir(parent)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Every directory below `dir` (not counting `dir`).
fn subdirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(e.path());
                    todo.push(e.path());
                }
            }
        }
    }
    out
}

/// Runs one `child_body_*` test of this binary in a fresh process (so its
/// cgroups, guardian and exit are its own), with `PK_SCENARIO` set.
fn child_test(name: &str, extra_env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "--ignored",
        "--exact",
        name,
        "--nocapture",
        "--test-threads=1",
    ])
    .env("PK_SCENARIO", name);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd
}

/// `true` inside a `child_body_*` run started by [`child_test`].
fn in_child(name: &str) -> bool {
    std::env::var("PK_SCENARIO").as_deref() == Ok(name)
}

mod groups;
mod inputs;
mod lifecycle;
mod streams;
mod workloads;

// ----- hygiene over many runs ----------------------------------------------------------------------

/// Body of the thousand-runs check, run in its own process by
/// [`a_thousand_sequential_runs_leave_no_zombies_and_no_cgroup_dirs`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
async fn child_body_thousand_runs() -> processkit::Result<()> {
    if !in_child("child_body_thousand_runs") {
        return Ok(());
    }
    let mut pids = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let mut run = Command::new("true").start().await?;
        pids.push(run.pid().unwrap());
        assert_eq!(run.wait().await?, Some(0));
    }
    for _ in 0..100 {
        Command::new("true").run().await?;
    }
    let reaped = eventually(DEADLINE, || !pids.iter().any(|p| our_zombie(*p))).await;
    let zombies: Vec<u32> = pids.iter().copied().filter(|p| our_zombie(*p)).collect();
    assert!(reaped, "zombies left: {zombies:?}");
    if Mechanism::current() == Mechanism::CgroupV2 {
        let parent = own_cgroup_dir().expect("own cgroup");
        let roots = host_roots_of(&parent, std::process::id());
        assert_eq!(roots.len(), 1, "{roots:?}");
        // Leaves are reused: the tree does not grow with the number of runs.
        let bounded = eventually(DEADLINE, || subdirs(&roots[0]).len() <= 16).await;
        eprintln!("cgroup dirs after 1100 runs: {}", subdirs(&roots[0]).len());
        assert!(
            bounded,
            "{} cgroup dirs after 1100 runs",
            subdirs(&roots[0]).len()
        );
    }
    Ok(())
}

/// 1000 sequential `true` runs leave no zombie and, once the process exits,
/// no cgroup directory behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sequential_runs_leave_no_zombies_and_no_cgroup_dirs() {
    let out = tokio::task::spawn_blocking(|| {
        let child = child_test("child_body_thousand_runs", &[])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the test binary");
        let pid = child.id();
        let out = child.wait_with_output().expect("wait for the test binary");
        (pid, out)
    })
    .await
    .unwrap();
    let (pid, out) = out;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child run failed:\n{text}");
    assert!(text.contains("1 passed"), "the body did not run:\n{text}");
    if let Some(parent) = own_cgroup_dir() {
        let gone = eventually(DEADLINE, || host_roots_of(&parent, pid).is_empty()).await;
        assert!(gone, "cgroup dirs left: {:?}", host_roots_of(&parent, pid));
    }
}

// ----- abrupt death of the parent --------------------------------------------------------------------

/// Body of the abrupt-death check: starts a tree and a group, reports their
/// pids, then waits to be SIGKILLed.
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn child_body_abrupt_death() {
    if !in_child("child_body_abrupt_death") {
        return;
    }
    let pidfile = std::path::PathBuf::from(std::env::var_os("PK_PIDFILE").unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let script = format!(
            "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
            pidfile.display()
        );
        let _run = Command::new("sh")
            .args(["-c", &script])
            .start()
            .await
            .unwrap();
        let group = ProcessGroup::new().unwrap();
        let _member = group
            .start(&Command::new("sh").args(["-c", &script]))
            .await
            .unwrap();
        std::mem::forget(group);
        std::fs::write(pidfile.with_extension("ready"), "").unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
}

/// The parent is SIGKILLed (no destructor runs): every descendant it
/// started still dies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descendants_die_when_the_parent_is_sigkilled() {
    assert!(
        matches!(processkit::guarantee(), processkit::Guarantee::Guardian),
        "this test needs the guardian (a DropOnly host documents that an abrupt death can \
         leave descendants)"
    );
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let mut child = child_test(
        "child_body_abrupt_death",
        &[("PK_PIDFILE", pidfile.to_str().unwrap())],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn the test binary");
    let ready = eventually(Duration::from_secs(30), || {
        pidfile.with_extension("ready").exists() && pids_in(&pidfile).len() >= 4
    })
    .await;
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child never got ready");
    }
    let pids = pids_in(&pidfile);
    assert_eq!(pids.len(), 4, "{pids:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_gone(&pids, "descendants of a SIGKILLed parent").await;
}

/// Body of the parent-death-signal check: no guardian, one child armed with
/// `kill_on_parent_death`.
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn child_body_parent_death_signal() {
    if !in_child("child_body_parent_death_signal") {
        return;
    }
    let pidfile = std::path::PathBuf::from(std::env::var_os("PK_PIDFILE").unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let run = Command::new("sleep")
            .arg("30")
            .kill_on_parent_death()
            .start()
            .await
            .unwrap();
        std::fs::write(&pidfile, run.pid().unwrap().to_string()).unwrap();
        std::mem::forget(run);
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
}

/// With the guardian turned off, `kill_on_parent_death` alone still takes
/// the direct child down when the parent is SIGKILLed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_on_parent_death_works_without_the_guardian() {
    let dir = scratch();
    let pidfile = dir.path().join("pid");
    let mut child = child_test(
        "child_body_parent_death_signal",
        &[
            ("PK_PIDFILE", pidfile.to_str().unwrap()),
            ("PROCESSKIT_NO_GUARDIAN", "1"),
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn the test binary");
    let ready = eventually(Duration::from_secs(30), || !pids_in(&pidfile).is_empty()).await;
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child never got ready");
    }
    let pid = pids_in(&pidfile)[0];
    assert!(alive(pid));
    child.kill().unwrap();
    child.wait().unwrap();
    let gone = eventually(DEADLINE, || !alive(pid)).await;
    if !gone {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid as i32).unwrap(),
            rustix::process::Signal::KILL,
        );
    }
    assert!(gone, "the armed child outlived its SIGKILLed parent");
}

// ----- handles that outlive their runtime -------------------------------------------------------

/// A handle or group kept in a struct and dropped after its runtime is
/// gone (at program end, on a plain thread) still takes its tree down, and
/// the drop does not panic.
#[test]
fn handles_dropped_after_their_runtime_still_kill_their_trees() {
    let dir = scratch();
    let p1 = dir.path().join("p1");
    let p2 = dir.path().join("p2");
    let tree = |f: &Path| {
        format!(
            "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
            f.display()
        )
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (run, group, member) = rt.block_on(async {
        let run = Command::new("sh")
            .args(["-c", &tree(&p1)])
            .start()
            .await
            .unwrap();
        let group = ProcessGroup::new().unwrap();
        let member = group
            .start(&Command::new("sh").args(["-c", &tree(&p2)]))
            .await
            .unwrap();
        (run, group, member)
    });
    let deadline = Instant::now() + DEADLINE;
    while (pids_in(&p1).len() < 2 || pids_in(&p2).len() < 2) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let pids: Vec<u32> = pids_in(&p1).into_iter().chain(pids_in(&p2)).collect();
    assert_eq!(pids.len(), 4, "{pids:?}");
    drop(rt);
    std::thread::spawn(move || {
        drop(member);
        drop(run);
        drop(group);
    })
    .join()
    .expect("dropping outside a runtime does not panic");
    let deadline = Instant::now() + DEADLINE;
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still alive: {left:?}");
}

//! A leftover container of a dead owner (a host killed before the guardian
//! could act, or one that ran with the guardian disabled) is swept by the
//! next process that uses processkit: its members are killed and its
//! directories removed.
#![cfg(target_os = "linux")]

mod common;

use std::path::PathBuf;
use std::time::Duration;

fn cgroup_parent() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = info
        .lines()
        .find(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|t| t.starts_with("cgroup2 "))
        })?
        .split_whitespace()
        .nth(4)?
        .to_owned();
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_owned))?;
    Some(PathBuf::from(mount).join(own.trim_start_matches('/')))
}

/// Runs inside a re-executed copy of this binary: one contained run, which
/// initialises processkit (and with it the sweep) in a fresh process.
#[test]
fn sweep_helper_process() {
    if std::env::var_os("PK_SWEEP_HELPER").is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { processkit::Command::new("true").run().await.unwrap() });
}

#[test]
fn a_planted_leftover_of_a_dead_owner_is_swept_by_the_next_process() {
    if processkit::preflight().host_mechanism != processkit::Mechanism::CgroupV2 {
        eprintln!("skipped: no writable cgroup v2 here");
        return;
    }
    let parent = cgroup_parent().expect("cgroup2 is mounted");
    // An owner that is certainly dead: a pid that exited, with a start time
    // that cannot match whatever reuses the pid.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let root = parent.join(format!("processkit-{dead_pid}-1"));
    let leaf = root.join("g1").join("c1");
    std::fs::create_dir_all(&leaf).unwrap();
    let mut straggler = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    std::fs::write(leaf.join("cgroup.procs"), straggler.id().to_string()).unwrap();

    // This process is a live owner: `preflight` above created its root.
    let me = format!("processkit-{}-", std::process::id());
    let mine = || {
        std::fs::read_dir(&parent)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&me))
    };
    assert!(mine(), "this process owns a host root");

    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sweep_helper_process", "--test-threads=1"])
        .env("PK_SWEEP_HELPER", "1")
        .env("PROCESSKIT_NO_GUARDIAN", "1")
        .status()
        .unwrap();
    assert!(status.success());

    let waited = std::thread::spawn(move || straggler.wait().unwrap());
    assert!(
        common::wait_until(Duration::from_secs(3), || waited.is_finished()),
        "the straggler was killed"
    );
    assert!(!waited.join().unwrap().success());
    assert!(
        common::wait_until(Duration::from_secs(5), || !root.exists()),
        "leftover {} removed",
        root.display()
    );
    assert!(mine(), "a live owner's root is never swept");
}

//! A leftover container of a dead owner (a host killed before the guardian
//! could act, or one that ran with the guardian disabled) is swept by the
//! next process that uses processkit: its members are killed and its
//! directories removed.
#![cfg(target_os = "linux")]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::own_cgroup as cgroup_parent;

/// Set in a re-executed copy of this binary: the test named by `--exact`
/// plays the part described by the variable's value instead.
const ROLE_VAR: &str = "PK_LEFTOVER_ROLE";

/// One contained run in a fresh process, which initialises processkit (and
/// with it the sweep).
fn sweep_role() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { processkit::Command::new("true").run().await.unwrap() });
}

/// Runs this binary's test `name` again in a fresh process, as the sweeper.
fn sweep_in_a_fresh_process(name: &str) {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1"])
        .env(ROLE_VAR, "sweep")
        .env("PROCESSKIT_NO_GUARDIAN", "1")
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_planted_leftover_of_a_dead_owner_is_swept_by_the_next_process() {
    if std::env::var_os(ROLE_VAR).is_some() {
        return sweep_role();
    }
    assert_eq!(
        processkit::preflight().host_mechanism,
        processkit::Mechanism::CgroupV2,
        "this test needs a writable cgroup v2"
    );
    let parent = cgroup_parent().expect("cgroup2 is mounted");
    // An owner that is certainly dead, with a straggler in its root.
    let common::DeadOwner {
        root,
        mut straggler,
        ..
    } = common::DeadOwner::plant(&parent, 300);

    // This process is a live owner: `preflight` above created its root.
    let me = format!("processkit-{}-", std::process::id());
    let mine = || {
        std::fs::read_dir(&parent)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&me))
    };
    assert!(mine(), "this process owns a host root");

    sweep_in_a_fresh_process("a_planted_leftover_of_a_dead_owner_is_swept_by_the_next_process");

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

/// Inside a new pid namespace: a host with one contained `sleep`, which
/// writes its cgroup root's path and runs until its stdin closes.
fn inner_host_role(dir: &std::path::Path) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let run = processkit::Command::new("sleep")
            .arg("300")
            .start()
            .await
            .unwrap();
        let parent = cgroup_parent().unwrap();
        let me = format!("processkit-{}-", std::process::id());
        let root = std::fs::read_dir(&parent)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(&me))
            .expect("this host's root")
            .path();
        std::fs::write(dir.join("root"), root.as_os_str().as_encoded_bytes()).unwrap();
        let mut buf = [0u8; 1];
        let _ = std::io::Read::read(&mut std::io::stdin(), &mut buf);
        drop(run);
    });
}

fn pids_below(dir: &std::path::Path) -> Vec<u32> {
    let mut out: Vec<u32> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(pids_below(&e.path()));
        }
    }
    out
}

/// A host in another pid namespace shares the cgroup tree but not the pid
/// numbers: its root names a pid that means something else here. It must
/// never be taken for a leftover.
#[test]
fn a_live_host_in_another_pid_namespace_is_never_swept() {
    const NAME: &str = "a_live_host_in_another_pid_namespace_is_never_swept";
    match std::env::var(ROLE_VAR).as_deref() {
        Ok("sweep") => return sweep_role(),
        Ok(dir) => return inner_host_role(std::path::Path::new(dir)),
        Err(_) => {}
    }
    assert_eq!(
        processkit::preflight().host_mechanism,
        processkit::Mechanism::CgroupV2,
        "this test needs a writable cgroup v2"
    );
    let dir = common::scratch();
    let mut inner = std::process::Command::new("unshare")
        .args(["-p", "-f", "--mount-proc"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--test-threads=1"])
        .env(ROLE_VAR, dir.path())
        .env("PROCESSKIT_NO_GUARDIAN", "1")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run unshare (util-linux, root)");
    let root_file = dir.path().join("root");
    assert!(
        common::wait_until(Duration::from_secs(10), || root_file.exists()),
        "the host in the new pid namespace did not start"
    );
    let root = PathBuf::from(std::fs::read_to_string(&root_file).unwrap());
    let members = pids_below(&root);
    assert!(!members.is_empty(), "the inner host runs a contained child");

    sweep_in_a_fresh_process(NAME);

    let survived = members.iter().all(|p| common::alive(*p));
    let root_left = root.exists();
    drop(inner.stdin.take());
    let status = inner.wait().unwrap();
    assert!(survived, "the other namespace's contained child was killed");
    assert!(root_left, "the other namespace's root was removed");
    assert!(status.success(), "the inner host failed");
}

//! Faults at the wrong moment: a full fd table at first use, a stopped
//! guardian, a teardown without free fds. None of them may cost the
//! no-orphan guarantee, and none may leave a process or a cgroup behind.
//!
//! Each test drives a separate *host*: this test binary run again with
//! `--exact fault_host` and a role (see [`ROLES`]), so the limits a fault needs
//! (a low `RLIMIT_NOFILE`) starve only that host, never the suite. The host
//! builds trees and reports pids; the test checks from the outside, through
//! `/proc` and the cgroup tree, within a bound. Every test runs on the
//! mechanism the environment picks (`PROCESSKIT_MECHANISM` is passed on).
#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::time::Duration;

use processkit::Command;

/// The hosts: which part the re-executed binary plays, the scratch
/// directory it writes pid files into, the prefix of its report lines.
const ROLES: rerun::Roles = rerun::Roles {
    role_var: "PROCESSKIT_FAULTS_TEST_ROLE",
    dir_var: "PROCESSKIT_FAULTS_TEST_DIR",
    tag: "faults-test:",
    host_test: "fault_host",
    report: REPORT,
    scratch_prefix: "pk-faults-",
};
/// The bound within which a dead host's descendants must be gone (generous:
/// the machine may be busy; the guardian acts within milliseconds).
const BOUND: Duration = Duration::from_secs(10);
/// How long a host may take to report.
const REPORT: Duration = Duration::from_secs(60);

#[path = "../common/mod.rs"]
mod common;
mod host_side;
mod hosts;
mod procfs;
#[path = "../common/rerun.rs"]
mod rerun;

use hosts::*;
use procfs::*;

// ---------------------------------------------------------------- tests ---

/// A spell of EMFILE at first use (the guardian's start, the cgroup probe,
/// the subreaper probe all fail for want of an fd) is a passing shortage:
/// once fds are free again the guardian starts, so a SIGKILLed host leaves
/// no descendant, and `preflight()` named the real reason meanwhile.
#[test]
fn a_spell_of_emfile_at_first_use_does_not_cost_the_guarantee() {
    let mut host = start_host("emfile", &[]);
    let during = host.expect("during");
    assert!(
        during.contains("Too many open files"),
        "preflight during the spell does not name the real reason: {during}"
    );
    assert!(
        !during.contains("no cgroup2 filesystem is mounted"),
        "preflight during the spell blames the host: {during}"
    );
    let guarantee = host.expect("guarantee-during");
    assert!(
        guarantee.starts_with("DropOnly") && guarantee.contains("Too many open files"),
        "{guarantee}"
    );
    let after = host.expect("after");
    assert!(
        after.contains("guarantee: guardian"),
        "the guarantee did not come back once fds were free: {after}"
    );
    let tree = host.pids("tree");
    let _cleanup = Cleanup(tree.clone());
    assert!(tree.len() >= 4, "the host reported too few pids: {tree:?}");
    assert!(tree.iter().all(Pid::alive), "the tree is not up: {tree:?}");
    host.sigkill();
    assert_gone(
        &tree,
        "descendants of a SIGKILLed host after a spell of EMFILE",
    );
}

/// A stopped guardian is not a guarantee: the next container replaces it,
/// so a SIGKILLed host leaves no descendant even though the old guardian
/// never runs again.
#[test]
fn a_stopped_guardian_is_replaced() {
    stopped_guardian_scenario(&[], 1);
}

/// On the process-group mechanism every start registers its group with the
/// guardian. A stopped guardian stops reading; the starts after the stop
/// replace it instead of waiting for it (the old guardian never runs again,
/// so a wait could only end in a timeout), and the replacement guards the
/// groups started before and after.
#[test]
fn a_stopped_guardian_does_not_hold_up_process_group_starts() {
    stopped_guardian_scenario(&[("PROCESSKIT_MECHANISM", "process-group")], 3);
}

/// A stopped guardian is replaced even while the host starts nothing: the
/// reaper thread looks at it periodically.
#[test]
fn a_stopped_guardian_of_an_idle_host_is_replaced() {
    let mut host = start_host("stopped", &[]);
    let tree = host.pids("tree");
    let old = host.pids("guardian");
    assert_eq!(old.len(), 1, "one guardian runs: {old:?}");
    let old = old[0];
    let mut cleanup = Cleanup(tree.clone());
    cleanup.0.push(old);
    signal(old.pid, "-STOP");
    let mut new = Vec::new();
    let replaced = wait_until(BOUND, || {
        new = guardians_of(host.pid())
            .into_iter()
            .filter(|g| *g != old && !g.stopped())
            .collect();
        new.len() == 1
    });
    assert!(replaced, "the stopped guardian was not replaced: {new:?}");
    cleanup.0.extend(new.iter().copied());
    assert!(tree.iter().all(Pid::alive), "the tree is not up: {tree:?}");
    host.sigkill();
    assert_gone(
        &tree,
        "descendants of an idle SIGKILLed host whose guardian was stopped",
    );
}

fn stopped_guardian_scenario(env: &[(&str, &str)], starts: usize) {
    let mut host = start_host("stopped", env);
    let mut tree = host.pids("tree");
    let old = host.pids("guardian");
    assert_eq!(old.len(), 1, "one guardian runs: {old:?}");
    let old = old[0];
    let mut cleanup = Cleanup(tree.clone());
    cleanup.0.push(old);
    signal(old.pid, "-STOP");
    // Stopped, or (the reaper's look came first) already retired.
    assert!(
        wait_until(BOUND, || old.stopped() || !old.alive()),
        "the guardian did not stop"
    );
    host.tell(&format!("next {starts}"));
    let report = host.expect("after");
    assert!(report.starts_with("Guardian"), "guarantee after: {report}");
    let more = host.pids("tree");
    tree.extend(more.iter().copied());
    cleanup.0.extend(more);
    let new: Vec<Pid> = guardians_of(host.pid())
        .into_iter()
        .filter(|g| *g != old && !g.stopped())
        .collect();
    assert_eq!(new.len(), 1, "no running replacement guardian: {new:?}");
    assert!(
        !old.alive() || !old.stopped(),
        "the stopped guardian was left in place"
    );
    assert!(tree.iter().all(Pid::alive), "the tree is not up: {tree:?}");
    host.sigkill();
    assert_gone(
        &tree,
        "descendants of a SIGKILLed host whose guardian was stopped",
    );
}

/// Teardown without a free fd (reading `cgroup.events` fails with EMFILE)
/// is tried again, not taken as "already gone": once fds are free, every
/// per-child leaf and group directory is removed while the host lives, and
/// no process is left.
#[test]
fn teardown_without_free_fds_leaves_no_leaf() {
    let mut host = start_host("teardown-emfile", &[]);
    let pids = host.pids("children");
    let root = host.expect("root");
    let _cleanup = Cleanup(pids.clone());
    host.expect("lifted");
    assert_gone(&pids, "children of a group dropped without free fds");
    if root != "none" {
        let root = PathBuf::from(root);
        let leftovers = || -> Vec<PathBuf> {
            std::fs::read_dir(&root)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                // One-shot leaves (`r<N>`) are pooled for reuse by design.
                .filter(|e| !e.file_name().to_string_lossy().starts_with('r'))
                .map(|e| e.path())
                .collect()
        };
        let clean = wait_until(BOUND, || leftovers().is_empty());
        assert!(
            clean,
            "cgroup directories left below {}: {:?}",
            root.display(),
            leftovers()
        );
    }
    host.tell("done");
    assert!(host.child.wait().expect("wait").success());
}

/// Bad paths say what is wrong with them instead of "not found; check the
/// name and PATH".
#[tokio::test]
async fn bad_paths_say_what_actually_happened() {
    use processkit::Error;
    let dir = tempfile::Builder::new()
        .prefix("pk-faults-")
        .tempdir()
        .expect("scratch dir");

    // A file where a directory is needed.
    let err = Command::new("/bin/true/").run().await.unwrap_err();
    assert!(matches!(err, Error::Spawn { .. }), "/bin/true/: {err:?}");
    let text = err.to_string();
    assert!(
        text.contains("/bin/true/") && text.contains("not a directory"),
        "{text}"
    );
    assert!(!text.contains("check the name and PATH"), "{text}");

    // A path longer than the kernel takes.
    let long = format!("/{}", "a/".repeat(2500));
    let long = long.trim_end_matches('/').to_owned();
    assert!(long.len() >= 5000);
    let err = Command::new(&long).run().await.unwrap_err();
    assert!(matches!(err, Error::Spawn { .. }), "a long path: {err:?}");
    let text = err.to_string();
    assert!(text.contains("File name too long"), "{text}");
    assert!(!text.contains("check the name and PATH"), "{text}");

    // A script whose interpreter is missing: execve says ENOENT for a file
    // that exists.
    // Written by another process (see `common::write_by_child`).
    let script = common::script(
        dir.path(),
        "needs-an-interpreter",
        "#!/nonexistent/interpreter -x\necho hi\n",
    );
    let err = Command::new(&script).run().await.unwrap_err();
    assert!(matches!(err, Error::Spawn { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("needs-an-interpreter") && text.contains("/nonexistent/interpreter"),
        "{text}"
    );
    assert!(!text.contains("check the name and PATH"), "{text}");

    // A missing program is still `NotFound`.
    let missing = dir.path().join("no-such-program");
    let err = Command::new(&missing).run().await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// A refused `clone` (the process limit reached: `EAGAIN`) is a spawn
/// error naming the program and the limit, not an I/O error "while
/// preparing the spawn". The host runs as an unprivileged user (the root
/// user is exempt from `RLIMIT_NPROC`) and sets the limit itself.
#[test]
fn a_refused_clone_is_a_spawn_error() {
    let mut host = start_host_as_user("nproc", &[]);
    let variant = host.expect("variant");
    let text = host.expect("error");
    assert_eq!(variant, "Spawn", "{text}");
    assert!(text.contains("`true`"), "{text}");
    assert!(
        text.contains("Resource temporarily unavailable") && text.contains("RLIMIT_NPROC"),
        "{text}"
    );
    assert!(host.child.wait().expect("wait").success());
}

/// When no thread can be created (the process limit reached), dropping a
/// handle still kills the tree first and reaps it without a thread: the
/// child and everything it started are gone, and no zombie of the host is
/// left while the host lives on.
#[test]
fn a_handle_dropped_when_no_thread_can_start_leaves_no_zombie() {
    // Without a guardian: a running guardian is watched from the reaper
    // thread, which would then exist before the limit is set.
    let mut host = start_host_as_user("no-threads", &[("PROCESSKIT_NO_GUARDIAN", "1")]);
    let child = host.pids("child");
    assert_eq!(child.len(), 1, "{child:?}");
    let _cleanup = Cleanup(child.clone());
    assert!(child[0].alive());
    std::fs::write(host.dir.join("go"), "").expect("tell the host");
    host.expect("dropped");
    assert_gone(&child, "the child of a handle dropped without threads");
    let host_pid = host.pid();
    let zombies = || -> Vec<u32> {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| {
                stat_fields(pid).is_some_and(|f| f[0] == "Z" && f[1] == host_pid.to_string())
            })
            .collect()
    };
    let reaped = wait_until(BOUND, || zombies().is_empty());
    assert!(reaped, "zombies of the host: {:?}", zombies());
    std::fs::write(host.dir.join("done"), "").expect("tell the host");
    assert!(host.child.wait().expect("wait").success());
}

// ---------------------------------------------------------- host side ---

/// The host: does nothing unless a role is set (then it is a re-executed
/// copy of this binary, started by one of the tests above).
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn fault_host() {
    ROLES.serve(|role, dir| async move { host_side::host_main(&role, &dir).await });
}

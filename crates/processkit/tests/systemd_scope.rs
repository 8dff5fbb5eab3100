//! Full containment for a non-root process on a systemd host, through a
//! scope that the user's systemd manager delegates (feature `systemd`), and
//! an honest, bounded fallback where there is no such manager.
//!
//! Every test drives a separate *host*: this test binary run again with
//! `--exact helper_host` and a role (see [`ROLES`]), so that each host is a fresh
//! process that has never touched processkit and still sits in the cgroup it
//! was started in. The test process itself never uses processkit (it would
//! move itself into a scope, and its hosts would then start inside it).
//!
//! Where they run:
//! * the fallback test runs everywhere; as root it starts its host as the
//!   unprivileged user 65534, whose own cgroup is not writable, with a
//!   session bus that is missing or never answers;
//! * the tests marked `runs in the systemd-test lane` need a running user
//!   manager and a host in a root-owned cgroup: `cargo xtask systemd-test`
//!   boots a Debian guest with systemd and runs them there as a non-root
//!   user from a system service, with `--ignored`.
#![cfg(all(target_os = "linux", feature = "systemd"))]

mod common;
#[path = "common/rerun.rs"]
mod rerun;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The hosts: which part the re-executed binary plays, the scratch
/// directory it writes pid files into, the prefix of its report lines.
const ROLES: rerun::Roles = rerun::Roles {
    role_var: "PROCESSKIT_SYSTEMD_TEST_ROLE",
    dir_var: "PROCESSKIT_SYSTEMD_TEST_DIR",
    tag: "systemd-test:",
    host_test: "helper_host",
    report: REPORT,
    scratch_prefix: "pk-systemd-",
};
/// How long a host may take to report (generous: the guest is emulated).
const REPORT: Duration = Duration::from_secs(60);
/// The most a fallback may take: the exchange's own limit (5 s) plus slack.
const FALLBACK_BOUND: Duration = Duration::from_secs(10);
/// How long the manager may take to drop an emptied scope (emulated guest).
const SCOPE_GONE: Duration = Duration::from_secs(20);
/// Within this, every descendant of a finished host must be gone.
const TREE_GONE: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- /proc ---

use common::{Pid, wait_until};

fn cgroup_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
        .unwrap_or_default()
}

// ------------------------------------------------------------- systemctl ---

fn systemctl_user(args: &[&str]) -> String {
    let out = std::process::Command::new("systemctl")
        .arg("--user")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run systemctl --user");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The processkit scopes the user manager lists, whatever their state.
fn listed_scopes() -> Vec<String> {
    systemctl_user(&[
        "list-units",
        "--all",
        "--no-legend",
        "--plain",
        "--type=scope",
    ])
    .lines()
    .filter_map(|l| l.split_whitespace().next())
    .filter(|u| u.starts_with("processkit-"))
    .map(str::to_owned)
    .collect()
}

/// The unit named in a host's `source` report.
fn unit_in(source: &str) -> String {
    source
        .split_whitespace()
        .map(|w| w.trim_end_matches([',', ';', ')']))
        .find(|w| w.starts_with("processkit-") && w.ends_with(".scope"))
        .unwrap_or_else(|| panic!("no scope unit named in {source:?}"))
        .to_owned()
}

// ---------------------------------------------------------------- hosts ---

use rerun::Host;

/// Starts a host with `role`; `as_nobody` runs it as user 65534 (root only),
/// from a world-readable copy of this binary.
fn start_host(role: &str, env: &[(&str, &str)], as_nobody: bool) -> Host {
    let dir = ROLES.scratch();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let exe = std::env::current_exe().expect("test binary");
    let exe = if as_nobody {
        let copy = dir.path().join("host");
        std::fs::copy(&exe, &copy).expect("copy the test binary");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        copy
    } else {
        exe
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.env_remove("PROCESSKIT_MECHANISM")
        .env_remove("PROCESSKIT_SPAWNER")
        .current_dir(dir.path());
    if as_nobody {
        cmd.uid(65534).gid(65534).env("HOME", dir.path());
    }
    ROLES.start(cmd, role, dir, env)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The tree a `tree` host reports: at least four processes.
fn tree_of(host: &Host) -> Vec<Pid> {
    let tree: Vec<Pid> = host
        .expect("tree")
        .split_whitespace()
        .filter_map(|p| Pid::of(p.parse().ok()?))
        .collect();
    assert!(tree.len() >= 4, "the host reported {tree:?}");
    tree
}

/// Once its host is gone (`after` says how), every process of `tree` goes
/// within [`TREE_GONE`], and the emptied scope `unit` within [`SCOPE_GONE`].
fn assert_tree_and_scope_gone(tree: &[Pid], unit: &str, after: &str) {
    assert!(
        wait_until(TREE_GONE, || tree.iter().all(|p| !p.alive())),
        "still alive after {after}: {:?}",
        tree.iter().filter(|p| p.alive()).collect::<Vec<_>>()
    );
    assert!(
        wait_until(SCOPE_GONE, || !listed_scopes().iter().any(|u| u == unit)),
        "{unit} is still listed after {after}: {}",
        systemctl_user(&["status", "--no-pager", unit])
    );
}

/// The host's preflight report, as `(mechanism, source, reason, took)`.
fn preflight_of(host: &Host) -> (String, String, String, Duration) {
    let mechanism = host.expect("mechanism");
    let source = host.expect("source");
    let reason = host.expect("reason");
    let took = Duration::from_millis(host.expect("took_ms").parse().expect("a number"));
    (mechanism, source, reason, took)
}

// ----------------------------------------------------- fallback (anywhere) ---

/// A host that may not create a cgroup where it stands, with a session bus
/// that is missing or never answers: it falls back to process groups within
/// the bound, says why, and still contains its children.
#[test]
fn without_a_usable_user_manager_the_host_falls_back_in_time_and_says_why() {
    let root = is_root();
    let scratch = tempfile::Builder::new()
        .prefix("pk-nobus-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let missing = scratch.path().join("missing-bus");
    let silent = scratch.path().join("silent-bus");
    // Accepts connections and never says a word.
    let listener = std::os::unix::net::UnixListener::bind(&silent).unwrap();
    std::fs::set_permissions(&silent, std::fs::Permissions::from_mode(0o777)).unwrap();

    for (what, bus) in [("missing", &missing), ("silent", &silent)] {
        let address = format!("unix:path={}", bus.display());
        let host = start_host(
            "report",
            &[
                ("DBUS_SESSION_BUS_ADDRESS", &address),
                ("XDG_RUNTIME_DIR", "/nonexistent"),
            ],
            root,
        );
        let (mechanism, source, reason, took) = preflight_of(&host);
        eprintln!("{what} bus: {mechanism} after {took:?}: {reason}");
        assert!(took < FALLBACK_BOUND, "{what} bus: preflight took {took:?}");
        if mechanism == "cgroup v2" {
            // Only possible where the host's own cgroup is writable (a
            // non-root run in a delegated cgroup): the bus was never asked.
            assert!(!root, "user 65534 cannot write a cgroup here: {source}");
            assert_eq!(source, "none", "{what} bus");
        } else {
            // The next mechanism in the order, whichever the host offers.
            assert_ne!(mechanism, "cgroup v2", "{what} bus");
            assert_eq!(source, "none", "{what} bus");
            assert!(
                reason.contains("systemd user manager") && reason.contains(&address),
                "{what} bus: the reason does not name the manager and its address: {reason}"
            );
            let expected = if what == "missing" {
                "cannot connect"
            } else {
                "no answer within"
            };
            assert!(reason.contains(expected), "{what} bus: {reason}");
        }
        assert_eq!(host.expect("ran"), "contained", "{what} bus");
        let mut host = host;
        assert!(host.finish().success(), "{what} bus: the host failed");
    }
    drop(listener);
}

// ------------------------------------------------- the systemd-test lane ---

/// `Mechanism::current()` is cgroup v2 from a scope the user manager lists;
/// the children live inside it; after an orderly exit the whole tree and the
/// scope are gone.
#[test]
#[ignore = "runs in the systemd-test lane"]
fn the_mechanism_is_a_cgroup_in_a_delegated_scope_that_systemctl_lists() {
    let mut host = start_host("tree", &[], false);
    let (mechanism, source, reason, took) = preflight_of(&host);
    assert_eq!(mechanism, "cgroup v2", "fallback reason: {reason}");
    assert!(source.contains("systemd-delegated scope"), "{source}");
    let unit = unit_in(&source);
    eprintln!("scope {unit} set up in {took:?}");
    let tree = tree_of(&host);

    assert_eq!(systemctl_user(&["is-active", &unit]).trim(), "active");
    assert_eq!(
        systemctl_user(&["show", "-p", "Delegate", "--value", &unit]).trim(),
        "yes"
    );
    assert!(listed_scopes().contains(&unit), "{:?}", listed_scopes());
    let host_cgroup = cgroup_of(host.child.id());
    assert!(
        host_cgroup.ends_with(&format!("/{unit}/host")),
        "the host is in {host_cgroup}"
    );
    for p in &tree {
        let cg = cgroup_of(p.pid);
        assert!(
            cg.contains(&format!("/{unit}/processkit-")),
            "{} is in {cg}, not below {unit}",
            p.pid
        );
    }
    let status = systemctl_user(&["status", "--no-pager", "--lines=0", &unit]);
    eprintln!("{status}");
    assert!(status.contains(&unit), "{status}");

    host.tell("exit");
    assert!(host.finish().success());
    assert_tree_and_scope_gone(&tree, &unit, "its host exited");
}

/// A SIGKILLed host: the guardian kills the tree, and the emptied scope goes.
#[test]
#[ignore = "runs in the systemd-test lane"]
fn a_sigkilled_host_leaves_no_descendant_and_no_scope() {
    let mut host = start_host("tree", &[], false);
    let (mechanism, source, reason, _) = preflight_of(&host);
    assert_eq!(mechanism, "cgroup v2", "fallback reason: {reason}");
    let unit = unit_in(&source);
    let tree = tree_of(&host);
    host.child.kill().expect("SIGKILL the host");
    let _ = host.child.wait();
    assert_tree_and_scope_gone(&tree, &unit, "its host was SIGKILLed");
}

/// A hundred hosts in a row, each with a scope of its own: none is left.
#[test]
#[ignore = "runs in the systemd-test lane"]
fn a_hundred_hosts_in_a_row_leave_no_scope() {
    let mut units = Vec::new();
    let started = Instant::now();
    for i in 0..100 {
        let mut host = start_host("once", &[], false);
        let (mechanism, source, reason, _) = preflight_of(&host);
        assert_eq!(mechanism, "cgroup v2", "host {i}: {reason}");
        units.push(unit_in(&source));
        assert_eq!(host.expect("ran"), "contained");
        assert!(host.finish().success(), "host {i} failed");
    }
    eprintln!("100 hosts in {:?}", started.elapsed());
    let mut left = Vec::new();
    let gone = wait_until(SCOPE_GONE, || {
        let listed = listed_scopes();
        left = units
            .iter()
            .filter(|u| listed.contains(u))
            .cloned()
            .collect();
        left.is_empty()
    });
    assert!(gone, "scopes left behind: {left:?}");
}

/// The user manager is stopped (the lane stops `user@<uid>.service` before it
/// runs this test): the host falls back within the bound and says why.
#[test]
#[ignore = "runs in the systemd-test lane, after it stops the user manager"]
fn with_the_user_manager_stopped_the_host_falls_back_in_time_and_says_why() {
    let mut host = start_host("report", &[], false);
    let (mechanism, source, reason, took) = preflight_of(&host);
    assert!(took < FALLBACK_BOUND, "preflight took {took:?}");
    assert_ne!(mechanism, "cgroup v2");
    assert_eq!(source, "none");
    assert!(
        reason.contains("systemd user manager"),
        "the reason does not name the manager: {reason}"
    );
    assert_eq!(host.expect("ran"), "contained");
    assert!(host.finish().success());
}

// ---------------------------------------------------------- host side ---

/// The host: does nothing unless a role is set (then it is a re-executed
/// copy of this binary, started by one of the tests above).
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn helper_host() {
    ROLES.serve(|role, dir| async move { host_main(&role, &dir).await });
}

use rerun::read_command;

fn report(key: &str, value: impl std::fmt::Display) {
    ROLES.report(key, value);
}

async fn host_main(role: &str, dir: &Path) {
    let started = Instant::now();
    // From inside the runtime, as an application would.
    let p = processkit::preflight();
    let took = started.elapsed();
    report("mechanism", p.mechanism);
    report("source", p.cgroup_source.as_deref().unwrap_or("none"));
    report("reason", p.fallback_reason.as_deref().unwrap_or("none"));
    report("took_ms", took.as_millis());
    match role {
        "report" | "once" => {
            let out = processkit::Command::new("sh")
                .args(["-c", "echo contained"])
                .output_string()
                .await
                .expect("a contained run");
            report("ran", out.stdout().trim());
        }
        "tree" => {
            let group = processkit::ProcessGroup::new().expect("group");
            let pids = dir.join("pids");
            let script = format!(
                "sleep 300 & echo $! >> {p}; \
                 setsid sleep 300 & echo $! >> {p}; \
                 sh -c 'sleep 300 & echo $! >> {p}' ; \
                 echo $$ >> {p}; wait",
                p = pids.display()
            );
            let member = group
                .start(&processkit::Command::new("sh").args(["-c", &script]))
                .await
                .expect("start the tree");
            let deadline = Instant::now() + REPORT;
            let tree = loop {
                let text = std::fs::read_to_string(&pids).unwrap_or_default();
                if text.lines().count() >= 4 {
                    break text;
                }
                assert!(Instant::now() < deadline, "the tree did not report");
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            report(
                "tree",
                tree.split_whitespace().collect::<Vec<_>>().join(" "),
            );
            let _ = read_command();
            drop((member, group));
        }
        other => panic!("unknown role {other}"),
    }
}

//! Exit codes: the command's own, 124 on timeout, 126/127, 128+N, 125 for a limit the host cannot enforce.

use predicates::prelude::*;
use std::time::{Duration, Instant};

use super::*;

#[test]
fn own_exit_code_passes_through() {
    pk().args(["run", "--", "true"]).assert().code(0);
    pk().args(["run", "--", "sh", "-c", "exit 3"])
        .assert()
        .code(3);
    pk().args(["run", "--", "sh", "-c", "exit 200"])
        .assert()
        .code(200);
}

#[test]
fn timeout_is_124_and_kills_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
    let started = Instant::now();
    let out = pk()
        .args(["run", "--timeout", "300ms", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124), "{}", stderr_of(&out));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(stderr_of(&out).contains("timed out"));
    assert_gone(read_pid(&pidfile));
}

#[test]
fn timeout_kills_after_the_grace_when_the_signal_is_ignored() {
    let started = Instant::now();
    pk().args([
        "run",
        "-t",
        "200ms",
        "-k",
        "300ms",
        "--",
        "sh",
        "-c",
        "trap '' TERM; sleep 30",
    ])
    .assert()
    .code(124);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn not_found_is_127() {
    pk().args(["run", "--", "no-such-program-processkit-test"])
        .assert()
        .code(127)
        .stderr(predicate::str::contains("no-such-program-processkit-test"));
}

#[test]
fn not_executable_is_126() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-executable");
    std::fs::write(&file, "#!/bin/sh\necho hi\n").unwrap();
    pk().args(["run", "--"]).arg(&file).assert().code(126);
}

#[test]
fn killed_by_signal_is_128_plus_n() {
    pk().args(["run", "--", "sh", "-c", "kill -9 $$"])
        .assert()
        .code(137);
    pk().args(["run", "--", "sh", "-c", "kill -15 $$"])
        .assert()
        .code(143);
}

#[test]
fn a_limit_the_host_cannot_enforce_is_refused_with_125() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let enforceable = processkit::ProcessGroup::with_options(
        processkit::ProcessGroupOptions::default().memory_max(512 << 20),
    );
    let out = pk()
        .args(["run", "--memory-max", "512M", "--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    match enforceable {
        Err(processkit::Error::ResourceLimit { .. }) => {
            assert_eq!(out.status.code(), Some(125));
            let err = stderr_of(&out);
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains("--memory-max"), "{err}");
            assert!(
                !marker.exists(),
                "the command ran despite the refused limit"
            );
        }
        Ok(_) => {
            assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
            assert!(marker.exists());
        }
        Err(e) => panic!("unexpected error creating a limited group: {e}"),
    }
}

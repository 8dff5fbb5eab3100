//! `supervise`: restarts, then stops; a SIGTERM stops it gracefully.

use std::time::{Duration, Instant};

use super::*;

#[test]
fn supervise_restarts_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let count = dir.path().join("count");
    let script = format!("echo x >> {}; exit 1", count.display());
    let out = pk()
        .args([
            "supervise",
            "--max-restarts",
            "2",
            "--backoff",
            "10ms",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 3);
    let err = stderr_of(&out);
    assert_eq!(err.matches("restarting").count(), 2, "{err}");
    assert!(err.contains("attempt 3"), "{err}");
}

#[test]
fn supervise_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let marker = dir.path().join("cleaned");
    let script = format!(
        "trap 'echo done > {m}; exit 0' TERM; echo $$ > {p}; while :; do sleep 0.05; done",
        m = marker.display(),
        p = pidfile.display()
    );
    let mut tool = std::process::Command::new(tool_path())
        .args([
            "supervise",
            "--restart",
            "always",
            "--grace",
            "5s",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let child = read_pid(&pidfile);
    assert!(alive(child));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(tool.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = tool.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "supervise did not stop");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(tool.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "done\n",
        "no graceful SIGTERM: {err}"
    );
    assert!(err.contains("stopped on request"), "{err}");
    assert!(
        !err.contains("restarting"),
        "restarted after the stop: {err}"
    );
    assert_gone(child);
}

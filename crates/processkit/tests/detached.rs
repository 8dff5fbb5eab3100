//! `spawn_detached`: the one sanctioned escape. The process outlives every
//! handle and group, runs in its own session, and is reaped (never left a
//! zombie) when it ends.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use processkit::{Command, Destination, Error, ProcessGroup};

fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

#[tokio::test]
async fn a_detached_process_outlives_groups_and_lives_in_its_own_session() {
    let dir = common::scratch();
    let pidfile = dir.path().join("pid");
    let out = dir.path().join("out");
    let marker = format!("pk-detached-{}", std::process::id());
    let pid = {
        let group = ProcessGroup::new().unwrap();
        let _contained = group.start(&Command::new("sleep").arg("30")).await.unwrap();
        let pid = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "echo $$ > {}; echo {marker}; exec sleep 30",
                    pidfile.display()
                ),
            ])
            .stdout(Destination::file(&out))
            .spawn_detached()
            .unwrap();
        group.shutdown().await.unwrap();
        pid
        // the group is dropped here too
    };
    let written = common::wait_for_pids_within(&pidfile, 1, Duration::from_secs(10)).await;
    assert_eq!(written, [pid]);
    // Still running well after the group and every handle are gone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        common::alive(pid),
        "the detached process died with the group"
    );
    assert_eq!(common::session_of(pid), Some(pid), "not in its own session");
    assert!(common::wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .contains(&marker)
    }));
    // Clean up: it is ours to stop (same pid, still our `sleep`).
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.starts_with("sleep"), "{cmdline:?}");
    // SAFETY: `pid` is alive and is the process this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    // The reaper collects it: the pid disappears instead of staying a zombie.
    assert!(
        common::wait_until(Duration::from_secs(10), || state(pid).is_none()),
        "left as {:?}",
        state(pid)
    );
}

#[tokio::test]
async fn a_detached_process_that_exits_is_reaped_not_left_a_zombie() {
    let pid = Command::new("true").spawn_detached().unwrap();
    assert!(
        common::wait_until(Duration::from_secs(10), || state(pid).is_none()),
        "pid {pid} left as {:?}",
        state(pid)
    );
}

#[tokio::test]
async fn contained_only_settings_are_refused_and_missing_programs_named() {
    for cmd in [
        Command::new("sleep")
            .arg("1")
            .timeout(Duration::from_secs(1)),
        Command::new("cat").stdin("data"),
        Command::new("true").uid(0),
        Command::new("true").umask(0o22),
    ] {
        let err = cmd.spawn_detached().unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        assert!(err.to_string().contains("spawn_detached"), "{err}");
    }
    let err = Command::new("definitely-not-a-program-pk")
        .spawn_detached()
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

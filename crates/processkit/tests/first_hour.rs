//! Behaviour a newcomer runs into early: the working directory is entered
//! with the child's own ids, and a readiness wait on a silent child says
//! why it may have seen nothing.
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use processkit::{Command, Error};

/// As std does: the directory is entered after the id change, so one the
/// child's user may not enter is refused, and the child never starts there.
#[tokio::test]
async fn a_working_directory_the_childs_user_cannot_enter_is_refused() {
    let dir = common::scratch();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = Command::new("pwd")
        .uid(65534)
        .gid(65534)
        .current_dir(&locked)
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadDirectory { ref source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_readiness_wait_on_a_silent_child_names_the_usual_cause() {
    let mut run = Command::new("sleep").arg("30").start().await.unwrap();
    let err = run
        .wait_for_line(|_| true, Duration::from_millis(300))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::NotReady { .. }), "{err:?}");
    assert!(
        msg.contains("wrote nothing") && msg.contains("PYTHONUNBUFFERED"),
        "{msg}"
    );
    run.kill().await.unwrap();

    // A child that did write, just not the line, gets the plain message.
    let mut run = Command::new("sh")
        .args(["-c", "echo booting; sleep 30"])
        .start()
        .await
        .unwrap();
    let err = run
        .wait_for_line(|l| l == "ready", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("wrote nothing"), "{err}");
    run.kill().await.unwrap();
}

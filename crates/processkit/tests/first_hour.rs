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

/// Someone coming from `tokio::process` finds the table in the README and
/// the crate docs, and rustdoc search leads from tokio's names to ours: each
/// alias sits on the item the table maps the tokio name to.
#[test]
fn tokio_names_lead_to_ours() {
    const README: &str = include_str!("../../../README.md");
    const LIB: &str = include_str!("../src/lib.rs");
    for (tokio, ours) in [
        ("spawn()", "start()"),
        ("output()", "output_bytes()"),
        ("status()", "exit_code()"),
        ("kill_on_drop(true)", "the default"),
        ("Stdio::inherit()", "Destination::inherit()"),
        ("wait_with_output()", "run.output_bytes()"),
    ] {
        for (name, text) in [("README.md", README), ("lib.rs", LIB)] {
            let row = text
                .lines()
                .find(|l| l.contains('|') && l.contains(tokio))
                .unwrap_or_else(|| panic!("{name} has no table row for `{tokio}`"));
            assert!(
                row.contains(ours),
                "{name}: `{tokio}` row lacks `{ours}`: {row}"
            );
        }
    }

    /// The item right after `#[doc(alias = "<alias>")]` (past other
    /// attributes) in `src` starts with `item`.
    fn aliased(src: &str, alias: &str, item: &str) -> bool {
        let attr = format!("#[doc(alias = \"{alias}\")]");
        let lines: Vec<&str> = src.lines().map(str::trim).collect();
        lines.iter().enumerate().any(|(i, l)| {
            *l == attr
                && lines[i + 1..]
                    .iter()
                    .find(|l| !l.starts_with("#["))
                    .is_some_and(|next| next.starts_with(item))
        })
    }
    const COMMAND: &str = include_str!("../src/command.rs");
    const VERBS: &str = include_str!("../src/verbs.rs");
    const RUNNING: &str = include_str!("../src/running/process.rs");
    const COLLECT: &str = include_str!("../src/running/process/collect.rs");
    const ACCESSORS: &str = include_str!("../src/running/process/accessors.rs");
    const OUTPUT: &str = include_str!("../src/output.rs");
    for (src, alias, item) in [
        (VERBS, "spawn", "pub async fn start("),
        (VERBS, "output", "pub async fn output_bytes("),
        (VERBS, "output", "pub async fn output_string("),
        (VERBS, "status", "pub async fn exit_code("),
        (COMMAND, "kill_on_drop", "pub struct Command"),
        (OUTPUT, "Stdio", "pub struct Destination"),
        (RUNNING, "Child", "pub struct RunningProcess"),
        (ACCESSORS, "id", "pub fn pid("),
        (COLLECT, "wait_with_output", "pub async fn output_bytes("),
        (ACCESSORS, "stdin", "pub fn standard_input("),
    ] {
        assert!(aliased(src, alias, item), "no alias `{alias}` on `{item}`");
    }
}

//! Bad input and `doctor`.

use super::*;

/// Bad input: one line naming the problem, exit 125, nothing started.
#[test]
fn bad_input_is_one_line_and_125_with_nothing_started() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let m = marker.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "--no-such-option", "--", "touch", m],
            "--no-such-option",
        ),
        (vec!["run", "touch", m], "--"),
        (
            vec!["run", "--timeout", "5 parsecs", "--", "touch", m],
            "duration",
        ),
        (
            vec!["run", "--memory-max", "lots", "--", "touch", m],
            "size",
        ),
        (vec!["run", "--signal", "NOPE", "--", "touch", m], "signal"),
        (vec!["batch", "/no/such/batch/file"], "/no/such/batch/file"),
        (vec!["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        let out = pk().args(&args).output().unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!marker.exists(), "{args:?} started the command");
    }
    // A malformed line anywhere in a batch file: nothing runs at all.
    let out = pk()
        .args(["batch", "-"])
        .write_stdin(format!("touch {m}\necho 'unbalanced\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr_of(&out).contains("line 2"));
    assert!(!marker.exists());
}

#[test]
fn doctor_reports_the_host() {
    let out = pk().args(["doctor", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pre = processkit::preflight();
    assert_eq!(doc["mechanism"], pre.mechanism.to_string());
    assert_eq!(doc["spawner"], pre.spawner);
    for l in ["memory-max", "max-processes", "cpu-quota"] {
        assert!(doc["limits"][l]["enforceable"].is_boolean(), "{doc:#}");
    }
    let text = pk().arg("doctor").output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("containment:") && text.contains(&pre.mechanism.to_string()),
        "{text}"
    );
}

//! JSON reports match the documented schemas.

use super::*;

#[test]
fn run_json_matches_the_documented_schema() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    let out = pk()
        .args(["run", "--report", "--json"])
        .arg(&file)
        .args([
            "--",
            "sh",
            "-c",
            "(sleep 304 </dev/null >/dev/null 2>&1 &) ; exit 2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("report:") && err.contains("mechanism"),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    validate(RUN_SCHEMA, &doc);
    assert_eq!(doc["exit"]["code"], 2);
    assert_eq!(doc["exit"]["status"], 2);
    assert_eq!(doc["leaked"].as_array().unwrap().len(), 1, "{doc:#}");

    // To stdout, and for a command that could not start.
    let out = pk()
        .args([
            "run",
            "--json",
            "-",
            "--",
            "no-such-program-processkit-json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    validate(RUN_SCHEMA, &doc);
    assert!(doc["error"].as_str().unwrap().contains("not found"));
}

//! End-to-end tests of the `processkit` binary: exit codes, leak reports,
//! JSON reports, batches and bad input. Every check is made from outside,
//! through the tool's exit status, its output and `/proc`.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// The tool: where cargo built it, or (in lanes that run a copy of this
/// suite elsewhere) where `CARGO_BIN_EXE_processkit` says at run time.
fn tool_path() -> std::path::PathBuf {
    std::env::var_os("CARGO_BIN_EXE_processkit")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_processkit").into())
}

fn pk() -> Command {
    let mut c = Command::new(tool_path());
    c.timeout(Duration::from_secs(60));
    c
}

#[path = "../../../processkit/tests/common/outside.rs"]
mod outside;
use outside::alive;

fn assert_gone(pid: u32) {
    outside::assert_all_gone(&[pid], Duration::from_secs(5), "the process");
}

fn read_pid(path: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && let Ok(p) = s.trim().parse()
        {
            return p;
        }
        assert!(Instant::now() < deadline, "no pid in {}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn validate(schema: &str, doc: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(schema).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{doc:#}");
}

const RUN_SCHEMA: &str = include_str!("../../../../docs/schema/run-v1.json");
const BATCH_SCHEMA: &str = include_str!("../../../../docs/schema/batch-v1.json");

mod batch;
mod containers;
mod exit_codes;
mod leaks;
mod reports;
mod run_options;
mod supervise;
mod tool;

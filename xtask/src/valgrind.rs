//! `cargo xtask valgrind`: the spawner tests under valgrind's memcheck.
//!
//! The vfork-style spawner runs child code inside the parent's address space,
//! so memory errors there would corrupt the parent; memcheck watches both.
//! One test is skipped: valgrind cannot survive an `execve` that fails inside
//! its guest ("EXEC FAILED: I can't recover"), so the exec-failure test can
//! only run natively (it does, in the main suite).

use std::process::Command;

use crate::util::{apt_install, run_checked, workspace_root};

pub fn run(args: &[String]) -> Result<(), String> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        apt_install(&["valgrind"])?;
    }
    let root = workspace_root();
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .args([
            "test",
            "-p",
            "processkit",
            "--test",
            "spawner",
            "--no-run",
            "--message-format=json",
        ])
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building the spawner tests failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let exe = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.contains("\"reason\":\"compiler-artifact\"") && l.contains("\"executable\":\"")
        })
        .filter_map(|l| {
            l.split("\"executable\":\"")
                .nth(1)?
                .split('"')
                .next()
                .map(str::to_owned)
        })
        .find(|p| p.contains("spawner"))
        .ok_or("no spawner test executable in cargo's output")?;
    let mut cmd = Command::new("valgrind");
    cmd.env("PK_SPAWN_COUNT", "100")
        .env("PK_UNDER_VALGRIND", "1");
    // Fair scheduling: the stress test has threads that never block, and
    // valgrind's default lock lets them starve everyone else.
    cmd.args([
        "--error-exitcode=99",
        "--quiet",
        "--trace-children=no",
        "--fair-sched=yes",
    ])
    .arg(&exe)
    .args([
        "--test-threads=1",
        "--skip",
        "exec_failures_are_typed_and_leave_no_zombie",
    ])
    .args(args);
    run_checked(&mut cmd).map_err(|e| format!("valgrind lane: {e}"))?;
    println!("valgrind: spawner tests passed under memcheck");
    Ok(())
}

//! Every code example of the product contract (the README), compiled as
//! written against the real API and run with real programs, plus the
//! semantics its prose states around each example.
//!
//! Placeholder programs are swapped for real ones: servers and workers are
//! small `sh`/`perl` scripts written to a scratch directory, `cargo` is
//! `git`, and `git` runs in a scratch repository made for the test. Every
//! outcome is checked from the outside (`/proc`, marker files), with
//! deadlines instead of bare sleeps.

#![cfg(unix)]

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use processkit::{Command, Error, Mechanism};

// ----- helpers ---------------------------------------------------------------

#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)]
use common::{DEADLINE, assert_gone, eventually, pids_in, script, session_of, wait_for_pids};

use common::alive;

#[cfg(feature = "process-control")]
/// The one-letter scheduler state of `pid` (`R`, `S`, `T`, …).
fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// A scratch directory, removed on drop.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pk-spec-")
        .tempdir()
        .expect("a scratch directory")
}

#[cfg(feature = "process-control")]
#[cfg(feature = "process-control")]
use common::cgroup2_mount;

#[cfg(feature = "process-control")]
/// `true` when `pid` is held still: frozen by its cgroup (cgroup v2) or
/// stopped by SIGSTOP (process groups).
fn held_still(pid: u32) -> bool {
    if Mechanism::current() == Mechanism::CgroupV2 {
        let Ok(cg) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            return false;
        };
        let Some(rel) = cg.lines().find_map(|l| l.strip_prefix("0::")) else {
            return false;
        };
        let Some(mount) = cgroup2_mount() else {
            return false;
        };
        let events = mount
            .join(rel.trim_start_matches('/'))
            .join("cgroup.events");
        std::fs::read_to_string(events).is_ok_and(|e| e.lines().any(|l| l == "frozen 1"))
    } else {
        state_of(pid) == Some('T')
    }
}

/// `true` when this process ignores SIGHUP (it runs under `nohup`): its
/// children inherit that, and a shell cannot trap it then.
#[cfg(feature = "process-control")]
fn hup_ignored_here() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & 1 != 0)
}

/// Runs `git` with a fixed identity in `dir` (test setup only).
fn git(dir: &Path, args: &[&str], author: &str) {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", author)
        .env("GIT_AUTHOR_EMAIL", format!("{author}@example.test"))
        .env("GIT_COMMITTER_NAME", author)
        .env("GIT_COMMITTER_EMAIL", format!("{author}@example.test"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A scratch repository with three commits: two by Alice, one by Bob.
fn repo() -> tempfile::TempDir {
    let dir = scratch();
    git(dir.path(), &["init", "-q"], "Alice");
    for (i, who) in ["Alice", "Bob", "Alice"].iter().enumerate() {
        std::fs::write(dir.path().join("f"), format!("{i}\n")).unwrap();
        git(dir.path(), &["add", "f"], who);
        git(
            dir.path(),
            &["commit", "-q", "-m", &format!("change {i}")],
            who,
        );
    }
    dir
}

mod basics;
mod composition;
mod record_replay;

//! `kill_on_parent_death` follows the *process*: a child started from a
//! thread that then exits keeps running, and dies once the host process is
//! SIGKILLed, also after a `uid`/`gid` change, on every Linux spawner. The
//! guardian is disabled in the hosts, so only the death signal can act.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::time::Duration;

use processkit::Command;

const ROLE_VAR: &str = "PK_PARENT_DEATH_ROLE";

fn report(key: &str, value: impl std::fmt::Display) {
    println!("report: {key} {value}");
    std::io::stdout().flush().unwrap();
}

fn wait_for_stdin() {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// The host side, in a re-executed copy of this binary.
fn host(role: &str) {
    match role {
        "thread" => {
            // Started on a thread that ends right after; the handle lives on.
            let run = std::thread::spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(
                    Command::new("sleep")
                        .arg("300")
                        .kill_on_parent_death()
                        .start(),
                )
                .unwrap()
            })
            .join()
            .unwrap();
            report("child", run.pid().unwrap());
            wait_for_stdin();
            drop(run);
        }
        "uid" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap();
            let run = rt
                .block_on(
                    Command::new("sleep")
                        .arg("300")
                        .uid(65534)
                        .gid(65534)
                        .kill_on_parent_death()
                        .start(),
                )
                .unwrap();
            report("child", run.pid().unwrap());
            // SAFETY: plain prctl query on this process.
            let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
            report("dumpable", dumpable);
            wait_for_stdin();
            drop(run);
        }
        other => panic!("unknown role {other}"),
    }
}

struct Host {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Host {
    fn start(test: &str, role: &str, spawner: Option<&str>) -> Host {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(ROLE_VAR, role)
            .env("PROCESSKIT_NO_GUARDIAN", "1")
            .env_remove("PROCESSKIT_SPAWNER")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if let Some(s) = spawner {
            cmd.env("PROCESSKIT_SPAWNER", s);
        }
        let mut child = cmd.spawn().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Host { child, lines }
    }

    fn expect(&mut self, key: &str) -> String {
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            if let Some((_, rest)) = line.split_once("report: ")
                && let Some(v) = rest.strip_prefix(key)
            {
                return v.trim().to_owned();
            }
        }
        panic!("the host ended without reporting {key}");
    }

    fn sigkill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

fn uid_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

const SPAWNERS: [Option<&str>; 3] = [None, Some("clone"), Some("std")];

#[test]
fn a_child_started_from_a_thread_that_exits_lives_until_the_process_dies() {
    const NAME: &str = "a_child_started_from_a_thread_that_exits_lives_until_the_process_dies";
    if let Ok(role) = std::env::var(ROLE_VAR) {
        return host(&role);
    }
    for spawner in SPAWNERS {
        let mut h = Host::start(NAME, "thread", spawner);
        let pid: u32 = h.expect("child").parse().unwrap();
        // The spawning thread is gone; the child must not have followed it.
        std::thread::sleep(Duration::from_secs(1));
        let alive = common::alive(pid);
        h.sigkill();
        assert!(
            alive,
            "spawner {spawner:?}: the child died with the thread that started it"
        );
        common::assert_all_gone(
            &[pid],
            Duration::from_secs(1),
            &format!("spawner {spawner:?}: the child after its host was SIGKILLed"),
        );
    }
}

#[test]
fn a_child_that_changes_its_ids_still_dies_with_the_host_and_the_host_stays_dumpable() {
    const NAME: &str =
        "a_child_that_changes_its_ids_still_dies_with_the_host_and_the_host_stays_dumpable";
    if let Ok(role) = std::env::var(ROLE_VAR) {
        return host(&role);
    }
    for spawner in SPAWNERS {
        let mut h = Host::start(NAME, "uid", spawner);
        let pid: u32 = h.expect("child").parse().unwrap();
        let dumpable = h.expect("dumpable");
        let uid = uid_of(pid);
        h.sigkill();
        assert_eq!(uid, Some(65534), "spawner {spawner:?}: the child's uid");
        assert_eq!(
            dumpable, "1",
            "spawner {spawner:?}: the host lost its dumpable flag"
        );
        common::assert_all_gone(
            &[pid],
            Duration::from_secs(1),
            &format!("spawner {spawner:?}: the child after its host was SIGKILLed"),
        );
    }
}

//! Terminal behaviour, in a real terminal: the tool runs in a `tmux` pane
//! (a private server per test, `-L`), keys are sent to it, and the screen
//! and `/proc` are checked from outside. CI installs tmux.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_processkit");

struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts a private tmux server running `script` (through `sh -c`) in
    /// a 150x40 pane. The pane prints `EXIT=<status>` when the tool ends.
    fn start(script: &str) -> Tmux {
        static N: AtomicU32 = AtomicU32::new(0);
        let socket = format!(
            "processkit-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let t = Tmux { socket };
        let line = format!("{script}; echo EXIT=$?; sleep 600");
        let out = t.tmux(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "150",
            "-y",
            "40",
            &line,
        ]);
        assert!(
            out.status.success(),
            "tmux failed to start (is tmux installed?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux is not installed")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        assert!(self.tmux(&["send-keys", "-t", "t", keys]).status.success());
    }

    /// Waits (bounded) until the screen satisfies `pred`; returns it.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

#[path = "../../processkit/tests/common/outside.rs"]
mod outside;

fn assert_gone(pid: u32) {
    outside::assert_all_gone(&[pid], Duration::from_secs(5), "the process");
}

fn pids(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn wait_pids(path: &Path, n: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = pids(path);
        if p.len() >= n {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} pids in {}",
            p.len(),
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn exit_of(screen: &str) -> Option<i32> {
    screen
        .lines()
        .find_map(|l| l.trim().strip_prefix("EXIT="))
        .and_then(|c| c.parse().ok())
}

#[test]
fn progress_bar_draws_and_clears() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("batch.txt");
    std::fs::write(&file, "sleep 0.4\n".repeat(8)).unwrap();
    let t = Tmux::start(&format!("{BIN} batch -j 2 {}", file.display()));
    let drawn = t.wait_for("the progress bar", |s| {
        s.contains("/8 done") && s.contains("running:")
    });
    assert!(drawn.contains("ETA"), "{drawn}");
    let end = t.wait_for("the end of the batch", |s| exit_of(s).is_some());
    assert_eq!(exit_of(&end), Some(0), "{end}");
    assert!(!end.contains("/8 done"), "the bar was not cleared:\n{end}");
    assert!(!end.contains("ETA"), "the bar was not cleared:\n{end}");
    assert!(end.contains("8 commands"), "{end}");
}

#[test]
fn ctrl_c_during_run_reaches_the_command_and_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("got-int");
    let pidfile = dir.path().join("pids");
    let script = format!(
        "trap 'echo INT >> {m}; exit 5' INT; echo $$ > {p}; setsid sleep 307 & echo $! >> {p}; \
         while :; do sleep 0.05; done",
        m = marker.display(),
        p = pidfile.display()
    );
    let file = dir.path().join("script.sh");
    std::fs::write(&file, script).unwrap();
    let t = Tmux::start(&format!("{BIN} run -k 500ms -- sh {}", file.display()));
    let pids = wait_pids(&pidfile, 2);
    t.keys("C-c");
    let end = t.wait_for("the tool to exit", |s| exit_of(s).is_some());
    assert_eq!(
        exit_of(&end),
        Some(5),
        "the command's own exit after its trap:\n{end}"
    );
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "INT\n",
        "the command saw SIGINT once, as without the tool"
    );
    for pid in pids {
        assert_gone(pid);
    }
    assert!(
        end.contains("307") || end.contains("sleep"),
        "leftover not reported:\n{end}"
    );
}

#[test]
fn ctrl_c_during_batch_kills_every_tree() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let file = dir.path().join("batch.txt");
    let line = format!(
        "sh -c 'echo $$ >> {p}; setsid sleep 308 & echo $! >> {p}; wait'\n",
        p = pidfile.display()
    );
    std::fs::write(&file, line.repeat(9)).unwrap();
    let t = Tmux::start(&format!("{BIN} batch -j 3 {}", file.display()));
    let started = wait_pids(&pidfile, 6);
    t.keys("C-c");
    let end = t.wait_for("the batch to stop", |s| exit_of(s).is_some());
    assert_eq!(exit_of(&end), Some(130), "{end}");
    assert!(end.contains("interrupted"), "{end}");
    for pid in &started {
        assert_gone(*pid);
    }
    // Nothing was started after the interrupt.
    let all = pids(&pidfile);
    for pid in all {
        assert_gone(pid);
    }
    assert!(pids(&pidfile).len() <= 6, "commands started after Ctrl-C");
}

//! Shows the main job: a process tree with a `setsid` escapee is reaped as a unit when its owner goes away.
//!
//! Run with `cargo run --example no_orphans`. The child shell starts two
//! grandchildren — one in the background, one in a brand-new session (the
//! classic way a daemon escapes its parent's process group) — and prints
//! their pids. Dropping the handle tears the whole tree down, and the
//! example checks the kernel's own view (`/proc`) to show that nothing
//! survived.

use std::time::{Duration, Instant};

use processkit::{Command, StreamExt};

#[tokio::main]
async fn main() -> processkit::Result<()> {
    let report = processkit::preflight();
    println!("containment : {}", report.mechanism);
    println!("spawner     : {}", report.spawner);
    println!("guarantee   : {}", report.guarantee);
    if let Some(why) = &report.fallback_reason {
        println!("note        : weaker mechanism in use because {why}");
    }

    let script = r#"
        sleep 300 &
        echo "background $!"
        setsid sleep 300 &
        echo "new-session $!"
        echo ready
        wait
    "#;
    let mut tree = Command::new("sh").args(["-c", script]).start().await?;
    let shell = tree.pid().expect("a real process has a pid");
    println!("\nstarted     : sh (pid {shell})");

    let mut pids = vec![("sh", shell)];
    let mut lines = tree.stdout_lines();
    while let Some(line) = lines.next().await {
        if line == "ready" {
            break;
        }
        if let Some((kind, pid)) = line.split_once(' ') {
            let pid: u32 = pid.parse().expect("the shell prints numeric pids");
            let label = if kind == "new-session" {
                "sleep (setsid)"
            } else {
                "sleep (background)"
            };
            if kind == "new-session" {
                // Give `setsid` a moment to leave the shell's session.
                let until = Instant::now() + Duration::from_secs(1);
                while session_of(pid) == session_of(shell) && Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            println!(
                "  grandchild: {label:<20} pid {pid:<7} session {}",
                session_of(pid)
            );
            pids.push((label, pid));
        }
    }
    println!("  (the shell itself is in session {})", session_of(shell));

    println!("\ndropping the handle...");
    let dropped = Instant::now();
    drop(tree);

    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let alive: Vec<_> = pids.iter().filter(|(_, pid)| is_alive(*pid)).collect();
        if alive.is_empty() {
            for (label, pid) in &pids {
                println!("  {label:<20} pid {pid:<7} gone");
            }
            println!(
                "\nall {} processes gone {:?} after the drop — no orphans.",
                pids.len(),
                dropped.elapsed()
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            for (label, pid) in alive {
                println!("  {label:<20} pid {pid:<7} STILL RUNNING");
            }
            println!(
                "\nthe {} mechanism could not catch every escapee (see docs/platform-support.md)",
                report.mechanism
            );
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The session id of `pid`, from `/proc/<pid>/stat` (Linux), or "?" elsewhere.
fn session_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().nth(3).unwrap_or("?").to_owned())
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// Alive means: exists and is not a zombie.
fn is_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(s) => !matches!(
                s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().chars().next()),
                Some(Some('Z' | 'X'))
            ),
            Err(_) => false,
        }
    } else {
        std::process::Command::new("kill")
            .args(["-0", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }
}

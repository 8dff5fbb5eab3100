//! No fd growth across many runs. Alone in its own test binary so no
//! concurrently running test opens fds while it counts.
#![cfg(target_os = "linux")]

mod common;

use processkit::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fd_growth_over_300_runs() {
    // Warm up: first use creates the host cgroup and may start helpers.
    for _ in 0..5 {
        Command::new("true").run().await.unwrap();
    }
    let before = common::fd_count();
    for i in 0..300 {
        let cmd = match i % 3 {
            0 => Command::new("true"),
            1 => Command::new("sh").args(["-c", "echo out; echo err >&2"]),
            _ => Command::new("cat").stdin("some input"),
        };
        cmd.output_string().await.unwrap();
    }
    let after = common::fd_count();
    assert!(
        after <= before + 4,
        "fds grew from {before} to {after} over 300 runs"
    );
}

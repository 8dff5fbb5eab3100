//! The timeouts-and-cancellation guide in one program: a graceful timeout,
//! an inactivity deadline and accepted exit codes.
//!
//! Run with `cargo run --example timeouts`.

use std::time::Duration;

use processkit::Command;

#[tokio::main]
async fn main() -> processkit::Result<()> {
    // SIGTERM at the deadline, SIGKILL only if still running after 2 s.
    let r = Command::new("sh")
        .args([
            "-c",
            "trap 'echo cleaning up; exit 0' TERM; while :; do sleep 0.05; done",
        ])
        .timeout(Duration::from_millis(300))
        .grace_period(Duration::from_secs(2))
        .output_string()
        .await?;
    println!(
        "timed out: {}, exit {:?}, said {:?}",
        r.timed_out(),
        r.code(),
        r.stdout()
    );

    // Printed once, then nothing: ended by the inactivity deadline.
    let r = Command::new("sh")
        .args(["-c", "echo started; sleep 30"])
        .idle_timeout(Duration::from_millis(300))
        .output_string()
        .await?;
    println!(
        "idle: {}, wall clock: {}",
        r.idle_timed_out(),
        r.timed_out()
    );

    // Exit code 1 is fine for this command.
    let code = Command::new("sh")
        .args(["-c", "exit 1"])
        .ok_codes([0, 1])
        .exit_code()
        .await?;
    println!("accepted exit code {code}");
    Ok(())
}

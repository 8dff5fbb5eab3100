//! The supervision guide in one program: restart a crashing command with
//! back-off until a limit, then report.
//!
//! Run with `cargo run --example supervision`.

use std::time::Duration;

use processkit::{Command, RestartPolicy, Supervisor};

#[tokio::main]
async fn main() -> processkit::Result<()> {
    let outcome = Supervisor::new(Command::new("sh").args(["-c", "echo working; exit 1"]))
        .restart(RestartPolicy::OnCrash)
        .max_restarts(3)
        .backoff(Duration::from_millis(50), 2.0)
        .run()
        .await?;
    println!(
        "stopped: {:?} after {} restarts ({} failures)",
        outcome.stopped, outcome.restarts, outcome.failures
    );
    Ok(())
}

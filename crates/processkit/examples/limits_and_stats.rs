//! The limits-and-stats guide in one program: profile one run's whole tree.
//!
//! Run with `cargo run --example limits_and_stats`.

use std::time::Duration;

use processkit::Command;

#[tokio::main]
async fn main() -> processkit::Result<()> {
    let run = Command::new("sh")
        .args(["-c", "seq 200000 | sort -r > /dev/null"])
        .start()
        .await?;
    let profile = run.profile(Duration::from_millis(10)).await?;
    println!(
        "exit {:?} in {:?}, cpu {:?}, peak memory {:?} bytes, {} samples",
        profile.exit_code,
        profile.duration,
        profile.cpu_time(),
        profile.peak_memory_bytes,
        profile.samples
    );
    Ok(())
}

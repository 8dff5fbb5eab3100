//! The process-groups guide in one program: several processes in one
//! container, a graceful shutdown and its report.
//!
//! Run with `cargo run --example process_groups`.

use std::time::Duration;

use processkit::{Command, ProcessGroup, ProcessGroupOptions};

#[tokio::main]
async fn main() -> processkit::Result<()> {
    let group = ProcessGroup::with_options(
        ProcessGroupOptions::default().grace(Duration::from_millis(500)),
    )?;
    println!("mechanism: {}", group.mechanism());
    let _polite = group.start(&Command::new("sleep").arg("30")).await?;
    let _stubborn = group
        .start(&Command::new("sh").args(["-c", "trap '' TERM; sleep 30"]))
        .await?;
    let report = group.shutdown().await?;
    println!(
        "shutdown: {} got SIGTERM, {} needed SIGKILL, took {:?}",
        report.signalled, report.killed, report.duration
    );
    assert!(group.is_empty()?);
    Ok(())
}

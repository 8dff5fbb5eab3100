//! The streaming guide in one program: read lines as they come, then the
//! exit code and stderr.
//!
//! Run with `cargo run --example streaming`.

use processkit::{Command, StreamExt};

#[tokio::main]
async fn main() -> processkit::Result<()> {
    let mut run = Command::new("sh")
        .args([
            "-c",
            "for i in 1 2 3; do echo step $i; sleep 0.1; done; echo done >&2",
        ])
        .start()
        .await?;
    let mut lines = run.stdout_lines();
    while let Some(line) = lines.next().await {
        println!("got: {line}");
    }
    let (code, stderr) = run.finish_streamed().await?;
    println!("exit {code:?}, stderr {stderr:?}");
    Ok(())
}

//! The testing guide in one program: the same function against a scripted
//! double and against the real runner.
//!
//! Run with `cargo run --example testing`.

use processkit::{Command, JobRunner, ProcessRunner, ProcessRunnerExt, Result, ScriptedRunner};

async fn kernel_name(runner: &impl ProcessRunner) -> Result<String> {
    runner.run(&Command::new("uname").arg("-s")).await
}

#[tokio::main]
async fn main() -> Result<()> {
    let scripted = ScriptedRunner::new().on(["uname", "-s"], "Plan9\n");
    println!("scripted: {}", kernel_name(&scripted).await?);
    println!("real:     {}", kernel_name(&JobRunner).await?);
    Ok(())
}

//! The pipelines guide in one program: `a | b | c` without a shell, with
//! pipefail attribution.
//!
//! Run with `cargo run --example pipelines`.

use processkit::Command;

#[tokio::main]
async fn main() -> processkit::Result<()> {
    let counts = (Command::new("printf").arg("b\\na\\nb\\n")
        | Command::new("sort")
        | Command::new("uniq").arg("-c"))
    .run()
    .await?;
    println!("{counts}");
    // `grep` finding nothing is expected here: accept its exit code 1.
    let none = (Command::new("printf").arg("x\\n")
        | Command::new("grep").arg("zzz").ok_codes([0, 1]))
    .run()
    .await?;
    println!("no match: {none:?}");
    let err = (Command::new("printf").arg("x\\n") | Command::new("grep").arg("zzz"))
        .run()
        .await
        .unwrap_err();
    println!("strict: {err}");
    Ok(())
}

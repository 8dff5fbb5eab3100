//! The one sanctioned escape: a process that outlives this program (what a
//! CLI does to open a browser or an editor for its user).
//!
//! Run with `cargo run --example detached`.

use processkit::Command;

fn main() -> processkit::Result<()> {
    let pid = Command::new("sh")
        .args(["-c", "sleep 2; echo detached child finished"])
        .spawn_detached()?;
    println!("started {pid}; it keeps running after this program exits");
    Ok(())
}

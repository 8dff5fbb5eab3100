//! Quick smoke run of the main verbs.
use processkit::{Command, Stdin};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> processkit::Result<()> {
    println!("{}", processkit::preflight());
    println!("{}", Command::new("echo").arg("hello").run().await?);
    let r = Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]).output_string().await?;
    println!("{:?} {:?} {:?}", r.code(), r.stdout(), r.stderr());
    let t = Instant::now();
    let out = Command::new("sh").args(["-c", "sleep 30 & echo done"]).run().await?;
    println!("{out} in {:?}", t.elapsed());
    let t = Instant::now();
    let r = Command::new("sh").args(["-c", "sleep 30 & sleep 30"]).timeout(Duration::from_millis(200)).output_string().await?;
    println!("timed_out={} in {:?}", r.timed_out(), t.elapsed());
    let sorted = Command::new("sort").stdin(Stdin::from_string("banana\napple\n")).output_string().await?;
    println!("{}", sorted.stdout());
    println!("{:?}", Command::new("nope-xyz").run().await);
    println!("{:?}", Command::new("ls").current_dir("/nonexistent").run().await);
    println!("{:?}", Command::new("ls").arg("a\0b").run().await);
    let t = Instant::now();
    for _ in 0..200 { Command::new("true").run().await?; }
    println!("200 runs {:?}", t.elapsed());
    Ok(())
}

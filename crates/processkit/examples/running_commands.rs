//! The running-commands guide in one program: the verbs, output
//! destinations, bounded capture, typed output and spawn knobs.
//!
//! Run with `cargo run --example running_commands`.

use processkit::{CaptureLimit, Command, Destination, Error};

#[tokio::main]
async fn main() -> processkit::Result<()> {
    // Trimmed stdout, success required.
    let kernel = Command::new("uname").arg("-s").run().await?;
    println!("kernel: {kernel}");

    // The full outcome as data.
    let r = Command::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 3"])
        .output_string()
        .await?;
    println!(
        "exit {:?}, stdout {:?}, stderr {:?}",
        r.code(),
        r.stdout(),
        r.stderr()
    );

    // Straight to this terminal, like a build tool run by hand.
    Command::new("echo")
        .arg("this line went straight to the terminal")
        .stdout(Destination::inherit())
        .exit_code()
        .await?;

    // Both streams in write order on one pipe (2>&1).
    let merged = Command::new("sh")
        .args(["-c", "echo 1; echo 2 >&2; echo 3"])
        .stderr_to_stdout()
        .run()
        .await?;
    println!("merged: {merged:?}");

    // A chatty child under a 64 KiB tail cap.
    let r = Command::new("seq")
        .arg("200000")
        .output_limit(CaptureLimit::tail(64 * 1024))
        .output_bytes()
        .await?;
    println!(
        "kept {} bytes, dropped {}",
        r.stdout().len(),
        r.stdout_dropped()
    );

    // Typed output.
    let lines: usize = Command::new("sh")
        .args(["-c", "seq 5 | wc -l"])
        .try_parse(|s| s.trim().parse())
        .await?;
    println!("lines: {lines}");

    // A verb that reads stdout says so when stdout goes elsewhere.
    match Command::new("echo").stdout(Destination::null()).run().await {
        Err(Error::OutputNotCaptured {
            verb, destination, ..
        }) => println!("{verb}: stdout is {destination}"),
        other => println!("unexpected: {other:?}"),
    }

    // Spawn knobs (Unix), applied in the child.
    #[cfg(unix)]
    {
        let out = Command::new("sh")
            .args([
                "-c",
                "echo $0 umask=$(umask) nofile=$(ulimit -n) nice=$(nice)",
            ])
            .arg0("knobs-demo")
            .umask(0o077)
            .rlimit(processkit::Resource::NoFile, 256, 256)
            .priority(5)
            .run()
            .await?;
        println!("{out}");
    }
    Ok(())
}

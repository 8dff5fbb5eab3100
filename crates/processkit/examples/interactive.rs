//! Shows a child on a pseudo-terminal driven like a person at a keyboard: type a line, read the answer, Ctrl-C, resize, Ctrl-D.
//!
//! Run with `cargo run --example interactive --features pty`. The child is
//! an interactive shell (`sh -i`) on a new 80 × 24 terminal. The example
//! types a command and reads its answer, starts a `sleep` and interrupts it
//! with Ctrl-C (the shell survives, as in a terminal window), resizes the
//! window, and ends the session with Ctrl-D. The shell and everything it
//! starts live in the run's container, like any other run.

use std::time::Duration;

use processkit::Command;

const PROMPT: &str = "example>";
const WITHIN: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> processkit::Result<()> {
    let mut shell = Command::new("sh")
        .arg("-i")
        // A prompt that ends its line, so that answers get lines of their own.
        .env("PS1", format!("{PROMPT}\n"))
        .pty()
        .timeout(Duration::from_secs(60))
        .start()
        .await?;
    let term = shell.terminal().expect("started with pty()");
    let mut keys = shell.standard_input().expect("a terminal takes input");
    println!("containment : {}", processkit::preflight().mechanism);
    println!("window      : {:?}", term.size()?);

    shell.wait_for_line(|l| l == PROMPT, WITHIN).await?;
    keys.write_line("test -t 1 && echo on-a-terminal").await?;
    let answer = shell
        .wait_for_line(|l| l == "on-a-terminal", WITHIN)
        .await?;
    println!("shell says  : {answer}");

    // The job says it is ready once it runs: by then the shell has made it
    // the terminal's foreground job.
    keys.write_line("sh -c 'echo sleeping; exec sleep 300'")
        .await?;
    shell.wait_for_line(|l| l == "sleeping", WITHIN).await?;
    term.interrupt()?; // Ctrl-C: SIGINT for the foreground sleep only
    keys.write_line("echo sleep-ended-with=$?").await?;
    let status = shell
        .wait_for_line(|l| l.starts_with("sleep-ended-with="), WITHIN)
        .await?;
    println!("after Ctrl-C: {status} (128 + SIGINT)");

    term.resize(120, 40)?;
    keys.write_line("stty size").await?;
    let size = shell.wait_for_line(|l| l == "40 120", WITHIN).await?;
    println!("stty size   : {size}");

    term.send_eof()?; // Ctrl-D: the shell reads end-of-file and exits
    println!("exit code   : {:?}", shell.wait().await?);
    Ok(())
}

//! Output, stdin and waiting: capture in full, no deadlock, reuse of one command from many tasks.

use processkit::{Command, Stdin, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

// ----- output handling -------------------------------------------------------------------

/// Large stdout and stderr written at the same time are both captured in
/// full (no pipe deadlock), byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_interleaved_stdout_and_stderr_are_captured_in_full() -> processkit::Result<()> {
    let dir = scratch();
    let blob: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let file = dir.path().join("blob");
    std::fs::write(&file, &blob).unwrap();
    let r = Command::new("sh")
        .args([
            "-c",
            &format!("cat {0} >&2 & cat {0}; wait", file.display()),
        ])
        .output_bytes()
        .await?;
    assert_eq!(r.code(), Some(0));
    assert!(
        r.stdout() == &blob,
        "stdout differs ({} bytes)",
        r.stdout().len()
    );
    assert!(
        r.stderr() == &blob,
        "stderr differs ({} bytes)",
        r.stderr().len()
    );

    // Line-interleaved text keeps each stream's own order.
    let r = Command::new("sh")
        .args([
            "-c",
            "i=0; while [ $i -lt 20000 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done",
        ])
        .output_string()
        .await?;
    let out: Vec<&str> = r.stdout().lines().collect();
    let err: Vec<&str> = r.stderr().lines().collect();
    assert_eq!((out.len(), err.len()), (20000, 20000));
    assert!(out.iter().enumerate().all(|(i, l)| *l == format!("out{i}")));
    assert!(err.iter().enumerate().all(|(i, l)| *l == format!("err{i}")));
    Ok(())
}

/// Feeding a lot of stdin while the child writes a lot of stdout does not
/// deadlock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_stdin_and_big_stdout_at_once_do_not_deadlock() -> processkit::Result<()> {
    let input: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new("cat")
            .stdin(Stdin::from_bytes(input.clone()))
            .output_bytes(),
    )
    .await
    .expect("no deadlock")?;
    assert!(
        r.stdout() == &input,
        "cat echoed {} bytes",
        r.stdout().len()
    );
    Ok(())
}

/// The consumer stops reading early: `first_line` on `yes` returns at once
/// and `yes` is killed; so is a streamed `yes` whose handle is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_stdout_early_on_yes_returns_and_kills_it() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pid");
    let t0 = Instant::now();
    let line = Command::new("sh")
        .args(["-c", &format!("echo $$ > {}; exec yes", pidfile.display())])
        .first_line(|l| l == "y")
        .await?;
    assert_eq!(line.as_deref(), Some("y"));
    assert!(t0.elapsed() < DEADLINE);
    assert_gone(&pids_in(&pidfile), "yes after first_line").await;

    // Plain `yes`, as a user would write it.
    assert_eq!(
        Command::new("yes").first_line(|_| true).await?.as_deref(),
        Some("y")
    );

    let mut run = Command::new("yes").arg("stream").start().await?;
    let pid = run.pid().unwrap();
    let ten: Vec<String> = run.stdout_lines().take(10).collect().await;
    assert_eq!(ten, vec!["stream"; 10]);
    drop(run);
    assert_gone(&[pid], "streamed yes after drop").await;
    Ok(())
}

/// A child that closes its stdout but keeps running is still waited for:
/// capture returns its real exit code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_closes_stdout_early_is_still_waited_for() -> processkit::Result<()> {
    let r = Command::new("sh")
        .args(["-c", "echo early; exec >&- 2>&-; sleep 0.3; exit 3"])
        .output_string()
        .await?;
    assert_eq!((r.code(), r.stdout().as_str()), (Some(3), "early\n"));
    Ok(())
}

// ----- reuse and concurrency ---------------------------------------------------------------------

/// One `Command` value run concurrently from many tasks: every run is its
/// own process, and all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_value_runs_concurrently_from_many_tasks() -> processkit::Result<()> {
    let cmd = Arc::new(Command::new("sh").args(["-c", "echo $$; sleep 0.05"]));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let cmd = cmd.clone();
        tasks.spawn(async move { cmd.run().await });
    }
    let mut pids = Vec::new();
    while let Some(r) = tasks.join_next().await {
        pids.push(r.unwrap()?.parse::<u32>().unwrap());
    }
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 32, "every run was its own process");

    // Clones and the original stay independent.
    let base = Command::new("sh").args(["-c", "echo $V"]).env("V", "base");
    let changed = base.clone().env("V", "clone");
    let (a, b) = tokio::join!(base.run(), changed.run());
    assert_eq!((a?.as_str(), b?.as_str()), ("base", "clone"));
    Ok(())
}

// ----- stdin sources ---------------------------------------------------------------------------------

/// `Stdin::from_lines` fed by a tokio mpsc channel: lines reach the child as
/// they are sent (a conversation, not a batch), and closing the channel is
/// EOF.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_from_a_channel_is_streamed_line_by_line() -> processkit::Result<()> {
    use tokio_stream::wrappers::ReceiverStream;
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(4);
    let mut run = Command::new("cat")
        .stdin(Stdin::from_lines(ReceiverStream::new(rx)))
        .start()
        .await?;
    for word in ["alpha", "beta", "gamma"] {
        tx.send(word.to_owned()).await.unwrap();
        let echoed = tokio::time::timeout(DEADLINE, run.stdout_lines().next())
            .await
            .expect("cat echoed the line before the next was sent");
        assert_eq!(echoed.as_deref(), Some(word));
    }
    drop(tx); // EOF
    let (code, _) = tokio::time::timeout(DEADLINE, run.finish_streamed())
        .await
        .expect("closing the channel ended stdin")?;
    assert_eq!(code, Some(0));

    // A producer task feeding thousands of lines into a capture verb.
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(16);
    let producer = tokio::spawn(async move {
        for i in (0..5000).rev() {
            tx.send(i.to_string()).await.unwrap();
        }
    });
    let sorted = Command::new("sort")
        .arg("-n")
        .stdin(Stdin::from_lines(ReceiverStream::new(rx)))
        .output_string()
        .await?;
    producer.await.unwrap();
    let nums: Vec<u32> = sorted
        .stdout()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(nums, (0..5000).collect::<Vec<u32>>());
    Ok(())
}

// ----- waiting, then reading ----------------------------------------------------------------------

/// `wait()` keeps a chatty child from blocking on a full pipe, and the
/// output it buffered is still there for `stdout_lines` afterwards.
#[tokio::test]
async fn output_buffered_during_wait_is_still_streamed_afterwards() -> processkit::Result<()> {
    let mut run = Command::new("seq").arg("200000").start().await?;
    let code = tokio::time::timeout(DEADLINE, run.wait())
        .await
        .expect("no pipe stall")?;
    assert_eq!(code, Some(0));
    let lines: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(lines.len(), 200_000);
    assert_eq!(lines.first().map(String::as_str), Some("1"));
    assert_eq!(lines.last().map(String::as_str), Some("200000"));
    Ok(())
}

/// Non-UTF-8 output lines are streamed lossily, never dropped or split.
#[tokio::test]
async fn non_utf8_output_lines_are_streamed_lossily() -> processkit::Result<()> {
    let mut run = Command::new("printf")
        .arg("ok\\n\\377bad\\nlast")
        .start()
        .await?;
    let lines: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(lines, ["ok", "\u{FFFD}bad", "last"]);
    Ok(())
}

/// stderr handlers see every stderr line as it is written, alongside capture.
#[tokio::test]
async fn stderr_line_handlers_see_progress_as_it_happens() -> processkit::Result<()> {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let r = Command::new("sh")
        .args([
            "-c",
            "for i in 1 2 3; do echo progress $i >&2; done; echo result",
        ])
        .on_stderr_line(move |l| sink.lock().unwrap().push(l.to_owned()))
        .output_string()
        .await?;
    assert_eq!(r.stdout(), "result\n");
    assert_eq!(r.stderr(), "progress 1\nprogress 2\nprogress 3\n");
    assert_eq!(
        *seen.lock().unwrap(),
        ["progress 1", "progress 2", "progress 3"]
    );
    Ok(())
}

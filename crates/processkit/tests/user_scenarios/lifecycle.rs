//! Lifecycle corners: leftovers of exited members, setsid members, suspended groups, unpolled handles.

use processkit::{Command, Mechanism, ProcessGroup, Stdin, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

// ----- more lifecycle corners ----------------------------------------------------------------------

/// A group member whose direct child exits leaves a background grandchild:
/// the group still owns it and kills it on drop (on every mechanism).
#[tokio::test]
async fn a_group_kills_what_an_exited_member_left_behind() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pid");
    let group = ProcessGroup::new()?;
    let mut member = group
        .start(
            &Command::new("sh")
                .args(["-c", &format!("sleep 30 & echo $! > {}", pidfile.display())]),
        )
        .await?;
    assert_eq!(member.wait().await?, Some(0));
    let orphan = wait_for_pids(&pidfile, 1).await[0];
    drop(member);
    drop(group);
    assert_gone(&[orphan], "grandchild left by an exited member").await;
    Ok(())
}

/// `setsid` on a group member keeps it (and its children) in the group.
#[tokio::test]
async fn a_setsid_member_stays_in_its_group() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let group = ProcessGroup::new()?;
    let _m = group
        .start(
            &Command::new("sh")
                .args([
                    "-c",
                    &format!(
                        "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
                        pidfile.display()
                    ),
                ])
                .setsid(),
        )
        .await?;
    let pids = wait_for_pids(&pidfile, 2).await;
    group.kill()?;
    assert_gone(&pids, "setsid member and its child").await;
    Ok(())
}

/// A job-control shell (`set -m`) moves its background job into a new
/// process group: cgroup v2 still contains it; the process-group fallback
/// documents that it escapes.
#[tokio::test]
async fn a_job_control_shell_background_job_is_contained_where_possible() -> processkit::Result<()>
{
    let dir = scratch();
    let pidfile = dir.path().join("pid");
    let run = Command::new("sh")
        .args([
            "-c",
            &format!("set -m; sleep 30 & echo $! > {}; wait", pidfile.display()),
        ])
        .timeout(Duration::from_secs(2))
        .start()
        .await?;
    let job = wait_for_pids(&pidfile, 1).await[0];
    let r = run.output_string().await?;
    assert!(r.timed_out());
    if Mechanism::current().contains_setsid() {
        assert_gone(&[job], "job-control background job").await;
    } else if alive(job) {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(job as i32).unwrap(),
            rustix::process::Signal::KILL,
        );
    }
    Ok(())
}

/// Dropping a started pipeline kills every stage.
#[tokio::test]
async fn dropping_a_started_pipeline_kills_every_stage() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let stage = format!("echo $$ >> {}; exec sleep 30", pidfile.display());
    let run = (Command::new("sh").args(["-c", &stage])
        | Command::new("sh").args(["-c", &stage])
        | Command::new("sh").args(["-c", &stage]))
    .start()
    .await?;
    let pids = wait_for_pids(&pidfile, 3).await;
    drop(run);
    assert_gone(&pids, "stages of a dropped pipeline").await;
    Ok(())
}

/// Output read by `wait()` into its buffer is part of a later capture.
#[tokio::test]
async fn output_buffered_by_wait_is_part_of_a_later_capture() -> processkit::Result<()> {
    let mut run = Command::new("sh")
        .args(["-c", "seq 100000; echo done >&2"])
        .start()
        .await?;
    assert_eq!(run.wait().await?, Some(0));
    let r = run.output_string().await?;
    assert_eq!(r.code(), Some(0));
    assert_eq!(r.stdout().lines().count(), 100_000);
    assert_eq!(r.stderr(), "done\n");
    Ok(())
}

/// A child that never reads its stdin does not stall or fail a run that
/// was given a lot of input.
#[tokio::test]
async fn stdin_the_child_never_reads_does_not_stall_the_run() -> processkit::Result<()> {
    let r = tokio::time::timeout(
        DEADLINE,
        Command::new("sh")
            .args(["-c", "echo ignored input"])
            .stdin(Stdin::from_bytes(vec![b'x'; 16 * 1024 * 1024]))
            .output_string(),
    )
    .await
    .expect("no stall")?;
    assert_eq!(
        (r.code(), r.stdout().as_str()),
        (Some(0), "ignored input\n")
    );
    Ok(())
}

/// Writing to the stdin of a child that has exited is a typed error, not a
/// panic or a SIGPIPE death of the caller.
#[tokio::test]
async fn writing_to_an_exited_childs_stdin_is_a_typed_error() -> processkit::Result<()> {
    let mut run = Command::new("true").keep_stdin_open().start().await?;
    let mut stdin = run.standard_input().expect("kept open");
    assert_eq!(run.wait().await?, Some(0));
    let mut failed = None;
    for _ in 0..64 {
        if let Err(e) = stdin.write_all(vec![b'x'; 64 * 1024]).await {
            failed = Some(e);
            break;
        }
    }
    let e = failed.expect("writes into a closed pipe fail");
    assert_eq!(e.program(), Some("true"), "{e:?}");
    Ok(())
}

/// A single 8 MiB line without a newline is captured whole, and streamed
/// without losing a byte.
#[tokio::test]
async fn one_huge_line_is_captured_whole_and_streamed_without_loss() -> processkit::Result<()> {
    let n = 8 * 1024 * 1024;
    let cmd = Command::new("sh").args(["-c", &format!("head -c {n} /dev/zero | tr '\\0' a")]);
    let r = cmd.output_bytes().await?;
    assert_eq!(r.stdout().len(), n);
    let mut run = cmd.start().await?;
    let total: usize = run
        .stdout_lines()
        .map(|l| l.len())
        .fold(0, |a, b| a + b)
        .await;
    assert_eq!(total, n, "streamed bytes");
    Ok(())
}

/// Dropping (or killing) a suspended group still reaps every member: a
/// frozen or stopped tree is no shelter from teardown.
#[cfg(feature = "process-control")]
#[tokio::test]
async fn a_suspended_group_is_still_torn_down_on_drop() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let group = ProcessGroup::new()?;
    let _m = group
        .start(&Command::new("sh").args([
            "-c",
            &format!(
                "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
                pidfile.display()
            ),
        ]))
        .await?;
    let pids = wait_for_pids(&pidfile, 2).await;
    group.suspend()?;
    drop(group);
    assert_gone(&pids, "members of a dropped suspended group").await;
    Ok(())
}

/// A started process is killed at its `timeout` even while nobody polls its
/// handle (a server started with a safety deadline, then left alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_process_is_killed_at_its_deadline_without_being_polled() -> processkit::Result<()>
{
    let run = Command::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(200))
        .start()
        .await?;
    let pid = run.pid().unwrap();
    let killed = eventually(DEADLINE, || !alive(pid)).await;
    drop(run);
    assert!(
        killed,
        "the deadline passed 10 s ago and the process still runs"
    );
    Ok(())
}

/// Cancelling the token kills a started process even while nobody polls
/// its handle.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_token_kills_a_started_process_nobody_polls() -> processkit::Result<()> {
    let token = processkit::CancellationToken::new();
    let server = Command::new("sleep")
        .arg("30")
        .cancel_on(token.child_token())
        .start()
        .await?;
    let pid = server.pid().unwrap();
    token.cancel();
    let killed = eventually(DEADLINE, || !alive(pid)).await;
    drop(server);
    assert!(killed, "the token was cancelled and the process still runs");
    Ok(())
}

/// Runs `group.start(true)` on its own thread and reports whether it
/// returned within the deadline (a blocked spawn cannot be timed out from
/// inside the runtime).
#[cfg(feature = "process-control")]
fn start_returns_in_time(group: &Arc<ProcessGroup>) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let group = group.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r: processkit::Result<()> = rt.block_on(async {
            let mut run = group.start(&Command::new("true")).await?;
            let _ = tokio::time::timeout(Duration::from_secs(1), run.wait()).await;
            Ok(())
        });
        let _ = tx.send(r.is_ok());
    });
    rx.recv_timeout(DEADLINE).is_ok()
}

/// "The group stays usable" after `kill` — also when it was suspended: a
/// later `start` returns. And `start` into a suspended group returns (a
/// frozen child or a typed error) instead of blocking the calling thread.
#[cfg(feature = "process-control")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_group_never_blocks_start() -> processkit::Result<()> {
    for teardown in ["none", "kill", "shutdown"] {
        let group = Arc::new(ProcessGroup::new()?);
        let _m = group.start(&Command::new("sleep").arg("30")).await?;
        group.suspend()?;
        match teardown {
            "kill" => group.kill()?,
            "shutdown" => {
                group.shutdown().await?;
            }
            _ => {}
        }
        assert!(
            start_returns_in_time(&group),
            "start() blocked after suspend + {teardown}"
        );
    }
    Ok(())
}

/// `shutdown` is graceful even for a suspended group: members get to act
/// on SIGTERM (the tree is thawed/continued after the TERM is sent).
#[cfg(feature = "process-control")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_of_a_suspended_group_still_runs_term_handlers() -> processkit::Result<()> {
    use processkit::ProcessGroupOptions;
    let dir = scratch();
    let marker = dir.path().join("term");
    let group =
        ProcessGroup::with_options(ProcessGroupOptions::default().grace(Duration::from_secs(5)))?;
    let _m = group
        .start(&Command::new("sh").args([
            "-c",
            &format!(
                "trap 'echo term > {0}; exit 0' TERM; echo $$ > {0}.pid; while :; do sleep 0.05; done",
                marker.display()
            ),
        ]))
        .await?;
    wait_for_pids(&marker.with_extension("pid"), 1).await;
    group.suspend()?;
    let t0 = Instant::now();
    group.shutdown().await?;
    assert!(marker.exists(), "the TERM handler never ran");
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "waited the whole grace: {:?}",
        t0.elapsed()
    );
    Ok(())
}

/// Dropping a group member's handle "detaches": the member keeps running
/// in its group even when it writes output afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_group_member_keeps_running_while_it_writes_output() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pid");
    let group = ProcessGroup::new()?;
    let handle = group
        .start(&Command::new("sh").args([
            "-c",
            &format!(
                "echo $$ > {}; while :; do echo tick; echo tock >&2; sleep 0.05; done",
                pidfile.display()
            ),
        ]))
        .await?;
    let pid = wait_for_pids(&pidfile, 1).await[0];
    drop(handle);
    // Give it a second of writing with nobody holding the handle.
    let t0 = Instant::now();
    let mut survived = true;
    while t0.elapsed() < Duration::from_secs(1) {
        if !alive(pid) {
            survived = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    group.kill()?;
    assert!(
        survived,
        "the detached member died (SIGPIPE) at its next write"
    );
    Ok(())
}

/// A server that logs more than a pipe's capacity before it listens still
/// becomes ready under `wait_for_port` (the probe must not let the output
/// pipes fill up and block the child).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_port_sees_a_server_that_logs_a_lot_before_listening() -> processkit::Result<()> {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let server = format!(
        "head -c 300000 /dev/zero | tr '\\0' x >&2; echo; \
         exec perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(LocalAddr=>q{{127.0.0.1:{port}}},Listen=>5,ReuseAddr=>1) or die; while($c=$s->accept){{close $c}}'"
    );
    let mut run = Command::new("sh").args(["-c", &server]).start().await?;
    run.wait_for_port(([127, 0, 0, 1], port).into(), DEADLINE)
        .await?;
    Ok(())
}

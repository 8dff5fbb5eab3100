//! Dev servers, test runners, build tools, and cancelling by dropping the future.

use processkit::{Command, Mechanism, ProcessGroup};
use std::time::{Duration, Instant};

use super::*;

// ----- dev servers -------------------------------------------------------------

/// A dev server (python's http.server on an ephemeral port) started in a
/// group, probed ready by its banner and its port, used, then shut down
/// with nothing left and the port closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_server_is_probed_ready_used_and_shut_down_without_leftovers() -> processkit::Result<()>
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let site = scratch();
    std::fs::write(site.path().join("hello.txt"), "hello from the dev server\n").unwrap();
    let group = ProcessGroup::new()?;
    let mut server = group
        .start(
            &Command::new("python3")
                .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
                .current_dir(site.path()),
        )
        .await?;
    let pid = server.pid().unwrap();
    let banner = server
        .wait_for_line(|l| l.starts_with("Serving HTTP on"), DEADLINE)
        .await?;
    // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
    let port: u16 = banner
        .split_whitespace()
        .skip_while(|w| *w != "port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {banner:?}"));
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    server.wait_for_port(addr, DEADLINE).await?;

    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /hello.txt HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    tokio::time::timeout(DEADLINE, conn.read_to_string(&mut reply))
        .await
        .expect("the server answered")
        .unwrap();
    assert!(reply.starts_with("HTTP/1.0 200"), "{reply}");
    assert!(reply.ends_with("hello from the dev server\n"), "{reply}");

    group.shutdown().await?;
    assert_gone(&[pid], "dev server after shutdown").await;
    assert!(group.is_empty()?);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the port still accepts connections"
    );
    Ok(())
}

// ----- test runners ----------------------------------------------------------------

/// A test runner fans out 50 commands with `output_all` and a cap of 4;
/// some fail. Results come back in input order, one per command, and never
/// more than 4 run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_runner_fans_out_fifty_commands_with_a_cap() -> processkit::Result<()> {
    use processkit::{JobRunner, output_all};
    let dir = scratch();
    let at_once = common::Concurrency::new(dir.path());
    let case = script(
        dir.path(),
        "run-case",
        &format!(
            "#!/bin/sh\n{enter}sleep 0.02\n{leave}\n\
             if [ $(($1 % 5)) -eq 0 ]; then echo \"case $1 FAILED\" >&2; exit $((10 + $1 % 3)); fi\n\
             echo \"case $1 ok\"\n",
            enter = at_once.enter(),
            leave = at_once.leave()
        ),
    );
    let cmds = (0..50).map(|i| Command::new(&case).arg(i.to_string()));
    let results = output_all(cmds, 4, &JobRunner).await;
    assert_eq!(results.len(), 50);
    for (i, r) in results.iter().enumerate() {
        let r = r.as_ref().expect("every case ran");
        if i % 5 == 0 {
            assert_eq!(r.code(), Some(10 + (i as i32) % 3), "case {i}");
            assert_eq!(r.stderr(), &format!("case {i} FAILED\n"));
        } else {
            assert_eq!(r.code(), Some(0), "case {i}");
            assert_eq!(r.stdout(), &format!("case {i} ok\n"));
        }
    }
    let peak = at_once.peak();
    assert!(peak <= 4, "{peak} cases ran at once with a cap of 4");
    Ok(())
}

/// Aborting a test run (dropping the `output_all` future) kills the
/// in-flight commands and starts no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_output_all_batch_kills_in_flight_commands() -> processkit::Result<()> {
    use processkit::{JobRunner, output_all};
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let body = format!("echo $$ >> {}; exec sleep 30", pidfile.display());
    let cmds: Vec<Command> = (0..20)
        .map(|_| Command::new("sh").args(["-c", &body]))
        .collect();
    let batch = output_all(cmds, 4, &JobRunner);
    let watcher = async {
        let ok = eventually(DEADLINE, || pids_in(&pidfile).len() >= 4).await;
        assert!(ok, "four commands started");
    };
    tokio::select! {
        _ = batch => panic!("the batch of sleeps finished"),
        _ = watcher => {}
    }
    let started = pids_in(&pidfile);
    assert_gone(&started, "in-flight commands of a dropped batch").await;
    assert!(
        pids_in(&pidfile).len() <= 4 + 4,
        "more commands started after the drop"
    );
    Ok(())
}

/// A flaky test retried by policy: fails twice, then passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_command_passes_with_a_retry_policy() -> processkit::Result<()> {
    use processkit::RetryPolicy;
    let dir = scratch();
    let count = dir.path().join("n");
    let flaky = format!(
        "echo x >> {0}; n=$(wc -l < {0}); [ $n -ge 3 ] && echo passed && exit 0; echo flake $n >&2; exit 1",
        count.display()
    );
    let out = Command::new("sh")
        .args(["-c", &flaky])
        .retry(RetryPolicy::new(5).backoff(Duration::from_millis(5), 1.0))
        .run()
        .await?;
    assert_eq!(out, "passed");
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 3);
    Ok(())
}

// ----- build tools ----------------------------------------------------------------------

/// A build tool whose compiler children spawn grandchildren: the run's
/// timeout kills the whole tree. A grandchild that calls `setsid` is caught
/// too wherever the mechanism contains it (cgroup v2); on the process-group
/// fallback it escapes, as the mechanism reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_tool_timeout_kills_grandchildren() -> processkit::Result<()> {
    let dir = scratch();
    let pids = dir.path().join("pids");
    let escapee = dir.path().join("escapee");
    let build = format!(
        "for i in 1 2 3; do sh -c 'sleep 30 & echo $! >> {p}; echo $$ >> {p}; wait' & done; \
         setsid sh -c 'echo $$ > {e}; exec sleep 30' & \
         echo $$ >> {p}; wait",
        p = pids.display(),
        e = escapee.display()
    );
    let t0 = Instant::now();
    let run = Command::new("sh")
        .args(["-c", &build])
        .timeout(Duration::from_secs(3))
        .start()
        .await?;
    let tree = wait_for_pids(&pids, 7).await;
    let setsid_pid = wait_for_pids(&escapee, 1).await[0];
    let r = run.output_string().await?;
    assert!(r.timed_out());
    assert!(t0.elapsed() < DEADLINE);
    assert_eq!(tree.len(), 7, "{tree:?}");
    assert_gone(&tree, "build tree after its timeout").await;
    if Mechanism::current().contains_setsid() {
        assert_gone(&[setsid_pid], "setsid grandchild").await;
    } else {
        // The documented weakness of process groups: a new session escapes.
        assert!(
            alive(setsid_pid),
            "expected the setsid grandchild to escape a process group"
        );
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(setsid_pid as i32).unwrap(),
            rustix::process::Signal::KILL,
        );
    }
    Ok(())
}

/// A step that ignores SIGTERM is still killed at its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_ignoring_sigterm_is_still_killed_at_its_timeout() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pid");
    let t0 = Instant::now();
    let r = Command::new("sh")
        .args([
            "-c",
            &format!(
                "trap '' TERM INT HUP; echo $$ > {}; while :; do sleep 0.05; done",
                pidfile.display()
            ),
        ])
        .timeout(Duration::from_millis(300))
        .output_string()
        .await?;
    assert!(r.timed_out());
    assert!(t0.elapsed() < DEADLINE);
    assert_gone(&pids_in(&pidfile), "TERM-ignoring step").await;
    Ok(())
}

/// The classic `cmd &` hang: the direct child exits while a backgrounded
/// grandchild keeps stdout open. Capture returns promptly and the
/// grandchild does not outlive the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backgrounded_grandchild_holding_stdout_does_not_hang_capture() -> processkit::Result<()>
{
    let dir = scratch();
    let pidfile = dir.path().join("pid");
    let t0 = Instant::now();
    let r = Command::new("sh")
        .args([
            "-c",
            &format!("sleep 30 & echo $! > {}; echo done", pidfile.display()),
        ])
        .output_string()
        .await?;
    assert!(
        t0.elapsed() < DEADLINE,
        "capture waited for the grandchild: {:?}",
        t0.elapsed()
    );
    assert_eq!((r.code(), r.stdout().as_str()), (Some(0), "done\n"));
    assert_gone(&pids_in(&pidfile), "backgrounded grandchild").await;
    Ok(())
}

// ----- cancellation by drop -------------------------------------------------------------

/// `sh -c 'exec sleep 30'` whose future is dropped (a `select!` that took
/// another branch, an aborted task): the process is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_future_kills_an_exec_chain() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pid");
    let cmd = Command::new("sh").args([
        "-c",
        &format!("echo $$ > {}; exec sleep 30", pidfile.display()),
    ]);
    tokio::select! {
        r = cmd.output_string() => panic!("sleep 30 finished: {r:?}"),
        () = async { wait_for_pids(&pidfile, 1).await; } => {}
    }
    let pid = pids_in(&pidfile)[0];
    assert_gone(&[pid], "exec'd sleep of a dropped future").await;

    // The same through an aborted task.
    let pidfile2 = dir.path().join("pid2");
    let cmd = Command::new("sh").args([
        "-c",
        &format!("echo $$ > {}; exec sleep 30", pidfile2.display()),
    ]);
    let task = tokio::spawn(async move { cmd.run().await });
    let pid = wait_for_pids(&pidfile2, 1).await[0];
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_gone(&[pid], "exec'd sleep of an aborted task").await;
    Ok(())
}

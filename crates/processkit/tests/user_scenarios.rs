//! What users of a process library run into (CLIs, build tools, test
//! runners, dev servers), each checked from the outside: `/proc`, marker
//! files, the cgroup tree, and child processes of the test binary itself.
//!
//! Every wait has a deadline; nothing asserts after a bare sleep.

#![cfg(unix)]

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use processkit::{Command, Error, Mechanism, ProcessGroup, Stdin, StreamExt};

// ----- helpers ---------------------------------------------------------------

const DEADLINE: Duration = Duration::from_secs(10);

mod common;
#[allow(unused_imports)]
use common::{eventually, pids_in, script};

/// Asserts that every pid is gone (or a zombie) within [`DEADLINE`].
async fn assert_gone(pids: &[u32], what: &str) {
    common::assert_gone_within(pids, DEADLINE, what).await
}

/// Waits until `path` holds at least `n` pids and returns them.
async fn wait_for_pids(path: &Path, n: usize) -> Vec<u32> {
    common::wait_for_pids_within(path, n, DEADLINE).await
}

/// Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, session.
fn stat_of(pid: u32) -> Option<(char, u32, u32, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgrp = rest.next()?.parse().ok()?;
    let session = rest.next()?.parse().ok()?;
    Some((state, ppid, pgrp, session))
}

/// `true` while `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    stat_of(pid).is_some_and(|(s, ..)| s != 'Z' && s != 'X')
}

/// `true` when `pid` is a zombie whose parent is this test process.
fn our_zombie(pid: u32) -> bool {
    stat_of(pid).is_some_and(|(s, ppid, ..)| s == 'Z' && ppid == std::process::id())
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pk-user-")
        .tempdir()
        .expect("a scratch directory")
}

/// Where cgroup2 is mounted, from /proc/self/mountinfo.
fn cgroup2_mount() -> Option<std::path::PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next()? == "cgroup2")
            .then(|| std::path::PathBuf::from(pre.split_whitespace().nth(4).unwrap_or("/")))
    })
}

/// This process's own cgroup v2 directory.
fn own_cgroup_dir() -> Option<std::path::PathBuf> {
    let cg = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = cg.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(cgroup2_mount()?.join(rel.trim_start_matches('/')))
}

/// The cgroup directories a processkit host with pid `pid` owns under `parent`.
fn host_roots_of(parent: &Path, pid: u32) -> Vec<std::path::PathBuf> {
    let prefix = format!("processkit-{pid}-");
    std::fs::read_dir(parent)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Every directory below `dir` (not counting `dir`).
fn subdirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(e.path());
                    todo.push(e.path());
                }
            }
        }
    }
    out
}

/// Runs one `child_body_*` test of this binary in a fresh process (so its
/// cgroups, guardian and exit are its own), with `PK_SCENARIO` set.
fn child_test(name: &str, extra_env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "--ignored",
        "--exact",
        name,
        "--nocapture",
        "--test-threads=1",
    ])
    .env("PK_SCENARIO", name);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd
}

/// `true` inside a `child_body_*` run started by [`child_test`].
fn in_child(name: &str) -> bool {
    std::env::var("PK_SCENARIO").as_deref() == Ok(name)
}

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
    let live = dir.path().join("live");
    std::fs::create_dir(&live).unwrap();
    let peaks = dir.path().join("peaks");
    let case = script(
        dir.path(),
        "run-case",
        &format!(
            "#!/bin/sh\ntouch {live}/$$\nls {live} | wc -l >> {peaks}\nsleep 0.02\nrm {live}/$$\n\
             if [ $(($1 % 5)) -eq 0 ]; then echo \"case $1 FAILED\" >&2; exit $((10 + $1 % 3)); fi\n\
             echo \"case $1 ok\"\n",
            live = live.display(),
            peaks = peaks.display()
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
    let peak = std::fs::read_to_string(&peaks)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .max()
        .unwrap();
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

// ----- environment -----------------------------------------------------------------------------------

/// An environment allow-list passes exactly the named variables (case
/// sensitive on Unix) plus explicit ones, and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_allow_list_passes_exactly_the_named_variables() -> processkit::Result<()> {
    fn names(out: &str) -> Vec<String> {
        let mut v: Vec<String> = out
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_owned()))
            .collect();
        v.sort();
        v
    }
    let has_path = std::env::var_os("PATH").is_some();
    let out = Command::new("/usr/bin/env")
        .inherit_env(["PATH", "PK_SURELY_UNSET_VARIABLE"])
        .run()
        .await?;
    assert_eq!(names(&out), if has_path { vec!["PATH"] } else { vec![] });

    let out = Command::new("/usr/bin/env")
        .inherit_env(["path"])
        .run()
        .await?;
    assert_eq!(
        names(&out),
        Vec::<String>::new(),
        "names are case sensitive on Unix"
    );

    let out = Command::new("/usr/bin/env")
        .env_clear()
        .env("ONLY", "this")
        .run()
        .await?;
    assert_eq!(out, "ONLY=this");

    // The allow-list still finds programs on the parent's PATH.
    let out = Command::new("sh")
        .args(["-c", "echo ok"])
        .inherit_env(["PATH"])
        .run()
        .await?;
    assert_eq!(out, "ok");
    Ok(())
}

// ----- arguments and paths -------------------------------------------------------------------------

/// Non-UTF-8 arguments, environment values, program paths and working
/// directories reach the child byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_arguments_pass_through_verbatim() -> processkit::Result<()> {
    let raw: &[u8] = b"caf\xe9 \xff\xfe\x80 end";
    let arg = OsStr::from_bytes(raw);
    let r = Command::new("printf")
        .arg("%s")
        .arg(arg)
        .output_bytes()
        .await?;
    assert_eq!(r.stdout().as_slice(), raw);

    let r = Command::new("sh")
        .args(["-c", "printf %s \"$RAW\""])
        .env("RAW", arg)
        .output_bytes()
        .await?;
    assert_eq!(r.stdout().as_slice(), raw);

    let r = (Command::new("printf").arg("%s").arg(arg) | Command::new("cat"))
        .output_bytes()
        .await?;
    assert_eq!(r.stdout().as_slice(), raw);

    let dir = scratch();
    let odd = dir
        .path()
        .join(OsString::from_vec(b"dir-\xff\xfe".to_vec()));
    std::fs::create_dir(&odd).unwrap();
    let tool = script(&odd, "tool", "#!/bin/sh\npwd\n");
    let r = Command::new(&tool).current_dir(&odd).output_bytes().await?;
    assert_eq!(
        r.stdout().strip_suffix(b"\n").unwrap(),
        odd.as_os_str().as_bytes()
    );
    // Lossy text keeps the valid parts and replaces the rest.
    let s = Command::new("printf").arg("%s").arg(arg).run().await?;
    assert!(
        s.starts_with("caf") && s.ends_with(" end") && s.contains('\u{FFFD}'),
        "{s:?}"
    );
    Ok(())
}

/// A relative program path with a separator is resolved against the
/// command's `current_dir`, as on a shell after `cd`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_program_path_resolves_against_current_dir() -> processkit::Result<()> {
    let dir = scratch();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    script(
        &dir.path().join("bin"),
        "tool",
        "#!/bin/sh\necho tool ran in $(pwd)\n",
    );
    let out = Command::new("./bin/tool")
        .current_dir(dir.path())
        .run()
        .await?;
    assert_eq!(out, format!("tool ran in {}", dir.path().display()));
    let out = Command::new("bin/tool")
        .current_dir(dir.path())
        .run()
        .await?;
    assert!(out.starts_with("tool ran in "), "{out}");
    Ok(())
}

/// A long argument list (about 1 MiB across 10 000 arguments) is passed in
/// full; one past the kernel's limit is a typed error, not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn very_long_argument_lists_pass_or_fail_typed() -> processkit::Result<()> {
    let args: Vec<String> = (0..10_000).map(|i| format!("{i:0>100}")).collect();
    let out = Command::new("sh")
        .args(["-c", "echo $# \"$1\" \"${10000}\"", "sh"])
        .args(&args)
        .run()
        .await?;
    assert_eq!(out, format!("10000 {} {}", args[0], args[9999]));

    // One argument longer than MAX_ARG_STRLEN (128 KiB), and a list longer
    // than ARG_MAX: both refused by exec.
    let huge = "x".repeat(200 * 1024);
    let e = Command::new("echo").arg(&huge).run().await.unwrap_err();
    assert!(
        matches!(&e, Error::Spawn { program, source }
            if program == "echo" && source.kind() == std::io::ErrorKind::ArgumentListTooLong),
        "{e:?}"
    );
    let many: Vec<String> = (0..40_000).map(|i| format!("{i:0>200}")).collect();
    let e = Command::new("echo").args(&many).run().await.unwrap_err();
    assert!(
        matches!(&e, Error::Spawn { program, source }
            if program == "echo" && source.kind() == std::io::ErrorKind::ArgumentListTooLong),
        "{e:?}"
    );
    Ok(())
}

// ----- exit codes and signals ----------------------------------------------------------------------

/// An exit code above 128 is a code, not a signal; a death by signal is a
/// signal, not a code — in results and in errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_above_128_are_not_signals() -> processkit::Result<()> {
    let r = Command::new("sh")
        .args(["-c", "exit 130"])
        .output_string()
        .await?;
    assert_eq!((r.code(), r.signal()), (Some(130), None));
    assert!(!r.is_success());
    let r = Command::new("sh")
        .args(["-c", "kill -USR1 $$"])
        .output_string()
        .await?;
    assert_eq!((r.code(), r.signal()), (None, Some(10)));
    let r = Command::new("sh")
        .args(["-c", "kill -TERM $$"])
        .output_string()
        .await?;
    assert_eq!((r.code(), r.signal()), (None, Some(15)));
    let r = Command::new("sh")
        .args(["-c", "exit 255"])
        .output_string()
        .await?;
    assert_eq!(r.code(), Some(255));

    let e = Command::new("sh")
        .args(["-c", "exit 137"])
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NonZeroExit { code: 137, .. }), "{e:?}");
    let e = Command::new("sh")
        .args(["-c", "kill -KILL $$"])
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Killed { signal: 9, .. }), "{e:?}");
    assert_eq!(
        Command::new("sh")
            .args(["-c", "exit 143"])
            .exit_code()
            .await?,
        143
    );
    let e = Command::new("sh")
        .args(["-c", "kill -TERM $$"])
        .exit_code()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Killed { signal: 15, .. }), "{e:?}");
    Ok(())
}

/// What a CLI user gets for the usual mistakes: a missing program, a
/// missing working directory, a file that is not executable, and a missing
/// program in the middle of a pipeline (which leaves no stage running).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usual_mistakes_are_typed_errors_naming_the_program() -> processkit::Result<()> {
    let e = Command::new("pk-no-such-tool").run().await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("pk-no-such-tool"), "{e}");

    let dir = scratch();
    let e = Command::new("true")
        .current_dir(dir.path().join("missing"))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::BadDirectory { .. }), "{e:?}");

    let plain = dir.path().join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\necho hi\n").unwrap();
    let e = Command::new(&plain).run().await.unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");

    let pidfile = dir.path().join("pid");
    let first = Command::new("sh").args([
        "-c",
        &format!("echo $$ > {}; exec sleep 30", pidfile.display()),
    ]);
    let t0 = Instant::now();
    let e = (first | Command::new("pk-missing-middle-stage") | Command::new("cat"))
        .output_string()
        .await
        .unwrap_err();
    assert!(t0.elapsed() < DEADLINE);
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("pk-missing-middle-stage"), "{e}");
    // If the first stage was spawned before the failure, it must be gone.
    assert_gone(
        &pids_in(&pidfile),
        "first stage of a pipeline whose middle is missing",
    )
    .await;
    Ok(())
}

// ----- hygiene over many runs ----------------------------------------------------------------------

/// Body of the thousand-runs check, run in its own process by
/// [`a_thousand_sequential_runs_leave_no_zombies_and_no_cgroup_dirs`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
async fn child_body_thousand_runs() -> processkit::Result<()> {
    if !in_child("child_body_thousand_runs") {
        return Ok(());
    }
    let mut pids = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let mut run = Command::new("true").start().await?;
        pids.push(run.pid().unwrap());
        assert_eq!(run.wait().await?, Some(0));
    }
    for _ in 0..100 {
        Command::new("true").run().await?;
    }
    let reaped = eventually(DEADLINE, || !pids.iter().any(|p| our_zombie(*p))).await;
    let zombies: Vec<u32> = pids.iter().copied().filter(|p| our_zombie(*p)).collect();
    assert!(reaped, "zombies left: {zombies:?}");
    if Mechanism::current() == Mechanism::CgroupV2 {
        let parent = own_cgroup_dir().expect("own cgroup");
        let roots = host_roots_of(&parent, std::process::id());
        assert_eq!(roots.len(), 1, "{roots:?}");
        // Leaves are reused: the tree does not grow with the number of runs.
        let bounded = eventually(DEADLINE, || subdirs(&roots[0]).len() <= 16).await;
        eprintln!("cgroup dirs after 1100 runs: {}", subdirs(&roots[0]).len());
        assert!(
            bounded,
            "{} cgroup dirs after 1100 runs",
            subdirs(&roots[0]).len()
        );
    }
    Ok(())
}

/// 1000 sequential `true` runs leave no zombie and, once the process exits,
/// no cgroup directory behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sequential_runs_leave_no_zombies_and_no_cgroup_dirs() {
    let out = tokio::task::spawn_blocking(|| {
        let child = child_test("child_body_thousand_runs", &[])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the test binary");
        let pid = child.id();
        let out = child.wait_with_output().expect("wait for the test binary");
        (pid, out)
    })
    .await
    .unwrap();
    let (pid, out) = out;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child run failed:\n{text}");
    assert!(text.contains("1 passed"), "the body did not run:\n{text}");
    if let Some(parent) = own_cgroup_dir() {
        let gone = eventually(DEADLINE, || host_roots_of(&parent, pid).is_empty()).await;
        assert!(gone, "cgroup dirs left: {:?}", host_roots_of(&parent, pid));
    }
}

// ----- abrupt death of the parent --------------------------------------------------------------------

/// Body of the abrupt-death check: starts a tree and a group, reports their
/// pids, then waits to be SIGKILLed.
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn child_body_abrupt_death() {
    if !in_child("child_body_abrupt_death") {
        return;
    }
    let pidfile = std::path::PathBuf::from(std::env::var_os("PK_PIDFILE").unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let script = format!(
            "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
            pidfile.display()
        );
        let _run = Command::new("sh")
            .args(["-c", &script])
            .start()
            .await
            .unwrap();
        let group = ProcessGroup::new().unwrap();
        let _member = group
            .start(&Command::new("sh").args(["-c", &script]))
            .await
            .unwrap();
        std::mem::forget(group);
        std::fs::write(pidfile.with_extension("ready"), "").unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
}

/// The parent is SIGKILLed (no destructor runs): every descendant it
/// started still dies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descendants_die_when_the_parent_is_sigkilled() {
    assert!(
        matches!(processkit::guarantee(), processkit::Guarantee::Guardian),
        "this test needs the guardian (a DropOnly host documents that an abrupt death can \
         leave descendants)"
    );
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let mut child = child_test(
        "child_body_abrupt_death",
        &[("PK_PIDFILE", pidfile.to_str().unwrap())],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn the test binary");
    let ready = eventually(Duration::from_secs(30), || {
        pidfile.with_extension("ready").exists() && pids_in(&pidfile).len() >= 4
    })
    .await;
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child never got ready");
    }
    let pids = pids_in(&pidfile);
    assert_eq!(pids.len(), 4, "{pids:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_gone(&pids, "descendants of a SIGKILLed parent").await;
}

/// Body of the parent-death-signal check: no guardian, one child armed with
/// `kill_on_parent_death`.
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn child_body_parent_death_signal() {
    if !in_child("child_body_parent_death_signal") {
        return;
    }
    let pidfile = std::path::PathBuf::from(std::env::var_os("PK_PIDFILE").unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let run = Command::new("sleep")
            .arg("30")
            .kill_on_parent_death()
            .start()
            .await
            .unwrap();
        std::fs::write(&pidfile, run.pid().unwrap().to_string()).unwrap();
        std::mem::forget(run);
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
}

/// With the guardian turned off, `kill_on_parent_death` alone still takes
/// the direct child down when the parent is SIGKILLed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_on_parent_death_works_without_the_guardian() {
    let dir = scratch();
    let pidfile = dir.path().join("pid");
    let mut child = child_test(
        "child_body_parent_death_signal",
        &[
            ("PK_PIDFILE", pidfile.to_str().unwrap()),
            ("PROCESSKIT_NO_GUARDIAN", "1"),
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn the test binary");
    let ready = eventually(Duration::from_secs(30), || !pids_in(&pidfile).is_empty()).await;
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child never got ready");
    }
    let pid = pids_in(&pidfile)[0];
    assert!(alive(pid));
    child.kill().unwrap();
    child.wait().unwrap();
    let gone = eventually(DEADLINE, || !alive(pid)).await;
    if !gone {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid as i32).unwrap(),
            rustix::process::Signal::KILL,
        );
    }
    assert!(gone, "the armed child outlived its SIGKILLed parent");
}

// ----- handles that outlive their runtime -------------------------------------------------------

/// A handle or group kept in a struct and dropped after its runtime is
/// gone (at program end, on a plain thread) still takes its tree down, and
/// the drop does not panic.
#[test]
fn handles_dropped_after_their_runtime_still_kill_their_trees() {
    let dir = scratch();
    let p1 = dir.path().join("p1");
    let p2 = dir.path().join("p2");
    let tree = |f: &Path| {
        format!(
            "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
            f.display()
        )
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (run, group, member) = rt.block_on(async {
        let run = Command::new("sh")
            .args(["-c", &tree(&p1)])
            .start()
            .await
            .unwrap();
        let group = ProcessGroup::new().unwrap();
        let member = group
            .start(&Command::new("sh").args(["-c", &tree(&p2)]))
            .await
            .unwrap();
        (run, group, member)
    });
    let deadline = Instant::now() + DEADLINE;
    while (pids_in(&p1).len() < 2 || pids_in(&p2).len() < 2) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let pids: Vec<u32> = pids_in(&p1).into_iter().chain(pids_in(&p2)).collect();
    assert_eq!(pids.len(), 4, "{pids:?}");
    drop(rt);
    std::thread::spawn(move || {
        drop(member);
        drop(run);
        drop(group);
    })
    .join()
    .expect("dropping outside a runtime does not panic");
    let deadline = Instant::now() + DEADLINE;
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still alive: {left:?}");
}

// ----- groups as users hold them ------------------------------------------------------------------

/// Dropping a member's handle leaves it running in its group; dropping the
/// group takes every member and grandchild down.
#[tokio::test]
async fn a_group_outlives_member_handles_and_takes_all_down_on_drop() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let body = format!(
        "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
        pidfile.display()
    );
    let group = ProcessGroup::new()?;
    for _ in 0..3 {
        let handle = group.start(&Command::new("sh").args(["-c", &body])).await?;
        drop(handle);
    }
    let pids = wait_for_pids(&pidfile, 6).await;
    assert!(
        pids.iter().all(|p| alive(*p)),
        "a dropped member handle killed its process"
    );
    drop(group);
    assert_gone(&pids, "members of a dropped group").await;
    Ok(())
}

/// A member's own timeout kills only that member's subtree; its siblings
/// keep running.
#[tokio::test]
async fn a_member_timeout_leaves_its_siblings_alone() -> processkit::Result<()> {
    let group = ProcessGroup::new()?;
    let sibling = group.start(&Command::new("sleep").arg("30")).await?;
    let r = group
        .start(
            &Command::new("sh")
                .args(["-c", "sleep 30 & wait"])
                .timeout(Duration::from_millis(200)),
        )
        .await?
        .output_string()
        .await?;
    assert!(r.timed_out());
    assert!(
        alive(sibling.pid().unwrap()),
        "the sibling was killed by a member's timeout"
    );
    group.kill()?;
    assert_gone(&[sibling.pid().unwrap()], "group.kill").await;
    Ok(())
}

/// `members()` lists the whole tree on cgroup v2 and the tracked leaders on
/// process groups.
#[cfg(feature = "process-control")]
#[tokio::test]
async fn members_lists_grandchildren_where_the_mechanism_can() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pid");
    let group = ProcessGroup::new()?;
    let leader = group
        .start(&Command::new("sh").args([
            "-c",
            &format!("sleep 30 & echo $! > {}; wait", pidfile.display()),
        ]))
        .await?;
    let grandchild = wait_for_pids(&pidfile, 1).await[0];
    let members = group.members()?;
    assert!(members.contains(&leader.pid().unwrap()), "{members:?}");
    if Mechanism::current() == Mechanism::CgroupV2 {
        assert!(members.contains(&grandchild), "{members:?}");
    }
    group.kill()?;
    assert_gone(&[leader.pid().unwrap(), grandchild], "group.kill").await;
    Ok(())
}

/// A process started elsewhere can be adopted where the mechanism allows
/// (cgroup v2), and then dies with the group; elsewhere `adopt` is a typed
/// `Unsupported` error.
#[cfg(feature = "process-control")]
#[tokio::test]
async fn adopting_an_outside_process_puts_it_under_the_group() -> processkit::Result<()> {
    let group = ProcessGroup::new()?;
    let mut outside = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = outside.id();
    let adopted = group.adopt(pid);
    let listed = group.members().map(|m| m.contains(&pid));
    let died_with_group = if adopted.is_ok() {
        drop(group);
        eventually(DEADLINE, || matches!(outside.try_wait(), Ok(Some(_)))).await
    } else {
        false
    };
    let _ = outside.kill();
    let _ = outside.wait();
    match adopted {
        Ok(()) => {
            assert!(matches!(listed, Ok(true)), "{listed:?}");
            assert!(
                died_with_group,
                "an adopted process outlived its dropped group"
            );
        }
        Err(Error::Unsupported { .. }) => {
            assert_ne!(Mechanism::current(), Mechanism::CgroupV2);
        }
        Err(e) => panic!("{e:?}"),
    }
    Ok(())
}

/// The raw escape hatch: a `tokio::process::Command` spawned into a group
/// is still contained, grandchildren included.
#[tokio::test]
async fn raw_spawned_children_are_contained_by_the_group() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let group = ProcessGroup::new()?;
    let mut raw = tokio::process::Command::new("sh");
    raw.args([
        "-c",
        &format!(
            "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
            pidfile.display()
        ),
    ]);
    let mut child = group.spawn(&mut raw)?;
    let pids = wait_for_pids(&pidfile, 2).await;
    group.kill()?;
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("child exited")
        .unwrap();
    assert!(!status.success());
    assert_gone(&pids, "raw-spawned tree").await;
    Ok(())
}

/// Fifty groups in parallel, each with a two-process tree, all torn down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_groups_in_parallel_are_each_torn_down() -> processkit::Result<()> {
    let dir = scratch();
    let mut groups = Vec::new();
    for i in 0..50 {
        let f = dir.path().join(format!("g{i}"));
        let group = ProcessGroup::new()?;
        group
            .start(&Command::new("sh").args([
                "-c",
                &format!(
                    "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
                    f.display()
                ),
            ]))
            .await?;
        groups.push((group, f));
    }
    let mut pids = Vec::new();
    for (_, f) in &groups {
        pids.extend(wait_for_pids(f, 2).await);
    }
    assert_eq!(pids.len(), 100);
    let shutdowns = groups.iter().map(|(g, _)| g.shutdown());
    for s in shutdowns {
        s.await?;
    }
    assert_gone(&pids, "fifty groups after shutdown").await;
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

// ----- interactive pipelines -----------------------------------------------------------------------

/// A started pipeline takes interactive stdin on its first stage and
/// streams its last stage's stdout.
#[tokio::test]
async fn a_started_pipeline_takes_stdin_and_streams_stdout() -> processkit::Result<()> {
    let mut run = (Command::new("cat").keep_stdin_open() | Command::new("sort").arg("-r"))
        .start()
        .await?;
    let mut stdin = run.standard_input().expect("the first stage's stdin");
    for w in ["pear", "apple", "fig"] {
        stdin.write_line(w).await?;
    }
    stdin.finish().await?;
    let lines: Vec<String> = tokio::time::timeout(DEADLINE, run.stdout_lines().collect())
        .await
        .expect("sort finished");
    assert_eq!(lines, ["pear", "fig", "apple"]);
    let (code, _) = run.finish_streamed().await?;
    assert_eq!(code, Some(0));
    Ok(())
}

/// `first_line` on an endless pipeline returns and tears every stage down.
#[tokio::test]
async fn first_line_on_an_endless_pipeline_stops_every_stage() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let line = (Command::new("sh")
        .args(["-c", &format!("echo $$ >> {}; exec yes", pidfile.display())])
        | Command::new("sh").args(["-c", &format!("echo $$ >> {}; exec cat", pidfile.display())]))
    .first_line(|l| l == "y")
    .await?;
    assert_eq!(line.as_deref(), Some("y"));
    assert_gone(&pids_in(&pidfile), "stages after first_line").await;
    Ok(())
}

// ----- supervision ------------------------------------------------------------------------------------

/// A crash-looping service trips the storm guard: one collective pause
/// instead of restarts at backoff speed. (The score decays continuously, so
/// three quick failures score just under 3: a threshold of 2.5 trips on the
/// third.)
#[tokio::test]
async fn a_crash_loop_trips_the_storm_guard_once() -> processkit::Result<()> {
    use processkit::{StopReason, Supervisor};
    let t0 = Instant::now();
    let outcome = Supervisor::new(Command::new("sh").args(["-c", "exit 1"]))
        .max_restarts(3)
        .backoff(Duration::from_millis(1), 1.0)
        .failure_threshold(2.5)
        .storm_pause(Duration::from_millis(400))
        .run()
        .await?;
    assert_eq!(
        (outcome.restarts, outcome.stopped),
        (3, StopReason::MaxRestarts)
    );
    assert_eq!(outcome.storms, 1);
    assert_eq!(outcome.failures, 4);
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t0.elapsed()
    );
    Ok(())
}

/// Supervising a server that writes its pid each incarnation: every old
/// incarnation is gone before the next starts, and none is left at the end.
#[tokio::test]
async fn supervised_incarnations_do_not_pile_up() -> processkit::Result<()> {
    use processkit::{RestartPolicy, Supervisor};
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let body = format!(
        "sleep 30 & echo $! >> {0}; echo $$ >> {0}; sleep 0.05; exit 1",
        pidfile.display()
    );
    let outcome = Supervisor::new(Command::new("sh").args(["-c", &body]))
        .restart(RestartPolicy::Always)
        .max_restarts(4)
        .backoff(Duration::from_millis(1), 1.0)
        .run()
        .await?;
    assert_eq!(outcome.restarts, 4);
    let pids = pids_in(&pidfile);
    assert_eq!(pids.len(), 10);
    assert_gone(&pids, "incarnations and their background children").await;
    Ok(())
}

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

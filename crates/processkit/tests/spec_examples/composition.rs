//! The README examples of pipelines, spawn-time controls, cancellation, streaming and interactive stdin.

use super::*;

// ----- Pipelines -------------------------------------------------------------------------------

/// `git log --format=%an | sort | uniq -c`, without a shell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_example() -> processkit::Result<()> {
    let repo = repo();
    let out = Command::new("git")
        .args(["log", "--format=%an"])
        .current_dir(repo.path())
        .pipe(Command::new("sort"))
        .pipe(Command::new("uniq").arg("-c"))
        .output_string()
        .await?;
    println!("{}", out.stdout());
    let lines: Vec<String> = out
        .stdout()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, ["2 Alice", "1 Bob"]);

    // The `|` operator is equivalent sugar.
    let a = Command::new("git")
        .args(["log", "--format=%an"])
        .current_dir(repo.path());
    let b = Command::new("sort");
    let c = Command::new("uniq").arg("-c");
    let sugar = (a | b | c).run().await?;
    assert_eq!(sugar, out.stdout().trim_end());
    Ok(())
}

/// Pipefail attribution, `.unchecked()`, first-stage stdin and the chain
/// timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_pipefail_unchecked_stdin_and_timeout() -> processkit::Result<()> {
    use processkit::Stdin;
    // The first stage that didn't exit cleanly decides code, stderr, program.
    let dir = scratch();
    let first = script(
        dir.path(),
        "first-stage",
        "#!/bin/sh\necho data; echo first-err >&2; exit 3\n",
    );
    let second = script(
        dir.path(),
        "second-stage",
        "#!/bin/sh\ncat; echo second-err >&2; exit 4\n",
    );
    let r = (Command::new(&first) | Command::new(&second) | Command::new("cat"))
        .output_string()
        .await?;
    assert_eq!(r.stdout(), "data\n", "stdout is the last stage's");
    assert_eq!(r.code(), Some(3));
    assert_eq!(r.stderr(), "first-err\n");
    assert!(r.program().contains("first-stage"), "{}", r.program());
    let e = (Command::new("true") | Command::new(&second) | Command::new("cat"))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NonZeroExit { code: 4, .. }), "{e:?}");
    assert!(
        e.program().is_some_and(|p| p.contains("second-stage")),
        "{e:?}"
    );

    // All succeed: the last stage reports.
    let r = (Command::new("echo").arg("x") | Command::new("cat"))
        .output_string()
        .await?;
    assert_eq!((r.code(), r.stdout().as_str()), (Some(0), "x\n"));

    // producer | head -1: the producer's SIGPIPE death is expected once unchecked.
    let first = (Command::new("yes").unchecked() | Command::new("head").arg("-1"))
        .run()
        .await?;
    assert_eq!(first, "y");
    // …and a checked failure still always wins.
    let e = (Command::new("yes").unchecked()
        | Command::new("sh").args(["-c", "head -1 >/dev/null; exit 5"]))
    .run()
    .await
    .unwrap_err();
    assert!(matches!(e, Error::NonZeroExit { code: 5, .. }), "{e:?}");
    // Without unchecked, the SIGPIPE death is the first failure.
    let e = (Command::new("yes") | Command::new("head").arg("-1"))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Killed { .. }), "{e:?}");

    // The first stage's stdin source is honored.
    let sorted = (Command::new("cat").stdin(Stdin::from_string("b\na\n")) | Command::new("sort"))
        .run()
        .await?;
    assert_eq!(sorted, "a\nb");

    // .timeout(d) bounds the whole chain.
    let pidfile = dir.path().join("pids");
    let stage = format!("echo $$ >> {}; exec sleep 30", pidfile.display());
    let t0 = Instant::now();
    let chain = (Command::new("sh").args(["-c", &stage])
        | Command::new("sh").args(["-c", &stage])
        | Command::new("sh").args(["-c", &stage]))
    .timeout(Duration::from_secs(2));
    let (r, pids) = tokio::join!(chain.output_string(), wait_for_pids(&pidfile, 3));
    let r = r?;
    assert!(r.timed_out());
    assert!(t0.elapsed() < DEADLINE);
    assert_eq!(pids.len(), 3);
    assert_gone(&pids, "pipeline after its timeout").await;
    Ok(())
}

// ----- Spawn-time controls -------------------------------------------------------------------------

/// `inherit_env`, `uid`/`gid`, `setsid`, `create_no_window` and
/// `kill_on_parent_death` as in the example.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_time_controls_example() -> processkit::Result<()> {
    let worker = Command::new("sh")
        .args([
            "-c",
            "echo \"$(id -u) $(id -g) $$ $(cut -d' ' -f6 /proc/$$/stat)\"; grep '^0::' /proc/$$/cgroup; env",
        ])
        .inherit_env(["PATH", "HOME", "LANG"]) // allow-list on a cleared env
        .uid(1000)
        .gid(1000) // Unix: drop privileges
        .setsid(); // Unix: new session
    let outcome = worker.run().await;
    if rustix::process::geteuid().is_root() {
        match outcome {
            Ok(out) => {
                let mut lines = out.lines();
                let ids: Vec<&str> = lines.next().unwrap().split(' ').collect();
                assert_eq!(&ids[..2], ["1000", "1000"], "gid and uid dropped");
                assert_eq!(ids[2], ids[3], "the worker leads its own session");
                let cgroup = lines.next().unwrap();
                if Mechanism::current() == Mechanism::CgroupV2 {
                    // Never an uncontained child.
                    assert!(cgroup.contains("/processkit-"), "{cgroup}");
                }
                let names: Vec<&str> = lines
                    .filter_map(|l| l.split_once('=').map(|(k, _)| k))
                    .collect();
                assert!(names.contains(&"PATH"), "{names:?}");
                assert!(!names.iter().any(|n| n.starts_with("CARGO")), "{names:?}");
            }
            Err(e) => {
                // The documented cgroup caveat: a permission error, never an
                // uncontained child. The process-group mechanism composes.
                assert_eq!(Mechanism::current(), Mechanism::CgroupV2, "{e:?}");
                let is_permission = match &e {
                    Error::PermissionDenied { .. } => true,
                    Error::Spawn { source, .. } => {
                        source.kind() == std::io::ErrorKind::PermissionDenied
                    }
                    _ => false,
                };
                assert!(is_permission, "{e:?}");
            }
        }
    }

    Command::new("true")
        .create_no_window() // Windows: no console window
        .run()
        .await?;

    let daemonish = Command::new("sleep")
        .arg("30")
        .kill_on_parent_death() // die with a SIGKILLed parent
        .start()
        .await?;
    let pid = daemonish.pid().unwrap();
    assert!(alive(pid));
    drop(daemonish);
    assert_gone(&[pid], "dropped daemonish").await;
    Ok(())
}

/// "`inherit_env` clears the environment and copies only the named parent
/// vars (explicit `env`/`env_remove` still apply on top)"; `setsid` keeps
/// containment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inherit_env_and_setsid_semantics() -> processkit::Result<()> {
    let out = Command::new("env")
        .inherit_env(["PATH", "HOME"])
        .env("EXTRA", "1")
        .env_remove("HOME")
        .run()
        .await?;
    let mut names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    names.sort();
    let mut expected = vec!["EXTRA", "PATH"];
    expected.retain(|n| *n != "PATH" || std::env::var_os("PATH").is_some());
    assert_eq!(names, expected);

    // setsid: the new session's tree is still reaped with the handle.
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let run = Command::new("sh")
        .args([
            "-c",
            &format!(
                "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
                pidfile.display()
            ),
        ])
        .setsid()
        .start()
        .await?;
    let pids = wait_for_pids(&pidfile, 2).await;
    assert_eq!(session_of(pids[1]), Some(pids[1]), "a new session");
    drop(run);
    assert_gone(&pids, "setsid tree after drop").await;
    Ok(())
}

// ----- Cancellation ------------------------------------------------------------------------------------

/// The cancellation example, exactly: cancelling the token makes the run
/// `Error::Cancelled`.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_example() -> processkit::Result<()> {
    use processkit::CancellationToken;
    let token = CancellationToken::new();
    let job = tokio::spawn({
        let token = token.child_token();
        async move { Command::new("sleep").arg("30").cancel_on(token).run().await }
    });
    // elsewhere — a shutdown signal, a sibling failure, a UI button:
    token.cancel();
    assert!(matches!(
        job.await.unwrap(),
        Err(processkit::Error::Cancelled { .. })
    ));
    Ok(())
}

/// Cancelling a running command kills its whole tree; a pre-cancelled
/// token spawns nothing; cancel wins over a timeout.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_kills_the_tree_and_short_circuits() -> processkit::Result<()> {
    use processkit::CancellationToken;
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let token = CancellationToken::new();
    let job = tokio::spawn({
        let token = token.child_token();
        let script = format!(
            "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
            pidfile.display()
        );
        async move {
            Command::new("sh")
                .args(["-c", &script])
                .cancel_on(token)
                .output_string()
                .await
        }
    });
    let pids = wait_for_pids(&pidfile, 2).await;
    token.cancel();
    let r = job.await.unwrap();
    assert!(matches!(r, Err(Error::Cancelled { .. })), "{r:?}");
    assert_gone(&pids, "cancelled tree").await;

    // Cancelled before the run starts: nothing is spawned.
    let marker = dir.path().join("spawned");
    let token = CancellationToken::new();
    token.cancel();
    let r = Command::new("sh")
        .args(["-c", &format!("touch {}", marker.display())])
        .cancel_on(token)
        .output_string()
        .await;
    assert!(matches!(r, Err(Error::Cancelled { .. })), "{r:?}");
    assert!(!marker.exists(), "a pre-cancelled run spawned a process");

    // A cancel and a timeout landing together: cancellation wins.
    let token = CancellationToken::new();
    let cancel = token.clone();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    });
    let r = Command::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(100))
        .cancel_on(token.clone())
        .output_string()
        .await;
    canceller.await.unwrap();
    // Either the cancel landed first or the timeout did; once both have
    // landed, a timeout that was captured must not hide a cancel that the
    // caller sees as already done.
    if token.is_cancelled() {
        match r {
            Err(Error::Cancelled { .. }) => {}
            Ok(res) => assert!(res.timed_out(), "{res:?}"),
            Err(e) => panic!("{e:?}"),
        }
    }
    Ok(())
}

/// On a shared group, cancelling kills the child itself but leaves its
/// siblings alone; a cancelled supervised command stops the Supervisor.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_scope_in_groups_and_supervisors() -> processkit::Result<()> {
    use processkit::{CancellationToken, ProcessGroup, Supervisor};
    let group = ProcessGroup::new()?;
    let sibling = group.start(&Command::new("sleep").arg("30")).await?;
    let token = CancellationToken::new();
    let mut victim = group
        .start(&Command::new("sleep").arg("30").cancel_on(token.clone()))
        .await?;
    let victim_pid = victim.pid().unwrap();
    token.cancel();
    let r = victim.wait().await;
    assert!(matches!(r, Err(Error::Cancelled { .. })), "{r:?}");
    assert_gone(&[victim_pid], "cancelled member").await;
    assert!(alive(sibling.pid().unwrap()), "the sibling is left alone");

    let token = CancellationToken::new();
    let stop = token.clone();
    let sup = tokio::spawn(async move {
        Supervisor::new(Command::new("sleep").arg("30").cancel_on(token))
            .max_restarts(100)
            .backoff(Duration::from_millis(1), 1.0)
            .run()
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    let r = tokio::time::timeout(DEADLINE, sup)
        .await
        .expect("supervisor stopped")
        .unwrap();
    assert!(matches!(r, Err(Error::Cancelled { .. })), "{r:?}");
    group.kill()?;
    Ok(())
}

/// `CliClient::new("gh").default_cancel_on(token.child_token())` —
/// cancelling it kills every in-flight command of that client.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_client_default_cancel_on() -> processkit::Result<()> {
    use processkit::{CancellationToken, CliClient};
    let token = CancellationToken::new();
    let client = CliClient::new("sleep").default_cancel_on(token.child_token());
    let a = client.run(client.command(["30"]));
    let b = client.output_string(client.command(["30"]));
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        token.cancel();
    };
    let (ra, rb, ()) = tokio::time::timeout(DEADLINE, async { tokio::join!(a, b, cancel) })
        .await
        .expect("cancellation ended both runs");
    assert!(matches!(ra, Err(Error::Cancelled { .. })), "{ra:?}");
    assert!(matches!(rb, Err(Error::Cancelled { .. })), "{rb:?}");
    Ok(())
}

// ----- Streaming lines ---------------------------------------------------------------------------

/// `stdout_lines` + `finish_streamed` as in the example.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_lines_example() -> processkit::Result<()> {
    use processkit::StreamExt;
    let repo = repo();
    let mut run = Command::new("git")
        .args(["log", "--oneline", "-n", "50"])
        .current_dir(repo.path())
        .start()
        .await?;
    let mut seen = Vec::new();
    let mut lines = run.stdout_lines();
    while let Some(line) = lines.next().await {
        println!("commit: {line}");
        seen.push(line);
    }
    // After the stream ends, collect the exit code and whatever went to stderr.
    let (code, stderr) = run.finish_streamed().await?;
    if code != Some(0) {
        eprintln!("git exited {code:?}: {stderr}");
    }
    assert_eq!(code, Some(0));
    assert_eq!(seen.len(), 3);
    assert!(seen[0].ends_with("change 2"), "{seen:?}");
    Ok(())
}

/// The command's timeout bounds the stream; `code` is `None` for a killed run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_bounds_the_stream() -> processkit::Result<()> {
    use processkit::StreamExt;
    let mut run = Command::new("sh")
        .args(["-c", "echo first; echo err >&2; sleep 30"])
        .timeout(Duration::from_secs(2))
        .start()
        .await?;
    let t0 = Instant::now();
    let lines: Vec<String> = run.stdout_lines().collect().await;
    assert!(t0.elapsed() < DEADLINE);
    assert_eq!(lines, ["first"]);
    let (code, stderr) = run.finish_streamed().await?;
    assert_eq!(code, None);
    assert_eq!(stderr, "err\n");
    Ok(())
}

/// A `cancel_on` token ends the stream the same way; `finish_streamed`
/// then reports `Error::Cancelled`.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_ends_the_stream() -> processkit::Result<()> {
    use processkit::{CancellationToken, StreamExt};
    let token = CancellationToken::new();
    let mut run = Command::new("sh")
        .args(["-c", "echo first; sleep 30"])
        .cancel_on(token.clone())
        .start()
        .await?;
    let pid = run.pid().unwrap();
    let mut lines = run.stdout_lines();
    assert_eq!(lines.next().await.as_deref(), Some("first"));
    token.cancel();
    let rest = tokio::time::timeout(DEADLINE, lines.collect::<Vec<_>>())
        .await
        .expect("the stream ended");
    assert!(rest.is_empty());
    let r = run.finish_streamed().await;
    assert!(matches!(r, Err(Error::Cancelled { .. })), "{r:?}");
    assert_gone(&[pid], "cancelled stream").await;
    Ok(())
}

// ----- Interactive stdin -----------------------------------------------------------------------------

/// `bc` answering two questions over a kept-open stdin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_stdin_with_bc() -> processkit::Result<()> {
    use processkit::StreamExt;
    // `bc` evaluates each stdin line and prints the result on stdout.
    let mut run = Command::new("bc").keep_stdin_open().start().await?;
    let mut stdin = run.standard_input().expect("stdin was kept open");
    stdin.write_line("2 + 2").await?;
    stdin.write_line("6 * 7").await?;
    stdin.finish().await?; // send EOF so bc finishes

    let mut said = Vec::new();
    let mut answers = run.stdout_lines();
    while let Some(answer) = answers.next().await {
        println!("bc says: {answer}");
        said.push(answer);
    }
    assert_eq!(said, ["4", "42"]);
    Ok(())
}

/// Writes and reads interleave: each answer is read before the next
/// question is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_stdin_is_conversational() -> processkit::Result<()> {
    use processkit::StreamExt;
    let mut run = Command::new("bc").keep_stdin_open().start().await?;
    let mut stdin = run.standard_input().expect("stdin was kept open");
    for (q, a) in [("1 + 1", "2"), ("3 * 3", "9"), ("10 / 2", "5")] {
        stdin.write_line(q).await?;
        let got = tokio::time::timeout(DEADLINE, run.stdout_lines().next())
            .await
            .expect("bc answered");
        assert_eq!(got.as_deref(), Some(a));
    }
    stdin.finish().await?;
    let (code, _) = run.finish_streamed().await?;
    assert_eq!(code, Some(0));
    Ok(())
}

/// `Stdin::from_lines` + `on_stdout_line`: the handler sees each line, in
/// addition to capture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_from_lines_with_line_handler() -> processkit::Result<()> {
    use processkit::Stdin;
    use std::sync::{Arc, Mutex};
    use tokio_stream::iter; // any `Stream<Item = String>` works

    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let input = iter(vec![
        "banana".to_owned(),
        "apple".to_owned(),
        "cherry".to_owned(),
    ]);
    let result = Command::new("sort")
        .stdin(Stdin::from_lines(input))
        .on_stdout_line(move |line| {
            println!("sorted: {line}");
            sink.lock().unwrap().push(line.to_owned());
        })
        .output_string()
        .await?;
    assert_eq!(*seen.lock().unwrap(), ["apple", "banana", "cherry"]);
    assert_eq!(
        result.stdout(),
        "apple\nbanana\ncherry\n",
        "capture still happens"
    );
    Ok(())
}

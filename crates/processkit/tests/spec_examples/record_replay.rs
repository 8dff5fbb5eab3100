//! The README examples of the CLI client, and of recording and replaying runs.

use super::*;

// ----- CliClient and cli_client! ------------------------------------------------------------------------

use processkit::{ProcessRunner, cli_client};

cli_client!(pub struct Git => "git");

impl<R: ProcessRunner> Git<R> {
    async fn head(&self, dir: &Path) -> processkit::Result<String> {
        self.core
            .run(self.core.command_in(dir, ["rev-parse", "HEAD"]))
            .await
    }
}

/// The `cli_client!` example against the real `git` and hermetically.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_client_macro_example() -> processkit::Result<()> {
    use processkit::ScriptedRunner;
    let repo = repo();
    let real = Git::new().head(repo.path()).await?;
    let direct = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo.path())
        .run()
        .await?;
    assert_eq!(real, direct);

    let scripted =
        Git::with_runner(ScriptedRunner::new().on(["git", "rev-parse", "HEAD"], "abc123\n"));
    assert_eq!(scripted.head(Path::new("/repo")).await?, "abc123");
    let calls = scripted.core.runner().calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].cwd.as_deref(), Some(Path::new("/repo")));
    Ok(())
}

/// "A scripted `start()` feeds canned lines through the same pump
/// machinery": `wait_for_line` and `stdout_lines` work hermetically.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_start_streams_canned_lines() -> processkit::Result<()> {
    use processkit::{ScriptedOutcome, ScriptedRunner, StreamExt};
    let git = Git::with_runner(ScriptedRunner::new().on(
        ["git", "log", "--oneline"],
        ScriptedOutcome::success().lines(["c3 third", "c2 second", "c1 first"]),
    ));
    let mut run = git
        .core
        .start(git.core.command(["log", "--oneline"]))
        .await?;
    let hit = run
        .wait_for_line(|l| l.starts_with("c2"), Duration::from_secs(5))
        .await?;
    assert_eq!(hit, "c2 second");
    let rest: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(rest, ["c1 first"]);
    let (code, _) = run.finish_streamed().await?;
    assert_eq!(code, Some(0));
    Ok(())
}

// ----- Record / replay -------------------------------------------------------------------------------------

/// The record/replay example: record once, replay identically.
#[cfg(feature = "record")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_replay_example() -> processkit::Result<()> {
    use processkit::{JobRunner, ProcessRunnerExt, RecordReplayRunner};
    let dir = scratch();
    let path = dir.path().join("fixtures/git.json");

    // Record once against the real tool:
    let runner = RecordReplayRunner::record(&path, JobRunner::new());
    let version = runner.run(&Command::new("git").arg("--version")).await?;
    runner.save()?; // or best-effort on drop

    // Replay everywhere else — no subprocess, identical results:
    let runner = RecordReplayRunner::replay(&path)?;
    assert_eq!(
        runner.run(&Command::new("git").arg("--version")).await?,
        version
    );
    Ok(())
}

/// The prose around record/replay: env values never reach the file,
/// repeated invocations replay in order then repeat the last, a miss is a
/// strict error, and matching looks at args, cwd and has-stdin.
#[cfg(feature = "record")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_replay_semantics() -> processkit::Result<()> {
    use processkit::{JobRunner, ProcessRunnerExt, RecordReplayRunner, Stdin};
    let dir = scratch();
    let path = dir.path().join("cassette.json");
    let counter = dir.path().join("n");
    let bump = format!("echo x >> {0}; wc -l < {0}", counter.display());

    let rec = RecordReplayRunner::record(&path, JobRunner::new());
    let tick = Command::new("sh").args(["-c", &bump]);
    let first = rec.run(&tick).await?;
    let second = rec.run(&tick).await?;
    assert_eq!((first.as_str(), second.as_str()), ("1", "2"));
    let secret = Command::new("sh")
        .args(["-c", "echo $SECRET_TOKEN | wc -c"])
        .env("SECRET_TOKEN", "hunter2-do-not-leak");
    rec.run(&secret).await?;
    let fed = Command::new("cat").stdin(Stdin::from_string("fed\n"));
    assert_eq!(rec.run(&fed).await?, "fed");
    let failing = rec
        .output_string(&Command::new("sh").args(["-c", "echo e >&2; exit 3"]))
        .await?;
    assert_eq!(failing.code(), Some(3));
    rec.save()?;

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("hunter2"),
        "an env value reached the cassette"
    );
    assert!(text.contains("SECRET_TOKEN"), "the env name is kept");

    let rep = RecordReplayRunner::replay(&path)?;
    assert_eq!(rep.run(&tick).await?, "1");
    assert_eq!(rep.run(&tick).await?, "2");
    assert_eq!(rep.run(&tick).await?, "2", "the last entry repeats");
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().lines().count(),
        2,
        "replay spawned"
    );
    let f = rep
        .output_string(&Command::new("sh").args(["-c", "echo e >&2; exit 3"]))
        .await?;
    assert_eq!((f.code(), f.stderr().as_str()), (Some(3), "e\n"));
    assert_eq!(rep.run(&fed).await?, "fed");

    // Absent invocations are strict errors: other args, cwd, or stdin.
    let miss = rep
        .run(&Command::new("git").arg("status"))
        .await
        .unwrap_err();
    assert!(matches!(miss, Error::NoScriptedOutcome { .. }), "{miss:?}");
    let miss = rep
        .run(&tick.clone().current_dir(dir.path()))
        .await
        .unwrap_err();
    assert!(matches!(miss, Error::NoScriptedOutcome { .. }), "{miss:?}");
    let miss = rep.run(&Command::new("cat")).await.unwrap_err();
    assert!(matches!(miss, Error::NoScriptedOutcome { .. }), "{miss:?}");
    Ok(())
}

/// "Every consuming path reports `Error::Cancelled`": the one-shot verbs,
/// a group start and a pipeline with a pre-cancelled token, and every
/// handle method after a cancel lands mid-run.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_consuming_path_reports_cancelled() -> processkit::Result<()> {
    use processkit::{CancellationToken, ProcessGroup, StreamExt};
    fn cancelled<T: std::fmt::Debug>(what: &str, r: processkit::Result<T>) {
        assert!(matches!(r, Err(Error::Cancelled { .. })), "{what}: {r:?}");
    }
    let done = CancellationToken::new();
    done.cancel();
    let cmd = Command::new("sleep").arg("30").cancel_on(done.clone());
    cancelled("run", cmd.run().await);
    cancelled("output_string", cmd.output_string().await);
    cancelled("output_bytes", cmd.output_bytes().await);
    cancelled("exit_code", cmd.exit_code().await);
    cancelled("probe", cmd.probe().await);
    cancelled("first_line", cmd.first_line(|_| true).await);
    cancelled("start", cmd.start().await);
    let group = ProcessGroup::new()?;
    cancelled("group.start", group.start(&cmd).await);
    assert!(group.is_empty()?);
    cancelled(
        "pipeline",
        (Command::new("yes") | Command::new("cat"))
            .cancel_on(done.clone())
            .output_string()
            .await,
    );

    // Mid-run cancels, one per handle method.
    async fn started(token: &CancellationToken) -> processkit::RunningProcess {
        Command::new("sh")
            .args(["-c", "echo up; exec sleep 30"])
            .cancel_on(token.clone())
            .start()
            .await
            .unwrap()
    }
    let after = |token: CancellationToken| {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            token.cancel();
        })
    };
    let t = CancellationToken::new();
    let mut run = started(&t).await;
    after(t);
    cancelled("wait", run.wait().await);
    let t = CancellationToken::new();
    let run = started(&t).await;
    after(t);
    cancelled("output_string (handle)", run.output_string().await);
    let t = CancellationToken::new();
    let mut run = started(&t).await;
    after(t);
    let rest: Vec<String> = run.stdout_lines().collect().await;
    assert!(rest.len() <= 1, "{rest:?}");
    cancelled("finish_streamed", run.finish_streamed().await);
    let t = CancellationToken::new();
    let mut run = started(&t).await;
    after(t);
    cancelled(
        "wait_for_line",
        run.wait_for_line(|l| l == "never", Duration::from_secs(30))
            .await,
    );
    let t = CancellationToken::new();
    let mut run = started(&t).await;
    after(t);
    cancelled(
        "wait_for",
        run.wait_for(|| async { false }, Duration::from_secs(30))
            .await,
    );
    #[cfg(feature = "stats")]
    {
        let t = CancellationToken::new();
        let run = started(&t).await;
        after(t);
        cancelled("profile", run.profile(Duration::from_millis(20)).await);
    }
    Ok(())
}

/// "When a cancel and a timeout land together, cancellation wins": both
/// have passed before the handle is next polled.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_landing_with_a_timeout_wins() -> processkit::Result<()> {
    use processkit::CancellationToken;
    let token = CancellationToken::new();
    let mut run = Command::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(50))
        .cancel_on(token.clone())
        .start()
        .await?;
    // Let the deadline pass, then cancel, before the handle is polled again.
    tokio::time::sleep(Duration::from_millis(150)).await;
    token.cancel();
    let r = run.wait().await;
    assert!(matches!(r, Err(Error::Cancelled { .. })), "{r:?}");
    Ok(())
}

/// A `ScriptedRunner` tests supervision logic hermetically.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_runs_hermetically_on_a_scripted_runner() -> processkit::Result<()> {
    use processkit::{ScriptedOutcome, ScriptedRunner, StopReason, Supervisor};
    let runner = ScriptedRunner::new().on_program("my-server", ScriptedOutcome::exit(1));
    let outcome = Supervisor::new(Command::new("my-server").args(["--port", "8080"]))
        .max_restarts(3)
        .backoff(Duration::from_millis(1), 1.0)
        .with_runner(&runner)
        .run()
        .await?;
    assert_eq!(
        (outcome.restarts, outcome.stopped),
        (3, StopReason::MaxRestarts)
    );
    assert_eq!(runner.calls().len(), 4);
    assert_eq!(runner.calls()[0].argv(), ["my-server", "--port", "8080"]);
    Ok(())
}

/// The README's examples, character for character (only `#[tokio::main]`
/// and the `main` names differ), compiled but never run: they name
/// placeholder programs. A mismatch between the contract and the API fails
/// the build of this file.
#[allow(dead_code, unused_variables, clippy::all)]
#[rustfmt::skip]
mod verbatim {
    mod quick_start {
        use processkit::Command;
        async fn main() -> processkit::Result<()> {
            let version = Command::new("cargo").arg("--version").run().await?;
            println!("{version}");
            Ok(())
        }
    }

    mod verbs {
        use processkit::{Command, ProcessGroup, Stdin};
        async fn main() -> processkit::Result<()> {
            // Capture output; a non-zero exit does not error on its own.
            let result = Command::new("git").args(["rev-parse", "HEAD"]).output_string().await?;
            println!("HEAD is {}", result.stdout().trim());
            // Require success and get trimmed stdout directly.
            let version = Command::new("cargo").arg("--version").run().await?;
            println!("{version}");
            // Feed stdin.
            let sorted = Command::new("sort")
                .stdin(Stdin::from_string("banana\napple\n"))
                .output_string()
                .await?;
            println!("{}", sorted.stdout());
            // Share one kill-on-drop group across several children; dropping the group
            // reaps the whole tree.
            let group = ProcessGroup::new()?;
            let _server = group.start(&Command::new("some-server")).await?;
            // ... work ...
            group.shutdown().await?; // graceful SIGTERM → wait → SIGKILL (Unix); atomic on Windows
            Ok(())
        }
        async fn one_liners() -> processkit::Result<()> {
            let _ = processkit::run("git", ["status"]).await?;
            let _ = processkit::output("git", ["status"]).await?;
            Ok(())
        }
    }

    #[cfg(feature = "limits")]
    mod limits {
        use processkit::{Command, ProcessGroup, ProcessGroupOptions};
        async fn main() -> processkit::Result<()> {
            let group = ProcessGroup::with_options(
                ProcessGroupOptions::default()
                    .memory_max(512 * 1024 * 1024) // 512 MiB across the tree
                    .max_processes(64)
                    .cpu_quota(0.5), // half of one core
            )?;
            let _job = group.start(&Command::new("untrusted-tool")).await?;
            // ... work ...
            Ok(())
        }
    }

    #[cfg(feature = "process-control")]
    mod signals {
        use processkit::{Command, ProcessGroup, Signal};
        async fn main() -> processkit::Result<()> {
            let group = ProcessGroup::new()?;
            let _server = group.start(&Command::new("my-server")).await?;
            group.signal(Signal::Hup)?; // e.g. "reload configuration"
            group.suspend()?; // freeze the whole tree…
            group.resume()?; // …and let it run again
            Ok(())
        }
    }

    #[cfg(feature = "process-control")]
    mod members_wait_any {
        use processkit::{Command, ProcessGroup, wait_any};
        async fn main() -> processkit::Result<()> {
            let group = ProcessGroup::new()?;
            let mut a = group.start(&Command::new("server-a")).await?;
            let mut b = group.start(&Command::new("server-b")).await?;
            println!("live pids: {:?}", group.members()?);
            // Borrows only: the loser stays usable after the race.
            let (idx, code) = wait_any(&mut [&mut a, &mut b]).await?;
            println!("contender #{idx} exited first with {code:?}");
            Ok(())
        }
    }

    mod wait_all_output_all {
        use processkit::{Command, JobRunner, output_all, wait_all};
        async fn main() -> processkit::Result<()> {
            let group = processkit::ProcessGroup::new()?;
            let mut a = group.start(&Command::new("worker-a")).await?;
            let mut b = group.start(&Command::new("worker-b")).await?;
            let codes = wait_all(&mut [&mut a, &mut b]).await?; // both, in input order
            // 200 conversions, but never more than 8 processes alive at once.
            let cmds = (0..200).map(|i| Command::new("convert").arg(format!("{i}.png")));
            let results = output_all(cmds, 8, &JobRunner).await;
            let failed = results.iter().filter(|r| !matches!(r, Ok(o) if o.is_success())).count();
            println!("{:?}; {failed} conversions failed", codes);
            Ok(())
        }
    }

    #[cfg(feature = "stats")]
    mod stats_profile {
        use processkit::{Command, ProcessGroup, StreamExt};
        use std::time::Duration;
        async fn main() -> processkit::Result<()> {
            // A CPU/RSS/process-count series for a whole group:
            let group = ProcessGroup::new()?;
            let _worker = group.start(&Command::new("worker")).await?;
            let mut samples = group.sample_stats(Duration::from_millis(250));
            if let Some(s) = samples.next().await {
                println!("procs={} rss={:?}", s.active_process_count, s.peak_memory_bytes);
            }
            drop(samples);
            // …or a one-shot summary of a single run:
            let profile = Command::new("crunch")
                .start().await?
                .profile(Duration::from_millis(100)).await?;
            println!(
                "exit={:?} took={:?} peak_rss={:?} avg_cpu={:?}",
                profile.exit_code, profile.duration, profile.peak_memory_bytes, profile.avg_cpu(),
            );
            Ok(())
        }
    }

    mod supervisor {
        use processkit::{Command, RestartPolicy, Supervisor};
        use std::time::Duration;
        async fn main() -> processkit::Result<()> {
            let outcome = Supervisor::new(Command::new("my-server").args(["--port", "8080"]))
                .restart(RestartPolicy::OnCrash) // Always | OnCrash | Never
                .max_restarts(5)
                .backoff(Duration::from_millis(200), 2.0) // base, multiplier (cap: .max_backoff)
                .storm_pause(Duration::from_secs(15)) // crash-loop guard (off by default)
                .stop_when(|res| res.code() == Some(0)) // a clean exit ends supervision
                .run()
                .await?;
            println!("ended after {} restarts: {:?}", outcome.restarts, outcome.stopped);
            Ok(())
        }
    }

    mod readiness {
        use processkit::Command;
        use std::time::Duration;
        async fn main() -> processkit::Result<()> {
            let mut run = Command::new("my-server").start().await?;
            // Wait for the startup banner (returns the matching line)…
            let banner = run
                .wait_for_line(|l| l.contains("listening on"), Duration::from_secs(10))
                .await?;
            println!("server says: {banner}");
            // …or for the port to accept connections…
            let addr = "127.0.0.1:8080".parse().expect("valid socket address");
            run.wait_for_port(addr, Duration::from_secs(10)).await?;
            // …or for any async health check to pass.
            run.wait_for(|| async { health_check().await }, Duration::from_secs(10)).await?;
            // ready — use the server …
            Ok(())
        }
        async fn health_check() -> bool {
            // e.g. probe an HTTP /health endpoint
            true
        }
    }

    mod pipelines {
        use processkit::Command;
        async fn main() -> processkit::Result<()> {
            let out = Command::new("git").args(["log", "--format=%an"])
                .pipe(Command::new("sort"))
                .pipe(Command::new("uniq").arg("-c"))
                .output_string()
                .await?;
            println!("{}", out.stdout());
            Ok(())
        }
        async fn sugar() -> processkit::Result<String> {
            let (a, b, c) = (Command::new("a"), Command::new("b"), Command::new("c"));
            (a | b | c).run().await
        }
    }

    mod spawn_controls {
        use processkit::Command;
        async fn main() -> processkit::Result<()> {
            Command::new("worker")
                .inherit_env(["PATH", "HOME", "LANG"]) // allow-list on a cleared env
                .uid(1000).gid(1000) // Unix: drop privileges
                .setsid() // Unix: new session
                .run()
                .await?;
            Command::new("helper")
                .create_no_window() // Windows: no console window
                .run()
                .await?;
            Command::new("daemonish")
                .kill_on_parent_death() // die with a SIGKILLed parent
                .start()
                .await?;
            Ok(())
        }
    }

    #[cfg(feature = "cancellation")]
    mod cancellation {
        use processkit::{CancellationToken, Command};
        async fn main() -> processkit::Result<()> {
            let token = CancellationToken::new();
            let job = tokio::spawn({
                let token = token.child_token();
                async move {
                    Command::new("long-job").cancel_on(token).run().await
                }
            });
            // elsewhere — a shutdown signal, a sibling failure, a UI button:
            token.cancel();
            assert!(matches!(job.await.unwrap(), Err(processkit::Error::Cancelled { .. })));
            Ok(())
        }
        fn client(token: &CancellationToken) -> processkit::CliClient {
            processkit::CliClient::new("gh").default_cancel_on(token.child_token())
        }
    }

    mod streaming {
        use processkit::{Command, StreamExt};
        async fn main() -> processkit::Result<()> {
            let mut run = Command::new("git")
                .args(["log", "--oneline", "-n", "50"])
                .start()
                .await?;
            let mut lines = run.stdout_lines();
            while let Some(line) = lines.next().await {
                println!("commit: {line}");
            }
            // After the stream ends, collect the exit code and whatever went to stderr
            // (drained in the background while you streamed stdout). `code` is `None` if
            // the run was killed (timeout / signal) and so produced no exit code.
            let (code, stderr) = run.finish_streamed().await?;
            if code != Some(0) {
                eprintln!("git exited {code:?}: {stderr}");
            }
            Ok(())
        }
    }

    mod interactive {
        use processkit::{Command, StreamExt};
        async fn main() -> processkit::Result<()> {
            // `bc` evaluates each stdin line and prints the result on stdout.
            let mut run = Command::new("bc").keep_stdin_open().start().await?;
            let mut stdin = run.standard_input().expect("stdin was kept open");
            stdin.write_line("2 + 2").await?;
            stdin.write_line("6 * 7").await?;
            stdin.finish().await?; // send EOF so bc finishes
            let mut answers = run.stdout_lines();
            while let Some(answer) = answers.next().await {
                println!("bc says: {answer}");
            }
            Ok(())
        }
    }

    mod from_lines {
        use processkit::{Command, Stdin};
        use tokio_stream::iter; // any `Stream<Item = String>` works
        async fn main() -> processkit::Result<()> {
            let input = iter(vec!["banana".to_owned(), "apple".to_owned(), "cherry".to_owned()]);
            let result = Command::new("sort")
                .stdin(Stdin::from_lines(input))
                .on_stdout_line(|line| println!("sorted: {line}"))
                .output_string()
                .await?;
            let _ = result; // already printed line by line above
            Ok(())
        }
    }

    mod cli {
        use processkit::{ProcessRunner, Result, cli_client};
        use std::path::Path;
        cli_client!(pub struct Git => "git");
        impl<R: ProcessRunner> Git<R> {
            async fn head(&self, dir: &Path) -> Result<String> {
                self.core.run(self.core.command_in(dir, ["rev-parse", "HEAD"])).await
            }
        }
    }

    #[cfg(feature = "record")]
    mod record {
        use processkit::{Command, JobRunner, ProcessRunnerExt, RecordReplayRunner};
        async fn main() -> processkit::Result<()> {
            // Record once against the real tool (e.g. an opt-in `--record` test run):
            let runner = RecordReplayRunner::record("fixtures/git.json", JobRunner::new());
            let version = runner.run(&Command::new("git").arg("--version")).await?;
            runner.save()?; // or best-effort on drop
            // Replay everywhere else — no subprocess, identical results:
            let runner = RecordReplayRunner::replay("fixtures/git.json")?;
            assert_eq!(runner.run(&Command::new("git").arg("--version")).await?, version);
            Ok(())
        }
    }
}

/// Record/replay, continued: a recorder saves on drop; env differences never
/// cause a miss (only the names are stored, and they are not part of the
/// key); a cassette of another format version fails loudly.
#[cfg(feature = "record")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_replay_saves_on_drop_and_ignores_env_in_matching() -> processkit::Result<()> {
    use processkit::{JobRunner, ProcessRunnerExt, RecordReplayRunner};
    let dir = scratch();
    let path = dir.path().join("drop.json");
    {
        let rec = RecordReplayRunner::record(&path, JobRunner::new());
        let out = rec
            .run(
                &Command::new("sh")
                    .args(["-c", "echo $GREETING"])
                    .env("GREETING", "hi"),
            )
            .await?;
        assert_eq!(out, "hi");
    } // best-effort save on drop
    let rep = RecordReplayRunner::replay(&path)?;
    let replayed = rep
        .run(
            &Command::new("sh")
                .args(["-c", "echo $GREETING"])
                .env("OTHER", "x"),
        )
        .await?;
    assert_eq!(replayed, "hi");

    let text = std::fs::read_to_string(&path).unwrap();
    let bumped = text.replacen("\"version\": 1", "\"version\": 999", 1);
    assert_ne!(bumped, text, "the cassette carries a format version");
    let future = dir.path().join("future.json");
    std::fs::write(&future, bumped).unwrap();
    assert!(RecordReplayRunner::replay(&future).is_err());
    Ok(())
}

/// A timed-out run is a crash to the supervisor: restarted under `OnCrash`,
/// and the final result says it timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_restarts_a_timed_out_run() -> processkit::Result<()> {
    use processkit::{RestartPolicy, StopReason, Supervisor};
    let outcome = Supervisor::new(
        Command::new("sleep")
            .arg("30")
            .timeout(Duration::from_millis(100)),
    )
    .restart(RestartPolicy::OnCrash)
    .max_restarts(1)
    .backoff(Duration::from_millis(1), 1.0)
    .run()
    .await?;
    assert_eq!(
        (outcome.restarts, outcome.stopped),
        (1, StopReason::MaxRestarts)
    );
    assert_eq!(outcome.failures, 2);
    assert!(outcome.last.as_ref().is_some_and(|r| r.timed_out()));
    Ok(())
}

/// The `mock` feature's `MockRunner` stands in for the real spawner behind
/// a typed client.
#[cfg(feature = "mock")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_runner_backs_a_typed_client() -> processkit::Result<()> {
    use processkit::{MockRunner, ScriptedOutcome};
    let mut runner = MockRunner::new();
    runner
        .expect_execute_command()
        .withf(|cmd| cmd.get_program() == "git" && cmd.get_args() == ["rev-parse", "HEAD"])
        .times(1)
        .returning(|_| ScriptedOutcome::success().stdout("feedface\n"));
    let git = Git::with_runner(runner);
    assert_eq!(git.head(Path::new("/work")).await?, "feedface");
    Ok(())
}

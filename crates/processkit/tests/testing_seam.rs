//! The testing seam: code written against `ProcessRunner` (directly or
//! through a `cli_client!` wrapper) runs hermetically on a `ScriptedRunner`,
//! including streaming, readiness probes, timeouts, retries and the mock;
//! and the same wrapper drives real processes through `JobRunner`.

#![cfg(unix)]

mod common;

use std::path::Path;
use std::time::Duration;

use processkit::testing::Invocation;
use processkit::{
    CliClient, Command, Error, ProcessRunner, ProcessRunnerExt, Result, RetryPolicy,
    ScriptedOutcome, ScriptedRunner, StreamExt, cli_client,
};

cli_client!(
    /// A small typed `git`, as a user of the crate would write it.
    pub struct Git => "git"
);

/// One entry of `git status --porcelain`.
#[derive(Debug, PartialEq)]
struct Change {
    code: String,
    path: String,
}

impl<R: ProcessRunner> Git<R> {
    async fn head(&self, dir: &Path) -> Result<String> {
        self.core
            .run(self.core.command_in(dir, ["rev-parse", "HEAD"]))
            .await
    }

    async fn changes(&self, dir: &Path) -> Result<Vec<Change>> {
        let out = self
            .core
            .run(self.core.command_in(dir, ["status", "--porcelain"]))
            .await?;
        Ok(out
            .lines()
            .filter(|l| l.len() > 3)
            .map(|l| Change {
                code: l[..2].trim().to_owned(),
                path: l[3..].to_owned(),
            })
            .collect())
    }

    async fn is_clean(&self, dir: &Path) -> Result<bool> {
        self.core
            .probe(self.core.command_in(dir, ["diff", "--quiet"]))
            .await
    }
}

#[tokio::test]
async fn git_wrapper_parses_scripted_answers_without_a_subprocess() {
    let runner = ScriptedRunner::new()
        .on(
            ["git", "rev-parse", "HEAD"],
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904\n",
        )
        .on(
            ["git", "status", "--porcelain"],
            " M src/lib.rs\n?? notes.txt\n",
        )
        .on(["git", "diff", "--quiet"], ScriptedOutcome::exit(1));
    let git = Git::with_runner(runner);
    let repo = Path::new("/definitely/not/a/real/repo");

    assert_eq!(
        git.head(repo).await.unwrap(),
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    );
    assert_eq!(
        git.changes(repo).await.unwrap(),
        [
            Change {
                code: "M".into(),
                path: "src/lib.rs".into()
            },
            Change {
                code: "??".into(),
                path: "notes.txt".into()
            }
        ]
    );
    assert!(!git.is_clean(repo).await.unwrap());

    let calls = git.core.runner().calls();
    let argvs: Vec<Vec<&str>> = calls.iter().map(Invocation::argv).collect();
    assert_eq!(
        argvs,
        [
            vec!["git", "rev-parse", "HEAD"],
            vec!["git", "status", "--porcelain"],
            vec!["git", "diff", "--quiet"]
        ]
    );
    assert!(
        calls
            .iter()
            .all(|c| c.cwd.as_deref() == Some(repo) && !c.started)
    );
    assert!(git.core.runner().unused().is_empty());
}

#[tokio::test]
async fn git_wrapper_reports_a_scripted_failure_as_a_typed_error() {
    let git = Git::with_runner(ScriptedRunner::new().on_prefix(
        ["git", "rev-parse"],
        ScriptedOutcome::exit(128).stderr("fatal: not a git repository\n"),
    ));
    let err = git.head(Path::new("/tmp")).await.unwrap_err();
    match err {
        Error::NonZeroExit {
            program,
            code,
            stderr_tail,
        } => {
            assert_eq!((program.as_str(), code), ("git", 128));
            assert!(
                stderr_tail.contains("not a git repository"),
                "{stderr_tail}"
            );
        }
        other => panic!("expected NonZeroExit, got {other:?}"),
    }
}

#[tokio::test]
async fn wrapper_defaults_reach_every_command() {
    let client = CliClient::new("gh")
        .default_timeout(Duration::from_secs(7))
        .default_env("GH_TOKEN", "ghp_super_secret_value")
        .with_runner(ScriptedRunner::new().otherwise(""));
    let git = Git::from_core(client);
    git.core
        .run(git.core.command(["auth", "status"]))
        .await
        .unwrap();
    // A command built without the client still gets the timeout from the verb.
    git.core
        .run(Command::new("gh").arg("version"))
        .await
        .unwrap();
    // A command's own timeout wins over the default.
    git.core
        .run(git.core.command(["api"]).timeout(Duration::from_secs(1)))
        .await
        .unwrap();

    let calls = git.core.runner().calls();
    assert_eq!(calls[0].timeout, Some(Duration::from_secs(7)));
    assert_eq!(calls[0].env_names, ["GH_TOKEN"]);
    assert_eq!(calls[1].timeout, Some(Duration::from_secs(7)));
    assert!(calls[1].env_names.is_empty());
    assert_eq!(calls[2].timeout, Some(Duration::from_secs(1)));
    assert!(!format!("{calls:?}").contains("ghp_super_secret_value"));
    assert!(!format!("{:?}", git.core).contains("ghp_super_secret_value"));
}

#[tokio::test]
async fn scripted_start_streams_canned_lines_through_stdout_lines() {
    let runner = ScriptedRunner::new().on(
        ["git", "log", "--oneline"],
        ScriptedOutcome::exit(3)
            .lines(["c3 third", "c2 second", "c1 first"])
            .stderr("warning: shallow\n"),
    );
    let mut run = runner
        .start(&Command::new("git").args(["log", "--oneline"]))
        .await
        .unwrap();
    assert_eq!(run.pid(), None);
    let mut seen = Vec::new();
    let mut lines = run.stdout_lines();
    while let Some(line) = lines.next().await {
        seen.push(line);
    }
    assert_eq!(seen, ["c3 third", "c2 second", "c1 first"]);
    let (code, stderr) = run.finish_streamed().await.unwrap();
    assert_eq!((code, stderr.as_str()), (Some(3), "warning: shallow\n"));
    assert!(runner.calls()[0].started);
}

#[tokio::test]
async fn scripted_server_becomes_ready_through_wait_for_line_and_dies_when_killed() {
    let runner = ScriptedRunner::new().on(
        ["my-server", "--port", "8080"],
        ScriptedOutcome::success()
            .lines(["loading config", "listening on 127.0.0.1:8080", "accepting"])
            .until_killed(),
    );
    let mut run = runner
        .start(&Command::new("my-server").args(["--port", "8080"]))
        .await
        .unwrap();
    let banner = run
        .wait_for_line(|l| l.starts_with("listening"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(banner, "listening on 127.0.0.1:8080");
    // The rest of stdout is still there after the match.
    let next = run.stdout_lines().next().await;
    assert_eq!(next.as_deref(), Some("accepting"));
    // Still "running": the exit status is not in yet.
    assert!(run.exit_status().is_none());
    run.kill().await.unwrap();
    assert_eq!(run.wait().await.unwrap(), None);
    assert_eq!(run.exit_status().and_then(|s| s.signal()), Some(9));
}

#[tokio::test]
async fn scripted_wait_for_line_fails_not_ready_when_stdout_closes_without_a_match() {
    let runner =
        ScriptedRunner::new().on(["flaky-server"], ScriptedOutcome::exit(1).lines(["boom"]));
    let mut run = runner.start(&Command::new("flaky-server")).await.unwrap();
    let err = run
        .wait_for_line(|l| l.contains("listening"), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotReady { ref program, .. } if program == "flaky-server"),
        "{err:?}"
    );
}

#[tokio::test]
async fn first_line_reads_scripted_output() {
    let runner = ScriptedRunner::new()
        .on_program("git", ScriptedOutcome::success().lines(["a", "bb", "ccc"]));
    let found = runner
        .first_line(&Command::new("git").arg("log"), |l| l.len() == 2)
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some("bb"));
    let none = runner
        .first_line(&Command::new("git").arg("log"), |l| l.len() == 9)
        .await
        .unwrap();
    assert_eq!(none, None);
}

#[tokio::test]
async fn repeated_script_entries_are_served_in_order_then_the_last_repeats() {
    let runner = ScriptedRunner::new()
        .on(["counter"], "1\n")
        .on(["counter"], "2\n")
        .on(["counter"], ScriptedOutcome::exit(5).stdout("3\n"));
    let cmd = Command::new("counter");
    let mut seen = Vec::new();
    for _ in 0..5 {
        let r = runner.output_string(&cmd).await.unwrap();
        seen.push((r.code(), r.stdout().trim().to_owned()));
    }
    let three = (Some(5), "3".to_owned());
    assert_eq!(
        seen,
        [
            (Some(0), "1".to_owned()),
            (Some(0), "2".to_owned()),
            three.clone(),
            three.clone(),
            three
        ]
    );
}

#[tokio::test]
async fn an_unscripted_invocation_is_an_error_that_names_it() {
    let runner = ScriptedRunner::new().on(["git", "status"], "");
    let err = runner
        .output_string(
            &Command::new("git")
                .args(["push", "--force"])
                .current_dir("/srv/repo"),
        )
        .await
        .unwrap_err();
    let Error::NoScriptedOutcome { program, detail } = &err else {
        panic!("expected a miss, got {err:?}")
    };
    assert_eq!(program, "git");
    assert!(
        detail.contains("push") && detail.contains("--force") && detail.contains("/srv/repo"),
        "{detail}"
    );
    assert!(err.to_string().contains("git"));
    // Misses are logged too.
    assert_eq!(runner.calls().len(), 1);
    // start() misses the same way.
    assert!(matches!(
        runner.start(&Command::new("ls")).await,
        Err(Error::NoScriptedOutcome { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_scripted_delay_past_the_commands_timeout_is_a_timed_out_result() {
    let runner = ScriptedRunner::new()
        .on(
            ["slow-build"],
            ScriptedOutcome::success()
                .stdout("partial\n")
                .delay(Duration::from_secs(3600)),
        )
        .on(
            ["quick-build"],
            ScriptedOutcome::success()
                .stdout("done\n")
                .delay(Duration::from_secs(2)),
        );

    let slow = Command::new("slow-build").timeout(Duration::from_secs(10));
    let r = runner.output_string(&slow).await.unwrap();
    assert!(r.timed_out());
    assert_eq!((r.code(), r.signal()), (None, Some(9)));
    assert_eq!(r.stdout(), "partial\n");
    assert!(matches!(
        runner.run(&slow).await,
        Err(Error::Timeout { .. })
    ));

    let quick = Command::new("quick-build").timeout(Duration::from_secs(10));
    let r = runner.output_string(&quick).await.unwrap();
    assert!(!r.timed_out());
    assert_eq!(r.stdout(), "done\n");
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_outcome_under_start_runs_until_the_commands_deadline() {
    let runner =
        ScriptedRunner::new().on(["hangs"], ScriptedOutcome::timed_out().lines(["started"]));
    let mut run = runner
        .start(&Command::new("hangs").timeout(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(run.wait().await.unwrap(), None);
    assert!(run.timed_out());
}

#[tokio::test]
async fn scripted_error_outcomes_fail_like_a_real_spawn() {
    let runner = ScriptedRunner::new().on_program("jj", ScriptedOutcome::not_found());
    let err = runner
        .output_string(&Command::new("jj").arg("log"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { ref program, .. } if program == "jj"));
    let err = runner.start(&Command::new("jj")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
}

#[tokio::test]
async fn retries_run_against_the_script() {
    let runner = ScriptedRunner::new()
        .on(["fetch"], ScriptedOutcome::exit(75))
        .on(["fetch"], ScriptedOutcome::exit(75))
        .on(["fetch"], "payload\n");
    let cmd = Command::new("fetch").retry(
        RetryPolicy::new(5)
            .backoff(Duration::from_millis(1), 1.0)
            .jitter(false),
    );
    assert_eq!(runner.run(&cmd).await.unwrap(), "payload");
    assert_eq!(runner.calls().len(), 3);
}

#[tokio::test]
async fn scripted_commands_accept_stdin_and_line_handlers() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let runner = ScriptedRunner::new().on(
        ["sort"],
        ScriptedOutcome::success().lines(["apple", "banana"]),
    );
    let cmd = Command::new("sort")
        .stdin("banana\napple\n")
        .on_stdout_line(move |l| sink.lock().unwrap().push(l.to_owned()));
    let r = runner.output_string(&cmd).await.unwrap();
    assert_eq!(r.stdout(), "apple\nbanana\n");
    assert_eq!(*seen.lock().unwrap(), ["apple", "banana"]);
    assert!(runner.calls()[0].has_stdin);

    // An interactive session gets a writer whose bytes are discarded.
    let mut run = runner
        .start(&Command::new("sort").keep_stdin_open())
        .await
        .unwrap();
    let mut stdin = run.standard_input().expect("stdin was kept open");
    stdin.write_line("cherry").await.unwrap();
    stdin.finish().await.unwrap();
    let lines: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(lines, ["apple", "banana"]);
}

#[tokio::test]
async fn predicates_see_the_working_directory() {
    let runner = ScriptedRunner::new()
        .when(
            |inv| inv.program == "make" && inv.cwd.as_deref() == Some(Path::new("/src/a")),
            "built a\n",
        )
        .on_program("make", ScriptedOutcome::exit(2));
    assert_eq!(
        runner
            .run(&Command::new("make").current_dir("/src/a"))
            .await
            .unwrap(),
        "built a"
    );
    assert_eq!(
        runner
            .exit_code(&Command::new("make").current_dir("/src/b"))
            .await
            .unwrap(),
        2
    );
}

cli_client!(struct Shell => "sh");

impl<R: ProcessRunner> Shell<R> {
    async fn pwd(&self, dir: &Path) -> Result<String> {
        self.core
            .run(self.core.command_in(dir, ["-c", "pwd -P"]))
            .await
    }
}

#[tokio::test]
async fn the_same_wrapper_runs_real_processes_through_job_runner() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().canonicalize().unwrap();
    let sh = Shell::new();
    assert_eq!(sh.pwd(&real).await.unwrap(), real.to_string_lossy());
    let echo = CliClient::new("echo");
    assert_eq!(
        echo.run(echo.command(["from", "echo"])).await.unwrap(),
        "from echo"
    );
    let printf = CliClient::new("printf");
    let lines: Vec<String> = printf
        .start(printf.command(["x\\ny\\n"]))
        .await
        .unwrap()
        .stdout_lines()
        .collect()
        .await;
    assert_eq!(lines, ["x", "y"]);
}

#[tokio::test]
async fn a_client_timeout_kills_a_real_command_tree() {
    let client = CliClient::new("sh").default_timeout(Duration::from_secs(1));
    let r = client
        .output_string(client.command(["-c", "sleep 30 & echo $!; wait"]))
        .await
        .unwrap();
    assert!(r.timed_out());
    let pid: u32 = r.stdout().trim().parse().unwrap();
    common::assert_all_gone(
        &[pid],
        Duration::from_secs(5),
        "background sleep after the client's timeout",
    );
}

#[cfg(feature = "cancellation")]
#[tokio::test]
async fn cancelling_a_clients_token_kills_every_in_flight_command() {
    use processkit::CancellationToken;

    let token = CancellationToken::new();
    let client = std::sync::Arc::new(CliClient::new("sh").default_cancel_on(token.child_token()));
    let mut handles = Vec::new();
    let mut pids = Vec::new();
    for _ in 0..3 {
        let mut run = client
            .start(client.command(["-c", "sleep 30 & echo $!; wait"]))
            .await
            .unwrap();
        pids.push(run.pid().unwrap());
        let line = run
            .wait_for_line(|_| true, Duration::from_secs(5))
            .await
            .unwrap();
        pids.push(line.trim().parse().unwrap());
        handles.push(tokio::spawn(async move { run.finish_streamed().await }));
    }
    // And one capture verb in flight on a shared client handle.
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let c = client.clone();
    let script = format!(
        "echo $$ > {}.tmp && mv {0}.tmp {0}; sleep 30",
        pid_file.display()
    );
    let capture = tokio::spawn(async move { c.output_string(c.command(["-c", &script])).await });
    assert!(common::wait_until_async(Duration::from_secs(5), || pid_file.exists()).await);
    pids.push(
        std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
    );

    token.cancel();
    for h in handles {
        assert!(matches!(h.await.unwrap(), Err(Error::Cancelled { .. })));
    }
    assert!(matches!(
        capture.await.unwrap(),
        Err(Error::Cancelled { .. })
    ));
    common::assert_all_gone(
        &pids,
        Duration::from_secs(5),
        "client commands after cancel",
    );
    // Later commands short-circuit.
    assert!(matches!(
        client.run(client.command(["-c", "true"])).await,
        Err(Error::Cancelled { .. })
    ));
}

#[cfg(feature = "mock")]
#[tokio::test]
async fn mock_runner_checks_how_a_wrapper_calls_its_tool() {
    use processkit::MockRunner;

    let mut mock = MockRunner::new();
    mock.expect_execute_command()
        .withf(|cmd| {
            cmd.get_args() == ["rev-parse", "HEAD"]
                && cmd.get_current_dir() == Some(Path::new("/r"))
        })
        .times(2)
        .returning(|_| ScriptedOutcome::success().stdout("abc\n"));
    mock.expect_start_command()
        .times(1)
        .returning(|_| ScriptedOutcome::success().lines(["one", "two"]));
    let git = Git::with_runner(mock);
    assert_eq!(git.head(Path::new("/r")).await.unwrap(), "abc");
    assert_eq!(git.head(Path::new("/r")).await.unwrap(), "abc");
    let first = git
        .core
        .first_line(git.core.command(["log"]), |l| l == "two")
        .await
        .unwrap();
    assert_eq!(first.as_deref(), Some("two"));
    // Dropping the mock verifies the `times` expectations.
}

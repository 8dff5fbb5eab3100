//! Shell-free pipelines: stages connected by native pipes, pipefail
//! attribution, chain timeouts and cancellation, streaming the last stage,
//! and teardown of every stage (checked from /proc).
#![cfg(unix)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{alive, assert_all_gone, read_pids, scratch, unique_path, wait_until_async};
use processkit::{Command, Error, Stdin, StreamExt};

/// A stage that records its own pid, starts a background `sleep 30`
/// grandchild, records that pid too, then runs `tail` (e.g. `cat` to pass
/// data through, or `wait` to sit on the grandchild).
fn recording_stage(pid_file: &Path, tail: &str) -> Command {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ >> \"$1\"; sleep 30 & echo $! >> \"$1\"; {tail}"
        ))
        .arg("sh")
        .arg(pid_file)
}

/// Serialises the tests that measure this process's peak memory.
static MEMORY_PROBE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Resets this process's peak resident set to its current value (Linux; a
/// no-op where `/proc/self/clear_refs` is missing) so a measurement is not
/// masked by an earlier peak.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// This process's peak resident set (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib * 1024
}

/// Live (non-zombie) processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let hit = cmdline
            .windows(marker.len())
            .any(|w| w == marker.as_bytes());
        if hit && alive(pid) {
            found.push(pid);
        }
    }
    found
}

const GIB: u64 = 1024 * 1024 * 1024;

mod text_flow {
    use super::*;

    #[tokio::test]
    async fn three_stage_text_pipeline_sorts_and_counts() {
        let out = Command::new("printf")
            .arg("pear\\napple\\npear\\nfig\\npear\\n")
            .pipe(Command::new("sort"))
            .pipe(Command::new("uniq").arg("-c"))
            .run()
            .await
            .unwrap();
        let lines: Vec<String> = out
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(lines, ["1 apple", "1 fig", "3 pear"]);
    }

    #[tokio::test]
    async fn arguments_reach_every_stage_without_a_shell() {
        let hostile = "$(touch /tmp/pk-should-not-exist); `id` | rm -rf / ; 'quoted' \"too\"";
        let out = (Command::new("printf").args(["%s\\n", hostile])
            | Command::new("cat")
            | Command::new("cat"))
        .run()
        .await
        .unwrap();
        assert_eq!(out, hostile);
    }

    #[tokio::test]
    async fn the_pipe_operator_builds_the_same_chain_as_pipe() {
        let a = || Command::new("printf").arg("b\\na\\nc\\nb\\n");
        let b = || Command::new("sort");
        let c = || Command::new("uniq");
        let chained = a().pipe(b()).pipe(c());
        let operator = a() | b() | c();
        let right_nested = a() | (b() | c());
        let both_nested = (a() | b()) | c().unchecked();
        assert_eq!(format!("{chained:?}"), format!("{operator:?}"));
        assert_eq!(format!("{chained:?}"), format!("{right_nested:?}"));
        assert_eq!(both_nested.is_checked(2), Some(false));
        for p in [&chained, &operator, &right_nested, &both_nested] {
            assert_eq!(p.stages().len(), 3);
            assert_eq!(p.run().await.unwrap(), "a\nb\nc");
        }
    }

    #[tokio::test]
    async fn the_first_stage_reads_its_own_stdin_source() {
        let out = (Command::new("sort").stdin(Stdin::from_string("delta\nalpha\ncharlie\n"))
            | Command::new("head").args(["-n", "2"]))
        .run()
        .await
        .unwrap();
        assert_eq!(out, "alpha\ncharlie");
    }

    #[tokio::test]
    async fn inner_stages_read_the_pipe_not_their_own_stdin_setting() {
        let out = (Command::new("printf").arg("from the pipe\\n")
            | Command::new("cat").stdin(Stdin::from_string("ignored\n")))
        .run()
        .await
        .unwrap();
        assert_eq!(out, "from the pipe");
    }

    #[tokio::test]
    async fn a_stdin_file_feeds_the_first_stage() {
        let dir = scratch();
        let input = dir.path().join("input.txt");
        std::fs::write(&input, "3\n1\n2\n").unwrap();
        let out = (Command::new("sort").stdin(Stdin::from_file(&input))
            | Command::new("tail").args(["-n", "1"]))
        .run()
        .await
        .unwrap();
        assert_eq!(out, "3");
    }

    #[tokio::test]
    async fn output_bytes_is_lossless_through_the_chain() {
        let r = (Command::new("printf").arg("\\000\\377\\n")
            | Command::new("cat")
            | Command::new("cat"))
        .output_bytes()
        .await
        .unwrap();
        assert_eq!(r.stdout(), &vec![0u8, 0xff, b'\n']);
        assert!(r.is_success());
        assert_eq!(r.program(), "cat");
    }

    #[tokio::test]
    async fn a_backgrounded_grandchild_does_not_hold_the_next_stage_open() {
        // The first stage exits at once but leaves a `sleep 30` holding its
        // stdout; the stage's subtree is killed on exit, so `cat` sees EOF.
        let started = Instant::now();
        let out = (Command::new("sh").args(["-c", "echo done; sleep 30 &"]) | Command::new("cat"))
            .run()
            .await
            .unwrap();
        assert_eq!(out, "done");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
    }
}

mod attribution {
    use super::*;

    fn failing_middle() -> processkit::Pipeline {
        Command::new("printf").arg("x\\ny\\n")
            | Command::new("sh").args(["-c", "cat >/dev/null; echo middle broke >&2; exit 3"])
            | Command::new("sh").args(["-c", "cat; echo last is fine >&2"])
    }

    #[tokio::test]
    async fn a_failing_middle_stage_gives_its_program_code_and_stderr() {
        let r = failing_middle().output_string().await.unwrap();
        assert_eq!(r.program(), "sh");
        assert_eq!(r.code(), Some(3));
        assert_eq!(r.stderr(), "middle broke\n");
        assert_eq!(r.stdout(), "", "stdout is the last stage's");
        assert!(!r.is_success());
        assert!(!r.timed_out());
    }

    #[tokio::test]
    async fn run_names_the_failing_stage_and_its_position() {
        let err = failing_middle().run().await.unwrap_err();
        match &err {
            Error::NonZeroExit {
                program,
                code,
                stderr_tail,
            } => {
                assert_eq!(program, "sh (stage 2 of 3)");
                assert_eq!(*code, 3);
                assert_eq!(stderr_tail, "middle broke");
            }
            other => panic!("expected NonZeroExit, got {other:?}"),
        }
        assert!(err.to_string().contains("stage 2 of 3"), "{err}");
    }

    #[tokio::test]
    async fn the_first_failing_stage_wins_over_later_failures() {
        let p = Command::new("sh").args(["-c", "echo first >&2; exit 4"])
            | Command::new("sh").args(["-c", "echo second >&2; exit 5"]);
        let r = p.output_string().await.unwrap();
        assert_eq!((r.code(), r.stderr().as_str()), (Some(4), "first\n"));
        assert_eq!(p.exit_code().await.unwrap(), 4);
    }

    #[tokio::test]
    async fn success_reports_the_last_stage() {
        let r = (Command::new("sh").args(["-c", "echo up >&2; echo data"])
            | Command::new("sh").args(["-c", "cat; echo down >&2"]))
        .output_string()
        .await
        .unwrap();
        assert!(r.is_success());
        assert_eq!(
            (r.stdout().as_str(), r.stderr().as_str()),
            ("data\n", "down\n")
        );
    }

    #[tokio::test]
    async fn an_unchecked_producer_killed_by_sigpipe_lets_head_succeed() {
        let out = (Command::new("yes").unchecked() | Command::new("head").args(["-n", "1"]))
            .run()
            .await
            .unwrap();
        assert_eq!(out, "y");
    }

    #[tokio::test]
    async fn a_checked_producer_killed_by_sigpipe_is_reported() {
        let p = Command::new("yes") | Command::new("head").args(["-n", "1"]);
        let r = p.output_string().await.unwrap();
        assert_eq!(r.program(), "yes");
        assert_eq!(r.code(), None);
        assert_eq!(r.signal(), Some(libc_sigpipe()));
        assert_eq!(r.stdout(), "y\n", "stdout is still head's");
        match p.run().await.unwrap_err() {
            Error::Killed {
                program, signal, ..
            } => {
                assert_eq!(program, "yes (stage 1 of 2)");
                assert_eq!(signal, libc_sigpipe());
            }
            other => panic!("expected Killed, got {other:?}"),
        }
    }

    fn libc_sigpipe() -> i32 {
        13
    }

    #[tokio::test]
    async fn a_checked_failure_wins_over_an_unchecked_one() {
        let p = Command::new("sh").args(["-c", "exit 7"]).unchecked()
            | Command::new("sh").args(["-c", "cat; echo real problem >&2; exit 2"]);
        let r = p.output_string().await.unwrap();
        assert_eq!((r.code(), r.stderr().as_str()), (Some(2), "real problem\n"));
        let err = p.run().await.unwrap_err();
        assert!(
            matches!(&err, Error::NonZeroExit { program, code: 2, .. } if program == "sh (stage 2 of 2)"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn an_unchecked_last_stage_never_fails_the_chain() {
        let p = Command::new("printf").arg("kept")
            | Command::new("sh").args(["-c", "cat; exit 9"]).unchecked();
        assert_eq!(p.run().await.unwrap(), "kept");
        let r = p.output_string().await.unwrap();
        assert_eq!((r.program(), r.code()), ("printf", Some(0)));
    }

    #[tokio::test]
    async fn exit_code_and_probe_use_the_attributed_stage() {
        let grep = |word: &str| {
            Command::new("printf").arg("alpha\\nbeta\\n") | Command::new("grep").args(["-q", word])
        };
        assert!(grep("beta").probe().await.unwrap());
        assert!(!grep("gamma").probe().await.unwrap());
        assert_eq!(grep("gamma").exit_code().await.unwrap(), 1);
        let err = (Command::new("true") | Command::new("sh").args(["-c", "exit 7"]))
            .probe()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::NonZeroExit { program, code: 7, .. } if program == "sh (stage 2 of 2)"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn first_line_returns_the_match_and_kills_the_chain() {
        let dir = scratch();
        let pids = dir.path().join("pids");
        let producer = Command::new("sh")
            .arg("-c")
            .arg("echo $$ >> \"$1\"; exec yes tick")
            .arg("sh")
            .arg(&pids);
        let consumer = recording_stage(&pids, "cat -n");
        let started = Instant::now();
        let line = (producer | consumer)
            .first_line(|l| l.trim_start().starts_with("5\t"))
            .await
            .unwrap();
        assert_eq!(line.as_deref().map(str::trim_start), Some("5\ttick"));
        assert!(started.elapsed() < Duration::from_secs(10));
        let pids = read_pids(&pids, 3, Duration::from_secs(5));
        assert_all_gone(
            &pids,
            Duration::from_secs(2),
            "pipeline stages after first_line",
        );
    }

    #[tokio::test]
    async fn first_line_is_none_when_the_last_stdout_closes_without_a_match() {
        let line = (Command::new("printf").arg("a\\nb\\n") | Command::new("cat"))
            .first_line(|l| l == "z")
            .await
            .unwrap();
        assert_eq!(line, None);
    }
}

mod spawn_failures {
    use super::*;

    #[tokio::test]
    async fn a_missing_program_is_not_found_and_leaves_no_stage_running() {
        let marker = unique_path("pipe-missing");
        let marker_text = marker.to_str().unwrap().to_owned();
        let first = Command::new("sh")
            .arg("-c")
            .arg("echo $$ >> \"$1\"; sleep 30 & echo $! >> \"$1\"; wait")
            .arg("sh")
            .arg(&marker);
        let missing = "processkit-no-such-program-in-a-pipeline";
        let err = (first | Command::new(missing) | Command::new("cat"))
            .run()
            .await
            .unwrap_err();
        match &err {
            Error::NotFound { program, .. } => {
                assert!(program.contains(missing), "{program}");
                assert!(program.contains("stage 2 of 3"), "{program}");
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
        // Whatever the first stage managed to start is gone.
        let gone = wait_until_async(Duration::from_secs(2), || {
            let recorded: Vec<u32> = std::fs::read_to_string(&marker)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            processes_with(&marker_text).is_empty() && recorded.iter().all(|p| !alive(*p))
        })
        .await;
        assert!(
            gone,
            "a stage survived the failed spawn: {:?}",
            processes_with(&marker_text)
        );
        let _ = std::fs::remove_file(&marker);
    }

    #[tokio::test]
    async fn a_missing_first_program_spawns_nothing_else() {
        let err = (Command::new("processkit-missing-first") | Command::new("cat"))
            .output_string()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::NotFound { program, .. } if program == "processkit-missing-first (stage 1 of 2)"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_bad_working_directory_names_its_stage() {
        let err = (Command::new("echo")
            | Command::new("cat").current_dir("/processkit/no/such/dir"))
        .run()
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::BadDirectory { program, .. } if program == "cat (stage 2 of 2)"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_nul_byte_in_a_stage_argument_is_invalid_input() {
        let err = (Command::new("echo") | Command::new("grep").arg("a\0b"))
            .run()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { program, .. } if program == "grep (stage 2 of 2)"),
            "{err:?}"
        );
    }
}

mod timeouts {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_chain_timeout_kills_every_stage_and_their_children() {
        let dir = scratch();
        let first = dir.path().join("first");
        let second = dir.path().join("second");
        let p = (recording_stage(&first, "wait")
            | recording_stage(&second, "cat")
            | Command::new("cat"))
        .timeout(Duration::from_secs(2));
        let started = Instant::now();
        let run = tokio::spawn(async move { p.output_string().await });
        // Learn the pids while the chain runs.
        let mut pids = read_pids(&first, 2, Duration::from_secs(5));
        pids.extend(read_pids(&second, 2, Duration::from_secs(5)));
        assert!(
            pids.iter().all(|p| alive(*p)),
            "every stage and grandchild runs before the deadline"
        );
        let r = run.await.unwrap().unwrap();
        assert!(r.timed_out());
        assert_eq!(r.code(), None);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        assert_all_gone(
            &pids,
            Duration::from_secs(2),
            "stages and grandchildren after the chain timeout",
        );
    }

    #[tokio::test]
    async fn run_reports_a_chain_timeout_as_an_error() {
        let err = (Command::new("sleep").arg("30") | Command::new("cat"))
            .timeout(Duration::from_millis(300))
            .run()
            .await
            .unwrap_err();
        match err {
            Error::Timeout { program, timeout } => {
                assert_eq!(program, "sleep (stage 1 of 2)");
                assert_eq!(timeout, Duration::from_millis(300));
            }
            other => panic!("expected Timeout, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_chain_that_finishes_in_time_is_not_timed_out() {
        let r = (Command::new("printf").arg("ok") | Command::new("cat"))
            .timeout(Duration::from_secs(20))
            .output_string()
            .await
            .unwrap();
        assert!(!r.timed_out());
        assert_eq!(r.stdout(), "ok");
    }

    #[tokio::test]
    async fn a_started_chain_stops_streaming_at_its_deadline() {
        let dir = scratch();
        let pids = dir.path().join("pids");
        let mut run = (recording_stage(&pids, "while :; do echo tick; sleep 0.05; done")
            | Command::new("cat"))
        .timeout(Duration::from_millis(800))
        .start()
        .await
        .unwrap();
        let started = Instant::now();
        let mut lines = 0u64;
        {
            let mut stream = run.stdout_lines();
            while stream.next().await.is_some() {
                lines += 1;
            }
        }
        assert!(lines > 0);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        assert!(run.timed_out());
        let pids = read_pids(&pids, 2, Duration::from_secs(5));
        assert_all_gone(
            &pids,
            Duration::from_secs(2),
            "upstream stage after the deadline of a started chain",
        );
    }
}

mod streaming {
    use super::*;

    #[tokio::test]
    async fn start_streams_the_last_stage_line_by_line() {
        let mut run = (Command::new("printf").arg("3\\n1\\n2\\n")
            | Command::new("sort")
            | Command::new("sed").arg("s/^/n=/"))
        .start()
        .await
        .unwrap();
        assert_eq!(run.program(), "sed");
        let lines: Vec<String> = run.stdout_lines().collect().await;
        assert_eq!(lines, ["n=1", "n=2", "n=3"]);
        let (code, stderr) = run.finish_streamed().await.unwrap();
        assert_eq!((code, stderr.as_str()), (Some(0), ""));
    }

    #[tokio::test]
    async fn dropping_the_started_handle_kills_every_stage() {
        let dir = scratch();
        let first = dir.path().join("first");
        let second = dir.path().join("second");
        let run = (recording_stage(&first, "wait") | recording_stage(&second, "cat"))
            .start()
            .await
            .unwrap();
        let mut pids = read_pids(&first, 2, Duration::from_secs(5));
        pids.extend(read_pids(&second, 2, Duration::from_secs(5)));
        assert!(pids.iter().all(|p| alive(*p)));
        drop(run);
        assert_all_gone(
            &pids,
            Duration::from_secs(2),
            "stages after the started handle was dropped",
        );
    }

    #[tokio::test]
    async fn killing_the_started_handle_kills_every_stage() {
        let dir = scratch();
        let first = dir.path().join("first");
        let mut run = (recording_stage(&first, "wait") | Command::new("cat"))
            .start()
            .await
            .unwrap();
        let pids = read_pids(&first, 2, Duration::from_secs(5));
        run.kill().await.unwrap();
        assert_eq!(run.wait().await.unwrap(), None);
        assert_all_gone(
            &pids,
            Duration::from_secs(2),
            "upstream stage after kill() on the started handle",
        );
    }

    #[tokio::test]
    async fn the_rest_of_a_started_chain_goes_when_the_last_stage_exits() {
        let dir = scratch();
        let first = dir.path().join("first");
        let mut run = (recording_stage(&first, "wait") | Command::new("true"))
            .start()
            .await
            .unwrap();
        let pids = read_pids(&first, 2, Duration::from_secs(5));
        assert_eq!(run.wait().await.unwrap(), Some(0));
        assert_all_gone(
            &pids,
            Duration::from_secs(2),
            "upstream stage after the last stage exited",
        );
    }

    #[tokio::test]
    async fn a_kept_open_first_stdin_is_written_through_the_handle() {
        let mut run = (Command::new("cat").keep_stdin_open()
            | Command::new("tr").args(["a-z", "A-Z"]))
        .start()
        .await
        .unwrap();
        let mut stdin = run.standard_input().expect("the first stage's stdin");
        stdin.write_line("hello").await.unwrap();
        stdin.finish().await.unwrap();
        let lines: Vec<String> = run.stdout_lines().collect().await;
        assert_eq!(lines, ["HELLO"]);
    }
}

mod volume {
    use super::*;

    #[tokio::test]
    async fn one_gib_through_three_stages_keeps_memory_flat() {
        let _serial = MEMORY_PROBE.lock().await;
        reset_peak_rss();
        let before = peak_rss();
        let started = Instant::now();
        let count = (Command::new("head").args(["-c", &GIB.to_string(), "/dev/zero"])
            | Command::new("cat")
            | Command::new("wc").arg("-c"))
        .run()
        .await
        .unwrap();
        let elapsed = started.elapsed();
        let growth = peak_rss().saturating_sub(before);
        eprintln!(
            "1 GiB through head | cat | wc -c: {elapsed:?}, peak RSS growth {} KiB",
            growth / 1024
        );
        assert_eq!(count, GIB.to_string());
        assert!(
            growth < 256 * 1024 * 1024,
            "peak RSS grew by {growth} bytes"
        );
    }

    #[tokio::test]
    async fn one_gib_streamed_from_the_last_stage_keeps_memory_flat() {
        // 4 KiB lines, so the count is exact and the line splitter stays cheap.
        let line = "x".repeat(4095);
        let _serial = MEMORY_PROBE.lock().await;
        reset_peak_rss();
        let before = peak_rss();
        let started = Instant::now();
        let mut run = (Command::new("yes").arg(&line).unchecked()
            | Command::new("head").args(["-c", &GIB.to_string()])
            | Command::new("cat"))
        .start()
        .await
        .unwrap();
        let mut bytes = 0u64;
        {
            let mut lines = run.stdout_lines();
            while let Some(l) = lines.next().await {
                bytes += l.len() as u64 + 1;
            }
        }
        let (code, _) = run.finish_streamed().await.unwrap();
        let elapsed = started.elapsed();
        let growth = peak_rss().saturating_sub(before);
        eprintln!(
            "1 GiB streamed from yes | head | cat: {elapsed:?}, peak RSS growth {} KiB",
            growth / 1024
        );
        assert_eq!(code, Some(0));
        assert_eq!(bytes, GIB);
        assert!(
            growth < 256 * 1024 * 1024,
            "peak RSS grew by {growth} bytes"
        );
    }
}

#[cfg(feature = "cancellation")]
mod cancellation {
    use super::*;
    use processkit::CancellationToken;

    #[tokio::test]
    async fn a_pre_cancelled_token_spawns_nothing() {
        let dir = scratch();
        let witness = dir.path().join("witness");
        let token = CancellationToken::new();
        token.cancel();
        let first = Command::new("sh")
            .arg("-c")
            .arg("echo ran > \"$1\"")
            .arg("sh")
            .arg(&witness);
        let err = (first | Command::new("cat"))
            .cancel_on(token)
            .run()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Cancelled { program } if program == "sh | cat"),
            "{err:?}"
        );
        assert!(
            !witness.exists(),
            "a stage ran although the token was cancelled before the start"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelling_kills_the_whole_chain() {
        let dir = scratch();
        let first = dir.path().join("first");
        let second = dir.path().join("second");
        let token = CancellationToken::new();
        let p = (recording_stage(&first, "wait") | recording_stage(&second, "cat"))
            .cancel_on(token.clone());
        let run = tokio::spawn(async move { p.output_string().await });
        let mut pids = read_pids(&first, 2, Duration::from_secs(5));
        pids.extend(read_pids(&second, 2, Duration::from_secs(5)));
        let cancelled_at = Instant::now();
        token.cancel();
        let err = run.await.unwrap().unwrap_err();
        assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
        assert!(cancelled_at.elapsed() < Duration::from_secs(5));
        assert_all_gone(&pids, Duration::from_secs(2), "stages after cancellation");
    }

    #[tokio::test]
    async fn cancelling_a_started_chain_ends_the_stream_with_cancelled() {
        let dir = scratch();
        let pids_file = dir.path().join("pids");
        let token = CancellationToken::new();
        let mut run = (recording_stage(&pids_file, "wait") | Command::new("cat"))
            .cancel_on(token.clone())
            .start()
            .await
            .unwrap();
        let pids = read_pids(&pids_file, 2, Duration::from_secs(5));
        token.cancel();
        let lines: Vec<String> = run.stdout_lines().collect().await;
        assert!(lines.is_empty());
        let err = run.finish_streamed().await.unwrap_err();
        assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
        assert_all_gone(
            &pids,
            Duration::from_secs(2),
            "upstream stage after cancelling a started chain",
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stage_token_cancels_the_chain_too() {
        let token = CancellationToken::new();
        let p = Command::new("sleep").arg("30") | Command::new("cat").cancel_on(token.clone());
        let run = tokio::spawn(async move { p.run().await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        token.cancel();
        let err = tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .expect("prompt")
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(&err, Error::Cancelled { program } if program == "cat (stage 2 of 2)"),
            "{err:?}"
        );
    }
}

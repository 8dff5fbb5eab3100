//! Each consuming verb's semantics, against real processes.
#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use processkit::{Command, Error, Stdin};

#[tokio::test]
async fn run_returns_stdout_with_trailing_whitespace_trimmed() {
    let out = Command::new("printf")
        .arg("  hello world \n\n")
        .run()
        .await
        .unwrap();
    assert_eq!(out, "  hello world");
}

#[tokio::test]
async fn run_turns_non_zero_exit_into_error_with_code_and_stderr_tail() {
    let err = Command::new("sh")
        .args(["-c", "echo first >&2; echo boom >&2; exit 3"])
        .run()
        .await
        .unwrap_err();
    match &err {
        Error::NonZeroExit {
            program,
            code,
            stderr_tail,
        } => {
            assert_eq!(program, "sh");
            assert_eq!(*code, 3);
            assert!(stderr_tail.contains("boom"), "{stderr_tail:?}");
        }
        other => panic!("expected NonZeroExit, got {other:?}"),
    }
    assert!(
        err.to_string().contains("sh"),
        "message names the program: {err}"
    );
}

#[tokio::test]
async fn run_reports_a_signal_death_as_killed() {
    let err = Command::new("sh")
        .args(["-c", "kill -TERM $$"])
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Killed { signal: 15, .. }), "{err:?}");
}

#[tokio::test]
async fn run_reports_timeout_as_typed_error() {
    let err = Command::new("sleep")
        .arg("10")
        .timeout(Duration::from_millis(100))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.is_timeout());
}

#[tokio::test]
async fn output_string_keeps_non_zero_exit_as_data() {
    let r = Command::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 7"])
        .output_string()
        .await
        .unwrap();
    assert_eq!(r.code(), Some(7));
    assert_eq!(r.signal(), None);
    assert_eq!(r.stdout(), "out\n");
    assert_eq!(r.stderr(), "err\n");
    assert!(!r.timed_out());
    assert!(!r.is_success());
    assert!(r.duration() > Duration::ZERO);
}

#[tokio::test]
async fn output_bytes_is_lossless_for_invalid_utf8() {
    let r = Command::new("printf")
        .arg("\\377\\376abc\\000z")
        .output_bytes()
        .await
        .unwrap();
    assert_eq!(r.stdout(), &[0xff, 0xfe, b'a', b'b', b'c', 0, b'z']);
    let s = Command::new("printf")
        .arg("\\377ok")
        .output_string()
        .await
        .unwrap();
    assert_eq!(s.stdout(), "\u{fffd}ok");
}

#[tokio::test]
async fn output_captures_what_was_written_before_the_timeout() {
    let r = Command::new("sh")
        .args(["-c", "echo early; sleep 10; echo late"])
        .timeout(Duration::from_millis(300))
        .output_string()
        .await
        .unwrap();
    assert!(r.timed_out());
    assert_eq!(r.code(), None);
    assert_eq!(r.stdout(), "early\n");
}

#[tokio::test]
async fn exit_code_returns_the_code_and_errors_on_timeout_instead_of_inventing_one() {
    assert_eq!(
        Command::new("sh")
            .args(["-c", "exit 42"])
            .exit_code()
            .await
            .unwrap(),
        42
    );
    assert_eq!(Command::new("true").exit_code().await.unwrap(), 0);
    let err = Command::new("sleep")
        .arg("10")
        .timeout(Duration::from_millis(50))
        .exit_code()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }));
    let err = Command::new("sh")
        .args(["-c", "kill -KILL $$"])
        .exit_code()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Killed { signal: 9, .. }), "{err:?}");
}

#[tokio::test]
async fn probe_maps_zero_to_true_one_to_false_and_errors_otherwise() {
    assert!(Command::new("true").probe().await.unwrap());
    assert!(!Command::new("false").probe().await.unwrap());
    let err = Command::new("sh")
        .args(["-c", "exit 2"])
        .probe()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NonZeroExit { code: 2, .. }), "{err:?}");
}

#[tokio::test]
async fn first_line_returns_the_match_and_stops_reading() {
    let started = Instant::now();
    // The producer would run for 30 s; first_line must return at the match.
    let line = Command::new("sh")
        .args(["-c", "echo a; echo needle 1; sleep 30; echo never"])
        .first_line(|l| l.starts_with("needle"))
        .await
        .unwrap();
    assert_eq!(line.as_deref(), Some("needle 1"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn first_line_is_none_when_stdout_closes_without_a_match() {
    let line = Command::new("printf")
        .arg("a\\nb\\n")
        .first_line(|l| l == "zzz")
        .await
        .unwrap();
    assert_eq!(line, None);
}

#[tokio::test]
async fn one_liner_helpers_work() {
    assert_eq!(processkit::run("echo", ["x", "y"]).await.unwrap(), "x y");
    let r = processkit::output("sh", ["-c", "exit 5"]).await.unwrap();
    assert_eq!(r.code(), Some(5));
}

#[tokio::test]
async fn stdin_sources_reach_the_child() {
    let out = Command::new("sort")
        .stdin(Stdin::from_string("banana\napple\n"))
        .run()
        .await
        .unwrap();
    assert_eq!(out, "apple\nbanana");
    let out = Command::new("wc")
        .arg("-c")
        .stdin(Stdin::from_bytes(vec![0u8; 100_000]))
        .run()
        .await
        .unwrap();
    assert_eq!(out.trim(), "100000");
    let lines = tokio_stream::iter(vec!["b".to_string(), "c".to_string(), "a".to_string()]);
    let out = Command::new("sort")
        .stdin(Stdin::from_lines(lines))
        .run()
        .await
        .unwrap();
    assert_eq!(out, "a\nb\nc");
    let dir = common::scratch();
    let file = dir.path().join("input.txt");
    std::fs::write(&file, "from a file\n").unwrap();
    let out = Command::new("cat")
        .stdin(Stdin::from_file(&file))
        .run()
        .await
        .unwrap();
    assert_eq!(out, "from a file");
    // Default stdin is null: `cat` sees EOF at once.
    assert_eq!(Command::new("cat").run().await.unwrap(), "");
}

#[tokio::test]
async fn a_missing_stdin_file_is_an_error_naming_the_path() {
    let err = Command::new("cat")
        .stdin(Stdin::from_file("/nonexistent/input-file"))
        .run()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/input-file"), "{err}");
    assert!(err.to_string().contains("cat"), "{err}");
}

#[tokio::test]
async fn environment_controls_compose() {
    let out = Command::new("sh")
        .args(["-c", "echo $A-$B"])
        .env("A", "1")
        .envs([("B", "2")])
        .run()
        .await
        .unwrap();
    assert_eq!(out, "1-2");
    // SAFETY: the variable name is unique to this test.
    unsafe { std::env::set_var("PK_TEST_PARENT_ONLY", "leak") };
    let out = Command::new("sh")
        .args(["-c", "echo ${PK_TEST_PARENT_ONLY:-none} ${HOME:-nohome} $X"])
        .inherit_env(["PATH", "HOME"])
        .env("X", "explicit")
        .run()
        .await
        .unwrap();
    assert!(out.starts_with("none "), "{out}");
    assert!(out.ends_with(" explicit"), "{out}");
    let out = Command::new("/usr/bin/env")
        .env_clear()
        .run()
        .await
        .unwrap();
    assert_eq!(out, "");
    let out = Command::new("sh")
        .args(["-c", "echo ${PK_TEST_PARENT_ONLY:-gone}"])
        .env_remove("PK_TEST_PARENT_ONLY")
        .run()
        .await
        .unwrap();
    assert_eq!(out, "gone");
}

#[tokio::test]
async fn current_dir_sets_the_working_directory() {
    let dir = common::scratch();
    let out = Command::new("pwd")
        .current_dir(dir.path())
        .run()
        .await
        .unwrap();
    assert_eq!(
        std::fs::canonicalize(out).unwrap(),
        std::fs::canonicalize(dir.path()).unwrap()
    );
}

#[tokio::test]
async fn arguments_reach_the_program_verbatim_without_a_shell() {
    let tricky = "$(touch /tmp/pk-never) ; `id` 'q' \"d\" * \\";
    let out = Command::new("printf")
        .args(["%s", tricky])
        .run()
        .await
        .unwrap();
    assert_eq!(out, tricky.trim_end());
}

#[tokio::test]
async fn line_handlers_see_every_line_in_order_alongside_capture() {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (seen.clone(), seen.clone());
    let r = Command::new("sh")
        .args(["-c", "echo o1; echo e1 >&2; echo o2; printf o3"])
        .on_stdout_line(move |l| a.lock().unwrap().push(format!("out:{l}")))
        .on_stderr_line(move |l| b.lock().unwrap().push(format!("err:{l}")))
        .output_string()
        .await
        .unwrap();
    assert_eq!(r.stdout(), "o1\no2\no3");
    let seen = seen.lock().unwrap().clone();
    let outs: Vec<_> = seen
        .iter()
        .filter(|s| s.starts_with("out:"))
        .cloned()
        .collect();
    assert_eq!(outs, ["out:o1", "out:o2", "out:o3"]);
    assert!(seen.contains(&"err:e1".to_string()));
}

#[tokio::test]
async fn a_command_is_a_reusable_value() {
    let cmd = Command::new("echo").arg("again");
    for _ in 0..3 {
        assert_eq!(cmd.run().await.unwrap(), "again");
    }
    let debug = format!("{:?}", cmd.clone().env("SECRET_TOKEN", "hunter2"));
    assert!(
        debug.contains("SECRET_TOKEN") && !debug.contains("hunter2"),
        "{debug}"
    );
}

#[tokio::test]
async fn run_does_not_wait_for_a_backgrounded_grandchild_holding_stdout() {
    let started = Instant::now();
    let out = Command::new("sh")
        .args(["-c", "sleep 30 & echo done"])
        .run()
        .await
        .unwrap();
    assert_eq!(out, "done");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn large_output_on_both_streams_does_not_deadlock() {
    let r = Command::new("sh")
        .args([
            "-c",
            "head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2",
        ])
        .timeout(Duration::from_secs(20))
        .output_bytes()
        .await
        .unwrap();
    assert!(!r.timed_out());
    assert_eq!(r.stdout().len(), 3_000_000);
    assert_eq!(r.stderr().len(), 3_000_000);
}

#[tokio::test]
async fn a_relative_program_path_is_resolved_from_the_childs_working_directory() {
    let dir = common::scratch();
    let sub = dir.path().join("tools");
    std::fs::create_dir(&sub).unwrap();
    let script = sub.join("hello.sh");
    // Written by another process: a file this test process had open for
    // writing could be inherited by a child that another test forks at that
    // moment, and executing it would then fail with ETXTBSY.
    let wrote = std::process::Command::new("sh")
        .args([
            "-c",
            "printf '#!/bin/sh\\necho from-tools\\n' > \"$1\" && chmod 755 \"$1\"",
            "sh",
        ])
        .arg(&script)
        .status()
        .unwrap();
    assert!(wrote.success());
    let out = Command::new("./hello.sh")
        .current_dir(&sub)
        .run()
        .await
        .unwrap();
    assert_eq!(out, "from-tools");
}

#[tokio::test]
async fn runs_after_killed_runs_are_not_killed_at_birth() {
    for _ in 0..20 {
        let run = Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .start()
            .await
            .unwrap();
        drop(run); // kills the tree and retires its container
        let r = Command::new("sh")
            .args(["-c", "sleep 0.01 & wait; echo ok"])
            .output_string()
            .await
            .unwrap();
        assert_eq!((r.code(), r.stdout().as_str()), (Some(0), "ok\n"), "{r:?}");
    }
}

//! Record/replay cassettes: real runs recorded once replay identically
//! without a subprocess, secrets never reach the file, misses and unknown
//! formats fail loudly, and the parser never panics on malformed input.

#![cfg(all(unix, feature = "record"))]

use std::path::PathBuf;
use std::time::Duration;

use processkit::{
    Command, Error, JobRunner, ProcessRunner, ProcessRunnerExt, RecordReplayRunner,
    ScriptedOutcome, ScriptedRunner, Stdin, StreamExt,
};
use proptest::prelude::*;

fn cassette_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("fixtures").join("cassette.json")
}

/// Commands recorded against real programs in the round-trip test.
fn round_trip_commands() -> Vec<Command> {
    vec![
        Command::new("echo").args(["hello", "world"]),
        Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
        Command::new("printf").arg("\\377\\000binary"),
        Command::new("sort").stdin(Stdin::from_string("b\na\n")),
        Command::new("sh")
            .args(["-c", "sleep 5"])
            .timeout(Duration::from_millis(100)),
    ]
}

#[tokio::test]
async fn a_recorded_cassette_replays_real_runs_identically() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_in(&dir);
    let recorder = RecordReplayRunner::record(&path, JobRunner::new());
    let mut live = Vec::new();
    for cmd in round_trip_commands() {
        live.push(recorder.output_bytes(&cmd).await.unwrap());
    }
    recorder.save().unwrap();
    assert_eq!(live[1].code(), Some(3));
    assert_eq!(live[2].stdout(), b"\xff\x00binary");
    assert!(live[4].timed_out());

    let replayer = RecordReplayRunner::replay(&path).unwrap();
    assert!(!replayer.is_recording());
    for (cmd, recorded) in round_trip_commands().iter().zip(&live) {
        assert_eq!(&replayer.output_bytes(cmd).await.unwrap(), recorded);
    }
    // The text verbs see the same data.
    assert_eq!(
        replayer
            .run(&Command::new("echo").args(["hello", "world"]))
            .await
            .unwrap(),
        "hello world"
    );
    let err = replayer
        .run(&Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NonZeroExit { code: 3, ref stderr_tail, .. } if stderr_tail == "err")
    );
}

#[tokio::test]
async fn replay_needs_no_program_on_disk() {
    // A cassette recorded elsewhere, for a tool this machine does not have.
    let json = r#"{
        "format": "processkit-cassette",
        "version": 1,
        "entries": [
            { "program": "definitely-not-installed-tool-7f3a", "args": ["--version"],
              "result": { "status": { "code": 0, "signal": null }, "stdout": "tool 9.9.9\n", "stderr": "" } },
            { "program": "definitely-not-installed-tool-7f3a", "args": ["explode"],
              "result": { "status": { "code": null, "signal": 6 }, "stdout": [0, 255, 10], "stderr": "abort\n" } }
        ]
    }"#;
    let runner = RecordReplayRunner::from_json_str(json).unwrap();
    let tool = || Command::new("definitely-not-installed-tool-7f3a");
    assert_eq!(
        runner.run(&tool().arg("--version")).await.unwrap(),
        "tool 9.9.9"
    );
    let r = runner.output_bytes(&tool().arg("explode")).await.unwrap();
    assert_eq!(
        (r.code(), r.signal(), r.stdout().as_slice()),
        (None, Some(6), &[0u8, 255, 10][..])
    );
    // The real program is indeed missing.
    assert!(matches!(
        tool().arg("--version").run().await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_missing_program_is_recorded_and_replayed_as_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_in(&dir);
    let cmd = Command::new("definitely-not-installed-tool-7f3a").arg("x");
    {
        let recorder = RecordReplayRunner::record(&path, JobRunner::new());
        assert!(matches!(
            recorder.output_string(&cmd).await,
            Err(Error::NotFound { .. })
        ));
    } // dropped: saved best-effort
    let replayer = RecordReplayRunner::replay(&path).unwrap();
    let err = replayer.output_string(&cmd).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { ref program, .. } if program == "definitely-not-installed-tool-7f3a")
    );
}

#[tokio::test]
async fn environment_values_never_reach_the_cassette() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_in(&dir);
    let secret = "sk-live-4c6f6e67-5365-6372-6574-000000000000";
    let cmd = Command::new("sh")
        .args(["-c", "test -n \"$API_TOKEN\" && echo token-present"])
        .env("API_TOKEN", secret);
    let recorder = RecordReplayRunner::record(&path, JobRunner::new());
    assert_eq!(recorder.run(&cmd).await.unwrap(), "token-present");
    recorder.save().unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains(secret),
        "the secret leaked into the cassette:\n{text}"
    );
    assert!(
        !text.contains("sk-live"),
        "part of the secret leaked:\n{text}"
    );
    assert!(
        text.contains("API_TOKEN"),
        "the variable name should be recorded:\n{text}"
    );

    // Env differences don't cause misses: another value, or none at all.
    let replayer = RecordReplayRunner::replay(&path).unwrap();
    let other = Command::new("sh")
        .args(["-c", "test -n \"$API_TOKEN\" && echo token-present"])
        .env("API_TOKEN", "x");
    assert_eq!(replayer.run(&other).await.unwrap(), "token-present");
    let bare = Command::new("sh").args(["-c", "test -n \"$API_TOKEN\" && echo token-present"]);
    assert_eq!(replayer.run(&bare).await.unwrap(), "token-present");
}

#[tokio::test]
async fn env_names_are_written_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let recorder =
        RecordReplayRunner::record(cassette_in(&dir), ScriptedRunner::new().otherwise(""));
    recorder
        .run(
            &Command::new("x")
                .env("ZED", "1")
                .env("ALPHA", "2")
                .env_remove("MIDDLE"),
        )
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&recorder.to_json().unwrap()).unwrap();
    assert_eq!(
        json["entries"][0]["env_names"],
        serde_json::json!(["ALPHA", "MIDDLE", "ZED"])
    );
}

#[tokio::test]
async fn a_replay_miss_is_an_error_and_never_spawns() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_in(&dir);
    let recorder = RecordReplayRunner::record(&path, JobRunner::new());
    recorder.run(&Command::new("true")).await.unwrap();
    recorder.save().unwrap();

    let replayer = RecordReplayRunner::replay(&path).unwrap();
    let marker = dir.path().join("spawned-marker");
    let cmd = Command::new("touch").arg(&marker);
    let err = replayer.output_string(&cmd).await.unwrap_err();
    let Error::NoScriptedOutcome { program, detail } = &err else {
        panic!("expected a miss, got {err:?}")
    };
    assert_eq!(program, "touch");
    assert!(
        detail.contains("spawned-marker") && detail.contains("cassette.json"),
        "{detail}"
    );
    assert!(matches!(
        replayer.start(&cmd).await,
        Err(Error::NoScriptedOutcome { .. })
    ));
    assert!(!marker.exists(), "replay started a real process");
}

#[tokio::test]
async fn cwd_and_stdin_take_part_in_matching() {
    let dir = tempfile::tempdir().unwrap();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let path = cassette_in(&dir);
    let recorder = RecordReplayRunner::record(&path, JobRunner::new());
    recorder
        .run(&Command::new("pwd").current_dir(a.path()))
        .await
        .unwrap();
    recorder
        .run(&Command::new("cat").stdin("fed\n"))
        .await
        .unwrap();
    recorder.save().unwrap();

    let replayer = RecordReplayRunner::replay(&path).unwrap();
    assert!(
        replayer
            .run(&Command::new("pwd").current_dir(a.path()))
            .await
            .is_ok()
    );
    assert!(matches!(
        replayer
            .run(&Command::new("pwd").current_dir(b.path()))
            .await,
        Err(Error::NoScriptedOutcome { .. })
    ));
    assert!(matches!(
        replayer.run(&Command::new("pwd")).await,
        Err(Error::NoScriptedOutcome { .. })
    ));
    assert_eq!(
        replayer
            .run(&Command::new("cat").stdin("other data\n"))
            .await
            .unwrap(),
        "fed"
    );
    assert!(matches!(
        replayer.run(&Command::new("cat")).await,
        Err(Error::NoScriptedOutcome { .. })
    ));
}

#[tokio::test]
async fn repeated_invocations_replay_in_capture_order_then_repeat_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_in(&dir);
    let counter = dir.path().join("count");
    let script = format!("echo x >> {0}; wc -l < {0}", counter.display());
    let cmd = Command::new("sh").args(["-c", &script]);
    let recorder = RecordReplayRunner::record(&path, JobRunner::new());
    let mut recorded = Vec::new();
    for _ in 0..3 {
        recorded.push(recorder.run(&cmd).await.unwrap());
    }
    recorder.save().unwrap();
    assert_eq!(recorded, ["1", "2", "3"]);

    let replayer = RecordReplayRunner::replay(&path).unwrap();
    let mut replayed = Vec::new();
    for _ in 0..5 {
        replayed.push(replayer.run(&cmd).await.unwrap());
    }
    assert_eq!(replayed, ["1", "2", "3", "3", "3"]);
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().lines().count(),
        3,
        "replay ran the script"
    );
}

#[tokio::test]
async fn dropping_a_recorder_saves_the_cassette() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_in(&dir);
    let recorder = RecordReplayRunner::record(&path, JobRunner::new());
    recorder
        .run(&Command::new("echo").arg("saved-on-drop"))
        .await
        .unwrap();
    assert!(!path.exists());
    drop(recorder);
    let replayer = RecordReplayRunner::replay(&path).unwrap();
    assert_eq!(
        replayer
            .run(&Command::new("echo").arg("saved-on-drop"))
            .await
            .unwrap(),
        "saved-on-drop"
    );
}

#[tokio::test]
async fn streaming_records_and_replays_through_stdout_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_in(&dir);
    let cmd =
        Command::new("sh").args(["-c", "printf 'one\\ntwo\\nthree\\n'; echo warn >&2; exit 4"]);

    let recorder = RecordReplayRunner::record(&path, JobRunner::new());
    let mut run = recorder.start(&cmd).await.unwrap();
    let live: Vec<String> = run.stdout_lines().collect().await;
    let live_end = run.finish_streamed().await.unwrap();
    assert_eq!(live, ["one", "two", "three"]);
    assert_eq!(live_end, (Some(4), "warn\n".to_owned()));
    let first = recorder
        .first_line(&cmd, |l| l.starts_with('t'))
        .await
        .unwrap();
    assert_eq!(first.as_deref(), Some("two"));
    recorder.save().unwrap();

    let replayer = RecordReplayRunner::replay(&path).unwrap();
    let mut run = replayer.start(&cmd).await.unwrap();
    assert_eq!(run.pid(), None);
    let line = run
        .wait_for_line(|l| l == "two", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(line, "two");
    let rest: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(rest, ["three"]);
    assert_eq!(run.finish_streamed().await.unwrap(), live_end);
    // A capture verb can replay an entry captured through start().
    let r = replayer.output_string(&cmd).await.unwrap();
    assert_eq!(
        (r.code(), r.stdout().as_str()),
        (Some(4), "one\ntwo\nthree\n")
    );
}

#[tokio::test]
async fn interactive_sessions_are_refused_rather_than_half_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let recorder =
        RecordReplayRunner::record(cassette_in(&dir), ScriptedRunner::new().otherwise(""));
    let err = recorder
        .start(&Command::new("bc").keep_stdin_open())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
}

fn cassette_with(version: &str) -> String {
    format!(r#"{{"format": "processkit-cassette", "version": {version}, "entries": []}}"#)
}

#[test]
fn an_unknown_format_version_fails_loudly() {
    for version in ["2", "99", "0", "\"1\"", "1.5", "null"] {
        let err = RecordReplayRunner::from_json_str(&cassette_with(version)).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, Error::InvalidInput { .. }),
            "{version}: {err:?}"
        );
        assert!(msg.contains("version"), "{version}: {msg}");
    }
    let msg = RecordReplayRunner::from_json_str(&cassette_with("2"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("version 2") && msg.contains("reads version 1"),
        "{msg}"
    );
    assert!(RecordReplayRunner::from_json_str(&cassette_with("1")).is_ok());
}

#[test]
fn a_cassette_file_with_a_future_version_fails_to_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.json");
    std::fs::write(&path, cassette_with("7")).unwrap();
    let msg = RecordReplayRunner::replay(&path).unwrap_err().to_string();
    assert!(
        msg.contains("future.json") && msg.contains("version 7"),
        "{msg}"
    );
}

#[test]
fn malformed_cassettes_are_errors() {
    let cases = [
        "",
        "[]",
        "{}",
        r#"{"version": 1, "entries": []}"#,
        r#"{"format": "something-else", "version": 1, "entries": []}"#,
        r#"{"format": "processkit-cassette", "version": 1}"#,
        r#"{"format": "processkit-cassette", "version": 1, "entries": [], "extra": true}"#,
        r#"{"format": "processkit-cassette", "version": 1, "entries": [{"program": "x", "args": []}]}"#,
        r#"{"format": "processkit-cassette", "version": 1, "entries": [{"program": "x", "args": [],
            "error": {"kind": "not_found"}, "result": {"status": {"code": 0, "signal": null}, "stdout": "", "stderr": ""}}]}"#,
        r#"{"format": "processkit-cassette", "version": 1, "entries": [{"program": "x", "args": [],
            "error": {"kind": "exploded"}}]}"#,
        r#"{"format": "processkit-cassette", "version": 1, "entries": [{"program": "x", "args": [],
            "result": {"status": {"code": 0, "signal": null}, "stdout": [256], "stderr": ""}}]}"#,
        r#"{"format": "processkit-cassette", "version": 1, "entries": [{"program": "x", "args": [],
            "result": {"status": {"code": 0, "signal": null}, "stdout": "", "stderr": "",
                       "duration": {"secs": 18446744073709551615, "nanos": 4294967295}}}]}"#,
    ];
    for case in cases {
        let err = RecordReplayRunner::from_json_str(case).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{case}: {err:?}");
    }
}

fn entry_json() -> impl Strategy<Value = String> {
    let status = prop_oneof![
        any::<i32>().prop_map(|c| format!(r#"{{"code": {c}, "signal": null}}"#)),
        any::<i32>().prop_map(|s| format!(r#"{{"code": null, "signal": {s}}}"#)),
        Just("{}".to_owned()),
        Just("null".to_owned()),
    ];
    let blob = prop_oneof![
        ".*".prop_map(|s| serde_json::to_string(&s).unwrap()),
        proptest::collection::vec(0u16..300, 0..8).prop_map(|v| format!("{v:?}")),
        Just("{}".to_owned()),
    ];
    (status, blob.clone(), blob, any::<bool>(), "[a-z_]{0,12}")
        .prop_map(|(status, out, err, to, kind)| {
            if to {
                format!(r#"{{"program": "p", "args": ["a"], "error": {{"kind": "{kind}"}}}}"#)
            } else {
                format!(
                    r#"{{"program": "p", "args": [], "result": {{"status": {status}, "stdout": {out}, "stderr": {err}}}}}"#
                )
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(text in ".*") {
        let _ = RecordReplayRunner::from_json_str(&text);
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = RecordReplayRunner::from_json_str(&text);
    }

    #[test]
    fn the_parser_never_panics_on_almost_valid_cassettes(
        version in prop_oneof![Just("1".to_owned()), any::<i64>().prop_map(|v| v.to_string())],
        entries in proptest::collection::vec(entry_json(), 0..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let json = format!(r#"{{"format": "processkit-cassette", "version": {version}, "entries": [{}]}}"#, entries.join(","));
        let _ = RecordReplayRunner::from_json_str(&json);
        // Truncated anywhere, too.
        let mut end = cut.index(json.len() + 1);
        while !json.is_char_boundary(end) { end -= 1; }
        let _ = RecordReplayRunner::from_json_str(&json[..end]);
    }

    #[test]
    fn any_scripted_outcome_survives_a_cassette_round_trip(
        stdout in proptest::collection::vec(any::<u8>(), 0..256),
        stderr in ".{0,64}",
        code in prop::option::of(any::<i32>()),
        args in proptest::collection::vec("[ -~]{0,8}", 0..4),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            let outcome = match code {
                Some(c) => ScriptedOutcome::exit(c),
                None => ScriptedOutcome::killed(15),
            }
            .stdout(stdout.clone())
            .stderr(stderr.clone());
            let cmd = Command::new("tool").args(&args);
            let dir = tempfile::tempdir().unwrap();
            let recorder = RecordReplayRunner::record(cassette_in(&dir), ScriptedRunner::new().otherwise(outcome));
            let live = recorder.output_bytes(&cmd).await.unwrap();
            let json = recorder.to_json().unwrap();
            drop(recorder);
            let replayer = RecordReplayRunner::from_json_str(&json).unwrap();
            let replayed = replayer.output_bytes(&cmd).await.unwrap();
            prop_assert_eq!(&replayed, &live);
            prop_assert_eq!(replayed.stdout(), &stdout);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn save_reports_an_unwritable_path() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let recorder = RecordReplayRunner::record(
        blocker.join("cassette.json"),
        ScriptedRunner::new().otherwise(""),
    );
    recorder.run(&Command::new("x")).await.unwrap();
    let err = recorder.save().unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    // Dropping it afterwards (another failing save) must not panic either.
    drop(recorder);
}

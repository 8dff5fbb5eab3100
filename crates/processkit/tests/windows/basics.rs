//! One tree under a Job Object: death with the group, the handle or the deadline; stdio; errors; the environment; signals.

use super::*;

#[test]
fn the_mechanism_is_a_job_object_with_a_kernel_guarantee() {
    let p = processkit::preflight();
    assert_eq!(p.mechanism, Mechanism::JobObject);
    assert_eq!(p.host_mechanism, Mechanism::JobObject);
    assert_eq!(p.fallback_reason, None);
    assert_eq!(p.guarantee, processkit::Guarantee::Kernel);
}

#[test]
fn another_mechanism_is_unsupported() {
    for m in [Mechanism::CgroupV2, Mechanism::ProcessGroup] {
        let r = ProcessGroup::with_options(processkit::ProcessGroupOptions::default().mechanism(m));
        assert!(matches!(r, Err(Error::Unsupported { .. })), "{m:?}: {r:?}");
    }
}

#[tokio::test]
async fn dropping_the_group_kills_cmd_and_its_ping_grandchild() {
    let group = ProcessGroup::new().unwrap();
    let witness = Witness::new();
    let run = group
        .start(&cmd_with_ping().stdin(witness.stdin()))
        .await
        .unwrap();
    let cmd_pid = run.pid().unwrap();
    let members = members_at_least(&group, 2).await;
    assert!(
        members.contains(&cmd_pid),
        "{members:?} lacks cmd ({cmd_pid})"
    );
    assert!(
        members.len() >= 2,
        "ping never showed up in the job: {members:?}"
    );
    drop(group);
    witness
        .assert_all_gone(GONE_WITHIN, "after the group was dropped")
        .await;
    drop(run);
}

#[tokio::test]
async fn dropping_a_started_handle_kills_its_tree() {
    let witness = Witness::new();
    let run = cmd_with_ping()
        .stdin(witness.stdin())
        .start()
        .await
        .unwrap();
    drop(run);
    witness
        .assert_all_gone(GONE_WITHIN, "after the handle was dropped")
        .await;
}

#[tokio::test]
async fn a_timeout_kills_the_whole_tree_and_reports_a_kill() {
    let witness = Witness::new();
    let started = Instant::now();
    let r = cmd_with_ping()
        .stdin(witness.stdin())
        .timeout(Duration::from_millis(800))
        .output_string()
        .await
        .unwrap();
    assert!(r.timed_out());
    assert_eq!(r.code(), None, "a killed run has no exit code");
    assert_eq!(r.signal(), Some(9));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    witness
        .assert_all_gone(GONE_WITHIN, "after the timeout")
        .await;

    let err = cmd_with_ping()
        .timeout(Duration::from_millis(300))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn create_no_window_survives_containment() {
    let group = ProcessGroup::new().unwrap();
    let witness = Witness::new();
    let run = group
        .start(&cmd_with_ping().create_no_window().stdin(witness.stdin()))
        .await
        .unwrap();
    let members = members_at_least(&group, 2).await;
    assert!(members.contains(&run.pid().unwrap()), "{members:?}");
    assert!(members.len() >= 2, "{members:?}");
    group.kill().unwrap();
    witness
        .assert_all_gone(GONE_WITHIN, "after group.kill()")
        .await;

    let out = Command::new("cmd")
        .args(["/c", "echo windowless"])
        .create_no_window()
        .run()
        .await
        .unwrap();
    assert_eq!(out, "windowless");
}

#[tokio::test]
async fn stdout_and_stderr_are_captured() {
    assert_eq!(
        Command::new("cmd")
            .args(["/c", "echo hello"])
            .run()
            .await
            .unwrap(),
        "hello"
    );
    let r = Command::new("cmd")
        .args(["/c", "echo out & echo err 1>&2 & exit 3"])
        .output_string()
        .await
        .unwrap();
    assert_eq!(r.code(), Some(3));
    assert_eq!(r.stdout().trim_end(), "out");
    assert_eq!(r.stderr().trim_end(), "err");
}

#[tokio::test]
async fn stdin_is_fed_to_the_child() {
    // `cmd /q` reads commands from stdin when it is not a console.
    let r = Command::new("cmd")
        .arg("/q")
        .stdin(Stdin::from_string("echo from-stdin\r\nexit 0\r\n"))
        .output_string()
        .await
        .unwrap();
    assert_eq!(r.code(), Some(0));
    assert!(
        r.stdout().lines().any(|l| l.trim_end() == "from-stdin"),
        "{:?}",
        r.stdout()
    );

    // This process's own stdin can be handed down too.
    let out = Command::new("cmd")
        .args(["/c", "echo inherited"])
        .stdin(Stdin::inherit())
        .run()
        .await
        .unwrap();
    assert_eq!(out, "inherited");
}

#[tokio::test]
async fn an_interactive_stdin_reaches_the_child() {
    let mut run = Command::new("cmd")
        .arg("/q")
        .keep_stdin_open()
        .start()
        .await
        .unwrap();
    let mut stdin = run.standard_input().unwrap();
    stdin.write_all("echo line-one\r\n").await.unwrap();
    let mut lines = run.stdout_lines();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let line = tokio::time::timeout_at(deadline.into(), lines.next())
            .await
            .expect("line-one in time");
        match line {
            Some(l) if l.trim_end() == "line-one" => break,
            Some(_) => continue,
            None => panic!("stdout ended before line-one"),
        }
    }
    drop(lines);
    // Closing stdin ends cmd's command loop: it exits on its own.
    stdin.write_all("exit\r\n").await.unwrap();
    stdin.finish().await.unwrap();
    let code = tokio::time::timeout(Duration::from_secs(15), run.wait())
        .await
        .expect("exit in time")
        .unwrap();
    assert!(code.is_some(), "cmd was killed instead of exiting");
}

#[tokio::test]
async fn a_missing_program_is_not_found_and_named() {
    let err = Command::new("definitely-not-a-program-xyz")
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string().contains("definitely-not-a-program-xyz"),
        "{err}"
    );

    let err = Command::new(r"C:\no\such\dir\tool.exe")
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_missing_working_directory_is_a_bad_directory() {
    let err = Command::new("cmd")
        .args(["/c", "echo x"])
        .current_dir(r"C:\no\such\dir")
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadDirectory { .. }), "{err:?}");
}

#[tokio::test]
async fn the_working_directory_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("cmd")
        .args(["/c", "cd"])
        .current_dir(dir.path())
        .run()
        .await
        .unwrap();
    let want = dir.path().canonicalize().unwrap();
    let got = std::path::Path::new(&out).canonicalize().unwrap();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_nul_in_an_argument_or_the_environment_is_invalid_input() {
    let err = Command::new("cmd")
        .args(["/c", "echo a\0b"])
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert!(err.to_string().contains("cmd"), "{err}");
    let err = Command::new("cmd")
        .env("BAD", "a\0b")
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}

#[tokio::test]
async fn the_environment_is_passed_and_cleared() {
    let out = Command::new("cmd")
        .args(["/c", "echo %PK_TEST_VAR%"])
        .env("PK_TEST_VAR", "value with spaces")
        .run()
        .await
        .unwrap();
    assert_eq!(out, "value with spaces");
    // A cleared environment keeps only what is set explicitly (cmd.exe is
    // found in the system directory without PATH).
    let out = Command::new("cmd")
        .args(["/c", "set"])
        .env_clear()
        .env("ONLY", "1")
        .run()
        .await
        .unwrap();
    assert!(out.lines().any(|l| l == "ONLY=1"), "{out}");
    assert!(
        !out.lines()
            .any(|l| l.to_ascii_uppercase().starts_with("PK_TEST_VAR=")),
        "{out}"
    );
}

#[tokio::test]
async fn signals_other_than_kill_are_unsupported() {
    let group = ProcessGroup::new().unwrap();
    let mut run = group.start(&cmd_with_ping()).await.unwrap();
    for s in [Signal::Term, Signal::Int, Signal::Hup, Signal::Other(10)] {
        let e = group.signal(s).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "group {s:?}: {e:?}");
        let e = run.signal(s).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "run {s:?}: {e:?}");
    }
    run.signal(Signal::Kill).unwrap();
    assert_eq!(run.wait().await.unwrap(), None);
    assert_eq!(run.exit_status().unwrap().signal(), Some(9));
}

//! Output destinations: inherited, null, files, `2>&1`, tee; on single
//! commands and on pipelines; and the typed error of the verbs that need
//! captured stdout.
#![cfg(unix)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use processkit::{Command, Destination, Error, StreamExt};

/// A writer that keeps what it is given, shareable with the test.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

const MARKER_VAR: &str = "PK_TEST_INHERIT_MARKER";

/// Prints through inherited stdout and stderr. Run on its own it checks the
/// runs succeed; `inherited_stdout_reaches_the_parents_stdout` runs this
/// test binary as a child with a marker and reads what it printed.
#[tokio::test]
async fn inherit_helper_prints_through_inherited_streams() {
    let marker = std::env::var(MARKER_VAR).unwrap_or_else(|_| "pk-inherit-standalone".into());
    let r = Command::new("echo")
        .arg(format!("{marker}-out"))
        .stdout(Destination::inherit())
        .output_string()
        .await
        .unwrap();
    assert_eq!((r.code(), r.stdout().as_str()), (Some(0), ""));
    let mut run = Command::new("sh")
        .args(["-c", &format!("echo {marker}-err >&2")])
        .stderr(Destination::inherit())
        .start()
        .await
        .unwrap();
    assert_eq!(run.wait().await.unwrap(), Some(0));
    // Merged into an inherited stdout: stderr lands on this process's stdout.
    let code = Command::new("sh")
        .args(["-c", &format!("echo {marker}-merged >&2")])
        .stdout(Destination::inherit())
        .stderr_to_stdout()
        .exit_code()
        .await
        .unwrap();
    assert_eq!(code, 0);
}

#[tokio::test]
async fn inherited_stdout_reaches_the_parents_stdout() {
    let exe = std::env::current_exe().unwrap();
    let marker = format!("pk-marker-{}-{}", std::process::id(), fastrand_suffix());
    let r = Command::new(&exe)
        .args([
            "--exact",
            "inherit_helper_prints_through_inherited_streams",
            "--test-threads=1",
        ])
        .env(MARKER_VAR, &marker)
        .timeout(std::time::Duration::from_secs(60))
        .output_string()
        .await
        .unwrap();
    assert_eq!(
        r.code(),
        Some(0),
        "helper failed: {}{}",
        r.stdout(),
        r.stderr()
    );
    assert!(
        r.stdout().contains(&format!("{marker}-out\n")),
        "the grandchild's stdout did not reach the helper's stdout: {:?}",
        r.stdout()
    );
    assert!(
        r.stdout().contains(&format!("\n{marker}-merged\n")),
        "merged stderr did not reach the helper's stdout: {:?}",
        r.stdout()
    );
    assert!(
        r.stderr().lines().any(|l| l == format!("{marker}-err")),
        "the grandchild's stderr did not reach the helper's stderr: {:?}",
        r.stderr()
    );
    assert!(!r.stderr().contains(&format!("{marker}-out")));
}

fn fastrand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

#[tokio::test]
async fn null_stdout_is_dev_null_in_the_child() {
    let r = Command::new("sh")
        .args(["-c", "l=$(readlink /proc/$$/fd/1); echo $l >&2; echo gone"])
        .stdout(Destination::null())
        .output_string()
        .await
        .unwrap();
    assert_eq!(
        (r.code(), r.stdout().as_str(), r.stderr().as_str()),
        (Some(0), "", "/dev/null\n")
    );
}

#[tokio::test]
async fn file_destination_truncates_and_writes_exactly_the_bytes() {
    let dir = common::scratch();
    let path = dir.path().join("out.bin");
    std::fs::write(&path, vec![b'x'; 10_000]).unwrap();
    let r = Command::new("printf")
        .arg("abc\\000def\\377\\n")
        .stdout(Destination::file(&path))
        .output_bytes()
        .await
        .unwrap();
    assert_eq!((r.code(), r.stdout().len()), (Some(0), 0));
    assert_eq!(std::fs::read(&path).unwrap(), b"abc\0def\xff\n");
}

#[tokio::test]
async fn append_destination_adds_to_the_end_from_both_streams() {
    let dir = common::scratch();
    let path = dir.path().join("log.txt");
    std::fs::write(&path, "before\n").unwrap();
    let cmd = Command::new("sh")
        .stdout(Destination::append(&path))
        .stderr(Destination::append(&path));
    for i in 0..3 {
        let code = cmd
            .clone()
            .args(["-c", &format!("echo out{i}; echo err{i} >&2")])
            .exit_code()
            .await
            .unwrap();
        assert_eq!(code, 0);
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "before\nout0\nerr0\nout1\nerr1\nout2\nerr2\n"
    );
}

#[tokio::test]
async fn an_unopenable_file_is_an_io_error_naming_the_program() {
    let err = Command::new("echo")
        .stdout(Destination::file("/nonexistent-dir-pk/x/out"))
        .output_string()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Io { program, .. } if program == "echo"),
        "{err}"
    );
    assert!(
        err.to_string().contains("/nonexistent-dir-pk/x/out"),
        "{err}"
    );
}

const INTERLEAVE: &str =
    "i=0; while [ $i -lt 400 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done";

fn interleaved() -> String {
    (0..400).map(|i| format!("out{i}\nerr{i}\n")).collect()
}

#[tokio::test]
async fn stderr_to_stdout_keeps_the_order_of_interleaved_writes() {
    let r = Command::new("sh")
        .args(["-c", INTERLEAVE])
        .stderr_to_stdout()
        .output_string()
        .await
        .unwrap();
    assert_eq!(r.stderr(), "");
    assert_eq!(r.stdout(), &interleaved());

    // The same on the streaming path.
    let mut run = Command::new("sh")
        .args(["-c", INTERLEAVE])
        .stderr_to_stdout()
        .start()
        .await
        .unwrap();
    let lines: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(lines.join("\n") + "\n", interleaved());
}

#[tokio::test]
async fn stderr_to_stdout_into_a_file_keeps_the_order() {
    let dir = common::scratch();
    let path = dir.path().join("both.txt");
    let code = Command::new("sh")
        .args(["-c", INTERLEAVE])
        .stdout(Destination::file(&path))
        .stderr_to_stdout()
        .exit_code()
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), interleaved());
}

#[tokio::test]
async fn tee_forwards_and_captures_the_same_bytes() {
    let out = Shared::default();
    let err = Shared::default();
    let r = Command::new("sh")
        .args(["-c", "seq 1 100000; printf 'no newline\\377' >&2"])
        .stdout(Destination::tee(out.clone()))
        .stderr(Destination::tee(err.clone()))
        .output_bytes()
        .await
        .unwrap();
    assert_eq!(r.code(), Some(0));
    assert!(r.stdout().len() > 500_000);
    assert_eq!(&out.bytes(), r.stdout());
    assert_eq!(&err.bytes(), r.stderr());
    assert_eq!(r.stderr(), b"no newline\xff");
}

#[tokio::test]
async fn tee_forwards_on_the_streaming_path_too() {
    let out = Shared::default();
    let err = Shared::default();
    let mut run = Command::new("sh")
        .args(["-c", "seq 1 5000; echo warn >&2"])
        .stdout(Destination::tee(out.clone()))
        .stderr(Destination::tee(err.clone()))
        .start()
        .await
        .unwrap();
    let lines: Vec<String> = run.stdout_lines().collect().await;
    let (code, stderr) = run.finish_streamed().await.unwrap();
    assert_eq!(code, Some(0));
    assert_eq!(lines.len(), 5000);
    assert_eq!(out.bytes(), (lines.join("\n") + "\n").into_bytes());
    assert_eq!(
        (err.bytes(), stderr.as_str()),
        (b"warn\n".to_vec(), "warn\n")
    );
}

#[tokio::test]
async fn a_failing_tee_writer_stops_forwarding_but_capture_goes_on() {
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("broken"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let out = Command::new("seq")
        .arg("3")
        .stdout(Destination::tee(Broken))
        .run()
        .await
        .unwrap();
    assert_eq!(out, "1\n2\n3");
}

#[tokio::test]
async fn verbs_that_read_stdout_refuse_uncaptured_stdout_without_starting() {
    let dir = common::scratch();
    let never = dir.path().join("never-created");
    for (dest, what) in [
        (Destination::inherit(), "inherited"),
        (Destination::null(), "null"),
        (Destination::file(&never), "file"),
    ] {
        let cmd = Command::new("echo").arg("x").stdout(dest);
        match cmd.run().await {
            Err(Error::OutputNotCaptured {
                program,
                verb,
                destination,
            }) => {
                assert_eq!((program.as_str(), verb.as_str()), ("echo", "run"));
                assert!(!destination.is_empty());
            }
            other => panic!("run with {what} stdout: {other:?}"),
        }
        let err = cmd.first_line(|_| true).await.unwrap_err();
        assert!(
            matches!(&err, Error::OutputNotCaptured { verb, .. } if verb == "first_line"),
            "{err}"
        );
        assert!(err.to_string().contains("echo"), "{err}");
    }
    assert!(!never.exists(), "a refused verb must not start anything");

    let mut run = Command::new("echo")
        .stdout(Destination::null())
        .start()
        .await
        .unwrap();
    assert!(matches!(
        run.try_stdout_lines(),
        Err(Error::OutputNotCaptured { .. })
    ));
    assert!(run.stdout_lines().collect::<Vec<_>>().await.is_empty());
    assert_eq!(run.wait().await.unwrap(), Some(0));
}

#[tokio::test]
async fn pipeline_honours_the_last_stdout_and_every_stderr() {
    let dir = common::scratch();
    let out = dir.path().join("out.txt");
    let err1 = dir.path().join("err1.txt");
    let chain = Command::new("sh")
        .args(["-c", "printf 'b\\na\\n'; echo first-err >&2"])
        .stderr(Destination::file(&err1))
        | Command::new("sh")
            .args(["-c", "sort; echo second-err >&2"])
            .stderr(Destination::null())
            .stdout(Destination::file(&out));
    let r = chain.output_string().await.unwrap();
    assert_eq!(
        (r.code(), r.stdout().as_str(), r.stderr().as_str()),
        (Some(0), "", "")
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "a\nb\n");
    assert_eq!(std::fs::read_to_string(&err1).unwrap(), "first-err\n");

    // `2>&1 |`: the first stage's stderr feeds the second stage.
    let merged = (Command::new("sh")
        .args(["-c", "echo one; echo two >&2"])
        .stderr_to_stdout()
        | Command::new("cat").arg("-n"))
    .run()
    .await
    .unwrap();
    let lines: Vec<&str> = merged.lines().map(str::trim).collect();
    assert_eq!(lines, ["1\tone", "2\ttwo"]);

    // Verbs that read stdout name the last stage.
    let err = (Command::new("echo").arg("x") | Command::new("cat").stdout(Destination::null()))
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::OutputNotCaptured { program, .. } if program == "cat (stage 2 of 2)"),
        "{err}"
    );
}

#[tokio::test]
async fn pipeline_tee_on_the_last_stage_and_on_an_upstream_stderr() {
    let out = Shared::default();
    let err = Shared::default();
    let r = (Command::new("sh")
        .args(["-c", "seq 3; echo upstream-warn >&2"])
        .stderr(Destination::tee(err.clone()))
        | Command::new("cat").stdout(Destination::tee(out.clone())))
    .output_string()
    .await
    .unwrap();
    assert_eq!(r.stdout(), "1\n2\n3\n");
    assert_eq!(out.bytes(), b"1\n2\n3\n");
    assert_eq!(err.bytes(), b"upstream-warn\n");
}

#[tokio::test]
async fn capture_caps_keep_head_tail_or_both_and_count_what_they_drop() {
    use processkit::CaptureLimit;
    // 100 000 numbered lines: 588 895 bytes.
    let seq = Command::new("seq").arg("100000");
    let full = seq.output_bytes().await.unwrap().into_output().0;
    assert_eq!(full.len(), 588_895);
    for (limit, want) in [
        (CaptureLimit::head(1000), full[..1000].to_vec()),
        (CaptureLimit::tail(1000), full[full.len() - 1000..].to_vec()),
        (
            CaptureLimit::both(1001),
            [&full[..500], &full[full.len() - 501..]].concat(),
        ),
        (CaptureLimit::tail(1 << 20), full.clone()),
    ] {
        let r = seq
            .clone()
            .stdout_limit(limit)
            .output_bytes()
            .await
            .unwrap();
        assert_eq!(r.stdout(), &want, "{limit:?}");
        assert_eq!(
            r.stdout_dropped(),
            (full.len() - want.len()) as u64,
            "{limit:?}"
        );
        assert_eq!(r.is_truncated(), want.len() < full.len());
    }
    // Stderr separately, with a line handler that still sees every line.
    let seen = Arc::new(Mutex::new(0usize));
    let s2 = seen.clone();
    let r = Command::new("sh")
        .args(["-c", "seq 100000 >&2"])
        .stderr_limit(CaptureLimit::tail(7))
        .on_stderr_line(move |_| *s2.lock().unwrap() += 1)
        .output_string()
        .await
        .unwrap();
    assert_eq!(
        (r.stderr().as_str(), r.stderr_dropped()),
        ("100000\n", 588_888)
    );
    assert_eq!(*seen.lock().unwrap(), 100_000);
}

#[tokio::test]
async fn a_pipeline_reports_the_caps_of_its_last_stdout() {
    use processkit::CaptureLimit;
    let r = (Command::new("seq").arg("1000")
        | Command::new("cat").stdout_limit(CaptureLimit::tail(5)))
    .output_string()
    .await
    .unwrap();
    assert_eq!((r.stdout().as_str(), r.stdout_dropped()), ("1000\n", 3888));
}

#[tokio::test]
async fn the_background_stderr_drain_of_a_stream_keeps_only_a_bounded_tail() {
    // 20 MiB of stderr while stdout is streamed: only the last 4 MiB stay.
    let mut run = Command::new("sh")
        .args([
            "-c",
            "head -c 20971520 /dev/zero | tr '\\0' x >&2; echo end >&2; echo out",
        ])
        .start()
        .await
        .unwrap();
    let lines: Vec<String> = run.stdout_lines().collect().await;
    let (code, stderr) = run.finish_streamed().await.unwrap();
    assert_eq!((code, lines.len()), (Some(0), 1));
    assert_eq!(stderr.len(), 4 * 1024 * 1024);
    assert!(
        stderr.ends_with("xxxend\n"),
        "{:?}",
        &stderr[stderr.len() - 20..]
    );
}

//! Live processes: line streaming, interactive stdin, readiness probes,
//! racing and joining children.
#![cfg(unix)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use processkit::{Command, Error, StreamExt, wait_all, wait_any};

#[tokio::test]
async fn stdout_lines_streams_while_stderr_drains_in_the_background() {
    let mut run = Command::new("sh")
        .args([
            "-c",
            "for i in 1 2 3; do echo line$i; echo err$i >&2; done; exit 4",
        ])
        .start()
        .await
        .unwrap();
    let lines: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(lines, ["line1", "line2", "line3"]);
    let (code, stderr) = run.finish_streamed().await.unwrap();
    assert_eq!(code, Some(4));
    assert_eq!(stderr, "err1\nerr2\nerr3\n");
}

#[tokio::test]
async fn lines_arrive_before_the_process_exits() {
    let mut run = Command::new("sh")
        .args(["-c", "echo first; sleep 30"])
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let first = run.stdout_lines().next().await;
    assert_eq!(first.as_deref(), Some("first"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_million_line_flood_arrives_without_loss() {
    let mut run = Command::new("seq").arg("1000000").start().await.unwrap();
    let mut lines = run.stdout_lines();
    let mut expected = 1u64;
    while let Some(line) = lines.next().await {
        assert_eq!(line.parse::<u64>().unwrap(), expected);
        expected += 1;
    }
    assert_eq!(expected, 1_000_001);
    assert_eq!(run.finish_streamed().await.unwrap().0, Some(0));
}

#[tokio::test]
async fn crlf_and_invalid_utf8_lines_are_handled() {
    let mut run = Command::new("printf")
        .arg("a\\r\\nb\\377\\nc")
        .start()
        .await
        .unwrap();
    let lines: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(lines, ["a", "b\u{fffd}", "c"]);
}

#[tokio::test]
async fn an_endless_line_is_split_at_the_cap_instead_of_growing_memory() {
    let mut run = Command::new("sh")
        .args(["-c", "head -c 3000000 /dev/zero | tr '\\0' x"])
        .start()
        .await
        .unwrap();
    let lens: Vec<usize> = run.stdout_lines().map(|l| l.len()).collect().await;
    assert_eq!(lens.iter().sum::<usize>(), 3_000_000);
    assert!(
        lens.iter().all(|l| *l <= processkit::running::MAX_LINE),
        "{lens:?}"
    );
}

#[tokio::test]
async fn the_timeout_ends_the_stream_and_the_tree_is_gone() {
    let dir = common::scratch();
    let file = dir.path().join("pids");
    let script = format!(
        "sleep 300 & echo $! > {}; while :; do echo tick; sleep 0.05; done",
        file.display()
    );
    let mut run = Command::new("sh")
        .args(["-c", &script])
        .timeout(Duration::from_millis(500))
        .start()
        .await
        .unwrap();
    let shell = run.pid().unwrap();
    let started = Instant::now();
    let n = run.stdout_lines().collect::<Vec<_>>().await.len();
    assert!(n > 0);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stream ended at the deadline ({:?})",
        started.elapsed()
    );
    assert!(run.timed_out());
    let (code, _) = run.finish_streamed().await.unwrap();
    assert_eq!(code, None, "a killed run has no exit code");
    let pids = common::read_pids(&file, 1, Duration::from_secs(1));
    common::assert_all_gone(
        &[shell, pids[0]],
        Duration::from_secs(2),
        "timed-out stream",
    );
}

#[tokio::test]
async fn interactive_stdin_conversation_and_eof() {
    let mut run = Command::new("sh")
        .args(["-c", "while read x; do echo \"got $x\"; done; echo bye"])
        .keep_stdin_open()
        .start()
        .await
        .unwrap();
    let mut stdin = run.standard_input().unwrap();
    assert!(
        run.standard_input().is_none(),
        "the writer can be taken once"
    );
    stdin.write_line("one").await.unwrap();
    let first = run.stdout_lines().next().await;
    assert_eq!(first.as_deref(), Some("got one"));
    stdin.write_all(b"two\n").await.unwrap();
    assert_eq!(run.stdout_lines().next().await.as_deref(), Some("got two"));
    stdin.finish().await.unwrap(); // EOF ends the `while read` loop
    let rest: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(rest, ["bye"]);
    assert_eq!(run.wait().await.unwrap(), Some(0));
}

#[tokio::test]
async fn bc_evaluates_lines_written_to_stdin() {
    assert!(
        std::process::Command::new("bc")
            .arg("--version")
            .output()
            .is_ok(),
        "this test needs bc (CI installs it)"
    );
    let mut run = Command::new("bc").keep_stdin_open().start().await.unwrap();
    let mut stdin = run.standard_input().unwrap();
    stdin.write_line("2 + 2").await.unwrap();
    stdin.write_line("6 * 7").await.unwrap();
    stdin.finish().await.unwrap();
    let answers: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(answers, ["4", "42"]);
}

#[tokio::test]
async fn handlers_run_on_the_pump_in_order_while_streaming() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let mut run = Command::new("printf")
        .arg("a\\nb\\nc\\n")
        .on_stdout_line(move |l| s.lock().unwrap().push(l.to_owned()))
        .start()
        .await
        .unwrap();
    let lines: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(lines, ["a", "b", "c"]);
    assert_eq!(*seen.lock().unwrap(), ["a", "b", "c"]);
}

#[tokio::test]
async fn wait_for_line_returns_the_match_and_streaming_continues_after_it() {
    let mut run = Command::new("sh")
        .args([
            "-c",
            "echo booting; echo listening on 9; echo after; sleep 0.1",
        ])
        .start()
        .await
        .unwrap();
    let line = run
        .wait_for_line(|l| l.starts_with("listening"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(line, "listening on 9");
    let rest: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(rest, ["after"]);
    assert_eq!(run.finish_streamed().await.unwrap().0, Some(0));
}

#[tokio::test]
async fn wait_for_line_is_not_ready_fast_when_the_child_exits_and_leaves_it_alone_on_deadline() {
    let mut run = Command::new("sh")
        .args(["-c", "echo nope; exit 3"])
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let err = run
        .wait_for_line(|l| l == "ready", Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotReady { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "NotReady came after {:?}",
        started.elapsed()
    );

    let mut run = Command::new("sh")
        .args(["-c", "echo hi; sleep 30"])
        .start()
        .await
        .unwrap();
    let err = run
        .wait_for_line(|l| l == "ready", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotReady { .. }), "{err:?}");
    assert!(!matches!(err, Error::Timeout { .. }));
    assert!(
        common::alive(run.pid().unwrap()),
        "a failed probe never kills the child"
    );
}

#[tokio::test]
async fn wait_for_port_passes_when_a_listener_appears() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut run = Command::new("sleep").arg("30").start().await.unwrap();
    let bind_later = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        tokio::net::TcpListener::bind(addr).await.unwrap()
    });
    let _l = {
        run.wait_for_port(addr, Duration::from_secs(5))
            .await
            .unwrap();
        bind_later.await.unwrap()
    };
}

#[tokio::test]
async fn wait_for_port_is_not_ready_as_soon_as_the_child_exits() {
    let mut run = Command::new("sh")
        .args(["-c", "sleep 0.2; exit 1"])
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let err = run
        .wait_for_port("127.0.0.1:9".parse().unwrap(), Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotReady { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn wait_for_polls_an_async_check_until_it_passes_or_the_deadline() {
    let dir = common::scratch();
    let marker = dir.path().join("ready");
    let mut run = Command::new("sh")
        .args([
            "-c",
            &format!("sleep 0.2; touch {}; sleep 30", marker.display()),
        ])
        .start()
        .await
        .unwrap();
    let m = marker.clone();
    run.wait_for(
        move || {
            let m = m.clone();
            async move { m.exists() }
        },
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let err = run
        .wait_for(|| async { false }, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotReady { .. }), "{err:?}");
    assert!(common::alive(run.pid().unwrap()));
}

#[tokio::test]
async fn wait_any_reports_the_first_exit_and_the_loser_stays_usable() {
    let mut slow = Command::new("sh")
        .args(["-c", "sleep 0.5; exit 3"])
        .start()
        .await
        .unwrap();
    let mut fast = Command::new("sh")
        .args(["-c", "exit 2"])
        .start()
        .await
        .unwrap();
    let (idx, code) = wait_any(&mut [&mut slow, &mut fast]).await.unwrap();
    assert_eq!((idx, code), (1, Some(2)));
    assert_eq!(slow.wait().await.unwrap(), Some(3));
}

#[tokio::test]
async fn wait_all_returns_codes_in_input_order() {
    let mut a = Command::new("sh")
        .args(["-c", "sleep 0.2; exit 1"])
        .start()
        .await
        .unwrap();
    let mut b = Command::new("true").start().await.unwrap();
    let mut c = Command::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    assert_eq!(
        wait_all(&mut [&mut a, &mut b, &mut c]).await.unwrap(),
        vec![Some(1), Some(0), None]
    );
}

#[tokio::test]
async fn wait_buffers_output_so_a_chatty_child_cannot_block() {
    let mut run = Command::new("sh")
        .args(["-c", "head -c 2000000 /dev/zero; echo; echo end"])
        .start()
        .await
        .unwrap();
    let code = tokio::time::timeout(Duration::from_secs(10), run.wait())
        .await
        .expect("no deadlock")
        .unwrap();
    assert_eq!(code, Some(0));
    let lines: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(lines.last().map(String::as_str), Some("end"));
}

#[cfg(feature = "process-control")]
#[tokio::test]
async fn kill_and_signal_on_a_running_process() {
    let mut run = Command::new("sleep").arg("30").start().await.unwrap();
    run.kill().await.unwrap();
    assert_eq!(run.wait().await.unwrap(), None);
    let mut run = Command::new("sleep").arg("30").start().await.unwrap();
    run.signal(processkit::Signal::Term).unwrap();
    assert_eq!(run.wait().await.unwrap(), None);
    assert_eq!(run.exit_status().unwrap().signal(), Some(15));
}

#[tokio::test(flavor = "current_thread")]
async fn the_timeout_holds_while_streaming_a_flood_on_a_current_thread_runtime() {
    let mut run = Command::new("yes")
        .timeout(Duration::from_millis(500))
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let mut lines = run.stdout_lines();
    let mut n = 0u64;
    while lines.next().await.is_some() {
        n += 1;
    }
    assert!(n > 0);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the deadline ended the flood after {:?}",
        started.elapsed()
    );
    assert!(run.timed_out());
}

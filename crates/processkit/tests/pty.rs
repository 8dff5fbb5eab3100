//! Terminal runs: a child on a pseudo-terminal sees a terminal, can be
//! driven like a person at a keyboard (text, Ctrl-C, Ctrl-D, window
//! resizes), streams line by line where it would buffer on a pipe, and is
//! contained like any other run. Every test starts real processes and checks
//! them from outside through `/proc`.
//!
//! The pty fd count is process-wide, so the leak test takes the write side
//! of a lock every other test holds for reading.
#![cfg(all(target_os = "linux", feature = "pty"))]

mod common;

use std::time::{Duration, Instant};

use common::{alive, on_process_groups};
use processkit::{Command, Destination, Error, Stdin, StreamExt};
use tokio::sync::RwLock;

static PTYS: RwLock<()> = RwLock::const_new(());

const WITHIN: Duration = Duration::from_secs(20);

/// The direct children of `pid`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// `true` when `pid`'s process group is its terminal's foreground group
/// (`/proc/<pid>/stat`: pgrp is field 5, tpgid field 8).
fn in_foreground(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(i) = stat.rfind(')') else {
        return false;
    };
    let fields: Vec<&str> = stat[i + 2..].split_whitespace().collect();
    fields.len() > 5 && fields[2] == fields[5]
}

/// This process's fds that point at a pseudo-terminal (either side).
fn pty_fds() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.display().to_string())
        .filter(|p| p == "/dev/ptmx" || p.starts_with("/dev/pts/"))
        .collect()
}

#[tokio::test]
async fn the_child_sees_a_terminal_on_stdin_stdout_and_stderr() {
    let _g = PTYS.read().await;
    let on_terminal = Command::new("sh")
        .args(["-c", "test -t 0 && test -t 1 && test -t 2"])
        .pty()
        .timeout(WITHIN)
        .probe()
        .await
        .unwrap();
    assert!(
        on_terminal,
        "the child did not see a terminal on 0, 1 and 2"
    );
    // The same without a terminal: pipes and /dev/null.
    let off = Command::new("sh")
        .args(["-c", "test -t 0 || test -t 1"])
        .timeout(WITHIN)
        .probe()
        .await
        .unwrap();
    assert!(!off);
}

#[tokio::test]
async fn the_terminal_is_the_controlling_terminal_of_a_new_session() {
    let _g = PTYS.read().await;
    // `tty` names the terminal on stdin; `/dev/tty` opens only with a
    // controlling terminal; `ps -o sess=` equals the pid for a leader.
    let out = Command::new("sh")
        .args([
            "-c",
            "tty; : < /dev/tty && echo ctty; echo sid=$(ps -o sess= -p $$ | tr -d ' ') pid=$$",
        ])
        .pty()
        .timeout(WITHIN)
        .run()
        .await
        .unwrap();
    let lines: Vec<&str> = out.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(lines[0].starts_with("/dev/pts/"), "{lines:?}");
    assert_eq!(lines[1], "ctty", "{lines:?}");
    let (sid, pid) = lines[2].split_once(' ').unwrap();
    assert_eq!(&sid[4..], &pid[4..], "not a session leader: {lines:?}");
}

#[tokio::test]
async fn stty_size_prints_the_size_that_was_set() {
    let _g = PTYS.read().await;
    let default = Command::new("stty")
        .arg("size")
        .pty()
        .timeout(WITHIN)
        .run()
        .await
        .unwrap();
    assert_eq!(default, "24 80");
    let set = Command::new("stty")
        .arg("size")
        .pty_size(132, 43)
        .timeout(WITHIN)
        .run()
        .await
        .unwrap();
    assert_eq!(set, "43 132");
}

#[tokio::test]
async fn after_a_resize_a_child_trapping_winch_reports_the_new_size() {
    let _g = PTYS.read().await;
    let mut run = Command::new("sh")
        .args([
            "-c",
            "trap 'echo winch $(stty size)' WINCH; echo ready; while :; do sleep 0.05; done",
        ])
        .pty()
        .timeout(WITHIN)
        .start()
        .await
        .unwrap();
    run.wait_for_line(|l| l == "ready", WITHIN).await.unwrap();
    let term = run.terminal().expect("a terminal");
    term.resize(100, 31).unwrap();
    assert_eq!(term.size().unwrap(), (100, 31));
    let line = run
        .wait_for_line(|l| l.starts_with("winch"), WITHIN)
        .await
        .unwrap();
    assert_eq!(line, "winch 31 100");
}

const PROMPT: &str = "pk-ready>\n";

/// `sh -i` on a terminal, once its first prompt is there: like a person,
/// a test types only then (the prompt ends its line, so output never
/// shares a line with it).
async fn interactive_shell() -> processkit::RunningProcess {
    let mut run = Command::new("sh")
        .arg("-i")
        .env("PS1", PROMPT)
        .pty()
        .timeout(WITHIN)
        .start()
        .await
        .unwrap();
    run.wait_for_line(|l| l == PROMPT.trim_end(), WITHIN)
        .await
        .unwrap();
    run
}

#[tokio::test]
async fn an_interactive_shell_answers_a_line_and_exits_0_on_ctrl_d() {
    let _g = PTYS.read().await;
    let mut run = interactive_shell().await;
    let mut input = run.standard_input().expect("terminal input");
    input.write_line("echo answer=$((6 * 7))").await.unwrap();
    // The echo of the typed line carries the prompt and the unexpanded
    // text; only the shell's own output is exactly this.
    let line = run
        .wait_for_line(|l| l == "answer=42", WITHIN)
        .await
        .unwrap();
    assert_eq!(line, "answer=42");
    run.terminal().unwrap().send_eof().unwrap();
    assert_eq!(run.wait().await.unwrap(), Some(0));
}

#[tokio::test]
async fn bc_computes_through_the_terminal_and_exits_0_on_ctrl_d() {
    let _g = PTYS.read().await;
    // bc's line editor switches bracketed paste on and off around every
    // line (`ESC [?2004h` ... `ESC [?2004l CR`): the answer is a clean line
    // only once escape sequences are stripped.
    let seen = Shared::default();
    let mut run = Command::new("bc")
        .args(["-q", "-i"])
        .pty()
        .strip_escapes()
        .stdout(Destination::tee(seen.clone()))
        .timeout(WITHIN)
        .start()
        .await
        .unwrap();
    let mut input = run.standard_input().expect("terminal input");
    input.write_line("1234 * 1000").await.unwrap();
    if let Err(e) = run.wait_for_line(|l| l == "1234000", WITHIN).await {
        panic!("{e}; the terminal showed {:?}", seen.text());
    }
    // bc's line editor may discard input it has not read yet while it
    // switches terminal modes between lines (a flushing tcsetattr), so a
    // single Ctrl-D can be lost there; a user would press it again.
    let term = run.terminal().unwrap();
    let nudge = tokio::spawn(async move {
        loop {
            let _ = term.send_eof();
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let code = run.wait().await;
    nudge.abort();
    assert_eq!(
        code.unwrap(),
        Some(0),
        "the terminal showed {:?}",
        seen.text()
    );
}

/// A tee target the test can read back.
#[derive(Clone, Default)]
struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Shared {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn ctrl_c_interrupts_the_foreground_sleep_and_the_shell_goes_on() {
    let _g = PTYS.read().await;
    let mut run = interactive_shell().await;
    let shell = run.pid().unwrap();
    let mut input = run.standard_input().expect("terminal input");
    // The job reports once it runs, when the shell has made it the
    // terminal's foreground job; the check below confirms that from /proc.
    input
        .write_line("sh -c 'echo sleeping; exec sleep 300'")
        .await
        .unwrap();
    run.wait_for_line(|l| l == "sleeping", WITHIN)
        .await
        .unwrap();
    let mut sleeper = None;
    assert!(
        common::wait_until_async(WITHIN, || {
            sleeper = children(shell)
                .into_iter()
                .find(|p| comm(*p) == "sleep" && in_foreground(*p));
            sleeper.is_some()
        })
        .await,
        "no foreground sleep below the shell"
    );
    let sleeper = sleeper.unwrap();
    let typed_at = Instant::now();
    run.terminal().unwrap().interrupt().unwrap();
    assert!(
        common::wait_until_async(WITHIN, || !alive(sleeper)).await,
        "Ctrl-C did not stop the foreground sleep"
    );
    // As a shell user sees it: the command died of SIGINT (128 + 2) and
    // the shell is still there to say so.
    input.write_line("echo status=$?").await.unwrap();
    run.wait_for_line(|l| l == "status=130", WITHIN)
        .await
        .unwrap();
    assert!(typed_at.elapsed() < WITHIN);
    assert!(alive(shell), "Ctrl-C reached the shell too");
    run.terminal().unwrap().send_eof().unwrap();
    assert_eq!(run.wait().await.unwrap(), Some(0));
}

/// A pty child that starts a `setsid` grandchild and reports its pid.
fn escaping(file: &std::path::Path) -> Command {
    Command::new("sh")
        .args([
            "-c",
            &format!(
                "setsid sh -c 'echo $$ > {}; exec sleep 300' & echo started; exec sleep 300",
                file.display()
            ),
        ])
        .pty()
}

/// On process groups a new session escapes (the documented weakness of
/// that mechanism): the survivor is cleaned up by hand.
fn assert_grandchild_gone(pid: u32, what: &str) {
    if on_process_groups() {
        kill_by_hand(pid);
        return;
    }
    common::assert_all_gone(&[pid], Duration::from_secs(10), what);
}

fn kill_by_hand(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

#[tokio::test]
async fn a_setsid_grandchild_of_a_pty_child_dies_with_the_handle() {
    let _g = PTYS.read().await;
    let dir = common::scratch();
    let file = dir.path().join("pid");
    let mut run = escaping(&file).timeout(WITHIN).start().await.unwrap();
    run.wait_for_line(|l| l == "started", WITHIN).await.unwrap();
    let pid = common::wait_for_pids_within(&file, 1, WITHIN).await[0];
    let child = run.pid().unwrap();
    assert!(alive(pid));
    drop(run);
    common::assert_all_gone(&[child], Duration::from_secs(10), "pty child after drop");
    assert_grandchild_gone(pid, "setsid grandchild after drop");
}

#[tokio::test]
async fn a_timeout_ends_the_whole_pty_tree() {
    let _g = PTYS.read().await;
    let dir = common::scratch();
    let file = dir.path().join("pid");
    let started = Instant::now();
    let r = escaping(&file)
        .timeout(Duration::from_millis(1500))
        .output_string()
        .await
        .unwrap();
    assert!(r.timed_out());
    assert!(started.elapsed() < WITHIN);
    assert!(r.stdout().contains("started"), "{:?}", r.stdout());
    let pid = common::wait_for_pids_within(&file, 1, WITHIN).await[0];
    assert_grandchild_gone(pid, "setsid grandchild after the timeout");
}

#[tokio::test]
async fn a_dropped_future_ends_the_whole_pty_tree() {
    let _g = PTYS.read().await;
    let dir = common::scratch();
    let file = dir.path().join("pid");
    let cmd = escaping(&file);
    let fut = cmd.output_string();
    let waited = tokio::time::timeout(Duration::from_millis(200), async {
        // Runs until the grandchild has written its pid, then is dropped.
        tokio::select! {
            _ = fut => unreachable!("the child sleeps for 300 s"),
            _ = common::wait_for_pids_within(&file, 1, WITHIN) => {}
        }
    });
    let _ = tokio::time::timeout(WITHIN, waited).await;
    let pid = common::wait_for_pids_within(&file, 1, WITHIN).await[0];
    assert_grandchild_gone(pid, "setsid grandchild after a dropped future");
}

#[tokio::test]
async fn no_pty_fd_leaks_after_200_runs() {
    let _g = PTYS.write().await;
    let before = pty_fds();
    for i in 0..200 {
        if i % 2 == 0 {
            let r = Command::new("true").pty().output_bytes().await.unwrap();
            assert_eq!(r.code(), Some(0));
        } else {
            // A started run dropped while its child still runs.
            let run = Command::new("sleep").arg("30").pty().start().await.unwrap();
            let _term = run.terminal().unwrap();
            drop(run);
        }
    }
    let after = pty_fds();
    assert_eq!(before, after, "pty fds left open");
}

#[tokio::test]
async fn python_printing_without_flush_streams_line_by_line_on_a_terminal() {
    let _g = PTYS.read().await;
    let program = "import time\nfor i in range(3):\n    print('tick', i)\n    time.sleep(0.2)\ntime.sleep(300)\n";
    // On a pipe, Python keeps its output in a block buffer: nothing arrives.
    let mut piped = Command::new("python3")
        .args(["-c", program])
        .env_remove("PYTHONUNBUFFERED")
        .timeout(WITHIN)
        .start()
        .await
        .unwrap();
    let err = piped
        .wait_for_line(|l| l == "tick 0", Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotReady { .. }), "{err}");
    drop(piped);
    // On a terminal it line-buffers: every line arrives while it still runs.
    let mut run = Command::new("python3")
        .args(["-c", program])
        .env_remove("PYTHONUNBUFFERED")
        .pty()
        .timeout(WITHIN)
        .start()
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut lines = run.stdout_lines();
    while seen.len() < 3 {
        let line = tokio::time::timeout(WITHIN, lines.next())
            .await
            .expect("a line in time")
            .expect("the stream goes on");
        seen.push(line);
    }
    assert_eq!(seen, ["tick 0", "tick 1", "tick 2"]);
    assert!(run.exit_status().is_none(), "python is still running");
}

#[tokio::test]
async fn stdout_and_stderr_arrive_merged_with_crlf_and_lines_without_cr() {
    let _g = PTYS.read().await;
    let r = Command::new("sh")
        .args(["-c", "echo out; echo err >&2"])
        .pty()
        .timeout(WITHIN)
        .output_string()
        .await
        .unwrap();
    assert_eq!(r.stdout(), "out\r\nerr\r\n");
    assert_eq!(r.stderr(), "");
    let mut run = Command::new("sh")
        .args(["-c", "echo one; echo two"])
        .pty()
        .timeout(WITHIN)
        .start()
        .await
        .unwrap();
    let lines: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(lines, ["one", "two"]);
}

#[tokio::test]
async fn escape_sequences_are_stripped_on_request_and_raw_bytes_stay_available() {
    let _g = PTYS.read().await;
    let cmd = Command::new("printf")
        .arg("\\033[1;31mred\\033[0m \\033]0;title\\007done\\n")
        .pty()
        .timeout(WITHIN);
    let raw = cmd.output_bytes().await.unwrap();
    assert_eq!(
        raw.stdout(),
        b"\x1b[1;31mred\x1b[0m \x1b]0;title\x07done\r\n"
    );
    let text = cmd.clone().strip_escapes().run().await.unwrap();
    assert_eq!(text, "red done");
    let stripped = cmd.clone().strip_escapes().output_string().await.unwrap();
    assert_eq!(stripped.stdout(), "red done\n");
    let mut run = cmd.strip_escapes().start().await.unwrap();
    let line = run
        .wait_for_line(|l| l.starts_with("red"), WITHIN)
        .await
        .unwrap();
    assert_eq!(line, "red done");
}

#[tokio::test]
async fn a_stdin_source_is_typed_in_and_ended_with_ctrl_d() {
    let _g = PTYS.read().await;
    // No trailing newline: the first Ctrl-D hands `abc` to cat, the second
    // reads as end-of-file.
    let r = Command::new("sh")
        .args(["-c", "cat; echo eof"])
        .pty()
        .stdin(Stdin::from_string("abc"))
        .timeout(WITHIN)
        .output_string()
        .await
        .unwrap();
    assert_eq!(r.code(), Some(0), "{r:?}");
    // Once echoed by the terminal, once printed by cat.
    assert_eq!(r.stdout().matches("abc").count(), 2, "{:?}", r.stdout());
    assert!(r.stdout().ends_with("eof\r\n"), "{:?}", r.stdout());
    // With a final newline one Ctrl-D is enough.
    let r = Command::new("sh")
        .args(["-c", "read x; echo got:$x; cat; echo eof"])
        .pty()
        .stdin(Stdin::from_lines(tokio_stream::iter(vec![
            "one".to_owned(),
        ])))
        .timeout(WITHIN)
        .output_string()
        .await
        .unwrap();
    assert_eq!(r.code(), Some(0), "{r:?}");
    assert!(r.stdout().contains("got:one\r\n"), "{:?}", r.stdout());
    assert!(r.stdout().ends_with("eof\r\n"), "{:?}", r.stdout());
}

#[tokio::test]
async fn what_a_terminal_run_cannot_do_is_a_typed_error_naming_the_program() {
    let cases = [
        Command::new("ptycase").pty().stdout(Destination::null()),
        Command::new("ptycase").pty().stderr(Destination::inherit()),
        Command::new("ptycase").pty().stdin(Stdin::inherit()),
    ];
    for cmd in cases {
        let err = cmd.output_string().await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        assert!(err.to_string().contains("ptycase"), "{err}");
    }
    let err = (Command::new("echo").pty() | Command::new("cat"))
        .output_string()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    // The tee destination is allowed and sees the raw bytes.
    let r = Command::new("echo")
        .arg("teed")
        .pty()
        .stdout(Destination::tee(std::io::sink()))
        .run()
        .await
        .unwrap();
    assert_eq!(r, "teed");
}

/// Set (to a scratch directory) in a re-executed copy of this test binary
/// that plays the host in [`a_sigkilled_host_ends_the_whole_pty_tree`].
const HOST_DIR: &str = "PROCESSKIT_PTY_TEST_HOST_DIR";

/// The host: does nothing unless [`HOST_DIR`] is set. Then it starts a pty
/// child with a `setsid` grandchild, says so, and waits to be killed.
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn pty_host() {
    let Ok(dir) = std::env::var(HOST_DIR) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let dir = std::path::PathBuf::from(dir);
        let mut run = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "echo $$ > {d}/child; setsid sh -c 'echo $$ > {d}/grandchild; exec sleep 300' & \
                     echo started; exec sleep 300",
                    d = dir.display()
                ),
            ])
            .pty()
            .start()
            .await
            .unwrap();
        run.wait_for_line(|l| l == "started", WITHIN).await.unwrap();
        println!("pty-host-ready");
        tokio::time::sleep(Duration::from_secs(300)).await;
    });
}

#[tokio::test]
async fn a_sigkilled_host_ends_the_whole_pty_tree() {
    let _g = PTYS.read().await;
    let dir = common::scratch();
    let mut host = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "pty_host",
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(HOST_DIR, dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let child = common::wait_for_pids_within(&dir.path().join("child"), 1, WITHIN).await[0];
    let grandchild =
        common::wait_for_pids_within(&dir.path().join("grandchild"), 1, WITHIN).await[0];
    assert!(alive(child) && alive(grandchild));
    host.kill().unwrap();
    host.wait().unwrap();
    common::assert_gone_within(
        &[child],
        Duration::from_secs(10),
        "pty child of a SIGKILLed host",
    )
    .await;
    assert_grandchild_gone(grandchild, "setsid grandchild of a SIGKILLed host");
}

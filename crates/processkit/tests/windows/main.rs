//! The Job Object backend, seen from outside: trees die with their group,
//! their handle or their deadline; stdio, exit codes, errors and the
//! command-line quoting work; signals and POSIX-only flags are refused.
//!
//! Death is observed through a witness that does not go through the
//! library: the child's stdin is the client end of a named pipe whose server
//! end the test holds. `cmd` hands its stdin down to `ping`, so the server
//! sees the pipe break only once every process holding it (the direct child
//! and its grandchild) has exited.
#![cfg(windows)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use processkit::{Command, Error, Mechanism, ProcessGroup, Signal, Stdin, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};

/// How long a killed tree may take to disappear.
const GONE_WITHIN: Duration = Duration::from_secs(15);

/// A long-running grandchild: `cmd` starts `ping`, which runs for ~30 s.
fn cmd_with_ping() -> Command {
    Command::new("cmd").args(["/c", "ping -n 30 127.0.0.1 > NUL"])
}

/// The server end of a named pipe handed to a tree as its stdin.
struct Witness {
    server: NamedPipeServer,
    path: String,
}

impl Witness {
    fn new() -> Witness {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = format!(
            r"\\.\pipe\processkit-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let server = ServerOptions::new()
            .first_pipe_instance(true)
            .create(&path)
            .expect("create a named pipe");
        Witness { server, path }
    }

    /// The stdin that connects a child to this witness.
    fn stdin(&self) -> Stdin {
        Stdin::from_file(&self.path)
    }

    /// Waits until every holder of the client end is gone; panics if that
    /// takes longer than `within`.
    async fn assert_all_gone(mut self, within: Duration, what: &str) {
        let start = Instant::now();
        let r = tokio::time::timeout(within, async {
            self.server.connect().await.ok();
            let mut buf = [0u8; 16];
            loop {
                match self.server.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(
            r.is_ok(),
            "{what}: a process still holds the pipe after {:?}",
            start.elapsed()
        );
    }

    /// Asserts that some holder of the client end is still alive now (the
    /// pipe does not report a break within a short look).
    async fn assert_still_held(&mut self, what: &str) {
        self.server.connect().await.ok();
        let mut buf = [0u8; 16];
        let r = tokio::time::timeout(Duration::from_millis(300), self.server.read(&mut buf)).await;
        assert!(
            r.is_err(),
            "{what}: the pipe broke, so the tree is already gone: {r:?}"
        );
    }
}

/// Polls `group.members()` until it has at least `n` pids or the deadline
/// passes.
async fn members_at_least(group: &ProcessGroup, n: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = group.members().expect("members");
        if m.len() >= n || Instant::now() > deadline {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

mod basics;
mod groups;
mod pipelines;

/// A pty child: this binary, re-executed to run `pty_role_when_run_as_a_child`
/// as `role`. Its lines lose their escape sequences (ConPTY paints the screen
/// with VT sequences).
#[cfg(feature = "pty")]
fn pty_role(role: &str) -> Command {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "pty_role_when_run_as_a_child",
            "--ignored",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PROCESSKIT_PTY_ROLE", role)
        .pty()
        .strip_escapes()
}

/// Not a test of its own: the child of the pty tests below, doing what
/// `PROCESSKIT_PTY_ROLE` says. It talks to its console through `CONIN$` and
/// `CONOUT$`, which work on Windows and under Wine alike (Wine 8 does not
/// make a pseudo-console the standard handles of the program on it).
#[cfg(feature = "pty")]
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn pty_role_when_run_as_a_child() {
    use std::io::{BufRead, IsTerminal, Write};
    let role = std::env::var("PROCESSKIT_PTY_ROLE")
        .expect("run by a pty test, which sets PROCESSKIT_PTY_ROLE");
    if role == "hold" {
        // A grandchild: holds the witness pipe until it is killed.
        let _pipe = std::fs::File::open(std::env::var("PROCESSKIT_WITNESS").unwrap()).unwrap();
        std::thread::sleep(Duration::from_secs(120));
        return;
    }
    let mut out = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("CONOUT$")
        .expect("open the console's output");
    let mut say = |line: &str| {
        out.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        out.flush().unwrap();
    };
    match role.as_str() {
        "console" => {
            say(&format!(
                "std-handles-on-console={}",
                std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
            ));
            say("ready");
            let input = std::fs::File::open("CONIN$").expect("open the console's input");
            for line in std::io::BufReader::new(input).lines() {
                let line = line.unwrap();
                let line = line.trim_end();
                say(&format!("got:{line}"));
                if line == "quit" {
                    break;
                }
            }
        }
        "sleep" => {
            say("ready");
            std::thread::sleep(Duration::from_secs(120));
            say("slept");
        }
        "tree" => {
            let _grandchild = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "pty_role_when_run_as_a_child",
                    "--ignored",
                    "--exact",
                    "--test-threads=1",
                ])
                .env("PROCESSKIT_PTY_ROLE", "hold")
                .spawn()
                .unwrap();
            say("ready");
            std::thread::sleep(Duration::from_secs(120));
        }
        other => panic!("unknown role {other}"),
    }
}

/// Under Wine (see `under_wine`), a pseudo-console is not the standard
/// handles of the program on it.
#[cfg(feature = "pty")]
#[tokio::test]
async fn a_pty_child_is_on_a_console_and_reads_what_is_typed() {
    let mut run = pty_role("console").start().await.unwrap();
    let within = Duration::from_secs(30);
    let first = run
        .wait_for_line(|l| l.contains("std-handles-on-console="), within)
        .await
        .unwrap();
    if !under_wine() {
        assert!(first.contains("std-handles-on-console=true"), "{first}");
    }
    run.wait_for_line(|l| l.trim() == "ready", within)
        .await
        .unwrap();
    let mut input = run.standard_input().expect("a terminal run takes input");
    input.write_line("hello there").await.unwrap();
    run.wait_for_line(|l| l.contains("got:hello there"), within)
        .await
        .unwrap();
    input.write_line("quit").await.unwrap();
    run.wait_for_line(|l| l.contains("got:quit"), within)
        .await
        .unwrap();
    let code = tokio::time::timeout(within, run.wait())
        .await
        .expect("the child exits after quit")
        .unwrap();
    assert_eq!(code, Some(0));
}

/// Ctrl-C typed on the terminal ends a child that does not handle it, long
/// before its 120 s sleep would.
#[cfg(feature = "pty")]
#[tokio::test]
async fn ctrl_c_typed_on_the_terminal_interrupts_the_child() {
    let mut run = pty_role("sleep").start().await.unwrap();
    run.wait_for_line(|l| l.trim() == "ready", Duration::from_secs(30))
        .await
        .unwrap();
    let started = Instant::now();
    run.terminal().unwrap().interrupt().unwrap();
    let r = tokio::time::timeout(Duration::from_secs(30), run.wait()).await;
    assert!(r.is_ok(), "the child was not interrupted");
    // It ended by itself: not a kill of ours.
    let status = run.exit_status().unwrap();
    assert_eq!(status.signal(), None, "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(100));
}

/// The size is the one asked for; a resize is either done (Windows) or
/// refused with an error and the size unchanged (Wine 8 has no
/// `ResizePseudoConsole`), never silently ignored.
#[cfg(feature = "pty")]
#[tokio::test]
async fn the_terminal_has_the_size_asked_for_and_a_resize_is_done_or_refused() {
    let mut run = pty_role("sleep").pty_size(100, 30).start().await.unwrap();
    run.wait_for_line(|l| l.trim() == "ready", Duration::from_secs(30))
        .await
        .unwrap();
    let term = run.terminal().unwrap();
    assert_eq!(term.size().unwrap(), (100, 30));
    let r = term.resize(132, 50);
    if under_wine() {
        assert!(r.is_err(), "Wine 8 cannot resize a pseudo-console: {r:?}");
        assert_eq!(term.size().unwrap(), (100, 30));
    } else {
        r.unwrap();
        assert_eq!(term.size().unwrap(), (132, 50));
    }
    assert!(matches!(term.resize(0, 10), Err(Error::Io { .. })));
    run.kill().await.unwrap();
    // Once the run is over, the terminal is closed.
    let closed = Instant::now() + GONE_WITHIN;
    while term.size().is_ok() {
        assert!(Instant::now() < closed, "the pseudo-console stays open");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A grandchild started from the pty child is in the same Job Object: it
/// dies when the handle drops.
#[cfg(feature = "pty")]
#[tokio::test]
async fn a_pty_childs_grandchild_dies_with_the_dropped_handle() {
    let mut witness = Witness::new();
    let mut run = pty_role("tree")
        .env("PROCESSKIT_WITNESS", &witness.path)
        .start()
        .await
        .unwrap();
    run.wait_for_line(|l| l.trim() == "ready", Duration::from_secs(30))
        .await
        .unwrap();
    witness.assert_still_held("before the drop").await;
    drop(run);
    witness
        .assert_all_gone(GONE_WITHIN, "after dropping the pty run")
        .await;
}

/// `true` under Wine (its configuration tool is part of every prefix).
fn under_wine() -> bool {
    std::env::var_os("WINDIR")
        .map(|w| {
            std::path::Path::new(&w)
                .join("system32")
                .join("winecfg.exe")
                .is_file()
        })
        .unwrap_or(false)
}

#[cfg(feature = "limits")]
#[test]
fn limits_are_enforced_or_refused_never_ignored() {
    use processkit::ProcessGroupOptions;
    let options = [
        ProcessGroupOptions::default().memory_max(256 * 1024 * 1024),
        ProcessGroupOptions::default().max_processes(8),
        ProcessGroupOptions::default().cpu_quota(0.5),
    ];
    for o in options {
        let r = ProcessGroup::with_options(o.clone());
        if under_wine() {
            // Wine accepts memory and process limits without enforcing them,
            // and has no CPU rate control: each must be refused.
            assert!(
                matches!(r, Err(Error::ResourceLimit { .. })),
                "{o:?}: {r:?}"
            );
        } else {
            assert!(r.is_ok(), "{o:?}: {r:?}");
        }
    }
}

/// Not a test of its own: run as a child by
/// `arguments_round_trip_through_the_command_line`, it prints its arguments.
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn prints_its_arguments_when_run_as_a_child() {
    if std::env::var_os("PROCESSKIT_ECHO_ARGS").is_none() {
        return;
    }
    for a in std::env::args().skip(1) {
        let hex: String = a.bytes().map(|b| format!("{b:02x}")).collect();
        println!("ARG:{hex}");
    }
}

#[tokio::test]
async fn arguments_round_trip_through_the_command_line() {
    let exe = std::env::current_exe().unwrap();
    let tricky = [
        "plain",
        "two words",
        "tab\there",
        "quote\"inside",
        "trailing\\",
        "trailing space \\",
        "back\\\\\"slash",
        "\"",
        "ünïcödé ✓",
        "a&b|c<d>e^f",
        "%PATH%",
    ];
    let mut cmd = Command::new(&exe)
        .args([
            "prints_its_arguments_when_run_as_a_child",
            "--ignored",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PROCESSKIT_ECHO_ARGS", "1");
    cmd = cmd.args(tricky);
    let out = cmd.run().await.unwrap();
    let got: Vec<String> = out
        .lines()
        // libtest prints "test NAME ... " without a newline before the
        // test's own output, so a marker may start mid-line.
        .filter_map(|l| l.trim_end().split_once("ARG:").map(|(_, hex)| hex))
        .map(|h| {
            let bytes: Vec<u8> = (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect();
            String::from_utf8(bytes).unwrap()
        })
        .collect();
    let mut want = vec![
        "prints_its_arguments_when_run_as_a_child",
        "--ignored",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ];
    want.extend(tricky);
    assert_eq!(got, want);
}

#[tokio::test]
async fn batch_files_get_their_arguments_without_injection() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("show args.bat");
    std::fs::write(&script, "@echo off\r\necho [%1] [%2] [%3]\r\n").unwrap();
    let out = Command::new(&script)
        .args(["a&b", "x y", "plain"])
        .run()
        .await
        .unwrap();
    assert_eq!(out, "[\"a&b\"] [\"x y\"] [plain]");
    let err = Command::new(&script)
        .arg("line\r\nbreak")
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}

#[tokio::test]
async fn a_kill_reports_signal_9_not_an_exit_code() {
    let mut run = cmd_with_ping().start().await.unwrap();
    run.kill().await.unwrap();
    let status = run.exit_status().unwrap();
    assert_eq!((status.code(), status.signal()), (None, Some(9)));

    // A process that exits with the kill marker code by itself keeps it.
    let r = Command::new("cmd")
        .args(["/c", "exit 137"])
        .output_string()
        .await
        .unwrap();
    assert_eq!(r.code(), Some(137));
}

/// Not a test of its own: run as a child by
/// `an_abruptly_killed_host_takes_its_trees_with_it`, it starts a tree in a
/// group and then waits to be killed.
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn holds_a_group_until_killed_when_run_as_a_child() {
    let Some(pipe) = std::env::var_os("PROCESSKIT_HOLD_PIPE") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let group = ProcessGroup::new().unwrap();
        let _run = group
            .start(&cmd_with_ping().stdin(Stdin::from_file(pipe)))
            .await
            .unwrap();
        members_at_least(&group, 2).await;
        println!("\nREADY");
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}

#[tokio::test]
async fn an_abruptly_killed_host_takes_its_trees_with_it() {
    use std::io::BufRead;
    let witness = Witness::new();
    // The host is a plain std child, outside every job of this process.
    let mut host = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "holds_a_group_until_killed_when_run_as_a_child",
            "--ignored",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PROCESSKIT_HOLD_PIPE", &witness.path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = host.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.trim_end() == "READY")
    });
    let ready = tokio::time::timeout(Duration::from_secs(30), ready).await;
    assert!(
        matches!(ready, Ok(Ok(true))),
        "the host never got its tree running: {ready:?}"
    );
    // TerminateProcess: no destructor of the host runs.
    host.kill().unwrap();
    host.wait().unwrap();
    witness
        .assert_all_gone(GONE_WITHIN, "after the host was killed")
        .await;
}

//! End-to-end tests of the `processkit` binary: exit codes, leak reports,
//! JSON reports, batches and bad input. Every check is made from outside,
//! through the tool's exit status, its output and `/proc`.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

/// The tool: where cargo built it, or (in lanes that run a copy of this
/// suite elsewhere) where `CARGO_BIN_EXE_processkit` says at run time.
fn tool_path() -> std::path::PathBuf {
    std::env::var_os("CARGO_BIN_EXE_processkit")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_processkit").into())
}

fn pk() -> Command {
    let mut c = Command::new(tool_path());
    c.timeout(Duration::from_secs(60));
    c
}

/// `true` while `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next());
            state != Some("Z") && state != Some("X")
        }
        Err(_) => false,
    }
}

fn assert_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        assert!(Instant::now() < deadline, "pid {pid} is still alive");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn read_pid(path: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && let Ok(p) = s.trim().parse()
        {
            return p;
        }
        assert!(Instant::now() < deadline, "no pid in {}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn own_exit_code_passes_through() {
    pk().args(["run", "--", "true"]).assert().code(0);
    pk().args(["run", "--", "sh", "-c", "exit 3"])
        .assert()
        .code(3);
    pk().args(["run", "--", "sh", "-c", "exit 200"])
        .assert()
        .code(200);
}

#[test]
fn timeout_is_124_and_kills_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
    let started = Instant::now();
    let out = pk()
        .args(["run", "--timeout", "300ms", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124), "{}", stderr_of(&out));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(stderr_of(&out).contains("timed out"));
    assert_gone(read_pid(&pidfile));
}

#[test]
fn timeout_kills_after_the_grace_when_the_signal_is_ignored() {
    let started = Instant::now();
    pk().args([
        "run",
        "-t",
        "200ms",
        "-k",
        "300ms",
        "--",
        "sh",
        "-c",
        "trap '' TERM; sleep 30",
    ])
    .assert()
    .code(124);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn not_found_is_127() {
    pk().args(["run", "--", "no-such-program-processkit-test"])
        .assert()
        .code(127)
        .stderr(predicate::str::contains("no-such-program-processkit-test"));
}

#[test]
fn not_executable_is_126() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-executable");
    std::fs::write(&file, "#!/bin/sh\necho hi\n").unwrap();
    pk().args(["run", "--"]).arg(&file).assert().code(126);
}

#[test]
fn killed_by_signal_is_128_plus_n() {
    pk().args(["run", "--", "sh", "-c", "kill -9 $$"])
        .assert()
        .code(137);
    pk().args(["run", "--", "sh", "-c", "kill -15 $$"])
        .assert()
        .code(143);
}

#[test]
fn a_limit_the_host_cannot_enforce_is_refused_with_125() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let enforceable = processkit::ProcessGroup::with_options(
        processkit::ProcessGroupOptions::default().memory_max(512 << 20),
    );
    let out = pk()
        .args(["run", "--memory-max", "512M", "--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    match enforceable {
        Err(processkit::Error::ResourceLimit { .. }) => {
            assert_eq!(out.status.code(), Some(125));
            let err = stderr_of(&out);
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains("--memory-max"), "{err}");
            assert!(
                !marker.exists(),
                "the command ran despite the refused limit"
            );
        }
        Ok(_) => {
            assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
            assert!(marker.exists());
        }
        Err(e) => panic!("unexpected error creating a limited group: {e}"),
    }
}

/// Whether the tool's runs on this host catch descendants that call `setsid`.
fn contains_setsid() -> bool {
    processkit::Mechanism::current().contains_setsid()
}

/// Kills a process this test let escape (on a mechanism that cannot hold
/// it), after checking it is still the one the test started.
fn kill_escaped(pid: u32, program: &str) {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if alive(pid) && comm.trim_end() == program {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
}

#[test]
fn setsid_grandchild_and_double_forked_daemon_are_killed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("setsid");
    let b = dir.path().join("daemon");
    // Their stdio goes to /dev/null, so a survivor cannot hold the test's
    // pipes open.
    let script = format!(
        "setsid sleep 301 </dev/null >/dev/null 2>&1 & echo $! > {a}; \
         (sleep 302 </dev/null >/dev/null 2>&1 & echo $! > {b}) & wait $!",
        a = a.display(),
        b = b.display()
    );
    let out = pk()
        .args(["run", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let (pa, pb) = (read_pid(&a), read_pid(&b));
    let err = stderr_of(&out);
    // The double-forked daemon stays in the command's process group: every
    // mechanism catches it.
    assert_gone(pb);
    assert!(err.contains("left"), "{err}");
    assert!(
        err.contains(&format!("{pb} (")),
        "daemon {pb} not reported: {err}"
    );
    if contains_setsid() {
        assert_gone(pa);
        assert!(
            err.contains(&format!("{pa} (")),
            "setsid child {pa} not reported: {err}"
        );
    } else {
        // The process-group mechanism's documented limit: the setsid child
        // is outside the group, unseen and unreported.
        let seen = alive(pa);
        kill_escaped(pa, "sleep");
        assert!(seen, "a setsid child died on a process-group run");
        assert!(!err.contains(&format!("{pa} (")), "{err}");
    }
}

#[test]
fn fail_on_leak_fails_the_run_with_122() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("pid");
    // A double-forked daemon that stays in the process group.
    let script = format!(
        "(sleep 303 </dev/null >/dev/null 2>&1 & echo $! > {}) & wait",
        a.display()
    );
    let out = pk()
        .args(["run", "--fail-on-leak", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(processkit_cli::EXIT_LEAK),
        "{}",
        stderr_of(&out)
    );
    assert_gone(read_pid(&a));
    // Without a leak, --fail-on-leak changes nothing.
    pk().args(["run", "--fail-on-leak", "--", "true"])
        .assert()
        .code(0);

    // A daemon that also calls setsid: caught where the mechanism can,
    // and said out loud where it cannot.
    let b = dir.path().join("setsid");
    let script = format!(
        "(setsid sleep 313 </dev/null >/dev/null 2>&1 & echo $! > {}) & wait",
        b.display()
    );
    let out = pk()
        .args(["run", "--fail-on-leak", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    let pid = read_pid(&b);
    let err = stderr_of(&out);
    if contains_setsid() {
        assert_eq!(out.status.code(), Some(processkit_cli::EXIT_LEAK), "{err}");
        assert_gone(pid);
        assert!(!err.contains("warning"), "{err}");
    } else {
        kill_escaped(pid, "sleep");
        assert!(
            err.contains("warning") && err.contains("setsid"),
            "no warning that --fail-on-leak cannot see setsid: {err}"
        );
    }
}

#[test]
fn cwd_env_and_inherit_env_reach_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path().canonicalize().unwrap();
    let out = pk()
        .env("PK_CLI_KEEP", "kept")
        .env("PK_CLI_DROP", "dropped")
        .arg("run")
        .arg("--cwd")
        .arg(&here)
        .args([
            "--env",
            "PK_CLI_SET=a=b",
            "--inherit-env",
            "PK_CLI_KEEP",
            "--",
        ])
        .args([
            "/bin/sh",
            "-c",
            "pwd; echo \"$PK_CLI_SET\"; echo \"${PK_CLI_KEEP-unset}\"; \
             echo \"${PK_CLI_DROP-unset}\"; echo \"${HOME-unset}\"",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [here.to_str().unwrap(), "a=b", "kept", "unset", "unset"],
        "{text}"
    );

    // Without --inherit-env the whole environment passes, plus --env.
    let out = pk()
        .env("PK_CLI_KEEP", "kept")
        .args(["run", "--env", "PK_CLI_SET=1", "--"])
        .args(["/bin/sh", "-c", "echo \"$PK_CLI_KEEP $PK_CLI_SET\""])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "kept 1");

    // A directory that does not exist: one line naming it, 125, nothing run.
    let missing = here.join("no-such-dir");
    let marker = here.join("ran");
    let out = pk()
        .arg("run")
        .arg("--cwd")
        .arg(&missing)
        .args(["--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no-such-dir"), "{err}");
    assert!(!marker.exists());
}

#[test]
fn uid_and_gid_set_the_commands_credentials() {
    let me = rustix::process::geteuid().as_raw();
    if me == 0 {
        let out = pk()
            .args(["run", "--uid", "65534", "--gid", "65533", "--"])
            .args(["/bin/sh", "-c", "id -u; id -g"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "65534\n65533\n");
    } else {
        // Not root: the own ids are accepted, another user's are refused
        // with a clear error that names the program.
        let gid = rustix::process::getegid().as_raw();
        let out = pk()
            .args(["run", "--uid", &me.to_string(), "--gid", &gid.to_string()])
            .args(["--", "/bin/sh", "-c", "id -u"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), me.to_string());
        let out = pk()
            .args(["run", "--uid", "0", "--", "/bin/true"])
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert!(
            matches!(out.status.code(), Some(125 | 126)),
            "{:?}: {err}",
            out.status
        );
        assert!(err.contains("true"), "{err}");
    }
}

#[test]
fn report_measures_cpu_memory_and_processes() {
    // About 30 MB held by the shell for half a second (the sampler looks
    // every 50 ms), a busy loop for CPU, and a pipeline for processes.
    let script = "i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done; \
                  x=$(head -c 30000000 /dev/zero | tr '\\0' a); sleep 0.5; echo ${#x}";
    let out = pk()
        .args(["run", "--report", "--json", "-", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let (printed, json) = text.split_once('\n').unwrap();
    assert_eq!(printed, "30000000");
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    validate(RUN_SCHEMA, &doc);
    let cpu = doc["cpu"]["user_ms"].as_f64().unwrap() + doc["cpu"]["system_ms"].as_f64().unwrap();
    assert!(cpu >= 20.0, "the busy loop's CPU was not counted: {doc:#}");
    assert!(doc["peak_processes"].as_u64().unwrap() >= 2, "{doc:#}");
    let err = stderr_of(&out);
    assert!(
        err.contains("cpu user") && !err.contains("cpu user unknown"),
        "{err}"
    );
    if processkit::Mechanism::current() == processkit::Mechanism::ProcessGroup {
        // Documented: a process group keeps no memory account.
        assert!(doc["peak_memory_bytes"].is_null(), "{doc:#}");
    } else {
        let peak = doc["peak_memory_bytes"].as_u64().unwrap();
        assert!(
            peak >= 30_000_000,
            "peak memory {peak} < what the shell held"
        );
        assert!(peak < 1 << 31, "peak memory {peak} is implausible");
    }
}

fn validate(schema: &str, doc: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(schema).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{doc:#}");
}

const RUN_SCHEMA: &str = include_str!("../../../docs/schema/run-v1.json");
const BATCH_SCHEMA: &str = include_str!("../../../docs/schema/batch-v1.json");

#[test]
fn run_json_matches_the_documented_schema() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    let out = pk()
        .args(["run", "--report", "--json"])
        .arg(&file)
        .args([
            "--",
            "sh",
            "-c",
            "(sleep 304 </dev/null >/dev/null 2>&1 &) ; exit 2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("report:") && err.contains("mechanism"),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    validate(RUN_SCHEMA, &doc);
    assert_eq!(doc["exit"]["code"], 2);
    assert_eq!(doc["exit"]["status"], 2);
    assert_eq!(doc["leaked"].as_array().unwrap().len(), 1, "{doc:#}");

    // To stdout, and for a command that could not start.
    let out = pk()
        .args([
            "run",
            "--json",
            "-",
            "--",
            "no-such-program-processkit-json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    validate(RUN_SCHEMA, &doc);
    assert!(doc["error"].as_str().unwrap().contains("not found"));
}

#[test]
fn batch_runs_at_most_j_at_once_and_reports_every_failure() {
    let dir = tempfile::tempdir().unwrap();
    let running = dir.path().join("running");
    std::fs::create_dir(&running).unwrap();
    let counts = dir.path().join("counts");
    let mut text = String::from("# fifty commands, every fifth fails\n\n");
    for i in 1..=50 {
        let fail = if i % 5 == 0 { "exit 1" } else { "exit 0" };
        text.push_str(&format!(
            "sh -c 'touch {r}/$$; ls {r} | wc -l >> {c}; sleep 0.05; rm {r}/$$; {fail}'\n",
            r = running.display(),
            c = counts.display()
        ));
    }
    let file = dir.path().join("batch.txt");
    std::fs::write(&file, text).unwrap();
    let json = dir.path().join("batch.json");
    let out = pk()
        .args(["batch", "-j", "4", "--json"])
        .arg(&json)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let counts: Vec<u32> = std::fs::read_to_string(&counts)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 50);
    let max = *counts.iter().max().unwrap();
    assert!(max <= 4, "{max} commands ran at once with -j 4");
    assert!(max >= 2, "the batch never ran two commands at once");
    let err = stderr_of(&out);
    for i in (5..=50).step_by(5) {
        let line = i + 2; // two header lines
        assert!(
            err.contains(&format!("FAILED, line {line}:")),
            "line {line} not reported: {err}"
        );
    }
    assert_eq!(err.matches("FAILED").count(), 10, "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    validate(BATCH_SCHEMA, &doc);
    assert_eq!(doc["failed"], 10);
    assert_eq!(doc["succeeded"], 40);
    assert_eq!(doc["commands"].as_array().unwrap().len(), 50);
}

#[test]
fn batch_output_blocks_never_interleave() {
    let mut text = String::new();
    for i in 0..12 {
        text.push_str(&format!(
            "sh -c 'for k in 1 2 3 4 5 6 7 8 9 10; do echo {i}:$k; echo err{i}:$k >&2; sleep 0.01; done'\n"
        ));
    }
    let out = pk()
        .args(["batch", "-j", "6", "-"])
        .write_stdin(text)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let ids: Vec<&str> = stdout
        .lines()
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(ids.len(), 120);
    for block in ids.chunks(10) {
        assert!(
            block.iter().all(|id| *id == block[0]),
            "interleaved: {stdout}"
        );
    }
    let stderr = stderr_of(&out);
    let errs: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("err"))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(errs.len(), 120);
    for block in errs.chunks(10) {
        assert!(
            block.iter().all(|id| *id == block[0]),
            "interleaved: {stderr}"
        );
    }
}

#[test]
fn batch_output_dir_and_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let out = pk()
        .args(["batch", "--timeout", "300ms", "--output-dir"])
        .arg(&outdir)
        .arg("-")
        .write_stdin("echo hello\nsleep 30\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(outdir.join("1.out")).unwrap(),
        "hello\n"
    );
    assert!(outdir.join("2.err").exists());
    assert!(stderr_of(&out).contains("timed out"), "{}", stderr_of(&out));
}

/// Bad input: one line naming the problem, exit 125, nothing started.
#[test]
fn bad_input_is_one_line_and_125_with_nothing_started() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let m = marker.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "--no-such-option", "--", "touch", m],
            "--no-such-option",
        ),
        (vec!["run", "touch", m], "--"),
        (
            vec!["run", "--timeout", "5 parsecs", "--", "touch", m],
            "duration",
        ),
        (
            vec!["run", "--memory-max", "lots", "--", "touch", m],
            "size",
        ),
        (vec!["run", "--signal", "NOPE", "--", "touch", m], "signal"),
        (vec!["batch", "/no/such/batch/file"], "/no/such/batch/file"),
        (vec!["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        let out = pk().args(&args).output().unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!marker.exists(), "{args:?} started the command");
    }
    // A malformed line anywhere in a batch file: nothing runs at all.
    let out = pk()
        .args(["batch", "-"])
        .write_stdin(format!("touch {m}\necho 'unbalanced\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr_of(&out).contains("line 2"));
    assert!(!marker.exists());
}

#[test]
fn doctor_reports_the_host() {
    let out = pk().args(["doctor", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pre = processkit::preflight();
    assert_eq!(doc["mechanism"], pre.mechanism.to_string());
    assert_eq!(doc["spawner"], pre.spawner);
    for l in ["memory-max", "max-processes", "cpu-quota"] {
        assert!(doc["limits"][l]["enforceable"].is_boolean(), "{doc:#}");
    }
    let text = pk().arg("doctor").output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("containment:") && text.contains(&pre.mechanism.to_string()),
        "{text}"
    );
}

#[test]
fn supervise_restarts_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let count = dir.path().join("count");
    let script = format!("echo x >> {}; exit 1", count.display());
    let out = pk()
        .args([
            "supervise",
            "--max-restarts",
            "2",
            "--backoff",
            "10ms",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 3);
    let err = stderr_of(&out);
    assert_eq!(err.matches("restarting").count(), 2, "{err}");
    assert!(err.contains("attempt 3"), "{err}");
}

fn cgroup_parent() -> std::path::PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mount = info
        .lines()
        .find(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|t| t.starts_with("cgroup2 "))
        })
        .expect("cgroup2 is mounted")
        .split_whitespace()
        .nth(4)
        .unwrap()
        .to_owned();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap()
        .to_owned();
    std::path::PathBuf::from(mount).join(own.trim_start_matches('/'))
}

fn ps_json() -> serde_json::Value {
    let out = pk().args(["ps", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Starts `processkit run` on `mechanism` with a `sleep` that writes its
/// pid first; returns the tool and the sleeper's pid.
fn start_sleeper(mechanism: &str, secs: u32, dir: &Path) -> (std::process::Child, u32) {
    let pidfile = dir.join(format!("{mechanism}-{secs}"));
    let tool = std::process::Command::new(tool_path())
        .env("PROCESSKIT_MECHANISM", mechanism)
        .args(["run", "--", "sh", "-c"])
        .arg(format!(
            "echo $$ > {}; exec sleep {secs}",
            pidfile.display()
        ))
        .spawn()
        .unwrap();
    let sleeper = read_pid(&pidfile);
    // `exec` has replaced the shell once the name says so.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{sleeper}/comm")).unwrap_or_default() != "sleep\n"
    {
        assert!(Instant::now() < deadline, "the sleeper never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    (tool, sleeper)
}

/// The container `ps --json` lists for `owner` with `member` in it.
fn listed(owner: u32, member: u32) -> Option<serde_json::Value> {
    ps_json()["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["owner_pid"] == owner
                && c["members"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m["pid"] == member))
        })
        .cloned()
}

#[test]
fn ps_lists_live_containers_on_every_mechanism() {
    let dir = tempfile::tempdir().unwrap();
    for (mechanism, secs) in [("best", 309), ("subreaper", 319), ("process-group", 329)] {
        let (mut tool, sleeper) = start_sleeper(mechanism, secs, dir.path());
        let owner = tool.id();
        if mechanism == "process-group" {
            // Documented: a process group leaves nothing to list.
            assert!(listed(owner, sleeper).is_none(), "{:#}", ps_json());
        } else {
            let deadline = Instant::now() + Duration::from_secs(10);
            let c = loop {
                if let Some(c) = listed(owner, sleeper) {
                    break c;
                }
                assert!(
                    Instant::now() < deadline,
                    "{mechanism}: the running container is not listed: {:#}",
                    ps_json()
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            assert_eq!(c["owner"], "alive", "{c:#}");
            assert!(!c["mechanism"].as_str().unwrap().is_empty(), "{c:#}");
            if mechanism == "subreaper" {
                assert_eq!(c["mechanism"], "child subreaper", "{c:#}");
                assert!(c["path"].as_str().unwrap().starts_with("/proc/"), "{c:#}");
            }
            assert!(c["memory_bytes"].is_null() || c["memory_bytes"].as_u64().unwrap() > 0);
            let text = pk().arg("ps").output().unwrap();
            let text = String::from_utf8(text.stdout).unwrap();
            let path = c["path"].as_str().unwrap();
            assert!(
                text.contains(path) && text.contains(&format!("sleep {secs}")),
                "{text}"
            );
        }
        // Killing the tool outright: its guardian or helper takes the tree
        // down.
        tool.kill().unwrap();
        tool.wait().unwrap();
        assert_gone(sleeper);
    }
}

/// The sweep tests each kill an owner and sweep the whole host: one at a
/// time, so neither removes the other's planted leftover.
static SWEEPING: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn sweep_removes_a_stopped_helper_of_a_dead_owner() {
    let _one = SWEEPING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (mut tool, sleeper) = start_sleeper("subreaper", 311, dir.path());
    let owner = tool.id();
    let c = listed(owner, sleeper).expect("the subreaper container is listed");
    let path = c["path"].as_str().unwrap().to_owned();
    let helper: u32 = path.strip_prefix("/proc/").unwrap().parse().unwrap();
    // A stopped helper cannot notice its owner's death: the sweep's case.
    let stop = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &helper.to_string()])
            .status()
            .unwrap()
    };
    assert!(stop("-STOP").success());
    tool.kill().unwrap();
    tool.wait().unwrap();
    let dead = listed(owner, sleeper).expect("the stopped helper is still listed");
    assert_eq!(dead["owner"], "dead", "{dead:#}");
    assert!(alive(sleeper));

    let dry = pk().args(["sweep", "--dry-run"]).output().unwrap();
    let dry = String::from_utf8(dry.stdout).unwrap();
    assert!(dry.contains(&format!("would remove {path}")), "{dry}");
    assert!(alive(sleeper));

    let out = pk().arg("sweep").output().unwrap();
    let said = String::from_utf8(out.stdout.clone()).unwrap();
    if !said.contains(&format!("removed {path}")) {
        let _ = stop("-KILL");
        panic!("{said}{}", stderr_of(&out));
    }
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(said.contains(&format!("{sleeper} (sleep)")), "{said}");
    assert_gone(sleeper);
    assert_gone(helper);
}

/// Needs a writable cgroup2 tree (root on a bare host): the nonroot and
/// read-only cgroupfs lanes skip it by name.
#[test]
fn sweep_removes_a_dead_owners_cgroup_container() {
    use std::os::unix::fs::MetadataExt;
    let _one = SWEEPING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // A live owner's container, which the sweep must leave alone.
    let (mut live, sleeper) = start_sleeper("best", 308, dir.path());
    let live_path = listed(live.id(), sleeper).and_then(|c| c["path"].as_str().map(str::to_owned));

    // A dead owner's leftover, planted with a straggler in it.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let ns = std::fs::metadata("/proc/self/ns/pid").unwrap().ino();
    let root = cgroup_parent().join(format!("processkit-{dead_pid}-1-{ns}"));
    let leaf = root.join("g1").join("c1");
    std::fs::create_dir_all(&leaf).unwrap();
    let mut straggler = std::process::Command::new("sleep")
        .arg("310")
        .spawn()
        .unwrap();
    std::fs::write(leaf.join("cgroup.procs"), straggler.id().to_string()).unwrap();

    let dry = pk().args(["sweep", "--dry-run"]).output().unwrap();
    let dry = String::from_utf8(dry.stdout).unwrap();
    assert!(
        dry.contains(&format!("would remove {}", root.display())),
        "{dry}"
    );
    assert!(root.exists());

    let out = pk().arg("sweep").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(
        said.contains(&format!("removed {}", root.display())),
        "{said}"
    );
    assert!(
        said.contains(&format!("{} (sleep)", straggler.id())),
        "{said}"
    );
    if let Some(p) = &live_path {
        assert!(
            !said.contains(p.as_str()),
            "a live owner's container was swept: {said}"
        );
        assert!(std::path::Path::new(p).exists());
    }
    assert!(!root.exists());
    let deadline = Instant::now() + Duration::from_secs(5);
    while straggler.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the straggler survived the sweep"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(alive(sleeper));
    live.kill().unwrap();
    live.wait().unwrap();
    assert_gone(sleeper);
}

#[test]
fn supervise_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let marker = dir.path().join("cleaned");
    let script = format!(
        "trap 'echo done > {m}; exit 0' TERM; echo $$ > {p}; while :; do sleep 0.05; done",
        m = marker.display(),
        p = pidfile.display()
    );
    let mut tool = std::process::Command::new(tool_path())
        .args([
            "supervise",
            "--restart",
            "always",
            "--grace",
            "5s",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let child = read_pid(&pidfile);
    assert!(alive(child));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(tool.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = tool.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "supervise did not stop");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(tool.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "done\n",
        "no graceful SIGTERM: {err}"
    );
    assert!(err.contains("stopped on request"), "{err}");
    assert!(
        !err.contains("restarting"),
        "restarted after the stop: {err}"
    );
    assert_gone(child);
}

//! The subreaper helper factory, seen from outside: helpers it forks carry
//! the host's attributes of the moment of each spawn, nothing of it is left
//! once its host exits (normally or by SIGKILL), and a factory killed from
//! outside costs no spawn and signals nobody else.
//!
//! Each test runs its host as a fresh copy of this binary (the factory is
//! one per process, and the hosts change process-wide state).
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{alive, children, is_factory, wait_until};
use processkit::{Command, Mechanism, ProcessGroup, ProcessGroupOptions};

const ROLE: &str = "PK_FACTORY_TEST_ROLE";
const DIR: &str = "PK_FACTORY_TEST_DIR";
/// The factory's process name.
const FACTORY_COMM: &[u8] = b"processkit-fact";
fn read_pid(file: &Path) -> u32 {
    let mut got = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            got = std::fs::read_to_string(file)
                .ok()
                .and_then(|t| t.trim().parse().ok());
            got.is_some()
        }),
        "no pid in {}",
        file.display()
    );
    got.unwrap()
}

fn subreaper_group() -> ProcessGroup {
    ProcessGroup::with_options(ProcessGroupOptions::default().mechanism(Mechanism::Subreaper))
        .expect("the subreaper mechanism needs no privilege")
}

/// The first spawn of a process starts its helper directly; from the
/// second on, helpers come from the factory.
async fn warm_up(group: &ProcessGroup) {
    let mut early = group.start(&Command::new("true")).await.unwrap();
    assert_eq!(early.wait().await.unwrap(), Some(0));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Starts this binary as a host playing `role` in `test`, with `dir`.
fn host(test: &str, role: &str, dir: &Path) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(DIR, dir)
        .env("PROCESSKIT_MECHANISM", "subreaper")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The `report: ` lines of a finished host.
fn reports(child: std::process::Child) -> Vec<String> {
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "host failed: {text}");
    text.lines()
        .filter_map(|l| l.strip_prefix("report: ").map(str::to_owned))
        .collect()
}

// ------------------------------------------------------------- drift ---

const DRIFT_SCRIPT: &str = "pwd; umask; ulimit -n; grep '^SigIgn:' /proc/self/status; \
     read -r _ _ _ pp _ < /proc/$PPID/stat; cat /proc/$pp/comm";

fn drift_host(dir: &Path) {
    // The harness's own "test … " line has no newline yet.
    println!();
    runtime().block_on(async {
        let group = subreaper_group();
        // The first child's helper is started directly, the second starts
        // the factory, with the attributes of now.
        for _ in 0..2 {
            let mut early = group.start(&Command::new("true")).await.unwrap();
            assert_eq!(early.wait().await.unwrap(), Some(0));
        }
        std::env::set_current_dir(dir).unwrap();
        // SAFETY: process-wide settings of this host only, with valid
        // arguments; the host runs nothing else.
        unsafe {
            libc::umask(0o027);
            let mut r: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
            r.rlim_cur = 200.min(r.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
            libc::signal(libc::SIGUSR2, libc::SIG_IGN);
        }
        let out = Command::new("sh")
            .args(["-c", DRIFT_SCRIPT])
            .timeout(Duration::from_secs(30))
            .run()
            .await
            .unwrap();
        for line in out.lines() {
            println!("report: {line}");
        }
    });
}

#[test]
fn helpers_follow_the_host_s_cwd_umask_limits_and_ignored_signals() {
    const NAME: &str = "helpers_follow_the_host_s_cwd_umask_limits_and_ignored_signals";
    if std::env::var(ROLE).as_deref() == Ok("drift") {
        return drift_host(Path::new(&std::env::var(DIR).unwrap()));
    }
    let dir = tempfile::Builder::new()
        .prefix("pk-factory-drift")
        .tempdir()
        .unwrap();
    let got = reports(host(NAME, "drift", dir.path()));
    let want_dir = dir.path().canonicalize().unwrap();
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(PathBuf::from(&got[0]), want_dir, "cwd: {got:?}");
    assert_eq!(got[1], "0027", "umask: {got:?}");
    assert_eq!(got[2], "200", "RLIMIT_NOFILE: {got:?}");
    let ign = u64::from_str_radix(got[3].trim_start_matches("SigIgn:").trim(), 16).unwrap();
    assert_ne!(
        ign & (1 << (libc::SIGUSR2 - 1)),
        0,
        "SIGUSR2 ignored: {got:?}"
    );
    // The child's helper was forked by the factory (so the test tested it).
    assert_eq!(got[4].as_bytes(), FACTORY_COMM, "{got:?}");
}

// ------------------------------------------------------- host exits ---

/// Starts three trees (each with an escaped `setsid` grandchild), reports
/// every pid, then exits without dropping anything (`exit`) or waits to be
/// killed (`hold`).
fn leaving_host(role: &str, dir: &Path) {
    println!();
    runtime().block_on(async {
        let group = subreaper_group();
        warm_up(&group).await;
        let mut handles = Vec::new();
        for i in 0..3 {
            let file = dir.join(format!("esc{i}"));
            let script = format!(
                "setsid sh -c 'echo $$ > {}; exec sleep 300' & exec sleep 300",
                file.display()
            );
            let h = group
                .start(&Command::new("sh").args(["-c", &script]))
                .await
                .unwrap();
            println!("report: child {}", h.pid().unwrap());
            println!("report: escapee {}", read_pid(&file));
            handles.push(h);
        }
        for f in children(std::process::id())
            .into_iter()
            .filter(|p| is_factory(*p))
        {
            println!("report: factory {f}");
            for h in children(f) {
                println!("report: helper {h}");
            }
        }
        println!("report: ready");
        if role == "exit" {
            std::process::exit(0);
        }
        tokio::time::sleep(Duration::from_secs(300)).await;
        drop((handles, group));
    });
}

fn nothing_left_after(role: &str) {
    const NAME: &str = "nothing_of_the_factory_outlives_its_host";
    let dir = tempfile::Builder::new()
        .prefix("pk-factory-exit")
        .tempdir()
        .unwrap();
    let mut child = host(NAME, role, dir.path());
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(r) = line.strip_prefix("report: ") {
                let _ = tx.send(r.to_owned());
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the host reports");
        if line == "ready" {
            break;
        }
        lines.push(line);
    }
    if role == "hold" {
        // SAFETY: SIGKILL to our own unreaped child.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    child.wait().unwrap();
    let pids: Vec<(String, u32)> = lines
        .iter()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_owned(), v.parse().unwrap())
        })
        .collect();
    for kind in ["child", "escapee", "factory", "helper"] {
        let n = pids.iter().filter(|(k, _)| k == kind).count();
        let want = if kind == "factory" { 1 } else { 3 };
        assert_eq!(n, want, "{kind}s reported: {lines:?}");
    }
    let left =
        || -> Vec<(String, u32)> { pids.iter().filter(|(_, p)| alive(*p)).cloned().collect() };
    assert!(
        wait_until(Duration::from_secs(20), || left().is_empty()),
        "after the host's {role}: still running {:?}",
        left()
    );
}

#[test]
fn nothing_of_the_factory_outlives_its_host() {
    match std::env::var(ROLE).as_deref() {
        Ok(role @ ("exit" | "hold")) => {
            return leaving_host(role, Path::new(&std::env::var(DIR).unwrap()));
        }
        Ok(_) => return,
        Err(_) => {}
    }
    nothing_left_after("exit");
    nothing_left_after("hold");
}

// ------------------------------------------------ factory killed ---

fn killed_factory_host() {
    println!();
    runtime().block_on(async {
        let group = subreaper_group();
        warm_up(&group).await;
        let mut first = group
            .start(&Command::new("sleep").arg("300"))
            .await
            .unwrap();
        let factory = children(std::process::id())
            .into_iter()
            .find(|p| is_factory(*p))
            .expect("a factory after the second spawn");
        // SAFETY: SIGKILL to our own child, unreaped (nothing reaps it
        // until the next spawn finds it dead).
        unsafe { libc::kill(factory as i32, libc::SIGKILL) };
        assert!(wait_until(Duration::from_secs(10), || !alive(factory)));
        // A process that is not ours, next to the group.
        let mut foreign = std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .unwrap();
        for _ in 0..3 {
            let out = group
                .start(&Command::new("echo").arg("still"))
                .await
                .unwrap()
                .wait()
                .await
                .unwrap();
            println!("report: exit {out:?}");
        }
        let out = Command::new("echo").arg("works").run().await.unwrap();
        println!("report: {}", out.trim());
        // The first child's helper now belongs to init; killing the group
        // still takes its tree, and nothing else.
        group.kill().unwrap();
        let status = tokio::time::timeout(Duration::from_secs(20), first.wait())
            .await
            .expect("the first child dies with the group");
        println!("report: first {:?}", status.unwrap());
        println!(
            "report: foreign {}",
            if foreign.try_wait().unwrap().is_none() {
                "alive"
            } else {
                "dead"
            }
        );
        foreign.kill().unwrap();
        foreign.wait().unwrap();
    });
}

#[test]
fn a_factory_killed_from_outside_costs_no_spawn() {
    const NAME: &str = "a_factory_killed_from_outside_costs_no_spawn";
    if std::env::var(ROLE).as_deref() == Ok("killed") {
        return killed_factory_host();
    }
    let dir = tempfile::Builder::new()
        .prefix("pk-factory-killed")
        .tempdir()
        .unwrap();
    let got = reports(host(NAME, "killed", dir.path()));
    assert_eq!(
        got,
        [
            "exit Some(0)",
            "exit Some(0)",
            "exit Some(0)",
            "works",
            "first None",
            "foreign alive"
        ],
        "{got:?}"
    );
}

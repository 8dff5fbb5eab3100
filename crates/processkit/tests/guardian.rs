//! The guardian: no descendant outlives its host process, even when the host
//! dies without running a single destructor (SIGKILL, `abort`,
//! `std::process::exit` with live handles).
//!
//! Every test drives a separate *host*: this test binary run again with
//! `--exact helper_host` and a role in [`ROLE`]. The host builds process
//! trees with every escape technique, reports the pids, and is then killed
//! or ends itself; the test checks from the outside, through `/proc`, that
//! every descendant is gone within the bound.
#![cfg(target_os = "linux")]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use processkit::{Command, Guarantee, ProcessGroup};

/// Which part the re-executed binary plays.
const ROLE: &str = "PROCESSKIT_GUARDIAN_TEST_ROLE";
/// A scratch directory the host writes pid files into.
const DIR: &str = "PROCESSKIT_GUARDIAN_TEST_DIR";
/// Prefix of every line the host reports on stdout.
const TAG: &str = "guardian-test:";
/// The bound within which a dead host's descendants must be gone.
const BOUND: Duration = Duration::from_secs(1);
/// How long a host may take to report (generous: the machine may be busy).
const REPORT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- /proc ---

/// A process identified by pid *and* start time, so a recycled pid is never
/// mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Pid {
    pid: u32,
    start: u64,
}

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

impl Pid {
    /// The live process `pid` (its start time read now).
    fn of(pid: u32) -> Option<Pid> {
        let f = stat_fields(pid)?;
        Some(Pid {
            pid,
            start: f.get(19)?.parse().ok()?,
        })
    }

    /// Still running: exists, same start time, not a zombie.
    fn alive(&self) -> bool {
        match stat_fields(self.pid) {
            Some(f) => {
                f.get(19).and_then(|s| s.parse().ok()) == Some(self.start)
                    && !matches!(f[0].as_str(), "Z" | "X")
            }
            None => false,
        }
    }

    fn session(&self) -> Option<u32> {
        stat_fields(self.pid)?.get(3)?.parse().ok()
    }
}

/// Polls until `cond` holds or `within` passes; returns whether it held.
fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `/proc/<pid>/cmdline`, split at NULs.
fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Live guardians, as (guardian pid, host pid), found by their argv:
/// `sh -c '# processkit-guardian ...' processkit-guardian <host pid>`.
fn guardians() -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let argv = cmdline(pid);
        if argv.len() >= 5
            && argv[2].starts_with("# processkit-guardian")
            && argv[3] == "processkit-guardian"
            && let Ok(host) = argv[4].parse()
        {
            out.push((pid, host));
        }
    }
    out
}

/// The guardian of `host`, if one runs.
///
/// Polls for a moment: a vfork-style spawn returns once the child's `execve`
/// has replaced its memory, but the kernel fills in the new
/// `/proc/<pid>/cmdline` a little later, so a guardian that was just started
/// can briefly show an empty argv.
fn guardian_of(host: u32) -> Option<u32> {
    let mut found = None;
    wait_until(Duration::from_secs(5), || {
        found = guardians()
            .into_iter()
            .find(|&(_, h)| h == host)
            .map(|(g, _)| g);
        found.is_some()
    });
    found
}

/// The targets of `/proc/<pid>/fd/*`, keyed by fd number.
fn fd_links(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let Some(fd) = e.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if let Ok(target) = std::fs::read_link(e.path()) {
            out.push((fd, target.to_string_lossy().into_owned()));
        }
    }
    out.sort();
    out
}

/// Kills whatever the test started if an assertion fails halfway, so no
/// `sleep 300` is left behind either way.
struct Cleanup(Vec<Pid>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            if p.alive() {
                let _ = std::process::Command::new("kill")
                    .args(["-9", &p.pid.to_string()])
                    .status();
            }
        }
    }
}

// ---------------------------------------------------------------- hosts ---

/// A running host and the lines it reports.
struct Host {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    _dir: tempfile::TempDir,
    dir: PathBuf,
}

/// How a host picks its containment mechanism.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    /// The host's best (cgroup v2 here).
    Best,
    /// `PROCESSKIT_MECHANISM=process-group`.
    ProcessGroups,
}

fn start_host(role: &str, backend: Backend, env: &[(&str, &str)]) -> Host {
    let dir = tempfile::Builder::new()
        .prefix("pk-guardian-")
        .tempdir()
        .expect("scratch dir");
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "--ignored",
        "--exact",
        "helper_host",
        "--nocapture",
        "--test-threads=1",
        "--quiet",
    ])
    .env(ROLE, role)
    .env(DIR, dir.path())
    .env_remove("PROCESSKIT_NO_GUARDIAN")
    .env_remove("PROCESSKIT_MECHANISM")
    .env_remove("PROCESSKIT_SPAWNER")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    if backend == Backend::ProcessGroups {
        cmd.env("PROCESSKIT_MECHANISM", "process-group");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start the helper host");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix(TAG)
                && tx.send(rest.trim().to_owned()).is_err()
            {
                break;
            }
        }
    });
    let stdin = child.stdin.take();
    let path = dir.path().to_owned();
    Host {
        child,
        stdin,
        lines,
        _dir: dir,
        dir: path,
    }
}

impl Host {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next report that starts with `key`, without the key.
    fn expect(&self, key: &str) -> String {
        let deadline = Instant::now() + REPORT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(key) {
                        return rest.trim().to_owned();
                    }
                }
                Err(e) => panic!("host {} did not report {key:?} ({e:?})", self.child.id()),
            }
        }
    }

    fn tell(&mut self, word: &str) {
        let stdin = self.stdin.as_mut().expect("host stdin");
        writeln!(stdin, "{word}").expect("write to the host");
        stdin.flush().expect("flush");
    }

    fn wait(&mut self) -> ExitStatus {
        drop(self.stdin.take());
        self.child.wait().expect("wait for the host")
    }
}

/// The escape matrix, one long-lived `sleep 300` per technique, each
/// writing its pid into `<dir>/<technique>.pid`.
fn tree_script(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"setsid sh -c 'echo $$ > {d}/setsid.pid; exec sleep 300' &
(sleep 300 & echo $! > {d}/doublefork.pid)
nohup sleep 300 >/dev/null 2>&1 & echo $! > {d}/nohup.pid
setsid sh -c 'setsid sh -c "echo \$\$ > {d}/nested-setsid.pid; exec sleep 300"' &
echo $$ > {d}/main.pid
exec sleep 300
"#
    )
}

const TECHNIQUES: [&str; 5] = ["setsid", "doublefork", "nohup", "nested-setsid", "main"];
/// The techniques that leave a POSIX process group.
const SETSID: [&str; 2] = ["setsid", "nested-setsid"];

/// Reads `<dir>/<technique>.pid` once it holds a whole line.
fn read_pid_file(path: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    if !text.ends_with('\n') {
        return None;
    }
    text.trim().parse().ok()
}

/// One escapee: where it was started (`group` or `oneshot`), its
/// technique, and the process.
type Escapee = (String, &'static str, Pid);

/// The escapees of one host.
fn collect_tree(host: &Host) -> Vec<Escapee> {
    let mut out = Vec::new();
    for place in ["group", "oneshot"] {
        for t in TECHNIQUES {
            let path = host.dir.join(place).join(format!("{t}.pid"));
            let pid = read_pid_file(&path)
                .unwrap_or_else(|| panic!("{} was not written", path.display()));
            let p =
                Pid::of(pid).unwrap_or_else(|| panic!("{place}/{t} (pid {pid}) is not running"));
            assert!(
                p.alive(),
                "{place}/{t} (pid {pid}) is not running before the host dies"
            );
            out.push((place.to_owned(), t, p));
        }
    }
    out
}

/// How the host dies.
#[derive(Clone, Copy, Debug)]
enum Death {
    Sigkill,
    Abort,
    Exit,
}

/// Builds both trees in a host, ends the host as `death` says, and returns
/// the escapees with the instant the host was seen dead.
fn run_tree_host(backend: Backend, death: Death) -> Option<(Vec<Escapee>, Instant, Cleanup)> {
    let mut host = start_host("tree", backend, &[]);
    let report = host.expect("ready");
    let mechanism = report
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    // The best mechanism catches every descendant: a cgroup v2, or without
    // a writable cgroup, subreaper helpers.
    if backend == Backend::Best && mechanism != "cgroup-v2" && mechanism != "subreaper" {
        eprintln!("skipping: this host offers no whole-tree mechanism ({report})");
        host.child.kill().ok();
        host.wait();
        return None;
    }
    if backend == Backend::Best {
        assert!(
            mechanism == "cgroup-v2" || mechanism == "subreaper",
            "host report: {report}"
        );
    } else {
        assert_eq!(mechanism, "process-group", "host report: {report}");
    }
    assert!(
        report.ends_with("Guardian"),
        "the host must be guarded: {report}"
    );
    let guardian = guardian_of(host.pid()).expect("the host's guardian runs");
    let guardian = Pid::of(guardian).expect("guardian stat");

    let tree = collect_tree(&host);
    let cleanup = Cleanup(tree.iter().map(|(_, _, p)| *p).collect());
    let status = match death {
        Death::Sigkill => {
            host.child.kill().expect("SIGKILL the host");
            host.wait()
        }
        Death::Abort => {
            host.tell("abort");
            host.wait()
        }
        Death::Exit => {
            host.tell("exit");
            host.wait()
        }
    };
    let dead_at = Instant::now();
    use std::os::unix::process::ExitStatusExt;
    match death {
        Death::Sigkill => assert_eq!(status.signal(), Some(9), "{status:?}"),
        Death::Abort => assert_eq!(status.signal(), Some(6), "{status:?}"),
        Death::Exit => assert_eq!(status.code(), Some(0), "{status:?}"),
    }
    // The guardian itself goes too, once its work is done.
    assert!(
        wait_until(Duration::from_secs(5), || !guardian.alive()),
        "the guardian outlived its host"
    );
    Some((tree, dead_at, cleanup))
}

/// Asserts every process in `tree` is gone (or a zombie) within [`BOUND`] of
/// `dead_at`.
fn assert_gone_in_bound(tree: &[Escapee], dead_at: Instant, what: &str) {
    let gone = wait_until(BOUND.saturating_sub(dead_at.elapsed()), || {
        tree.iter().all(|(_, _, p)| !p.alive())
    });
    let survivors: Vec<String> = tree
        .iter()
        .filter(|(_, _, p)| p.alive())
        .map(|(w, t, p)| format!("{w}/{t} ({})", p.pid))
        .collect();
    assert!(
        gone,
        "{what}: still running {BOUND:?} after the host died: {survivors:?}"
    );
}

fn check_cgroup_host(death: Death) {
    let Some((tree, dead_at, _cleanup)) = run_tree_host(Backend::Best, death) else {
        return;
    };
    assert_gone_in_bound(&tree, dead_at, &format!("cgroup host, {death:?}"));
}

fn check_process_group_host(death: Death) {
    let Some((tree, dead_at, _cleanup)) = run_tree_host(Backend::ProcessGroups, death) else {
        return;
    };
    let (escapees, caught): (Vec<_>, Vec<_>) =
        tree.into_iter().partition(|(_, t, _)| SETSID.contains(t));
    assert_gone_in_bound(&caught, dead_at, &format!("process-group host, {death:?}"));
    // The documented weakness, exactly: a new session leaves the group.
    for (w, t, p) in &escapees {
        assert!(
            p.alive(),
            "{w}/{t} left its process group yet died; the documented weakness changed"
        );
    }
}

// ---------------------------------------------------------------- tests ---

#[test]
fn sigkilled_host_leaves_no_descendant() {
    check_cgroup_host(Death::Sigkill);
}

#[test]
fn aborted_host_leaves_no_descendant() {
    check_cgroup_host(Death::Abort);
}

#[test]
fn host_calling_exit_with_live_handles_leaves_no_descendant() {
    check_cgroup_host(Death::Exit);
}

#[test]
fn sigkilled_host_on_process_groups_leaves_only_setsid_escapees() {
    check_process_group_host(Death::Sigkill);
}

#[test]
fn aborted_host_on_process_groups_leaves_only_setsid_escapees() {
    check_process_group_host(Death::Abort);
}

#[test]
fn host_calling_exit_on_process_groups_leaves_only_setsid_escapees() {
    check_process_group_host(Death::Exit);
}

#[test]
fn no_guardian_outlives_its_host() {
    const HOSTS: usize = 100;
    const AT_ONCE: usize = 4;
    let mut seen: Vec<(u32, Pid)> = Vec::new();
    let mut started = 0;
    while started < HOSTS {
        let batch: Vec<Host> = (0..AT_ONCE.min(HOSTS - started))
            .map(|_| start_host("once", Backend::Best, &[]))
            .collect();
        started += batch.len();
        for mut host in batch {
            let report = host.expect("guardian");
            let g: u32 = report
                .parse()
                .unwrap_or_else(|_| panic!("host {} found no guardian: {report}", host.pid()));
            let status = host.wait();
            assert!(status.success(), "host {} failed: {status:?}", host.pid());
            // Recorded by the host while it lived; the start time comes from
            // the host's report line (the guardian may be gone already).
            let start: u64 = host.expect("gstart").parse().expect("start time");
            seen.push((host.pid(), Pid { pid: g, start }));
        }
    }
    assert_eq!(seen.len(), HOSTS);
    let hosts: HashSet<u32> = seen.iter().map(|(h, _)| *h).collect();
    let left = || -> Vec<(u32, u32)> {
        let mut l: Vec<(u32, u32)> = guardians()
            .into_iter()
            .filter(|(_, h)| hosts.contains(h))
            .collect();
        l.extend(
            seen.iter()
                .filter(|(_, g)| g.alive())
                .map(|(h, g)| (g.pid, *h)),
        );
        l
    };
    assert!(
        wait_until(Duration::from_secs(5), || left().is_empty()),
        "guardians outlived their hosts: {:?}",
        left()
    );
}

#[test]
fn children_never_inherit_the_guardian_socket() {
    let mut host = start_host("fds", Backend::Best, &[]);
    let child: u32 = host.expect("child").parse().expect("child pid");
    let guardian = guardian_of(host.pid()).expect("the host's guardian runs");
    let host_sockets: Vec<String> = fd_links(host.pid())
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| t.starts_with("socket:"))
        .collect();
    assert!(
        !host_sockets.is_empty(),
        "the host holds its end of the guardian socket"
    );

    let child_fds = fd_links(child);
    assert!(!child_fds.is_empty(), "the child's fds are readable");
    for (fd, target) in &child_fds {
        assert!(
            !host_sockets.contains(target),
            "the child inherited the host's socket as fd {fd}: {target}"
        );
    }

    // The guardian holds its own end (as stdin), /dev/null as stdout and
    // stderr, and beyond that only what every child inherits (fds the host
    // itself opened without close-on-exec); not the host's end, its working
    // directory, or its terminal session.
    // Read once the guardian has settled: caught inside its `execve`, the
    // dynamic loader briefly holds the shell's libraries open too.
    let settled = |g: &[(u32, String)]| {
        g.len() >= 3
            && g[3..]
                .iter()
                .all(|e| child_fds.contains(e) && !host_sockets.contains(&e.1))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut g_fds = fd_links(guardian);
    while !settled(&g_fds) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        g_fds = fd_links(guardian);
    }
    assert!(g_fds.len() >= 3, "guardian fds: {g_fds:?}");
    assert_eq!(g_fds[0].0, 0, "guardian fds: {g_fds:?}");
    assert!(
        g_fds[0].1.starts_with("socket:") && !host_sockets.contains(&g_fds[0].1),
        "guardian fds: {g_fds:?}"
    );
    assert_eq!(g_fds[1], (1, "/dev/null".to_owned()));
    assert_eq!(g_fds[2], (2, "/dev/null".to_owned()));
    for extra in &g_fds[3..] {
        assert!(
            !host_sockets.contains(&extra.1),
            "the guardian holds a host socket: {extra:?}"
        );
        assert!(
            child_fds.contains(extra),
            "the guardian holds {extra:?}, which a child does not inherit"
        );
    }
    assert_eq!(
        std::fs::read_link(format!("/proc/{guardian}/cwd")).expect("cwd"),
        Path::new("/")
    );
    let g = Pid::of(guardian).expect("guardian stat");
    assert_eq!(
        g.session(),
        Some(guardian),
        "the guardian leads its own session"
    );
    let cgroup =
        std::fs::read_to_string(format!("/proc/{guardian}/cgroup")).expect("guardian cgroup");
    assert!(
        !cgroup.contains("processkit-"),
        "the guardian lives outside every container: {cgroup}"
    );

    host.tell("exit");
    assert!(host.wait().success());
}

#[test]
fn guardian_is_reported_before_and_after_the_first_container() {
    let mut host = start_host("guarantee", Backend::Best, &[]);
    assert_eq!(host.expect("before"), "Guardian");
    assert_eq!(
        host.expect("running-before"),
        "0",
        "preflight and guarantee() spawn nothing"
    );
    assert_eq!(host.expect("after"), "Guardian");
    assert_eq!(host.expect("running-after"), "1");
    assert!(host.wait().success());
}

#[test]
fn no_guardian_env_var_gives_drop_only() {
    let mut host = start_host(
        "guarantee",
        Backend::Best,
        &[("PROCESSKIT_NO_GUARDIAN", "1")],
    );
    for key in ["before", "after"] {
        let g = host.expect(key);
        assert!(
            g.starts_with("DropOnly") && g.contains("PROCESSKIT_NO_GUARDIAN"),
            "{key}: {g}"
        );
    }
    assert_eq!(
        host.expect("running-after"),
        "0",
        "no guardian process may start"
    );
    assert!(host.wait().success());
}

#[test]
fn disable_guardian_before_the_first_container_gives_drop_only() {
    let mut host = start_host("disable", Backend::Best, &[]);
    assert_eq!(host.expect("disabled"), "true");
    let g = host.expect("after");
    assert!(
        g.starts_with("DropOnly") && g.contains("disable_guardian"),
        "{g}"
    );
    assert_eq!(host.expect("running-after"), "0");
    assert!(host.wait().success());
}

#[test]
fn disable_guardian_after_it_started_keeps_it_running() {
    let mut host = start_host("disable-late", Backend::Best, &[]);
    assert_eq!(host.expect("disabled"), "false");
    assert_eq!(host.expect("after"), "Guardian");
    assert_eq!(host.expect("running-after"), "1");
    assert!(host.wait().success());
}

#[test]
fn a_killed_guardian_is_replaced_and_the_replacement_knows_every_container() {
    for backend in [Backend::Best, Backend::ProcessGroups] {
        let mut host = start_host("restart", backend, &[]);
        let first = Pid::of(host.expect("guardian").parse().expect("pid")).expect("first guardian");
        let tree = collect_tree(&host);
        let _cleanup = Cleanup(tree.iter().map(|(_, _, p)| *p).collect());
        let _ = std::process::Command::new("kill")
            .args(["-9", &first.pid.to_string()])
            .status();
        assert!(
            wait_until(REPORT, || !first.alive()),
            "the first guardian did not die"
        );
        host.tell("next");
        let lost = host.expect("lost");
        assert!(
            lost.starts_with("DropOnly"),
            "{backend:?}: a dead guardian must be reported: {lost}"
        );
        let second = host.expect("replaced");
        let (pid, g) = second.split_once(' ').expect("pid and guarantee");
        assert_eq!(g, "Guardian", "{backend:?}");
        assert_ne!(
            pid.parse::<u32>().ok(),
            Some(first.pid),
            "{backend:?}: a new guardian runs"
        );

        host.child.kill().expect("SIGKILL the host");
        host.wait();
        let dead_at = Instant::now();
        let caught: Vec<_> = tree
            .into_iter()
            .filter(|(_, t, _)| backend == Backend::Best || !SETSID.contains(t))
            .collect();
        assert_gone_in_bound(
            &caught,
            dead_at,
            &format!("{backend:?}, after a guardian restart"),
        );
    }
}

/// Prints the cost of the first container with and without the guardian
/// (`cargo test --test guardian -- --ignored --nocapture`).
#[test]
#[ignore = "a measurement, not a check"]
fn measure_first_container_cost() {
    const RUNS: usize = 41;
    let measure = |env: &[(&str, &str)]| -> Vec<u64> {
        let mut v: Vec<u64> = (0..RUNS)
            .map(|_| {
                let mut host = start_host("measure", Backend::Best, env);
                let us = host.expect("first-container-us").parse().expect("micros");
                host.wait();
                us
            })
            .collect();
        v.sort_unstable();
        v
    };
    let with = measure(&[]);
    let without = measure(&[("PROCESSKIT_NO_GUARDIAN", "1")]);
    let pct = |v: &[u64], p: usize| v[(v.len() - 1) * p / 100];
    println!(
        "first ProcessGroup::new(): with guardian median {} us (p10 {}, p90 {}); without median {} us (p10 {}, p90 {})",
        pct(&with, 50),
        pct(&with, 10),
        pct(&with, 90),
        pct(&without, 50),
        pct(&without, 10),
        pct(&without, 90)
    );
}

// ---------------------------------------------------------- host side ---

/// The host: does nothing unless [`ROLE`] is set (then it is a re-executed
/// copy of this binary, started by one of the tests above).
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn helper_host() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(DIR).expect("scratch dir"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(host_main(&role, &dir));
}

fn report(key: &str, value: impl std::fmt::Display) {
    println!("{TAG} {key} {value}");
}

fn short(g: &Guarantee) -> String {
    match g {
        Guarantee::DropOnly { reason } => format!("DropOnly {reason}"),
        other => format!("{other:?}"),
    }
}

fn read_command() -> String {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    line.trim().to_owned()
}

fn running_guardians_of_me() -> usize {
    guardians()
        .into_iter()
        .filter(|&(_, h)| h == std::process::id())
        .count()
}

async fn start_tree(
    group: &ProcessGroup,
    dir: &Path,
) -> (processkit::RunningProcess, processkit::RunningProcess) {
    for place in ["group", "oneshot"] {
        std::fs::create_dir_all(dir.join(place)).expect("mkdir");
    }
    let in_group = group
        .start(&Command::new("sh").args(["-c", &tree_script(&dir.join("group"))]))
        .await
        .expect("start in group");
    let one_shot = Command::new("sh")
        .args(["-c", &tree_script(&dir.join("oneshot"))])
        .start()
        .await
        .expect("one-shot start");
    let all_written = wait_until(REPORT, || {
        ["group", "oneshot"].iter().all(|p| {
            TECHNIQUES
                .iter()
                .all(|t| read_pid_file(&dir.join(p).join(format!("{t}.pid"))).is_some())
        })
    });
    assert!(all_written, "the escapees did not report their pids");
    (in_group, one_shot)
}

async fn host_main(role: &str, dir: &Path) {
    match role {
        "tree" => {
            let group = ProcessGroup::new().expect("group");
            let handles = start_tree(&group, dir).await;
            let mechanism = match group.mechanism() {
                processkit::Mechanism::CgroupV2 => "cgroup-v2",
                processkit::Mechanism::ProcessGroup => "process-group",
                processkit::Mechanism::Subreaper => "subreaper",
                _ => "other",
            };
            report(
                "ready",
                format!("{mechanism} {}", short(&processkit::guarantee())),
            );
            match read_command().as_str() {
                "abort" => std::process::abort(),
                "exit" => std::process::exit(0),
                _ => {}
            }
            drop(handles);
        }
        "restart" => {
            let group = ProcessGroup::new().expect("group");
            let handles = start_tree(&group, dir).await;
            report(
                "guardian",
                guardian_of(std::process::id()).expect("guardian"),
            );
            assert_eq!(read_command(), "next");
            report("lost", short(&processkit::guarantee()));
            let second = ProcessGroup::new().expect("second group");
            let g = guardian_of(std::process::id()).map_or("none".to_owned(), |p| p.to_string());
            report(
                "replaced",
                format!("{g} {}", short(&processkit::guarantee())),
            );
            let _ = read_command();
            drop((handles, second, group));
        }
        "once" => {
            Command::new("true").run().await.expect("one containment");
            // The guardian's `execve` may still be finishing (its new argv
            // is not visible yet) when a fast run is already over.
            let mut g = None;
            wait_until(Duration::from_secs(5), || {
                g = guardian_of(std::process::id());
                g.is_some()
            });
            let g = g.expect("guardian");
            report("guardian", g);
            report("gstart", Pid::of(g).expect("guardian stat").start);
        }
        "fds" => {
            let child = Command::new("sleep")
                .arg("300")
                .start()
                .await
                .expect("child");
            report("child", child.pid().expect("pid"));
            let _ = read_command();
            drop(child);
        }
        "guarantee" => {
            let _ = processkit::preflight();
            report("before", short(&processkit::guarantee()));
            report("running-before", running_guardians_of_me());
            Command::new("true").run().await.expect("one containment");
            report("after", short(&processkit::guarantee()));
            // The guardian's argv shows once its `execve` has finished.
            wait_until(Duration::from_secs(5), || running_guardians_of_me() > 0);
            report("running-after", running_guardians_of_me());
        }
        "disable" => {
            report("disabled", processkit::disable_guardian());
            Command::new("true").run().await.expect("one containment");
            report("after", short(&processkit::guarantee()));
            report("running-after", running_guardians_of_me());
        }
        "disable-late" => {
            Command::new("true").run().await.expect("one containment");
            report("disabled", processkit::disable_guardian());
            report("after", short(&processkit::guarantee()));
            // The guardian's argv shows once its `execve` has finished.
            wait_until(Duration::from_secs(5), || running_guardians_of_me() > 0);
            report("running-after", running_guardians_of_me());
        }
        "measure" => {
            let t = Instant::now();
            let group = ProcessGroup::new().expect("group");
            let us = t.elapsed().as_micros();
            report("first-container-us", us);
            drop(group);
        }
        other => panic!("unknown role {other:?}"),
    }
}

//! Faults at the wrong moment: a full fd table at first use, a stopped
//! guardian, a teardown without free fds. None of them may cost the
//! no-orphan guarantee, and none may leave a process or a cgroup behind.
//!
//! Each test drives a separate *host*: this test binary run again with
//! `--exact fault_host` and a role in [`ROLE`], so the limits a fault needs
//! (a low `RLIMIT_NOFILE`) starve only that host, never the suite. The host
//! builds trees and reports pids; the test checks from the outside, through
//! `/proc` and the cgroup tree, within a bound. Every test runs on the
//! mechanism the environment picks (`PROCESSKIT_MECHANISM` is passed on).
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use processkit::{Command, Guarantee, Mechanism, ProcessGroup};

/// Which part the re-executed binary plays.
const ROLE: &str = "PROCESSKIT_FAULTS_TEST_ROLE";
/// A scratch directory the host writes pid files into.
const DIR: &str = "PROCESSKIT_FAULTS_TEST_DIR";
/// Prefix of every line the host reports on stdout.
const TAG: &str = "faults-test:";
/// The bound within which a dead host's descendants must be gone (generous:
/// the machine may be busy; the guardian acts within milliseconds).
const BOUND: Duration = Duration::from_secs(10);
/// How long a host may take to report.
const REPORT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------- /proc ---

/// A process identified by pid and start time, so a recycled pid is never
/// mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// Stopped by a signal.
    fn stopped(&self) -> bool {
        stat_fields(self.pid).is_some_and(|f| f[0] == "T")
    }
}

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

fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Live (not stopped) guardians of `host`, found by their argv:
/// `sh -c '# processkit-guardian ...' processkit-guardian <host pid>`.
fn guardians_of(host: u32) -> Vec<Pid> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let argv = cmdline(pid);
        if argv.len() >= 5
            && argv[2].starts_with("# processkit-guardian")
            && argv[4] == host.to_string()
            && let Some(p) = Pid::of(pid)
            && p.alive()
        {
            out.push(p);
        }
    }
    out
}

fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status();
}

/// Kills whatever is left if an assertion fails halfway.
struct Cleanup(Vec<Pid>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            if p.alive() || p.stopped() {
                signal(p.pid, "-KILL");
            }
        }
    }
}

fn assert_gone(pids: &[Pid], what: &str) {
    let ok = wait_until(BOUND, || pids.iter().all(|p| !p.alive()));
    let left: Vec<u32> = pids.iter().filter(|p| p.alive()).map(|p| p.pid).collect();
    assert!(ok, "{what}: still running after {BOUND:?}: {left:?}");
}

// ---------------------------------------------------------------- hosts ---

struct Host {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    dir: PathBuf,
    _dir: tempfile::TempDir,
    /// A cgroup delegated to the host's user, removed after the host.
    delegated: Option<PathBuf>,
}

/// A new cgroup below this process's own, owned by the unprivileged user
/// (its directory, `cgroup.procs`, `cgroup.threads` and
/// `cgroup.subtree_control`), or `None` where none can be made (no cgroup2,
/// a read-only cgroupfs, not root).
fn delegate_cgroup() -> Option<PathBuf> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next() == Some("cgroup2"))
            .then(|| pre.split_whitespace().nth(4).map(PathBuf::from))?
    })?;
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::"))?.to_owned();
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = mount
        .join(own.trim_start_matches('/'))
        .join(format!("pk-faults-user-{}-{n}", std::process::id()));
    std::fs::create_dir(&dir).ok()?;
    let owned = [
        "",
        "cgroup.procs",
        "cgroup.threads",
        "cgroup.subtree_control",
    ]
    .iter()
    .all(|f| std::os::unix::fs::chown(dir.join(f), Some(65534), Some(65534)).is_ok());
    if !owned {
        remove_cgroup_tree(&dir);
        return None;
    }
    Some(dir)
}

/// Removes a cgroup directory and everything below it (deepest first),
/// once the processes in it are gone.
fn remove_cgroup_tree(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&e.path());
        }
    }
    wait_until(BOUND, || std::fs::remove_dir(dir).is_ok() || !dir.exists());
}

fn start_host(role: &str, env: &[(&str, &str)]) -> Host {
    let dir = tempfile::Builder::new()
        .prefix("pk-faults-")
        .tempdir()
        .expect("scratch dir");
    let exe = std::env::current_exe().expect("test binary");
    let as_user = env.iter().any(|(k, _)| *k == "PROCESSKIT_FAULTS_AS_USER");
    let mut delegated = None;
    let mut cmd = if as_user {
        // The scratch directory must be the user's, and so must be a copy
        // of this binary (the build directory may be closed to others).
        // `cp` writes it: a file this process had open for writing could be
        // inherited by a child another test forks, and `execve` of it would
        // fail with ETXTBSY.
        let copy = dir.path().join("host");
        let copied = std::process::Command::new("cp")
            .arg(&exe)
            .arg(&copy)
            .status()
            .expect("cp");
        assert!(copied.success(), "copying the test binary failed");
        std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).expect("chown");
        // Where this host may create cgroups, the user gets a delegated one
        // to start in, so the host runs on cgroup v2 like a root host would.
        delegated = delegate_cgroup();
        let mut c = std::process::Command::new("sh");
        c.args([
            "-c",
            "[ -z \"$CG\" ] || echo $$ >\"$CG/cgroup.procs\" || exit 97\n\
             exec setpriv --reuid=65534 --regid=65534 --clear-groups \"$@\"",
            "sh",
        ])
        .arg(copy)
        .env(
            "CG",
            delegated
                .as_deref()
                .map(Path::as_os_str)
                .unwrap_or_default(),
        )
        .current_dir(dir.path());
        c
    } else {
        std::process::Command::new(exe)
    };
    cmd.args([
        "--ignored",
        "--exact",
        "fault_host",
        "--nocapture",
        "--test-threads=1",
        "--quiet",
    ])
    .env(ROLE, role)
    .env(DIR, dir.path())
    .env_remove("PROCESSKIT_NO_GUARDIAN")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start the host");
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
    Host {
        child,
        stdin,
        lines,
        dir: dir.path().to_owned(),
        _dir: dir,
        delegated,
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
                Err(e) => panic!("host {} did not report {key:?} ({e:?})", self.pid()),
            }
        }
    }

    fn pids(&self, key: &str) -> Vec<Pid> {
        self.expect(key)
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .filter_map(Pid::of)
            .collect()
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("host stdin");
        writeln!(stdin, "{line}").expect("write to host");
        stdin.flush().expect("flush");
    }

    fn sigkill(&mut self) {
        signal(self.pid(), "-KILL");
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(cg) = &self.delegated {
            remove_cgroup_tree(cg);
        }
    }
}

// ---------------------------------------------------------------- tests ---

/// A spell of EMFILE at first use (the guardian's start, the cgroup probe,
/// the subreaper probe all fail for want of an fd) is a passing shortage:
/// once fds are free again the guardian starts, so a SIGKILLed host leaves
/// no descendant, and `preflight()` named the real reason meanwhile.
#[test]
fn a_spell_of_emfile_at_first_use_does_not_cost_the_guarantee() {
    let mut host = start_host("emfile", &[]);
    let during = host.expect("during");
    assert!(
        during.contains("Too many open files"),
        "preflight during the spell does not name the real reason: {during}"
    );
    assert!(
        !during.contains("no cgroup2 filesystem is mounted"),
        "preflight during the spell blames the host: {during}"
    );
    let guarantee = host.expect("guarantee-during");
    assert!(
        guarantee.starts_with("DropOnly") && guarantee.contains("Too many open files"),
        "{guarantee}"
    );
    let after = host.expect("after");
    assert!(
        after.contains("guarantee: guardian"),
        "the guarantee did not come back once fds were free: {after}"
    );
    let tree = host.pids("tree");
    let _cleanup = Cleanup(tree.clone());
    assert!(tree.len() >= 4, "the host reported too few pids: {tree:?}");
    assert!(tree.iter().all(Pid::alive), "the tree is not up: {tree:?}");
    host.sigkill();
    assert_gone(
        &tree,
        "descendants of a SIGKILLed host after a spell of EMFILE",
    );
}

/// A stopped guardian is not a guarantee: the next container replaces it,
/// so a SIGKILLed host leaves no descendant even though the old guardian
/// never runs again.
#[test]
fn a_stopped_guardian_is_replaced() {
    stopped_guardian_scenario(&[], 1);
}

/// On the process-group mechanism every start registers its group with the
/// guardian. A stopped guardian stops reading; the starts after the stop
/// replace it instead of waiting for it (the old guardian never runs again,
/// so a wait could only end in a timeout), and the replacement guards the
/// groups started before and after.
#[test]
fn a_stopped_guardian_does_not_hold_up_process_group_starts() {
    stopped_guardian_scenario(&[("PROCESSKIT_MECHANISM", "process-group")], 3);
}

/// A stopped guardian is replaced even while the host starts nothing: the
/// reaper thread looks at it periodically.
#[test]
fn a_stopped_guardian_of_an_idle_host_is_replaced() {
    let mut host = start_host("stopped", &[]);
    let tree = host.pids("tree");
    let old = host.pids("guardian");
    assert_eq!(old.len(), 1, "one guardian runs: {old:?}");
    let old = old[0];
    let mut cleanup = Cleanup(tree.clone());
    cleanup.0.push(old);
    signal(old.pid, "-STOP");
    let mut new = Vec::new();
    let replaced = wait_until(BOUND, || {
        new = guardians_of(host.pid())
            .into_iter()
            .filter(|g| *g != old && !g.stopped())
            .collect();
        new.len() == 1
    });
    assert!(replaced, "the stopped guardian was not replaced: {new:?}");
    cleanup.0.extend(new.iter().copied());
    assert!(tree.iter().all(Pid::alive), "the tree is not up: {tree:?}");
    host.sigkill();
    assert_gone(
        &tree,
        "descendants of an idle SIGKILLed host whose guardian was stopped",
    );
}

fn stopped_guardian_scenario(env: &[(&str, &str)], starts: usize) {
    let mut host = start_host("stopped", env);
    let mut tree = host.pids("tree");
    let old = host.pids("guardian");
    assert_eq!(old.len(), 1, "one guardian runs: {old:?}");
    let old = old[0];
    let mut cleanup = Cleanup(tree.clone());
    cleanup.0.push(old);
    signal(old.pid, "-STOP");
    // Stopped, or (the reaper's look came first) already retired.
    assert!(
        wait_until(BOUND, || old.stopped() || !old.alive()),
        "the guardian did not stop"
    );
    host.say(&format!("next {starts}"));
    let report = host.expect("after");
    assert!(report.starts_with("Guardian"), "guarantee after: {report}");
    let more = host.pids("tree");
    tree.extend(more.iter().copied());
    cleanup.0.extend(more);
    let new: Vec<Pid> = guardians_of(host.pid())
        .into_iter()
        .filter(|g| *g != old && !g.stopped())
        .collect();
    assert_eq!(new.len(), 1, "no running replacement guardian: {new:?}");
    assert!(
        !old.alive() || !old.stopped(),
        "the stopped guardian was left in place"
    );
    assert!(tree.iter().all(Pid::alive), "the tree is not up: {tree:?}");
    host.sigkill();
    assert_gone(
        &tree,
        "descendants of a SIGKILLed host whose guardian was stopped",
    );
}

/// Teardown without a free fd (reading `cgroup.events` fails with EMFILE)
/// is tried again, not taken as "already gone": once fds are free, every
/// per-child leaf and group directory is removed while the host lives, and
/// no process is left.
#[test]
fn teardown_without_free_fds_leaves_no_leaf() {
    let mut host = start_host("teardown-emfile", &[]);
    let pids = host.pids("children");
    let root = host.expect("root");
    let _cleanup = Cleanup(pids.clone());
    host.expect("lifted");
    assert_gone(&pids, "children of a group dropped without free fds");
    if root != "none" {
        let root = PathBuf::from(root);
        let leftovers = || -> Vec<PathBuf> {
            std::fs::read_dir(&root)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                // One-shot leaves (`r<N>`) are pooled for reuse by design.
                .filter(|e| !e.file_name().to_string_lossy().starts_with('r'))
                .map(|e| e.path())
                .collect()
        };
        let clean = wait_until(BOUND, || leftovers().is_empty());
        assert!(
            clean,
            "cgroup directories left below {}: {:?}",
            root.display(),
            leftovers()
        );
    }
    host.say("done");
    assert!(host.child.wait().expect("wait").success());
}

/// Bad paths say what is wrong with them instead of "not found; check the
/// name and PATH".
#[tokio::test]
async fn bad_paths_say_what_actually_happened() {
    use processkit::Error;
    let dir = tempfile::Builder::new()
        .prefix("pk-faults-")
        .tempdir()
        .expect("scratch dir");

    // A file where a directory is needed.
    let err = Command::new("/bin/true/").run().await.unwrap_err();
    assert!(matches!(err, Error::Spawn { .. }), "/bin/true/: {err:?}");
    let text = err.to_string();
    assert!(
        text.contains("/bin/true/") && text.contains("not a directory"),
        "{text}"
    );
    assert!(!text.contains("check the name and PATH"), "{text}");

    // A path longer than the kernel takes.
    let long = format!("/{}", "a/".repeat(2500));
    let long = long.trim_end_matches('/').to_owned();
    assert!(long.len() >= 5000);
    let err = Command::new(&long).run().await.unwrap_err();
    assert!(matches!(err, Error::Spawn { .. }), "a long path: {err:?}");
    let text = err.to_string();
    assert!(text.contains("File name too long"), "{text}");
    assert!(!text.contains("check the name and PATH"), "{text}");

    // A script whose interpreter is missing: execve says ENOENT for a file
    // that exists.
    let script = dir.path().join("needs-an-interpreter");
    // Written by another process: a file this test process had open for
    // writing could be inherited by a child another test forks at that
    // moment, and executing it would then fail with ETXTBSY.
    let wrote = std::process::Command::new("sh")
        .args([
            "-c",
            "printf '#!/nonexistent/interpreter -x\\necho hi\\n' > \"$1\" && chmod 755 \"$1\"",
            "sh",
        ])
        .arg(&script)
        .status()
        .expect("write the script");
    assert!(wrote.success());
    let err = Command::new(&script).run().await.unwrap_err();
    assert!(matches!(err, Error::Spawn { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("needs-an-interpreter") && text.contains("/nonexistent/interpreter"),
        "{text}"
    );
    assert!(!text.contains("check the name and PATH"), "{text}");

    // A missing program is still `NotFound`.
    let missing = dir.path().join("no-such-program");
    let err = Command::new(&missing).run().await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// A refused `clone` (the process limit reached: `EAGAIN`) is a spawn
/// error naming the program and the limit, not an I/O error "while
/// preparing the spawn". The host runs as an unprivileged user (the root
/// user is exempt from `RLIMIT_NPROC`) and sets the limit itself.
#[test]
fn a_refused_clone_is_a_spawn_error() {
    let mut host = start_host_as_user("nproc", &[]);
    let variant = host.expect("variant");
    let text = host.expect("error");
    assert_eq!(variant, "Spawn", "{text}");
    assert!(text.contains("`true`"), "{text}");
    assert!(
        text.contains("Resource temporarily unavailable") && text.contains("RLIMIT_NPROC"),
        "{text}"
    );
    assert!(host.child.wait().expect("wait").success());
}

/// When no thread can be created (the process limit reached), dropping a
/// handle still kills the tree first and reaps it without a thread: the
/// child and everything it started are gone, and no zombie of the host is
/// left while the host lives on.
#[test]
fn a_handle_dropped_when_no_thread_can_start_leaves_no_zombie() {
    // Without a guardian: a running guardian is watched from the reaper
    // thread, which would then exist before the limit is set.
    let mut host = start_host_as_user("no-threads", &[("PROCESSKIT_NO_GUARDIAN", "1")]);
    let child = host.pids("child");
    assert_eq!(child.len(), 1, "{child:?}");
    let _cleanup = Cleanup(child.clone());
    assert!(child[0].alive());
    std::fs::write(host.dir.join("go"), "").expect("tell the host");
    host.expect("dropped");
    assert_gone(&child, "the child of a handle dropped without threads");
    let host_pid = host.pid();
    let zombies = || -> Vec<u32> {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| {
                stat_fields(pid).is_some_and(|f| f[0] == "Z" && f[1] == host_pid.to_string())
            })
            .collect()
    };
    let reaped = wait_until(BOUND, || zombies().is_empty());
    assert!(reaped, "zombies of the host: {:?}", zombies());
    std::fs::write(host.dir.join("done"), "").expect("tell the host");
    assert!(host.child.wait().expect("wait").success());
}

/// [`start_host`], as an unprivileged user when this process is root.
fn start_host_as_user(role: &str, env: &[(&str, &str)]) -> Host {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return start_host(role, env);
    }
    let mut wrapped = vec![("PROCESSKIT_FAULTS_AS_USER", "1")];
    wrapped.extend_from_slice(env);
    start_host(role, &wrapped)
}

// ---------------------------------------------------------- host side ---

/// The host: does nothing unless [`ROLE`] is set (then it is a re-executed
/// copy of this binary, started by one of the tests above).
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn fault_host() {
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

/// Fills the fd table: lowers the soft `RLIMIT_NOFILE` to just above the
/// highest open fd and opens `/dev/null` until `EMFILE`. Dropping the
/// result closes those fds and restores the limit.
struct FdSpell {
    filler: Vec<std::fs::File>,
    old: libc::rlimit,
}

impl FdSpell {
    fn begin() -> FdSpell {
        let highest = std::fs::read_dir("/proc/self/fd")
            .expect("fd dir")
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()))
            .max()
            .unwrap_or(2);
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with valid pointers to rlimit structs.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
            let low = libc::rlimit {
                rlim_cur: highest + 4,
                rlim_max: old.rlim_max,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &low), 0);
        }
        let mut filler = Vec::new();
        loop {
            match std::fs::File::open("/dev/null") {
                Ok(f) => filler.push(f),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                    break;
                }
            }
        }
        FdSpell { filler, old }
    }
}

impl Drop for FdSpell {
    fn drop(&mut self) {
        self.filler.clear();
        // SAFETY: setrlimit with a valid pointer to an rlimit struct.
        unsafe {
            libc::setrlimit(libc::RLIMIT_NOFILE, &self.old);
        }
    }
}

/// A tree that tries to escape: a backgrounded child, a double fork, and
/// (where the mechanism contains new sessions) a `setsid` child. The shell
/// writes every pid (its own too) into `file`.
fn tree_command(file: &Path) -> Command {
    let setsid = if Mechanism::current().contains_setsid() {
        "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! >>\"$F\"\n"
    } else {
        ""
    };
    let script = format!(
        "echo $$ >>\"$F\"\n\
         sleep 300 </dev/null >/dev/null 2>&1 & echo $! >>\"$F\"\n\
         (sleep 300 </dev/null >/dev/null 2>&1 & echo $! >>\"$F\") \n\
         {setsid}echo end >>\"$F\"\n\
         exec sleep 300"
    );
    Command::new("sh")
        .args(["-c", &script])
        .env("F", file.as_os_str())
}

/// Starts `tree_command` in `group` and waits for its pids.
async fn start_tree(
    group: &ProcessGroup,
    dir: &Path,
    name: &str,
) -> (processkit::RunningProcess, Vec<u32>) {
    let file = dir.join(name);
    let handle = group
        .start(&tree_command(&file))
        .await
        .expect("start the tree");
    let deadline = Instant::now() + REPORT;
    let pids: Vec<u32> = loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if text.lines().any(|l| l == "end") {
            break text.lines().filter_map(|l| l.parse().ok()).collect();
        }
        assert!(Instant::now() < deadline, "the tree did not report");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    (handle, pids)
}

fn join(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// This host's cgroup root, if it uses cgroup v2.
fn host_root() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next() == Some("cgroup2"))
            .then(|| pre.split_whitespace().nth(4).map(PathBuf::from))?
    })?;
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::"))?.to_owned();
    let parent = mount.join(own.trim_start_matches('/'));
    let prefix = format!("processkit-{}-", std::process::id());
    std::fs::read_dir(&parent)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
}

async fn host_main(role: &str, dir: &Path) {
    match role {
        "emfile" => {
            {
                let _spell = FdSpell::begin();
                for _ in 0..8 {
                    let r = Command::new("true").run().await;
                    assert!(r.is_err(), "a run succeeded without a free fd");
                }
                let p = processkit::preflight();
                let g = processkit::guarantee();
                // Reported after the spell: stdout itself needs no new fd,
                // but keep the spell free of anything but the library.
                let during = format!("{p}");
                let g = short(&g);
                drop(_spell);
                report("during", during);
                report("guarantee-during", g);
            }
            let group = ProcessGroup::new().expect("group");
            let (handle, mut pids) = start_tree(&group, dir, "a").await;
            let one_shot = Command::new("sh")
                .args([
                    "-c",
                    "sleep 300 </dev/null >/dev/null 2>&1 & echo $!; exec sleep 300",
                ])
                .start()
                .await
                .expect("one-shot start");
            pids.push(one_shot.pid().expect("pid"));
            report("after", processkit::preflight());
            report("tree", join(&pids));
            let _ = read_command();
            drop((handle, one_shot, group));
        }
        "stopped" => {
            let group = ProcessGroup::new().expect("group");
            let (first, pids) = start_tree(&group, dir, "a").await;
            report("tree", join(&pids));
            let mut g = Vec::new();
            wait_until(REPORT, || {
                g = guardians_of(std::process::id());
                !g.is_empty()
            });
            report(
                "guardian",
                join(&g.iter().map(|p| p.pid).collect::<Vec<_>>()),
            );
            let cmd = read_command();
            let starts: usize = cmd
                .strip_prefix("next ")
                .and_then(|n| n.parse().ok())
                .expect("next <starts>");
            let mut slowest = Duration::ZERO;
            for _ in 0..starts {
                let t = Instant::now();
                let mut h = group
                    .start(&Command::new("true"))
                    .await
                    .expect("start after the stop");
                slowest = slowest.max(t.elapsed());
                let _ = h.wait().await;
            }
            let (second, more) = start_tree(&group, dir, "b").await;
            eprintln!("slowest start after the guardian stopped: {slowest:?}");
            // The replacement's argv shows once its `execve` has finished.
            wait_until(REPORT, || {
                guardians_of(std::process::id())
                    .iter()
                    .any(|p| !p.stopped())
            });
            report("after", short(&processkit::guarantee()));
            report("tree", join(&more));
            let _ = read_command();
            drop((first, second, group));
        }
        "nproc" => {
            let limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: libc::RLIM_INFINITY,
            };
            // SAFETY: setrlimit with a valid pointer to an rlimit struct.
            let mut old = limit;
            unsafe {
                assert_eq!(libc::getrlimit(libc::RLIMIT_NPROC, &mut old), 0);
                let low = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: old.rlim_max,
                };
                assert_eq!(libc::setrlimit(libc::RLIMIT_NPROC, &low), 0);
            }
            let err = Command::new("true").run().await.unwrap_err();
            // SAFETY: as above.
            unsafe {
                libc::setrlimit(libc::RLIMIT_NPROC, &old);
            }
            let variant = format!("{err:?}");
            let variant = variant
                .split([' ', '{', '('])
                .next()
                .unwrap_or("")
                .to_owned();
            report("variant", variant);
            report("error", err);
        }
        "no-threads" => {
            let child = Command::new("sh")
                .args([
                    "-c",
                    "sleep 300 </dev/null >/dev/null 2>&1 & exec sleep 300",
                ])
                .start()
                .await
                .expect("start");
            let pid = child.pid().expect("pid");
            let reaper_runs = std::fs::read_dir("/proc/self/task")
                .expect("tasks")
                .flatten()
                .any(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.starts_with("processkit-reap"))
                });
            assert!(!reaper_runs, "the reaper thread runs already");
            let mut old = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit/setrlimit with valid pointers to rlimit structs.
            unsafe {
                assert_eq!(libc::getrlimit(libc::RLIMIT_NPROC, &mut old), 0);
                let low = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: old.rlim_max,
                };
                assert_eq!(libc::setrlimit(libc::RLIMIT_NPROC, &low), 0);
            }
            assert!(
                std::thread::Builder::new().spawn(|| {}).is_err(),
                "a thread could still be started"
            );
            eprintln!("no-threads host on {}", Mechanism::current());
            report("child", pid);
            let go = dir.join("go");
            let deadline = Instant::now() + REPORT;
            while !go.exists() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            drop(child);
            report("dropped", "");
            // The runtime keeps turning while the test looks.
            let done = dir.join("done");
            let deadline = Instant::now() + REPORT;
            while !done.exists() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // SAFETY: setrlimit with a valid pointer to an rlimit struct.
            unsafe {
                libc::setrlimit(libc::RLIMIT_NPROC, &old);
            }
        }
        "teardown-emfile" => {
            let group = ProcessGroup::new().expect("group");
            let mut handles = Vec::new();
            let mut pids = Vec::new();
            for _ in 0..3 {
                let h = group
                    .start(&Command::new("sleep").arg("0.5"))
                    .await
                    .expect("start");
                pids.push(h.pid().expect("pid"));
                handles.push(h);
            }
            // The reaper thread exists before the spell (a thread needs no fd).
            Command::new("true").run().await.expect("a run");
            report("children", join(&pids));
            let root = host_root();
            report(
                "root",
                root.as_ref()
                    .map_or("none".to_owned(), |r| r.display().to_string()),
            );
            {
                // Everything is dropped without a free fd; the children end
                // on their own meanwhile, and every look at `cgroup.events`
                // (to see the leaves empty) fails with EMFILE for a while.
                let _spell = FdSpell::begin();
                drop(handles);
                drop(group);
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            report("lifted", "");
            let _ = read_command();
        }
        other => panic!("unknown role {other:?}"),
    }
}

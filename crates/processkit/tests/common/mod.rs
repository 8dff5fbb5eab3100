//! Helpers shared by the integration tests: checking processes from the
//! outside (through /proc), waiting with deadlines, unique scratch paths.

#![allow(dead_code)]

#[cfg(feature = "cancellation")]
mod cancel;
#[cfg(feature = "cancellation")]
#[allow(unused_imports)]
pub use cancel::cancel_after;
mod outside;
pub use outside::*;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The children of `pid`, from every thread's `children` list.
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok()),
                );
            }
        }
    }
    out
}

/// Whether `pid` is a subreaper helper factory (told apart from the
/// helpers it forks, which share its command line, by its process name).
pub fn is_factory(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/comm"))
        .is_ok_and(|c| c.trim_ascii_end() == b"processkit-fact")
}

/// The session id of `pid`.
pub fn session_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(3)?.parse().ok()
}

/// The fields of `/proc/<pid>/stat` after the command name (state first).
pub fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// A process identified by pid *and* start time, so a recycled pid is never
/// mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pid {
    pub pid: u32,
    pub start: u64,
}

impl Pid {
    /// The live process `pid` (its start time read now).
    pub fn of(pid: u32) -> Option<Pid> {
        let f = stat_fields(pid)?;
        Some(Pid {
            pid,
            start: f.get(19)?.parse().ok()?,
        })
    }

    /// Still running: exists, same start time, not a zombie.
    pub fn alive(&self) -> bool {
        match stat_fields(self.pid) {
            Some(f) => {
                f.get(19).and_then(|s| s.parse().ok()) == Some(self.start)
                    && !matches!(f[0].as_str(), "Z" | "X")
            }
            None => false,
        }
    }

    /// Stopped by a signal.
    pub fn stopped(&self) -> bool {
        stat_fields(self.pid).is_some_and(|f| f[0] == "T")
    }

    /// Its session id.
    pub fn session(&self) -> Option<u32> {
        stat_fields(self.pid)?.get(3)?.parse().ok()
    }
}

/// `/proc/<pid>/cmdline`, split at NULs.
pub fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Async variant of [`wait_until`] that yields to the runtime.
pub async fn wait_until_async(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A unique scratch directory (removed on drop).
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pk-test-")
        .tempdir()
        .expect("temp dir")
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique path inside the system temp dir (not created).
pub fn unique_path(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("pk-{tag}-{}-{n}", std::process::id()))
}

/// Reads pids (one per line, or "label pid" lines) from a file written by a test script,
/// waiting until at least `count` are there.
pub fn read_pids(path: &std::path::Path, count: usize, within: Duration) -> Vec<u32> {
    let mut pids = Vec::new();
    wait_until(within, || {
        pids = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().last().and_then(|w| w.parse().ok()))
            .collect();
        pids.len() >= count
    });
    assert!(
        pids.len() >= count,
        "expected {count} pids in {}, got {pids:?}",
        path.display()
    );
    pids
}

/// Number of open fds of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Running guardians, as `(guardian pid, host pid)`, found by their argv:
/// `sh -c '# processkit-guardian ...' processkit-guardian <host pid>`.
pub fn guardians() -> Vec<(u32, u32)> {
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

/// Every mechanism a group can use here: process groups and subreaper
/// helpers everywhere on Linux, a cgroup v2 where the host offers one.
#[cfg(target_os = "linux")]
pub fn group_mechanisms() -> Vec<processkit::Mechanism> {
    use processkit::Mechanism;
    let mut v = vec![Mechanism::ProcessGroup, Mechanism::Subreaper];
    if processkit::preflight().host_mechanism == Mechanism::CgroupV2 {
        v.push(Mechanism::CgroupV2);
    }
    v
}

/// A group on mechanism `m` (set in `options`), checked to be on it.
pub fn group_on_with(
    m: processkit::Mechanism,
    options: processkit::ProcessGroupOptions,
) -> processkit::ProcessGroup {
    let g = processkit::ProcessGroup::with_options(options.mechanism(m))
        .unwrap_or_else(|e| panic!("a group on {m}: {e}"));
    assert_eq!(g.mechanism(), m);
    g
}

/// Whether tests run on the process-group mechanism.
pub fn on_process_groups() -> bool {
    processkit::Mechanism::current() == processkit::Mechanism::ProcessGroup
}

/// Async [`wait_until`] polled every 10 ms (same as `wait_until_async`,
/// named for the scenario tests).
pub async fn eventually(within: Duration, cond: impl FnMut() -> bool) -> bool {
    wait_until_async(within, cond).await
}

/// Waits (yielding) until `cond` holds; panics naming `what` after `within`.
pub async fn wait_for(what: &str, within: Duration, cond: impl FnMut() -> bool) {
    assert!(
        wait_until_async(within, cond).await,
        "timed out after {within:?} waiting for: {what}"
    );
}

/// Asserts every pid is gone (or a zombie) within `within`, yielding to the runtime.
pub async fn assert_gone_within(pids: &[u32], within: Duration, what: &str) {
    let ok = wait_until_async(within, || pids.iter().all(|p| !alive(*p))).await;
    let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(ok, "{what}: still alive after {within:?}: {left:?}");
}

/// Writes an executable script named `name` into `dir`.
pub fn script(dir: &std::path::Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    write_by_child(&path, body.as_bytes(), 0o755);
    path
}

/// Writes `body` to `path` with permissions `mode`, through a short-lived
/// `sh` rather than from this process: a descriptor this process opened
/// for writing can be inherited by a child another test forks at that
/// moment, and while that child holds it, executing the file fails with
/// `ETXTBSY`.
pub fn write_by_child(path: &std::path::Path, body: &[u8], mode: u32) {
    use std::io::Write;
    let mut sh = std::process::Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod \"$2\" \"$1\"", "sh"])
        .arg(path)
        .arg(format!("{mode:o}"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("start sh to write a file");
    sh.stdin
        .take()
        .expect("piped stdin")
        .write_all(body)
        .expect("write the file's body");
    let status = sh.wait().expect("wait for sh");
    assert!(
        status.success(),
        "writing {} failed: {status}",
        path.display()
    );
}

/// The pids written one per line (or space-separated) into `path`.
pub fn pids_in(path: &std::path::Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// Waits (yielding) until `path` holds at least `n` pids and returns them.
pub async fn wait_for_pids_within(path: &std::path::Path, n: usize, within: Duration) -> Vec<u32> {
    let ok = wait_until_async(within, || pids_in(path).len() >= n).await;
    assert!(ok, "{} never listed {n} pids", path.display());
    pids_in(path)
}

/// How many processes of a batch run at once, seen by the processes
/// themselves: each runs [`Concurrency::enter`] first and
/// [`Concurrency::leave`] last (shell commands), and the peak is read back.
pub struct Concurrency {
    live: PathBuf,
    peaks: PathBuf,
}

impl Concurrency {
    /// Keeps its files in `dir`.
    pub fn new(dir: &std::path::Path) -> Concurrency {
        let live = dir.join("live");
        std::fs::create_dir(&live).unwrap();
        Concurrency {
            live,
            peaks: dir.join("peaks"),
        }
    }

    /// Shell lines: this process is alive; record how many are.
    pub fn enter(&self) -> String {
        let (live, peaks) = (self.live.display(), self.peaks.display());
        format!("touch {live}/$$\nls {live} | wc -l >> {peaks}\n")
    }

    /// A shell command: this process is done.
    pub fn leave(&self) -> String {
        format!("rm {}/$$", self.live.display())
    }

    /// The most processes any of them saw alive at once.
    pub fn peak(&self) -> u32 {
        std::fs::read_to_string(&self.peaks)
            .unwrap()
            .lines()
            .filter_map(|l| l.trim().parse::<u32>().ok())
            .max()
            .unwrap()
    }
}

/// How long a scenario test's "eventually" check may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Asserts that every pid is gone (or a zombie) within [`DEADLINE`].
pub async fn assert_gone(pids: &[u32], what: &str) {
    assert_gone_within(pids, DEADLINE, what).await
}

/// Waits until `path` holds at least `n` pids and returns them.
pub async fn wait_for_pids(path: &std::path::Path, n: usize) -> Vec<u32> {
    wait_for_pids_within(path, n, DEADLINE).await
}

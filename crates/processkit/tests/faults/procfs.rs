//! Looking at processes from outside, through `/proc`.

use std::time::{Duration, Instant};

use super::*;

/// A process identified by pid and start time, so a recycled pid is never
/// mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pid {
    pub(super) pid: u32,
    pub(super) start: u64,
}

pub(super) fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

impl Pid {
    pub(super) fn of(pid: u32) -> Option<Pid> {
        let f = stat_fields(pid)?;
        Some(Pid {
            pid,
            start: f.get(19)?.parse().ok()?,
        })
    }

    /// Still running: exists, same start time, not a zombie.
    pub(super) fn alive(&self) -> bool {
        match stat_fields(self.pid) {
            Some(f) => {
                f.get(19).and_then(|s| s.parse().ok()) == Some(self.start)
                    && !matches!(f[0].as_str(), "Z" | "X")
            }
            None => false,
        }
    }

    /// Stopped by a signal.
    pub(super) fn stopped(&self) -> bool {
        stat_fields(self.pid).is_some_and(|f| f[0] == "T")
    }
}

pub(super) fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
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

pub(super) fn cmdline(pid: u32) -> Vec<String> {
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
pub(super) fn guardians_of(host: u32) -> Vec<Pid> {
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

pub(super) fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status();
}

/// Kills whatever is left if an assertion fails halfway.
pub(super) struct Cleanup(pub(super) Vec<Pid>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            if p.alive() || p.stopped() {
                signal(p.pid, "-KILL");
            }
        }
    }
}

pub(super) fn assert_gone(pids: &[Pid], what: &str) {
    let ok = wait_until(BOUND, || pids.iter().all(|p| !p.alive()));
    let left: Vec<u32> = pids.iter().filter(|p| p.alive()).map(|p| p.pid).collect();
    assert!(ok, "{what}: still running after {BOUND:?}: {left:?}");
}

//! Looking at processes from outside, through `/proc`.

use std::time::{Duration, Instant};

/// A process identified by pid *and* start time, so a recycled pid is never
/// mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// The live process `pid` (its start time read now).
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

    pub(super) fn session(&self) -> Option<u32> {
        stat_fields(self.pid)?.get(3)?.parse().ok()
    }
}

/// Polls until `cond` holds or `within` passes; returns whether it held.
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

/// `/proc/<pid>/cmdline`, split at NULs.
pub(super) fn cmdline(pid: u32) -> Vec<String> {
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
pub(super) fn guardians() -> Vec<(u32, u32)> {
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
pub(super) fn guardian_of(host: u32) -> Option<u32> {
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
pub(super) fn fd_links(pid: u32) -> Vec<(u32, String)> {
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
pub(super) struct Cleanup(pub(super) Vec<Pid>);

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

//! Looking at processes from outside, through `/proc`.

use std::time::Duration;

pub(super) use super::common::{Pid, guardians, wait_until};

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

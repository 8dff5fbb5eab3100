//! Looking at processes from outside, through `/proc`.

use super::*;

pub(super) use super::common::{Pid, cmdline, stat_fields, wait_until};

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

//! Looking at processes from outside, through `/proc`.

use super::*;

pub(super) use super::common::{Pid, stat_fields, wait_until};

/// Live (not stopped) guardians of `host` (see [`super::common::guardians`]).
pub(super) fn guardians_of(host: u32) -> Vec<Pid> {
    super::common::guardians()
        .into_iter()
        .filter(|&(_, h)| h == host)
        .filter_map(|(g, _)| Pid::of(g))
        .filter(Pid::alive)
        .collect()
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

//! Escaped descendants: killed, reported, and failing the run with `--fail-on-leak`.

use super::*;

/// Whether the tool's runs on this host catch descendants that call `setsid`.
fn contains_setsid() -> bool {
    processkit::Mechanism::current().contains_setsid()
}

/// Kills a process this test let escape (on a mechanism that cannot hold
/// it), after checking it is still the one the test started.
fn kill_escaped(pid: u32, program: &str) {
    use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
    // The pidfd is opened first and the name checked after: a signal through
    // it can only reach the process that was checked, never a reused pid.
    let Some(fd) = Pid::from_raw(pid as i32).and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok())
    else {
        return;
    };
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if alive(pid) && comm.trim_end() == program {
        let _ = pidfd_send_signal(&fd, Signal::KILL);
    }
}

#[test]
fn setsid_grandchild_and_double_forked_daemon_are_killed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("setsid");
    let b = dir.path().join("daemon");
    // Their stdio goes to /dev/null, so a survivor cannot hold the test's
    // pipes open. The command waits (bounded) until the setsid child has
    // its own session and runs `sleep`: a leak check that comes before
    // `setsid` ran would rightly find it still in the group.
    let script = format!(
        "setsid sleep 301 </dev/null >/dev/null 2>&1 & p=$!; echo $p > {a}; n=0; \
         until [ \"$(cut -d' ' -f6 /proc/$p/stat)\" = $p ] && [ \"$(cat /proc/$p/comm)\" = sleep ] \
         || [ $n -ge 1000 ]; do sleep 0.01; n=$((n + 1)); done; \
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

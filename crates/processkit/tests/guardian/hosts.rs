//! Starting a host (this binary re-executed in a role), having it build
//! trees of escapees, and checking that they are gone.

use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

pub(super) use super::rerun::Host;

/// How a host picks its containment mechanism.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Backend {
    /// The host's best (cgroup v2 here).
    Best,
    /// `PROCESSKIT_MECHANISM=process-group`.
    ProcessGroups,
}

pub(super) fn start_host(role: &str, backend: Backend, env: &[(&str, &str)]) -> Host {
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
    cmd.env_remove("PROCESSKIT_MECHANISM")
        .env_remove("PROCESSKIT_SPAWNER");
    if backend == Backend::ProcessGroups {
        cmd.env("PROCESSKIT_MECHANISM", "process-group");
    }
    ROLES.start(cmd, role, ROLES.scratch(), env)
}

/// The escape matrix, one long-lived `sleep 300` per technique, each
/// writing its pid into `<dir>/<technique>.pid`.
pub(super) fn tree_script(dir: &Path) -> String {
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

pub(super) const TECHNIQUES: [&str; 5] = ["setsid", "doublefork", "nohup", "nested-setsid", "main"];
/// The techniques that leave a POSIX process group.
pub(super) const SETSID: [&str; 2] = ["setsid", "nested-setsid"];

/// Reads `<dir>/<technique>.pid` once it holds a whole line.
pub(super) fn read_pid_file(path: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    if !text.ends_with('\n') {
        return None;
    }
    text.trim().parse().ok()
}

/// One escapee: where it was started (`group` or `oneshot`), its
/// technique, and the process.
pub(super) type Escapee = (String, &'static str, Pid);

/// The escapees of one host.
pub(super) fn collect_tree(host: &Host) -> Vec<Escapee> {
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
pub(super) enum Death {
    Sigkill,
    Abort,
    Exit,
}

/// Builds both trees in a host, ends the host as `death` says, and returns
/// the escapees with the instant the host was seen dead.
pub(super) fn run_tree_host(
    backend: Backend,
    death: Death,
) -> Option<(Vec<Escapee>, Instant, Cleanup)> {
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
        host.finish();
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
            host.finish()
        }
        Death::Abort => {
            host.tell("abort");
            host.finish()
        }
        Death::Exit => {
            host.tell("exit");
            host.finish()
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
pub(super) fn assert_gone_in_bound(tree: &[Escapee], dead_at: Instant, what: &str) {
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

pub(super) fn check_cgroup_host(death: Death) {
    let Some((tree, dead_at, _cleanup)) = run_tree_host(Backend::Best, death) else {
        return;
    };
    assert_gone_in_bound(&tree, dead_at, &format!("cgroup host, {death:?}"));
}

pub(super) fn check_process_group_host(death: Death) {
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

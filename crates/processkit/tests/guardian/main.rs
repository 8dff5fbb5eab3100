//! The guardian: no descendant outlives its host process, even when the host
//! dies without running a single destructor (SIGKILL, `abort`,
//! `std::process::exit` with live handles).
//!
//! Every test drives a separate *host*: this test binary run again with
//! `--exact helper_host` and a role (see [`ROLES`]). The host builds process
//! trees with every escape technique, reports the pids, and is then killed
//! or ends itself; the test checks from the outside, through `/proc`, that
//! every descendant is gone within the bound.
#![cfg(target_os = "linux")]

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// The hosts: which part the re-executed binary plays, the scratch
/// directory it writes pid files into, the prefix of its report lines.
const ROLES: rerun::Roles = rerun::Roles {
    role_var: "PROCESSKIT_GUARDIAN_TEST_ROLE",
    dir_var: "PROCESSKIT_GUARDIAN_TEST_DIR",
    tag: "guardian-test:",
    host_test: "helper_host",
    report: REPORT,
    scratch_prefix: "pk-guardian-",
};
/// The bound within which a dead host's descendants must be gone.
const BOUND: Duration = Duration::from_secs(1);
/// How long a host may take to report (generous: the machine may be busy).
const REPORT: Duration = Duration::from_secs(30);

#[path = "../common/mod.rs"]
mod common;
mod host_side;
mod hosts;
mod procfs;
#[path = "../common/rerun.rs"]
mod rerun;

use hosts::*;
use procfs::*;

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
            let status = host.finish();
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
    assert!(host.finish().success());
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
    assert!(host.finish().success());
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
    assert!(host.finish().success());
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
    assert!(host.finish().success());
}

#[test]
fn disable_guardian_after_it_started_keeps_it_running() {
    let mut host = start_host("disable-late", Backend::Best, &[]);
    assert_eq!(host.expect("disabled"), "false");
    assert_eq!(host.expect("after"), "Guardian");
    assert_eq!(host.expect("running-after"), "1");
    assert!(host.finish().success());
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
        host.finish();
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

// ---------------------------------------------------------- host side ---

/// The host: does nothing unless a role is set (then it is a re-executed
/// copy of this binary, started by one of the tests above).
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn helper_host() {
    ROLES.serve(|role, dir| async move { host_side::host_main(&role, &dir).await });
}

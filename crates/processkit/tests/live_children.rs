//! A thousand live children in one group, then teardown: nothing may be
//! left behind. Checked from the outside after the group and every handle
//! are dropped: this process's open descriptors (`/proc/self/fd`), its
//! threads (`/proc/self/task`), and its children (`/proc/*/stat`), none of
//! which may be a zombie or a leftover helper. While the children live, the
//! thread count must not grow with them.
//!
//! Runs on every mechanism (`PROCESSKIT_MECHANISM` picks one; the nonroot
//! lane runs it as an unprivileged user). Needs about one descriptor per
//! child: the soft `RLIMIT_NOFILE` (and `RLIMIT_NPROC`) is raised to the hard
//! limit first, which any user may do.

#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{alive, wait_until};
use processkit::{Command, Destination, ProcessGroup, Stdin};

const CHILDREN: usize = 1000;

/// The open descriptors of this process.
fn fds() -> BTreeSet<String> {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// This process's descriptors with what each one refers to (a pipe's or
/// socket's target names its inode).
fn fd_targets() -> BTreeSet<(String, String)> {
    fds()
        .into_iter()
        .filter_map(|fd| {
            let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
            Some((fd, target.display().to_string()))
        })
        .collect()
}

/// The descriptors in `now` that are not in `before`, with their targets.
fn new_fds(before: &BTreeSet<String>, now: &BTreeSet<String>) -> Vec<String> {
    now.difference(before)
        .map(|fd| {
            let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "(closed meanwhile)".into());
            format!("{fd} -> {target}")
        })
        .collect()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

/// Every child of this process: (pid, state letter, command name).
fn children() -> Vec<(u32, char, String)> {
    let me = std::process::id();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid: u32 = rest.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if ppid == me {
            out.push((pid, state, stat[open + 1..close].to_owned()));
        }
    }
    out
}

/// Raises the soft limit of `res` to the hard limit, and checks that it
/// reaches `need`.
fn raise(res: rustix::process::Resource, need: u64, name: &str) {
    use rustix::process::{getrlimit, setrlimit};
    let mut lim = getrlimit(res);
    if lim.current.is_some_and(|c| c < need) {
        lim.current = lim.maximum;
        setrlimit(res, lim).unwrap_or_else(|e| panic!("raising {name}: {e}"));
    }
    let now = getrlimit(res);
    assert!(
        now.current.is_none_or(|c| c >= need),
        "{name} is {:?} (hard {:?}); this test needs at least {need}",
        now.current,
        now.maximum
    );
}

#[test]
fn a_thousand_live_children_leave_no_fd_thread_or_zombie() {
    use rustix::process::Resource;
    // Room for a few descriptors per child whatever the mechanism, and for
    // a helper process per child on the subreaper mechanism.
    raise(Resource::Nofile, 4 * CHILDREN as u64 + 256, "RLIMIT_NOFILE");
    raise(Resource::Nproc, 2 * CHILDREN as u64 + 256, "RLIMIT_NPROC");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // Idle blocking-pool threads go away quickly, so the thread count
        // settles back to the baseline within the deadline below.
        .thread_keep_alive(Duration::from_millis(50))
        .build()
        .expect("runtime");
    let sleep = Command::new("sleep")
        .arg("60")
        .stdin(Stdin::null())
        .stdout(Destination::null())
        .stderr(Destination::null());

    // Warm up what the library starts once per process (the guardian, the
    // one background thread that finishes teardowns, and on the subreaper
    // mechanism the helper factory, started by the second spawn), so that
    // the baseline includes it: children killed by dropping their group, as
    // below.
    let warm: Vec<u32> = rt.block_on(async {
        let g = ProcessGroup::new().expect("group");
        let mut pids = Vec::new();
        for _ in 0..2 {
            let r = g.start(&sleep).await.expect("start sleep");
            pids.push(r.pid().expect("a pid"));
            drop(r);
        }
        drop(g);
        pids
    });
    assert!(
        wait_until(Duration::from_secs(10), || {
            let now = children();
            now.iter().all(|(_, s, _)| *s != 'Z') && now.iter().all(|c| !warm.contains(&c.0))
        }),
        "the warm-up child is left: {:?}",
        children()
    );
    let fds_before = fds();
    let targets_before = fd_targets();
    let threads_before = threads();
    let children_before: BTreeSet<u32> = children().into_iter().map(|c| c.0).collect();
    let mechanism = processkit::Mechanism::current();

    let pids = rt.block_on(async {
        let group = ProcessGroup::new().expect("group");
        let mut runs = Vec::with_capacity(CHILDREN);
        for i in 0..CHILDREN {
            let run = group
                .start(&sleep)
                .await
                .unwrap_or_else(|e| panic!("starting child {i} on {mechanism}: {e}"));
            runs.push(run);
        }
        let pids: Vec<u32> = runs.iter().map(|r| r.pid().expect("a pid")).collect();
        let live = pids.iter().filter(|p| alive(**p)).count();
        assert_eq!(live, CHILDREN, "every child is alive at once");
        let during = threads();
        assert!(
            during < threads_before + 8,
            "{during} threads with {CHILDREN} live children against {threads_before} before: \
             a thread per child?"
        );
        // Teardown: dropping the handles and the group kills every tree.
        drop(runs);
        drop(group);
        pids
    });

    assert!(
        wait_until(Duration::from_secs(30), || pids.iter().all(|p| !alive(*p))),
        "children still alive after teardown on {mechanism}: {:?}",
        pids.iter()
            .filter(|p| alive(**p))
            .take(10)
            .collect::<Vec<_>>()
    );
    // Every child must also be reaped (no zombie), every helper gone, and
    // every descriptor and thread given back.
    let clean = || {
        let now: BTreeSet<u32> = children().into_iter().map(|c| c.0).collect();
        // No descriptor that was not there before (a descriptor of the
        // baseline that the library closed meanwhile, such as a replaced
        // guardian's pipe, is not a leak): compared with their targets, so
        // a new one that took a closed one's number still counts.
        now.is_subset(&children_before)
            && fd_targets().is_subset(&targets_before)
            && threads() <= threads_before
    };
    let ok = wait_until(Duration::from_secs(30), clean);
    let left: Vec<_> = children()
        .into_iter()
        .filter(|c| !children_before.contains(&c.0))
        .take(10)
        .collect();
    assert!(
        ok,
        "after teardown on {mechanism}: new children {left:?} (a 'Z' is a zombie); \
         new fds {:?}; threads {} (before {threads_before})",
        new_fds(&fds_before, &fds())
            .iter()
            .take(10)
            .collect::<Vec<_>>(),
        threads()
    );
    drop(rt);
}

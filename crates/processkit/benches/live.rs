//! Many live children at once, and the teardown of a big tree.
//!
//! * `live`: 1,000 children (`sleep 60`, stdio from and to `/dev/null`)
//!   alive at the same time in one processkit group, against the same
//!   1,000 children started with `tokio::process` (`kill_on_drop`). For
//!   each contender it reports what the parent holds per live child: file
//!   descriptors (`/proc/self/fd`), threads (`/proc/self/task`) and resident
//!   memory (`VmRSS`), then the time from "kill everything" until every
//!   child is reaped (processkit: `ProcessGroup::kill` and every
//!   `RunningProcess::wait`; tokio: `start_kill` and every `wait`).
//! * `tree`: a 201-process tree (`sh` and 200 `sleep 60` it started in the
//!   background) in one group; the time from `ProcessGroup::kill` until
//!   `members()` is empty.
//!
//! `PK_BENCH_LIVE=N` changes the number of children (default 1000). The
//! soft `RLIMIT_NOFILE` is raised to the hard limit first, since both
//! contenders need at least one descriptor per child.

#[cfg(target_os = "linux")]
mod common;

#[cfg(target_os = "linux")]
fn main() {
    use common::*;
    use std::time::{Duration, Instant};

    let ballast = Ballast::from_env();
    raise_nofile();
    let rt = current_thread();
    let n: usize = std::env::var("PK_BENCH_LIVE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);

    // A re-executed copy measures one contender alone, in a fresh process,
    // so that neither inherits the heap the other freed.
    if let Ok(role) = std::env::var(ROLE) {
        let f = match role.as_str() {
            "processkit" => rt.block_on(processkit_live(n)),
            _ => rt.block_on(tokio_live(n)),
        };
        println!(
            "{} {} {} {} {}",
            f.fds,
            f.threads,
            f.rss_kib,
            f.start.as_nanos(),
            f.teardown.as_nanos()
        );
        return;
    }
    preamble("live", &ballast);

    if selected("live") {
        let rounds = rounds(3);
        let mut pk: Vec<Footprint> = Vec::new();
        let mut tk: Vec<Footprint> = Vec::new();
        for round in 0..rounds {
            for k in 0..2 {
                if (k + round) % 2 == 0 {
                    pk.push(in_fresh_process("processkit", n));
                } else {
                    tk.push(in_fresh_process("tokio", n));
                }
            }
        }
        let (p, t) = (Footprint::median(&mut pk), Footprint::median(&mut tk));
        println!();
        println!(
            "### {n} live `sleep 60` children in one group, parent {} MiB",
            ballast.mib()
        );
        println!();
        println!(
            "{rounds} rounds per contender, alternating; medians. Load average before: {}",
            loadavg()
        );
        println!();
        println!(
            "Handle size: `RunningProcess` {} bytes, tokio `Child` {} bytes.",
            std::mem::size_of::<processkit::RunningProcess>(),
            std::mem::size_of::<tokio::process::Child>()
        );
        println!();
        println!(
            "| contender | fds per child | threads added | RSS per child | start all | teardown of all |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        for (name, f) in [("processkit group", &p), ("tokio kill_on_drop", &t)] {
            println!(
                "| {name} | {:.3} | {} | {:.1} KiB | {} | {} |",
                f.fds as f64 / n as f64,
                f.threads,
                f.rss_kib as f64 / n as f64,
                fmt_time(f.start.as_secs_f64()),
                fmt_time(f.teardown.as_secs_f64()),
            );
        }
        println!();
        let fd_limit = t.fds as f64 / n as f64 + 1.0;
        report(
            "fds per child ≤ tokio's + 1",
            format!("{:.3} (limit {fd_limit:.3})", p.fds as f64 / n as f64),
            p.fds as f64 / n as f64 <= fd_limit,
        );
        // "No thread per child": a handful of helper threads is fine, one
        // per child (or anything growing with the count) is not.
        report(
            "no thread per child",
            format!("{} threads added for {n} children", p.threads),
            p.threads < (n as i64 / 10).max(8),
        );
        let rss_ratio = p.rss_kib as f64 / (t.rss_kib as f64).max(1.0);
        report(
            "parent RSS per child ≤ 1.5× tokio's",
            format!(
                "{:.1} KiB ÷ {:.1} KiB = {rss_ratio:.2}",
                p.rss_kib as f64 / n as f64,
                t.rss_kib as f64 / n as f64
            ),
            rss_ratio <= 1.5,
        );
        report(
            "teardown of all ≤ 100 ms",
            fmt_time(p.teardown.as_secs_f64()),
            p.teardown <= Duration::from_millis(100),
        );
    }

    if selected("tree") {
        const SLEEPERS: usize = 200;
        let mut times = Vec::new();
        for _ in 0..rounds(9) {
            times.push(rt.block_on(async {
                let group = processkit::ProcessGroup::new().expect("group");
                let script = format!("for i in $(seq {SLEEPERS}); do sleep 60 & done; wait");
                let mut run = group
                    .start(
                        &processkit::Command::new("sh")
                            .args(["-c", &script])
                            .stdin(processkit::Stdin::null())
                            .stdout(processkit::Destination::null())
                            .stderr(processkit::Destination::null()),
                    )
                    .await
                    .expect("start sh");
                let deadline = Instant::now() + Duration::from_secs(30);
                while group.members().expect("members").len() < SLEEPERS + 1 {
                    assert!(
                        Instant::now() < deadline,
                        "the tree never grew to {}",
                        SLEEPERS + 1
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let t = Instant::now();
                group.kill().expect("kill");
                // Poll with short blocking naps: a hot loop would take a
                // core from the dying processes on a small machine.
                while !group.members().expect("members").is_empty() {
                    assert!(
                        Instant::now() < deadline + Duration::from_secs(30),
                        "the tree never died"
                    );
                    std::thread::sleep(Duration::from_micros(100));
                }
                let took = t.elapsed();
                assert_eq!(run.wait().await.expect("wait"), None);
                took
            }));
        }
        times.sort();
        let median = times[times.len() / 2];
        println!();
        println!(
            "### kill of a {}-process tree until `members()` is empty",
            SLEEPERS + 1
        );
        println!();
        println!(
            "{} runs; median {}, min {}, max {}; load average {}",
            times.len(),
            fmt_time(median.as_secs_f64()),
            fmt_time(times[0].as_secs_f64()),
            fmt_time(times[times.len() - 1].as_secs_f64()),
            loadavg()
        );
        println!();
        report(
            "kill of a 201-process tree ≤ 8 ms",
            fmt_time(median.as_secs_f64()),
            median <= Duration::from_millis(8),
        );
    }
}

/// What the parent held for its live children, and how long they took to
/// start and to tear down.
#[cfg(target_os = "linux")]
#[derive(Clone, Copy)]
struct Footprint {
    fds: i64,
    threads: i64,
    rss_kib: i64,
    start: std::time::Duration,
    teardown: std::time::Duration,
}

#[cfg(target_os = "linux")]
impl Footprint {
    /// What the parent gained from `before` to `after`, with the timings.
    fn between(
        before: &Snapshot,
        after: &Snapshot,
        start: std::time::Duration,
        teardown: std::time::Duration,
    ) -> Footprint {
        Footprint {
            fds: after.fds - before.fds,
            threads: after.threads - before.threads,
            rss_kib: after.rss_kib - before.rss_kib,
            start,
            teardown,
        }
    }

    /// The median of each field on its own.
    fn median(v: &mut [Footprint]) -> Footprint {
        fn mid<T: Ord + Copy>(mut x: Vec<T>) -> T {
            x.sort();
            x[x.len() / 2]
        }
        Footprint {
            fds: mid(v.iter().map(|f| f.fds).collect()),
            threads: mid(v.iter().map(|f| f.threads).collect()),
            rss_kib: mid(v.iter().map(|f| f.rss_kib).collect()),
            start: mid(v.iter().map(|f| f.start).collect()),
            teardown: mid(v.iter().map(|f| f.teardown).collect()),
        }
    }
}

/// The variable that makes a re-executed copy measure one contender.
#[cfg(target_os = "linux")]
const ROLE: &str = "PK_BENCH_LIVE_ROLE";

/// Runs one contender in a re-executed copy of this binary and reads back
/// its footprint.
#[cfg(target_os = "linux")]
fn in_fresh_process(role: &str, n: usize) -> Footprint {
    use std::time::Duration;
    let out = std::process::Command::new(std::env::current_exe().expect("own path"))
        .env(ROLE, role)
        .env("PK_BENCH_LIVE", n.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("re-executed bench");
    assert!(out.status.success(), "the {role} measurement failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().expect("a result line");
    let v: Vec<i64> = last
        .split_whitespace()
        .map(|x| x.parse().expect("a number"))
        .collect();
    Footprint {
        fds: v[0],
        threads: v[1],
        rss_kib: v[2],
        start: Duration::from_nanos(v[3] as u64),
        teardown: Duration::from_nanos(v[4] as u64),
    }
}

#[cfg(target_os = "linux")]
struct Snapshot {
    fds: i64,
    threads: i64,
    rss_kib: i64,
}

#[cfg(target_os = "linux")]
fn snapshot() -> Snapshot {
    let count = |dir: &str| {
        std::fs::read_dir(dir)
            .map(|d| d.count() as i64)
            .unwrap_or(0)
    };
    let rss_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0);
    Snapshot {
        fds: count("/proc/self/fd"),
        threads: count("/proc/self/task"),
        rss_kib,
    }
}

#[cfg(target_os = "linux")]
async fn processkit_live(n: usize) -> Footprint {
    use std::time::Instant;
    let cmd = processkit::Command::new("sleep")
        .arg("60")
        .stdin(processkit::Stdin::null())
        .stdout(processkit::Destination::null())
        .stderr(processkit::Destination::null());
    // The group itself (its container, the guardian on first use) is not a
    // per-child cost: create it before the baseline.
    let group = processkit::ProcessGroup::new().expect("group");
    let before = snapshot();
    let t = Instant::now();
    let mut runs = Vec::with_capacity(n);
    for _ in 0..n {
        runs.push(group.start(&cmd).await.expect("processkit sleep"));
    }
    let start = t.elapsed();
    let after = snapshot();
    let t = Instant::now();
    group.kill().expect("kill");
    for r in runs.iter_mut() {
        assert_eq!(r.wait().await.expect("wait"), None);
    }
    let teardown = t.elapsed();
    drop(runs);
    drop(group);
    Footprint::between(&before, &after, start, teardown)
}

#[cfg(target_os = "linux")]
async fn tokio_live(n: usize) -> Footprint {
    use std::process::Stdio;
    use std::time::Instant;
    let before = snapshot();
    let t = Instant::now();
    let mut children = Vec::with_capacity(n);
    for _ in 0..n {
        children.push(
            tokio::process::Command::new("sleep")
                .arg("60")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("tokio sleep"),
        );
    }
    let start = t.elapsed();
    let after = snapshot();
    let t = Instant::now();
    for c in children.iter_mut() {
        c.start_kill().expect("kill");
    }
    for c in children.iter_mut() {
        assert!(!c.wait().await.expect("wait").success());
    }
    let teardown = t.elapsed();
    Footprint::between(&before, &after, start, teardown)
}

#[cfg(target_os = "linux")]
fn report(label: &str, measured: String, met: bool) {
    println!(
        "- target {label}: {measured} → {}",
        if met { "MET" } else { "MISSED" }
    );
}

#[cfg(target_os = "linux")]
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit.
#[cfg(target_os = "linux")]
fn raise_nofile() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum {
        lim.current = lim.maximum;
        let _ = setrlimit(Resource::Nofile, lim);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {}

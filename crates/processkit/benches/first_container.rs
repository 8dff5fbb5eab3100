//! The one-time cost of a program's first container, with and without the
//! guardian, side by side in one run.
//!
//! The first `ProcessGroup::new()` of a process finds the mechanism and, on
//! Unix, starts the guardian (a vfork-style spawn of `/bin/sh`); every later
//! container pays neither. So each sample is a fresh process: this binary
//! re-executes itself, creates one group, and reports how long
//! `ProcessGroup::new()` took. The two cases (guardian on, and
//! `PROCESSKIT_NO_GUARDIAN=1`) are interleaved so both see the same machine.
//!
//! `cargo bench -p processkit --bench first_container`;
//! `PK_BENCH_SCALE=F` scales the number of samples (default 41).

#[cfg(unix)]
mod common;

/// Set in a re-executed copy: create one group and print the microseconds.
#[cfg(unix)]
const ROLE: &str = "PK_BENCH_FIRST_CONTAINER_ROLE";

#[cfg(unix)]
fn main() {
    use std::time::Instant;

    if std::env::var_os(ROLE).is_some() {
        let rt = common::current_thread();
        rt.block_on(async {
            let t = Instant::now();
            let group = processkit::ProcessGroup::new().expect("ProcessGroup::new");
            println!("{}", t.elapsed().as_micros());
            drop(group);
        });
        return;
    }

    let runs = common::rounds(41);
    let (mut with, mut without) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        with.push(sample(false));
        without.push(sample(true));
    }
    with.sort_unstable();
    without.sort_unstable();
    let pct = |v: &[u64], p: usize| v[(v.len() - 1) * p / 100];
    println!("first ProcessGroup::new() in a fresh process ({runs} samples each):");
    for (name, v) in [
        ("with the guardian", &with),
        ("PROCESSKIT_NO_GUARDIAN=1", &without),
    ] {
        println!(
            "  {name:<26} median {:>6} us   p10 {:>6} us   p90 {:>6} us",
            pct(v, 50),
            pct(v, 10),
            pct(v, 90)
        );
    }
    println!(
        "  the guardian's start costs {:+} us at the median",
        pct(&with, 50) as i64 - pct(&without, 50) as i64
    );
}

/// One fresh process's first-container time, in microseconds.
#[cfg(unix)]
fn sample(no_guardian: bool) -> u64 {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = std::process::Command::new(exe);
    cmd.env(ROLE, "1").stderr(std::process::Stdio::inherit());
    if no_guardian {
        cmd.env("PROCESSKIT_NO_GUARDIAN", "1");
    } else {
        cmd.env_remove("PROCESSKIT_NO_GUARDIAN");
    }
    let out = cmd.output().expect("re-run this benchmark");
    assert!(
        out.status.success(),
        "the measuring copy failed: {}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("microseconds")
}

#[cfg(not(unix))]
fn main() {
    println!("first_container: the guardian exists only on Unix; nothing to measure");
}

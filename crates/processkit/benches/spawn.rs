//! Spawn and wait for `true`: processkit against tokio::process and
//! std::process, interleaved in one run (see `common/mod.rs`).
//!
//! Like with like: processkit's `exit_code()` and `output_bytes()` pipe and
//! drain stdout and stderr (stdin is /dev/null), exactly what tokio's and
//! std's `output()` do, so `tokio output` is the baseline for the target.
//! `status()` (inherited stdio, two pipes fewer) is shown as a floor.
//!
//! Cases (filter with `cargo bench -p processkit --bench spawn -- <case>`):
//!
//! * `busy`: back-to-back spawns;
//! * `idle`: each spawn after a 30 ms pause (only the spawn is timed), the
//!   pattern of a program that runs a command now and then;
//! * `fork`: with a big parent only, what a forking spawner costs;
//! * `subreaper` (Linux): a group on the child-subreaper mechanism against
//!   one on process groups and against tokio.
//!
//! `PK_BENCH_PARENT_MIB=4096 cargo bench -p processkit --bench spawn` runs
//! the same from a parent holding 4 GiB of touched memory.

#[cfg(unix)]
mod common;

#[cfg(unix)]
fn main() {
    use common::*;
    use std::time::Instant;

    let ballast = Ballast::from_env();
    preamble("spawn", &ballast);
    let rt = current_thread();
    let big = ballast.mib() >= 1024;

    if selected("busy") {
        let pk = processkit::Command::new("true");
        let contenders = vec![
            Contender::new("processkit exit_code", || pk_exit_code(&rt, &pk)),
            Contender::new("processkit output_bytes", || {
                rt.block_on(async {
                    let t = Instant::now();
                    let r = pk.output_bytes().await.expect("processkit true");
                    assert_eq!(r.code(), Some(0));
                    t.elapsed()
                })
            }),
            Contender::new("tokio output", || tokio_output(&rt)),
            Contender::new("tokio status", || tokio_status(&rt)),
            Contender::new("std output", std_output),
            Contender::new("std status", std_status),
        ];
        let targets = [Target {
            num: "processkit exit_code",
            den: "tokio output",
            max_ratio: 1.00,
            label: if big {
                "big-parent spawn ≤ 1.00× tokio"
            } else {
                "spawn ≤ 1.00× tokio"
            },
        }];
        measure(
            &format!(
                "spawn + wait `true`, back to back, parent {} MiB",
                ballast.mib()
            ),
            Plan {
                warmup: 20,
                rounds: rounds(150),
                per_round: 5,
            },
            contenders,
            &["tokio output", "tokio status", "std output"],
            &targets,
            None,
        );
    }

    // The same spawn when the process was idle for a while before it: what a
    // program that runs a command now and then sees. Only the spawn itself
    // is timed, not the pause.
    if selected("idle") {
        let pause = std::time::Duration::from_millis(30);
        let pk = processkit::Command::new("true");
        let contenders = vec![
            Contender::new("processkit exit_code", || {
                std::thread::sleep(pause);
                pk_exit_code(&rt, &pk)
            }),
            Contender::new("tokio output", || {
                std::thread::sleep(pause);
                tokio_output(&rt)
            }),
            Contender::new("std output", || {
                std::thread::sleep(pause);
                std_output()
            }),
        ];
        let targets = [Target {
            num: "processkit exit_code",
            den: "tokio output",
            max_ratio: 1.05,
            label: if big {
                "big-parent spawn after idle ≤ 1.05× tokio"
            } else {
                "spawn after idle ≤ 1.05× tokio"
            },
        }];
        measure(
            &format!(
                "spawn + wait `true` after 30 ms idle, parent {} MiB",
                ballast.mib()
            ),
            Plan {
                warmup: 1,
                rounds: rounds(6),
                per_round: 3,
            },
            contenders,
            &["tokio output", "std output"],
            &targets,
            None,
        );
    }

    // The child-subreaper mechanism (hosts without a writable cgroup): each
    // child starts below its own helper, a re-execution of this binary, so a
    // spawn costs one more `execve` (of a larger program than `true`).
    #[cfg(target_os = "linux")]
    if selected("subreaper") {
        use processkit::{Mechanism, ProcessGroup, ProcessGroupOptions};
        let group = |m: Mechanism| {
            ProcessGroup::with_options(ProcessGroupOptions::default().mechanism(m))
                .expect("mechanism available")
        };
        let (sr, pg) = (group(Mechanism::Subreaper), group(Mechanism::ProcessGroup));
        let pk = processkit::Command::new("true");
        let start_wait = |g: &ProcessGroup| {
            rt.block_on(async {
                let t = Instant::now();
                let code = g
                    .start(&pk)
                    .await
                    .expect("processkit true")
                    .wait()
                    .await
                    .expect("wait");
                assert_eq!(code, Some(0));
                t.elapsed()
            })
        };
        let contenders = vec![
            Contender::new("processkit subreaper", || start_wait(&sr)),
            Contender::new("processkit process group", || start_wait(&pg)),
            Contender::new("tokio status", || tokio_status(&rt)),
        ];
        measure(
            &format!(
                "spawn + wait `true` in a group, subreaper vs process group, parent {} MiB",
                ballast.mib()
            ),
            Plan {
                warmup: 10,
                rounds: rounds(40),
                per_round: 5,
            },
            contenders,
            &["tokio status"],
            &[],
            None,
        );
    }

    // What a fork-based spawner costs from the same parent: std with a
    // (no-op) pre_exec hook loses posix_spawn and forks.
    if big && selected("fork") {
        use std::os::unix::process::CommandExt;
        let contenders = vec![
            Contender::new("std status + pre_exec (fork)", || {
                let mut cmd = std::process::Command::new("true");
                // SAFETY: the hook does nothing, so it is trivially
                // async-signal-safe.
                unsafe { cmd.pre_exec(|| Ok(())) };
                status_of(&mut cmd)
            }),
            Contender::new("std status", std_status),
        ];
        measure(
            &format!("reference: a forking spawn, parent {} MiB", ballast.mib()),
            Plan {
                warmup: 1,
                rounds: rounds(4),
                per_round: 2,
            },
            contenders,
            &["std status"],
            &[],
            None,
        );
    }
}

/// One spawn and wait of `true` per verb, each timed and checked.
#[cfg(unix)]
fn pk_exit_code(rt: &tokio::runtime::Runtime, pk: &processkit::Command) -> std::time::Duration {
    rt.block_on(async {
        let t = std::time::Instant::now();
        let code = pk.exit_code().await.expect("processkit true");
        assert_eq!(code, 0);
        t.elapsed()
    })
}

#[cfg(unix)]
fn tokio_output(rt: &tokio::runtime::Runtime) -> std::time::Duration {
    rt.block_on(async {
        let t = std::time::Instant::now();
        let o = tokio::process::Command::new("true")
            .output()
            .await
            .expect("tokio true");
        assert!(o.status.success());
        t.elapsed()
    })
}

#[cfg(unix)]
fn tokio_status(rt: &tokio::runtime::Runtime) -> std::time::Duration {
    rt.block_on(async {
        let t = std::time::Instant::now();
        let s = tokio::process::Command::new("true")
            .status()
            .await
            .expect("tokio true");
        assert!(s.success());
        t.elapsed()
    })
}

#[cfg(unix)]
fn std_output() -> std::time::Duration {
    let t = std::time::Instant::now();
    let o = std::process::Command::new("true")
        .output()
        .expect("std true");
    assert!(o.status.success());
    t.elapsed()
}

#[cfg(unix)]
fn std_status() -> std::time::Duration {
    status_of(&mut std::process::Command::new("true"))
}

/// `cmd.status()`, timed and checked.
#[cfg(unix)]
fn status_of(cmd: &mut std::process::Command) -> std::time::Duration {
    let t = std::time::Instant::now();
    let s = cmd.status().expect("std true");
    assert!(s.success());
    t.elapsed()
}

#[cfg(not(unix))]
fn main() {}

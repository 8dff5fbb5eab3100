//! A fan-out of 200 concurrent runs of `true` on a multi-thread runtime
//! (two workers), interleaved in one run:
//!
//! * `processkit output_all`: `output_all(200 commands, 200, &JobRunner)`,
//!   the crate's own join (one task polls all 200 runs);
//! * `processkit tokio::spawn`: 200 `tokio::spawn`ed `output_string()` runs;
//! * `tokio tokio::spawn`: 200 `tokio::spawn`ed `tokio::process` `output()`
//!   runs, the baseline for `processkit tokio::spawn`;
//! * `tokio join (one task)`: 200 `tokio::process` `output()` futures
//!   joined on one task, the same shape as `output_all` (every spawn runs
//!   on the one worker that polls the join), so the baseline for it;
//! * `std threads`: 200 `std::process` spawns, then 200 waits (`output()`
//!   on a scoped thread each would be unfair to std: thread start-up
//!   would dominate).
//!
//! `PK_BENCH_PARENT_MIB=4096 cargo bench -p processkit --bench fanout` runs
//! the same from a parent holding 4 GiB of touched memory.

#[cfg(unix)]
mod common;

#[cfg(unix)]
fn main() {
    use common::*;
    use std::time::Instant;

    const N: usize = 200;
    let ballast = Ballast::from_env();
    preamble("fanout", &ballast);
    let rt = multi_thread();
    let big = ballast.mib() >= 1024;

    if selected("fanout") {
        let contenders = vec![
            Contender::new("processkit output_all", || {
                rt.block_on(async {
                    let t = Instant::now();
                    let cmds = (0..N).map(|_| processkit::Command::new("true"));
                    let results = processkit::output_all(cmds, N, &processkit::JobRunner).await;
                    assert!(
                        results
                            .iter()
                            .all(|r| matches!(r, Ok(o) if o.code() == Some(0)))
                    );
                    t.elapsed()
                })
            }),
            Contender::new("processkit tokio::spawn", || {
                rt.block_on(async {
                    let t = Instant::now();
                    let handles: Vec<_> = (0..N)
                        .map(|_| {
                            tokio::spawn(async {
                                processkit::Command::new("true").output_string().await
                            })
                        })
                        .collect();
                    for h in handles {
                        let r = h.await.expect("task").expect("processkit true");
                        assert_eq!(r.code(), Some(0));
                    }
                    t.elapsed()
                })
            }),
            Contender::new("tokio tokio::spawn", || {
                rt.block_on(async {
                    let t = Instant::now();
                    let handles: Vec<_> = (0..N)
                        .map(|_| {
                            tokio::spawn(async {
                                tokio::process::Command::new("true").output().await
                            })
                        })
                        .collect();
                    for h in handles {
                        let o = h.await.expect("task").expect("tokio true");
                        assert!(o.status.success());
                    }
                    t.elapsed()
                })
            }),
            Contender::new("tokio join (one task)", || {
                rt.block_on(async {
                    let t = Instant::now();
                    let futs = (0..N)
                        .map(|_| async { tokio::process::Command::new("true").output().await });
                    for o in join_all(futs).await {
                        assert!(o.expect("tokio true").status.success());
                    }
                    t.elapsed()
                })
            }),
            Contender::new("std spawn all, wait all", || {
                let t = Instant::now();
                let children: Vec<_> = (0..N)
                    .map(|_| {
                        std::process::Command::new("true")
                            .stdout(std::process::Stdio::piped())
                            .stderr(std::process::Stdio::piped())
                            .stdin(std::process::Stdio::null())
                            .spawn()
                            .expect("std true")
                    })
                    .collect();
                for c in children {
                    let o = c.wait_with_output().expect("std wait");
                    assert!(o.status.success());
                }
                t.elapsed()
            }),
        ];
        let limit = 1.05;
        let targets = [
            Target {
                num: "processkit output_all",
                den: "tokio join (one task)",
                max_ratio: limit,
                label: if big {
                    "big-parent fan-out (output_all) ≤ 1.05× tokio"
                } else {
                    "fan-out (output_all) ≤ 1.05× tokio"
                },
            },
            Target {
                num: "processkit tokio::spawn",
                den: "tokio tokio::spawn",
                max_ratio: limit,
                label: if big {
                    "big-parent fan-out (tokio::spawn) ≤ 1.05× tokio"
                } else {
                    "fan-out (tokio::spawn) ≤ 1.05× tokio"
                },
            },
        ];
        measure(
            &format!(
                "fan-out of {N} concurrent `true`, multi-thread runtime, parent {} MiB",
                ballast.mib()
            ),
            Plan {
                warmup: 1,
                rounds: rounds(12),
                per_round: 2,
            },
            contenders,
            &[
                "tokio tokio::spawn",
                "tokio join (one task)",
                "std spawn all, wait all",
            ],
            &targets,
            None,
        );
    }
}

/// Polls every future on the current task until all are done; results in
/// input order (the same strategy as `output_all`'s own join).
#[cfg(unix)]
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut futs: Vec<_> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    let mut left = futs.len();
    std::future::poll_fn(|cx| {
        for (i, f) in futs.iter_mut().enumerate() {
            if out[i].is_none()
                && let Poll::Ready(v) = f.as_mut().poll(cx)
            {
                out[i] = Some(v);
                left -= 1;
            }
        }
        if left == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future completed"))
        .collect()
}

#[cfg(not(unix))]
fn main() {}

//! Capture the output of `echo hello`: processkit's `output_string()`
//! against tokio's and std's `output()` (all three pipe stdout and stderr
//! and read both to the end), interleaved in one run.
//!
//! `PK_BENCH_PARENT_MIB=4096 cargo bench -p processkit --bench capture` runs
//! the same from a parent holding 4 GiB of touched memory.

#[cfg(unix)]
mod common;

#[cfg(unix)]
fn main() {
    use common::*;
    use std::time::Instant;

    let ballast = Ballast::from_env();
    preamble("capture", &ballast);
    let rt = current_thread();
    let big = ballast.mib() >= 1024;

    if selected("capture") {
        let pk = processkit::Command::new("echo").arg("hello");
        let contenders = vec![
            Contender::new("processkit output_string", || {
                rt.block_on(async {
                    let t = Instant::now();
                    let r = pk.output_string().await.expect("processkit echo");
                    assert_eq!(r.stdout(), "hello\n");
                    t.elapsed()
                })
            }),
            Contender::new("tokio output", || {
                rt.block_on(async {
                    let t = Instant::now();
                    let o = tokio::process::Command::new("echo")
                        .arg("hello")
                        .output()
                        .await
                        .expect("tokio echo");
                    let s = String::from_utf8(o.stdout).expect("utf-8");
                    assert_eq!(s, "hello\n");
                    t.elapsed()
                })
            }),
            Contender::new("std output", || {
                let t = Instant::now();
                let o = std::process::Command::new("echo")
                    .arg("hello")
                    .output()
                    .expect("std echo");
                let s = String::from_utf8(o.stdout).expect("utf-8");
                assert_eq!(s, "hello\n");
                t.elapsed()
            }),
        ];
        let targets = [Target {
            num: "processkit output_string",
            den: "tokio output",
            max_ratio: if big { 1.30 } else { 1.10 },
            label: if big {
                "big-parent capture ≤ 1.30× tokio"
            } else {
                "capture ≤ 1.10× tokio"
            },
        }];
        measure(
            &format!("capture `echo hello`, parent {} MiB", ballast.mib()),
            Plan {
                warmup: 20,
                rounds: rounds(150),
                per_round: 5,
            },
            contenders,
            &["tokio output", "std output"],
            &targets,
            None,
        );
    }
}

#[cfg(not(unix))]
fn main() {}

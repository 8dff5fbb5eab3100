//! Stream one million short lines (`seq 1000000`): processkit's
//! `stdout_lines()` against a plain `BufReader::lines()` loop over tokio's
//! `ChildStdout` (and std's, for reference), interleaved in one run. Every
//! contender receives each line as an owned `String`, counts it, then
//! waits for the exit.
//!
//! `PK_BENCH_LINES` changes the count (default 1000000);
//! `PK_BENCH_PARENT_MIB` makes the parent big, as in the other benches.

#[cfg(unix)]
mod common;

#[cfg(unix)]
fn main() {
    use common::*;
    use processkit::StreamExt;
    use std::time::Instant;
    use tokio::io::AsyncBufReadExt;

    let ballast = Ballast::from_env();
    preamble("streaming", &ballast);
    let rt = current_thread();
    let lines: usize = std::env::var("PK_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let n_arg = lines.to_string();

    if selected("streaming") {
        let pk = processkit::Command::new("seq").arg(&n_arg);
        let contenders = vec![
            Contender::new("processkit stdout_lines", || {
                rt.block_on(async {
                    let t = Instant::now();
                    let mut run = pk.start().await.expect("processkit seq");
                    let mut n = 0usize;
                    let mut bytes = 0usize;
                    let mut stream = run.stdout_lines();
                    while let Some(line) = stream.next().await {
                        n += 1;
                        bytes += line.len();
                    }
                    let (code, _) = run.finish_streamed().await.expect("finish");
                    let took = t.elapsed();
                    assert_eq!((n, code), (lines, Some(0)));
                    std::hint::black_box(bytes);
                    took
                })
            }),
            Contender::new("tokio BufReader lines", || {
                rt.block_on(async {
                    let t = Instant::now();
                    let mut child = tokio::process::Command::new("seq")
                        .arg(&n_arg)
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::piped())
                        .stdin(std::process::Stdio::null())
                        .spawn()
                        .expect("tokio seq");
                    let out = child.stdout.take().expect("piped");
                    let mut it = tokio::io::BufReader::new(out).lines();
                    let mut n = 0usize;
                    let mut bytes = 0usize;
                    while let Some(line) = it.next_line().await.expect("read") {
                        n += 1;
                        bytes += line.len();
                    }
                    let status = child.wait().await.expect("wait");
                    let took = t.elapsed();
                    assert_eq!((n, status.code()), (lines, Some(0)));
                    std::hint::black_box(bytes);
                    took
                })
            }),
            Contender::new("std BufReader lines", || {
                use std::io::BufRead;
                let t = Instant::now();
                let mut child = std::process::Command::new("seq")
                    .arg(&n_arg)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .stdin(std::process::Stdio::null())
                    .spawn()
                    .expect("std seq");
                let out = child.stdout.take().expect("piped");
                let mut n = 0usize;
                let mut bytes = 0usize;
                for line in std::io::BufReader::new(out).lines() {
                    n += 1;
                    bytes += line.expect("read").len();
                }
                let status = child.wait().expect("wait");
                let took = t.elapsed();
                assert_eq!((n, status.code()), (lines, Some(0)));
                std::hint::black_box(bytes);
                took
            }),
        ];
        let targets = [Target {
            num: "processkit stdout_lines",
            den: "tokio BufReader lines",
            max_ratio: 1.2,
            label: "streaming ≤ 1.2× tokio",
        }];
        measure(
            &format!(
                "stream {lines} lines of `seq`, parent {} MiB",
                ballast.mib()
            ),
            Plan {
                warmup: 1,
                rounds: rounds(15),
                per_round: 1,
            },
            contenders,
            &["tokio BufReader lines", "std BufReader lines"],
            &targets,
            None,
        );
    }
}

#[cfg(not(unix))]
fn main() {}

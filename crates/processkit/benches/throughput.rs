//! Capture a large stdout (`head -c 512M /dev/zero`): processkit's
//! `output_bytes()` against tokio's and std's `output()`, interleaved in one
//! run. A fourth contender reads the same pipe into one reused 1 MiB buffer
//! and throws the bytes away: the floor set by the pipe and the producer.
//!
//! `PK_BENCH_CAPTURE_MIB` changes the size (default 512);
//! `PK_BENCH_PARENT_MIB` makes the parent big, as in the other benches.

#[cfg(unix)]
mod common;

#[cfg(unix)]
fn main() {
    use common::*;
    use std::io::Read;
    use std::time::Instant;

    let ballast = Ballast::from_env();
    preamble("throughput", &ballast);
    let rt = current_thread();
    let mib: u64 = std::env::var("PK_BENCH_CAPTURE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let bytes = mib << 20;
    let size_arg = format!("{mib}M");
    let size = bytes as usize;

    if selected("throughput") {
        let pk = processkit::Command::new("head").args(["-c", &size_arg, "/dev/zero"]);
        let contenders = vec![
            Contender::new("processkit output_bytes", || {
                rt.block_on(async {
                    let t = Instant::now();
                    let r = pk.output_bytes().await.expect("processkit head");
                    let took = t.elapsed();
                    assert_eq!(r.stdout().len(), size);
                    took
                })
            }),
            Contender::new("tokio output", || {
                rt.block_on(async {
                    let t = Instant::now();
                    let o = tokio::process::Command::new("head")
                        .args(["-c", &size_arg, "/dev/zero"])
                        .output()
                        .await
                        .expect("tokio head");
                    let took = t.elapsed();
                    assert_eq!(o.stdout.len(), size);
                    took
                })
            }),
            Contender::new("std output", || {
                let t = Instant::now();
                let o = std::process::Command::new("head")
                    .args(["-c", &size_arg, "/dev/zero"])
                    .output()
                    .expect("std head");
                let took = t.elapsed();
                assert_eq!(o.stdout.len(), size);
                took
            }),
            Contender::new("std read-and-discard (floor)", || {
                let t = Instant::now();
                let mut child = std::process::Command::new("head")
                    .args(["-c", &size_arg, "/dev/zero"])
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .expect("std head");
                let mut out = child.stdout.take().expect("piped");
                let mut buf = vec![0u8; 1 << 20];
                let mut total = 0;
                loop {
                    match out.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => total += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => panic!("read: {e}"),
                    }
                }
                child.wait().expect("wait");
                let took = t.elapsed();
                assert_eq!(total, size);
                took
            }),
        ];
        let targets = [Target {
            num: "processkit output_bytes",
            den: "tokio output",
            max_ratio: 1.0 / 3.0,
            label: "capture throughput ≥ 3× tokio (time ratio ≤ 0.33)",
        }];
        measure(
            &format!("capture {mib} MiB of stdout, parent {} MiB", ballast.mib()),
            Plan {
                warmup: 1,
                rounds: rounds(7),
                per_round: 1,
            },
            contenders,
            &["tokio output", "std output"],
            &targets,
            Some(bytes),
        );
    }
}

#[cfg(not(unix))]
fn main() {}

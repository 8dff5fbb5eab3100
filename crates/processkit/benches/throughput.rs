//! Capture a large stdout (`head -c 512M /dev/zero`): processkit's
//! `output_bytes()` against tokio's and std's `output()`, interleaved in one
//! run. Two more contenders read the same pipe with blocking reads: one into
//! a reused 1 MiB buffer, throwing the bytes away (the cost of the pipe and
//! the producer alone), and one into a single buffer allocated at the final
//! size up front (the same, plus the page faults of keeping every byte): the
//! floor the target is set against.
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
            // The same producer read with blocking reads straight into one
            // buffer allocated at the final size up front: every byte is
            // kept (so the page faults are paid), but nothing is grown or
            // copied twice. The floor the target is set against.
            Contender::new(FLOOR, || {
                let t = Instant::now();
                let mut child = std::process::Command::new("head")
                    .args(["-c", &size_arg, "/dev/zero"])
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .expect("std head");
                let mut out = child.stdout.take().expect("piped");
                let mut buf: Vec<u8> = Vec::with_capacity(size);
                while buf.len() < buf.capacity() {
                    match rustix::io::read(&out, rustix::buffer::spare_capacity(&mut buf)) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(rustix::io::Errno::INTR) => {}
                        Err(e) => panic!("read: {e}"),
                    }
                }
                // Anything past the expected size would be a bug in `head`.
                let mut rest = [0u8; 1];
                assert_eq!(out.read(&mut rest).expect("read"), 0);
                child.wait().expect("wait");
                let took = t.elapsed();
                assert_eq!(buf.len(), size);
                std::hint::black_box(&buf);
                took
            }),
        ];
        let targets = [Target {
            num: "processkit output_bytes",
            den: FLOOR,
            max_ratio: 1.15,
            label: "capture ≤ 1.15× the preallocated blocking floor",
        }];
        measure(
            &format!("capture {mib} MiB of stdout, parent {} MiB", ballast.mib()),
            Plan {
                warmup: 1,
                rounds: rounds(7),
                per_round: 1,
            },
            contenders,
            &[FLOOR, "tokio output", "std output"],
            &targets,
            Some(bytes),
        );
    }
}

/// The name of the floor contender.
#[cfg(unix)]
const FLOOR: &str = "std blocking read into a preallocated buffer (floor)";

#[cfg(not(unix))]
fn main() {}

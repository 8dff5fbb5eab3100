//! The tool's own cost, measured side by side with the uncontained
//! equivalent in one run, and printed as ratios:
//!
//! - `processkit run -- true` against `true` run directly, and against
//!   `timeout 600 true` (coreutils): the floor of any tool that wraps a
//!   command, one more program start plus a fork, exec and wait;
//! - `processkit batch -j 8` over 1,000 `true` lines against
//!   `xargs -P 8` over the same 1,000 lines.
//!
//! `cargo bench -p processkit-cli --bench cli_overhead`. The results are
//! recorded in `docs/performance.md`. Set `PROCESSKIT_BENCH_RUNS` to change
//! the number of single runs (default 300); `PROCESSKIT_MECHANISM` (passed
//! on to the tool) measures another mechanism. The single runs print their
//! median and their 10th percentile.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_processkit");

fn time(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn");
    let d = t.elapsed();
    assert!(status.success(), "{cmd:?} failed: {status}");
    d
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The 10th percentile: the run least disturbed by the rest of the
/// machine, short of the best one.
fn p10(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 10]
}

fn main() {
    let runs: usize = std::env::var("PROCESSKIT_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let truth = which("true");

    // Single runs, interleaved so all three see the same machine. The
    // coreutils `timeout 600` wrapper is the floor of any wrapping tool:
    // one more program start plus a fork, exec and wait.
    let (mut direct, mut floor, mut contained) = (Vec::new(), Vec::new(), Vec::new());
    let timeout = which("timeout");
    for _ in 0..10 {
        time(Command::new(BIN).args(["run", "--", &truth]));
    }
    for _ in 0..runs {
        direct.push(time(&mut Command::new(&truth)));
        floor.push(time(Command::new(&timeout).args(["600", &truth])));
        contained.push(time(Command::new(BIN).args(["run", "--", &truth])));
    }
    for (what, pick) in [
        ("median", median as fn(&mut [Duration]) -> Duration),
        ("p10", p10),
    ] {
        let (d, f, c) = (pick(&mut direct), pick(&mut floor), pick(&mut contained));
        println!(
            "run -- true ({what} of {runs}): direct {:.3} ms   timeout(1) {:.3} ms ({:+.3})   processkit run {:.3} ms ({:+.3}; {:+.3} over timeout(1))",
            ms(d),
            ms(f),
            ms(f) - ms(d),
            ms(c),
            ms(c) - ms(d),
            ms(c) - ms(f),
        );
    }

    // Batches of 1,000.
    let dir = std::env::temp_dir().join(format!("processkit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let batch = dir.join("true.txt");
    std::fs::write(&batch, format!("{truth}\n").repeat(1000)).unwrap();
    let words = dir.join("words.txt");
    std::fs::write(&words, "x\n".repeat(1000)).unwrap();
    let (mut xargs, mut pk) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let input = std::fs::File::open(&words).unwrap();
        let t = Instant::now();
        let st = Command::new("xargs")
            .args(["-P", "8", "-n", "1", &truth])
            .stdin(input)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        xargs.push(t.elapsed());
        assert!(st.success());
        pk.push(time(
            Command::new(BIN)
                .args(["batch", "-j", "8", "--no-progress"])
                .arg(&batch),
        ));
    }
    let (x, p) = (median(&mut xargs), median(&mut pk));
    println!(
        "1,000 x true -P/-j 8:   xargs {:8.1} ms   processkit batch {:8.1} ms   ratio {:.2}x   (median of 5)",
        ms(x),
        ms(p),
        p.as_secs_f64() / x.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn which(name: &str) -> String {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = std::path::Path::new(dir).join(name);
        if p.is_file() {
            return p.to_string_lossy().into_owned();
        }
    }
    panic!("{name} not on PATH")
}

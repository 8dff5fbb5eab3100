//! The shared measuring harness for processkit's benchmarks.
//!
//! Every benchmark compares processkit with `tokio::process` and
//! `std::process` *in the same run*. The contenders are interleaved: each
//! round runs a short batch of every contender (in a rotating order), so
//! slow drift on a shared machine (another build starting, the CPU clocking
//! down) hits all of them alike. The report gives medians and, more
//! importantly, ratios: the ratio of medians over all samples, and the
//! spread of the per-round ratios as an honest noise bar.
//!
//! Knobs (environment variables):
//!
//! * `PK_BENCH_PARENT_MIB=N`: before measuring, allocate `N` MiB and write
//!   to every page, so the benchmark process is a "big parent". A spawner
//!   that forks pays for copying its page tables; one that uses a
//!   vfork-style `clone` (posix_spawn, processkit) does not.
//! * `PK_BENCH_SCALE=F`: multiplies the number of rounds (default 1.0;
//!   use 0.2 for a smoke run, 3 for a careful one).
//! * A first command-line argument that does not start with `-` filters the
//!   cases by substring (`cargo bench --bench spawn -- 'output'`).

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// The ballast that makes this process a big parent; kept alive for the run.
pub struct Ballast(Vec<u8>);

impl Ballast {
    /// Reads `PK_BENCH_PARENT_MIB`, allocates that much and touches every
    /// page (a write per 4 KiB page, so none is left as a shared zero page).
    pub fn from_env() -> Ballast {
        let mib: usize = std::env::var("PK_BENCH_PARENT_MIB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        // calloc'd memory is not backed until written: write every page.
        let mut v: Vec<u8> = vec![0; mib << 20];
        for i in (0..v.len()).step_by(4096) {
            v[i] = (i >> 12) as u8 | 1;
        }
        std::hint::black_box(&mut v);
        Ballast(v)
    }

    /// The ballast size in MiB.
    pub fn mib(&self) -> usize {
        self.0.len() >> 20
    }
}

/// This process's resident set size in MiB (from `/proc/self/status`).
pub fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| {
                    v.split_whitespace()
                        .next()
                        .and_then(|n| n.parse::<u64>().ok())
                })
        })
        .map(|kib| kib / 1024)
        .unwrap_or(0)
}

/// The number of rounds scaled by `PK_BENCH_SCALE`.
pub fn rounds(default: usize) -> usize {
    let scale: f64 = std::env::var("PK_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    ((default as f64 * scale).round() as usize).max(2)
}

/// The case filter from the command line, if any.
pub fn filter() -> Option<String> {
    std::env::args().skip(1).find(|a| !a.starts_with('-'))
}

/// `true` if the case `name` should run under the command-line filter.
pub fn selected(name: &str) -> bool {
    filter().is_none_or(|f| name.contains(&f))
}

/// A current-thread tokio runtime with I/O and timers.
pub fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A multi-thread tokio runtime (two workers: this machine's core count).
pub fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// One contender: a name and a closure that runs one iteration and returns
/// the time that iteration took.
pub struct Contender<'a> {
    pub name: &'static str,
    pub run: Box<dyn FnMut() -> Duration + 'a>,
}

impl<'a> Contender<'a> {
    pub fn new(name: &'static str, run: impl FnMut() -> Duration + 'a) -> Self {
        Contender {
            name,
            run: Box::new(run),
        }
    }
}

/// A ratio to check: `num` / `den` should be at most `max` (or at least
/// `min` for a throughput-style target, expressed as a time ratio).
pub struct Target {
    pub num: &'static str,
    pub den: &'static str,
    /// The time ratio num/den must be ≤ this.
    pub max_ratio: f64,
    /// How to state the target in the report.
    pub label: &'static str,
}

/// How a case is sampled.
pub struct Plan {
    pub warmup: usize,
    pub rounds: usize,
    pub per_round: usize,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

/// Formats seconds with a sensible unit.
pub fn fmt_time(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// The result of one case.
pub struct Outcome {
    pub names: Vec<&'static str>,
    /// Median seconds per contender.
    pub medians: Vec<f64>,
    pub all_met: bool,
}

/// Runs `contenders` interleaved per `plan`, prints a Markdown table of
/// medians and ratios against `baselines` (contender names), and checks
/// `targets`. `bytes` (if any) adds a throughput column.
pub fn measure(
    title: &str,
    plan: Plan,
    mut contenders: Vec<Contender<'_>>,
    baselines: &[&'static str],
    targets: &[Target],
    bytes: Option<u64>,
) -> Outcome {
    let n = contenders.len();
    for c in contenders.iter_mut() {
        for _ in 0..plan.warmup {
            (c.run)();
        }
    }
    // samples[contender][round] = per-iteration seconds
    let mut samples: Vec<Vec<Vec<f64>>> = vec![Vec::with_capacity(plan.rounds); n];
    let started = Instant::now();
    for round in 0..plan.rounds {
        for k in 0..n {
            let i = (k + round) % n;
            let c = &mut contenders[i];
            let mut batch = Vec::with_capacity(plan.per_round);
            for _ in 0..plan.per_round {
                batch.push((c.run)().as_secs_f64());
            }
            samples[i].push(batch);
        }
    }
    let wall = started.elapsed();
    let names: Vec<&'static str> = contenders.iter().map(|c| c.name).collect();
    let idx = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("no contender {name}"))
    };

    let mut sorted: Vec<Vec<f64>> = samples
        .iter()
        .map(|r| r.iter().flatten().copied().collect())
        .collect();
    let medians: Vec<f64> = sorted.iter_mut().map(|v| median(v)).collect();
    let round_medians: Vec<Vec<f64>> = samples
        .iter()
        .map(|rounds| rounds.iter().map(|b| median(&mut b.clone())).collect())
        .collect();
    let ratio_spread = |a: usize, b: usize| -> (f64, f64) {
        let mut r: Vec<f64> = round_medians[a]
            .iter()
            .zip(&round_medians[b])
            .map(|(x, y)| x / y)
            .collect();
        r.sort_by(|x, y| x.partial_cmp(y).expect("no NaN"));
        (quantile(&r, 0.1), quantile(&r, 0.9))
    };

    println!();
    println!("### {title}");
    println!();
    println!(
        "{} rounds × {} iterations per contender, interleaved; parent RSS {} MiB; wall {:.1} s",
        plan.rounds,
        plan.per_round,
        rss_mib(),
        wall.as_secs_f64()
    );
    println!();
    let mut header = String::from("| contender | median | p10 | p90 |");
    let mut rule = String::from("|---|---:|---:|---:|");
    if bytes.is_some() {
        header.push_str(" throughput |");
        rule.push_str("---:|");
    }
    for b in baselines {
        header.push_str(&format!(" ÷ {b} (round p10–p90) |"));
        rule.push_str("---:|");
    }
    println!("{header}");
    println!("{rule}");
    for i in 0..n {
        let mut row = format!(
            "| {} | {} | {} | {} |",
            names[i],
            fmt_time(medians[i]),
            fmt_time(quantile(&sorted[i], 0.1)),
            fmt_time(quantile(&sorted[i], 0.9))
        );
        if let Some(b) = bytes {
            row.push_str(&format!(
                " {:.2} GiB/s |",
                b as f64 / medians[i] / (1u64 << 30) as f64
            ));
        }
        for b in baselines {
            let j = idx(b);
            if i == j {
                row.push_str(" 1.00 |");
            } else {
                let (lo, hi) = ratio_spread(i, j);
                row.push_str(&format!(
                    " {:.2} ({lo:.2}–{hi:.2}) |",
                    medians[i] / medians[j]
                ));
            }
        }
        println!("{row}");
    }
    let mut all_met = true;
    if !targets.is_empty() {
        println!();
    }
    for t in targets {
        let r = medians[idx(t.num)] / medians[idx(t.den)];
        let met = r <= t.max_ratio;
        all_met &= met;
        println!(
            "- target {}: {} ÷ {} = {:.2} (limit {:.2}) → {}",
            t.label,
            t.num,
            t.den,
            r,
            t.max_ratio,
            if met { "MET" } else { "MISSED" }
        );
    }
    Outcome {
        names,
        medians,
        all_met,
    }
}

/// Prints the header shared by every benchmark binary.
pub fn preamble(bench: &str, ballast: &Ballast) {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "## {bench}: parent ballast {} MiB (RSS {} MiB), kernel {}, {cores} cores, loadavg {}",
        ballast.mib(),
        rss_mib(),
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("mechanism: {}", processkit::Mechanism::current());
}

//! A runaway child cannot take the host's memory: 1 GiB of output under a
//! 1 MiB tail cap. Alone in its binary so that no other test disturbs the
//! resident-set measurement.
#![cfg(target_os = "linux")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use processkit::{CaptureLimit, Command};

const GIB: u64 = 1024 * 1024 * 1024;
const MIB: usize = 1024 * 1024;

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_under_a_one_mib_tail_cap_keeps_exactly_the_last_mib_in_bounded_memory() {
    let dir = common::scratch();
    // The last MiB is random, so "exactly the last MiB" cannot pass by luck.
    let tail: Vec<u8> = (0..MIB).map(|_| fastrand::u8(..)).collect();
    let tail_path = dir.path().join("tail.bin");
    std::fs::write(&tail_path, &tail).unwrap();
    let zeros = GIB - MIB as u64;
    let script = format!("head -c {zeros} /dev/zero; cat {}", tail_path.display());

    let baseline = status_kib("VmRSS:").expect("VmRSS");
    // Reset the peak (VmHWM) to the current RSS, where the kernel allows it.
    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let peak = Arc::new(AtomicU64::new(baseline));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(rss) = status_kib("VmRSS:") {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let r = Command::new("sh")
        .args(["-c", &script])
        .stdout_limit(CaptureLimit::tail(MIB))
        .timeout(Duration::from_secs(300))
        .output_bytes()
        .await
        .unwrap();

    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let mut peak_kib = peak.load(Ordering::Relaxed);
    if hwm_reset && let Some(hwm) = status_kib("VmHWM:") {
        peak_kib = peak_kib.max(hwm);
    }
    let growth_mib = peak_kib.saturating_sub(baseline) as f64 / 1024.0;

    eprintln!("RSS growth while capturing: {growth_mib:.1} MiB (HWM reset: {hwm_reset})");
    assert_eq!(
        r.code(),
        Some(0),
        "{:?}",
        String::from_utf8_lossy(r.stderr())
    );
    assert!(!r.timed_out());
    assert_eq!(r.stdout().len(), MIB);
    assert!(r.stdout() == &tail, "the kept bytes are not the last MiB");
    assert_eq!(r.stdout_dropped(), zeros);
    assert!(r.is_truncated());
    assert!(
        growth_mib < 16.0,
        "RSS grew by {growth_mib:.1} MiB while capturing 1 GiB under a 1 MiB cap"
    );
}

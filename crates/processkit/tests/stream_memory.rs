//! The background stderr drain of a streaming run keeps a bounded tail, so
//! a child that floods stderr while stdout is streamed cannot grow this
//! process's memory. Alone in its own test binary: it reads the process's
//! peak resident size (`VmHWM`), which other tests would disturb.
#![cfg(target_os = "linux")]

use processkit::{Command, StreamExt};

/// The process's peak resident set size, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kb * 1024
}

#[tokio::test]
async fn a_stderr_flood_while_stdout_is_streamed_stays_bounded() {
    const FLOOD: u64 = 512 * 1024 * 1024;
    let before = peak_rss();
    let mut run = Command::new("sh")
        .args([
            "-c",
            &format!("echo first; head -c {FLOOD} /dev/zero >&2; echo last"),
        ])
        .start()
        .await
        .expect("start sh");
    let lines: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(lines, ["first", "last"]);
    let (code, stderr) = run.finish_streamed().await.expect("finish");
    assert_eq!(code, Some(0));
    let grew = peak_rss().saturating_sub(before);
    assert!(
        !stderr.is_empty() && (stderr.len() as u64) < FLOOD / 16,
        "kept {} bytes of stderr",
        stderr.len()
    );
    assert!(
        grew < FLOOD / 8,
        "peak RSS grew by {grew} bytes for {FLOOD} bytes of stderr"
    );
}

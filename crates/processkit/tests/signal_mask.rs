//! Every child starts with an empty signal mask, whatever the spawning
//! thread blocks and whichever spawner or mechanism is in use.
#![cfg(target_os = "linux")]

use std::time::Duration;

use processkit::Command;

const ROLE_VAR: &str = "PK_SIGNAL_MASK_ROLE";

/// In a re-executed host: block signals on a thread and start a child there
/// that prints its own blocked set.
fn host() {
    let blk = std::thread::spawn(|| {
        // SAFETY: valid signal sets; changes only this thread's mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(
            Command::new("grep")
                .args(["^SigBlk:", "/proc/self/status"])
                .timeout(Duration::from_secs(10))
                .run(),
        )
        .unwrap()
    })
    .join()
    .unwrap();
    println!("report: {}", blk.trim());
}

#[test]
fn every_spawner_starts_children_with_an_empty_signal_mask() {
    const NAME: &str = "every_spawner_starts_children_with_an_empty_signal_mask";
    if std::env::var_os(ROLE_VAR).is_some() {
        return host();
    }
    let mut failures = Vec::new();
    for spawner in ["", "clone", "std"] {
        for mechanism in ["", "process-group"] {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
                .env(ROLE_VAR, "1")
                .env("PROCESSKIT_SPAWNER", spawner)
                .env("PROCESSKIT_MECHANISM", mechanism)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let line = stdout
                .lines()
                .find_map(|l| l.split_once("report: ").map(|(_, r)| r))
                .unwrap_or("no report")
                .to_owned();
            if line != "SigBlk:\t0000000000000000" {
                failures.push(format!(
                    "spawner {spawner:?}, mechanism {mechanism:?}: {line:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "children inherited a mask: {failures:#?}"
    );
}

//! Suspending a group while children are being started into it never
//! leaves a start hanging: a start either completes before the freeze or
//! is refused with `Error::Unsupported`.
#![cfg(all(target_os = "linux", feature = "process-control"))]

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use processkit::{Command, Error, Mechanism, ProcessGroup};

#[test]
fn a_start_racing_a_suspend_never_hangs() {
    let group = Arc::new(ProcessGroup::new().unwrap());
    assert_eq!(
        group.mechanism(),
        Mechanism::CgroupV2,
        "this test needs a writable cgroup v2"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // A member to freeze, so each freeze takes a moment.
    let _busy = rt
        .block_on(group.start(&Command::new("sh").args(["-c", "while :; do :; done"])))
        .unwrap();
    let mut refused = 0;
    for round in 0..60 {
        let barrier = Arc::new(Barrier::new(2));
        let (g, b) = (group.clone(), barrier.clone());
        let starter = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            b.wait();
            let t = Instant::now();
            let r = rt.block_on(g.start(&Command::new("true")));
            let took = t.elapsed();
            let outcome = match r {
                Ok(run) => {
                    drop(run);
                    Ok(())
                }
                Err(e) => Err(e),
            };
            (outcome, took)
        });
        barrier.wait();
        group.suspend().unwrap();
        // Leave the group suspended for longer than a start may take.
        let deadline = Instant::now() + Duration::from_secs(2);
        while !starter.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let finished = starter.is_finished();
        group.resume().unwrap();
        let (outcome, took) = starter.join().unwrap();
        assert!(
            finished,
            "round {round}: a start racing a suspend hung until the resume ({took:?})"
        );
        match outcome {
            Ok(()) => {}
            Err(Error::Unsupported { .. }) => refused += 1,
            Err(e) => panic!("round {round}: unexpected error {e}"),
        }
    }
    eprintln!("{refused} of 60 starts were refused as suspended");
    group.kill().unwrap();
}

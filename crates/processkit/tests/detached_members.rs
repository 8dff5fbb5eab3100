//! A group member whose handle is dropped is detached, the same way on
//! every path: dropped inside a runtime, dropped outside any runtime, or
//! dropped with its task when the runtime shuts down. It keeps running (its
//! output drained, so it never dies of `SIGPIPE`) until the group ends.
//! Checked on every mechanism a group can use here.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{alive, assert_all_gone, wait_until};
use processkit::{Command, Mechanism, ProcessGroup, ProcessGroupOptions};

use common::group_mechanisms as mechanisms;

fn group_on(m: Mechanism) -> ProcessGroup {
    common::group_on_with(m, ProcessGroupOptions::default())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Writes to stdout and stderr all the time: a closed pipe kills it.
fn chatty() -> Command {
    Command::new("sh").args(["-c", "while :; do echo out; echo err >&2; sleep 0.01; done"])
}

/// Asserts `pid` is still running a while later (a member killed by a
/// closed pipe dies within one loop turn, 10 ms).
fn stays_alive(pid: u32, what: &str) {
    let died = wait_until(Duration::from_millis(1500), || !alive(pid));
    assert!(!died, "{what}: the detached member died");
}

#[test]
fn a_member_dropped_outside_a_runtime_is_detached() {
    for m in mechanisms() {
        let group = group_on(m);
        let rt = runtime();
        // One with stderr read inline, one with stderr on a background task.
        let (plain, streamed) = rt.block_on(async {
            let plain = group.start(&chatty()).await.unwrap();
            let mut streamed = group.start(&chatty()).await.unwrap();
            let _ = tokio_stream::StreamExt::next(&mut streamed.stdout_lines()).await;
            (plain, streamed)
        });
        let pids = [plain.pid().unwrap(), streamed.pid().unwrap()];
        // No runtime is entered here.
        drop(plain);
        drop(streamed);
        for pid in pids {
            stays_alive(pid, &format!("dropped outside a runtime on {m}"));
        }
        drop(rt);
        for pid in pids {
            stays_alive(pid, &format!("after its runtime went, on {m}"));
        }
        group.kill().unwrap();
        assert_all_gone(
            &pids,
            Duration::from_secs(10),
            &format!("members after kill on {m}"),
        );
    }
}

#[test]
fn a_member_waiting_in_a_task_survives_the_runtimes_shutdown() {
    for m in mechanisms() {
        let group = std::sync::Arc::new(group_on(m));
        let rt = runtime();
        let (tx, rx) = std::sync::mpsc::channel();
        for streamed in [false, true] {
            let group = group.clone();
            let tx = tx.clone();
            rt.spawn(async move {
                let mut run = group.start(&chatty()).await.unwrap();
                tx.send(run.pid().unwrap()).unwrap();
                drop(tx);
                if streamed {
                    let mut lines = run.stdout_lines();
                    while tokio_stream::StreamExt::next(&mut lines).await.is_some() {}
                } else {
                    let _ = run.wait().await;
                }
            });
        }
        drop(tx);
        let pids: Vec<u32> = rt.block_on(async {
            tokio::task::spawn_blocking(move || rx.iter().collect())
                .await
                .unwrap()
        });
        assert_eq!(pids.len(), 2);
        drop(rt);
        for &pid in &pids {
            stays_alive(pid, &format!("after the runtime shut down, on {m}"));
        }
        group.kill().unwrap();
        assert_all_gone(
            &pids,
            Duration::from_secs(10),
            &format!("members after kill on {m}"),
        );
    }
}

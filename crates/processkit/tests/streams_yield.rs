//! Streams over a child that writes as fast as it can take part in tokio's
//! cooperative budget: a sibling task on the same current-thread runtime
//! keeps getting turns, and a runtime full of such streams shuts down.
#![cfg(unix)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use processkit::{Command, StreamExt};

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Counts the lines the reader got between two turns of a sibling task.
/// Without the budget, a reader works through a whole buffer (hundreds of
/// thousands of `y` lines) per turn; with it, a few hundred at most.
#[test]
fn a_sibling_task_gets_turns_while_a_fast_stream_is_read() {
    let rt = current_thread();
    let max_gap = rt.block_on(async {
        let lines = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (l2, s2) = (lines.clone(), stop.clone());
        let reader = tokio::spawn(async move {
            let mut run = Command::new("yes").start().await.expect("start yes");
            let mut stream = run.stdout_lines();
            while stream.next().await.is_some() {
                l2.fetch_add(1, Ordering::Relaxed);
                if s2.load(Ordering::Relaxed) {
                    break;
                }
            }
        });
        // Wait (with a deadline) until the reader is at full speed.
        let started = common::wait_until_async(Duration::from_secs(60), || {
            lines.load(Ordering::Relaxed) > 1_000_000
        })
        .await;
        assert!(started, "the reader never got going");
        // Now count: 200 turns of this task during which the reader also ran.
        let mut last = lines.load(Ordering::Relaxed);
        let mut turns = 0;
        let mut max_gap = 0;
        let deadline = Instant::now() + Duration::from_secs(120);
        while turns < 200 && Instant::now() < deadline {
            tokio::task::yield_now().await;
            let now = lines.load(Ordering::Relaxed);
            if now > last {
                turns += 1;
                max_gap = max_gap.max(now - last);
            }
            last = now;
        }
        assert_eq!(turns, 200, "the sibling task got too few turns");
        stop.store(true, Ordering::Relaxed);
        reader.await.expect("reader task");
        max_gap
    });
    assert!(
        max_gap < 50_000,
        "the reader took {max_gap} lines in one turn of its sibling"
    );
}

/// Ten tasks each reading a fast child's lines: dropping the runtime ends
/// them (and kills the children) promptly.
#[test]
fn a_runtime_with_fast_streams_shuts_down() {
    let rt = current_thread();
    let pids = rt.block_on(async {
        let read = Arc::new(AtomicU64::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..10 {
            let read = read.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut run = Command::new("yes").start().await.expect("start yes");
                let _ = tx.send(run.pid());
                drop(tx);
                let mut stream = run.stdout_lines();
                let mut first = true;
                while stream.next().await.is_some() {
                    if first {
                        read.fetch_add(1, Ordering::Relaxed);
                        first = false;
                    }
                }
            });
        }
        drop(tx);
        let all = common::wait_until_async(Duration::from_secs(60), || {
            read.load(Ordering::Relaxed) == 10
        })
        .await;
        assert!(all, "not every stream got going");
        let mut pids = Vec::new();
        while let Some(p) = rx.recv().await {
            pids.push(p);
        }
        pids
    });
    let t = Instant::now();
    drop(rt);
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "dropping the runtime took {took:?}"
    );
    let pids: Vec<u32> = pids.into_iter().flatten().collect();
    assert_eq!(pids.len(), 10);
    common::assert_all_gone(
        &pids,
        Duration::from_secs(10),
        "yes after the runtime dropped",
    );
}

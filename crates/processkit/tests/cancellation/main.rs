//! Cancellation through a `CancellationToken`: a cancelled run loses its
//! whole tree and every consuming path reports `Error::Cancelled`; cancel
//! wins over a timeout landing at the same time; a token cancelled before
//! the run never spawns; in a shared group only the cancelled child's
//! subtree dies; streams end; retries and supervisors stop for good; and a
//! storm of cancellations leaves no survivor and no hang.
//!
//! Survivors are looked for from outside: pids the children write to files,
//! and a per-test environment tag searched for in every `/proc/<pid>/environ`.

#![cfg(all(unix, feature = "cancellation"))]

#[path = "../common/mod.rs"]
mod common;
use common::{alive, cancel_after, pids_in, wait_for as eventually};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use processkit::{
    CancellationToken, Command, Error, Mechanism, ProcessGroup, ProcessRunnerExt, RestartPolicy,
    RetryPolicy, StreamExt, Supervisor,
};

const TAG_VAR: &str = "PROCESSKIT_CANCEL_TEST_TAG";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A tag no other test (or test run) uses.
fn unique_tag(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{test}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Live processes whose environment carries `TAG_VAR=tag`.
fn tagged(tag: &str) -> Vec<u32> {
    let needle = format!("{TAG_VAR}={tag}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|var| var == needle.as_bytes()) && alive(pid) {
            found.push(pid);
        }
    }
    found
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Bounds a future that must not hang.
async fn bounded<T>(what: &str, within: Duration, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(within, fut)
        .await
        .unwrap_or_else(|_| panic!("hung for {within:?}: {what}"))
}

fn assert_cancelled<T: std::fmt::Debug>(r: processkit::Result<T>) {
    assert!(
        matches!(r, Err(Error::Cancelled { .. })),
        "expected Error::Cancelled, got {r:?}"
    );
}

/// A shell that backgrounds two grandchildren, records every pid in `pids`
/// (the shell's own last) and waits.
fn tree(pids: &Path) -> Command {
    let p = pids.display();
    Command::new("sh").args([
        "-c",
        &format!("sleep 30 & echo $! >> {p}; sleep 30 & echo $! >> {p}; echo $$ >> {p}; wait"),
    ])
}

/// One row per verb: `verb` runs a [`tree`] (three pids), cancellable by the
/// token it is given, and the token is cancelled once the tree is up. The
/// verb must report `Cancelled` and every pid of the tree must be gone
/// within two seconds.
async fn cancel_a_running_tree<T: std::fmt::Debug>(
    what: &str,
    verb: impl AsyncFnOnce(Command, CancellationToken) -> processkit::Result<T>,
) {
    let scratch = Scratch::new();
    let pids = scratch.file("pids");
    let token = CancellationToken::new();
    let (outcome, ()) = bounded(what, Duration::from_secs(10), async {
        tokio::join!(verb(tree(&pids), token.clone()), async {
            eventually(
                "the tree to record its three pids",
                Duration::from_secs(5),
                || pids_in(&pids).len() == 3,
            )
            .await;
            token.cancel();
        })
    })
    .await;
    assert_cancelled(outcome);
    let all = pids_in(&pids);
    eventually(
        "every pid of the tree to be gone",
        Duration::from_secs(2),
        || all.iter().all(|p| !alive(*p)),
    )
    .await;
}

/// One row per verb: in a group shared with a sibling tree, `verb` runs
/// `victim` (a [`tree`]) through the group, cancellable by the token it is
/// given, and the token is cancelled once the victim's tree is up. The verb
/// must report `Cancelled`, the victim's tree must die, the sibling must live.
async fn cancel_one_member_of_a_shared_group<T: std::fmt::Debug>(
    what: &str,
    verb: impl AsyncFnOnce(&ProcessGroup, Command, CancellationToken) -> processkit::Result<T>,
) {
    let scratch = Scratch::new();
    let (victim_pids, sibling_pids) = (scratch.file("victim"), scratch.file("sibling"));
    let group = ProcessGroup::new().unwrap();
    let _sibling = group.start(&tree(&sibling_pids)).await.unwrap();
    let token = CancellationToken::new();
    let (outcome, ()) = bounded(what, Duration::from_secs(10), async {
        tokio::join!(verb(&group, tree(&victim_pids), token.clone()), async {
            eventually("the victim's pids", Duration::from_secs(5), || {
                pids_in(&victim_pids).len() == 3
            })
            .await;
            token.cancel();
        })
    })
    .await;
    assert_cancelled(outcome);
    let dead = pids_in(&victim_pids);
    eventually(
        "the victim's subtree to be gone",
        Duration::from_secs(2),
        || dead.iter().all(|p| !alive(*p)),
    )
    .await;
    eventually("the sibling's pids", Duration::from_secs(5), || {
        pids_in(&sibling_pids).len() == 3
    })
    .await;
    assert!(
        pids_in(&sibling_pids).iter().all(|p| alive(*p)),
        "{what}: the cancel reached a sibling"
    );
}

/// One row per verb: a command that fails at once and would wait an hour
/// before its next attempt; `verb` runs it, cancellable by the token it is
/// given, and the token is cancelled once the first attempt is recorded.
/// The verb must report `Cancelled` within 5 s of the cancel, with no
/// second attempt.
async fn cancel_during_a_backoff<T: std::fmt::Debug>(
    what: &str,
    verb: impl AsyncFnOnce(Command, CancellationToken) -> processkit::Result<T>,
) {
    let scratch = Scratch::new();
    let count = scratch.file("count");
    let token = CancellationToken::new();
    let cmd = Command::new("sh").args(["-c", &format!("echo x >> {}; exit 1", count.display())]);
    let mut cancelled_at = None;
    let (outcome, ()) = bounded(what, Duration::from_secs(10), async {
        tokio::join!(verb(cmd, token.clone()), async {
            eventually("the first attempt", Duration::from_secs(5), || {
                lines(&count) == 1
            })
            .await;
            cancelled_at = Some(Instant::now());
            token.cancel();
        })
    })
    .await;
    let after_cancel = cancelled_at.expect("cancelled").elapsed();
    assert!(
        after_cancel < Duration::from_secs(5),
        "{what} took {after_cancel:?} to end after the cancel"
    );
    assert_cancelled(outcome);
    assert_eq!(lines(&count), 1);
}

struct Scratch {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_owned();
        Scratch { _dir: dir, root }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

mod tree_kill;

mod cancel_wins;

mod pre_cancelled;

mod group_scope;

mod streams;

mod retries;

mod supervision;

mod storm;

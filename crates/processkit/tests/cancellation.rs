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

/// True while `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
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

fn pids_in(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Polls `cond` every 10 ms until it holds; panics after `within`.
async fn eventually(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(ms(10)).await;
    }
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

mod tree_kill {
    use super::*;

    #[tokio::test]
    async fn cancelling_a_capture_kills_every_grandchild_within_two_seconds() {
        let scratch = Scratch::new();
        let pids = scratch.file("pids");
        let token = CancellationToken::new();
        let cmd = tree(&pids).cancel_on(token.child_token());
        let job = tokio::spawn(async move { cmd.output_string().await });
        eventually(
            "the tree to record its three pids",
            Duration::from_secs(5),
            || pids_in(&pids).len() == 3,
        )
        .await;
        token.cancel();
        assert_cancelled(
            bounded("the cancelled capture", Duration::from_secs(5), job)
                .await
                .unwrap(),
        );
        let all = pids_in(&pids);
        eventually(
            "every pid of the tree to be gone",
            Duration::from_secs(2),
            || all.iter().all(|p| !alive(*p)),
        )
        .await;
    }

    #[tokio::test]
    async fn a_cancelled_handle_reports_cancelled_from_wait_and_loses_its_tree() {
        let scratch = Scratch::new();
        let pids = scratch.file("pids");
        let token = CancellationToken::new();
        let mut run = tree(&pids).cancel_on(token.clone()).start().await.unwrap();
        eventually("three pids", Duration::from_secs(5), || {
            pids_in(&pids).len() == 3
        })
        .await;
        token.cancel();
        assert_cancelled(bounded("wait", Duration::from_secs(5), run.wait()).await);
        let all = pids_in(&pids);
        eventually("the tree to be gone", Duration::from_secs(2), || {
            all.iter().all(|p| !alive(*p))
        })
        .await;
    }

    #[tokio::test]
    async fn cancelling_kills_a_setsid_grandchild_where_the_mechanism_contains_it() {
        let contains = Mechanism::current().contains_setsid();
        let scratch = Scratch::new();
        let pids = scratch.file("pids");
        let script = format!(
            "setsid sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
            pids.display()
        );
        let token = CancellationToken::new();
        let cmd = Command::new("sh")
            .args(["-c", &script])
            .cancel_on(token.clone());
        let job = tokio::spawn(async move { cmd.run().await });
        eventually("two pids", Duration::from_secs(5), || {
            pids_in(&pids).len() == 2
        })
        .await;
        token.cancel();
        assert_cancelled(bounded("run", Duration::from_secs(5), job).await.unwrap());
        let all = pids_in(&pids);
        if contains {
            eventually(
                "the setsid grandchild to be gone",
                Duration::from_secs(2),
                || all.iter().all(|p| !alive(*p)),
            )
            .await;
        } else {
            // The documented weakness of process groups: the shell dies, the
            // grandchild in its own session survives. Clean it up here.
            let (grandchild, shell) = (all[0], all[1]);
            eventually("the shell to be gone", Duration::from_secs(2), || {
                !alive(shell)
            })
            .await;
            assert!(
                alive(grandchild),
                "{} is documented not to contain a setsid grandchild",
                Mechanism::current()
            );
            // SAFETY: the pid was just seen alive and is this test's own
            // grandchild, reparented to init; nothing else reaps it.
            unsafe { libc::kill(grandchild as i32, libc::SIGKILL) };
        }
    }

    #[tokio::test]
    async fn a_child_token_of_a_cancelled_parent_cancels_the_run() {
        let parent = CancellationToken::new();
        let job = tokio::spawn({
            let token = parent.child_token();
            async move { Command::new("sleep").arg("30").cancel_on(token).run().await }
        });
        parent.cancel();
        assert_cancelled(bounded("run", Duration::from_secs(5), job).await.unwrap());
    }

    #[tokio::test]
    async fn first_line_exit_code_and_probe_report_cancelled_mid_run() {
        let token = CancellationToken::new();
        let cmd = Command::new("sh")
            .args(["-c", "echo a; sleep 30"])
            .cancel_on(token.clone());
        let canceller = {
            let token = token.clone();
            tokio::spawn(async move {
                tokio::time::sleep(ms(200)).await;
                token.cancel();
            })
        };
        let (line, code, yes) = bounded("three verbs", Duration::from_secs(10), async {
            tokio::join!(
                cmd.first_line(|l| l == "never"),
                cmd.exit_code(),
                cmd.probe()
            )
        })
        .await;
        assert_cancelled(line);
        assert_cancelled(code);
        assert_cancelled(yes);
        canceller.await.unwrap();
    }

    #[tokio::test]
    async fn a_token_cancelled_after_the_run_finished_changes_nothing() {
        let token = CancellationToken::new();
        let mut run = Command::new("sh")
            .args(["-c", "echo done >&2"])
            .cancel_on(token.clone())
            .start()
            .await
            .unwrap();
        assert_eq!(run.wait().await.unwrap(), Some(0));
        token.cancel();
        let (code, stderr) = run.finish_streamed().await.unwrap();
        assert_eq!((code, stderr.as_str()), (Some(0), "done\n"));
    }
}

mod cancel_wins {
    use super::*;

    /// On the paused clock the deadline and the cancel fire at the same
    /// virtual instant.
    #[tokio::test(start_paused = true)]
    async fn a_cancel_and_a_timeout_at_the_same_instant_report_cancelled() {
        for _ in 0..5 {
            let token = CancellationToken::new();
            let cmd = Command::new("sleep")
                .arg("30")
                .timeout(ms(100))
                .cancel_on(token.clone());
            let canceller = tokio::spawn(async move {
                tokio::time::sleep(ms(100)).await;
                token.cancel();
            });
            assert_cancelled(cmd.output_string().await);
            canceller.await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_cancel_and_an_expired_deadline_seen_in_one_poll_report_cancelled() {
        let token = CancellationToken::new();
        let mut run = Command::new("sleep")
            .arg("30")
            .timeout(ms(50))
            .cancel_on(token.clone())
            .start()
            .await
            .unwrap();
        // Neither is observed until the handle is polled again.
        tokio::time::sleep(ms(200)).await;
        token.cancel();
        assert_cancelled(bounded("wait", Duration::from_secs(5), run.wait()).await);
        assert!(
            !run.timed_out(),
            "the cancel was handled first, so no timeout was recorded"
        );
    }

    #[tokio::test]
    async fn a_cancel_before_a_timed_out_result_is_read_wins() {
        let token = CancellationToken::new();
        let mut run = Command::new("sleep")
            .arg("30")
            .timeout(ms(50))
            .cancel_on(token.clone())
            .start()
            .await
            .unwrap();
        assert_eq!(
            bounded("wait", Duration::from_secs(5), run.wait())
                .await
                .unwrap(),
            None
        );
        assert!(run.timed_out());
        token.cancel();
        assert_cancelled(run.finish_streamed().await);
    }

    #[tokio::test]
    async fn without_a_cancel_a_timeout_stays_captured_data() {
        let token = CancellationToken::new();
        let r = Command::new("sleep")
            .arg("30")
            .timeout(ms(50))
            .cancel_on(token)
            .output_string()
            .await
            .unwrap();
        assert!(r.timed_out());
    }
}

mod pre_cancelled {
    use super::*;

    #[tokio::test]
    async fn a_pre_cancelled_token_never_spawns_on_any_path() {
        let scratch = Scratch::new();
        let marker = scratch.file("spawned");
        let token = CancellationToken::new();
        token.cancel();
        let cmd = Command::new("sh")
            .args(["-c", &format!("echo spawned >> {}", marker.display())])
            .cancel_on(token);
        let group = ProcessGroup::new().unwrap();

        assert_cancelled(cmd.run().await);
        assert_cancelled(cmd.output_string().await);
        assert_cancelled(cmd.output_bytes().await);
        assert_cancelled(cmd.exit_code().await);
        assert_cancelled(cmd.probe().await);
        assert_cancelled(cmd.first_line(|_| true).await);
        assert_cancelled(cmd.start().await);
        assert_cancelled(cmd.clone().retry(RetryPolicy::new(3)).output_string().await);
        assert_cancelled(group.start(&cmd).await);
        assert_cancelled(group.output_string(&cmd).await);
        assert_cancelled(processkit::JobRunner::new().output_string(&cmd).await);
        assert_cancelled(
            Supervisor::new(cmd.clone())
                .restart(RestartPolicy::Always)
                .run()
                .await,
        );
        assert_cancelled(Supervisor::new(cmd.clone()).with_runner(&group).run().await);

        // The same command, not cancelled, writes its marker: proof that a
        // spawn above would have left one.
        let control = scratch.file("control");
        let probe_cmd =
            Command::new("sh").args(["-c", &format!("echo spawned >> {}", control.display())]);
        probe_cmd.run().await.unwrap();
        group.output_string(&probe_cmd).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&control).unwrap().lines().count(),
            2
        );
        assert!(!marker.exists(), "a pre-cancelled run spawned its command");
        assert!(group.is_empty().unwrap());
    }
}

mod group_scope {
    use super::*;

    #[tokio::test]
    async fn cancelling_one_member_kills_its_subtree_and_spares_its_siblings() {
        let scratch = Scratch::new();
        let (victim_pids, sibling_pids) = (scratch.file("victim"), scratch.file("sibling"));
        let group = ProcessGroup::new().unwrap();
        let token = CancellationToken::new();
        let mut sibling = group.start(&tree(&sibling_pids)).await.unwrap();
        let mut victim = group
            .start(&tree(&victim_pids).cancel_on(token.clone()))
            .await
            .unwrap();
        eventually(
            "both trees to record their pids",
            Duration::from_secs(5),
            || pids_in(&victim_pids).len() == 3 && pids_in(&sibling_pids).len() == 3,
        )
        .await;

        token.cancel();
        assert_cancelled(bounded("the victim's wait", Duration::from_secs(5), victim.wait()).await);
        let dead = pids_in(&victim_pids);
        eventually(
            "the victim's subtree to be gone",
            Duration::from_secs(2),
            || dead.iter().all(|p| !alive(*p)),
        )
        .await;

        let spared = pids_in(&sibling_pids);
        assert!(
            spared.iter().all(|p| alive(*p)),
            "a sibling died with the cancelled member"
        );
        assert!(
            tokio::time::timeout(ms(100), sibling.wait()).await.is_err(),
            "the sibling's shell exited"
        );
        drop(group);
        eventually(
            "the sibling to die with its group",
            Duration::from_secs(2),
            || spared.iter().all(|p| !alive(*p)),
        )
        .await;
    }

    #[tokio::test]
    async fn a_cancelled_capture_through_the_group_runner_spares_the_rest_of_the_group() {
        let scratch = Scratch::new();
        let (victim_pids, sibling_pids) = (scratch.file("victim"), scratch.file("sibling"));
        let group = ProcessGroup::new().unwrap();
        let _sibling = group.start(&tree(&sibling_pids)).await.unwrap();
        let token = CancellationToken::new();
        let victim_cmd = tree(&victim_pids).cancel_on(token.clone());
        let (outcome, ()) = bounded("the group capture", Duration::from_secs(10), async {
            tokio::join!(group.output_string(&victim_cmd), async {
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
            "a sibling died with the cancelled member"
        );
    }
}

mod streams {
    use super::*;

    async fn stream_ends_on_cancel(group: Option<&ProcessGroup>) {
        let scratch = Scratch::new();
        let pids = scratch.file("pids");
        let script = format!(
            "echo ready; sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
            pids.display()
        );
        let token = CancellationToken::new();
        let cmd = Command::new("sh")
            .args(["-c", &script])
            .cancel_on(token.clone());
        let mut run = match group {
            Some(g) => g.start(&cmd).await.unwrap(),
            None => cmd.start().await.unwrap(),
        };
        {
            let mut lines = run.stdout_lines();
            assert_eq!(lines.next().await.as_deref(), Some("ready"));
            eventually("two pids", Duration::from_secs(5), || {
                pids_in(&pids).len() == 2
            })
            .await;
            token.cancel();
            assert_eq!(
                bounded("the stream to end", Duration::from_secs(5), lines.next()).await,
                None
            );
        }
        assert_cancelled(
            bounded(
                "finish_streamed",
                Duration::from_secs(5),
                run.finish_streamed(),
            )
            .await,
        );
        let all = pids_in(&pids);
        eventually(
            "the streamed tree to be gone",
            Duration::from_secs(2),
            || all.iter().all(|p| !alive(*p)),
        )
        .await;
    }

    #[tokio::test]
    async fn a_stream_ends_on_cancel_and_finish_streamed_reports_cancelled() {
        stream_ends_on_cancel(None).await;
    }

    #[tokio::test]
    async fn a_group_members_stream_ends_on_cancel_too() {
        let group = ProcessGroup::new().unwrap();
        stream_ends_on_cancel(Some(&group)).await;
    }

    #[tokio::test]
    async fn a_readiness_probe_reports_cancelled_rather_than_not_ready() {
        let token = CancellationToken::new();
        let mut run = Command::new("sh")
            .args(["-c", "echo booting; sleep 30"])
            .cancel_on(token.clone())
            .start()
            .await
            .unwrap();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(ms(200)).await;
            token.cancel();
        });
        let r = run
            .wait_for_line(|l| l.contains("listening"), Duration::from_secs(20))
            .await;
        assert_cancelled(r);
        canceller.await.unwrap();
    }

    #[tokio::test]
    async fn a_cancelled_run_is_never_reported_ready_even_when_the_check_passes() {
        let scratch = Scratch::new();
        let marker = scratch.file("up");
        let script = format!("echo listening; touch {}; sleep 30", marker.display());
        let token = CancellationToken::new();
        let mut run = Command::new("sh")
            .args(["-c", &script])
            .cancel_on(token.clone())
            .start()
            .await
            .unwrap();
        eventually("the child to be up", Duration::from_secs(5), || {
            marker.exists()
        })
        .await;
        token.cancel();
        let m = marker.clone();
        assert_cancelled(
            run.wait_for(
                move || std::future::ready(m.exists()),
                Duration::from_secs(5),
            )
            .await,
        );
        // "listening" sits unread in the pipe: a cancelled stream drops it.
        assert_cancelled(
            run.wait_for_line(|l| l.contains("listening"), Duration::from_secs(5))
                .await,
        );
        assert_eq!(run.stdout_lines().next().await, None);
        assert_cancelled(run.finish_streamed().await);
    }
}

mod retries {
    use super::*;

    #[tokio::test]
    async fn a_cancelled_attempt_is_never_retried() {
        let scratch = Scratch::new();
        let count = scratch.file("count");
        let token = CancellationToken::new();
        let cmd = Command::new("sh")
            .args(["-c", &format!("echo x >> {}; sleep 30", count.display())])
            .retry(RetryPolicy::new(5).backoff(ms(1), 1.0))
            .cancel_on(token.clone());
        let job = tokio::spawn(async move { cmd.output_string().await });
        eventually("the first attempt", Duration::from_secs(5), || {
            lines(&count) == 1
        })
        .await;
        token.cancel();
        assert_cancelled(
            bounded("the retried run", Duration::from_secs(5), job)
                .await
                .unwrap(),
        );
        assert_eq!(lines(&scratch.file("count")), 1);
    }

    #[tokio::test]
    async fn a_cancel_during_a_backoff_delay_returns_at_once() {
        let scratch = Scratch::new();
        let count = scratch.file("count");
        let token = CancellationToken::new();
        let cmd = Command::new("sh")
            .args(["-c", &format!("echo x >> {}; exit 1", count.display())])
            .retry(RetryPolicy::new(5).backoff(Duration::from_secs(3600), 1.0))
            .cancel_on(token.clone());
        let job = tokio::spawn(async move { cmd.output_string().await });
        eventually("the first attempt", Duration::from_secs(5), || {
            lines(&count) == 1
        })
        .await;
        token.cancel();
        assert_cancelled(
            bounded("the backoff to end", Duration::from_secs(5), job)
                .await
                .unwrap(),
        );
        assert_eq!(lines(&scratch.file("count")), 1);
    }
}

mod supervision {
    use super::*;

    #[tokio::test]
    async fn a_cancelled_command_stops_its_supervisor_for_good() {
        let scratch = Scratch::new();
        let pids = scratch.file("pids");
        let token = CancellationToken::new();
        let sup = Supervisor::new(tree(&pids).cancel_on(token.clone()))
            .restart(RestartPolicy::Always)
            .backoff(ms(1), 1.0);
        let job = tokio::spawn(async move { sup.run().await });
        eventually("the first incarnation", Duration::from_secs(5), || {
            pids_in(&pids).len() == 3
        })
        .await;
        token.cancel();
        assert_cancelled(
            bounded("supervision", Duration::from_secs(5), job)
                .await
                .unwrap(),
        );
        let all = pids_in(&pids);
        assert_eq!(
            all.len(),
            3,
            "a cancelled supervisor started another incarnation"
        );
        eventually(
            "the incarnation's tree to be gone",
            Duration::from_secs(2),
            || all.iter().all(|p| !alive(*p)),
        )
        .await;
    }

    #[tokio::test]
    async fn a_supervisor_token_kills_the_current_incarnation_in_a_shared_group() {
        let scratch = Scratch::new();
        let (pids, sibling_pids) = (scratch.file("pids"), scratch.file("sibling"));
        let group = ProcessGroup::new().unwrap();
        let _sibling = group.start(&tree(&sibling_pids)).await.unwrap();
        let shutdown = CancellationToken::new();
        let sup = Supervisor::new(tree(&pids))
            .cancel_on(shutdown.child_token())
            .with_runner(&group);
        let (outcome, ()) = bounded("supervision", Duration::from_secs(10), async {
            tokio::join!(sup.run(), async {
                eventually("the incarnation's pids", Duration::from_secs(5), || {
                    pids_in(&pids).len() == 3
                })
                .await;
                shutdown.cancel();
            })
        })
        .await;
        assert_cancelled(outcome);
        let dead = pids_in(&pids);
        eventually(
            "the incarnation's tree to be gone",
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
            "supervision's cancel reached a sibling"
        );
    }

    #[tokio::test]
    async fn a_cancel_during_a_restart_backoff_ends_supervision_at_once() {
        let scratch = Scratch::new();
        let count = scratch.file("count");
        let token = CancellationToken::new();
        let cmd =
            Command::new("sh").args(["-c", &format!("echo x >> {}; exit 1", count.display())]);
        let sup =
            Supervisor::new(cmd.cancel_on(token.clone())).backoff(Duration::from_secs(3600), 1.0);
        let job = tokio::spawn(async move { sup.run().await });
        eventually("the first run", Duration::from_secs(5), || {
            lines(&count) == 1
        })
        .await;
        token.cancel();
        assert_cancelled(
            bounded("supervision", Duration::from_secs(5), job)
                .await
                .unwrap(),
        );
        assert_eq!(lines(&count), 1);
    }
}

mod storm {
    use super::*;

    /// A small deterministic generator (xorshift), seeded per run.
    fn delays(seed: u64, n: usize, max_ms: u64) -> Vec<Duration> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ms(x % (max_ms + 1))
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_runs_cancelled_at_random_moments_all_report_cancelled_and_leave_no_survivor() {
        let tag = unique_tag("storm");
        let group = Arc::new(ProcessGroup::new().unwrap());
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let schedule = delays(seed, 50, 200);
        let mut jobs = Vec::new();
        for (i, delay) in schedule.iter().copied().enumerate() {
            let token = CancellationToken::new();
            let cmd = Command::new("sh")
                .args(["-c", "sleep 30 & sleep 30"])
                .env(TAG_VAR, &tag)
                .cancel_on(token.clone());
            let group = Arc::clone(&group);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                token.cancel();
            });
            jobs.push(tokio::spawn(async move {
                // Every consuming path, on private containers and on the shared group.
                match i % 6 {
                    0 => cmd.output_string().await.map(|_| ()),
                    1 => cmd.run().await.map(|_| ()),
                    2 => cmd.exit_code().await.map(|_| ()),
                    3 => match cmd.start().await {
                        Ok(mut run) => run.wait().await.map(|_| ()),
                        Err(e) => Err(e),
                    },
                    4 => match group.start(&cmd).await {
                        Ok(run) => run.finish_streamed().await.map(|_| ()),
                        Err(e) => Err(e),
                    },
                    _ => group.output_bytes(&cmd).await.map(|_| ()),
                }
            }));
        }
        let outcomes = bounded("the storm", Duration::from_secs(60), async {
            let mut outcomes = Vec::new();
            for job in jobs {
                outcomes.push(job.await.unwrap());
            }
            outcomes
        })
        .await;
        for (i, outcome) in outcomes.into_iter().enumerate() {
            assert!(
                matches!(outcome, Err(Error::Cancelled { .. })),
                "run {i} (cancelled after {:?}, seed {seed}) returned {outcome:?}",
                schedule[i]
            );
        }
        // The shared group is still alive: nothing may survive in it either.
        eventually(
            "no tagged process to survive the storm",
            Duration::from_secs(5),
            || tagged(&tag).is_empty(),
        )
        .await;
        assert!(group.is_empty().unwrap());
    }
}

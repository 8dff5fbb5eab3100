//! Every code example of the product contract (the README), compiled as
//! written against the real API and run with real programs, plus the
//! semantics its prose states around each example.
//!
//! Placeholder programs are swapped for real ones: servers and workers are
//! small `sh`/`perl` scripts written to a scratch directory, `cargo` is
//! `git`, and `git` runs in a scratch repository made for the test. Every
//! outcome is checked from the outside (`/proc`, marker files), with
//! deadlines instead of bare sleeps.

#![cfg(unix)]

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use processkit::{Command, Error, Mechanism};

// ----- helpers ---------------------------------------------------------------

/// How long any "eventually" check may take before it counts as a failure.
const DEADLINE: Duration = Duration::from_secs(10);

mod common;
#[allow(unused_imports)]
use common::{eventually, pids_in, script, session_of};

/// Asserts that every pid is gone (or a zombie) within [`DEADLINE`].
async fn assert_gone(pids: &[u32], what: &str) {
    common::assert_gone_within(pids, DEADLINE, what).await
}

/// Waits until `path` holds at least `n` pids and returns them.
async fn wait_for_pids(path: &Path, n: usize) -> Vec<u32> {
    common::wait_for_pids_within(path, n, DEADLINE).await
}

/// `true` while `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(
                stat[i + 1..].trim_start().chars().next(),
                Some('Z') | Some('X')
            ),
            None => false,
        },
        Err(_) => false,
    }
}

#[cfg(feature = "process-control")]
/// The one-letter scheduler state of `pid` (`R`, `S`, `T`, …).
fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// A scratch directory, removed on drop.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pk-spec-")
        .tempdir()
        .expect("a scratch directory")
}

#[cfg(feature = "process-control")]
/// Where cgroup2 is mounted, from /proc/self/mountinfo.
fn cgroup2_mount() -> Option<std::path::PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next()? == "cgroup2")
            .then(|| std::path::PathBuf::from(pre.split_whitespace().nth(4).unwrap_or("/")))
    })
}

#[cfg(feature = "process-control")]
/// `true` when `pid` is held still: frozen by its cgroup (cgroup v2) or
/// stopped by SIGSTOP (process groups).
fn held_still(pid: u32) -> bool {
    if Mechanism::current() == Mechanism::CgroupV2 {
        let Ok(cg) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            return false;
        };
        let Some(rel) = cg.lines().find_map(|l| l.strip_prefix("0::")) else {
            return false;
        };
        let Some(mount) = cgroup2_mount() else {
            return false;
        };
        let events = mount
            .join(rel.trim_start_matches('/'))
            .join("cgroup.events");
        std::fs::read_to_string(events).is_ok_and(|e| e.lines().any(|l| l == "frozen 1"))
    } else {
        state_of(pid) == Some('T')
    }
}

/// `true` when this process ignores SIGHUP (it runs under `nohup`): its
/// children inherit that, and a shell cannot trap it then.
#[cfg(feature = "process-control")]
fn hup_ignored_here() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & 1 != 0)
}

/// Runs `git` with a fixed identity in `dir` (test setup only).
fn git(dir: &Path, args: &[&str], author: &str) {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", author)
        .env("GIT_AUTHOR_EMAIL", format!("{author}@example.test"))
        .env("GIT_COMMITTER_NAME", author)
        .env("GIT_COMMITTER_EMAIL", format!("{author}@example.test"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A scratch repository with three commits: two by Alice, one by Bob.
fn repo() -> tempfile::TempDir {
    let dir = scratch();
    git(dir.path(), &["init", "-q"], "Alice");
    for (i, who) in ["Alice", "Bob", "Alice"].iter().enumerate() {
        std::fs::write(dir.path().join("f"), format!("{i}\n")).unwrap();
        git(dir.path(), &["add", "f"], who);
        git(
            dir.path(),
            &["commit", "-q", "-m", &format!("change {i}")],
            who,
        );
    }
    dir
}

// ----- Quick start -----------------------------------------------------------

/// `let version = Command::new("cargo").arg("--version").run().await?;
/// println!("{version}");` with `git` standing in for `cargo`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_start_run_returns_trimmed_stdout() -> processkit::Result<()> {
    let version = Command::new("git").arg("--version").run().await?;
    println!("{version}");
    assert!(version.starts_with("git version "), "{version:?}");
    assert_eq!(version, version.trim(), "run() trims its stdout");
    Ok(())
}

/// The intro's promise: dropping the handle reaps every descendant, and
/// the active mechanism is reported instead of pretending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intro_dropping_the_handle_reaps_grandchildren() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let run = Command::new("sh")
        .args([
            "-c",
            &format!(
                "sleep 30 & echo $! >> {0}; sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
                pidfile.display()
            ),
        ])
        .start()
        .await?;
    let pids = wait_for_pids(&pidfile, 3).await;
    assert!(pids.iter().all(|p| alive(*p)));
    drop(run);
    assert_gone(&pids, "tree of a dropped handle").await;
    let m = Mechanism::current();
    assert!(
        matches!(m, Mechanism::CgroupV2 | Mechanism::ProcessGroup),
        "{m}"
    );
    Ok(())
}

// ----- The verbs -------------------------------------------------------------

/// The verb table: each verb's return type and error rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verb_table_semantics_hold() -> processkit::Result<()> {
    // .run(): trimmed String; non-zero exit / timeout / kill → typed Error.
    assert_eq!(Command::new("printf").arg("  hi \n\n").run().await?, "  hi");
    let e = Command::new("sh")
        .args(["-c", "echo oops >&2; exit 3"])
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NonZeroExit { code: 3, .. }), "{e:?}");
    let e = Command::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(100))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    let e = Command::new("sh")
        .args(["-c", "kill -9 $$"])
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Killed { signal: 9, .. }), "{e:?}");

    // .output_string() / .output_bytes(): ProcessResult, never errors on non-zero.
    let r = Command::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 5"])
        .output_string()
        .await?;
    assert_eq!(r.code(), Some(5));
    assert_eq!(r.stdout(), "out\n");
    assert_eq!(r.stderr(), "err\n");
    assert!(!r.timed_out());
    let r = Command::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(100))
        .output_bytes()
        .await?;
    assert!(r.timed_out(), "a timeout is captured in the result");
    assert_eq!(r.code(), None);

    // .exit_code(): i32; a timed-out / killed run errors instead of inventing -1.
    assert_eq!(
        Command::new("sh")
            .args(["-c", "exit 42"])
            .exit_code()
            .await?,
        42
    );
    let e = Command::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(100))
        .exit_code()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    let e = Command::new("sh")
        .args(["-c", "kill -9 $$"])
        .exit_code()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Killed { .. }), "{e:?}");

    // .probe(): exit 0 → true, 1 → false, anything else errors.
    assert!(Command::new("true").probe().await?);
    assert!(!Command::new("false").probe().await?);
    let e = Command::new("sh")
        .args(["-c", "exit 2"])
        .probe()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NonZeroExit { code: 2, .. }), "{e:?}");

    // .first_line(|l| …): Option<String>; None when stdout closes without a match.
    let first = Command::new("printf")
        .arg("alpha\nbeta\ngamma\n")
        .first_line(|l| l.starts_with('b'))
        .await?;
    assert_eq!(first.as_deref(), Some("beta"));
    let none = Command::new("printf")
        .arg("alpha\n")
        .first_line(|l| l == "zeta")
        .await?;
    assert_eq!(none, None);

    // .start(): a live RunningProcess.
    let mut run = Command::new("sh").args(["-c", "exit 6"]).start().await?;
    assert!(run.pid().is_some());
    assert_eq!(run.wait().await?, Some(6));
    Ok(())
}

/// `processkit::run("git", ["status"])` / `processkit::output(…)` skip the
/// builder for one-liners.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_liner_helpers_match_the_builder() -> processkit::Result<()> {
    let repo = repo();
    let here = std::env::current_dir().unwrap();
    // The free functions take no cwd: run `git -C <repo> status`.
    let status = processkit::run(
        "git",
        [
            OsStr::new("-C"),
            repo.path().as_os_str(),
            OsStr::new("status"),
        ],
    )
    .await?;
    assert!(status.contains("nothing to commit"), "{status}");
    let out = processkit::output("sh", ["-c", "echo x; exit 4"]).await?;
    assert_eq!((out.code(), out.stdout().as_str()), (Some(4), "x\n"));
    assert_eq!(std::env::current_dir().unwrap(), here);
    Ok(())
}

/// The verbs example: rev-parse, --version, stdin into sort, and a shared
/// group shut down gracefully.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbs_example_runs_as_written() -> processkit::Result<()> {
    use processkit::{ProcessGroup, Stdin};
    let repo = repo();
    let dir = scratch();

    // Capture output; a non-zero exit does not error on its own.
    let result = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo.path())
        .output_string()
        .await?;
    println!("HEAD is {}", result.stdout().trim());
    assert_eq!(result.stdout().trim().len(), 40);
    let outside = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir.path())
        .output_string()
        .await?;
    assert_ne!(outside.code(), Some(0), "a non-zero exit is data");

    // Require success and get trimmed stdout directly.
    let version = Command::new("git").arg("--version").run().await?;
    println!("{version}");

    // Feed stdin.
    let sorted = Command::new("sort")
        .stdin(Stdin::from_string("banana\napple\n"))
        .output_string()
        .await?;
    println!("{}", sorted.stdout());
    assert_eq!(sorted.stdout(), "apple\nbanana\n");

    // Share one kill-on-drop group across several children.
    let pidfile = dir.path().join("pids");
    let server = script(
        dir.path(),
        "some-server",
        &format!(
            "#!/bin/sh\nsleep 30 & echo $! >> {0}\necho $$ >> {0}\nwait\n",
            pidfile.display()
        ),
    );
    let group = ProcessGroup::new()?;
    let _server = group.start(&Command::new(&server)).await?;
    let pids = wait_for_pids(&pidfile, 2).await;
    group.shutdown().await?; // graceful SIGTERM → wait → SIGKILL
    assert_gone(&pids, "group after shutdown").await;
    assert!(group.is_empty()?);
    Ok(())
}

/// `shutdown` is graceful first: a member that handles SIGTERM gets to run
/// its handler; one that ignores it is killed after the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_sigterm_then_sigkill() -> processkit::Result<()> {
    use processkit::{ProcessGroup, ProcessGroupOptions};
    let dir = scratch();
    let marker = dir.path().join("marker");
    let graceful = format!(
        "trap 'echo term >> {0}; exit 0' TERM; echo $$ >> {0}.pids; while :; do sleep 0.05; done",
        marker.display()
    );
    let stubborn = format!(
        "trap '' TERM; echo $$ >> {0}.pids; while :; do sleep 0.05; done",
        marker.display()
    );
    let group =
        ProcessGroup::with_options(ProcessGroupOptions::default().grace(Duration::from_secs(3)))?;
    let _a = group
        .start(&Command::new("sh").args(["-c", &graceful]))
        .await?;
    let _b = group
        .start(&Command::new("sh").args(["-c", &stubborn]))
        .await?;
    let pids = wait_for_pids(&dir.path().join("marker.pids"), 2).await;
    let t0 = Instant::now();
    group.shutdown().await?;
    assert!(t0.elapsed() < DEADLINE);
    assert_gone(&pids, "shutdown").await;
    let seen = std::fs::read_to_string(&marker).unwrap_or_default();
    assert_eq!(seen.trim(), "term", "the TERM handler ran");
    Ok(())
}

// ----- Limits ------------------------------------------------------------------

/// The limits example: on a host that cannot enforce a cap, `with_options`
/// returns `Error::ResourceLimit` instead of an unbounded group.
#[cfg(feature = "limits")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_example_is_enforced_or_refused() -> processkit::Result<()> {
    use processkit::{ProcessGroup, ProcessGroupOptions};
    let dir = scratch();
    let tool = script(dir.path(), "untrusted-tool", "#!/bin/sh\necho fine\n");
    let made = ProcessGroup::with_options(
        ProcessGroupOptions::default()
            .memory_max(512 * 1024 * 1024) // 512 MiB across the tree
            .max_processes(64)
            .cpu_quota(0.5), // half of one core
    );
    match made {
        Ok(group) => {
            assert_eq!(
                group.mechanism(),
                Mechanism::CgroupV2,
                "only a real container can cap"
            );
            let job = group.start(&Command::new(&tool)).await?;
            assert_eq!(job.output_string().await?.stdout(), "fine\n");
        }
        Err(Error::ResourceLimit { limit, reason }) => {
            assert!(
                ["memory_max", "max_processes", "cpu_quota"].contains(&limit.as_str()),
                "{limit}: {reason}"
            );
        }
        Err(other) => panic!("expected Error::ResourceLimit, got {other:?}"),
    }
    // The process-group fallback has no whole-tree limit at all.
    let pg = ProcessGroup::with_options(
        ProcessGroupOptions::default()
            .mechanism(Mechanism::ProcessGroup)
            .max_processes(64),
    );
    assert!(matches!(pg, Err(Error::ResourceLimit { .. })), "{pg:?}");
    Ok(())
}

// ----- Signals, suspend, resume ------------------------------------------------

/// `group.signal(Signal::Hup)?; group.suspend()?; group.resume()?;`
#[cfg(feature = "process-control")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_suspend_resume_example() -> processkit::Result<()> {
    use processkit::{ProcessGroup, Signal};
    let dir = scratch();
    let log = dir.path().join("log");
    let server = script(
        dir.path(),
        "my-server",
        &format!(
            "#!/bin/sh\ntrap 'echo hup >> {0}' HUP\necho $$ > {0}.pid\nwhile :; do sleep 0.05; done\n",
            log.display()
        ),
    );
    let group = ProcessGroup::new()?;
    let _server = group.start(&Command::new(&server)).await?;
    let pid = wait_for_pids(&dir.path().join("log.pid"), 1).await[0];

    group.signal(Signal::Hup)?; // e.g. "reload configuration"
    if hup_ignored_here() {
        // Run under `nohup`: a shell cannot trap a signal ignored on entry,
        // so the handler cannot show; the delivery must still be harmless.
        assert!(alive(pid));
    } else {
        let reloaded = eventually(DEADLINE, || {
            std::fs::read_to_string(&log).is_ok_and(|s| s.contains("hup"))
        })
        .await;
        assert!(reloaded, "the HUP handler ran");
        assert!(alive(pid), "HUP was handled, not fatal");
    }

    group.suspend()?; // freeze the whole tree…
    assert!(eventually(DEADLINE, || held_still(pid)).await, "suspended");
    group.suspend()?; // idempotent
    group.resume()?; // …and let it run again
    assert!(eventually(DEADLINE, || !held_still(pid)).await, "resumed");
    assert!(alive(pid));

    // Signal::Kill takes the whole-tree hard-kill path.
    group.signal(Signal::Kill)?;
    assert_gone(&[pid], "after Signal::Kill").await;
    Ok(())
}

// ----- Members and wait_any ------------------------------------------------------

/// `let (idx, code) = wait_any(&mut [&mut a, &mut b]).await?;`
#[cfg(feature = "process-control")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_and_wait_any_example() -> processkit::Result<()> {
    use processkit::{ProcessGroup, wait_any};
    let group = ProcessGroup::new()?;
    let mut a = group.start(&Command::new("sleep").arg("30")).await?;
    let mut b = group
        .start(&Command::new("sh").args(["-c", "sleep 0.3; exit 3"]))
        .await?;
    let members = group.members()?;
    println!("live pids: {members:?}");
    assert!(members.contains(&a.pid().unwrap()), "{members:?}");
    assert!(members.contains(&b.pid().unwrap()), "{members:?}");

    // Borrows only: the loser stays usable after the race.
    let (idx, code) = wait_any(&mut [&mut a, &mut b]).await?;
    println!("contender #{idx} exited first with {code:?}");
    assert_eq!((idx, code), (1, Some(3)));
    assert!(a.exit_status().is_none(), "the loser is still running");
    a.kill().await?;
    assert_eq!(a.wait().await?, None);
    Ok(())
}

// ----- wait_all and output_all -----------------------------------------------------

/// `wait_all` joins in input order; `output_all` fans out with a cap and
/// collects every independent result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_all_and_output_all_example() -> processkit::Result<()> {
    use processkit::{JobRunner, output_all, wait_all};
    let dir = scratch();
    let live = dir.path().join("live");
    std::fs::create_dir(&live).unwrap();
    let peaks = dir.path().join("peaks");
    // Fails for every name ending in 7; records how many siblings are alive.
    let convert = script(
        dir.path(),
        "convert",
        &format!(
            "#!/bin/sh\ntouch {live}/$$\nls {live} | wc -l >> {peaks}\ncase \"$1\" in *7.png) echo \"cannot read $1\" >&2; rm {live}/$$; exit 1;; esac\nsleep 0.01\nrm {live}/$$\n",
            live = live.display(),
            peaks = peaks.display()
        ),
    );

    let group = processkit::ProcessGroup::new()?;
    let mut a = group
        .start(&Command::new("sh").args(["-c", "sleep 0.2; exit 2"]))
        .await?;
    let mut b = group.start(&Command::new("true")).await?;
    let codes = wait_all(&mut [&mut a, &mut b]).await?; // both, in input order
    assert_eq!(codes, vec![Some(2), Some(0)]);

    // 200 conversions, but never more than 8 processes alive at once.
    let cmds = (0..200).map(|i| Command::new(&convert).arg(format!("{i}.png")));
    let results = output_all(cmds, 8, &JobRunner).await;
    let failed = results
        .iter()
        .filter(|r| !matches!(r, Ok(o) if o.is_success()))
        .count();
    println!("{codes:?}; {failed} conversions failed");
    assert_eq!(results.len(), 200);
    assert_eq!(failed, 20);
    assert!(matches!(&results[7], Ok(o) if o.code() == Some(1) && o.stderr().contains("7.png")));
    let peak = std::fs::read_to_string(&peaks)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .max()
        .unwrap();
    assert!(peak <= 8, "{peak} conversions were alive at once");
    Ok(())
}

/// "Pass `&group` instead of `&JobRunner` to keep every child in one shared
/// kill-on-drop group."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_all_through_a_group_shares_its_container() -> processkit::Result<()> {
    use processkit::{ProcessGroup, output_all};
    let group = ProcessGroup::new()?;
    let cmds = (0..6).map(|i| Command::new("sh").args(["-c", &format!("echo {i}")]));
    let results = output_all(cmds, 3, &group).await;
    let outs: Vec<String> = results
        .into_iter()
        .map(|r| r.unwrap().stdout().trim().to_owned())
        .collect();
    assert_eq!(outs, ["0", "1", "2", "3", "4", "5"]);
    assert!(group.is_empty()?);
    Ok(())
}

// ----- Stats and profile -------------------------------------------------------------

/// `sample_stats` as a series, `profile` as a one-shot summary.
#[cfg(feature = "stats")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_profile_example() -> processkit::Result<()> {
    use processkit::{ProcessGroup, StreamExt};
    let dir = scratch();
    let crunch = script(
        dir.path(),
        "crunch",
        "#!/bin/sh\ni=0\nwhile [ $i -lt 150000 ]; do i=$((i+1)); done\n",
    );

    // A CPU/RSS/process-count series for a whole group:
    let group = ProcessGroup::new()?;
    let _worker = group
        .start(&Command::new("sh").args(["-c", "sleep 30 & sleep 30 & wait"]))
        .await?;
    assert!(
        eventually(DEADLINE, || group
            .stats()
            .is_ok_and(|s| s.active_process_count == 3))
        .await
    );
    let mut samples = group.sample_stats(Duration::from_millis(250));
    if let Some(s) = samples.next().await {
        println!(
            "procs={} rss={:?}",
            s.active_process_count, s.peak_memory_bytes
        );
        assert_eq!(s.active_process_count, 3, "the whole tree is counted");
        if Mechanism::current() == Mechanism::CgroupV2 {
            assert!(s.user_cpu.is_some(), "cgroup stats carry CPU time");
            assert!(s.memory_bytes.is_some(), "cgroup stats carry memory");
        }
    } else {
        panic!("sample_stats gave no sample");
    }
    drop(samples);
    group.kill()?;

    // …or a one-shot summary of a single run:
    let profile = Command::new(&crunch)
        .start()
        .await?
        .profile(Duration::from_millis(100))
        .await?;
    println!(
        "exit={:?} took={:?} peak_rss={:?} avg_cpu={:?}",
        profile.exit_code,
        profile.duration,
        profile.peak_memory_bytes,
        profile.avg_cpu(),
    );
    assert_eq!(profile.exit_code, Some(0));
    assert!(!profile.timed_out);
    assert!(profile.duration > Duration::ZERO);
    if Mechanism::current() == Mechanism::CgroupV2 {
        let cores = profile.avg_cpu().expect("CPU time on cgroup v2");
        assert!(cores > 0.0 && cores < 4.0, "{cores}");
        assert!(profile.peak_memory_bytes.is_some_and(|m| m > 0));
    }
    Ok(())
}

/// "profile … applies the run's normal timeout/output handling."
#[cfg(feature = "stats")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_applies_the_run_timeout() -> processkit::Result<()> {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let profile = Command::new("sh")
        .args(["-c", "echo started; exec sleep 30"])
        .timeout(Duration::from_secs(2))
        .on_stdout_line(move |l| sink.lock().unwrap().push(l.to_owned()))
        .start()
        .await?
        .profile(Duration::from_millis(50))
        .await?;
    assert!(profile.timed_out);
    assert_eq!(profile.exit_code, None);
    assert!(profile.duration < DEADLINE);
    assert_eq!(
        *seen.lock().unwrap(),
        ["started"],
        "line handlers see the output"
    );
    Ok(())
}

// ----- Supervisor -----------------------------------------------------------------------

/// The Supervisor example: crashes are restarted with backoff until a clean
/// exit meets the stop condition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_example() -> processkit::Result<()> {
    use processkit::{RestartPolicy, StopReason, Supervisor};
    let dir = scratch();
    let count = dir.path().join("count");
    // Crashes on its first two incarnations, then exits cleanly.
    let server = script(
        dir.path(),
        "my-server",
        &format!(
            "#!/bin/sh\n[ \"$1 $2\" = '--port 8080' ] || exit 64\necho x >> {0}\n[ $(wc -l < {0}) -ge 3 ] || exit 1\n",
            count.display()
        ),
    );
    let outcome = Supervisor::new(Command::new(&server).args(["--port", "8080"]))
        .restart(RestartPolicy::OnCrash) // Always | OnCrash | Never
        .max_restarts(5)
        .backoff(Duration::from_millis(200), 2.0) // base, multiplier (cap: .max_backoff)
        .storm_pause(Duration::from_secs(15)) // crash-loop guard (off by default)
        .stop_when(|res| res.code() == Some(0)) // a clean exit ends supervision
        .run()
        .await?;
    println!(
        "ended after {} restarts: {:?}",
        outcome.restarts, outcome.stopped
    );
    assert_eq!(outcome.restarts, 2);
    assert_eq!(outcome.stopped, StopReason::StopCondition);
    assert_eq!(outcome.last.as_ref().and_then(|r| r.code()), Some(0));
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 3);
    Ok(())
}

/// Bounded restarts: a crash loop ends with `StopReason::MaxRestarts`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_stops_after_max_restarts() -> processkit::Result<()> {
    use processkit::{RestartPolicy, StopReason, Supervisor};
    let outcome = Supervisor::new(Command::new("sh").args(["-c", "exit 9"]))
        .restart(RestartPolicy::Always)
        .max_restarts(3)
        .backoff(Duration::from_millis(5), 2.0)
        .run()
        .await?;
    assert_eq!(
        (outcome.restarts, outcome.stopped),
        (3, StopReason::MaxRestarts)
    );
    assert_eq!(outcome.last.as_ref().and_then(|r| r.code()), Some(9));
    Ok(())
}

/// `.with_runner(&group)` keeps every incarnation in one shared group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_with_group_runner() -> processkit::Result<()> {
    use processkit::{ProcessGroup, RestartPolicy, StopReason, Supervisor};
    let group = ProcessGroup::new()?;
    let outcome = Supervisor::new(Command::new("sh").args(["-c", "exit 1"]))
        .restart(RestartPolicy::OnCrash)
        .max_restarts(2)
        .backoff(Duration::from_millis(5), 1.0)
        .with_runner(&group)
        .run()
        .await?;
    assert_eq!(
        (outcome.restarts, outcome.stopped),
        (2, StopReason::MaxRestarts)
    );
    assert!(group.is_empty()?);
    Ok(())
}

// ----- Readiness probes ---------------------------------------------------------------------

/// A tiny TCP server: prints a banner with its port, then accepts forever.
const PERL_SERVER: &str = r#"
use IO::Socket::INET;
$| = 1;
print "booting\n";
my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16, ReuseAddr => 1) or die "listen: $!";
print "listening on ", $s->sockport, "\n";
while (my $c = $s->accept) { close $c; }
"#;

async fn health_check() -> bool {
    // e.g. probe an HTTP /health endpoint
    true
}

/// The readiness example: banner, port and a custom check, in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_probes_example() -> processkit::Result<()> {
    let mut run = Command::new("perl")
        .args(["-e", PERL_SERVER])
        .start()
        .await?;

    // Wait for the startup banner (returns the matching line)…
    let banner = run
        .wait_for_line(|l| l.contains("listening on"), Duration::from_secs(10))
        .await?;
    println!("server says: {banner}");
    let port: u16 = banner.rsplit(' ').next().unwrap().parse().unwrap();

    // …or for the port to accept connections…
    let addr = format!("127.0.0.1:{port}")
        .parse()
        .expect("valid socket address");
    run.wait_for_port(addr, Duration::from_secs(10)).await?;

    // …or for any async health check to pass.
    run.wait_for(|| async { health_check().await }, Duration::from_secs(10))
        .await?;

    // ready — use the server …
    let conn = tokio::net::TcpStream::connect(addr).await;
    assert!(conn.is_ok());
    Ok(())
}

/// "`wait_for_port` / `wait_for` don't touch the pipes at all": every line
/// printed before readiness is still there to stream afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_and_custom_probes_leave_stdout_unread() -> processkit::Result<()> {
    use processkit::StreamExt;
    let dir = scratch();
    let ready = dir.path().join("ready");
    let mut run = Command::new("sh")
        .args([
            "-c",
            &format!(
                "echo one; echo two; touch {}; exec sleep 30",
                ready.display()
            ),
        ])
        .start()
        .await?;
    let flag = ready.clone();
    run.wait_for(
        move || {
            let flag = flag.clone();
            async move { flag.exists() }
        },
        DEADLINE,
    )
    .await?;
    let lines: Vec<String> = run.stdout_lines().take(2).collect().await;
    assert_eq!(lines, ["one", "two"]);
    Ok(())
}

/// A probe that cannot pass in time is `Error::NotReady`, distinct from
/// `Error::Timeout`, and leaves the child running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_probe_is_not_ready_and_does_not_kill() -> processkit::Result<()> {
    let mut run = Command::new("sh")
        .args(["-c", "echo starting; exec sleep 30"])
        .start()
        .await?;
    let pid = run.pid().unwrap();
    let e = run
        .wait_for_line(|l| l.contains("listening"), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotReady { .. }), "{e:?}");
    assert!(alive(pid), "a failed probe does not kill the child");

    // No listener on a port we hold closed: wait_for_port gives NotReady.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = unused.local_addr().unwrap();
    drop(unused);
    let e = run
        .wait_for_port(addr, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotReady { .. }), "{e:?}");
    let e = run
        .wait_for(|| async { false }, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotReady { .. }), "{e:?}");
    assert!(alive(pid));
    drop(run);
    assert_gone(&[pid], "dropped after failed probes").await;
    Ok(())
}

/// A probe that can no longer pass (the child exited) fails at once, well
/// before its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_fails_fast_when_the_child_exits() -> processkit::Result<()> {
    let mut run = Command::new("sh")
        .args(["-c", "sleep 0.1; exit 1"])
        .start()
        .await?;
    let t0 = Instant::now();
    let e = run
        .wait_for(|| async { false }, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotReady { .. }), "{e:?}");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());

    let mut run = Command::new("sh")
        .args(["-c", "echo a; echo b"])
        .start()
        .await?;
    let t0 = Instant::now();
    let e = run
        .wait_for_line(|l| l == "never", Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotReady { .. }), "{e:?}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    Ok(())
}

/// `wait_for_line` consumes stdout up to the match; `finish_streamed`
/// continues from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_line_then_stream_the_rest() -> processkit::Result<()> {
    use processkit::StreamExt;
    let mut run = Command::new("sh")
        .args([
            "-c",
            "echo one; echo ready; echo two; echo three; echo warn >&2",
        ])
        .start()
        .await?;
    let line = run
        .wait_for_line(|l| l == "ready", Duration::from_secs(10))
        .await?;
    assert_eq!(line, "ready");
    let rest: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(rest, ["two", "three"]);
    let (code, stderr) = run.finish_streamed().await?;
    assert_eq!((code, stderr.as_str()), (Some(0), "warn\n"));
    Ok(())
}

// ----- Pipelines -------------------------------------------------------------------------------

/// `git log --format=%an | sort | uniq -c`, without a shell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_example() -> processkit::Result<()> {
    let repo = repo();
    let out = Command::new("git")
        .args(["log", "--format=%an"])
        .current_dir(repo.path())
        .pipe(Command::new("sort"))
        .pipe(Command::new("uniq").arg("-c"))
        .output_string()
        .await?;
    println!("{}", out.stdout());
    let lines: Vec<String> = out
        .stdout()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, ["2 Alice", "1 Bob"]);

    // The `|` operator is equivalent sugar.
    let a = Command::new("git")
        .args(["log", "--format=%an"])
        .current_dir(repo.path());
    let b = Command::new("sort");
    let c = Command::new("uniq").arg("-c");
    let sugar = (a | b | c).run().await?;
    assert_eq!(sugar, out.stdout().trim_end());
    Ok(())
}

/// Pipefail attribution, `.unchecked()`, first-stage stdin and the chain
/// timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_pipefail_unchecked_stdin_and_timeout() -> processkit::Result<()> {
    use processkit::Stdin;
    // The first stage that didn't exit cleanly decides code, stderr, program.
    let dir = scratch();
    let first = script(
        dir.path(),
        "first-stage",
        "#!/bin/sh\necho data; echo first-err >&2; exit 3\n",
    );
    let second = script(
        dir.path(),
        "second-stage",
        "#!/bin/sh\ncat; echo second-err >&2; exit 4\n",
    );
    let r = (Command::new(&first) | Command::new(&second) | Command::new("cat"))
        .output_string()
        .await?;
    assert_eq!(r.stdout(), "data\n", "stdout is the last stage's");
    assert_eq!(r.code(), Some(3));
    assert_eq!(r.stderr(), "first-err\n");
    assert!(r.program().contains("first-stage"), "{}", r.program());
    let e = (Command::new("true") | Command::new(&second) | Command::new("cat"))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NonZeroExit { code: 4, .. }), "{e:?}");
    assert!(
        e.program().is_some_and(|p| p.contains("second-stage")),
        "{e:?}"
    );

    // All succeed: the last stage reports.
    let r = (Command::new("echo").arg("x") | Command::new("cat"))
        .output_string()
        .await?;
    assert_eq!((r.code(), r.stdout().as_str()), (Some(0), "x\n"));

    // producer | head -1: the producer's SIGPIPE death is expected once unchecked.
    let first = (Command::new("yes").unchecked() | Command::new("head").arg("-1"))
        .run()
        .await?;
    assert_eq!(first, "y");
    // …and a checked failure still always wins.
    let e = (Command::new("yes").unchecked()
        | Command::new("sh").args(["-c", "head -1 >/dev/null; exit 5"]))
    .run()
    .await
    .unwrap_err();
    assert!(matches!(e, Error::NonZeroExit { code: 5, .. }), "{e:?}");
    // Without unchecked, the SIGPIPE death is the first failure.
    let e = (Command::new("yes") | Command::new("head").arg("-1"))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Killed { .. }), "{e:?}");

    // The first stage's stdin source is honored.
    let sorted = (Command::new("cat").stdin(Stdin::from_string("b\na\n")) | Command::new("sort"))
        .run()
        .await?;
    assert_eq!(sorted, "a\nb");

    // .timeout(d) bounds the whole chain.
    let pidfile = dir.path().join("pids");
    let stage = format!("echo $$ >> {}; exec sleep 30", pidfile.display());
    let t0 = Instant::now();
    let chain = (Command::new("sh").args(["-c", &stage])
        | Command::new("sh").args(["-c", &stage])
        | Command::new("sh").args(["-c", &stage]))
    .timeout(Duration::from_secs(2));
    let (r, pids) = tokio::join!(chain.output_string(), wait_for_pids(&pidfile, 3));
    let r = r?;
    assert!(r.timed_out());
    assert!(t0.elapsed() < DEADLINE);
    assert_eq!(pids.len(), 3);
    assert_gone(&pids, "pipeline after its timeout").await;
    Ok(())
}

// ----- Spawn-time controls -------------------------------------------------------------------------

/// `inherit_env`, `uid`/`gid`, `setsid`, `create_no_window` and
/// `kill_on_parent_death` as in the example.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_time_controls_example() -> processkit::Result<()> {
    let worker = Command::new("sh")
        .args([
            "-c",
            "echo \"$(id -u) $(id -g) $$ $(cut -d' ' -f6 /proc/$$/stat)\"; grep '^0::' /proc/$$/cgroup; env",
        ])
        .inherit_env(["PATH", "HOME", "LANG"]) // allow-list on a cleared env
        .uid(1000)
        .gid(1000) // Unix: drop privileges
        .setsid(); // Unix: new session
    let outcome = worker.run().await;
    if rustix::process::geteuid().is_root() {
        match outcome {
            Ok(out) => {
                let mut lines = out.lines();
                let ids: Vec<&str> = lines.next().unwrap().split(' ').collect();
                assert_eq!(&ids[..2], ["1000", "1000"], "gid and uid dropped");
                assert_eq!(ids[2], ids[3], "the worker leads its own session");
                let cgroup = lines.next().unwrap();
                if Mechanism::current() == Mechanism::CgroupV2 {
                    // Never an uncontained child.
                    assert!(cgroup.contains("/processkit-"), "{cgroup}");
                }
                let names: Vec<&str> = lines
                    .filter_map(|l| l.split_once('=').map(|(k, _)| k))
                    .collect();
                assert!(names.contains(&"PATH"), "{names:?}");
                assert!(!names.iter().any(|n| n.starts_with("CARGO")), "{names:?}");
            }
            Err(e) => {
                // The documented cgroup caveat: a permission error, never an
                // uncontained child. The process-group mechanism composes.
                assert_eq!(Mechanism::current(), Mechanism::CgroupV2, "{e:?}");
                let is_permission = match &e {
                    Error::PermissionDenied { .. } => true,
                    Error::Spawn { source, .. } => {
                        source.kind() == std::io::ErrorKind::PermissionDenied
                    }
                    _ => false,
                };
                assert!(is_permission, "{e:?}");
            }
        }
    }

    Command::new("true")
        .create_no_window() // Windows: no console window
        .run()
        .await?;

    let daemonish = Command::new("sleep")
        .arg("30")
        .kill_on_parent_death() // die with a SIGKILLed parent
        .start()
        .await?;
    let pid = daemonish.pid().unwrap();
    assert!(alive(pid));
    drop(daemonish);
    assert_gone(&[pid], "dropped daemonish").await;
    Ok(())
}

/// "`inherit_env` clears the environment and copies only the named parent
/// vars (explicit `env`/`env_remove` still apply on top)"; `setsid` keeps
/// containment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inherit_env_and_setsid_semantics() -> processkit::Result<()> {
    let out = Command::new("env")
        .inherit_env(["PATH", "HOME"])
        .env("EXTRA", "1")
        .env_remove("HOME")
        .run()
        .await?;
    let mut names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    names.sort();
    let mut expected = vec!["EXTRA", "PATH"];
    expected.retain(|n| *n != "PATH" || std::env::var_os("PATH").is_some());
    assert_eq!(names, expected);

    // setsid: the new session's tree is still reaped with the handle.
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let run = Command::new("sh")
        .args([
            "-c",
            &format!(
                "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
                pidfile.display()
            ),
        ])
        .setsid()
        .start()
        .await?;
    let pids = wait_for_pids(&pidfile, 2).await;
    assert_eq!(session_of(pids[1]), Some(pids[1]), "a new session");
    drop(run);
    assert_gone(&pids, "setsid tree after drop").await;
    Ok(())
}

// ----- Cancellation ------------------------------------------------------------------------------------

/// The cancellation example, exactly: cancelling the token makes the run
/// `Error::Cancelled`.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_example() -> processkit::Result<()> {
    use processkit::CancellationToken;
    let token = CancellationToken::new();
    let job = tokio::spawn({
        let token = token.child_token();
        async move { Command::new("sleep").arg("30").cancel_on(token).run().await }
    });
    // elsewhere — a shutdown signal, a sibling failure, a UI button:
    token.cancel();
    assert!(matches!(
        job.await.unwrap(),
        Err(processkit::Error::Cancelled { .. })
    ));
    Ok(())
}

/// Cancelling a running command kills its whole tree; a pre-cancelled
/// token spawns nothing; cancel wins over a timeout.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_kills_the_tree_and_short_circuits() -> processkit::Result<()> {
    use processkit::CancellationToken;
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let token = CancellationToken::new();
    let job = tokio::spawn({
        let token = token.child_token();
        let script = format!(
            "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
            pidfile.display()
        );
        async move {
            Command::new("sh")
                .args(["-c", &script])
                .cancel_on(token)
                .output_string()
                .await
        }
    });
    let pids = wait_for_pids(&pidfile, 2).await;
    token.cancel();
    let r = job.await.unwrap();
    assert!(matches!(r, Err(Error::Cancelled { .. })), "{r:?}");
    assert_gone(&pids, "cancelled tree").await;

    // Cancelled before the run starts: nothing is spawned.
    let marker = dir.path().join("spawned");
    let token = CancellationToken::new();
    token.cancel();
    let r = Command::new("sh")
        .args(["-c", &format!("touch {}", marker.display())])
        .cancel_on(token)
        .output_string()
        .await;
    assert!(matches!(r, Err(Error::Cancelled { .. })), "{r:?}");
    assert!(!marker.exists(), "a pre-cancelled run spawned a process");

    // A cancel and a timeout landing together: cancellation wins.
    let token = CancellationToken::new();
    let cancel = token.clone();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    });
    let r = Command::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(100))
        .cancel_on(token.clone())
        .output_string()
        .await;
    canceller.await.unwrap();
    // Either the cancel landed first or the timeout did; once both have
    // landed, a timeout that was captured must not hide a cancel that the
    // caller sees as already done.
    if token.is_cancelled() {
        match r {
            Err(Error::Cancelled { .. }) => {}
            Ok(res) => assert!(res.timed_out(), "{res:?}"),
            Err(e) => panic!("{e:?}"),
        }
    }
    Ok(())
}

/// On a shared group, cancelling kills the child itself but leaves its
/// siblings alone; a cancelled supervised command stops the Supervisor.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_scope_in_groups_and_supervisors() -> processkit::Result<()> {
    use processkit::{CancellationToken, ProcessGroup, Supervisor};
    let group = ProcessGroup::new()?;
    let sibling = group.start(&Command::new("sleep").arg("30")).await?;
    let token = CancellationToken::new();
    let mut victim = group
        .start(&Command::new("sleep").arg("30").cancel_on(token.clone()))
        .await?;
    let victim_pid = victim.pid().unwrap();
    token.cancel();
    let r = victim.wait().await;
    assert!(matches!(r, Err(Error::Cancelled { .. })), "{r:?}");
    assert_gone(&[victim_pid], "cancelled member").await;
    assert!(alive(sibling.pid().unwrap()), "the sibling is left alone");

    let token = CancellationToken::new();
    let stop = token.clone();
    let sup = tokio::spawn(async move {
        Supervisor::new(Command::new("sleep").arg("30").cancel_on(token))
            .max_restarts(100)
            .backoff(Duration::from_millis(1), 1.0)
            .run()
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    let r = tokio::time::timeout(DEADLINE, sup)
        .await
        .expect("supervisor stopped")
        .unwrap();
    assert!(matches!(r, Err(Error::Cancelled { .. })), "{r:?}");
    group.kill()?;
    Ok(())
}

/// `CliClient::new("gh").default_cancel_on(token.child_token())` —
/// cancelling it kills every in-flight command of that client.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_client_default_cancel_on() -> processkit::Result<()> {
    use processkit::{CancellationToken, CliClient};
    let token = CancellationToken::new();
    let client = CliClient::new("sleep").default_cancel_on(token.child_token());
    let a = client.run(client.command(["30"]));
    let b = client.output_string(client.command(["30"]));
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        token.cancel();
    };
    let (ra, rb, ()) = tokio::time::timeout(DEADLINE, async { tokio::join!(a, b, cancel) })
        .await
        .expect("cancellation ended both runs");
    assert!(matches!(ra, Err(Error::Cancelled { .. })), "{ra:?}");
    assert!(matches!(rb, Err(Error::Cancelled { .. })), "{rb:?}");
    Ok(())
}

// ----- Streaming lines ---------------------------------------------------------------------------

/// `stdout_lines` + `finish_streamed` as in the example.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_lines_example() -> processkit::Result<()> {
    use processkit::StreamExt;
    let repo = repo();
    let mut run = Command::new("git")
        .args(["log", "--oneline", "-n", "50"])
        .current_dir(repo.path())
        .start()
        .await?;
    let mut seen = Vec::new();
    let mut lines = run.stdout_lines();
    while let Some(line) = lines.next().await {
        println!("commit: {line}");
        seen.push(line);
    }
    // After the stream ends, collect the exit code and whatever went to stderr.
    let (code, stderr) = run.finish_streamed().await?;
    if code != Some(0) {
        eprintln!("git exited {code:?}: {stderr}");
    }
    assert_eq!(code, Some(0));
    assert_eq!(seen.len(), 3);
    assert!(seen[0].ends_with("change 2"), "{seen:?}");
    Ok(())
}

/// The command's timeout bounds the stream; `code` is `None` for a killed run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_bounds_the_stream() -> processkit::Result<()> {
    use processkit::StreamExt;
    let mut run = Command::new("sh")
        .args(["-c", "echo first; echo err >&2; sleep 30"])
        .timeout(Duration::from_secs(2))
        .start()
        .await?;
    let t0 = Instant::now();
    let lines: Vec<String> = run.stdout_lines().collect().await;
    assert!(t0.elapsed() < DEADLINE);
    assert_eq!(lines, ["first"]);
    let (code, stderr) = run.finish_streamed().await?;
    assert_eq!(code, None);
    assert_eq!(stderr, "err\n");
    Ok(())
}

/// A `cancel_on` token ends the stream the same way; `finish_streamed`
/// then reports `Error::Cancelled`.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_ends_the_stream() -> processkit::Result<()> {
    use processkit::{CancellationToken, StreamExt};
    let token = CancellationToken::new();
    let mut run = Command::new("sh")
        .args(["-c", "echo first; sleep 30"])
        .cancel_on(token.clone())
        .start()
        .await?;
    let pid = run.pid().unwrap();
    let mut lines = run.stdout_lines();
    assert_eq!(lines.next().await.as_deref(), Some("first"));
    token.cancel();
    let rest = tokio::time::timeout(DEADLINE, lines.collect::<Vec<_>>())
        .await
        .expect("the stream ended");
    assert!(rest.is_empty());
    let r = run.finish_streamed().await;
    assert!(matches!(r, Err(Error::Cancelled { .. })), "{r:?}");
    assert_gone(&[pid], "cancelled stream").await;
    Ok(())
}

// ----- Interactive stdin -----------------------------------------------------------------------------

/// `bc` answering two questions over a kept-open stdin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_stdin_with_bc() -> processkit::Result<()> {
    use processkit::StreamExt;
    // `bc` evaluates each stdin line and prints the result on stdout.
    let mut run = Command::new("bc").keep_stdin_open().start().await?;
    let mut stdin = run.standard_input().expect("stdin was kept open");
    stdin.write_line("2 + 2").await?;
    stdin.write_line("6 * 7").await?;
    stdin.finish().await?; // send EOF so bc finishes

    let mut said = Vec::new();
    let mut answers = run.stdout_lines();
    while let Some(answer) = answers.next().await {
        println!("bc says: {answer}");
        said.push(answer);
    }
    assert_eq!(said, ["4", "42"]);
    Ok(())
}

/// Writes and reads interleave: each answer is read before the next
/// question is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_stdin_is_conversational() -> processkit::Result<()> {
    use processkit::StreamExt;
    let mut run = Command::new("bc").keep_stdin_open().start().await?;
    let mut stdin = run.standard_input().expect("stdin was kept open");
    for (q, a) in [("1 + 1", "2"), ("3 * 3", "9"), ("10 / 2", "5")] {
        stdin.write_line(q).await?;
        let got = tokio::time::timeout(DEADLINE, run.stdout_lines().next())
            .await
            .expect("bc answered");
        assert_eq!(got.as_deref(), Some(a));
    }
    stdin.finish().await?;
    let (code, _) = run.finish_streamed().await?;
    assert_eq!(code, Some(0));
    Ok(())
}

/// `Stdin::from_lines` + `on_stdout_line`: the handler sees each line, in
/// addition to capture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_from_lines_with_line_handler() -> processkit::Result<()> {
    use processkit::Stdin;
    use std::sync::{Arc, Mutex};
    use tokio_stream::iter; // any `Stream<Item = String>` works

    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let input = iter(vec![
        "banana".to_owned(),
        "apple".to_owned(),
        "cherry".to_owned(),
    ]);
    let result = Command::new("sort")
        .stdin(Stdin::from_lines(input))
        .on_stdout_line(move |line| {
            println!("sorted: {line}");
            sink.lock().unwrap().push(line.to_owned());
        })
        .output_string()
        .await?;
    assert_eq!(*seen.lock().unwrap(), ["apple", "banana", "cherry"]);
    assert_eq!(
        result.stdout(),
        "apple\nbanana\ncherry\n",
        "capture still happens"
    );
    Ok(())
}

// ----- CliClient and cli_client! ------------------------------------------------------------------------

use processkit::{ProcessRunner, cli_client};

cli_client!(pub struct Git => "git");

impl<R: ProcessRunner> Git<R> {
    async fn head(&self, dir: &Path) -> processkit::Result<String> {
        self.core
            .run(self.core.command_in(dir, ["rev-parse", "HEAD"]))
            .await
    }
}

/// The `cli_client!` example against the real `git` and hermetically.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_client_macro_example() -> processkit::Result<()> {
    use processkit::ScriptedRunner;
    let repo = repo();
    let real = Git::new().head(repo.path()).await?;
    let direct = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo.path())
        .run()
        .await?;
    assert_eq!(real, direct);

    let scripted =
        Git::with_runner(ScriptedRunner::new().on(["git", "rev-parse", "HEAD"], "abc123\n"));
    assert_eq!(scripted.head(Path::new("/repo")).await?, "abc123");
    let calls = scripted.core.runner().calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].cwd.as_deref(), Some(Path::new("/repo")));
    Ok(())
}

/// "A scripted `start()` feeds canned lines through the same pump
/// machinery": `wait_for_line` and `stdout_lines` work hermetically.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_start_streams_canned_lines() -> processkit::Result<()> {
    use processkit::{ScriptedOutcome, ScriptedRunner, StreamExt};
    let git = Git::with_runner(ScriptedRunner::new().on(
        ["git", "log", "--oneline"],
        ScriptedOutcome::success().lines(["c3 third", "c2 second", "c1 first"]),
    ));
    let mut run = git
        .core
        .start(git.core.command(["log", "--oneline"]))
        .await?;
    let hit = run
        .wait_for_line(|l| l.starts_with("c2"), Duration::from_secs(5))
        .await?;
    assert_eq!(hit, "c2 second");
    let rest: Vec<String> = run.stdout_lines().collect().await;
    assert_eq!(rest, ["c1 first"]);
    let (code, _) = run.finish_streamed().await?;
    assert_eq!(code, Some(0));
    Ok(())
}

// ----- Record / replay -------------------------------------------------------------------------------------

/// The record/replay example: record once, replay identically.
#[cfg(feature = "record")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_replay_example() -> processkit::Result<()> {
    use processkit::{JobRunner, ProcessRunnerExt, RecordReplayRunner};
    let dir = scratch();
    let path = dir.path().join("fixtures/git.json");

    // Record once against the real tool:
    let runner = RecordReplayRunner::record(&path, JobRunner::new());
    let version = runner.run(&Command::new("git").arg("--version")).await?;
    runner.save()?; // or best-effort on drop

    // Replay everywhere else — no subprocess, identical results:
    let runner = RecordReplayRunner::replay(&path)?;
    assert_eq!(
        runner.run(&Command::new("git").arg("--version")).await?,
        version
    );
    Ok(())
}

/// The prose around record/replay: env values never reach the file,
/// repeated invocations replay in order then repeat the last, a miss is a
/// strict error, and matching looks at args, cwd and has-stdin.
#[cfg(feature = "record")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_replay_semantics() -> processkit::Result<()> {
    use processkit::{JobRunner, ProcessRunnerExt, RecordReplayRunner, Stdin};
    let dir = scratch();
    let path = dir.path().join("cassette.json");
    let counter = dir.path().join("n");
    let bump = format!("echo x >> {0}; wc -l < {0}", counter.display());

    let rec = RecordReplayRunner::record(&path, JobRunner::new());
    let tick = Command::new("sh").args(["-c", &bump]);
    let first = rec.run(&tick).await?;
    let second = rec.run(&tick).await?;
    assert_eq!((first.as_str(), second.as_str()), ("1", "2"));
    let secret = Command::new("sh")
        .args(["-c", "echo $SECRET_TOKEN | wc -c"])
        .env("SECRET_TOKEN", "hunter2-do-not-leak");
    rec.run(&secret).await?;
    let fed = Command::new("cat").stdin(Stdin::from_string("fed\n"));
    assert_eq!(rec.run(&fed).await?, "fed");
    let failing = rec
        .output_string(&Command::new("sh").args(["-c", "echo e >&2; exit 3"]))
        .await?;
    assert_eq!(failing.code(), Some(3));
    rec.save()?;

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("hunter2"),
        "an env value reached the cassette"
    );
    assert!(text.contains("SECRET_TOKEN"), "the env name is kept");

    let rep = RecordReplayRunner::replay(&path)?;
    assert_eq!(rep.run(&tick).await?, "1");
    assert_eq!(rep.run(&tick).await?, "2");
    assert_eq!(rep.run(&tick).await?, "2", "the last entry repeats");
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().lines().count(),
        2,
        "replay spawned"
    );
    let f = rep
        .output_string(&Command::new("sh").args(["-c", "echo e >&2; exit 3"]))
        .await?;
    assert_eq!((f.code(), f.stderr().as_str()), (Some(3), "e\n"));
    assert_eq!(rep.run(&fed).await?, "fed");

    // Absent invocations are strict errors: other args, cwd, or stdin.
    let miss = rep
        .run(&Command::new("git").arg("status"))
        .await
        .unwrap_err();
    assert!(matches!(miss, Error::NoScriptedOutcome { .. }), "{miss:?}");
    let miss = rep
        .run(&tick.clone().current_dir(dir.path()))
        .await
        .unwrap_err();
    assert!(matches!(miss, Error::NoScriptedOutcome { .. }), "{miss:?}");
    let miss = rep.run(&Command::new("cat")).await.unwrap_err();
    assert!(matches!(miss, Error::NoScriptedOutcome { .. }), "{miss:?}");
    Ok(())
}

/// "Every consuming path reports `Error::Cancelled`": the one-shot verbs,
/// a group start and a pipeline with a pre-cancelled token, and every
/// handle method after a cancel lands mid-run.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_consuming_path_reports_cancelled() -> processkit::Result<()> {
    use processkit::{CancellationToken, ProcessGroup, StreamExt};
    fn cancelled<T: std::fmt::Debug>(what: &str, r: processkit::Result<T>) {
        assert!(matches!(r, Err(Error::Cancelled { .. })), "{what}: {r:?}");
    }
    let done = CancellationToken::new();
    done.cancel();
    let cmd = Command::new("sleep").arg("30").cancel_on(done.clone());
    cancelled("run", cmd.run().await);
    cancelled("output_string", cmd.output_string().await);
    cancelled("output_bytes", cmd.output_bytes().await);
    cancelled("exit_code", cmd.exit_code().await);
    cancelled("probe", cmd.probe().await);
    cancelled("first_line", cmd.first_line(|_| true).await);
    cancelled("start", cmd.start().await);
    let group = ProcessGroup::new()?;
    cancelled("group.start", group.start(&cmd).await);
    assert!(group.is_empty()?);
    cancelled(
        "pipeline",
        (Command::new("yes") | Command::new("cat"))
            .cancel_on(done.clone())
            .output_string()
            .await,
    );

    // Mid-run cancels, one per handle method.
    async fn started(token: &CancellationToken) -> processkit::RunningProcess {
        Command::new("sh")
            .args(["-c", "echo up; exec sleep 30"])
            .cancel_on(token.clone())
            .start()
            .await
            .unwrap()
    }
    let after = |token: CancellationToken| {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            token.cancel();
        })
    };
    let t = CancellationToken::new();
    let mut run = started(&t).await;
    after(t);
    cancelled("wait", run.wait().await);
    let t = CancellationToken::new();
    let run = started(&t).await;
    after(t);
    cancelled("output_string (handle)", run.output_string().await);
    let t = CancellationToken::new();
    let mut run = started(&t).await;
    after(t);
    let rest: Vec<String> = run.stdout_lines().collect().await;
    assert!(rest.len() <= 1, "{rest:?}");
    cancelled("finish_streamed", run.finish_streamed().await);
    let t = CancellationToken::new();
    let mut run = started(&t).await;
    after(t);
    cancelled(
        "wait_for_line",
        run.wait_for_line(|l| l == "never", Duration::from_secs(30))
            .await,
    );
    let t = CancellationToken::new();
    let mut run = started(&t).await;
    after(t);
    cancelled(
        "wait_for",
        run.wait_for(|| async { false }, Duration::from_secs(30))
            .await,
    );
    #[cfg(feature = "stats")]
    {
        let t = CancellationToken::new();
        let run = started(&t).await;
        after(t);
        cancelled("profile", run.profile(Duration::from_millis(20)).await);
    }
    Ok(())
}

/// "When a cancel and a timeout land together, cancellation wins": both
/// have passed before the handle is next polled.
#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_landing_with_a_timeout_wins() -> processkit::Result<()> {
    use processkit::CancellationToken;
    let token = CancellationToken::new();
    let mut run = Command::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(50))
        .cancel_on(token.clone())
        .start()
        .await?;
    // Let the deadline pass, then cancel, before the handle is polled again.
    tokio::time::sleep(Duration::from_millis(150)).await;
    token.cancel();
    let r = run.wait().await;
    assert!(matches!(r, Err(Error::Cancelled { .. })), "{r:?}");
    Ok(())
}

/// A `ScriptedRunner` tests supervision logic hermetically.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_runs_hermetically_on_a_scripted_runner() -> processkit::Result<()> {
    use processkit::{ScriptedOutcome, ScriptedRunner, StopReason, Supervisor};
    let runner = ScriptedRunner::new().on_program("my-server", ScriptedOutcome::exit(1));
    let outcome = Supervisor::new(Command::new("my-server").args(["--port", "8080"]))
        .max_restarts(3)
        .backoff(Duration::from_millis(1), 1.0)
        .with_runner(&runner)
        .run()
        .await?;
    assert_eq!(
        (outcome.restarts, outcome.stopped),
        (3, StopReason::MaxRestarts)
    );
    assert_eq!(runner.calls().len(), 4);
    assert_eq!(runner.calls()[0].argv(), ["my-server", "--port", "8080"]);
    Ok(())
}

/// The README's examples, character for character (only `#[tokio::main]`
/// and the `main` names differ), compiled but never run: they name
/// placeholder programs. A mismatch between the contract and the API fails
/// the build of this file.
#[allow(dead_code, unused_variables, clippy::all)]
#[rustfmt::skip]
mod verbatim {
    mod quick_start {
        use processkit::Command;
        async fn main() -> processkit::Result<()> {
            let version = Command::new("cargo").arg("--version").run().await?;
            println!("{version}");
            Ok(())
        }
    }

    mod verbs {
        use processkit::{Command, ProcessGroup, Stdin};
        async fn main() -> processkit::Result<()> {
            // Capture output; a non-zero exit does not error on its own.
            let result = Command::new("git").args(["rev-parse", "HEAD"]).output_string().await?;
            println!("HEAD is {}", result.stdout().trim());
            // Require success and get trimmed stdout directly.
            let version = Command::new("cargo").arg("--version").run().await?;
            println!("{version}");
            // Feed stdin.
            let sorted = Command::new("sort")
                .stdin(Stdin::from_string("banana\napple\n"))
                .output_string()
                .await?;
            println!("{}", sorted.stdout());
            // Share one kill-on-drop group across several children; dropping the group
            // reaps the whole tree.
            let group = ProcessGroup::new()?;
            let _server = group.start(&Command::new("some-server")).await?;
            // ... work ...
            group.shutdown().await?; // graceful SIGTERM → wait → SIGKILL (Unix); atomic on Windows
            Ok(())
        }
        async fn one_liners() -> processkit::Result<()> {
            let _ = processkit::run("git", ["status"]).await?;
            let _ = processkit::output("git", ["status"]).await?;
            Ok(())
        }
    }

    #[cfg(feature = "limits")]
    mod limits {
        use processkit::{Command, ProcessGroup, ProcessGroupOptions};
        async fn main() -> processkit::Result<()> {
            let group = ProcessGroup::with_options(
                ProcessGroupOptions::default()
                    .memory_max(512 * 1024 * 1024) // 512 MiB across the tree
                    .max_processes(64)
                    .cpu_quota(0.5), // half of one core
            )?;
            let _job = group.start(&Command::new("untrusted-tool")).await?;
            // ... work ...
            Ok(())
        }
    }

    #[cfg(feature = "process-control")]
    mod signals {
        use processkit::{Command, ProcessGroup, Signal};
        async fn main() -> processkit::Result<()> {
            let group = ProcessGroup::new()?;
            let _server = group.start(&Command::new("my-server")).await?;
            group.signal(Signal::Hup)?; // e.g. "reload configuration"
            group.suspend()?; // freeze the whole tree…
            group.resume()?; // …and let it run again
            Ok(())
        }
    }

    #[cfg(feature = "process-control")]
    mod members_wait_any {
        use processkit::{Command, ProcessGroup, wait_any};
        async fn main() -> processkit::Result<()> {
            let group = ProcessGroup::new()?;
            let mut a = group.start(&Command::new("server-a")).await?;
            let mut b = group.start(&Command::new("server-b")).await?;
            println!("live pids: {:?}", group.members()?);
            // Borrows only: the loser stays usable after the race.
            let (idx, code) = wait_any(&mut [&mut a, &mut b]).await?;
            println!("contender #{idx} exited first with {code:?}");
            Ok(())
        }
    }

    mod wait_all_output_all {
        use processkit::{Command, JobRunner, output_all, wait_all};
        async fn main() -> processkit::Result<()> {
            let group = processkit::ProcessGroup::new()?;
            let mut a = group.start(&Command::new("worker-a")).await?;
            let mut b = group.start(&Command::new("worker-b")).await?;
            let codes = wait_all(&mut [&mut a, &mut b]).await?; // both, in input order
            // 200 conversions, but never more than 8 processes alive at once.
            let cmds = (0..200).map(|i| Command::new("convert").arg(format!("{i}.png")));
            let results = output_all(cmds, 8, &JobRunner).await;
            let failed = results.iter().filter(|r| !matches!(r, Ok(o) if o.is_success())).count();
            println!("{:?}; {failed} conversions failed", codes);
            Ok(())
        }
    }

    #[cfg(feature = "stats")]
    mod stats_profile {
        use processkit::{Command, ProcessGroup, StreamExt};
        use std::time::Duration;
        async fn main() -> processkit::Result<()> {
            // A CPU/RSS/process-count series for a whole group:
            let group = ProcessGroup::new()?;
            let _worker = group.start(&Command::new("worker")).await?;
            let mut samples = group.sample_stats(Duration::from_millis(250));
            if let Some(s) = samples.next().await {
                println!("procs={} rss={:?}", s.active_process_count, s.peak_memory_bytes);
            }
            drop(samples);
            // …or a one-shot summary of a single run:
            let profile = Command::new("crunch")
                .start().await?
                .profile(Duration::from_millis(100)).await?;
            println!(
                "exit={:?} took={:?} peak_rss={:?} avg_cpu={:?}",
                profile.exit_code, profile.duration, profile.peak_memory_bytes, profile.avg_cpu(),
            );
            Ok(())
        }
    }

    mod supervisor {
        use processkit::{Command, RestartPolicy, Supervisor};
        use std::time::Duration;
        async fn main() -> processkit::Result<()> {
            let outcome = Supervisor::new(Command::new("my-server").args(["--port", "8080"]))
                .restart(RestartPolicy::OnCrash) // Always | OnCrash | Never
                .max_restarts(5)
                .backoff(Duration::from_millis(200), 2.0) // base, multiplier (cap: .max_backoff)
                .storm_pause(Duration::from_secs(15)) // crash-loop guard (off by default)
                .stop_when(|res| res.code() == Some(0)) // a clean exit ends supervision
                .run()
                .await?;
            println!("ended after {} restarts: {:?}", outcome.restarts, outcome.stopped);
            Ok(())
        }
    }

    mod readiness {
        use processkit::Command;
        use std::time::Duration;
        async fn main() -> processkit::Result<()> {
            let mut run = Command::new("my-server").start().await?;
            // Wait for the startup banner (returns the matching line)…
            let banner = run
                .wait_for_line(|l| l.contains("listening on"), Duration::from_secs(10))
                .await?;
            println!("server says: {banner}");
            // …or for the port to accept connections…
            let addr = "127.0.0.1:8080".parse().expect("valid socket address");
            run.wait_for_port(addr, Duration::from_secs(10)).await?;
            // …or for any async health check to pass.
            run.wait_for(|| async { health_check().await }, Duration::from_secs(10)).await?;
            // ready — use the server …
            Ok(())
        }
        async fn health_check() -> bool {
            // e.g. probe an HTTP /health endpoint
            true
        }
    }

    mod pipelines {
        use processkit::Command;
        async fn main() -> processkit::Result<()> {
            let out = Command::new("git").args(["log", "--format=%an"])
                .pipe(Command::new("sort"))
                .pipe(Command::new("uniq").arg("-c"))
                .output_string()
                .await?;
            println!("{}", out.stdout());
            Ok(())
        }
        async fn sugar() -> processkit::Result<String> {
            let (a, b, c) = (Command::new("a"), Command::new("b"), Command::new("c"));
            (a | b | c).run().await
        }
    }

    mod spawn_controls {
        use processkit::Command;
        async fn main() -> processkit::Result<()> {
            Command::new("worker")
                .inherit_env(["PATH", "HOME", "LANG"]) // allow-list on a cleared env
                .uid(1000).gid(1000) // Unix: drop privileges
                .setsid() // Unix: new session
                .run()
                .await?;
            Command::new("helper")
                .create_no_window() // Windows: no console window
                .run()
                .await?;
            Command::new("daemonish")
                .kill_on_parent_death() // die with a SIGKILLed parent
                .start()
                .await?;
            Ok(())
        }
    }

    #[cfg(feature = "cancellation")]
    mod cancellation {
        use processkit::{CancellationToken, Command};
        async fn main() -> processkit::Result<()> {
            let token = CancellationToken::new();
            let job = tokio::spawn({
                let token = token.child_token();
                async move {
                    Command::new("long-job").cancel_on(token).run().await
                }
            });
            // elsewhere — a shutdown signal, a sibling failure, a UI button:
            token.cancel();
            assert!(matches!(job.await.unwrap(), Err(processkit::Error::Cancelled { .. })));
            Ok(())
        }
        fn client(token: &CancellationToken) -> processkit::CliClient {
            processkit::CliClient::new("gh").default_cancel_on(token.child_token())
        }
    }

    mod streaming {
        use processkit::{Command, StreamExt};
        async fn main() -> processkit::Result<()> {
            let mut run = Command::new("git")
                .args(["log", "--oneline", "-n", "50"])
                .start()
                .await?;
            let mut lines = run.stdout_lines();
            while let Some(line) = lines.next().await {
                println!("commit: {line}");
            }
            // After the stream ends, collect the exit code and whatever went to stderr
            // (drained in the background while you streamed stdout). `code` is `None` if
            // the run was killed (timeout / signal) and so produced no exit code.
            let (code, stderr) = run.finish_streamed().await?;
            if code != Some(0) {
                eprintln!("git exited {code:?}: {stderr}");
            }
            Ok(())
        }
    }

    mod interactive {
        use processkit::{Command, StreamExt};
        async fn main() -> processkit::Result<()> {
            // `bc` evaluates each stdin line and prints the result on stdout.
            let mut run = Command::new("bc").keep_stdin_open().start().await?;
            let mut stdin = run.standard_input().expect("stdin was kept open");
            stdin.write_line("2 + 2").await?;
            stdin.write_line("6 * 7").await?;
            stdin.finish().await?; // send EOF so bc finishes
            let mut answers = run.stdout_lines();
            while let Some(answer) = answers.next().await {
                println!("bc says: {answer}");
            }
            Ok(())
        }
    }

    mod from_lines {
        use processkit::{Command, Stdin};
        use tokio_stream::iter; // any `Stream<Item = String>` works
        async fn main() -> processkit::Result<()> {
            let input = iter(vec!["banana".to_owned(), "apple".to_owned(), "cherry".to_owned()]);
            let result = Command::new("sort")
                .stdin(Stdin::from_lines(input))
                .on_stdout_line(|line| println!("sorted: {line}"))
                .output_string()
                .await?;
            let _ = result; // already printed line by line above
            Ok(())
        }
    }

    mod cli {
        use processkit::{ProcessRunner, Result, cli_client};
        use std::path::Path;
        cli_client!(pub struct Git => "git");
        impl<R: ProcessRunner> Git<R> {
            async fn head(&self, dir: &Path) -> Result<String> {
                self.core.run(self.core.command_in(dir, ["rev-parse", "HEAD"])).await
            }
        }
    }

    #[cfg(feature = "record")]
    mod record {
        use processkit::{Command, JobRunner, ProcessRunnerExt, RecordReplayRunner};
        async fn main() -> processkit::Result<()> {
            // Record once against the real tool (e.g. an opt-in `--record` test run):
            let runner = RecordReplayRunner::record("fixtures/git.json", JobRunner::new());
            let version = runner.run(&Command::new("git").arg("--version")).await?;
            runner.save()?; // or best-effort on drop
            // Replay everywhere else — no subprocess, identical results:
            let runner = RecordReplayRunner::replay("fixtures/git.json")?;
            assert_eq!(runner.run(&Command::new("git").arg("--version")).await?, version);
            Ok(())
        }
    }
}

/// Record/replay, continued: a recorder saves on drop; env differences never
/// cause a miss (only the names are stored, and they are not part of the
/// key); a cassette of another format version fails loudly.
#[cfg(feature = "record")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_replay_saves_on_drop_and_ignores_env_in_matching() -> processkit::Result<()> {
    use processkit::{JobRunner, ProcessRunnerExt, RecordReplayRunner};
    let dir = scratch();
    let path = dir.path().join("drop.json");
    {
        let rec = RecordReplayRunner::record(&path, JobRunner::new());
        let out = rec
            .run(
                &Command::new("sh")
                    .args(["-c", "echo $GREETING"])
                    .env("GREETING", "hi"),
            )
            .await?;
        assert_eq!(out, "hi");
    } // best-effort save on drop
    let rep = RecordReplayRunner::replay(&path)?;
    let replayed = rep
        .run(
            &Command::new("sh")
                .args(["-c", "echo $GREETING"])
                .env("OTHER", "x"),
        )
        .await?;
    assert_eq!(replayed, "hi");

    let text = std::fs::read_to_string(&path).unwrap();
    let bumped = text.replacen("\"version\": 1", "\"version\": 999", 1);
    assert_ne!(bumped, text, "the cassette carries a format version");
    let future = dir.path().join("future.json");
    std::fs::write(&future, bumped).unwrap();
    assert!(RecordReplayRunner::replay(&future).is_err());
    Ok(())
}

/// A timed-out run is a crash to the supervisor: restarted under `OnCrash`,
/// and the final result says it timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_restarts_a_timed_out_run() -> processkit::Result<()> {
    use processkit::{RestartPolicy, StopReason, Supervisor};
    let outcome = Supervisor::new(
        Command::new("sleep")
            .arg("30")
            .timeout(Duration::from_millis(100)),
    )
    .restart(RestartPolicy::OnCrash)
    .max_restarts(1)
    .backoff(Duration::from_millis(1), 1.0)
    .run()
    .await?;
    assert_eq!(
        (outcome.restarts, outcome.stopped),
        (1, StopReason::MaxRestarts)
    );
    assert_eq!(outcome.failures, 2);
    assert!(outcome.last.as_ref().is_some_and(|r| r.timed_out()));
    Ok(())
}

/// The `mock` feature's `MockRunner` stands in for the real spawner behind
/// a typed client.
#[cfg(feature = "mock")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_runner_backs_a_typed_client() -> processkit::Result<()> {
    use processkit::{MockRunner, ScriptedOutcome};
    let mut runner = MockRunner::new();
    runner
        .expect_execute_command()
        .withf(|cmd| cmd.get_program() == "git" && cmd.get_args() == ["rev-parse", "HEAD"])
        .times(1)
        .returning(|_| ScriptedOutcome::success().stdout("feedface\n"));
    let git = Git::with_runner(runner);
    assert_eq!(git.head(Path::new("/work")).await?, "feedface");
    Ok(())
}

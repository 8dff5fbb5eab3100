//! The README examples of the verbs, limits, signals, members, batches, stats, supervisor and readiness probes.

use super::*;

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
    let at_once = common::Concurrency::new(dir.path());
    // Fails for every name ending in 7; records how many siblings are alive.
    let convert = script(
        dir.path(),
        "convert",
        &format!(
            "#!/bin/sh\n{enter}case \"$1\" in *7.png) echo \"cannot read $1\" >&2; {leave}; exit 1;; esac\nsleep 0.01\n{leave}\n",
            enter = at_once.enter(),
            leave = at_once.leave()
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
    let peak = at_once.peak();
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

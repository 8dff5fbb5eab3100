//! The child-subreaper mechanism, chosen explicitly (it needs no privilege,
//! so it runs everywhere on Linux): the whole escape matrix is gone after
//! every way a tree can end, a real daemon dies with its handle, the host's
//! own `std::process` and `tokio::process` children keep their exit
//! statuses, and nothing (helper, fd, zombie) is left after many runs.
//!
//! Every check is from the outside, through `/proc`. The tests of this file
//! run one at a time (they count the host's own children and fds).
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{alive, assert_all_gone, children, is_factory, read_pids};
use processkit::{Command, Error, Mechanism, ProcessGroup, ProcessGroupOptions, RunningProcess};

/// One test at a time: several of them look at process-wide state.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Every technique a descendant can use to leave its parent's session or
/// process group; each escapee writes "<technique> <pid>" and becomes
/// `sleep 300`.
fn escape_script(file: &Path) -> String {
    let f = file.display();
    format!(
        r#"
setsid sh -c 'echo setsid $$ >> {f}; exec sleep 300' &
(sh -c 'echo subshell $$ >> {f}; exec sleep 300' &)
nohup sh -c 'echo nohup $$ >> {f}; exec sleep 300' >/dev/null 2>&1 &
setsid sh -c "setsid sh -c 'echo nested_setsid \$\$ >> {f}; exec sleep 300' & wait" &
sh -c "sh -c 'echo double_fork \$\$ >> {f}; exec sleep 300' & exit 0" &
perl -e 'setpgrp(0, 0); open(my $o, ">>", $ARGV[0]) or die; print $o "setpgid $$\n"; close $o; exec "sleep", "300"' {f} &
sleep 300 &
echo "direct $!" >> {f}
wait
"#
    )
}

const ESCAPEES: usize = 7;

fn subreaper_group() -> ProcessGroup {
    let group =
        ProcessGroup::with_options(ProcessGroupOptions::default().mechanism(Mechanism::Subreaper))
            .expect("the subreaper mechanism needs no privilege and must be available");
    assert_eq!(group.mechanism(), Mechanism::Subreaper);
    group
}

fn matrix_command(file: &Path) -> Command {
    Command::new("sh").args(["-c", &escape_script(file)])
}

/// Starts the escape matrix in `group`, shaped by `shape`, writing its pids
/// to `dir/<name>`; returns the handle and every pid of the tree (the
/// escapees, then the shell).
async fn start_matrix(
    group: &ProcessGroup,
    dir: &Path,
    name: &str,
    shape: impl FnOnce(Command) -> Command,
) -> (RunningProcess, Vec<u32>) {
    let file = dir.join(name);
    let run = group.start(&shape(matrix_command(&file))).await.unwrap();
    let shell = run.pid().unwrap();
    let mut pids = escapees(&file, shell);
    pids.push(shell);
    (run, pids)
}

/// Reads the escapees' pids and checks they really escaped: the session
/// ones are in sessions of their own, the `setpgid` one in its own group.
fn escapees(file: &Path, shell: u32) -> Vec<u32> {
    let pids = read_pids(file, ESCAPEES, Duration::from_secs(20));
    let text = std::fs::read_to_string(file).unwrap();
    let shell_session = common::session_of(shell);
    for line in text.lines() {
        let (label, pid) = line.split_once(' ').unwrap();
        let pid: u32 = pid.trim().parse().unwrap();
        if label.contains("setsid") {
            assert!(
                common::wait_until(Duration::from_secs(5), || common::session_of(pid)
                    != shell_session),
                "{label} {pid} never left the shell's session"
            );
        }
    }
    assert!(pids.iter().all(|p| alive(*p)), "every escapee runs");
    pids
}

/// The host's children that are zombies right now.
fn my_zombies() -> Vec<u32> {
    let me = std::process::id();
    children(me)
        .into_iter()
        .filter(|p| !alive(*p) && std::path::Path::new(&format!("/proc/{p}")).exists())
        .collect()
}

/// Live helper processes started for this process: its own children, and
/// the children of its helper factory.
fn my_helpers() -> Vec<u32> {
    let mut candidates = children(std::process::id());
    let factories: Vec<u32> = candidates
        .iter()
        .copied()
        .filter(|p| is_factory(*p))
        .collect();
    for f in factories {
        candidates.extend(children(f));
    }
    candidates
        .into_iter()
        .filter(|p| {
            alive(*p)
                && !is_factory(*p)
                && std::fs::read(format!("/proc/{p}/cmdline"))
                    .map(|c| c.split(|b| *b == 0).any(|a| a == b"processkit-subreaper"))
                    .unwrap_or(false)
        })
        .collect()
}

#[tokio::test]
async fn dropping_the_group_kills_the_whole_escape_matrix() {
    let _serial = SERIAL.lock().await;
    let dir = common::scratch();
    let group = subreaper_group();
    let (run, pids) = start_matrix(&group, dir.path(), "pids", |c| c).await;
    drop(group);
    assert_all_gone(&pids, Duration::from_secs(3), "after the group was dropped");
    drop(run);
}

#[tokio::test]
async fn group_kill_kills_the_whole_escape_matrix() {
    let _serial = SERIAL.lock().await;
    let dir = common::scratch();
    let group = subreaper_group();
    let (mut run, pids) = start_matrix(&group, dir.path(), "pids", |c| c).await;
    group.kill().unwrap();
    assert_all_gone(&pids, Duration::from_secs(3), "after group.kill()");
    assert_eq!(run.wait().await.unwrap(), None, "the shell was killed");
    assert!(group.is_empty().unwrap());
}

#[tokio::test]
async fn killing_one_handle_kills_its_own_escapees_only() {
    let _serial = SERIAL.lock().await;
    let dir = common::scratch();
    let group = subreaper_group();
    let (mut first, doomed) = start_matrix(&group, dir.path(), "a", |c| c).await;
    // The other member's tree, its shell included, must live on.
    let (second, spared) = start_matrix(&group, dir.path(), "b", |c| c).await;
    first.kill().await.unwrap();
    assert_all_gone(
        &doomed,
        Duration::from_secs(3),
        "after kill() on one handle",
    );
    assert!(
        spared.iter().all(|p| alive(*p)),
        "the other member's tree must live on"
    );
    drop(group);
    assert_all_gone(
        &spared,
        Duration::from_secs(3),
        "after the group was dropped",
    );
    drop(second);
}

#[tokio::test]
async fn shutdown_terminates_every_session_well_within_the_grace_period() {
    let _serial = SERIAL.lock().await;
    let dir = common::scratch();
    let group = ProcessGroup::with_options(
        ProcessGroupOptions::default()
            .mechanism(Mechanism::Subreaper)
            .grace(Duration::from_secs(30)),
    )
    .unwrap();
    let (run, pids) = start_matrix(&group, dir.path(), "pids", |c| c).await;
    let t = Instant::now();
    group.shutdown().await.unwrap();
    // Only SIGTERM reaching every escapee, whatever its session, ends this
    // long before the 30 s grace period (after which SIGKILL would come).
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "shutdown waited {:?}: SIGTERM did not reach every member",
        t.elapsed()
    );
    assert_all_gone(&pids, Duration::from_secs(1), "after shutdown()");
    drop(run);
}

#[tokio::test]
async fn a_timeout_kills_the_whole_escape_matrix() {
    let _serial = SERIAL.lock().await;
    let dir = common::scratch();
    let group = subreaper_group();
    let (mut run, pids) = start_matrix(&group, dir.path(), "pids", |c| {
        c.timeout(Duration::from_secs(3))
    })
    .await;
    let t = Instant::now();
    let outcome = run.wait().await;
    assert!(
        matches!(outcome, Ok(None) | Err(Error::Timeout { .. })) && run.timed_out(),
        "expected a timeout, got {outcome:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_all_gone(&pids, Duration::from_secs(3), "after the timeout");
    drop(group);
}

#[cfg(feature = "cancellation")]
#[tokio::test]
async fn cancellation_kills_the_whole_escape_matrix() {
    let _serial = SERIAL.lock().await;
    let dir = common::scratch();
    let group = subreaper_group();
    let token = tokio_util::sync::CancellationToken::new();
    let (mut run, pids) =
        start_matrix(&group, dir.path(), "pids", |c| c.cancel_on(token.clone())).await;
    token.cancel();
    let outcome = run.wait().await;
    assert!(
        matches!(outcome, Err(Error::Cancelled { .. })),
        "expected a cancellation, got {outcome:?}"
    );
    assert_all_gone(&pids, Duration::from_secs(3), "after cancellation");
    drop(group);
}

#[tokio::test]
async fn members_suspend_and_resume_cover_the_whole_tree() {
    let _serial = SERIAL.lock().await;
    let dir = common::scratch();
    let group = subreaper_group();
    let (run, pids) = start_matrix(&group, dir.path(), "pids", |c| c).await;
    let members = group.members().unwrap();
    for p in &pids {
        assert!(members.contains(p), "members() {members:?} lacks {p}");
    }
    let state = |pid: u32| -> Option<char> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        s[s.rfind(')')? + 2..].chars().next()
    };
    group.suspend().unwrap();
    assert!(
        common::wait_until(Duration::from_secs(3), || pids
            .iter()
            .all(|p| state(*p) == Some('T'))),
        "not every process stopped: {:?}",
        pids.iter().map(|p| (p, state(*p))).collect::<Vec<_>>()
    );
    group.resume().unwrap();
    assert!(
        common::wait_until(Duration::from_secs(3), || pids
            .iter()
            .all(|p| state(*p) != Some('T'))),
        "not every process resumed"
    );
    #[cfg(feature = "stats")]
    {
        let stats = group.stats().unwrap();
        assert!(
            stats.active_process_count >= pids.len() as u64,
            "stats count the whole tree: {stats:?}"
        );
    }
    drop(group);
    assert_all_gone(&pids, Duration::from_secs(3), "after the group was dropped");
    drop(run);
}

#[tokio::test]
async fn ssh_agent_dies_with_the_handle_that_started_it() {
    let _serial = SERIAL.lock().await;
    let group = subreaper_group();
    // The agent's socket goes into a scratch directory removed at the end.
    let tmp = common::scratch();
    // Kept as a started handle: a consuming verb would end the run, and
    // the agent with it, as soon as `ssh-agent` itself exits.
    let mut run = group
        .start(
            &Command::new("ssh-agent")
                .arg("-s")
                .env("TMPDIR", tmp.path()),
        )
        .await
        .expect("ssh-agent is installed (openssh-client)");
    let line = run
        .wait_for_line(|l| l.contains("SSH_AGENT_PID="), Duration::from_secs(10))
        .await
        .unwrap();
    let pid: u32 = line
        .split(';')
        .find_map(|part| part.trim().strip_prefix("SSH_AGENT_PID="))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no SSH_AGENT_PID in {line:?}"));
    assert!(alive(pid), "the agent daemonized and runs");
    drop(run);
    drop(group);
    assert_all_gone(&[pid], Duration::from_secs(3), "ssh-agent after the drop");
}

#[tokio::test]
async fn ssh_agent_dies_when_the_run_that_started_it_returns() {
    let _serial = SERIAL.lock().await;
    let group = subreaper_group();
    let tmp = common::scratch();
    let out = group
        .start(
            &Command::new("ssh-agent")
                .arg("-s")
                .env("TMPDIR", tmp.path()),
        )
        .await
        .expect("ssh-agent is installed (openssh-client)")
        .output_string()
        .await
        .unwrap();
    let pid: u32 = out
        .stdout()
        .split(';')
        .find_map(|part| part.trim().strip_prefix("SSH_AGENT_PID="))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no SSH_AGENT_PID in {:?}", out.stdout()));
    // A consuming verb's run is over when it returns: its leftovers go,
    // while the group itself lives on.
    assert_all_gone(
        &[pid],
        Duration::from_secs(3),
        "ssh-agent after output_string",
    );
    assert!(group.start(&Command::new("true")).await.is_ok());
}

#[tokio::test]
async fn std_and_tokio_children_keep_their_exit_statuses() {
    let _serial = SERIAL.lock().await;
    let group = subreaper_group();
    for round in 0..20 {
        let mut std_child = std::process::Command::new("sh")
            .args(["-c", "sleep 0.01; exit 3"])
            .spawn()
            .unwrap();
        let mut tokio_child = tokio::process::Command::new("sh")
            .args(["-c", "exit 4"])
            .spawn()
            .unwrap();
        let ours = group
            .start(&Command::new("sh").args(["-c", "(sleep 0.05 &) ; exit 5"]))
            .await
            .unwrap();
        let (mine, theirs) = tokio::join!(
            async {
                let mut ours = ours;
                ours.wait().await.unwrap()
            },
            tokio_child.wait()
        );
        assert_eq!(mine, Some(5), "round {round}");
        assert_eq!(theirs.unwrap().code(), Some(4), "round {round}");
        assert_eq!(std_child.wait().unwrap().code(), Some(3), "round {round}");
    }
    drop(group);
    assert!(
        common::wait_until(Duration::from_secs(5), || my_zombies().is_empty()),
        "zombies left: {:?}",
        my_zombies()
    );
}

#[tokio::test]
async fn exit_statuses_and_spawn_errors_come_through_the_helper() {
    let _serial = SERIAL.lock().await;
    let group = subreaper_group();
    let mut run = group
        .start(&Command::new("sh").args(["-c", "exit 7"]))
        .await
        .unwrap();
    assert_eq!(run.wait().await.unwrap(), Some(7));
    let mut run = group
        .start(&Command::new("sh").args(["-c", "kill -TERM $$"]))
        .await
        .unwrap();
    assert_eq!(run.wait().await.unwrap(), None, "killed by a signal");
    let out = group
        .start(&Command::new("sh").args(["-c", "echo out; echo err >&2; pwd"]))
        .await
        .unwrap()
        .output_string()
        .await
        .unwrap();
    assert_eq!(
        out.stdout().as_str(),
        &format!("out\n{}\n", std::env::current_dir().unwrap().display()),
        "stdio and the working directory reach the child"
    );
    // A file that is executable but no program: execve fails in the
    // helper's child, and the error names the program.
    let dir = common::scratch();
    let bogus = common::script(dir.path(), "bogus", "\x7fELF not really");
    let err = group
        .start(&Command::new(&bogus))
        .await
        .expect_err("not a program");
    assert!(
        err.to_string().contains("bogus"),
        "the error names the program: {err}"
    );
    let missing = group
        .start(&Command::new("pk-no-such-program-anywhere"))
        .await
        .expect_err("missing");
    assert!(matches!(missing, Error::NotFound { .. }), "{missing:?}");
}

#[tokio::test]
async fn spawn_knobs_reach_the_child_through_the_helper() {
    let _serial = SERIAL.lock().await;
    let group = subreaper_group();
    let out = group
        .start(
            &Command::new("sh")
                .args(["-c", "umask; ulimit -n; cat /proc/self/stat"])
                .umask(0o027)
                .rlimit(processkit::Resource::NoFile, 123, 456)
                .priority(7),
        )
        .await
        .unwrap()
        .output_string()
        .await
        .unwrap();
    let mut lines = out.stdout().lines();
    assert_eq!(lines.next(), Some("0027"), "{out:?}");
    assert_eq!(lines.next(), Some("123"), "{out:?}");
    let stat = lines.next().expect("the stat line");
    let nice: i32 = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .nth(16)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(nice, 7, "{stat}");
}

#[cfg(feature = "limits")]
#[tokio::test]
async fn limits_are_refused_with_a_resource_limit_error() {
    let _serial = SERIAL.lock().await;
    let err = ProcessGroup::with_options(
        ProcessGroupOptions::default()
            .mechanism(Mechanism::Subreaper)
            .memory_max(256 << 20),
    )
    .expect_err("no limits below a subreaper helper");
    assert!(matches!(err, Error::ResourceLimit { .. }), "{err:?}");
}

#[tokio::test]
async fn nothing_is_left_after_two_hundred_runs() {
    let _serial = SERIAL.lock().await;
    let dir = common::scratch();
    // Warm up: the reaper thread, the guardian and (from the second spawn
    // on) the helper factory start once per process.
    for _ in 0..2 {
        let group = subreaper_group();
        group
            .start(&Command::new("true"))
            .await
            .unwrap()
            .wait()
            .await
            .unwrap();
    }
    assert!(common::wait_until(Duration::from_secs(5), || my_helpers().is_empty()));
    // Only the kinds of fd a run uses (sockets, pipes, pidfds): the other
    // tests of this binary, waiting for the lock, may be building their
    // runtimes (epoll and eventfd fds) meanwhile.
    let fd_list = || -> Vec<String> {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let target = std::fs::read_link(e.path()).ok()?;
                let target = target.to_string_lossy().into_owned();
                (target.starts_with("socket:")
                    || target.starts_with("pipe:")
                    || target.contains("[pidfd]"))
                .then(|| format!("{:?}->{target}", e.file_name()))
            })
            .collect()
    };
    let fds_before = fd_list().len();
    let fds_listed = fd_list();
    let mut escaped = Vec::new();
    for i in 0..200 {
        let file = dir.path().join(format!("p{i}"));
        let group = subreaper_group();
        let script = format!(
            "setsid sh -c 'echo $$ > {}; exec sleep 300' & exit 0",
            file.display()
        );
        let mut run = group
            .start(&Command::new("sh").args(["-c", &script]))
            .await
            .unwrap();
        assert_eq!(run.wait().await.unwrap(), Some(0));
        escaped.extend(read_pids(&file, 1, Duration::from_secs(10)));
        drop(run);
        drop(group);
    }
    assert_all_gone(&escaped, Duration::from_secs(5), "escapees of 200 runs");
    assert!(
        common::wait_until(Duration::from_secs(10), || my_helpers().is_empty()),
        "helpers left: {:?}",
        my_helpers()
    );
    assert!(
        common::wait_until(Duration::from_secs(10), || my_zombies().is_empty()),
        "zombies left: {:?}",
        my_zombies()
    );
    assert!(
        common::wait_until_async(Duration::from_secs(5), || fd_list().len() <= fds_before).await,
        "fds grew from {fds_before} to {}: {fds_listed:?} then {:?}",
        fd_list().len(),
        fd_list()
    );
}

// ------------------------------------------------------ host death ---

const ROLE: &str = "PROCESSKIT_SUBREAPER_TEST_ROLE";
const FILE: &str = "PROCESSKIT_SUBREAPER_TEST_FILE";

/// The host side of the host-death test: started by it, as this binary.
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn host_role() {
    let Ok(role) = std::env::var(ROLE) else {
        return; // only a role when started by the test below
    };
    let file = std::path::PathBuf::from(std::env::var(FILE).unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        assert_eq!(role, "hold");
        // One tree in a group, one in a one-shot handle (the mechanism comes
        // from PROCESSKIT_MECHANISM=subreaper).
        let group = subreaper_group();
        let a = group
            .start(&matrix_command(&file.with_extension("group")))
            .await
            .unwrap();
        let b = matrix_command(&file.with_extension("oneshot"))
            .start()
            .await
            .unwrap();
        assert_eq!(Mechanism::current(), Mechanism::Subreaper);
        std::fs::write(
            &file,
            format!("{}\n{}\n", a.pid().unwrap(), b.pid().unwrap()),
        )
        .unwrap();
        // Wait to be killed.
        tokio::time::sleep(Duration::from_secs(300)).await;
        drop((a, b, group));
    });
}

#[tokio::test]
async fn a_sigkilled_host_leaves_no_escapee_and_no_helper() {
    let _serial = SERIAL.lock().await;
    let dir = common::scratch();
    let file = dir.path().join("host");
    let mut host = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "host_role",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, "hold")
        .env(FILE, &file)
        .env("PROCESSKIT_MECHANISM", "subreaper")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let shells = read_pids(&file, 2, Duration::from_secs(30));
    let mut pids = shells.clone();
    pids.extend(escapees(&file.with_extension("group"), shells[0]));
    pids.extend(escapees(&file.with_extension("oneshot"), shells[1]));
    // The helpers: the parents of the two shells.
    let helpers: Vec<u32> = shells
        .iter()
        .map(|s| {
            let stat = std::fs::read_to_string(format!("/proc/{s}/stat")).unwrap();
            stat[stat.rfind(')').unwrap() + 2..]
                .split_whitespace()
                .nth(1)
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    for h in &helpers {
        assert_ne!(
            *h,
            host.id(),
            "a shell's parent is its helper, not the host"
        );
    }
    host.kill().unwrap();
    let status = host.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_all_gone(
        &pids,
        Duration::from_secs(5),
        "after the host was SIGKILLed",
    );
    assert_all_gone(&helpers, Duration::from_secs(5), "helpers after host death");
}

/// On a host without a writable cgroup (the non-root and read-only cgroupfs
/// lanes), the subreaper is what `Best` picks, and the preflight says why.
#[test]
#[ignore = "runs in the nonroot and ro-cgroupfs lanes"]
fn the_subreaper_is_the_best_mechanism_without_a_writable_cgroup() {
    let report = processkit::preflight();
    assert_eq!(report.mechanism, Mechanism::Subreaper, "{report}");
    assert_eq!(report.host_mechanism, Mechanism::Subreaper, "{report}");
    assert!(report.mechanism.contains_setsid());
    let why = report
        .fallback_reason
        .expect("the reason no cgroup is used");
    assert!(why.contains("cgroup"), "{why}");
}

//! A process-group id whose leader was reaped by its owner (the raw
//! `ProcessGroup::spawn` escape hatch hands the leader to tokio) may be
//! reused by an unrelated process leading its own group. Neither the
//! container (`kill`, `signal`, `shutdown`, drop) nor the guardian (after
//! the host is SIGKILLed) may signal that group.
//!
//! The reuse is forced, not hoped for: the scenario runs inside a new pid
//! namespace (`unshare -p -f --mount-proc`, root only), where this test
//! writes `/proc/sys/kernel/ns_last_pid` so the next process gets exactly
//! the reaped leader's pid.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use processkit::{Mechanism, ProcessGroup, ProcessGroupOptions, Signal};

const TEST: &str = "a_reused_pid_leading_an_unrelated_group_is_never_signalled";
const HELPER_VAR: &str = "PK_PID_REUSE_HELPER";

/// Starts `sleep 300` leading its own group with exactly pid `pid`.
fn unrelated_with_pid(pid: u32) -> std::process::Child {
    for _ in 0..200 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
            .expect("write ns_last_pid (needs root in a new pid namespace)");
        let mut child = std::process::Command::new("sleep")
            .arg("300")
            .process_group(0)
            .spawn()
            .expect("spawn sleep");
        if child.id() == pid {
            return child;
        }
        // Another thread took the pid first: try again.
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("pid {pid} could not be reused");
}

fn group() -> ProcessGroup {
    ProcessGroup::with_options(ProcessGroupOptions::default().mechanism(Mechanism::ProcessGroup))
        .expect("a process-group container")
}

/// A raw leader, already reaped by tokio, whose pid now leads `sleep 300`.
async fn reaped_leader_and_reuser(group: &ProcessGroup, dir: &Path, tag: &str) -> u32 {
    let mut leader = group
        .spawn(&mut tokio::process::Command::new("true"))
        .expect("raw spawn");
    let pid = leader.id().expect("a pid");
    assert!(leader.wait().await.expect("wait").success());
    let unrelated = unrelated_with_pid(pid);
    std::fs::write(dir.join(format!("unrelated-{tag}")), pid.to_string()).unwrap();
    // The unrelated process must outlive this test process: never reaped here.
    std::mem::forget(unrelated);
    pid
}

/// Inside the namespace: the scenario itself. Ends by SIGKILLing itself so
/// the guardian acts; the shell that is pid 1 then reports what survived.
fn helper(dir: PathBuf) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The container's own verbs.
        let g = group();
        let pid = reaped_leader_and_reuser(&g, &dir, "verbs").await;
        g.kill().expect("kill");
        g.signal(Signal::Term).expect("signal");
        g.suspend().expect("suspend");
        g.resume().expect("resume");
        g.shutdown().await.expect("shutdown");
        let _ = g.members().expect("members");
        drop(g);
        assert!(
            common::alive(pid),
            "the unrelated group {pid} was killed by the container"
        );

        // The guardian, at the host's abrupt death.
        let g = group();
        reaped_leader_and_reuser(&g, &dir, "guardian").await;
        let ours = g
            .spawn(
                tokio::process::Command::new("sleep")
                    .arg("300")
                    .kill_on_drop(false),
            )
            .expect("raw spawn");
        std::fs::write(dir.join("ours"), ours.id().unwrap().to_string()).unwrap();
        std::mem::forget(g);
        std::mem::forget(ours);
    });
    std::fs::write(dir.join("helper-done"), "").unwrap();
    // SAFETY: signals this very process; nothing runs after.
    unsafe { libc::kill(std::process::id() as libc::pid_t, libc::SIGKILL) };
}

const PID1_SCRIPT: &str = r#"
exe=$1 dir=$2 name=$3
"$exe" --exact "$name" --nocapture --test-threads=1 >"$dir/helper.log" 2>&1
# Wait (bounded) for the guardian to act and exit.
n=0
while grep -qs 'processkit-guardia[n]' /proc/[0-9]*/cmdline && [ "$n" -lt 1000 ]; do
	sleep 0.01
	n=$((n + 1))
done
state() {
	read -r line 2>/dev/null <"/proc/$1/stat" || { echo gone; return; }
	set -- ${line##*) }
	case $1 in Z | X) echo gone ;; *) echo alive ;; esac
}
for f in "$dir"/unrelated-* "$dir"/ours; do
	echo "${f##*/} $(state "$(cat "$f")")"
done >"$dir/result"
"#;

#[test]
fn a_reused_pid_leading_an_unrelated_group_is_never_signalled() {
    if let Some(dir) = std::env::var_os(HELPER_VAR) {
        helper(PathBuf::from(dir));
        return;
    }
    let dir = common::scratch();
    let status = std::process::Command::new("unshare")
        .args([
            "-p",
            "-f",
            "--mount-proc",
            "/bin/sh",
            "-c",
            PID1_SCRIPT,
            "sh",
        ])
        .arg(std::env::current_exe().unwrap())
        .arg(dir.path())
        .arg(TEST)
        .env(HELPER_VAR, dir.path())
        .status()
        .expect("run unshare (util-linux)");
    let log = std::fs::read_to_string(dir.path().join("helper.log")).unwrap_or_default();
    assert!(status.success(), "unshare failed ({status}); log:\n{log}");
    assert!(
        dir.path().join("helper-done").exists(),
        "the scenario did not complete; log:\n{log}"
    );
    let result = std::fs::read_to_string(dir.path().join("result")).unwrap_or_default();
    let expect = "ours gone\nunrelated-guardian alive\nunrelated-verbs alive\n";
    let mut lines: Vec<&str> = result.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines.join("\n") + "\n",
        expect,
        "what survived in the namespace; log:\n{log}"
    );
}

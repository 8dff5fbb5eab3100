//! Reaping and signalling rules, checked against real children.

use super::PgContainer;
use crate::sys::unix::guardian;
use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};
use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn spawn(script: &str) -> u32 {
    std::process::Command::new("sh")
        .args(["-c", script])
        .process_group(0)
        .spawn()
        .expect("spawn sh")
        .id() // std's handle neither waits nor kills on drop
}

/// `Some(true)`: exited, not reaped; `Some(false)`: running; `None`:
/// reaped (not our child any more).
fn zombie(pid: u32) -> Option<bool> {
    let pid = Pid::from_raw(pid as i32).unwrap();
    match waitid(
        WaitId::Pid(pid),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
    ) {
        Ok(s) => Some(s.is_some()),
        Err(_) => None,
    }
}

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn gone_or_zombie(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .is_some_and(|i| stat[i + 2..].starts_with('Z')),
        Err(_) => true,
    }
}

#[test]
fn a_raw_leader_is_left_for_its_owner_to_reap() {
    let mut owner = std::process::Command::new("sh")
        .args(["-c", "exit 5"])
        .process_group(0)
        .spawn()
        .expect("spawn sh");
    let pid = owner.id();
    until("the raw child exited", || zombie(pid) == Some(true));
    let pg = PgContainer::new();
    pg.track_raw(pid);
    pg.teardown();
    let status = owner.wait().expect("the owner can still reap its child");
    assert_eq!(status.code(), Some(5));
}

#[test]
fn a_finished_leader_nobody_watches_is_reaped_when_the_next_child_starts() {
    let pg = PgContainer::new();
    let first = spawn("exit 0");
    drop(pg.track(first));
    until("the first child exited", || zombie(first) == Some(true));
    let second = spawn("exec sleep 30");
    let _second = pg.track(second);
    until("the first leader was reaped", || zombie(first).is_none());
    assert_eq!(pg.live_leaders(), vec![second]);
    pg.teardown();
    until("the second leader was reaped", || zombie(second).is_none());
}

#[test]
fn a_finished_leader_is_kept_while_its_handle_lives() {
    let pg = PgContainer::new();
    let first = spawn("exit 0");
    let handle = pg.track(first);
    until("the first child exited", || zombie(first) == Some(true));
    drop(pg.track(spawn("exit 0")));
    assert_eq!(zombie(first), Some(true), "a watched leader was reaped");
    drop(handle);
    drop(pg.track(spawn("exit 0")));
    until("the first leader was reaped", || zombie(first).is_none());
    pg.teardown();
}

#[test]
// The container reaps the leader; that is what this test checks.
#[allow(clippy::zombie_processes)]
fn a_finished_leader_whose_group_lives_on_keeps_its_id_until_teardown() {
    let pg = PgContainer::new();
    let mut sh = std::process::Command::new("sh")
        .args(["-c", "sleep 30 & echo $!; exit 0"])
        .stdout(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn sh");
    let leader = sh.id();
    let mut line = String::new();
    std::io::BufReader::new(sh.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let grandchild: u32 = line.trim().parse().expect("a pid");
    drop(pg.track(leader));
    until("the leader exited", || zombie(leader) == Some(true));
    drop(pg.track(spawn("exit 0")));
    assert_eq!(
        zombie(leader),
        Some(true),
        "a leader whose group still runs must keep its id"
    );
    assert!(pg.live_leaders().contains(&leader));
    pg.teardown();
    until("the grandchild died", || gone_or_zombie(grandchild));
    until("the leader was reaped", || zombie(leader).is_none());
}

#[test]
fn a_released_leader_is_never_signalled_again() {
    let pg = PgContainer::new();
    let pid = spawn("exec sleep 30");
    let leader = pg.track(pid);
    leader.released.store(true, Ordering::Release);
    until("the group was unregistered", || {
        guardian::try_unregister_pgroup(pid)
    });
    leader.signal_leader(libc::SIGTERM).unwrap();
    leader.signal(libc::SIGTERM).unwrap();
    // A fatal signal is decided when it is sent: had SIGTERM gone out,
    // the child would die of it rather than of this SIGKILL.
    // SAFETY: plain syscalls on our own, unreaped child.
    let raw = unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
        let mut raw = 0;
        libc::waitpid(pid as libc::pid_t, &mut raw, 0);
        raw
    };
    assert!(libc::WIFSIGNALED(raw));
    assert_eq!(libc::WTERMSIG(raw), libc::SIGKILL);
}

/// Teardown runs in `Drop`: it never waits for the guardian's registry
/// (held, for example, while a delivery waits for room in the socket).
#[test]
fn teardown_never_waits_for_the_guardian_registry() {
    let pg = PgContainer::new();
    let pid = spawn("exec sleep 30");
    drop(pg.track(pid));
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let held = guardian::hold_registry();
        held_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(1));
        drop(held);
    });
    held_rx.recv().unwrap();
    let start = Instant::now();
    pg.teardown();
    let took = start.elapsed();
    holder.join().unwrap();
    assert!(
        took < Duration::from_millis(200),
        "teardown waited {took:?} for the guardian registry"
    );
    until("the leader was reaped", || zombie(pid).is_none());
}

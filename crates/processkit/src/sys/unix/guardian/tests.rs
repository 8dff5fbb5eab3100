//! Tests of the guardian registry and of its script.

use super::process::{SCRIPT, guardian_args};
use super::*;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};

#[test]
fn cgroup_lines_refuse_what_the_shell_would_mangle() {
    assert_eq!(
        cgroup_line(Path::new("/sys/fs/cgroup/a b")).unwrap(),
        b"cg /sys/fs/cgroup/a b\n"
    );
    assert!(cgroup_line(Path::new("relative/dir")).is_none());
    assert!(cgroup_line(Path::new("/a\nb")).is_none());
    assert!(cgroup_line(Path::new("/trailing ")).is_none());
    assert!(cgroup_line(Path::new("")).is_none());
}

#[test]
fn the_script_starts_with_its_marker() {
    assert!(SCRIPT.starts_with("# processkit-guardian"));
}

/// Runs the guardian script on `input` (then EOF) and waits for it.
fn run_script(input: &str) {
    let mut sh = Command::new(SHELL)
        .args(guardian_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the script");
    sh.stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    assert!(sh.wait().expect("wait").success());
}

fn sleeper_in_own_group() -> Child {
    Command::new("sleep")
        .arg("300")
        .process_group(0)
        .spawn()
        .expect("sleep")
}

fn killed(child: &mut Child) -> bool {
    // The script has exited, so any kill it sent has been delivered.
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.signal() == Some(libc::SIGKILL);
        }
        if start.elapsed() > std::time::Duration::from_secs(5) {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn still_running(child: &mut Child) -> bool {
    let running = child.try_wait().expect("try_wait").is_none();
    let _ = child.kill();
    let _ = child.wait();
    running
}

#[test]
fn script_kills_registered_groups_and_spares_released_ones_and_cut_lines() {
    let mut kept = sleeper_in_own_group();
    let mut released = sleeper_in_own_group();
    let mut cut = sleeper_in_own_group();
    let input = format!(
        "pg {k}\npg {r}\npg 99999x\nunpg {r}\nbogus line\npg {c}",
        k = kept.id(),
        r = released.id(),
        c = cut.id()
    );
    run_script(&input);
    assert!(killed(&mut kept), "a registered group survived");
    assert!(
        still_running(&mut released),
        "an unregistered group was killed"
    );
    assert!(
        still_running(&mut cut),
        "a line cut short by EOF was acted on"
    );
}

/// A group whose id now names a process with another start time (its
/// leader was reaped and the pid reused) is not the registered group.
#[cfg(target_os = "linux")]
#[test]
fn script_spares_a_group_whose_id_was_reused() {
    let mut ours = sleeper_in_own_group();
    let mut reused = sleeper_in_own_group();
    let start = |pid: u32| crate::sys::linux::procfs::start_time(pid).expect("start time");
    let input = format!(
        "pg {o} {so}\npg {r} {sr}\n",
        o = ours.id(),
        so = start(ours.id()),
        r = reused.id(),
        sr = start(reused.id()) + 1,
    );
    run_script(&input);
    assert!(killed(&mut ours), "a registered group survived");
    assert!(
        still_running(&mut reused),
        "a group led by a process with another start time was killed"
    );
}

/// Without `cgroup.kill` (Linux before 5.14) the script freezes the
/// cgroup, kills each member listed in every `cgroup.procs` below it and
/// thaws it. Removal only ever uses `rmdir`, so files stay.
#[test]
fn script_without_cgroup_kill_kills_each_member_and_only_rmdirs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root");
    let sub = root.join("leaf");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let mut top = sleeper_in_own_group();
    let mut low = sleeper_in_own_group();
    std::fs::write(root.join("cgroup.procs"), format!("{}\n", top.id())).expect("write");
    std::fs::write(sub.join("cgroup.procs"), format!("{}\n", low.id())).expect("write");
    std::fs::write(root.join("cgroup.events"), "populated 0\nfrozen 1\n").expect("write");
    std::fs::write(root.join("cgroup.freeze"), "").expect("write");
    run_script(&format!("cg {}\n", root.display()));
    assert!(
        killed(&mut top) && killed(&mut low),
        "members were not killed"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("cgroup.freeze")).expect("read"),
        "0\n",
        "not thawed"
    );
    assert!(sub.join("cgroup.procs").exists(), "a file was removed");
}

#[test]
fn script_writes_cgroup_kill_and_ignores_directories_that_are_not_cgroups() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cg = dir.path().join("cg");
    let plain = dir.path().join("plain");
    std::fs::create_dir_all(&cg).expect("mkdir");
    std::fs::create_dir_all(plain.join("empty")).expect("mkdir");
    std::fs::write(cg.join("cgroup.procs"), "").expect("write");
    std::fs::write(cg.join("cgroup.kill"), "").expect("write");
    run_script(&format!("cg {}\ncg {}\n", cg.display(), plain.display()));
    assert_eq!(
        std::fs::read_to_string(cg.join("cgroup.kill")).expect("read"),
        "1\n"
    );
    assert!(
        plain.join("empty").is_dir(),
        "a directory without cgroup.procs was touched"
    );
}

//! Tests that need a pure cgroup v2 kernel whose root delegates the `memory`,
//! `pids` and `cpu` controllers.
//!
//! They really run under `cargo xtask vm-test`, which boots a qemu guest, runs
//! this binary as root in the root cgroup and sets `PROCESSKIT_VM=1`. Anywhere
//! else (a hybrid-cgroup host, a container, another OS) each test prints a note
//! and passes.
//!
//! The guest has busybox (`sh`, `sleep`, `cat`, `yes`, `head`, `dd`, ... in
//! `/bin` and `/usr/bin`), a writable `/tmp`, `/proc`, `/sys`, `/dev` and 1 GiB
//! of memory. Tests run one at a time (`--test-threads=1`).

#![cfg(target_os = "linux")]

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// True inside the `vm-test` guest; elsewhere prints why `test` is skipped.
fn in_vm(test: &str) -> bool {
    if std::env::var_os("PROCESSKIT_VM").is_some_and(|v| v == "1") {
        return true;
    }
    eprintln!("note: {test} skipped: it needs the cgroup v2 guest of `cargo xtask vm-test`");
    false
}

/// The directory of the cgroup this process is in (the `0::` line of `/proc/self/cgroup`).
fn own_cgroup() -> PathBuf {
    let text = fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
    let relative = text
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .expect("a cgroup v2 entry in /proc/self/cgroup");
    Path::new(CGROUP_ROOT).join(relative.trim_start_matches('/'))
}

fn words(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn root_offers_memory_pids_and_cpu() {
    if !in_vm("root_offers_memory_pids_and_cpu") {
        return;
    }
    let available = words(&Path::new(CGROUP_ROOT).join("cgroup.controllers"));
    let enabled = words(&own_cgroup().join("cgroup.subtree_control"));
    for controller in ["memory", "pids", "cpu"] {
        assert!(
            available.iter().any(|c| c == controller),
            "{controller} missing from cgroup.controllers: {available:?}"
        );
        assert!(
            enabled.iter().any(|c| c == controller),
            "{controller} not enabled for child cgroups: {enabled:?}"
        );
    }
}

/// A child cgroup removed on drop (after its processes have exited).
struct TempCgroup(PathBuf);

impl TempCgroup {
    fn create(name: &str) -> Self {
        let path = own_cgroup().join(format!("{name}-{}", std::process::id()));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TempCgroup(path)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempCgroup {
    fn drop(&mut self) {
        // The kernel may take a moment to notice that the last member exited.
        for _ in 0..50 {
            if fs::remove_dir(&self.0).is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let outcome = fs::remove_dir(&self.0);
        if !thread::panicking() {
            outcome.unwrap_or_else(|e| panic!("rmdir {}: {e}", self.0.display()));
        }
    }
}

#[test]
fn child_runs_in_a_memory_limited_cgroup() {
    if !in_vm("child_runs_in_a_memory_limited_cgroup") {
        return;
    }
    let group = TempCgroup::create("vm-limits");
    let limit = 64 * 1024 * 1024;
    fs::write(group.file("memory.max"), limit.to_string()).expect("write memory.max");
    assert_eq!(words(&group.file("memory.max")), [limit.to_string()]);

    // Join the cgroup between fork and exec: writing "0" to cgroup.procs moves
    // the writer. The file is opened up front so the hook only calls write(2).
    let procs: File = OpenOptions::new()
        .write(true)
        .open(group.file("cgroup.procs"))
        .expect("open cgroup.procs");
    let mut command = Command::new("sh");
    command.args(["-c", "cat /proc/self/cgroup; exit 0"]);
    // SAFETY: the hook only writes to an already open file descriptor.
    unsafe {
        command.pre_exec(move || (&procs).write_all(b"0"));
    }
    let output = command.output().expect("spawn sh");
    assert!(output.status.success(), "sh failed: {output:?}");

    let name = group.0.file_name().unwrap().to_string_lossy().into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("0::") && line.ends_with(&format!("/{name}"))),
        "child was not in {name}: {stdout:?}"
    );
    assert!(
        words(&group.file("cgroup.procs")).is_empty(),
        "members left behind"
    );
}

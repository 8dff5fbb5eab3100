//! `cargo xtask vm-test`: runs integration tests inside a pure cgroup v2 Linux
//! guest under qemu (software emulation), where the memory, pids and cpu
//! controllers are available to the tests.
//!
//! Steps:
//! 1. install `qemu-system-x86` (no recommends);
//! 2. fetch Debian's current `linux-image-*-amd64` kernel and `busybox-static`
//!    (cached in `$HOME/.cache/processkit/vm-guest-<versions>`, so later runs,
//!    from any checkout, download nothing);
//! 3. build the test binaries with the host's cargo (`--features limits`);
//! 4. write an initramfs (`target/vm/initrd.cpio`): busybox and its applet
//!    links, `/init`, the test binaries in `/tests` and the shared libraries
//!    they need;
//! 5. boot it (TCG, 2 vCPUs, 1 GiB, no network) with a time limit; `/init`
//!    mounts cgroup2, enables `+memory +pids +cpu` at the root, runs each test
//!    binary with `--test-threads=1 --include-ignored` (the guest-only
//!    tests are `#[ignore]`d on ordinary hosts) between markers and powers off;
//! 6. read the console (kept in `target/vm/console.log`), add up libtest's
//!    `test result:` lines and print `vm-test: N passed, M failed`.
//!
//! Usage: `cargo xtask vm-test [--timeout SECS] [TEST_TARGET...] [-- LIBTEST_ARGS...]`
//! (default target: `vm_limits`; default time limit: 15 minutes). Inside the
//! guest `PROCESSKIT_VM=1` is set. Everything, the test binaries included,
//! builds into `<workspace>/target/vm` (beside `initrd.cpio` and
//! `console.log`), so the lane never waits on another build's target lock.
//!
//! The qemu plumbing (installing qemu, unpacking Debian packages, the
//! initramfs writer, booting with a time limit and judging the console) is
//! in [`crate::guest`], shared with the aarch64 and systemd lanes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::guest::console::{Echo, GUEST, MOUNT_SYSTEM, boot, finish, judge, qemu, section};
use crate::guest::initramfs::{Node, Tree};
use crate::guest::{
    Apt, build_tests, cached_debs, install_qemu, keep_kernel_and_busybox, kernel_and_busybox,
    parse_lane_args, read, shell_quote,
};
use crate::util::workspace_root;

const DEFAULT_TESTS: &[&str] = &["vm_limits"];
const DEFAULT_TIMEOUT_SECS: u64 = 15 * 60;
const KERNEL_CMDLINE: &str = "console=ttyS0 rdinit=/init cgroup_no_v1=all panic=-1 quiet";

const USAGE: &str = "usage: cargo xtask vm-test [--timeout SECS] [TEST_TARGET...] [-- LIBTEST_ARGS...]\n\
    Runs processkit's integration test targets (default: vm_limits) with --features limits\n\
    inside a pure cgroup v2 qemu guest; the guest sets PROCESSKIT_VM=1.";

pub fn run(args: &[String]) -> Result<(), String> {
    let Some(options) = parse_lane_args(args, USAGE, DEFAULT_TESTS, DEFAULT_TIMEOUT_SECS)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let started = Instant::now();
    let root = workspace_root();
    let vm_dir = root.join("target").join("vm");
    fs::create_dir_all(&vm_dir).map_err(|e| format!("create {}: {e}", vm_dir.display()))?;

    install_qemu("qemu-system-x86", "qemu-system-x86_64")?;
    let (kernel, busybox) = fetch_guest_parts()?;
    let binaries = build_tests(&root, &vm_dir, &options.tests)?;

    let initrd = vm_dir.join("initrd.cpio");
    write_initramfs(&initrd, &busybox, &binaries, &options.test_args)?;
    eprintln!("vm-test: prepared in {:.1?}", started.elapsed());

    let console_log = vm_dir.join("console.log");
    let boot_started = Instant::now();
    let guest = boot(
        "vm-test",
        qemu_x86(&kernel, &initrd),
        &console_log,
        options.timeout,
        Echo::FromInit,
    )?;
    eprintln!(
        "vm-test: guest ran {:.1?} (total {:.1?}); console log: {}",
        boot_started.elapsed(),
        started.elapsed(),
        console_log.display()
    );

    let names: Vec<&str> = binaries.iter().map(|(name, _)| name.as_str()).collect();
    let verdict = judge(&guest.lines, &names);
    let problems = guest.problems("vm-test", verdict.problems, options.timeout);
    println!(
        "vm-test: {} passed, {} failed",
        verdict.passed, verdict.failed
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

// ---------------------------------------------------------------------------
// Kernel and busybox

/// Returns `(vmlinuz, busybox)`, downloading and unpacking them on first use.
fn fetch_guest_parts() -> Result<(PathBuf, PathBuf), String> {
    let dir = cached_debs(
        &Apt::host(),
        "vm-guest",
        &|apt| kernel_and_busybox(apt, "amd64"),
        &keep_kernel_and_busybox,
    )?;
    Ok((dir.join("vmlinuz"), dir.join("busybox")))
}

/// Absolute paths of the shared libraries (and the loader) that `ldd` lists for `exe`.
fn shared_libraries(exe: &Path) -> Result<Vec<PathBuf>, String> {
    let output = Command::new("ldd")
        .arg(exe)
        .output()
        .map_err(|e| format!("could not start ldd: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    if !output.status.success() {
        return Err(format!("ldd {} failed: {text}", exe.display()));
    }
    let mut libraries = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.contains("not found") {
            return Err(format!("{}: {line}", exe.display()));
        }
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = line
            .rsplit("=> ")
            .next()
            .unwrap_or(line)
            .split_whitespace()
            .next();
        if let Some(path) = path.filter(|p| p.starts_with('/')) {
            libraries.push(PathBuf::from(path));
        }
    }
    Ok(libraries)
}

// ---------------------------------------------------------------------------
// Initramfs

fn write_initramfs(
    path: &Path,
    busybox: &Path,
    binaries: &[(String, PathBuf)],
    test_args: &[String],
) -> Result<(), String> {
    let mut tree = Tree::guest_base(b"root:x:0:0:root:/root:/bin/sh\n", b"root:x:0:\n");

    tree.file("bin/busybox", read(busybox)?, 0o755);
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|e| format!("could not run {} --list: {e}", busybox.display()))?;
    let applets = String::from_utf8_lossy(&list.stdout);
    if !applets.lines().any(|a| a == "sh") {
        return Err("busybox --list has no sh".into());
    }
    for applet in applets.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        for dir in ["bin", "sbin", "usr/bin", "usr/sbin"] {
            tree.insert(
                &format!("{dir}/{applet}"),
                Node::Symlink("/bin/busybox".into()),
            );
        }
    }

    for (name, exe) in binaries {
        tree.file(&format!("tests/{name}"), read(exe)?, 0o755);
        for library in shared_libraries(exe)? {
            let inside = library
                .to_string_lossy()
                .trim_start_matches('/')
                .to_string();
            tree.file(&inside, read(&library)?, 0o755);
        }
    }
    let names: Vec<&str> = binaries.iter().map(|(name, _)| name.as_str()).collect();
    tree.file("init", init_script(&names, test_args).into_bytes(), 0o755);

    tree.write_to(path)
}

fn init_script(tests: &[&str], test_args: &[String]) -> String {
    let args: Vec<String> = test_args.iter().map(|a| shell_quote(a)).collect();
    let args = args.join(" ");
    let mut script = format!(
        r#"#!/bin/sh
# Written by `cargo xtask vm-test`.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TMPDIR=/tmp PROCESSKIT_VM=1 RUST_BACKTRACE=1
mount -t proc proc /proc
{MOUNT_SYSTEM}mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
echo "+memory +pids +cpu" > /sys/fs/cgroup/cgroup.subtree_control
ip link set lo up 2>/dev/null
echo "{GUEST} kernel $(uname -r), $(nproc) cpus, $(free -m | awk '/Mem:/ {{print $2}}') MiB"
echo "{GUEST} cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "{GUEST} cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
cd /tmp
"#
    );
    for test in tests {
        script.push_str(&section(
            test,
            &format!("/tests/{test} --test-threads=1 --include-ignored {args}"),
        ));
    }
    script.push_str(&finish());
    script
}

/// The x86-64 guest: TCG, 2 vCPUs, 1 GiB, no network, serial console.
fn qemu_x86(kernel: &Path, initrd: &Path) -> Command {
    qemu(
        "qemu-system-x86_64",
        &[],
        "1G",
        kernel,
        initrd,
        KERNEL_CMDLINE,
    )
}

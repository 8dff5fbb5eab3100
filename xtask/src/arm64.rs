//! `cargo xtask arm64-test`: runs the library's test suites for
//! `aarch64-unknown-linux-gnu` in an emulated arm64 machine, so the aarch64
//! half of the spawner's `clone3` trampoline (and everything above it) runs
//! on every CI run.
//!
//! Steps:
//! 1. install Debian's Rust (1.96, with std sources), the aarch64 cross
//!    compiler and C library (`gcc-aarch64-linux-gnu`, `libc6-dev-arm64-cross`)
//!    and `qemu-system-arm` (see [`crate::guest::install_qemu`]);
//! 2. cross-build the test binaries with `-Zbuild-std` (no prebuilt aarch64
//!    std can be downloaded here), linking with `aarch64-linux-gnu-gcc`, into
//!    `$HOME/.cache/processkit/arm64-build-<toolchain versions>`, so the
//!    standard library and dependencies are built once per toolchain, not per
//!    checkout;
//! 3. fetch Debian's arm64 kernel, `busybox-static` and `coreutils` (for
//!    `nohup`, which busybox lacks) through a private apt configuration for
//!    the arm64 architecture (the machine's own apt setup is not changed),
//!    cached in `$HOME/.cache/processkit/arm64-guest-<package versions>`;
//! 4. write an initramfs (`target/arm64/initrd.cpio`): busybox (its applet
//!    links are made at boot by `busybox --install -s`), `nohup`, the test
//!    binaries in `/tests` and the arm64 shared libraries they need;
//! 5. boot it in `qemu-system-aarch64` (the `virt` machine, TCG, 2 vCPUs,
//!    2 GiB, no network); `/init` mounts cgroup2 at `/sys/fs/cgroup`, checks
//!    that every program the tests call is there, runs
//!    `spawner --exact preflight_reports_the_spawner_in_use --nocapture`
//!    (which asserts the `clone3` spawner and prints it), then each suite;
//! 6. read the console (kept in `target/arm64/console.log`), add up libtest's
//!    `test result:` lines and print the spawner in use and
//!    `arm64-test: N passed, M failed`.
//!
//! The lane fails on any failed test, on a suite that did not finish, on a
//! program missing in the guest, when the spawner in use is not `clone3`,
//! and when no test ran.
//!
//! Usage: `cargo xtask arm64-test [--timeout SECS] [TEST_TARGET...] [-- LIBTEST_ARGS...]`
//! (default targets: verbs escapes groups spawner streaming guardian; default
//! time limit for the guest: 30 minutes).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::cross::TOOLCHAIN_PACKAGES;
use crate::foreign::{
    DEFAULT_TESTS, FLOOD_TEST, SPAWNER_TEST, cargo_test_build, skipped, spawner_named,
};
use crate::guest::console::{
    BEGIN, END, Echo, GUEST, MOUNT_SYSTEM, boot, finish, judge, marker, qemu, section,
};
use crate::guest::initramfs::{Node, Tree};
use crate::guest::{
    Apt, Wanted, build_test_binaries, cached_debs, debian_codename, install_qemu, keep,
    keep_kernel_and_busybox, kernel_and_busybox, parse_lane_args, read, shell_quote,
};
use crate::util::{apt_install, cache_dir, keyed_cache, versions_key, workspace_root};

const TARGET: &str = "aarch64-unknown-linux-gnu";
const CROSS_PACKAGES: [&str; 2] = ["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"];
const LINKER: &str = "aarch64-linux-gnu-gcc";
/// Where `libc6-dev-arm64-cross` (and the cross gcc's runtime) put the arm64 libraries.
const CROSS_LIBS: &str = "/usr/aarch64-linux-gnu/lib";

const DEFAULT_TIMEOUT_SECS: u64 = 30 * 60;
/// Its section on the console, judged like a suite.
const SPAWNER_CHECK: &str = "spawner-in-use";
/// Printed by `/init` for each program the tests call that the guest lacks.
const MISSING: &str = "vm-guest: missing program ";
/// Programs the suites call (through `PATH`, or `/usr/bin/env` by path).
const GUEST_PROGRAMS: &[&str] = &[
    "sh",
    "sleep",
    "true",
    "false",
    "cat",
    "echo",
    "printf",
    "sort",
    "seq",
    "wc",
    "yes",
    "id",
    "kill",
    "ls",
    "pwd",
    "bc",
    "setsid",
    "nohup",
    "/usr/bin/env",
];
/// Tests left out in the guest, by suite and name, with the reason (printed).
const NOT_RUN: &[(&str, &str, &str)] = &[(
    FLOOD_TEST.0,
    FLOOD_TEST.1,
    "its 3 s wall-clock bound is set for native speed; under TCG draining the \
     flood after the 0.5 s deadline alone takes about 30 s",
)];
/// The spawner stress test's spawn count in the guest (1000 natively): a
/// spawn under TCG costs about 100 times more, and the test keeps its
/// 120 s deadline.
const GUEST_SPAWN_COUNT: u32 = 200;
const KERNEL_CMDLINE: &str = "console=ttyAMA0 rdinit=/init cgroup_no_v1=all panic=-1 quiet";

const USAGE: &str = "usage: cargo xtask arm64-test [--timeout SECS] [TEST_TARGET...] [-- LIBTEST_ARGS...]\n\
    Cross-builds processkit's integration test targets (default: verbs escapes groups spawner\n\
    streaming guardian) for aarch64-unknown-linux-gnu and runs them in qemu-system-aarch64.";

pub fn run(args: &[String]) -> Result<(), String> {
    let Some(options) = parse_lane_args(args, USAGE, DEFAULT_TESTS, DEFAULT_TIMEOUT_SECS)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let started = Instant::now();
    let mut packages = TOOLCHAIN_PACKAGES.to_vec();
    packages.extend(CROSS_PACKAGES);
    apt_install(&packages)?;
    install_qemu("qemu-system-arm", "qemu-system-aarch64")?;

    let work = workspace_root().join("target").join("arm64");
    fs::create_dir_all(&work).map_err(|e| format!("create {}: {e}", work.display()))?;
    let guest = fetch_guest_parts()?;
    let binaries = build_tests(&options.tests, &packages)?;
    let initrd = work.join("initrd.cpio");
    write_initramfs(&initrd, &guest, &binaries, &options.test_args)?;
    eprintln!("arm64-test: prepared in {:.1?}", started.elapsed());
    for (suite, test, why) in NOT_RUN {
        if options.tests.iter().any(|t| t == suite) {
            println!("arm64-test: not run in the guest: {suite}::{test}: {why}");
        }
    }
    println!(
        "arm64-test: the guest sets PK_SPAWN_COUNT={GUEST_SPAWN_COUNT} (the spawner stress \
         test's spawns; 1000 natively)"
    );

    let console_log = work.join("console.log");
    let boot_started = Instant::now();
    let run = boot(
        "arm64-test",
        qemu_arm64(&guest.join("vmlinuz"), &initrd),
        &console_log,
        options.timeout,
        Echo::FromInit,
    )?;
    eprintln!(
        "arm64-test: guest ran {:.1?} (total {:.1?}); console log: {}",
        boot_started.elapsed(),
        started.elapsed(),
        console_log.display()
    );

    let mut names = vec![SPAWNER_CHECK];
    names.extend(binaries.iter().map(|(name, _)| name.as_str()));
    let verdict = judge(&run.lines, &names);
    let mut problems = run.problems("arm64-test", verdict.problems, options.timeout);
    for line in &run.lines {
        if let Some(program) = line.strip_prefix(MISSING) {
            problems.push(format!("the guest lacks {program}, which the tests call"));
        }
    }
    match spawner_in_use(&run.lines) {
        Some(spawner) if spawner.starts_with("clone3") => {
            println!("arm64-test: spawner in use: {spawner}");
        }
        Some(spawner) => {
            println!("arm64-test: spawner in use: {spawner}");
            problems.push(format!("the guest used the {spawner} spawner, not clone3"));
        }
        None => problems.push("the guest did not report the spawner in use".into()),
    }
    println!(
        "arm64-test: {} passed, {} failed",
        verdict.passed, verdict.failed
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The spawner named by the spawner test's output on the console.
fn spawner_in_use(lines: &[String]) -> Option<String> {
    let mut inside = false;
    for line in lines {
        if marker(line, BEGIN) == Some(SPAWNER_CHECK) {
            inside = true;
        } else if marker(line, END).is_some_and(|m| m.starts_with(SPAWNER_CHECK)) {
            inside = false;
        } else if inside && let Some(spawner) = spawner_named(line) {
            return Some(spawner);
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Guest parts

/// apt for arm64 packages: the machine's Debian release, its own package
/// lists under `$HOME/.cache/processkit/apt-arm64`, and nothing installed.
fn arm64_apt() -> Result<Apt, String> {
    let dir = cache_dir("apt-arm64")?;
    let lists = dir.join("lists");
    let archives = dir.join("archives");
    // No other sources than the file below.
    let parts = dir.join("sources.list.d");
    for d in [
        lists.join("partial"),
        archives.join("partial"),
        parts.clone(),
    ] {
        fs::create_dir_all(&d).map_err(|e| format!("create {}: {e}", d.display()))?;
    }
    let codename = debian_codename()?;
    let sources = dir.join("sources.list");
    let list = format!(
        "deb http://deb.debian.org/debian {codename} main\n\
         deb http://deb.debian.org/debian {codename}-updates main\n\
         deb http://deb.debian.org/debian-security {codename}-security main\n"
    );
    if fs::read_to_string(&sources).ok().as_deref() != Some(list.as_str()) {
        fs::write(&sources, &list).map_err(|e| format!("write {}: {e}", sources.display()))?;
    }
    let apt = Apt::with_options(vec![
        "APT::Architecture=arm64".into(),
        "APT::Architectures::=arm64".into(),
        format!("Dir::Etc::sourcelist={}", sources.display()),
        format!("Dir::Etc::sourceparts={}", parts.display()),
        format!("Dir::State::lists={}", lists.display()),
        format!("Dir::Cache::archives={}", archives.display()),
        "Dir::Cache::pkgcache=".into(),
        "Dir::Cache::srcpkgcache=".into(),
        "Dir::State::status=/dev/null".into(),
    ]);
    if !lists.join("lock").exists() || apt.candidate("busybox-static").is_none() {
        apt.update()?;
    }
    Ok(apt)
}

/// The cache directory holding `vmlinuz`, `busybox` and `nohup` for arm64.
fn fetch_guest_parts() -> Result<PathBuf, String> {
    let resolve = |apt: &Apt| -> Result<Wanted, String> {
        let mut wanted = kernel_and_busybox(apt, "arm64")?;
        // busybox has no nohup; the escape tests use it.
        wanted.push(("coreutils".to_string(), vec!["./usr/bin/nohup"]));
        Ok(wanted)
    };
    cached_debs(&arm64_apt()?, "arm64-guest", &resolve, &|unpacked, dir| {
        keep_kernel_and_busybox(unpacked, dir)?;
        keep(&unpacked.join("usr/bin/nohup"), &dir.join("nohup"))
    })
}

// ---------------------------------------------------------------------------
// Test binaries

fn build_tests(tests: &[String], packages: &[&str]) -> Result<Vec<(String, PathBuf)>, String> {
    let dir = keyed_cache("arm64-build", &versions_key(packages))?;
    let mut cmd = cargo_test_build(&dir.join("target"), TARGET)?;
    cmd.env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", LINKER)
        // Line tables keep backtraces readable at a fraction of the size, and
        // every byte of the binaries goes through the guest's RAM.
        .env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only");
    build_test_binaries(cmd, tests, "cross-building the test binaries")
}

/// The shared libraries `elf` needs (its `NEEDED` entries, recursively) and
/// its program interpreter, as file names found in [`CROSS_LIBS`].
fn needed_libraries(elf: &Path, found: &mut Vec<String>) -> Result<(), String> {
    let output = Command::new("readelf")
        .args(["--dynamic", "--program-headers", "--wide"])
        .arg(elf)
        .output()
        .map_err(|e| format!("could not start readelf: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "readelf {} failed: {}",
            elf.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut names = Vec::new();
    for line in text.lines() {
        let bracketed = |prefix: &str| {
            let rest = &line[line.find(prefix)? + prefix.len()..];
            rest.find(']').map(|end| rest[..end].to_string())
        };
        if let Some(lib) = bracketed("Shared library: [") {
            names.push(lib);
        } else if let Some(interp) = bracketed("Requesting program interpreter: ") {
            names.push(
                Path::new(&interp)
                    .file_name()
                    .ok_or_else(|| format!("odd interpreter {interp}"))?
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    for name in names {
        if found.contains(&name) {
            continue;
        }
        let path = Path::new(CROSS_LIBS).join(&name);
        if !path.is_file() {
            return Err(format!(
                "{} needs {name}, which is not in {CROSS_LIBS}",
                elf.display()
            ));
        }
        found.push(name);
        needed_libraries(&path, found)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Initramfs

fn write_initramfs(
    path: &Path,
    guest: &Path,
    binaries: &[(String, PathBuf)],
    test_args: &[String],
) -> Result<(), String> {
    let mut tree = Tree::guest_base(
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        b"root:x:0:\nnogroup:x:65534:\n",
    );
    tree.dir("lib", 0o755);
    // The other applet links are made by `busybox --install -s` at boot
    // (the arm64 busybox cannot run here to list them).
    tree.file("bin/busybox", read(&guest.join("busybox"))?, 0o755);
    tree.insert("bin/sh", Node::Symlink("/bin/busybox".into()));
    tree.file("usr/bin/nohup", read(&guest.join("nohup"))?, 0o755);

    let mut libraries = Vec::new();
    needed_libraries(&guest.join("nohup"), &mut libraries)?;
    for (name, exe) in binaries {
        tree.file(&format!("tests/{name}"), read(exe)?, 0o755);
        needed_libraries(exe, &mut libraries)?;
    }
    for library in &libraries {
        let data = read(&Path::new(CROSS_LIBS).join(library))?;
        tree.file(&format!("lib/{library}"), data, 0o755);
    }
    let names: Vec<&str> = binaries.iter().map(|(name, _)| name.as_str()).collect();
    tree.file("init", init_script(&names, test_args).into_bytes(), 0o755);

    tree.write_to(path)
}

fn init_script(tests: &[&str], test_args: &[String]) -> String {
    let args: Vec<String> = test_args.iter().map(|a| shell_quote(a)).collect();
    let args = args.join(" ");
    let programs = GUEST_PROGRAMS.join(" ");
    let mut script = format!(
        r#"#!/bin/sh
# Written by `cargo xtask arm64-test`.
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TMPDIR=/tmp RUST_BACKTRACE=1
export PK_SPAWN_COUNT={GUEST_SPAWN_COUNT}
{MOUNT_SYSTEM}mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
ip link set lo up 2>/dev/null
echo "{GUEST} kernel $(uname -r) $(uname -m), $(nproc) cpus, $(free -m | awk '/Mem:/ {{print $2}}') MiB"
echo "{GUEST} $(grep cgroup2 /proc/mounts), /proc/self/cgroup: $(cat /proc/self/cgroup)"
for program in {programs}; do
    command -v "$program" >/dev/null 2>&1 || echo "{MISSING}$program"
done
cd /tmp
"#
    );
    script.push_str(&section(
        SPAWNER_CHECK,
        &format!("/tests/spawner --exact {SPAWNER_TEST} --nocapture"),
    ));
    for test in tests {
        let skip: String = skipped(test, NOT_RUN)
            .iter()
            .map(|name| format!(" --skip {name}"))
            .collect();
        script.push_str(&section(test, &format!("/tests/{test}{skip} {args}")));
    }
    script.push_str(&finish());
    script
}

/// The arm64 guest: the `virt` machine, TCG (`pauth-impdef`: pointer
/// authentication stays on, with qemu's cheaper algorithm), 2 vCPUs, 2 GiB,
/// no network, the first serial port as console.
fn qemu_arm64(kernel: &Path, initrd: &Path) -> Command {
    qemu(
        "qemu-system-aarch64",
        &["-M", "virt", "-cpu", "max,pauth-impdef=on"],
        "2G",
        kernel,
        initrd,
        KERNEL_CMDLINE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn finds_the_spawner_line_inside_its_section() {
        let console = lines(
            "spawner in use: not this one\n\
             @@vm-test:begin:spawner-in-use@@\n\
             running 1 test\n\
             spawner in use: clone3(CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP)\n\
             @@vm-test:end:spawner-in-use:0@@",
        );
        assert_eq!(
            spawner_in_use(&console).as_deref(),
            Some("clone3(CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP)")
        );
        assert_eq!(spawner_in_use(&console[..1]), None);
    }

    #[test]
    fn the_spawner_check_is_not_counted_twice() {
        let script = init_script(&["verbs", "spawner"], &[]);
        assert!(script.contains(&format!(
            "/tests/spawner --exact {SPAWNER_TEST} --nocapture"
        )));
        assert!(script.contains(&format!("/tests/spawner --skip {SPAWNER_TEST}")));
        assert!(script.contains("/tests/verbs  </dev/null"));
        let script = init_script(&["streaming"], &[]);
        assert!(script.contains(&format!("/tests/streaming --skip {}", NOT_RUN[0].1)));
        assert!(script.ends_with("poweroff -f\n"));
    }
}

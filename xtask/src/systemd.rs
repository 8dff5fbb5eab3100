//! `cargo xtask systemd-test`: runs the containment suites as a non-root user
//! on a systemd host, where the user's systemd manager delegates a scope
//! (the `systemd` feature), inside a Debian 12 guest under qemu (software
//! emulation).
//!
//! Steps:
//! 1. install `mmdebstrap`, `e2fsprogs` and `qemu-system-x86` (no recommends);
//! 2. build the guest's disk image once and keep it in
//!    `$HOME/.cache/processkit/systemd-<key>/` (`disk.img`, `vmlinuz`,
//!    `initrd.img`), where `<key>` is a hash of the suite, the package list
//!    and the image recipe, so a later run (or CI run) with the same recipe
//!    reuses it: `mmdebstrap --variant=minbase` of bookworm with systemd,
//!    dbus, the user session bus and a kernel; a user `tester` (uid 1000)
//!    with lingering on, so `user@1000.service` runs from boot; a oneshot
//!    system service that mounts the second disk and runs its `run.sh`;
//! 3. build the test binaries with the host's cargo (`--features limits`,
//!    the default `systemd` feature included) into `target/vm`, the
//!    `vm-test` lane's target directory, so its build is reused;
//! 4. write them and `run.sh` onto a small second disk (`tests.img`);
//! 5. boot the guest (TCG, 2 vCPUs, 1 GiB, no network, `-snapshot`, so the
//!    cached image is never changed) with a time limit. `run.sh` runs, from
//!    the root-owned cgroup of that system service (as a CI job step runs),
//!    each test binary as `tester` with `--test-threads=1`, in three phases:
//!    - `scope`: the user manager is up. `systemd_scope` with `--ignored`
//!      (its systemd-only tests) and the escape, group, guardian, stats and
//!      limits suites (`PROCESSKIT_VM=1`); then counts the processkit scopes
//!      `systemctl --user` still lists;
//!    - `nobus`: `DBUS_SESSION_BUS_ADDRESS` points nowhere: the fallback,
//!      with the escape, group, guardian and stats suites on it;
//!    - `stopped`: `user@1000.service` is stopped: the fallback test for that
//!      case, and the escape and group suites again;
//!
//!    then powers off;
//! 6. read the console (kept in `target/systemd-vm/console.log`), add up
//!    libtest's `test result:` lines and print
//!    `systemd-test: N passed, M failed`. Any failure, a binary that did not
//!    finish or ran no test, a scope left listed, or a run without any test
//!    fails the lane.
//!
//! Usage: `cargo xtask systemd-test [--timeout SECS] [--rebuild-image]`
//! (default time limit: 25 minutes; `--rebuild-image` ignores the cache).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::guest::console::{self, Echo, GuestRun, Verdict, marker, qemu, test_result};
use crate::guest::{build_tests, install_qemu};
use crate::util::{apt_install, run_checked, workspace_root};

const SUITE: &str = "bookworm";
const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "dbus",
    "dbus-user-session",
    "libpam-systemd",
    "procps",
    "util-linux",
    "coreutils",
    "linux-image-amd64",
    "initramfs-tools",
];
/// Bump when the image recipe below changes in a way the key cannot see.
const RECIPE: &str = "systemd-test image v2";
const TEST_USER: &str = "tester";
const TEST_UID: u32 = 1000;
const DEFAULT_TIMEOUT_SECS: u64 = 25 * 60;
const KERNEL_CMDLINE: &str = "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=0 panic=-1";

/// The test binaries the guest runs (integration test targets).
const TESTS: &[&str] = &[
    "systemd_scope",
    "escapes",
    "groups",
    "guardian",
    "stats",
    "vm_limits",
];

/// Guest console markers (written by `run.sh`, read back here).
const BEGIN: &str = "@@systemd-test:begin:";
const END: &str = "@@systemd-test:end:";
const LEFT: &str = "@@systemd-test:scopes-left:";
const DONE: &str = "@@systemd-test:done@@";

/// The system service that runs the tests in the guest.
const SERVICE: &str = "[Unit]
Description=processkit systemd-test lane
Wants=user@1000.service
After=user@1000.service systemd-logind.service systemd-user-sessions.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'mkdir -p /opt/tests && mount -o ro /dev/vdb /opt/tests && exec /bin/sh /opt/tests/run.sh'
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
";

const USAGE: &str = "usage: cargo xtask systemd-test [--timeout SECS] [--rebuild-image]\n\
    Runs processkit's containment suites as a non-root user with a systemd user manager,\n\
    in a Debian 12 guest under qemu; the guest image is cached in\n\
    $HOME/.cache/processkit/systemd-<key>.";

struct Options {
    timeout: Duration,
    rebuild: bool,
}

/// One run of one test binary in one phase.
struct Step {
    phase: &'static str,
    test: &'static str,
    /// Extra environment (`K=V`).
    env: &'static [&'static str],
    args: &'static [&'static str],
}

const STEPS: &[Step] = &[
    Step {
        phase: "scope",
        test: "systemd_scope",
        env: &[],
        args: &[
            "--include-ignored",
            "--nocapture",
            "--skip",
            "with_the_user_manager_stopped",
        ],
    },
    Step {
        phase: "scope",
        test: "escapes",
        env: &[],
        args: &[],
    },
    Step {
        phase: "scope",
        test: "groups",
        env: &[],
        args: &[],
    },
    Step {
        phase: "scope",
        test: "guardian",
        env: &[],
        args: &[],
    },
    Step {
        phase: "scope",
        test: "stats",
        env: &[],
        args: &[],
    },
    Step {
        phase: "scope",
        test: "vm_limits",
        env: &[],
        // Guest-only tests, ignored everywhere else.
        args: &["--include-ignored"],
    },
    Step {
        phase: "nobus",
        test: "systemd_scope",
        env: &["DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"],
        args: &[],
    },
    Step {
        phase: "nobus",
        test: "escapes",
        env: &["DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"],
        args: &[],
    },
    Step {
        phase: "nobus",
        test: "groups",
        env: &["DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"],
        args: &[],
    },
    Step {
        phase: "nobus",
        test: "guardian",
        env: &["DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"],
        args: &[],
    },
    Step {
        phase: "nobus",
        test: "stats",
        env: &["DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"],
        args: &[],
    },
    Step {
        phase: "stopped",
        test: "systemd_scope",
        env: &[],
        args: &[
            "--ignored",
            "--exact",
            "with_the_user_manager_stopped_the_host_falls_back_in_time_and_says_why",
        ],
    },
    Step {
        phase: "stopped",
        test: "escapes",
        env: &[],
        args: &[],
    },
    Step {
        phase: "stopped",
        test: "groups",
        env: &[],
        args: &[],
    },
];

pub fn run(args: &[String]) -> Result<(), String> {
    let Some(options) = parse_args(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let started = Instant::now();
    let root = workspace_root();
    let work = root.join("target").join("systemd-vm");
    fs::create_dir_all(&work).map_err(|e| format!("create {}: {e}", work.display()))?;

    apt_install(&["mmdebstrap", "e2fsprogs"])?;
    install_qemu("qemu-system-x86", "qemu-system-x86_64")?;
    let image = guest_image(options.rebuild)?;
    let binaries = build_tests(
        &root,
        &work,
        &TESTS.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    )?;
    let tests_img = work.join("tests.img");
    write_tests_disk(&work, &tests_img, &binaries)?;
    eprintln!("systemd-test: prepared in {:.1?}", started.elapsed());

    let console_log = work.join("console.log");
    let boot_started = Instant::now();
    let run = boot(&image, &tests_img, &console_log, options.timeout)?;
    eprintln!(
        "systemd-test: guest ran {:.1?} (total {:.1?}); console log: {}",
        boot_started.elapsed(),
        started.elapsed(),
        console_log.display()
    );
    let verdict = judge(&run.lines);
    let problems = run.problems("systemd-test", verdict.problems, options.timeout);
    println!(
        "systemd-test: {} passed, {} failed",
        verdict.passed, verdict.failed
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options {
        timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
        rebuild: false,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let secs = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--rebuild-image" => {
                options.rebuild = true;
                continue;
            }
            "--timeout" => iter
                .next()
                .ok_or("--timeout needs a number of seconds")?
                .as_str(),
            _ if arg.starts_with("--timeout=") => &arg["--timeout=".len()..],
            _ => return Err(format!("unknown argument {arg}\n{USAGE}")),
        };
        let secs: u64 = secs
            .parse()
            .map_err(|_| format!("bad --timeout value {secs:?}"))?;
        options.timeout = Duration::from_secs(secs);
    }
    Ok(Some(options))
}

// ---------------------------------------------------------------------------
// The cached guest image

/// The cached image's parts.
struct Image {
    disk: PathBuf,
    kernel: PathBuf,
    initrd: PathBuf,
}

/// 64-bit FNV-1a: a stable key for the cache directory (no dependency needed).
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0u8]) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

fn cache_key() -> String {
    let mut parts = vec![RECIPE, SUITE, SERVICE];
    parts.extend_from_slice(PACKAGES);
    format!("{:016x}", fnv1a(&parts))
}

fn cache_dir() -> Result<PathBuf, String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    Ok(PathBuf::from(home)
        .join(".cache")
        .join("processkit")
        .join(format!("systemd-{}", cache_key())))
}

/// The guest image: from the cache, or built (about two minutes) and cached.
fn guest_image(rebuild: bool) -> Result<Image, String> {
    let dir = cache_dir()?;
    let image = Image {
        disk: dir.join("disk.img"),
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd.img"),
    };
    if !rebuild && image.disk.is_file() && image.kernel.is_file() && image.initrd.is_file() {
        eprintln!(
            "systemd-test: using the cached guest image {}",
            dir.display()
        );
        return Ok(image);
    }
    let started = Instant::now();
    let building = dir.with_extension("building");
    let _ = fs::remove_dir_all(&building);
    fs::create_dir_all(&building).map_err(|e| format!("create {}: {e}", building.display()))?;
    let tar = building.join("root.tar");
    run_checked(
        Command::new("mmdebstrap")
            .args(["--variant=minbase", "--quiet"])
            .arg(format!("--include={}", PACKAGES.join(",")))
            .arg(SUITE)
            .arg(&tar),
    )?;
    let tree = building.join("root");
    fs::create_dir_all(&tree).map_err(|e| format!("create {}: {e}", tree.display()))?;
    run_checked(
        Command::new("tar")
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(&tree)
            .arg("--numeric-owner"),
    )?;
    let _ = fs::remove_file(&tar);
    customize(&tree)?;
    copy_boot_file(&tree, "vmlinuz-", &building.join("vmlinuz"))?;
    copy_boot_file(&tree, "initrd.img-", &building.join("initrd.img"))?;
    let disk = building.join("disk.img");
    run_checked(Command::new("truncate").args(["-s", "2G"]).arg(&disk))?;
    run_checked(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-d"])
            .arg(&tree)
            .arg(&disk),
    )?;
    run_checked(Command::new("rm").arg("-rf").arg(&tree))?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&building, &dir).map_err(|e| format!("rename to {}: {e}", dir.display()))?;
    remove_stale_images(&dir);
    eprintln!(
        "systemd-test: built the guest image {} in {:.1?}",
        dir.display(),
        started.elapsed()
    );
    Ok(image)
}

/// Removes images of earlier recipes beside `current` (each is about 1 GiB).
fn remove_stale_images(current: &Path) {
    let (Some(parent), Some(name)) = (current.parent(), current.file_name()) else {
        return;
    };
    for entry in fs::read_dir(parent).into_iter().flatten().flatten() {
        let other = entry.file_name();
        let is_image = other
            .to_str()
            .is_some_and(|n| n.starts_with("systemd-") && !n.ends_with(".building"));
        if is_image && other != name {
            eprintln!(
                "systemd-test: removing the stale image {}",
                entry.path().display()
            );
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The test user with lingering on, the fstab, the test service, and no
/// login prompt on the console the results are read from.
fn customize(tree: &Path) -> Result<(), String> {
    run_checked(
        Command::new("chroot")
            .arg(tree)
            .args(["useradd", "-m", "-s", "/bin/sh", "-u"])
            .arg(TEST_UID.to_string())
            .arg(TEST_USER),
    )?;
    let write = |path: &str, text: &str| -> Result<(), String> {
        let path = tree.join(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
        }
        fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))
    };
    let link = |target: &str, path: &str| -> Result<(), String> {
        let path = tree.join(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
        }
        let _ = fs::remove_file(&path);
        std::os::unix::fs::symlink(target, &path)
            .map_err(|e| format!("symlink {}: {e}", path.display()))
    };
    write(&format!("var/lib/systemd/linger/{TEST_USER}"), "")?;
    write("etc/fstab", "/dev/vda / ext4 rw 0 1\n")?;
    write("etc/hostname", "processkit-systemd-test\n")?;
    // Not named processkit-*: the tests tell containers by that prefix.
    write("etc/systemd/system/lane-tests.service", SERVICE)?;
    link(
        "/etc/systemd/system/lane-tests.service",
        "etc/systemd/system/multi-user.target.wants/lane-tests.service",
    )?;
    for unit in [
        "serial-getty@ttyS0.service",
        "getty@tty1.service",
        "apt-daily.timer",
        "apt-daily-upgrade.timer",
        "e2scrub_all.timer",
        "fstrim.timer",
    ] {
        link("/dev/null", &format!("etc/systemd/system/{unit}"))?;
    }
    Ok(())
}

fn copy_boot_file(tree: &Path, prefix: &str, dest: &Path) -> Result<(), String> {
    let boot = tree.join("boot");
    let found = fs::read_dir(&boot)
        .map_err(|e| format!("read {}: {e}", boot.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .ok_or_else(|| format!("no {prefix}* in {}", boot.display()))?;
    fs::copy(&found, dest).map_err(|e| format!("copy {}: {e}", found.display()))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// The per-run tests disk

fn write_tests_disk(work: &Path, img: &Path, binaries: &[(String, PathBuf)]) -> Result<(), String> {
    let dir = work.join("tests-disk");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let mut size: u64 = 64 << 20;
    for (name, exe) in binaries {
        let dest = dir.join(name);
        fs::copy(exe, &dest).map_err(|e| format!("copy {}: {e}", exe.display()))?;
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", dest.display()))?;
        size += fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
    }
    let script = dir.join("run.sh");
    fs::write(&script, run_script()).map_err(|e| format!("write {}: {e}", script.display()))?;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", script.display()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
    let _ = fs::remove_file(img);
    run_checked(
        Command::new("truncate")
            .arg("-s")
            .arg((size * 2).to_string())
            .arg(img),
    )?;
    run_checked(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-d"])
            .arg(&dir)
            .arg(img),
    )?;
    // The binaries are on the disk now; the copies only take space.
    let _ = fs::remove_dir_all(&dir);
    Ok(())
}

/// The guest's script: runs every step as the test user from the system
/// service's own (root-owned) cgroup and brackets each with markers.
fn run_script() -> String {
    let uid = TEST_UID;
    let user = TEST_USER;
    let mut s = format!(
        r#"#!/bin/sh
# Written by `cargo xtask systemd-test`; runs as root in a system service.
exec >/dev/ttyS0 2>&1
echo "systemd-guest: kernel $(uname -r), $(nproc) cpus, $(stat -fc %T /sys/fs/cgroup)"
echo "systemd-guest: this script runs in $(cat /proc/self/cgroup)"
n=0
while [ ! -S /run/user/{uid}/bus ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
echo "systemd-guest: user manager: $(systemctl is-active user@{uid}.service), bus after $n polls"
cd /tmp
as_user() {{
    runuser -u {user} -- env -i PATH=/usr/bin:/bin HOME=/home/{user} TMPDIR=/tmp \
        XDG_RUNTIME_DIR=/run/user/{uid} DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{uid}/bus \
        PROCESSKIT_VM=1 RUST_BACKTRACE=1 "$@" </dev/null
}}
step() {{
    name=$1; shift
    echo "{BEGIN}$name@@"
    as_user "$@"
    echo "{END}$name:$?@@"
}}
scopes_left() {{
    as_user systemctl --user list-units --all --no-legend --plain --type=scope 'processkit-*' | grep -c . 
}}
"#
    );
    let mut phase = "";
    for step in STEPS {
        if step.phase != phase {
            if phase == "scope" {
                s.push_str(&format!(
                    "sleep 2\necho \"{LEFT}$(scopes_left)@@\"\n\
                     as_user systemctl --user list-units --all --no-legend --type=scope 'processkit-*'\n"
                ));
            }
            if step.phase == "stopped" {
                s.push_str(&format!(
                    "systemctl stop user@{uid}.service\n\
                     echo \"systemd-guest: user manager: $(systemctl is-active user@{uid}.service)\"\n\
                     ls -l /run/user/{uid}/bus 2>&1\n"
                ));
            }
            phase = step.phase;
        }
        let mut line = format!("step {}/{} ", step.phase, step.test);
        for e in step.env {
            line.push_str(e);
            line.push(' ');
        }
        line.push_str(&format!("/opt/tests/{} --test-threads=1", step.test));
        for a in step.args {
            line.push(' ');
            line.push_str(a);
        }
        line.push('\n');
        s.push_str(&line);
    }
    s.push_str(&format!("echo '{DONE}'\nsystemctl poweroff --no-block\n"));
    s
}

// ---------------------------------------------------------------------------
// Boot and judge

/// Boots the cached image (`-snapshot` keeps it unchanged) with the tests
/// disk beside it, echoing the whole console.
fn boot(
    image: &Image,
    tests_img: &Path,
    console_log: &Path,
    timeout: Duration,
) -> Result<GuestRun, String> {
    let mut cmd = qemu(
        "qemu-system-x86_64",
        &[],
        "1024",
        &image.kernel,
        &image.initrd,
        KERNEL_CMDLINE,
    );
    cmd.arg("-snapshot")
        .arg("-drive")
        .arg(format!(
            "file={},format=raw,if=virtio",
            image.disk.display()
        ))
        .arg("-drive")
        .arg(format!("file={},format=raw,if=virtio", tests_img.display()));
    console::boot("systemd-test", cmd, console_log, timeout, Echo::All)
}

/// Adds up libtest's results per step; every step must finish with exit code
/// 0 after running at least one test, no scope may be left, and the
/// completion marker must be there.
fn judge(lines: &[String]) -> Verdict {
    let mut verdict = Verdict::default();
    let mut current: Option<(String, u64)> = None; // (step, tests it ran)
    let mut finished = Vec::new();
    let mut scopes_checked = false;
    for line in lines {
        if let Some(name) = marker(line, BEGIN) {
            current = Some((name.to_string(), 0));
        } else if let Some(rest) = marker(line, END) {
            let (name, code) = rest.rsplit_once(':').unwrap_or((rest, ""));
            let ran = match current.take() {
                Some((n, ran)) if n == name => ran,
                _ => 0,
            };
            match code.parse::<i32>() {
                Ok(0) if ran > 0 => {}
                Ok(0) => verdict.problems.push(format!("{name} ran no test")),
                Ok(code) => {
                    verdict.problems.push(format!("{name} exited with {code}"));
                    if ran == 0 {
                        verdict.failed += 1; // it crashed before libtest could count
                    }
                }
                Err(_) => verdict
                    .problems
                    .push(format!("{name}: unreadable exit marker {line:?}")),
            }
            finished.push(name.to_string());
        } else if let Some(n) = marker(line, LEFT) {
            scopes_checked = true;
            if n.trim() != "0" {
                verdict.problems.push(format!(
                    "{} processkit scope(s) still listed by systemctl --user after the suites",
                    n.trim()
                ));
            }
        } else if let Some((passed, failed)) = test_result(line) {
            verdict.passed += passed;
            verdict.failed += failed;
            if let Some((_, ran)) = current.as_mut() {
                *ran += passed + failed;
            }
        }
    }
    for step in STEPS {
        let name = format!("{}/{}", step.phase, step.test);
        if !finished.contains(&name) {
            verdict.failed += 1;
            verdict
                .problems
                .push(format!("{name} did not finish in the guest"));
        }
    }
    if !scopes_checked {
        verdict
            .problems
            .push("the guest did not report the scopes left behind".into());
    }
    if !lines.iter().any(|l| l.contains(DONE)) {
        verdict
            .problems
            .push("no completion marker on the guest console (crash, panic or hang)".into());
    }
    if verdict.failed > 0 {
        verdict
            .problems
            .push(format!("{} test(s) failed", verdict.failed));
    }
    if verdict.passed == 0 {
        verdict.problems.push("no test was executed".into());
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    fn full_run(result: &str) -> String {
        let mut text = String::new();
        for (i, step) in STEPS.iter().enumerate() {
            let name = format!("{}/{}", step.phase, step.test);
            text.push_str(&format!("{BEGIN}{name}@@\n"));
            if i == 0 {
                text.push_str(&format!("{result}\n"));
            } else {
                text.push_str("test result: ok. 2 passed; 0 failed; 0 ignored\n");
            }
            text.push_str(&format!("{END}{name}:0@@\n"));
            if i == 0 {
                text.push_str(&format!("{LEFT}0@@\n"));
            }
        }
        text.push_str(&format!("{DONE}\n"));
        text
    }

    #[test]
    fn a_clean_run_adds_up() {
        let v = judge(&lines(&full_run(
            "test result: ok. 5 passed; 0 failed; 1 ignored",
        )));
        assert_eq!(v.problems, Vec::<String>::new());
        assert_eq!(v.passed, 5 + 2 * (STEPS.len() as u64 - 1));
    }

    #[test]
    fn a_step_that_ran_no_test_fails_the_lane() {
        let v = judge(&lines(&full_run(
            "test result: ok. 0 passed; 0 failed; 6 ignored",
        )));
        assert!(
            v.problems.iter().any(|p| p.contains("ran no test")),
            "{v:?}"
        );
    }

    #[test]
    fn leftover_scopes_a_crash_or_an_empty_run_fail() {
        let text = full_run("test result: ok. 5 passed; 0 failed")
            .replace(&format!("{LEFT}0@@"), &format!("{LEFT}2@@"));
        assert!(
            judge(&lines(&text))
                .problems
                .iter()
                .any(|p| p.contains("2 processkit scope"))
        );
        let v = judge(&[]);
        assert!(
            v.problems
                .iter()
                .any(|p| p.contains("no test was executed"))
        );
        assert!(v.problems.iter().any(|p| p.contains("completion marker")));
    }

    #[test]
    fn the_cache_key_follows_the_recipe() {
        assert_eq!(cache_key(), cache_key());
        assert_ne!(fnv1a(&["a", "bc"]), fnv1a(&["ab", "c"]));
        assert!(run_script().contains("systemctl stop user@1000.service"));
    }
}

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
//! The qemu plumbing here (installing qemu, unpacking Debian packages, the
//! initramfs writer, booting with a time limit and judging the console) is
//! shared with the aarch64 lane (`arm64.rs`).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{
    apt_install, cache_dir, installed_version, keyed_cache, run_checked, workspace_root,
};

const DEFAULT_TESTS: &[&str] = &["vm_limits"];
const DEFAULT_TIMEOUT_SECS: u64 = 15 * 60;
const KERNEL_CMDLINE: &str = "console=ttyS0 rdinit=/init cgroup_no_v1=all panic=-1 quiet";

/// Guest console markers (written by `/init`, read back here).
pub(crate) const BEGIN: &str = "@@vm-test:begin:";
pub(crate) const END: &str = "@@vm-test:end:";
pub(crate) const DONE: &str = "@@vm-test:done@@";
/// The prefix of `/init`'s own lines; the console is echoed from the first one on.
pub(crate) const GUEST: &str = "vm-guest:";

const USAGE: &str = "usage: cargo xtask vm-test [--timeout SECS] [TEST_TARGET...] [-- LIBTEST_ARGS...]\n\
    Runs processkit's integration test targets (default: vm_limits) with --features limits\n\
    inside a pure cgroup v2 qemu guest; the guest sets PROCESSKIT_VM=1.";

/// What a VM lane was asked to run.
pub(crate) struct Options {
    pub(crate) tests: Vec<String>,
    pub(crate) test_args: Vec<String>,
    pub(crate) timeout: Duration,
}

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
    let guest = boot(qemu_x86(&kernel, &initrd), &console_log, options.timeout)?;
    eprintln!(
        "vm-test: guest ran {:.1?} (total {:.1?}); console log: {}",
        boot_started.elapsed(),
        started.elapsed(),
        console_log.display()
    );

    let names: Vec<&str> = binaries.iter().map(|(name, _)| name.as_str()).collect();
    let verdict = judge(&guest.lines, &names);
    if !verdict.problems.is_empty() && !guest.echoed_all {
        // The guest died before or while running the tests: show how.
        eprintln!("vm-test: last console lines:");
        let tail = guest.lines.len().saturating_sub(40);
        for line in &guest.lines[tail..] {
            eprintln!("  | {line}");
        }
    }
    let mut problems = verdict.problems;
    if guest.timed_out {
        problems.insert(
            0,
            format!("qemu killed after {:?} (guest hung?)", options.timeout),
        );
    }
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

/// Parses a VM lane's arguments (`[TEST...] [--timeout SECS] [-- ARGS]`);
/// `None` for `--help`. Shared by every lane that boots test binaries.
pub(crate) fn parse_lane_args(
    args: &[String],
    usage: &str,
    default_tests: &[&str],
    default_timeout_secs: u64,
) -> Result<Option<Options>, String> {
    let mut options = Options {
        tests: Vec::new(),
        test_args: Vec::new(),
        timeout: Duration::from_secs(default_timeout_secs),
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let timeout = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--" => {
                options.test_args = iter.by_ref().cloned().collect();
                None
            }
            "--timeout" => Some(
                iter.next()
                    .ok_or("--timeout needs a number of seconds")?
                    .as_str(),
            ),
            _ if arg.starts_with("--timeout=") => Some(&arg["--timeout=".len()..]),
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}\n{usage}")),
            _ => {
                options.tests.push(arg.clone());
                None
            }
        };
        if let Some(secs) = timeout {
            let secs: u64 = secs
                .parse()
                .map_err(|_| format!("bad --timeout value {secs:?}"))?;
            options.timeout = Duration::from_secs(secs);
        }
    }
    if options.tests.is_empty() {
        options.tests = default_tests.iter().map(|s| s.to_string()).collect();
    }
    Ok(Some(options))
}

// ---------------------------------------------------------------------------
// qemu

/// Installs `package` (`qemu-system-x86`, `qemu-system-arm`; no recommends:
/// they pull in a GUI stack) unless `binary` already runs.
///
/// The machine image may carry `qemu-utils` (qemu-img) from bookworm-backports,
/// which `Breaks: qemu-system-common (<< 8.0)`: installing bookworm's
/// qemu 7.2 would silently remove it. In that case `package` comes from the
/// same backports suite, in the same version, through a private apt
/// configuration (the machine's sources and lists stay as they are; the
/// private lists live in `$HOME/.cache/processkit/apt-backports`), refusing to
/// remove anything.
pub(crate) fn install_qemu(package: &str, binary: &str) -> Result<(), String> {
    let works = Command::new(binary)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Ok(());
    }
    let utils = installed_version("qemu-utils").unwrap_or_default();
    if !utils.contains("~bpo") {
        return apt_install(&[package]);
    }
    let apt_dir = cache_dir("apt-backports")?;
    let codename = fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VERSION_CODENAME=")
                .map(|c| c.trim_matches('"').to_string())
        })
        .ok_or("no VERSION_CODENAME in /etc/os-release")?;
    let suite = format!("{codename}-backports");
    let lists = apt_dir.join("lists");
    fs::create_dir_all(lists.join("partial"))
        .map_err(|e| format!("create {}: {e}", lists.display()))?;
    // The machine's own sources (sources.list and sources.list.d) plus backports,
    // read into private lists.
    let sources = apt_dir.join("sources.list");
    let mut list = fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    list.push_str(&format!(
        "\ndeb http://deb.debian.org/debian {suite} main\n"
    ));
    fs::write(&sources, list).map_err(|e| format!("write {}: {e}", sources.display()))?;
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.arg("-o")
            .arg(format!("Dir::Etc::sourcelist={}", sources.display()))
            .arg("-o")
            .arg(format!("Dir::State::lists={}", lists.display()))
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive");
        run_checked(&mut cmd)
    };
    eprintln!("qemu-utils {utils} is from {suite}: taking {package} from there too");
    apt(&["update", "-qq"])?;
    apt(&[
        "-o",
        "DPkg::Lock::Timeout=600",
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "--no-remove",
        "-t",
        &suite,
        &format!("{package}={utils}"),
    ])
}

// ---------------------------------------------------------------------------
// Kernel and busybox

/// Returns `(vmlinuz, busybox)`, downloading and unpacking them on first use.
fn fetch_guest_parts() -> Result<(PathBuf, PathBuf), String> {
    let dir = cached_debs(
        &Apt::host(),
        "vm-guest",
        &|apt| {
            let image = apt
                .depends_on("linux-image-amd64", "linux-image-", "-amd64")
                .ok_or("apt-cache names no linux-image-*-amd64 for linux-image-amd64")?;
            Ok(vec![
                // Only the kernel image is needed, not the ~400 MB of modules.
                (image, vec!["./boot/vmlinuz-*"]),
                (
                    "busybox-static".to_string(),
                    vec!["./bin/busybox", "./usr/bin/busybox"],
                ),
            ])
        },
        &|unpacked, dir| {
            keep(&find_kernel(unpacked)?, &dir.join("vmlinuz"))?;
            keep(&find_busybox(unpacked)?, &dir.join("busybox"))
        },
    )?;
    Ok((dir.join("vmlinuz"), dir.join("busybox")))
}

/// `boot/vmlinuz-*` in an unpacked kernel package.
pub(crate) fn find_kernel(unpacked: &Path) -> Result<PathBuf, String> {
    fs::read_dir(unpacked.join("boot"))
        .map_err(|e| format!("the kernel package has no /boot: {e}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .starts_with("vmlinuz-")
        })
        .ok_or_else(|| "the kernel package has no /boot/vmlinuz-*".to_string())
}

/// `bin/busybox` (or `usr/bin/busybox`) in an unpacked `busybox-static`.
pub(crate) fn find_busybox(unpacked: &Path) -> Result<PathBuf, String> {
    ["bin/busybox", "usr/bin/busybox"]
        .iter()
        .map(|p| unpacked.join(p))
        .find(|p| p.is_file())
        .ok_or_else(|| "busybox-static has no bin/busybox".to_string())
}

/// Moves `from` to `to` (both inside one cache directory).
pub(crate) fn keep(from: &Path, to: &Path) -> Result<(), String> {
    fs::rename(from, to).map_err(|e| format!("move {} to {}: {e}", from.display(), to.display()))
}

/// apt-get and apt-cache, on the machine's configuration or on a private one
/// (other architecture, own package lists).
pub(crate) struct Apt {
    options: Vec<String>,
}

impl Apt {
    /// The machine's own configuration.
    pub(crate) fn host() -> Apt {
        Apt {
            options: Vec::new(),
        }
    }

    /// The machine's configuration with these `-o` settings on top.
    pub(crate) fn with_options(options: Vec<String>) -> Apt {
        Apt { options }
    }

    pub(crate) fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(tool);
        for option in &self.options {
            cmd.args(["-o", option]);
        }
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    }

    pub(crate) fn update(&self) -> Result<(), String> {
        run_checked(self.command("apt-get").args([
            "-o",
            "DPkg::Lock::Timeout=600",
            "update",
            "-qq",
        ]))
    }

    /// The dependency of `package` named `prefix*suffix` (the exact kernel
    /// package that a `linux-image-<flavour>` metapackage stands for).
    pub(crate) fn depends_on(&self, package: &str, prefix: &str, suffix: &str) -> Option<String> {
        let output = self
            .command("apt-cache")
            .args(["depends", package])
            .output()
            .ok()?;
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|line| {
                let name = line.trim().strip_prefix("Depends:")?.trim();
                (name.starts_with(prefix) && name.ends_with(suffix)).then(|| name.to_string())
            })
    }

    /// The version of `package` that `apt-get download` would fetch.
    pub(crate) fn candidate(&self, package: &str) -> Option<String> {
        let output = self
            .command("apt-cache")
            .args(["policy", package])
            .output()
            .ok()?;
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|line| line.trim().strip_prefix("Candidate:"))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty() && v != "(none)")
    }

    pub(crate) fn download(&self, packages: &[&str], into: &Path) -> Result<(), String> {
        run_checked(
            self.command("apt-get")
                .args(["download", "-qq", "-o", "APT::Sandbox::User=root"])
                .args(packages)
                .current_dir(into),
        )
    }
}

/// What `resolve` in [`cached_debs`] returns: each package with the paths
/// (tar wildcards) to unpack from it.
pub(crate) type Wanted = Vec<(String, Vec<&'static str>)>;

/// Files from Debian packages, cached in `$HOME/.cache/processkit/<name>-<key>`
/// where the key names every package with its version.
///
/// `resolve` names the packages (with the paths to unpack); on a miss they
/// are downloaded, unpacked into a staging tree and `finish(tree, dir)` moves
/// what is needed into `dir`; a `complete` file then marks the cache as
/// usable. Missing or stale package lists (a package that cannot be resolved
/// or downloaded) are refreshed once.
pub(crate) fn cached_debs(
    apt: &Apt,
    name: &str,
    resolve: &dyn Fn(&Apt) -> Result<Wanted, String>,
    finish: &dyn Fn(&Path, &Path) -> Result<(), String>,
) -> Result<PathBuf, String> {
    let mut refreshed = false;
    let mut refresh = |why: String| -> Result<(), String> {
        if std::mem::replace(&mut refreshed, true) {
            return Err(why);
        }
        eprintln!("{why}; refreshing the package lists");
        apt.update()
    };
    loop {
        let wanted = match resolve(apt) {
            Ok(wanted) => wanted,
            Err(why) => {
                refresh(why)?;
                continue;
            }
        };
        let mut key = Vec::new();
        for (package, _) in &wanted {
            match apt.candidate(package) {
                Some(version) => key.push(format!("{package}_{version}")),
                None => key.clear(),
            }
        }
        if key.len() != wanted.len() {
            refresh(format!("apt-cache has no version of some of {wanted:?}"))?;
            continue;
        }
        let key = key.join("+");
        let dir = keyed_cache(name, &key)?;
        let complete = dir.join("complete");
        if complete.is_file() {
            eprintln!("using the cached {key} in {}", dir.display());
            return Ok(dir);
        }

        let staging = dir.join("staging");
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&staging).map_err(|e| format!("create {}: {e}", staging.display()))?;
        let names: Vec<&str> = wanted.iter().map(|(p, _)| p.as_str()).collect();
        if let Err(why) = apt.download(&names, &staging) {
            refresh(why)?;
            continue;
        }
        let unpacked = staging.join("root");
        fs::create_dir_all(&unpacked).map_err(|e| e.to_string())?;
        for (package, patterns) in &wanted {
            let prefix = format!("{package}_");
            let deb = fs::read_dir(&staging)
                .map_err(|e| format!("read {}: {e}", staging.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .find(|p| {
                    let file = p.file_name().unwrap_or_default().to_string_lossy();
                    file.starts_with(&prefix) && file.ends_with(".deb")
                })
                .ok_or_else(|| format!("apt-get download left no {prefix}*.deb"))?;
            extract_deb(&deb, &unpacked, patterns)?;
        }
        finish(&unpacked, &dir)?;
        fs::write(&complete, format!("{key}\n")).map_err(|e| e.to_string())?;
        let _ = fs::remove_dir_all(&staging);
        eprintln!("cached {key} in {}", dir.display());
        return Ok(dir);
    }
}

/// `dpkg-deb --fsys-tarfile DEB | tar -x -C DEST --wildcards PATTERNS...`
/// (patterns that match nothing are not an error).
pub(crate) fn extract_deb(deb: &Path, dest: &Path, patterns: &[&str]) -> Result<(), String> {
    eprintln!(
        "+ dpkg-deb --fsys-tarfile {} | tar -x {}",
        deb.display(),
        patterns.join(" ")
    );
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start dpkg-deb: {e}"))?;
    let tar_stdin = dpkg.stdout.take().expect("piped stdout");
    let tar = Command::new("tar")
        .args(["-x", "--wildcards", "--warning=no-unknown-keyword", "-C"])
        .arg(dest)
        .args(patterns)
        .stdin(tar_stdin)
        .stderr(Stdio::null()) // "Not found in archive" for the alternatives
        .status()
        .map_err(|e| format!("could not start tar: {e}"))?;
    let dpkg_status = dpkg.wait().map_err(|e| e.to_string())?;
    // tar exits 2 when a pattern matched nothing; the caller checks what it needs.
    if !dpkg_status.success() || tar.code().is_none_or(|c| c > 2) {
        return Err(format!(
            "unpacking {} failed ({dpkg_status}, tar {tar})",
            deb.display()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Test binaries

/// Builds the test targets and returns `(target name, executable)` pairs, in request order.
pub(crate) fn build_tests(
    root: &Path,
    target_dir: &Path,
    tests: &[String],
) -> Result<Vec<(String, PathBuf)>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .env("CARGO_TARGET_DIR", target_dir)
        .args([
            "test",
            "-p",
            "processkit",
            "--features",
            "limits",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ]);
    for test in tests {
        cmd.args(["--test", test]);
    }
    eprintln!("+ {cmd:?}");
    let output = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the test binaries failed ({})",
            output.status
        ));
    }
    test_executables(&String::from_utf8_lossy(&output.stdout), tests)
}

/// `(test target, executable)` for each of `tests`, in that order, from
/// cargo's `--message-format=json` output.
pub(crate) fn test_executables(
    cargo_json: &str,
    tests: &[String],
) -> Result<Vec<(String, PathBuf)>, String> {
    let mut found = BTreeMap::new();
    for line in cargo_json.lines() {
        if !line.contains(r#""reason":"compiler-artifact""#) || !line.contains(r#""kind":["test"]"#)
        {
            continue;
        }
        let name = line
            .find(r#""target":{"#)
            .and_then(|at| json_string(&line[at..], "name"));
        if let (Some(name), Some(exe)) = (name, json_string(line, "executable")) {
            found.insert(name, PathBuf::from(exe));
        }
    }
    tests
        .iter()
        .map(|test| {
            found
                .get(test)
                .map(|exe| (test.clone(), exe.clone()))
                .ok_or_else(|| format!("cargo reported no executable for test target {test}"))
        })
        .collect()
}

/// The first `"key":"value"` string in `json` (enough for cargo's flat messages).
pub(crate) fn json_string(json: &str, key: &str) -> Option<String> {
    let start = json.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let mut value = String::new();
    let mut chars = json[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
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
    let mut tree = Tree::default();
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "root", "etc", "tests",
    ] {
        tree.dir(dir, 0o755);
    }
    tree.dir("tmp", 0o1777);
    tree.insert(
        "dev/console",
        Node::CharDevice {
            mode: 0o600,
            major: 5,
            minor: 1,
        },
    );
    tree.insert(
        "dev/null",
        Node::CharDevice {
            mode: 0o666,
            major: 1,
            minor: 3,
        },
    );
    tree.file(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
        0o644,
    );
    tree.file("etc/group", b"root:x:0:\n".to_vec(), 0o644);

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

    let file = fs::File::create(path).map_err(|e| format!("create {}: {e}", path.display()))?;
    let mut out = BufWriter::new(file);
    tree.write_newc(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| format!("write {}: {e}", path.display()))
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))
}

/// Quotes `s` for a POSIX shell.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn init_script(tests: &[&str], test_args: &[String]) -> String {
    let args: Vec<String> = test_args.iter().map(|a| shell_quote(a)).collect();
    let args = args.join(" ");
    let mut script = format!(
        r#"#!/bin/sh
# Written by `cargo xtask vm-test`.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TMPDIR=/tmp PROCESSKIT_VM=1 RUST_BACKTRACE=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
echo "+memory +pids +cpu" > /sys/fs/cgroup/cgroup.subtree_control
ip link set lo up 2>/dev/null
echo "{GUEST} kernel $(uname -r), $(nproc) cpus, $(free -m | awk '/Mem:/ {{print $2}}') MiB"
echo "{GUEST} cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "{GUEST} cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
cd /tmp
"#
    );
    for test in tests {
        script.push_str(&format!(
            "echo '{BEGIN}{test}@@'\n\
             /tests/{test} --test-threads=1 --include-ignored {args} </dev/null\n\
             echo \"{END}{test}:$?@@\"\n"
        ));
    }
    script.push_str(&format!("echo '{DONE}'\npoweroff -f\n"));
    script
}

pub(crate) enum Node {
    Dir(u32),
    File(Vec<u8>, u32),
    Symlink(String),
    CharDevice { mode: u32, major: u32, minor: u32 },
}

/// An in-memory file tree written as a `newc` cpio archive (what the kernel
/// unpacks as initramfs; uncompressed, so no cpio or gzip is needed).
#[derive(Default)]
pub(crate) struct Tree(BTreeMap<String, Node>);

impl Tree {
    /// Adds `node` at `path`, and any missing parent directories (the kernel
    /// does not create them: an entry whose parent is missing is dropped).
    pub(crate) fn insert(&mut self, path: &str, node: Node) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir_all(parent);
        }
        self.0.insert(path.to_string(), node);
    }

    pub(crate) fn dir(&mut self, path: &str, mode: u32) {
        self.insert(path, Node::Dir(mode));
    }

    fn dir_all(&mut self, path: &str) {
        let mut end = 0;
        while end < path.len() {
            end = path[end + 1..]
                .find('/')
                .map_or(path.len(), |i| end + 1 + i);
            self.0
                .entry(path[..end].to_string())
                .or_insert(Node::Dir(0o755));
        }
    }

    pub(crate) fn file(&mut self, path: &str, data: Vec<u8>, mode: u32) {
        self.insert(path, Node::File(data, mode));
    }

    /// Sorted order puts every directory before its contents.
    pub(crate) fn write_newc(&self, out: &mut impl Write) -> io::Result<()> {
        for (ino, (path, node)) in self.0.iter().enumerate() {
            let (mode, data, nlink, rdev): (u32, &[u8], u32, (u32, u32)) = match node {
                Node::Dir(mode) => (0o040000 | mode, &[], 2, (0, 0)),
                Node::File(data, mode) => (0o100000 | mode, data, 1, (0, 0)),
                Node::Symlink(target) => (0o120777, target.as_bytes(), 1, (0, 0)),
                Node::CharDevice { mode, major, minor } => {
                    (0o020000 | mode, &[], 1, (*major, *minor))
                }
            };
            write_newc_entry(out, ino as u32 + 1, mode, nlink, rdev, path, data)?;
        }
        write_newc_entry(out, 0, 0, 1, (0, 0), "TRAILER!!!", &[])
    }
}

fn write_newc_entry(
    out: &mut impl Write,
    ino: u32,
    mode: u32,
    nlink: u32,
    rdev: (u32, u32),
    name: &str,
    data: &[u8],
) -> io::Result<()> {
    let size =
        u32::try_from(data.len()).map_err(|_| io::Error::other(format!("{name} is too large")))?;
    let name_size = name.len() as u32 + 1;
    // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
    let fields = [
        ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, name_size, 0,
    ];
    let mut header = String::from("070701");
    for field in fields {
        header.push_str(&format!("{field:08x}"));
    }
    out.write_all(header.as_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&[0])?;
    out.write_all(&[0; 3][..(4 - (110 + name_size as usize) % 4) % 4])?;
    out.write_all(data)?;
    out.write_all(&[0; 3][..(4 - data.len() % 4) % 4])
}

// ---------------------------------------------------------------------------
// Boot and verdict

pub(crate) struct GuestRun {
    /// The console, line by line (without `\r`).
    pub(crate) lines: Vec<String>,
    pub(crate) timed_out: bool,
    /// Whether `/init` started (from then on every line was echoed, so no tail is needed).
    pub(crate) echoed_all: bool,
}

/// The x86-64 guest: TCG, 2 vCPUs, 1 GiB, no network, serial console.
fn qemu_x86(kernel: &Path, initrd: &Path) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    // Nested KVM was seen to hang: software emulation only.
    cmd.args([
        "-accel",
        "tcg",
        "-m",
        "1G",
        "-smp",
        "2",
        "-nic",
        "none",
        "-nographic",
        "-no-reboot",
    ])
    .arg("-kernel")
    .arg(kernel)
    .arg("-initrd")
    .arg(initrd)
    .args(["-append", KERNEL_CMDLINE]);
    cmd
}

/// Runs the guest (`cmd`: qemu with a serial console on stdout) until it
/// powers off or `timeout` passes (then qemu is killed), keeping the console
/// in `console_log` and echoing it from `/init`'s first line on.
pub(crate) fn boot(
    mut cmd: Command,
    console_log: &Path,
    timeout: Duration,
) -> Result<GuestRun, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    eprintln!("+ {cmd:?} (time limit {timeout:?})");
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not start qemu: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let log = fs::File::create(console_log)
        .map_err(|e| format!("create {}: {e}", console_log.display()))?;

    let reader = thread::spawn(move || -> (Vec<String>, bool) {
        let mut log = BufWriter::new(log);
        let mut lines = Vec::new();
        let mut echoing = false;
        let mut echoed_from_init = false;
        let mut reader = BufReader::new(stdout);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let _ = log.write_all(&buffer);
            let _ = log.flush();
            let text = String::from_utf8_lossy(&buffer);
            let line = strip_escapes(text.trim_end_matches(['\n', '\r']));
            let mut shown = line.as_str();
            if let Some(at) = line.find(GUEST).filter(|_| !echoing) {
                // The firmware's last words share the line with /init's first.
                shown = &line[at..];
                echoing = true;
                echoed_from_init = true;
            }
            if echoing {
                println!("{shown}");
            }
            if line.contains(DONE) {
                echoing = false;
            }
            lines.push(line);
        }
        (lines, echoed_from_init)
    });

    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() >= deadline => {
                eprintln!("vm-test: the guest ran out of time ({timeout:?}); killing qemu");
                let _ = child.kill();
                let _ = child.wait();
                timed_out = true;
                break;
            }
            Ok(None) => thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for qemu: {e}")),
        }
    }
    let (lines, echoed_from_init) = reader.join().map_err(|_| "console reader panicked")?;
    // Echoing stops only at the completion marker, so everything from /init on was shown.
    let echoed_all = echoed_from_init;
    Ok(GuestRun {
        lines,
        timed_out,
        echoed_all,
    })
}

/// Drops carriage returns and terminal escape sequences (the firmware resets
/// the terminal and turns off line wrapping, which must not reach the host's).
pub(crate) fn strip_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.next_if_eq(&'[').is_some() {
                    // CSI: parameters and intermediates, then one final byte in @..~.
                    while chars.next().is_some_and(|c| !('@'..='~').contains(&c)) {}
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug, Default, PartialEq)]
pub(crate) struct Verdict {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
    pub(crate) problems: Vec<String>,
}

/// Adds up libtest's `test result:` lines per binary and checks every marker is there.
pub(crate) fn judge(lines: &[String], binaries: &[&str]) -> Verdict {
    let mut verdict = Verdict::default();
    let mut current: Option<(String, bool)> = None; // (binary, saw a result line)
    let mut finished = Vec::new();
    for line in lines {
        if let Some(name) = marker(line, BEGIN) {
            current = Some((name.to_string(), false));
        } else if let Some(rest) = marker(line, END) {
            let (name, code) = rest.rsplit_once(':').unwrap_or((rest, ""));
            let saw_result = current.take().is_some_and(|(n, saw)| n == name && saw);
            match code.parse::<i32>() {
                Ok(0) => {}
                Ok(code) => {
                    verdict.problems.push(format!("{name} exited with {code}"));
                    if !saw_result {
                        verdict.failed += 1; // it crashed before libtest could count
                    }
                }
                Err(_) => verdict
                    .problems
                    .push(format!("{name}: unreadable exit marker {line:?}")),
            }
            finished.push(name.to_string());
        } else if let Some((passed, failed)) = test_result(line) {
            verdict.passed += passed;
            verdict.failed += failed;
            if let Some((_, saw)) = current.as_mut() {
                *saw = true;
            }
        }
    }
    for name in binaries {
        if !finished.iter().any(|f| f == name) {
            verdict.failed += 1;
            verdict
                .problems
                .push(format!("{name} did not finish in the guest"));
        }
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
    if verdict.passed + verdict.failed == 0 {
        verdict.problems.push("no test was executed".into());
    }
    verdict
}

/// The text between `prefix` and the closing `@@` of a marker line.
pub(crate) fn marker<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = &line[line.find(prefix)? + prefix.len()..];
    rest.find("@@").map(|end| &rest[..end])
}

/// `(passed, failed)` from `test result: ok. 3 passed; 0 failed; 1 ignored; ...`.
pub(crate) fn test_result(line: &str) -> Option<(u64, u64)> {
    let rest = &line[line.find("test result:")? + "test result:".len()..];
    let (mut passed, mut failed) = (None, None);
    let words: Vec<&str> = rest
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .collect();
    for pair in words.windows(2) {
        match pair[1] {
            "passed" => passed = pair[0].parse().ok(),
            "failed" => failed = pair[0].parse().ok(),
            _ => {}
        }
    }
    Some((passed?, failed?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn sums_results_and_checks_markers() {
        let console = lines(
            "[    1.0] booting\n\
             vm-guest: kernel 6.1\n\
             @@vm-test:begin:a@@\n\
             test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
             @@vm-test:end:a:0@@\n\
             @@vm-test:begin:b@@\n\
             test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n\
             @@vm-test:end:b:101@@\n\
             @@vm-test:done@@",
        );
        let verdict = judge(&console, &["a", "b"]);
        assert_eq!((verdict.passed, verdict.failed), (3, 1));
        assert_eq!(verdict.problems.len(), 2, "{:?}", verdict.problems);

        let ok = judge(
            &console[..5]
                .iter()
                .cloned()
                .chain(lines("@@vm-test:done@@"))
                .collect::<Vec<_>>(),
            &["a"],
        );
        assert_eq!(
            ok,
            Verdict {
                passed: 2,
                failed: 0,
                problems: vec![]
            }
        );
    }

    #[test]
    fn a_crash_or_an_empty_run_fails() {
        let crashed = judge(
            &lines("@@vm-test:begin:a@@\nKernel panic - not syncing"),
            &["a"],
        );
        assert_eq!(crashed.failed, 1);
        assert!(
            crashed
                .problems
                .iter()
                .any(|p| p.contains("completion marker"))
        );

        let aborted = judge(
            &lines("@@vm-test:begin:a@@\n@@vm-test:end:a:134@@\n@@vm-test:done@@"),
            &["a"],
        );
        assert_eq!((aborted.passed, aborted.failed), (0, 1));

        let empty = judge(
            &lines(
                "@@vm-test:begin:a@@\ntest result: ok. 0 passed; 0 failed; 0 ignored\n@@vm-test:end:a:0@@\n@@vm-test:done@@",
            ),
            &["a"],
        );
        assert_eq!(empty.problems, ["no test was executed"]);
    }

    #[test]
    fn parents_come_first() {
        let mut tree = Tree::default();
        tree.file("usr/lib/x86_64/libc.so.6", vec![1], 0o755);
        tree.dir("usr/bin", 0o755);
        let paths: Vec<&str> = tree.0.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "usr",
                "usr/bin",
                "usr/lib",
                "usr/lib/x86_64",
                "usr/lib/x86_64/libc.so.6"
            ]
        );
    }

    #[test]
    fn newc_entries_are_aligned() {
        let mut tree = Tree::default();
        tree.dir("bin", 0o755);
        tree.file("bin/x", b"hello".to_vec(), 0o755);
        tree.insert("bin/sh", Node::Symlink("/bin/busybox".into()));
        let mut out = Vec::new();
        tree.write_newc(&mut out).unwrap();
        assert_eq!(out.len() % 4, 0);
        assert!(out.starts_with(b"070701"));
        assert!(out.windows(10).any(|w| w == b"TRAILER!!!"));
    }

    #[test]
    fn strips_terminal_escapes() {
        assert_eq!(
            strip_escapes("\x1bc\x1b[?7l\x1b[2Jvm-guest: x\r"),
            "vm-guest: x"
        );
        assert_eq!(strip_escapes("plain"), "plain");
    }

    #[test]
    fn reads_cargo_json() {
        let line = r#"{"reason":"compiler-artifact","target":{"kind":["test"],"name":"vm_limits"},"executable":"/t/deps/vm_limits-abc"}"#;
        assert_eq!(
            json_string(line, "executable").as_deref(),
            Some("/t/deps/vm_limits-abc")
        );
        assert_eq!(json_string(line, "name").as_deref(), Some("vm_limits"));
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}

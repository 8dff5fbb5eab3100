//! What the qemu lanes (`vm-test`, `arm64-test`, `systemd-test`) and the
//! musl lane share: parsing a lane's arguments, installing qemu, fetching and
//! unpacking Debian packages into a keyed cache, and building the test
//! binaries. The initramfs writer is in [`initramfs`], booting a guest and
//! judging its console in [`console`].

pub(crate) mod console;
pub(crate) mod initramfs;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{apt_install, cache_dir, installed_version, keyed_cache, run_checked};

/// What a VM lane was asked to run.
pub(crate) struct Options {
    pub(crate) tests: Vec<String>,
    pub(crate) test_args: Vec<String>,
    pub(crate) timeout: Duration,
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
    let codename = debian_codename()?;
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

/// The machine's Debian release name (`VERSION_CODENAME` in `/etc/os-release`).
pub(crate) fn debian_codename() -> Result<String, String> {
    fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VERSION_CODENAME=")
                .map(|c| c.trim_matches('"').to_string())
        })
        .ok_or_else(|| "no VERSION_CODENAME in /etc/os-release".to_string())
}

// ---------------------------------------------------------------------------
// Kernel and busybox

// ---------------------------------------------------------------------------
// Kernel and busybox

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

/// What every guest for the Debian architecture `arch` needs: the kernel
/// image (only the image, not the hundreds of MB of modules) and
/// `busybox-static`, with the paths to unpack.
pub(crate) fn kernel_and_busybox(apt: &Apt, arch: &str) -> Result<Wanted, String> {
    let meta = format!("linux-image-{arch}");
    let image = apt
        .depends_on(&meta, "linux-image-", &format!("-{arch}"))
        .ok_or_else(|| format!("apt-cache names no linux-image-*-{arch} for {meta}"))?;
    Ok(vec![
        (image, vec!["./boot/vmlinuz-*"]),
        (
            "busybox-static".to_string(),
            vec!["./bin/busybox", "./usr/bin/busybox"],
        ),
    ])
}

/// Keeps the kernel and busybox of [`kernel_and_busybox`], unpacked in
/// `unpacked`, as `dir/vmlinuz` and `dir/busybox`.
pub(crate) fn keep_kernel_and_busybox(unpacked: &Path, dir: &Path) -> Result<(), String> {
    keep(&find_kernel(unpacked)?, &dir.join("vmlinuz"))?;
    keep(&find_busybox(unpacked)?, &dir.join("busybox"))
}

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
    build_test_binaries(cmd, tests, "building the test binaries")
}

/// Runs `cmd` (a `cargo test --no-run --message-format=json...`) for
/// `tests` and returns `(test target, executable)` pairs, in request order;
/// `what` names the build in its error.
pub(crate) fn build_test_binaries(
    mut cmd: Command,
    tests: &[String],
    what: &str,
) -> Result<Vec<(String, PathBuf)>, String> {
    for test in tests {
        cmd.args(["--test", test]);
    }
    eprintln!("+ {cmd:?}");
    let output = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!("{what} failed ({})", output.status));
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

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))
}

/// Quotes `s` for a POSIX shell.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

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

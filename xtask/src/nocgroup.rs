//! Two lanes for hosts without a writable cgroup, where the library runs on
//! its child-subreaper mechanism:
//!
//! * `cargo xtask nonroot-test`: the containment suites run as an
//!   unprivileged user (uid/gid 65534 through `setpriv`), who cannot create
//!   a cgroup directory. The test binaries are built as root, then copied
//!   into a scratch directory that user can read, with its own `HOME` and
//!   `TMPDIR`.
//! * `cargo xtask ro-cgroup-test`: the same suites as root, inside a private
//!   mount namespace (`unshare --mount`) in which every cgroup mount (and
//!   the tmpfs that holds the v1 hierarchies) is remounted read-only, as in
//!   a default container.
//!
//! Both also run the command-line tool's end-to-end suite (`cli`), with
//! the tool copied beside it, except the tests that plant a cgroup
//! directory. Both print per-suite and total counts and fail on any failed test, on a
//! suite that did not finish, and on a run in which no test ran. The
//! subreaper suite runs with `--include-ignored`: its ignored test checks
//! that the preflight really picked the subreaper here.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{apt_install, run_checked, workspace_root};

/// The suites both lanes run.
const SUITES: &[&str] = &[
    "escapes",
    "groups",
    "verbs",
    "streaming",
    "pipelines",
    "guardian",
    "faults",
    "subreaper",
    "factory",
    "pty",
    "run_leftovers",
    "supervised_groups",
    "detached_members",
    "live_children",
];

/// The command-line tool's end-to-end suite, run beside the library's.
const CLI_SUITE: &str = "cli";

/// Tests of the CLI suite that need a writable cgroup2 tree (they plant a
/// dead owner's cgroup directory).
const CLI_NEEDS_CGROUP: &[&str] = &["sweep_removes_a_dead_owners_cgroup_container"];

/// The unprivileged user and group.
const NOBODY: u32 = 65534;

pub fn nonroot(args: &[String]) -> Result<(), String> {
    ensure_tools()?;
    let exes = build()?;
    let scratch = std::env::temp_dir().join(format!("processkit-nonroot-{}", std::process::id()));
    let result = (|| {
        let bin = scratch.join("bin");
        let home = scratch.join("home");
        let tmp = scratch.join("tmp");
        for d in [&scratch, &bin, &home, &tmp] {
            std::fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
        }
        set_mode(&scratch, 0o755)?;
        set_mode(&bin, 0o755)?;
        chown(&home, NOBODY)?;
        chown(&tmp, NOBODY)?;
        let mut copies = Vec::new();
        for (name, exe) in &exes {
            let to = bin.join(name);
            std::fs::copy(exe, &to).map_err(|e| format!("copying {}: {e}", exe.display()))?;
            set_mode(&to, 0o755)?;
            copies.push((name.clone(), to));
        }
        let tool = copies
            .iter()
            .find(|(n, _)| n == TOOL)
            .map(|(_, p)| p.clone())
            .ok_or("the processkit binary was not copied")?;
        let suites: Vec<(String, PathBuf)> =
            copies.into_iter().filter(|(n, _)| n != TOOL).collect();
        run_suites(&suites, args, |exe| {
            let mut cmd = Command::new("setpriv");
            cmd.args([
                &format!("--reuid={NOBODY}"),
                &format!("--regid={NOBODY}"),
                "--clear-groups",
            ])
            .arg(exe)
            .current_dir(&tmp)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", &home)
            .env("TMPDIR", &tmp)
            .env(TOOL_ENV, &tool)
            .env("RUST_BACKTRACE", "1");
            cmd
        })
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

pub fn ro_cgroup(args: &[String]) -> Result<(), String> {
    ensure_tools()?;
    let exes = build()?;
    let me = std::env::current_exe().map_err(|e| format!("locating xtask: {e}"))?;
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--"])
        .arg(me)
        .arg("ro-cgroup-inner");
    for (name, exe) in &exes {
        cmd.arg(format!("{name}={}", exe.display()));
    }
    cmd.arg("--").args(args);
    run_checked(&mut cmd).map_err(|e| format!("read-only cgroupfs lane: {e}"))
}

/// Inside the private mount namespace: make every cgroup mount read-only,
/// check that it is, then run the suites.
pub fn ro_cgroup_inner(args: &[String]) -> Result<(), String> {
    let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let exes: Vec<(String, PathBuf)> = args[..split]
        .iter()
        .filter_map(|a| a.split_once('='))
        .map(|(n, p)| (n.to_owned(), PathBuf::from(p)))
        .collect();
    let extra = &args[(split + 1).min(args.len())..];
    let mounts = cgroup_mounts()?;
    if mounts.is_empty() {
        return Err("no cgroup filesystem is mounted".into());
    }
    for mp in &mounts {
        run_checked(
            Command::new("mount")
                .args(["-o", "remount,bind,ro"])
                .arg(mp),
        )?;
    }
    // Proof: no cgroup can be created anywhere now.
    for mp in &mounts {
        let probe = Path::new(mp).join(format!("processkit-ro-probe-{}", std::process::id()));
        if std::fs::create_dir(&probe).is_ok() {
            let _ = std::fs::remove_dir(&probe);
            return Err(format!(
                "{mp} is still writable after the read-only remount"
            ));
        }
    }
    println!("read-only now: {}", mounts.join(", "));
    let tool = exes
        .iter()
        .find(|(n, _)| n == TOOL)
        .map(|(_, p)| p.clone())
        .ok_or("no processkit binary was passed")?;
    let suites: Vec<(String, PathBuf)> = exes.into_iter().filter(|(n, _)| n != TOOL).collect();
    run_suites(&suites, extra, |exe| {
        let mut cmd = Command::new(exe);
        cmd.env(TOOL_ENV, &tool).env("RUST_BACKTRACE", "1");
        cmd
    })
}

/// The tool's name among the built executables, and the variable through
/// which its tests find it (read at run time by `assert_cmd`).
const TOOL: &str = "processkit";
const TOOL_ENV: &str = "CARGO_BIN_EXE_processkit";

/// Mount points of cgroup and cgroup2 filesystems, and of the tmpfs at
/// `/sys/fs/cgroup` that holds v1 hierarchies (parents first).
fn cgroup_mounts() -> Result<Vec<String>, String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("reading mountinfo: {e}"))?;
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = post.split_whitespace().next().unwrap_or("");
        let Some(mp) = pre.split_whitespace().nth(4) else {
            continue;
        };
        let is_cgroup = fstype == "cgroup" || fstype == "cgroup2";
        if is_cgroup || mp == "/sys/fs/cgroup" {
            out.push(mp.replace("\\040", " "));
        }
    }
    out.sort_by_key(|m| m.len());
    out.dedup();
    Ok(out)
}

fn ensure_tools() -> Result<(), String> {
    let mut need = Vec::new();
    for (tool, pkg) in [
        ("setpriv", "util-linux"),
        ("unshare", "util-linux"),
        ("perl", "perl"),
        ("ssh-agent", "openssh-client"),
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found && !need.contains(&pkg) {
            need.push(pkg);
        }
    }
    apt_install(&need)
}

/// Builds the suites (as the current user) and returns (name, executable).
fn build() -> Result<Vec<(String, PathBuf)>, String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root()).args([
        "test",
        "-p",
        "processkit",
        "--all-features",
        "--no-run",
        "--message-format=json",
    ]);
    for s in SUITES {
        cmd.args(["--test", s]);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building the suites failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut exes = Vec::new();
    for s in SUITES {
        let exe = stdout
            .lines()
            .filter(|l| {
                l.contains("\"reason\":\"compiler-artifact\"")
                    && l.contains(&format!("\"name\":\"{s}\""))
                    && l.contains("\"executable\":\"")
            })
            .find_map(|l| {
                l.split("\"executable\":\"")
                    .nth(1)?
                    .split('"')
                    .next()
                    .map(PathBuf::from)
            })
            .ok_or_else(|| format!("no executable for suite {s} in cargo's output"))?;
        exes.push(((*s).to_owned(), exe));
    }
    exes.extend(build_cli()?);
    Ok(exes)
}

/// Builds the tool and its end-to-end suite: `[(cli, suite), (processkit, tool)]`.
fn build_cli() -> Result<Vec<(String, PathBuf)>, String> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace_root())
        .args([
            "test",
            "-p",
            "processkit-cli",
            "--test",
            CLI_SUITE,
            "--no-run",
            "--message-format=json",
        ])
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building the CLI suite failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let find = |name: &str, kind: &str| {
        stdout
            .lines()
            .filter(|l| {
                l.contains("\"reason\":\"compiler-artifact\"")
                    && l.contains(&format!("\"kind\":[\"{kind}\"]"))
                    && l.contains(&format!("\"name\":\"{name}\""))
                    && l.contains("\"executable\":\"")
            })
            .find_map(|l| {
                l.split("\"executable\":\"")
                    .nth(1)?
                    .split('"')
                    .next()
                    .map(PathBuf::from)
            })
            .ok_or_else(|| format!("no executable for {kind} {name} in cargo's output"))
    };
    Ok(vec![
        (CLI_SUITE.to_owned(), find(CLI_SUITE, "test")?),
        (TOOL.to_owned(), find(TOOL, "bin")?),
    ])
}

/// Runs each suite with `make(exe)`, prints counts, and fails on any failed
/// test, any unfinished suite, or a suite that ran nothing.
fn run_suites(
    exes: &[(String, PathBuf)],
    extra: &[String],
    make: impl Fn(&Path) -> Command,
) -> Result<(), String> {
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    let mut problems = Vec::new();
    for (name, exe) in exes {
        let mut cmd = make(exe);
        if name == "subreaper" {
            cmd.arg("--include-ignored");
        }
        if name == CLI_SUITE {
            for t in CLI_NEEDS_CGROUP {
                cmd.args(["--skip", t]);
            }
        }
        cmd.args(extra);
        eprintln!("+ {name}: {cmd:?}");
        let out = cmd
            .output()
            .map_err(|e| format!("could not start {}: {e}", exe.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        print!("{text}");
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        let counts = text.lines().rev().find_map(parse_result);
        match counts {
            Some((p, f, i)) => {
                println!("suite {name}: {p} passed, {f} failed, {i} ignored");
                passed += p;
                failed += f;
                ignored += i;
                if f > 0 {
                    problems.push(format!("{name}: {f} failed"));
                }
                if p == 0 {
                    problems.push(format!("{name}: no test ran"));
                }
            }
            None => problems.push(format!("{name}: no result line ({})", out.status)),
        }
        if !out.status.success() && !problems.iter().any(|p| p.starts_with(name.as_str())) {
            problems.push(format!("{name}: exited with {}", out.status));
        }
    }
    println!("total: {passed} passed, {failed} failed, {ignored} ignored");
    if passed == 0 {
        problems.push("no test ran at all".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// `test result: ok. 8 passed; 0 failed; 1 ignored; ...` → (8, 0, 1).
fn parse_result(line: &str) -> Option<(u64, u64, u64)> {
    let rest = line.strip_prefix("test result: ")?;
    let num = |key: &str| -> Option<u64> {
        rest.split(';')
            .find(|p| p.trim_end().ends_with(key))?
            .split_whitespace()
            .rev()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((num("passed")?, num("failed")?, num("ignored").unwrap_or(0)))
}

fn set_mode(p: &Path, mode: u32) -> Result<(), String> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", p.display()))
}

fn chown(p: &Path, id: u32) -> Result<(), String> {
    std::os::unix::fs::chown(p, Some(id), Some(id))
        .map_err(|e| format!("chown {}: {e}", p.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn result_lines_are_parsed() {
        assert_eq!(
            super::parse_result(
                "test result: ok. 8 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.8s"
            ),
            Some((8, 0, 1))
        );
        assert_eq!(
            super::parse_result("test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured"),
            Some((3, 2, 0))
        );
        assert_eq!(super::parse_result("running 3 tests"), None);
    }
}

//! Small helpers shared by the lanes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// Runs a command, echoing it first; an error names the program and the exit status.
pub fn run_checked(cmd: &mut Command) -> Result<(), String> {
    eprintln!("+ {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{:?} failed with {status}", cmd.get_program()))
    }
}

/// How long apt waits for another apt or dpkg run to release its lock.
const APT_LOCK_WAIT: &str = "DPkg::Lock::Timeout=600";

/// Installs Debian packages that are not installed yet (`apt-get update` once, then install).
pub fn apt_install(packages: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| installed_version(p).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    run_checked(Command::new("apt-get").args(["-o", APT_LOCK_WAIT, "update", "-qq"]))?;
    run_checked(
        Command::new("apt-get")
            .args(["-o", APT_LOCK_WAIT, "install", "-y", "-qq"])
            .arg("--no-install-recommends")
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The installed version of a Debian package, if it is installed.
pub fn installed_version(package: &str) -> Option<String> {
    let output = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}|${Version}", package])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let (status, version) = text.split_once('|')?;
    status
        .contains("install ok installed")
        .then(|| version.to_string())
}

/// `name_version+name_version...` for installed packages: the key of a cache
/// built with them (a package that is not installed counts as `none`).
pub fn versions_key(packages: &[&str]) -> String {
    packages
        .iter()
        .map(|p| format!("{p}_{}", installed_version(p).as_deref().unwrap_or("none")))
        .collect::<Vec<_>>()
        .join("+")
}

/// A short, stable stand-in for a long cache key (64-bit FNV-1a, in hex):
/// for caches whose paths must stay short, such as the Wine lane's, whose
/// test binaries Windows programs start again by full path (`MAX_PATH`).
pub fn short_key(key: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The root of the lanes' caches: `$HOME/.cache/processkit` (or
/// `$XDG_CACHE_HOME/processkit`). It lives outside the checkout, so a fresh
/// clone (as in CI) still finds the toolchains, kernels and builds that an
/// earlier run left.
pub fn cache_root() -> Result<PathBuf, String> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .ok_or("neither XDG_CACHE_HOME nor HOME is set: no place for the lane's cache")?;
            PathBuf::from(home).join(".cache")
        }
    };
    Ok(base.join("processkit"))
}

/// `<cache root>/<name>-<key>`, created if missing. `key` says what built the
/// contents (package versions), so a change of toolchain or image gets a new
/// directory; the older `<name>-*` directories are removed then (so no
/// lane's `name` may be another's followed by a dash).
pub fn keyed_cache(name: &str, key: &str) -> Result<PathBuf, String> {
    let root = cache_root()?;
    let safe: String = key
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '+' | '-' | '_' | '~' => c,
            _ => '_',
        })
        .collect();
    let dir = root.join(format!("{name}-{safe}"));
    if !dir.is_dir() {
        // Same lane, other key: made by packages that are gone now.
        let prefix = format!("{name}-");
        for entry in fs::read_dir(&root).into_iter().flatten().flatten() {
            let file_name = entry.file_name();
            let file_name = file_name.to_string_lossy();
            if file_name.starts_with(&prefix) && entry.path() != dir {
                eprintln!("removing the outdated cache {}", entry.path().display());
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    }
    Ok(dir)
}

/// An unkeyed directory under the cache root (state such as private apt lists).
pub fn cache_dir(name: &str) -> Result<PathBuf, String> {
    let dir = cache_root()?.join(name);
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Empties a cargo target directory that has grown past `limit_bytes`:
/// every run from a fresh checkout adds a build of the workspace crates, and
/// cargo never removes old ones. Starting over costs one cold build.
pub fn bound_build_dir(dir: &Path, limit_bytes: u64) {
    let size = tree_size(dir);
    if size > limit_bytes {
        eprintln!(
            "{} holds {} MiB (limit {} MiB): starting it over",
            dir.display(),
            size >> 20,
            limit_bytes >> 20
        );
        let _ = fs::remove_dir_all(dir);
    }
}

fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| tree_size(&e.path()))
        .sum()
}

//! `cargo xtask cross-check [extra cargo args]`: type-checks the library
//! (all targets: lib, tests, examples, benches) for platforms this machine
//! cannot run, and for the other Linux targets, with Debian's Rust toolchain
//! and `-Zbuild-std`.
//!
//! No prebuilt standard library can be downloaded here (no rustup targets),
//! so std itself is checked from the sources in Debian's `rust-web-src`.
//! `cargo check` never links, so no foreign linker or SDK is needed.
//!
//! The Linux targets (`aarch64-unknown-linux-gnu`, `x86_64-unknown-linux-musl`)
//! get `cargo clippy -- -D warnings` (Debian's `rust-web-clippy`) instead of
//! a plain check, so their own code paths (the aarch64 `clone3` trampoline,
//! musl's `libc` types) are held to the same lints as the host's. The other
//! targets get a check only.
//!
//! Everything builds into `$HOME/.cache/processkit/cross-check-<toolchain
//! versions>`; a second run, from any checkout, only re-checks what changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{
    apt_install, bound_build_dir, keyed_cache, run_checked, versions_key, workspace_root,
};

/// A build directory larger than this starts over (see [`bound_build_dir`]).
const BUILD_DIR_LIMIT: u64 = 6 << 30;

/// The targets type-checked by this lane.
const TARGETS: [&str; 6] = [
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-unknown-freebsd",
    "x86_64-pc-windows-msvc",
    "aarch64-unknown-linux-gnu",
    "x86_64-unknown-linux-musl",
];

/// The targets also linted (`cargo clippy -- -D warnings`).
const CLIPPY_TARGETS: [&str; 2] = ["aarch64-unknown-linux-gnu", "x86_64-unknown-linux-musl"];

/// Debian's clippy for the toolchain above.
const CLIPPY_PACKAGE: &str = "rust-web-clippy";

/// Debian 12's newer Rust (1.96, the "-web" packages) with its std sources.
pub const TOOLCHAIN_PACKAGES: [&str; 3] = ["rustc-web", "cargo-web", "rust-web-src"];

const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_RUSTDOC: &str = "/usr/bin/rustdoc";
/// Where `rust-web-src` puts the std sources that `-Zbuild-std` compiles.
const STD_SOURCES: &str = "/usr/lib/rustlib/src/rust/library/std";

pub fn run(args: &[String]) -> Result<(), String> {
    let mut packages = TOOLCHAIN_PACKAGES.to_vec();
    packages.push(CLIPPY_PACKAGE);
    apt_install(&packages)?;
    let target_dir = keyed_cache("cross-check", &versions_key(&packages))?;
    bound_build_dir(&target_dir, BUILD_DIR_LIMIT);

    let mut passed = Vec::new();
    let mut failed = Vec::new();
    for target in TARGETS {
        let lint = CLIPPY_TARGETS.contains(&target);
        let mut cmd = debian_cargo(&target_dir)?;
        // Only what `check` needs: `panic_unwind` (and `test` for test
        // targets) are added by cargo itself when required.
        cmd.arg(if lint { "clippy" } else { "check" })
            .args(["-Zbuild-std=std,panic_abort", "--target", target])
            .args(["-p", "processkit", "--all-features", "--all-targets"])
            .args(args);
        if lint {
            cmd.args(["--", "-D", "warnings"]);
        }
        match run_checked(&mut cmd) {
            Ok(()) => {
                let what = if lint { "check and clippy" } else { "check" };
                println!("cross-check {target}: {what} ok");
                passed.push(target);
            }
            Err(e) => {
                println!("cross-check {target}: FAILED ({e})");
                failed.push(target);
            }
        }
    }

    println!(
        "cross-check: {} passed, {} failed",
        passed.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed for {}", failed.join(", ")))
    }
}

/// A `cargo` command that uses Debian's toolchain (not rustup's) with nightly
/// features unlocked, running in the workspace root and building into
/// `target_dir`.
///
/// The lanes need `-Zbuild-std` with std sources, which only Debian's
/// toolchain has here; `RUSTC_BOOTSTRAP=1` allows the `-Z` flags on it.
pub fn debian_cargo(target_dir: &Path) -> Result<Command, String> {
    for needed in [DEBIAN_CARGO, DEBIAN_RUSTC, DEBIAN_RUSTDOC, STD_SOURCES] {
        if !Path::new(needed).exists() {
            return Err(format!(
                "{needed} is missing: is Debian's toolchain ({}) installed?",
                TOOLCHAIN_PACKAGES.join(" ")
            ));
        }
    }
    // /usr/bin first, so that anything found through PATH (rustc, rustdoc,
    // cc for build scripts) is Debian's and not rustup's proxies.
    let mut path = vec![PathBuf::from("/usr/bin")];
    if let Some(old) = std::env::var_os("PATH") {
        path.extend(std::env::split_paths(&old));
    }
    let path = std::env::join_paths(path).map_err(|e| format!("bad PATH: {e}"))?;

    let mut cmd = Command::new(DEBIAN_CARGO);
    cmd.current_dir(workspace_root())
        .env("PATH", path)
        .env("RUSTC", DEBIAN_RUSTC)
        .env("RUSTDOC", DEBIAN_RUSTDOC)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", target_dir)
        // Set by rustup's proxies around `cargo xtask`; meaningless here.
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO_BUILD_TARGET");
    Ok(cmd)
}

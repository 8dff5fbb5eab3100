//! `cargo xtask cross-check [extra cargo check args]`: type-checks the library
//! (all targets: lib, tests, examples, benches) for platforms this machine
//! cannot run, with Debian's Rust toolchain and `-Zbuild-std`.
//!
//! No prebuilt standard library can be downloaded here (no rustup targets),
//! so std itself is checked from the sources in Debian's `rust-web-src`.
//! `cargo check` never links, so no foreign linker or SDK is needed.
//!
//! Everything builds into `target/cross`; a second run only re-checks what
//! changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{apt_install, run_checked, workspace_root};

/// The targets type-checked by this lane.
const TARGETS: [&str; 4] = [
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-unknown-freebsd",
    "x86_64-pc-windows-msvc",
];

/// Debian 12's newer Rust (1.96, the "-web" packages) with its std sources.
pub const TOOLCHAIN_PACKAGES: [&str; 3] = ["rustc-web", "cargo-web", "rust-web-src"];

const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_RUSTDOC: &str = "/usr/bin/rustdoc";
/// Where `rust-web-src` puts the std sources that `-Zbuild-std` compiles.
const STD_SOURCES: &str = "/usr/lib/rustlib/src/rust/library/std";

pub fn run(args: &[String]) -> Result<(), String> {
    apt_install(&TOOLCHAIN_PACKAGES)?;
    let target_dir = workspace_root().join("target").join("cross");

    let mut passed = Vec::new();
    let mut failed = Vec::new();
    for target in TARGETS {
        let mut cmd = debian_cargo(&target_dir)?;
        // Only what `check` needs: `panic_unwind` (and `test` for test
        // targets) are added by cargo itself when required.
        cmd.args(["check", "-Zbuild-std=std,panic_abort", "--target", target])
            .args(["-p", "processkit", "--all-features", "--all-targets"])
            .args(args);
        match run_checked(&mut cmd) {
            Ok(()) => {
                println!("cross-check {target}: ok");
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

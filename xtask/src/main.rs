//! The project's own automation: `cargo xtask <lane>`.
//!
//! Each lane installs what it needs on a fresh Debian machine, runs its
//! tests, prints pass/fail counts and exits non-zero on any failure.

mod arm64;
mod cli_assets;
mod cross;
mod cycles;
mod foreign;
mod guest;
mod musl;
mod nocgroup;
mod systemd;
mod util;
mod valgrind;
mod vm;
mod wine;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lane = args.first().map(String::as_str).unwrap_or("help");
    let rest = &args[args.len().min(1)..];
    let outcome = match lane {
        "wine-test" => wine::run(rest),
        "cross-check" => cross::run(rest),
        "vm-test" => vm::run(rest),
        "arm64-test" => arm64::run(rest),
        "musl-test" => musl::run(rest),
        "valgrind" => valgrind::run(rest),
        "nonroot-test" => nocgroup::nonroot(rest),
        "ro-cgroup-test" => nocgroup::ro_cgroup(rest),
        "ro-cgroup-inner" => nocgroup::ro_cgroup_inner(rest),
        "systemd-test" => systemd::run(rest),
        "cli-assets" => cli_assets::run(rest),
        "cycle-check" => cycles::run(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <lane>\n\n\
                 lanes:\n  \
                 wine-test    run the library's tests for x86_64-pc-windows-gnu under Wine\n  \
                 cross-check  type-check macOS, FreeBSD, Windows-msvc; check and lint Linux aarch64/musl\n  \
                 vm-test      run the limits/stats tests on a pure cgroup v2 kernel under qemu\n  \
                 valgrind     run the spawner tests under valgrind memcheck\n  \
                 nonroot-test    run the containment suites as an unprivileged user (no cgroup)\n  \
                 ro-cgroup-test  run the containment suites as root with every cgroup mount read-only\n  \
                 systemd-test    run the containment suites as a non-root user with a systemd user\n                  \
                 manager (delegated scope), in a Debian 12 guest under qemu\n  \
                 cli-assets      write the processkit command's completions and man pages [DIR]\n  \
                 arm64-test      run the core suites for aarch64-unknown-linux-gnu in qemu-system-aarch64\n  \
                 musl-test       run the core suites as static x86_64-unknown-linux-musl executables\n  \
                 cycle-check     fail on an import circle between modules, on sys/ importing from\n                  \
                 above it, and on a source file over 800 lines"
            );
            return if lane == "help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {lane}: {message}");
            ExitCode::FAILURE
        }
    }
}

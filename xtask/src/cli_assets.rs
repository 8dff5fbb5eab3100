//! `cargo xtask cli-assets [DIR]`: shell completions and man pages for the
//! `processkit` command, generated from its clap definitions.
//!
//! Writes into DIR (default `target/cli-assets`): `completions/processkit.bash`,
//! `_processkit` (zsh), `processkit.fish`, `processkit.elv`, `_processkit.ps1`,
//! and `man/processkit.1` plus one page per subcommand (`processkit-run.1`, …).

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

pub fn run(args: &[String]) -> Result<(), String> {
    let out = match args.first() {
        Some(dir) => PathBuf::from(dir),
        None => crate::util::workspace_root().join("target/cli-assets"),
    };
    generate(&out)?;
    eprintln!(
        "cli-assets: wrote completions and man pages to {}",
        out.display()
    );
    Ok(())
}

/// Generates every asset under `out`.
pub fn generate(out: &Path) -> Result<(), String> {
    let completions = out.join("completions");
    let man = out.join("man");
    for dir in [&completions, &man] {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let mut cmd = processkit_cli::Cli::command();
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::PowerShell,
    ] {
        clap_complete::generate_to(shell, &mut cmd, "processkit", &completions)
            .map_err(|e| format!("{shell} completions: {e}"))?;
    }
    let cmd = processkit_cli::Cli::command();
    clap_mangen::generate_to(cmd, &man).map_err(|e| format!("man pages: {e}"))?;
    // Every subcommand has a page and a completion entry.
    let bash = std::fs::read_to_string(completions.join("processkit.bash"))
        .map_err(|e| format!("reading the bash completions: {e}"))?;
    for sub in ["run", "supervise", "batch", "doctor", "ps", "sweep"] {
        let page = man.join(format!("processkit-{sub}.1"));
        if !page.exists() {
            return Err(format!("no man page for `{sub}` at {}", page.display()));
        }
        if !bash.contains(sub) {
            return Err(format!("the bash completions do not mention `{sub}`"));
        }
    }
    Ok(())
}

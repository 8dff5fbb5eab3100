//! The `processkit` command-line tool, as a library: the clap definitions
//! ([`Cli`]) for the completions and man page generator, and [`main`].
//!
//! ```
//! use clap::CommandFactory;
//! let cmd = processkit_cli::Cli::command();
//! assert_eq!(cmd.get_name(), "processkit");
//! ```

#![deny(missing_docs)]

pub mod args;
mod batch;
mod doctor;
mod ps;
mod run;
mod supervise;
mod util;

pub use args::Cli;
pub use util::{EXIT_LEAK, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, EXIT_TIMEOUT, EXIT_TOOL};

use args::Cmd;
use clap::Parser;

/// Parses the command line, runs the subcommand and returns the exit code.
/// A usage error is one line on stderr and [`EXIT_TOOL`]; nothing is
/// started.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let cli = match cli.command {
        Cmd::Doctor(a) => return doctor::run(a),
        Cmd::Ps(a) => return ps::ps(a),
        Cmd::Sweep(a) => return ps::sweep(a),
        other => other,
    };
    let rt = match runtime_for(&cli).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            util::complain(format!("cannot start the runtime: {e}"));
            return EXIT_TOOL;
        }
    };
    rt.block_on(async move {
        match cli {
            Cmd::Run(a) => run::run(a).await,
            Cmd::Supervise(a) => supervise::run(a).await,
            Cmd::Batch(a) => batch::run(a).await,
            Cmd::Doctor(a) => doctor::run(a),
            Cmd::Ps(a) => ps::ps(a),
            Cmd::Sweep(a) => ps::sweep(a),
        }
    })
}

/// The most worker threads `batch` uses.
const BATCH_WORKERS: usize = 8;

/// A single-threaded runtime, except for a `batch` that runs several
/// commands at once: starting a child can hold its thread until the child
/// has started (on the subreaper mechanism, until its helper has answered),
/// so `-j N` gets up to N worker threads (at most [`BATCH_WORKERS`]) and
/// its starts overlap instead of queueing on one thread.
fn runtime_for(cli: &Cmd) -> tokio::runtime::Builder {
    if let Cmd::Batch(a) = cli {
        let jobs = batch::jobs(a);
        if jobs > 1 {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(jobs.min(BATCH_WORKERS));
            return b;
        }
    }
    tokio::runtime::Builder::new_current_thread()
}

fn usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                EXIT_TOOL
            } else {
                0
            }
        }
        _ => {
            let text = e.render().to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid usage")
                .trim_start_matches("error: ");
            let missing_dashes = matches!(e.kind(), ErrorKind::UnknownArgument)
                && text.contains("unexpected argument")
                && !std::env::args().any(|a| a == "--");
            let hint = if missing_dashes {
                "; put the command after `--`, as in `processkit run -- CMD ARGS`"
            } else {
                "; see `processkit --help`"
            };
            util::complain(format!("{first}{hint}"));
            EXIT_TOOL
        }
    }
}

//! `processkit`: contained runs, leak reports and batches for shells and CI.
//! See `docs/cli.md`.

fn main() {
    std::process::exit(processkit_cli::main());
}

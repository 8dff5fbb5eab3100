//! The command line, as clap definitions. The help text, the shell
//! completions and the man page are all generated from these types.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Runs commands in kill-on-drop containers: no descendant outlives the run.
///
/// Every command started by this tool, and everything it spawns (including
/// daemons that call setsid or double-fork), lives in one container: a
/// cgroup v2 on Linux, a process group elsewhere. Leftovers are killed and
/// reported.
#[derive(Debug, Parser)]
#[command(
    name = "processkit",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run one command contained, with a timeout, limits and a leak report.
    ///
    /// Exit status: the command's own code; 124 on timeout; 125 when the
    /// tool fails (including a limit this host cannot enforce); 126 when the
    /// command cannot be executed; 127 when it is not found; 128+N when it
    /// was killed by signal N; 122 when --fail-on-leak is given and the
    /// command left descendants behind.
    Run(RunArgs),
    /// Keep a command alive: restart it per policy with a backoff.
    Supervise(SuperviseArgs),
    /// Run one command per line of FILE (or stdin), at most -j at once.
    ///
    /// Lines are split with shell-style quoting, without a shell; blank
    /// lines and lines starting with `#` are skipped. Exit status: 0 when
    /// every command succeeded, 1 otherwise, 125 when the tool fails, 130
    /// when interrupted.
    Batch(BatchArgs),
    /// Show what this host gives: mechanism, spawner, guardian, limits.
    Doctor(DoctorArgs),
    /// List this user's containers: owner, state, members, memory.
    ///
    /// Every process using processkit (this tool included) keeps its
    /// containers under one `processkit-<pid>-…` directory of the cgroup2
    /// tree; this lists them with the owner's pid and command line, whether
    /// the owner still runs, the member processes and their memory where a
    /// memory controller measures it.
    Ps(PsArgs),
    /// Remove the containers of owners that have died, saying what was
    /// removed (their processes are killed first).
    Sweep(SweepArgs),
}

/// Options shared by `run` and `supervise`: how the command is started.
#[derive(Debug, Args, Clone)]
pub struct SpawnArgs {
    /// Working directory of the command.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (repeatable).
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(OsString, OsString)>,
    /// Start from an empty environment and pass only these variables
    /// through from the tool's own (comma-separated, repeatable); --env
    /// adds to them.
    #[arg(long, value_name = "VARS", value_delimiter = ',')]
    pub inherit_env: Option<Vec<OsString>>,
    /// Run the command as this user id.
    #[arg(long, value_name = "UID")]
    pub uid: Option<u32>,
    /// Run the command as this group id.
    #[arg(long, value_name = "GID")]
    pub gid: Option<u32>,
}

/// Whole-tree resource limits.
#[derive(Debug, Args, Clone, Default)]
pub struct LimitArgs {
    /// Cap the whole tree's memory (`512M`, `2G`; binary units). Refused
    /// with exit 125 where the host cannot enforce it.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_max: Option<u64>,
    /// Cap the number of processes (and threads) in the tree. Refused with
    /// exit 125 where the host cannot enforce it.
    #[arg(long, value_name = "N")]
    pub max_processes: Option<u64>,
    /// Cap the tree's CPU use, in cores (`0.5` = half a core). Refused
    /// with exit 125 where the host cannot enforce it.
    #[arg(long, value_name = "CORES", value_parser = parse_cores)]
    pub cpu_quota: Option<f64>,
}

impl LimitArgs {
    /// `true` when any limit was asked for.
    pub fn any(&self) -> bool {
        self.memory_max.is_some() || self.max_processes.is_some() || self.cpu_quota.is_some()
    }
}

/// `processkit run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Stop the command after this long (`30s`, `5m`, `1h 30m`); exit 124.
    #[arg(long, short = 't', value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// The signal sent to the whole tree first when the timeout passes
    /// (name or number: TERM, INT, HUP, KILL, 15).
    #[arg(long, short = 's', value_name = "SIG", default_value = "TERM", value_parser = parse_signal)]
    pub signal: i32,
    /// Grace after the first signal (timeout, or a SIGTERM/SIGHUP sent to
    /// the tool) before every process left in the tree is killed.
    #[arg(long, short = 'k', value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub kill_after: Duration,
    /// Exit with 122 when the command leaves descendants running after it
    /// exits (they are killed and reported either way).
    #[arg(long)]
    pub fail_on_leak: bool,
    /// Print a short summary to stderr after the run: exit, duration, CPU
    /// time, peak memory and process count, leaks, mechanism.
    #[arg(long)]
    pub report: bool,
    /// Write the run's summary as a versioned JSON document to FILE (`-`
    /// for stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Whole-tree limits.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// How the command is started.
    #[command(flatten)]
    pub spawn: SpawnArgs,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// When `supervise` restarts the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Restart {
    /// After every exit, clean or not.
    Always,
    /// After a crash: a non-zero exit or a death by signal.
    OnCrash,
    /// Never: run once.
    Never,
}

/// `processkit supervise`.
#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// When to restart the command.
    #[arg(long, value_enum, default_value = "on-crash")]
    pub restart: Restart,
    /// Stop after this many restarts (default: no limit).
    #[arg(long, value_name = "N")]
    pub max_restarts: Option<u32>,
    /// Pause before the first restart; it doubles with each restart in a row.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration)]
    pub backoff: Duration,
    /// The longest pause between restarts.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub max_backoff: Duration,
    /// When crashes come too fast, pause restarts this long (crash-loop
    /// guard; off unless given).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub storm_pause: Option<Duration>,
    /// Grace between SIGTERM and SIGKILL when the tool is told to stop.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub grace: Duration,
    /// How the command is started.
    #[command(flatten)]
    pub spawn: SpawnArgs,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// `processkit batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// The file of commands, one per line; `-` or nothing for stdin.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Run at most N commands at once (default: the number of CPUs).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Stop each command after this long; its whole tree is killed.
    #[arg(long, short = 't', value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Write each command's output to DIR/N.out and DIR/N.err (N: the
    /// line number) instead of printing it.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Write one JSON record per command, in a versioned document, to FILE
    /// (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Never draw a progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

/// `processkit ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Print the containers as a JSON document.
    #[arg(long)]
    pub json: bool,
}

/// `processkit sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Only say what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

/// `processkit doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the findings as a JSON document.
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        // A bare number means seconds, as for timeout(1).
        return Duration::try_from_secs_f64(secs)
            .map_err(|e| format!("invalid duration `{s}`: {e}"));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration `{s}`: {e} (try `30s`, `5m`, `1h`)"))
}

fn parse_size(s: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|e| format!("invalid size `{s}`: {e} (try `512M`, `2G`)"))
}

fn parse_cores(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(c) if c.is_finite() && c > 0.0 => Ok(c),
        _ => Err(format!(
            "invalid CPU quota `{s}`: a positive number of cores (`0.5`, `2`)"
        )),
    }
}

/// Signal names this tool understands, with and without the `SIG` prefix.
pub const SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("KILL", 9),
    ("USR1", 10),
    ("USR2", 12),
    ("ALRM", 14),
    ("TERM", 15),
];

fn parse_signal(s: &str) -> Result<i32, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(format!("invalid signal `{s}`: numbers run from 1 to 64"));
    }
    let upper = t.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .ok_or_else(|| format!("invalid signal `{s}` (try TERM, INT, HUP, KILL or a number)"))
}

fn parse_env(s: &str) -> Result<(OsString, OsString), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.into(), v.into())),
        _ => Err(format!("invalid environment setting `{s}`: expected K=V")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_sizes_signals() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("2").unwrap(), 2);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_cores("0").is_err());
        assert_eq!(parse_env("A=b=c").unwrap(), ("A".into(), "b=c".into()));
    }

    #[test]
    fn definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

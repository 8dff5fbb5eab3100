//! Pieces shared by the subcommands: exit codes, building the child's
//! command, signal delivery to the tool, and small `/proc` readers.

use std::ffi::OsString;
use std::io;
use std::time::Duration;

use crate::args::SpawnArgs;

/// The command exited on its own but left descendants behind, and
/// `--fail-on-leak` was given.
pub const EXIT_LEAK: i32 = 122;
/// The timeout passed (as `timeout(1)`).
pub const EXIT_TIMEOUT: i32 = 124;
/// The tool itself failed: bad usage, a refused limit, an I/O error.
pub const EXIT_TOOL: i32 = 125;
/// The command was found but could not be executed.
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
/// The command was not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// Prints a one-line error prefixed with the tool's name.
pub fn complain(msg: impl std::fmt::Display) {
    eprintln!("processkit: {msg}");
}

/// The exit code for an error from starting a command.
pub fn spawn_error_code(e: &processkit::Error) -> i32 {
    use processkit::Error;
    match e {
        Error::NotFound { .. } => EXIT_NOT_FOUND,
        Error::PermissionDenied { .. } => EXIT_NOT_EXECUTABLE,
        Error::Spawn { source, .. } => match source.raw_os_error() {
            // ENOEXEC, EACCES, EISDIR, ETXTBSY: there, but not runnable.
            Some(8) | Some(13) | Some(21) | Some(26) => EXIT_NOT_EXECUTABLE,
            Some(2) => EXIT_NOT_FOUND,
            _ => EXIT_TOOL,
        },
        _ => EXIT_TOOL,
    }
}

/// The shell's view of an exit: the code, or 128+N for signal N.
pub fn status_code(code: Option<i32>, signal: Option<i32>) -> i32 {
    match (code, signal) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => EXIT_TOOL,
    }
}

/// Describes an exit in words: "exited with code 3", "killed by signal 9".
pub fn describe_exit(code: Option<i32>, signal: Option<i32>, timed_out: bool) -> String {
    let base = match (code, signal) {
        (Some(c), _) => format!("exited with code {c}"),
        (None, Some(s)) => format!(
            "killed by signal {s}{}",
            signal_name(s)
                .map(|n| format!(" (SIG{n})"))
                .unwrap_or_default()
        ),
        (None, None) => "ended without a status".to_owned(),
    };
    if timed_out {
        format!("timed out, {base}")
    } else {
        base
    }
}

/// The short name of a common signal.
pub fn signal_name(sig: i32) -> Option<&'static str> {
    crate::args::SIGNALS
        .iter()
        .find(|(_, n)| *n == sig)
        .map(|(name, _)| *name)
}

/// Builds the library command for `argv` with the spawn options. Stdio is
/// inherited: the command reads and writes the tool's own terminal.
pub fn command(argv: &[OsString], spawn: &SpawnArgs) -> Result<processkit::Command, String> {
    use processkit::{Destination, Stdin};
    let mut cmd = processkit::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdin::inherit())
        .stdout(Destination::inherit())
        .stderr(Destination::inherit());
    if let Some(dir) = &spawn.cwd {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("--cwd {}: not a directory", dir.display())),
            Err(e) => return Err(format!("--cwd {}: {e}", dir.display())),
        }
        cmd = cmd.current_dir(dir);
    }
    if let Some(names) = &spawn.inherit_env {
        cmd = cmd.inherit_env(names);
    }
    for (k, v) in &spawn.env {
        cmd = cmd.env(k, v);
    }
    if let Some(uid) = spawn.uid {
        cmd = cmd.uid(uid);
    }
    if let Some(gid) = spawn.gid {
        cmd = cmd.gid(gid);
    }
    Ok(cmd)
}

/// A signal the tool received.
#[derive(Debug, Clone, Copy)]
pub struct Incoming {
    /// The signal number.
    pub signal: i32,
    /// Sent by the kernel on behalf of a terminal (Ctrl-C, Ctrl-\, hangup)
    /// rather than by a process calling `kill`.
    pub from_terminal: bool,
}

/// Signals caught by the tool, read on the runtime's own thread: a
/// self-pipe watched by the reactor, no extra thread (starting one costs a
/// `clone`, a stack and a malloc arena on every run).
#[cfg(unix)]
pub struct Signals {
    delivery: signal_hook::iterator::backend::SignalDelivery<
        tokio::io::unix::AsyncFd<std::os::unix::net::UnixStream>,
        signal_hook::iterator::exfiltrator::WithOrigin,
    >,
    queue: std::collections::VecDeque<Incoming>,
}

#[cfg(unix)]
impl Signals {
    /// The next signal, in the order caught. Cancel-safe: a signal caught
    /// while the future is dropped is kept for the next call.
    pub async fn recv(&mut self) -> Option<Incoming> {
        use signal_hook::low_level::siginfo::Cause;
        loop {
            if let Some(s) = self.queue.pop_front() {
                return Some(s);
            }
            // Readiness first, then drain: a signal that lands after the
            // drain writes the pipe again and wakes the next wait.
            match self.delivery.get_read().readable().await {
                Ok(mut guard) => guard.clear_ready(),
                Err(_) => return None,
            }
            for origin in self.delivery.pending() {
                self.queue.push_back(Incoming {
                    signal: origin.signal,
                    from_terminal: matches!(origin.cause, Cause::Kernel),
                });
            }
        }
    }
}

/// Catches SIGINT, SIGTERM, SIGHUP and SIGQUIT from now on and delivers
/// them, with where they came from, through [`Signals::recv`]. Must be
/// called inside the runtime.
#[cfg(unix)]
pub fn listen_signals() -> io::Result<Signals> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    use signal_hook::iterator::backend::SignalDelivery;
    use signal_hook::iterator::exfiltrator::WithOrigin;
    let (read, write) = std::os::unix::net::UnixStream::pair()?;
    read.set_nonblocking(true)?;
    write.set_nonblocking(true)?;
    // `AsyncFd::new` is deprecated for `T`s that do not own their fd; a
    // `UnixStream` owns it and is moved in, so nothing else can close it.
    #[allow(deprecated)]
    let read = tokio::io::unix::AsyncFd::new(read)?;
    let delivery = SignalDelivery::with_pipe(
        read,
        write,
        WithOrigin::default(),
        [SIGINT, SIGTERM, SIGHUP, SIGQUIT],
    )?;
    Ok(Signals {
        delivery,
        queue: std::collections::VecDeque::new(),
    })
}

/// `true` when `pid` is in the tool's own process group, so a signal the
/// terminal sends to the foreground group has reached it already.
#[cfg(unix)]
pub fn shares_our_process_group(pid: u32) -> bool {
    use rustix::process::{Pid, getpgid, getpgrp};
    Pid::from_raw(pid as i32)
        .and_then(|p| getpgid(Some(p)).ok())
        .is_some_and(|pg| pg == getpgrp())
}

/// The program name of a live process (`/proc/PID/comm`), or `?`.
pub fn program_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

/// Waits up to `within` for the group to be empty; `true` if it is.
pub async fn wait_empty(group: &processkit::ProcessGroup, within: Duration) -> bool {
    let start = tokio::time::Instant::now();
    let mut nap = Duration::from_micros(200);
    loop {
        match group.is_empty() {
            Ok(true) => return true,
            Ok(false) => {}
            Err(_) => return false,
        }
        if start.elapsed() >= within {
            return false;
        }
        tokio::time::sleep(nap).await;
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

/// Sleeps until `at`, or forever when there is no deadline.
pub async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Opens the destination of a `--json FILE` option (`-` is stdout).
pub fn write_json(path: &std::path::Path, value: &serde_json::Value) -> io::Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    text.push('\n');
    if path.as_os_str() == "-" {
        use std::io::Write;
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    } else {
        std::fs::write(path, text)
    }
}

/// Seconds with millisecond precision, for JSON.
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// The CPU time of `pid` and of every descendant it waited for, as
/// (user, system): `utime + cutime` and `stime + cstime` from
/// `/proc/<pid>/stat`. Still readable while `pid` is an unreaped zombie,
/// which is how the process-group mechanism holds its leader. `None` off
/// Linux or when it cannot be read.
pub fn waited_tree_cpu(pid: u32) -> Option<(Duration, Duration)> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    // After the state letter (field 3): utime, stime, cutime, cstime are
    // fields 14 to 17.
    let f: Vec<u64> = rest
        .split_ascii_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let [utime, stime, cutime, cstime] = f[..] else {
        return None;
    };
    let hz = rustix::param::clock_ticks_per_second().max(1);
    let tick = |t: u64| Duration::from_nanos(t.saturating_mul(1_000_000_000) / hz);
    Some((tick(utime + cutime), tick(stime + cstime)))
}

/// The live (not zombie) processes in process group `pgid`, from one pass
/// over `/proc`: what is left of a run on the process-group mechanism,
/// whose library snapshot lists only the group leaders. For reporting
/// only; nothing is signalled by pid.
pub fn live_in_process_group(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let mut f = stat[close + 2..].split_ascii_whitespace();
        let state = f.next();
        let pgrp = f.nth(1).and_then(|v| v.parse::<u32>().ok());
        if pgrp == Some(pgid) && !matches!(state, Some("Z" | "X")) {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

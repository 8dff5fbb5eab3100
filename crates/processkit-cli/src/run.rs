//! `processkit run`: one command in its own container, with a timeout,
//! limits, signal forwarding and a leak report.

use std::time::{Duration, Instant};

use processkit::{ProcessGroup, ProcessGroupOptions, Signal};
use serde_json::json;

use crate::args::{LimitArgs, RunArgs};
use crate::util::{self, EXIT_LEAK, EXIT_TIMEOUT, EXIT_TOOL};

/// A descendant still alive when the command exited.
#[derive(Debug, Clone)]
pub struct Leak {
    /// Its pid.
    pub pid: u32,
    /// Its program name.
    pub program: String,
}

/// What a run came to.
#[derive(Debug, Default)]
struct Outcome {
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    interrupted_by: Option<i32>,
    duration: Duration,
    leaked: Vec<Leak>,
    user_cpu: Option<Duration>,
    system_cpu: Option<Duration>,
    peak_memory: Option<u64>,
    peak_processes: Option<u64>,
    error: Option<String>,
    exit: i32,
}

/// Creates the run's container, refusing limits the host cannot enforce.
pub fn group_for(limits: &LimitArgs, grace: Duration) -> Result<ProcessGroup, String> {
    let mut opts = ProcessGroupOptions::default().grace(grace);
    if let Some(b) = limits.memory_max {
        opts = opts.memory_max(b);
    }
    if let Some(n) = limits.max_processes {
        opts = opts.max_processes(n);
    }
    if let Some(c) = limits.cpu_quota {
        opts = opts.cpu_quota(c);
    }
    ProcessGroup::with_options(opts).map_err(|e| match e {
        processkit::Error::ResourceLimit { limit, reason } => {
            format!(
                "--{} cannot be enforced on this host: {reason}",
                limit.replace('_', "-")
            )
        }
        other => format!("cannot create the container: {other}"),
    })
}

/// Runs `processkit run` and returns the tool's exit code.
pub async fn run(args: RunArgs) -> i32 {
    let want_stats = args.report || args.json.is_some();
    let mut out = Outcome::default();
    let group = match group_for(&args.limits, args.kill_after) {
        Ok(g) => Some(g),
        Err(msg) => {
            util::complain(&msg);
            out.error = Some(msg);
            out.exit = EXIT_TOOL;
            None
        }
    };
    let mechanism = group
        .as_ref()
        .map(|g| g.mechanism())
        .unwrap_or_else(processkit::Mechanism::current);
    if args.fail_on_leak && group.is_some() && !mechanism.contains_setsid() {
        // Never a silent downgrade: say what the leak check cannot see.
        util::complain(format!(
            "warning: the {mechanism} mechanism cannot see descendants that call setsid; \
             --fail-on-leak catches only those that stay in the command's process group \
             (`processkit doctor` says why no stronger mechanism is available)"
        ));
    }
    if let Some(group) = &group {
        run_in(&args, group, want_stats, &mut out).await;
    }
    drop(group);
    finish(&args, mechanism, out)
}

async fn run_in(args: &RunArgs, group: &ProcessGroup, want_stats: bool, out: &mut Outcome) {
    let program = args.command[0].to_string_lossy().into_owned();
    // Before the spawn, so no signal is lost between the two.
    let mut signals = match util::listen_signals() {
        Ok(rx) => rx,
        Err(e) => {
            let msg = format!("cannot catch signals: {e}");
            util::complain(&msg);
            out.error = Some(msg);
            out.exit = EXIT_TOOL;
            return;
        }
    };
    let mut cmd = match util::command(&args.command, &args.spawn) {
        Ok(c) => c,
        Err(msg) => {
            util::complain(&msg);
            out.error = Some(msg);
            out.exit = EXIT_TOOL;
            return;
        }
    };
    if let Some(t) = args.timeout {
        // The library's graceful deadline: the stop signal to the whole
        // tree, then SIGKILL after the grace.
        cmd = cmd
            .timeout(t)
            .stop_signal(Signal::Other(args.signal))
            .grace_period(args.kill_after);
    }
    let started = Instant::now();
    // Inherited stdio, and the tool's own process group: a terminal's
    // Ctrl-C reaches the command directly.
    let mut child = match group.start(&cmd).await {
        Ok(c) => c,
        Err(e) => {
            let msg = e.to_string();
            util::complain(&msg);
            out.error = Some(msg);
            out.exit = util::spawn_error_code(&e);
            return;
        }
    };
    let pid = child.pid().unwrap_or(0);
    let mut kill_at: Option<tokio::time::Instant> = None;
    let mut sample = tokio::time::interval(Duration::from_millis(50));
    sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut peak_procs = 0u64;
    let mut peak_mem = 0u64;
    let waited = loop {
        tokio::select! {
            r = child.wait() => break r,
            _ = util::sleep_until(kill_at) => {
                let _ = group.kill();
                kill_at = None;
            }
            Some(sig) = signals.recv() => {
                out.interrupted_by = Some(sig.signal);
                // A terminal signals its whole foreground process group:
                // when the child shares ours it has the signal already,
                // exactly as it would without the tool.
                if !(sig.from_terminal && util::shares_our_process_group(pid)) {
                    // Through the handle's pidfd: never a reused pid.
                    let _ = child.signal(Signal::Other(sig.signal));
                }
                // Being told to terminate ends the run after the grace.
                if matches!(sig.signal, 1 | 15) && kill_at.is_none() {
                    kill_at = Some(tokio::time::Instant::now() + args.kill_after);
                }
            }
            _ = sample.tick(), if want_stats => {
                if let Ok(s) = group.stats() {
                    peak_procs = peak_procs.max(s.active_process_count);
                    peak_mem = peak_mem.max(s.memory_bytes.unwrap_or(0));
                }
            }
        }
    };
    out.duration = started.elapsed();
    match waited {
        Ok(_) => {
            let st = child.exit_status();
            out.code = st.and_then(|s| s.code());
            out.signal = st.and_then(|s| s.signal());
            out.timed_out = child.timed_out();
        }
        Err(e) => {
            out.error = Some(format!("waiting for `{program}`: {e}"));
        }
    }
    // After a signal to the tool, what is left gets the grace to finish
    // on its own; after a plain exit, whatever is left has leaked.
    if out.interrupted_by.is_some() || out.timed_out {
        let _ = util::wait_empty(group, args.kill_after).await;
    }
    if want_stats && let Ok(s) = group.stats() {
        peak_procs = peak_procs.max(s.active_process_count);
        peak_mem = peak_mem.max(s.memory_bytes.unwrap_or(0));
    }
    // Whether the group is known to be empty already: then nothing is
    // looked at twice.
    let mut known_empty = false;
    let left = if group.mechanism() == processkit::Mechanism::ProcessGroup
        && cfg!(target_os = "linux")
        && pid != 0
    {
        // The library's snapshot lists only group leaders there; the
        // report names every process left in the command's group. Its
        // "empty" (no live process in the group but the held zombie
        // leader) is the usual case and cheap; the slower pass that names
        // each process runs only when something is left.
        if group.is_empty().unwrap_or(false) {
            known_empty = true;
            Vec::new()
        } else {
            util::live_in_process_group(pid)
        }
    } else if group.is_empty().unwrap_or(false) {
        // One read of the kernel's own "populated" flag; the usual
        // case, so the tree is walked only when something is left.
        known_empty = true;
        Vec::new()
    } else {
        group.members().unwrap_or_default()
    };
    out.leaked = left
        .into_iter()
        .map(|pid| Leak {
            pid,
            program: util::program_of(pid),
        })
        .collect();
    if !out.leaked.is_empty() || (!known_empty && !group.is_empty().unwrap_or(true)) {
        let _ = group.kill();
        if !util::wait_empty(group, Duration::from_secs(10)).await {
            util::complain("some processes of the tree did not die after SIGKILL");
        }
    }
    if !out.leaked.is_empty() {
        let list: Vec<String> = out
            .leaked
            .iter()
            .map(|l| format!("{} ({})", l.pid, l.program))
            .collect();
        util::complain(format!(
            "`{program}` left {} descendant{} running; killed: {}",
            out.leaked.len(),
            if out.leaked.len() == 1 { "" } else { "s" },
            list.join(", ")
        ));
    }
    if want_stats && let Ok(s) = group.stats() {
        out.user_cpu = s.user_cpu;
        out.system_cpu = s.system_cpu;
        out.peak_memory = s.peak_memory_bytes.or((peak_mem > 0).then_some(peak_mem));
        out.peak_processes = s.peak_process_count.or(Some(peak_procs.max(1)));
    }
    if want_stats
        && out.user_cpu.is_none()
        && let Some((user, system)) = util::waited_tree_cpu(pid)
    {
        // The mechanism keeps no whole-tree CPU account (process groups):
        // the command's own time plus that of every descendant it waited
        // for, read from its still unreaped exit.
        out.user_cpu = Some(user);
        out.system_cpu = Some(system);
    }
    out.exit = if out.error.is_some() {
        EXIT_TOOL
    } else if out.timed_out {
        EXIT_TIMEOUT
    } else if args.fail_on_leak && !out.leaked.is_empty() {
        EXIT_LEAK
    } else {
        util::status_code(out.code, out.signal)
    };
    if out.timed_out {
        util::complain(format!(
            "`{program}` timed out after {}; the tree was sent SIG{} and then killed",
            humantime::format_duration(args.timeout.unwrap_or_default()),
            util::signal_name(args.signal).unwrap_or("?")
        ));
    }
}

fn finish(args: &RunArgs, mechanism: processkit::Mechanism, out: Outcome) -> i32 {
    let ms = |d: Option<Duration>| d.map(util::millis);
    if args.report {
        let exit = util::describe_exit(out.code, out.signal, out.timed_out);
        let opt = |v: Option<String>| v.unwrap_or_else(|| "unknown".into());
        eprintln!(
            "processkit: report: {exit}; exit status {}\n\
             processkit: report: duration {:.3}s; cpu user {} system {}\n\
             processkit: report: peak memory {}; peak processes {}\n\
             processkit: report: leaked descendants killed: {}; mechanism: {}",
            out.exit,
            out.duration.as_secs_f64(),
            opt(out.user_cpu.map(|d| format!("{:.3}s", d.as_secs_f64()))),
            opt(out.system_cpu.map(|d| format!("{:.3}s", d.as_secs_f64()))),
            opt(out
                .peak_memory
                .map(|b| format!("{:.1} MiB", b as f64 / 1048576.0))),
            opt(out.peak_processes.map(|n| n.to_string())),
            out.leaked.len(),
            mechanism
        );
    }
    if let Some(path) = &args.json {
        let doc = json!({
            "schema": "processkit-run",
            "version": 1,
            "command": args.command.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
            "exit": {
                "status": out.exit,
                "code": out.code,
                "signal": out.signal,
                "timed_out": out.timed_out,
            },
            "error": out.error,
            "duration_ms": util::millis(out.duration),
            "cpu": { "user_ms": ms(out.user_cpu), "system_ms": ms(out.system_cpu) },
            "peak_memory_bytes": out.peak_memory,
            "peak_processes": out.peak_processes,
            "leaked": out.leaked.iter().map(|l| json!({"pid": l.pid, "program": l.program})).collect::<Vec<_>>(),
            "mechanism": mechanism.to_string(),
        });
        if let Err(e) = util::write_json(path, &doc) {
            util::complain(format!("cannot write {}: {e}", path.display()));
            return EXIT_TOOL;
        }
    }
    out.exit
}

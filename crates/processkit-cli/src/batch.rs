//! `processkit batch`: one command per line, at most `-j N` at once, in one
//! shared kill-on-drop container.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use processkit::{Command, ProcessGroup};
use serde_json::json;

use crate::args::BatchArgs;
use crate::util::{self, EXIT_TOOL};

/// One line of the batch file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line number, from 1.
    pub number: usize,
    /// The words of the command.
    pub argv: Vec<String>,
}

/// Splits a batch file into commands: shell-style quoting without a shell;
/// blank lines and `#` comments skipped.
pub fn parse(text: &str) -> Result<Vec<Line>, String> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let argv = shlex::split(t)
            .ok_or_else(|| format!("line {}: unbalanced quotes or a trailing backslash", i + 1))?;
        if argv.is_empty() {
            continue;
        }
        lines.push(Line {
            number: i + 1,
            argv,
        });
    }
    Ok(lines)
}

/// How one command ended.
struct Done {
    line: Line,
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    error: Option<String>,
    duration: Duration,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Done {
    fn success(&self) -> bool {
        self.error.is_none() && self.code == Some(0) && !self.timed_out
    }
    fn summary(&self) -> String {
        match &self.error {
            Some(e) => format!("could not start: {e}"),
            None => util::describe_exit(self.code, self.signal, self.timed_out),
        }
    }
}

fn read_input(file: Option<&Path>) -> Result<String, String> {
    match file {
        None => read_stdin(),
        Some(p) if p.as_os_str() == "-" => read_stdin(),
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read batch file {}: {e}", p.display())),
    }
}

fn read_stdin() -> Result<String, String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| format!("cannot read commands from stdin: {e}"))?;
    Ok(s)
}

/// The last lines of an output, at most `TAIL_LINES` lines and
/// `TAIL_BYTES` bytes.
fn tail(bytes: &[u8]) -> String {
    const TAIL_LINES: usize = 10;
    const TAIL_BYTES: usize = 4096;
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim_end_matches('\n');
    let mut start = 0;
    for (n, (i, _)) in trimmed.rmatch_indices('\n').enumerate() {
        if n + 1 == TAIL_LINES {
            start = i + 1;
            break;
        }
    }
    let mut s = &trimmed[start..];
    if s.len() > TAIL_BYTES {
        let mut cut = s.len() - TAIL_BYTES;
        while !s.is_char_boundary(cut) {
            cut += 1;
        }
        s = &s[cut..];
    }
    s.to_owned()
}

/// How many commands run at once: `-j`, or one per CPU.
pub fn jobs(args: &BatchArgs) -> usize {
    args.jobs
        .map(|j| j as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `processkit batch` and returns the tool's exit code.
pub async fn run(args: BatchArgs) -> i32 {
    let text = match read_input(args.file.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            util::complain(e);
            return EXIT_TOOL;
        }
    };
    let lines = match parse(&text) {
        Ok(l) => l,
        Err(e) => {
            let name = args
                .file
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "stdin".into());
            util::complain(format!("{name}: {e}"));
            return EXIT_TOOL;
        }
    };
    if let Some(dir) = &args.output_dir
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        util::complain(format!("cannot create --output-dir {}: {e}", dir.display()));
        return EXIT_TOOL;
    }
    let mut signals = match util::listen_signals() {
        Ok(rx) => rx,
        Err(e) => {
            util::complain(format!("cannot catch signals: {e}"));
            return EXIT_TOOL;
        }
    };
    let group = match ProcessGroup::new() {
        Ok(g) => Arc::new(g),
        Err(e) => {
            util::complain(format!("cannot create the container: {e}"));
            return EXIT_TOOL;
        }
    };
    let jobs = jobs(&args);
    let total = lines.len();
    let bar = progress_bar(&args, total);

    let mut pending = lines.into_iter();
    let mut running = tokio::task::JoinSet::new();
    let mut finished: Vec<Done> = Vec::with_capacity(total);
    let mut failed = 0usize;
    let mut interrupted: Option<i32> = None;
    let started = Instant::now();
    let mut rekill = tokio::time::interval(Duration::from_millis(20));
    rekill.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        while interrupted.is_none() && running.len() < jobs {
            let Some(line) = pending.next() else { break };
            running.spawn(run_one(group.clone(), line, args.timeout));
        }
        if let Some(bar) = &bar {
            bar.set_message(format!("failed: {failed}  running: {}", running.len()));
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            // A signal first: no new command starts once it has come.
            biased;
            Some(sig) = signals.recv(), if interrupted.is_none() => {
                interrupted = Some(sig.signal);
                // Stop the batch: every running tree dies now.
                let _ = group.kill();
            }
            // A start that was under way on another worker when the group
            // was killed gives a child the kill did not see: kill again
            // until every command has ended.
            _ = rekill.tick(), if interrupted.is_some() => {
                let _ = group.kill();
            }
            joined = running.join_next() => {
                let Some(joined) = joined else { break };
                let done = match joined {
                    Ok(d) => d,
                    Err(e) => {
                        util::complain(format!("a command's task failed: {e}"));
                        continue;
                    }
                };
                if !done.success() {
                    failed += 1;
                }
                report_one(&args, bar.as_ref(), &done, finished.len() + 1, total);
                finished.push(done);
            }
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let not_started = total - finished.len();
    if let Some(sig) = interrupted {
        util::complain(format!(
            "interrupted by signal {sig}: every running command was killed; {} not started",
            not_started
        ));
    }
    eprintln!(
        "processkit: {} command{} in {:.2}s: {} succeeded, {failed} failed",
        finished.len(),
        if finished.len() == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64(),
        finished.len() - failed,
    );
    let _ = group.kill();
    let _ = util::wait_empty(&group, Duration::from_secs(10)).await;
    let mut code = if failed > 0 { 1 } else { 0 };
    if let Some(sig) = interrupted {
        code = 128 + sig;
    }
    if let Some(path) = &args.json {
        finished.sort_by_key(|d| d.line.number);
        let doc = json!({
            "schema": "processkit-batch",
            "version": 1,
            "total": total,
            "succeeded": finished.len() - failed,
            "failed": failed,
            "not_started": not_started,
            "interrupted": interrupted.is_some(),
            "mechanism": group.mechanism().to_string(),
            "commands": finished.iter().map(|d| json!({
                "line": d.line.number,
                "command": d.line.argv,
                "success": d.success(),
                "exit": { "code": d.code, "signal": d.signal, "timed_out": d.timed_out },
                "error": d.error,
                "duration_ms": util::millis(d.duration),
                "stdout_tail": tail(&d.stdout),
                "stderr_tail": tail(&d.stderr),
            })).collect::<Vec<_>>(),
        });
        if let Err(e) = util::write_json(path, &doc) {
            util::complain(format!("cannot write {}: {e}", path.display()));
            return EXIT_TOOL;
        }
    }
    code
}

fn progress_bar(args: &BatchArgs, total: usize) -> Option<ProgressBar> {
    if args.no_progress || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} done  {msg}  ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(100));
    Some(bar)
}

async fn run_one(group: Arc<ProcessGroup>, line: Line, timeout: Option<Duration>) -> Done {
    let mut cmd = Command::new(&line.argv[0]).args(&line.argv[1..]);
    if let Some(t) = timeout {
        cmd = cmd.timeout(t);
    }
    let started = Instant::now();
    let result = match group.start(&cmd).await {
        Ok(run) => run.output_bytes().await,
        Err(e) => Err(e),
    };
    let mut done = Done {
        line,
        code: None,
        signal: None,
        timed_out: false,
        error: None,
        duration: started.elapsed(),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    match result {
        Ok(r) => {
            done.code = r.code();
            done.signal = r.signal();
            done.timed_out = r.timed_out();
            let (o, e) = r.into_output();
            done.stdout = o;
            done.stderr = e;
        }
        Err(e) => done.error = Some(e.to_string()),
    }
    done
}

/// Prints one finished command: its output as one block (or into the
/// output directory) and a status line.
fn report_one(args: &BatchArgs, bar: Option<&ProgressBar>, done: &Done, n: usize, total: usize) {
    let shown = shlex::try_join(done.line.argv.iter().map(String::as_str))
        .unwrap_or_else(|_| done.line.argv.join(" "));
    let mut problems = Vec::new();
    if let Some(dir) = &args.output_dir {
        for (ext, bytes) in [("out", &done.stdout), ("err", &done.stderr)] {
            let path = dir.join(format!("{}.{ext}", done.line.number));
            if let Err(e) = std::fs::write(&path, bytes) {
                problems.push(format!("cannot write {}: {e}", path.display()));
            }
        }
    } else {
        let write = || {
            // One write per stream, under the stream's lock: blocks of
            // different commands never interleave.
            if !done.stdout.is_empty() {
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(&done.stdout).and_then(|_| o.flush());
            }
            if !done.stderr.is_empty() {
                let mut e = std::io::stderr().lock();
                let _ = e.write_all(&done.stderr).and_then(|_| e.flush());
            }
        };
        match bar {
            Some(b) => b.suspend(write),
            None => write(),
        }
    }
    let status = if done.success() {
        format!(
            "[{n}/{total}] ok ({:.2}s): {shown}",
            done.duration.as_secs_f64()
        )
    } else {
        format!(
            "[{n}/{total}] FAILED, line {}: {} ({:.2}s): {shown}",
            done.line.number,
            done.summary(),
            done.duration.as_secs_f64()
        )
    };
    match bar {
        Some(b) => {
            if !done.success() {
                b.println(format!("processkit: {status}"));
            }
            b.inc(1);
        }
        None => eprintln!("processkit: {status}"),
    }
    for p in problems {
        util::complain(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoting_comments_and_blanks() {
        let text = "# a comment\n\necho 'a b' \"c d\" e\\ f\n   \n  true  # not a comment\n";
        let lines = parse(text).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].number, 3);
        assert_eq!(lines[0].argv, ["echo", "a b", "c d", "e f"]);
        assert_eq!(lines[1].number, 5);
        assert_eq!(lines[1].argv[0], "true");
        assert!(parse("echo 'open\n").unwrap_err().contains("line 1"));
    }

    #[test]
    fn tails_are_bounded() {
        let many: String = (0..100).map(|i| format!("{i}\n")).collect();
        assert_eq!(tail(many.as_bytes()).lines().count(), 10);
        assert!(tail(many.as_bytes()).ends_with("99"));
        assert!(tail(&vec![b'x'; 10000]).len() <= 4096);
    }
}

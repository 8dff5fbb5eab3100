//! Booting a qemu guest with a time limit, keeping and echoing its serial
//! console, and judging the markers and libtest result lines on it.

use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Guest console markers (written by `/init`, read back here).
pub(crate) const BEGIN: &str = "@@vm-test:begin:";
pub(crate) const END: &str = "@@vm-test:end:";
pub(crate) const DONE: &str = "@@vm-test:done@@";
/// The prefix of `/init`'s own lines; the console is echoed from the first one on.
pub(crate) const GUEST: &str = "vm-guest:";

/// The lines of an `/init` script that mount the kernel filesystems every
/// guest needs after `/proc` (`/sys`, `/dev` with `pts` and `shm`, `/tmp`).
pub(crate) const MOUNT_SYSTEM: &str = "\
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
";

/// The lines of an `/init` script that run `command` (stdin closed) in a
/// console section named `name`, whose end marker carries its exit status.
pub(crate) fn section(name: &str, command: &str) -> String {
    format!("echo '{BEGIN}{name}@@'\n{command} </dev/null\necho \"{END}{name}:$?@@\"\n")
}

/// The last lines of an `/init` script: the done marker, then power-off.
pub(crate) fn finish() -> String {
    format!("echo '{DONE}'\npoweroff -f\n")
}

pub(crate) struct GuestRun {
    /// The console, line by line (without `\r`).
    pub(crate) lines: Vec<String>,
    pub(crate) timed_out: bool,
    /// Whether `/init` started (from then on every line was echoed, so no tail is needed).
    pub(crate) echoed_all: bool,
}

impl GuestRun {
    /// `problems` (a verdict's), led by the time-out if qemu was killed.
    /// When there is a problem and the console was not all echoed, its last
    /// lines are shown first: they tell how the guest died.
    pub(crate) fn problems(
        &self,
        lane: &str,
        mut problems: Vec<String>,
        timeout: Duration,
    ) -> Vec<String> {
        if !problems.is_empty() && !self.echoed_all {
            eprintln!("{lane}: last console lines:");
            let tail = self.lines.len().saturating_sub(40);
            for line in &self.lines[tail..] {
                eprintln!("  | {line}");
            }
        }
        if self.timed_out {
            problems.insert(0, format!("qemu killed after {timeout:?} (guest hung?)"));
        }
        problems
    }
}

/// Which console lines [`boot`] echoes to the host's stdout.
#[derive(Clone, Copy)]
pub(crate) enum Echo {
    /// Every line.
    All,
    /// From the first line that holds [`GUEST`] to the one that holds
    /// [`DONE`] (the firmware's and the kernel's chatter stays in the log).
    FromInit,
}

/// qemu for `binary` with software emulation (nested KVM was seen to hang),
/// 2 vCPUs, `memory`, no network and the serial console on stdout, booting
/// `kernel` and `initrd` with `cmdline`; `machine` (such as `-M virt`) comes first.
pub(crate) fn qemu(
    binary: &str,
    machine: &[&str],
    memory: &str,
    kernel: &Path,
    initrd: &Path,
    cmdline: &str,
) -> Command {
    let mut cmd = Command::new(binary);
    cmd.args(machine)
        .args([
            "-accel",
            "tcg",
            "-m",
            memory,
            "-smp",
            "2",
            "-nic",
            "none",
            "-nographic",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", cmdline]);
    cmd
}

/// Runs the guest (`cmd`: qemu with a serial console on stdout) until it
/// powers off or `timeout` passes (then qemu is killed and `lane` says so),
/// keeping the console in `console_log` and echoing the lines `echo` names.
pub(crate) fn boot(
    lane: &str,
    mut cmd: Command,
    console_log: &Path,
    timeout: Duration,
    echo: Echo,
) -> Result<GuestRun, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    eprintln!("+ {cmd:?} (time limit {timeout:?})");
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not start qemu: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let log = fs::File::create(console_log)
        .map_err(|e| format!("create {}: {e}", console_log.display()))?;

    let reader = thread::spawn(move || -> (Vec<String>, bool) {
        let mut log = BufWriter::new(log);
        let mut lines = Vec::new();
        let mut echoing = matches!(echo, Echo::All);
        let mut echoed_from_init = matches!(echo, Echo::All);
        let mut reader = BufReader::new(stdout);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let _ = log.write_all(&buffer);
            let _ = log.flush();
            let text = String::from_utf8_lossy(&buffer);
            let line = strip_escapes(text.trim_end_matches(['\n', '\r']));
            let mut shown = line.as_str();
            let from_init = matches!(echo, Echo::FromInit);
            if let Some(at) = line.find(GUEST).filter(|_| from_init && !echoing) {
                // The firmware's last words share the line with /init's first.
                shown = &line[at..];
                echoing = true;
                echoed_from_init = true;
            }
            if echoing {
                println!("{shown}");
            }
            if from_init && line.contains(DONE) {
                echoing = false;
            }
            lines.push(line);
        }
        (lines, echoed_from_init)
    });

    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() >= deadline => {
                eprintln!("{lane}: the guest ran out of time ({timeout:?}); killing qemu");
                let _ = child.kill();
                let _ = child.wait();
                timed_out = true;
                break;
            }
            Ok(None) => thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for qemu: {e}")),
        }
    }
    let (lines, echoed_from_init) = reader.join().map_err(|_| "console reader panicked")?;
    // Echoing stops only at the completion marker, so everything from /init on
    // (or everything, with `Echo::All`) was shown.
    let echoed_all = echoed_from_init;
    Ok(GuestRun {
        lines,
        timed_out,
        echoed_all,
    })
}

/// Drops carriage returns and terminal escape sequences (the firmware resets
/// the terminal and turns off line wrapping, which must not reach the host's).
pub(crate) fn strip_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.next_if_eq(&'[').is_some() {
                    // CSI: parameters and intermediates, then one final byte in @..~.
                    while chars.next().is_some_and(|c| !('@'..='~').contains(&c)) {}
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug, Default, PartialEq)]
pub(crate) struct Verdict {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
    pub(crate) problems: Vec<String>,
}

/// Adds up libtest's `test result:` lines per binary and checks every marker is there.
pub(crate) fn judge(lines: &[String], binaries: &[&str]) -> Verdict {
    let mut verdict = Verdict::default();
    let mut current: Option<(String, bool)> = None; // (binary, saw a result line)
    let mut finished = Vec::new();
    for line in lines {
        if let Some(name) = marker(line, BEGIN) {
            current = Some((name.to_string(), false));
        } else if let Some(rest) = marker(line, END) {
            let (name, code) = rest.rsplit_once(':').unwrap_or((rest, ""));
            let saw_result = current.take().is_some_and(|(n, saw)| n == name && saw);
            match code.parse::<i32>() {
                Ok(0) => {}
                Ok(code) => {
                    verdict.problems.push(format!("{name} exited with {code}"));
                    if !saw_result {
                        verdict.failed += 1; // it crashed before libtest could count
                    }
                }
                Err(_) => verdict
                    .problems
                    .push(format!("{name}: unreadable exit marker {line:?}")),
            }
            finished.push(name.to_string());
        } else if let Some((passed, failed)) = test_result(line) {
            verdict.passed += passed;
            verdict.failed += failed;
            if let Some((_, saw)) = current.as_mut() {
                *saw = true;
            }
        }
    }
    for name in binaries {
        if !finished.iter().any(|f| f == name) {
            verdict.failed += 1;
            verdict
                .problems
                .push(format!("{name} did not finish in the guest"));
        }
    }
    if !lines.iter().any(|l| l.contains(DONE)) {
        verdict
            .problems
            .push("no completion marker on the guest console (crash, panic or hang)".into());
    }
    if verdict.failed > 0 {
        verdict
            .problems
            .push(format!("{} test(s) failed", verdict.failed));
    }
    if verdict.passed + verdict.failed == 0 {
        verdict.problems.push("no test was executed".into());
    }
    verdict
}

/// The text between `prefix` and the closing `@@` of a marker line.
pub(crate) fn marker<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = &line[line.find(prefix)? + prefix.len()..];
    rest.find("@@").map(|end| &rest[..end])
}

/// `(passed, failed)` from `test result: ok. 3 passed; 0 failed; 1 ignored; ...`.
pub(crate) fn test_result(line: &str) -> Option<(u64, u64)> {
    let rest = &line[line.find("test result:")? + "test result:".len()..];
    let (mut passed, mut failed) = (None, None);
    let words: Vec<&str> = rest
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .collect();
    for pair in words.windows(2) {
        match pair[1] {
            "passed" => passed = pair[0].parse().ok(),
            "failed" => failed = pair[0].parse().ok(),
            _ => {}
        }
    }
    Some((passed?, failed?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn sums_results_and_checks_markers() {
        let console = lines(
            "[    1.0] booting\n\
             vm-guest: kernel 6.1\n\
             @@vm-test:begin:a@@\n\
             test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
             @@vm-test:end:a:0@@\n\
             @@vm-test:begin:b@@\n\
             test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n\
             @@vm-test:end:b:101@@\n\
             @@vm-test:done@@",
        );
        let verdict = judge(&console, &["a", "b"]);
        assert_eq!((verdict.passed, verdict.failed), (3, 1));
        assert_eq!(verdict.problems.len(), 2, "{:?}", verdict.problems);

        let ok = judge(
            &console[..5]
                .iter()
                .cloned()
                .chain(lines("@@vm-test:done@@"))
                .collect::<Vec<_>>(),
            &["a"],
        );
        assert_eq!(
            ok,
            Verdict {
                passed: 2,
                failed: 0,
                problems: vec![]
            }
        );
    }

    #[test]
    fn a_crash_or_an_empty_run_fails() {
        let crashed = judge(
            &lines("@@vm-test:begin:a@@\nKernel panic - not syncing"),
            &["a"],
        );
        assert_eq!(crashed.failed, 1);
        assert!(
            crashed
                .problems
                .iter()
                .any(|p| p.contains("completion marker"))
        );

        let aborted = judge(
            &lines("@@vm-test:begin:a@@\n@@vm-test:end:a:134@@\n@@vm-test:done@@"),
            &["a"],
        );
        assert_eq!((aborted.passed, aborted.failed), (0, 1));

        let empty = judge(
            &lines(
                "@@vm-test:begin:a@@\ntest result: ok. 0 passed; 0 failed; 0 ignored\n@@vm-test:end:a:0@@\n@@vm-test:done@@",
            ),
            &["a"],
        );
        assert_eq!(empty.problems, ["no test was executed"]);
    }

    #[test]
    fn strips_terminal_escapes() {
        assert_eq!(
            strip_escapes("\x1bc\x1b[?7l\x1b[2Jvm-guest: x\r"),
            "vm-guest: x"
        );
        assert_eq!(strip_escapes("plain"), "plain");
    }
}

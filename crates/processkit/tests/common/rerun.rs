//! Re-running this test binary as a *host*: a fresh process that plays a
//! role (named in an environment variable) in one ignored test, reports
//! tagged lines on stdout and reads commands from stdin.
//!
//! Shared by the suites that need a process of their own to kill, starve
//! or run as another user (`faults`, `guardian`, `systemd_scope`). Each
//! suite describes its hosts once, in a [`Roles`], and uses it on both
//! sides: the test side starts a [`Host`], the host side [`Roles::serve`]s
//! its role and [`Roles::report`]s.

#![allow(dead_code)]

use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// How a suite's host is found and talks.
pub struct Roles {
    /// The environment variable that names the role.
    pub role_var: &'static str,
    /// The environment variable that names the host's scratch directory.
    pub dir_var: &'static str,
    /// The prefix of every line the host reports on stdout.
    pub tag: &'static str,
    /// The ignored test that plays the role in the re-run binary.
    pub host_test: &'static str,
    /// How long a host may take to report (and to exit once told to).
    pub report: Duration,
    /// The prefix of the host's scratch directory's name.
    pub scratch_prefix: &'static str,
}

impl Roles {
    /// A fresh scratch directory for one host.
    pub fn scratch(&self) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(self.scratch_prefix)
            .tempdir()
            .expect("scratch dir")
    }

    /// Starts `cmd` (this binary, or a wrapper whose last argument is a copy
    /// of it) as a host in `role`, with `dir` as its scratch directory and
    /// `env` set last; the host runs with a guardian unless `env` says not.
    pub fn start(
        &self,
        mut cmd: Command,
        role: &str,
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
    ) -> Host {
        cmd.args([
            "--ignored",
            "--exact",
            self.host_test,
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(self.role_var, role)
        .env(self.dir_var, dir.path())
        .env_remove("PROCESSKIT_NO_GUARDIAN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start the host");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        let tag = self.tag;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix(tag)
                    && tx.send(rest.trim().to_owned()).is_err()
                {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Host {
            child,
            stdin,
            lines,
            report: self.report,
            dir: dir.path().to_owned(),
            _dir: dir,
        }
    }

    /// The host side: plays the role named in [`Roles::role_var`] by running
    /// `main(role, scratch dir)` on a two-worker runtime; does nothing when
    /// no role is set (the ignored test run on its own).
    pub fn serve<F: Future<Output = ()>>(&self, main: impl FnOnce(String, PathBuf) -> F) {
        let Ok(role) = std::env::var(self.role_var) else {
            return;
        };
        let dir = PathBuf::from(std::env::var(self.dir_var).expect("scratch dir"));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(main(role, dir));
    }

    /// The host side: reports `key value` to the test.
    pub fn report(&self, key: &str, value: impl std::fmt::Display) {
        println!("{} {key} {value}", self.tag);
    }
}

/// The host side: the next command line the test sent (empty at EOF).
pub fn read_command() -> String {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    line.trim().to_owned()
}

/// A [`processkit::Guarantee`] in a report: the variant, and the reason of
/// a `DropOnly`.
pub fn short(g: &processkit::Guarantee) -> String {
    match g {
        processkit::Guarantee::DropOnly { reason } => format!("DropOnly {reason}"),
        other => format!("{other:?}"),
    }
}

/// A running host and the lines it reports. Dropping it kills a host that
/// is still running.
pub struct Host {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    report: Duration,
    /// The host's scratch directory (removed with the `Host`).
    pub dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Host {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next report that starts with `key`, without the key.
    pub fn expect(&self, key: &str) -> String {
        let deadline = Instant::now() + self.report;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(key) {
                        return rest.trim().to_owned();
                    }
                }
                Err(e) => panic!("host {} did not report {key:?} ({e:?})", self.pid()),
            }
        }
    }

    /// Sends the host one command line.
    pub fn tell(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("host stdin");
        writeln!(stdin, "{line}").expect("write to the host");
        stdin.flush().expect("flush");
    }

    /// Closes the host's stdin and waits for it to exit, within the
    /// report bound.
    pub fn finish(&mut self) -> ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + self.report;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the host") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "host {} did not exit within {:?}",
                self.pid(),
                self.report
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the host if it still runs, and reaps it.
    pub fn kill(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}

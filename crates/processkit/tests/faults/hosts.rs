//! Starting a host (this binary re-executed in a role) and talking to it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Instant;

use super::*;

pub(super) struct Host {
    pub(super) child: Child,
    pub(super) stdin: Option<ChildStdin>,
    pub(super) lines: Receiver<String>,
    pub(super) dir: PathBuf,
    pub(super) _dir: tempfile::TempDir,
    /// A cgroup delegated to the host's user, removed after the host.
    pub(super) delegated: Option<PathBuf>,
}

/// A new cgroup below this process's own, owned by the unprivileged user
/// (its directory, `cgroup.procs`, `cgroup.threads` and
/// `cgroup.subtree_control`), or `None` where none can be made (no cgroup2,
/// a read-only cgroupfs, not root).
pub(super) fn delegate_cgroup() -> Option<PathBuf> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next() == Some("cgroup2"))
            .then(|| pre.split_whitespace().nth(4).map(PathBuf::from))?
    })?;
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::"))?.to_owned();
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = mount
        .join(own.trim_start_matches('/'))
        .join(format!("pk-faults-user-{}-{n}", std::process::id()));
    std::fs::create_dir(&dir).ok()?;
    let owned = [
        "",
        "cgroup.procs",
        "cgroup.threads",
        "cgroup.subtree_control",
    ]
    .iter()
    .all(|f| std::os::unix::fs::chown(dir.join(f), Some(65534), Some(65534)).is_ok());
    if !owned {
        remove_cgroup_tree(&dir);
        return None;
    }
    Some(dir)
}

/// Removes a cgroup directory and everything below it (deepest first),
/// once the processes in it are gone.
pub(super) fn remove_cgroup_tree(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&e.path());
        }
    }
    wait_until(BOUND, || std::fs::remove_dir(dir).is_ok() || !dir.exists());
}

pub(super) fn start_host(role: &str, env: &[(&str, &str)]) -> Host {
    let dir = tempfile::Builder::new()
        .prefix("pk-faults-")
        .tempdir()
        .expect("scratch dir");
    let exe = std::env::current_exe().expect("test binary");
    let as_user = env.iter().any(|(k, _)| *k == "PROCESSKIT_FAULTS_AS_USER");
    let mut delegated = None;
    let mut cmd = if as_user {
        // The scratch directory must be the user's, and so must be a copy
        // of this binary (the build directory may be closed to others).
        // `cp` writes it: a file this process had open for writing could be
        // inherited by a child another test forks, and `execve` of it would
        // fail with ETXTBSY.
        let copy = dir.path().join("host");
        let copied = std::process::Command::new("cp")
            .arg(&exe)
            .arg(&copy)
            .status()
            .expect("cp");
        assert!(copied.success(), "copying the test binary failed");
        std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).expect("chown");
        // Where this host may create cgroups, the user gets a delegated one
        // to start in, so the host runs on cgroup v2 like a root host would.
        delegated = delegate_cgroup();
        let mut c = std::process::Command::new("sh");
        c.args([
            "-c",
            "[ -z \"$CG\" ] || echo $$ >\"$CG/cgroup.procs\" || exit 97\n\
             exec setpriv --reuid=65534 --regid=65534 --clear-groups \"$@\"",
            "sh",
        ])
        .arg(copy)
        .env(
            "CG",
            delegated
                .as_deref()
                .map(Path::as_os_str)
                .unwrap_or_default(),
        )
        .current_dir(dir.path());
        c
    } else {
        std::process::Command::new(exe)
    };
    cmd.args([
        "--ignored",
        "--exact",
        "fault_host",
        "--nocapture",
        "--test-threads=1",
        "--quiet",
    ])
    .env(ROLE, role)
    .env(DIR, dir.path())
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
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix(TAG)
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
        dir: dir.path().to_owned(),
        _dir: dir,
        delegated,
    }
}

impl Host {
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next report that starts with `key`, without the key.
    pub(super) fn expect(&self, key: &str) -> String {
        let deadline = Instant::now() + REPORT;
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

    pub(super) fn pids(&self, key: &str) -> Vec<Pid> {
        self.expect(key)
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .filter_map(Pid::of)
            .collect()
    }

    pub(super) fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("host stdin");
        writeln!(stdin, "{line}").expect("write to host");
        stdin.flush().expect("flush");
    }

    pub(super) fn sigkill(&mut self) {
        signal(self.pid(), "-KILL");
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(cg) = &self.delegated {
            remove_cgroup_tree(cg);
        }
    }
}

/// [`start_host`], as an unprivileged user when this process is root.
pub(super) fn start_host_as_user(role: &str, env: &[(&str, &str)]) -> Host {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return start_host(role, env);
    }
    let mut wrapped = vec![("PROCESSKIT_FAULTS_AS_USER", "1")];
    wrapped.extend_from_slice(env);
    start_host(role, &wrapped)
}

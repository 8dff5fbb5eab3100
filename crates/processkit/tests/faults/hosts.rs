//! Starting a host (this binary re-executed in a role) and talking to it.

use std::path::{Path, PathBuf};

use super::*;

/// A host, and the cgroup delegated to its user (removed after the host).
pub(super) struct Host {
    host: rerun::Host,
    delegated: Option<PathBuf>,
}

impl std::ops::Deref for Host {
    type Target = rerun::Host;
    fn deref(&self) -> &rerun::Host {
        &self.host
    }
}

impl std::ops::DerefMut for Host {
    fn deref_mut(&mut self) -> &mut rerun::Host {
        &mut self.host
    }
}

/// A new cgroup below this process's own, owned by the unprivileged user
/// (its directory, `cgroup.procs`, `cgroup.threads` and
/// `cgroup.subtree_control`), or `None` where none can be made (no cgroup2,
/// a read-only cgroupfs, not root).
pub(super) fn delegate_cgroup() -> Option<PathBuf> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        super::common::own_cgroup()?.join(format!("pk-faults-user-{}-{n}", std::process::id()));
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
    let dir = ROLES.scratch();
    let exe = std::env::current_exe().expect("test binary");
    let as_user = env.iter().any(|(k, _)| *k == "PROCESSKIT_FAULTS_AS_USER");
    let mut delegated = None;
    let cmd = if as_user {
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
    Host {
        host: ROLES.start(cmd, role, dir, env),
        delegated,
    }
}

impl Host {
    pub(super) fn pids(&self, key: &str) -> Vec<Pid> {
        self.expect(key)
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .filter_map(Pid::of)
            .collect()
    }

    pub(super) fn sigkill(&mut self) {
        signal(self.pid(), "-KILL");
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.host.kill();
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

//! The host side: what a re-executed copy of this binary does in its role.

use processkit::{Command, Mechanism, ProcessGroup};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;

use super::rerun::{read_command, short};

fn report(key: &str, value: impl std::fmt::Display) {
    ROLES.report(key, value);
}

/// Fills the fd table: lowers the soft `RLIMIT_NOFILE` to just above the
/// highest open fd and opens `/dev/null` until `EMFILE`. Dropping the
/// result closes those fds and restores the limit.
struct FdSpell {
    filler: Vec<std::fs::File>,
    old: libc::rlimit,
}

impl FdSpell {
    fn begin() -> FdSpell {
        let highest = std::fs::read_dir("/proc/self/fd")
            .expect("fd dir")
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()))
            .max()
            .unwrap_or(2);
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with valid pointers to rlimit structs.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
            let low = libc::rlimit {
                rlim_cur: highest + 4,
                rlim_max: old.rlim_max,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &low), 0);
        }
        let mut filler = Vec::new();
        loop {
            match std::fs::File::open("/dev/null") {
                Ok(f) => filler.push(f),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                    break;
                }
            }
        }
        FdSpell { filler, old }
    }
}

impl Drop for FdSpell {
    fn drop(&mut self) {
        self.filler.clear();
        // SAFETY: setrlimit with a valid pointer to an rlimit struct.
        unsafe {
            libc::setrlimit(libc::RLIMIT_NOFILE, &self.old);
        }
    }
}

/// A tree that tries to escape: a backgrounded child, a double fork, and
/// (where the mechanism contains new sessions) a `setsid` child. The shell
/// writes every pid (its own too) into `file`.
fn tree_command(file: &Path) -> Command {
    let setsid = if Mechanism::current().contains_setsid() {
        "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! >>\"$F\"\n"
    } else {
        ""
    };
    let script = format!(
        "echo $$ >>\"$F\"\n\
         sleep 300 </dev/null >/dev/null 2>&1 & echo $! >>\"$F\"\n\
         (sleep 300 </dev/null >/dev/null 2>&1 & echo $! >>\"$F\") \n\
         {setsid}echo end >>\"$F\"\n\
         exec sleep 300"
    );
    Command::new("sh")
        .args(["-c", &script])
        .env("F", file.as_os_str())
}

/// Starts `tree_command` in `group` and waits for its pids.
async fn start_tree(
    group: &ProcessGroup,
    dir: &Path,
    name: &str,
) -> (processkit::RunningProcess, Vec<u32>) {
    let file = dir.join(name);
    let handle = group
        .start(&tree_command(&file))
        .await
        .expect("start the tree");
    let deadline = Instant::now() + REPORT;
    let pids: Vec<u32> = loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if text.lines().any(|l| l == "end") {
            break text.lines().filter_map(|l| l.parse().ok()).collect();
        }
        assert!(Instant::now() < deadline, "the tree did not report");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    (handle, pids)
}

fn join(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// This host's cgroup root, if it uses cgroup v2.
fn host_root() -> Option<PathBuf> {
    let parent = super::common::own_cgroup()?;
    let prefix = format!("processkit-{}-", std::process::id());
    std::fs::read_dir(&parent)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
}

pub(super) async fn host_main(role: &str, dir: &Path) {
    match role {
        "emfile" => {
            {
                let _spell = FdSpell::begin();
                for _ in 0..8 {
                    let r = Command::new("true").run().await;
                    assert!(r.is_err(), "a run succeeded without a free fd");
                }
                let p = processkit::preflight();
                let g = processkit::guarantee();
                // Reported after the spell: stdout itself needs no new fd,
                // but keep the spell free of anything but the library.
                let during = format!("{p}");
                let g = short(&g);
                drop(_spell);
                report("during", during);
                report("guarantee-during", g);
            }
            let group = ProcessGroup::new().expect("group");
            let (handle, mut pids) = start_tree(&group, dir, "a").await;
            let one_shot = Command::new("sh")
                .args([
                    "-c",
                    "sleep 300 </dev/null >/dev/null 2>&1 & echo $!; exec sleep 300",
                ])
                .start()
                .await
                .expect("one-shot start");
            pids.push(one_shot.pid().expect("pid"));
            report("after", processkit::preflight());
            report("tree", join(&pids));
            let _ = read_command();
            drop((handle, one_shot, group));
        }
        "stopped" => {
            let group = ProcessGroup::new().expect("group");
            let (first, pids) = start_tree(&group, dir, "a").await;
            report("tree", join(&pids));
            let mut g = Vec::new();
            wait_until(REPORT, || {
                g = guardians_of(std::process::id());
                !g.is_empty()
            });
            report(
                "guardian",
                join(&g.iter().map(|p| p.pid).collect::<Vec<_>>()),
            );
            let cmd = read_command();
            let starts: usize = cmd
                .strip_prefix("next ")
                .and_then(|n| n.parse().ok())
                .expect("next <starts>");
            let mut slowest = Duration::ZERO;
            for _ in 0..starts {
                let t = Instant::now();
                let mut h = group
                    .start(&Command::new("true"))
                    .await
                    .expect("start after the stop");
                slowest = slowest.max(t.elapsed());
                let _ = h.wait().await;
            }
            let (second, more) = start_tree(&group, dir, "b").await;
            eprintln!("slowest start after the guardian stopped: {slowest:?}");
            // The replacement's argv shows once its `execve` has finished.
            wait_until(REPORT, || {
                guardians_of(std::process::id())
                    .iter()
                    .any(|p| !p.stopped())
            });
            report("after", short(&processkit::guarantee()));
            report("tree", join(&more));
            let _ = read_command();
            drop((first, second, group));
        }
        "nproc" => {
            let limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: libc::RLIM_INFINITY,
            };
            // SAFETY: setrlimit with a valid pointer to an rlimit struct.
            let mut old = limit;
            unsafe {
                assert_eq!(libc::getrlimit(libc::RLIMIT_NPROC, &mut old), 0);
                let low = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: old.rlim_max,
                };
                assert_eq!(libc::setrlimit(libc::RLIMIT_NPROC, &low), 0);
            }
            let err = Command::new("true").run().await.unwrap_err();
            // SAFETY: as above.
            unsafe {
                libc::setrlimit(libc::RLIMIT_NPROC, &old);
            }
            let variant = format!("{err:?}");
            let variant = variant
                .split([' ', '{', '('])
                .next()
                .unwrap_or("")
                .to_owned();
            report("variant", variant);
            report("error", err);
        }
        "no-threads" => {
            let child = Command::new("sh")
                .args([
                    "-c",
                    "sleep 300 </dev/null >/dev/null 2>&1 & exec sleep 300",
                ])
                .start()
                .await
                .expect("start");
            let pid = child.pid().expect("pid");
            let reaper_runs = std::fs::read_dir("/proc/self/task")
                .expect("tasks")
                .flatten()
                .any(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.starts_with("processkit-reap"))
                });
            assert!(!reaper_runs, "the reaper thread runs already");
            let mut old = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit/setrlimit with valid pointers to rlimit structs.
            unsafe {
                assert_eq!(libc::getrlimit(libc::RLIMIT_NPROC, &mut old), 0);
                let low = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: old.rlim_max,
                };
                assert_eq!(libc::setrlimit(libc::RLIMIT_NPROC, &low), 0);
            }
            assert!(
                std::thread::Builder::new().spawn(|| {}).is_err(),
                "a thread could still be started"
            );
            eprintln!("no-threads host on {}", Mechanism::current());
            report("child", pid);
            let go = dir.join("go");
            let deadline = Instant::now() + REPORT;
            while !go.exists() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            drop(child);
            report("dropped", "");
            // The runtime keeps turning while the test looks.
            let done = dir.join("done");
            let deadline = Instant::now() + REPORT;
            while !done.exists() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // SAFETY: setrlimit with a valid pointer to an rlimit struct.
            unsafe {
                libc::setrlimit(libc::RLIMIT_NPROC, &old);
            }
        }
        "teardown-emfile" => {
            let group = ProcessGroup::new().expect("group");
            let mut handles = Vec::new();
            let mut pids = Vec::new();
            for _ in 0..3 {
                let h = group
                    .start(&Command::new("sleep").arg("0.5"))
                    .await
                    .expect("start");
                pids.push(h.pid().expect("pid"));
                handles.push(h);
            }
            // The reaper thread exists before the spell (a thread needs no fd).
            Command::new("true").run().await.expect("a run");
            report("children", join(&pids));
            let root = host_root();
            report(
                "root",
                root.as_ref()
                    .map_or("none".to_owned(), |r| r.display().to_string()),
            );
            {
                // Everything is dropped without a free fd; the children end
                // on their own meanwhile, and every look at `cgroup.events`
                // (to see the leaves empty) fails with EMFILE for a while.
                let _spell = FdSpell::begin();
                drop(handles);
                drop(group);
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            report("lifted", "");
            let _ = read_command();
        }
        other => panic!("unknown role {other:?}"),
    }
}

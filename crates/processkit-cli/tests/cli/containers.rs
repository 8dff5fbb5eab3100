//! `ps` and `sweep`: live containers on every mechanism, and the leftovers of dead owners.

use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

fn ps_json() -> serde_json::Value {
    let out = pk().args(["ps", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Starts `processkit run` on `mechanism` with a `sleep` that writes its
/// pid first; returns the tool and the sleeper's pid.
fn start_sleeper(mechanism: &str, secs: u32, dir: &Path) -> (std::process::Child, u32) {
    let pidfile = dir.join(format!("{mechanism}-{secs}"));
    let tool = std::process::Command::new(tool_path())
        .env("PROCESSKIT_MECHANISM", mechanism)
        .args(["run", "--", "sh", "-c"])
        .arg(format!(
            "echo $$ > {}; exec sleep {secs}",
            pidfile.display()
        ))
        .spawn()
        .unwrap();
    let sleeper = read_pid(&pidfile);
    // `exec` has replaced the shell once the name says so.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{sleeper}/comm")).unwrap_or_default() != "sleep\n"
    {
        assert!(Instant::now() < deadline, "the sleeper never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    (tool, sleeper)
}

/// The container `ps --json` lists for `owner` with `member` in it.
fn listed(owner: u32, member: u32) -> Option<serde_json::Value> {
    ps_json()["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["owner_pid"] == owner
                && c["members"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m["pid"] == member))
        })
        .cloned()
}

#[test]
fn ps_lists_live_containers_on_every_mechanism() {
    let dir = tempfile::tempdir().unwrap();
    for (mechanism, secs) in [("best", 309), ("subreaper", 319), ("process-group", 329)] {
        let (mut tool, sleeper) = start_sleeper(mechanism, secs, dir.path());
        let owner = tool.id();
        if mechanism == "process-group" {
            // Documented: a process group leaves nothing to list.
            assert!(listed(owner, sleeper).is_none(), "{:#}", ps_json());
        } else {
            let deadline = Instant::now() + Duration::from_secs(10);
            let c = loop {
                if let Some(c) = listed(owner, sleeper) {
                    break c;
                }
                assert!(
                    Instant::now() < deadline,
                    "{mechanism}: the running container is not listed: {:#}",
                    ps_json()
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            assert_eq!(c["owner"], "alive", "{c:#}");
            assert!(!c["mechanism"].as_str().unwrap().is_empty(), "{c:#}");
            if mechanism == "subreaper" {
                assert_eq!(c["mechanism"], "child subreaper", "{c:#}");
                assert!(c["path"].as_str().unwrap().starts_with("/proc/"), "{c:#}");
            }
            assert!(c["memory_bytes"].is_null() || c["memory_bytes"].as_u64().unwrap() > 0);
            let text = pk().arg("ps").output().unwrap();
            let text = String::from_utf8(text.stdout).unwrap();
            let path = c["path"].as_str().unwrap();
            assert!(
                text.contains(path) && text.contains(&format!("sleep {secs}")),
                "{text}"
            );
        }
        // Killing the tool outright: its guardian or helper takes the tree
        // down.
        tool.kill().unwrap();
        tool.wait().unwrap();
        assert_gone(sleeper);
    }
}

/// The sweep tests each kill an owner and sweep the whole host: one at a
/// time, so neither removes the other's planted leftover.
static SWEEPING: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn sweep_removes_a_stopped_helper_of_a_dead_owner() {
    let _one = SWEEPING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (mut tool, sleeper) = start_sleeper("subreaper", 311, dir.path());
    let owner = tool.id();
    let c = listed(owner, sleeper).expect("the subreaper container is listed");
    let path = c["path"].as_str().unwrap().to_owned();
    let helper: u32 = path.strip_prefix("/proc/").unwrap().parse().unwrap();
    // A stopped helper cannot notice its owner's death: the sweep's case.
    let stop = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &helper.to_string()])
            .status()
            .unwrap()
    };
    assert!(stop("-STOP").success());
    tool.kill().unwrap();
    tool.wait().unwrap();
    let dead = listed(owner, sleeper).expect("the stopped helper is still listed");
    assert_eq!(dead["owner"], "dead", "{dead:#}");
    assert!(alive(sleeper));

    let dry = pk().args(["sweep", "--dry-run"]).output().unwrap();
    let dry = String::from_utf8(dry.stdout).unwrap();
    assert!(dry.contains(&format!("would remove {path}")), "{dry}");
    assert!(alive(sleeper));

    let out = pk().arg("sweep").output().unwrap();
    let said = String::from_utf8(out.stdout.clone()).unwrap();
    if !said.contains(&format!("removed {path}")) {
        let _ = stop("-KILL");
        panic!("{said}{}", stderr_of(&out));
    }
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(said.contains(&format!("{sleeper} (sleep)")), "{said}");
    assert_gone(sleeper);
    assert_gone(helper);
}

/// Needs a writable cgroup2 tree (root on a bare host): the nonroot and
/// read-only cgroupfs lanes skip it by name.
#[test]
fn sweep_removes_a_dead_owners_cgroup_container() {
    let _one = SWEEPING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // A live owner's container, which the sweep must leave alone.
    let (mut live, sleeper) = start_sleeper("best", 308, dir.path());
    let live_path = listed(live.id(), sleeper).and_then(|c| c["path"].as_str().map(str::to_owned));

    // A dead owner's leftover, planted with a straggler in it.
    let parent = outside::own_cgroup().expect("cgroup2 is mounted");
    let mut dead = outside::DeadOwner::plant(&parent, 310);
    let root = dead.root.clone();

    let dry = pk().args(["sweep", "--dry-run"]).output().unwrap();
    let dry = String::from_utf8(dry.stdout).unwrap();
    assert!(
        dry.contains(&format!("would remove {}", root.display())),
        "{dry}"
    );
    assert!(root.exists());

    let out = pk().arg("sweep").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(
        said.contains(&format!("removed {}", root.display())),
        "{said}"
    );
    assert!(
        said.contains(&format!("{} (sleep)", dead.straggler.id())),
        "{said}"
    );
    if let Some(p) = &live_path {
        assert!(
            !said.contains(p.as_str()),
            "a live owner's container was swept: {said}"
        );
        assert!(std::path::Path::new(p).exists());
    }
    assert!(!root.exists());
    dead.straggler_killed();
    assert!(alive(sleeper));
    live.kill().unwrap();
    live.wait().unwrap();
    assert_gone(sleeper);
}

//! `containers()` and `sweep_containers()`: a planted root of a dead owner
//! is listed as dead with its straggler, and swept (straggler killed,
//! directory removed); this process's own root is listed alive and kept.
#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use processkit::{OwnerState, ProcessGroup};

fn cgroup_parent() -> PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mount = info
        .lines()
        .find(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|t| t.starts_with("cgroup2 "))
        })
        .expect("cgroup2 is mounted")
        .split_whitespace()
        .nth(4)
        .unwrap()
        .to_owned();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap()
        .to_owned();
    PathBuf::from(mount).join(own.trim_start_matches('/'))
}

fn own_pid_namespace() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid").unwrap().ino()
}

#[test]
fn a_dead_owners_root_is_listed_and_swept_and_a_live_one_kept() {
    assert_eq!(
        processkit::preflight().host_mechanism,
        processkit::Mechanism::CgroupV2,
        "this test needs a writable cgroup v2"
    );
    // This process's own root exists from here on (and its creation has
    // already swept older leftovers, so the plant below stays).
    let group = ProcessGroup::new().unwrap();
    let parent = cgroup_parent();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let root = parent.join(format!("processkit-{dead_pid}-1-{}", own_pid_namespace()));
    let leaf = root.join("g1").join("c1");
    std::fs::create_dir_all(&leaf).unwrap();
    let mut straggler = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    std::fs::write(leaf.join("cgroup.procs"), straggler.id().to_string()).unwrap();

    let list = processkit::containers().unwrap();
    let planted = list
        .iter()
        .find(|c| c.path == root)
        .expect("the planted root is listed");
    assert_eq!(planted.owner, OwnerState::Dead);
    assert_eq!(planted.owner_pid, Some(dead_pid));
    assert_eq!(planted.members, [straggler.id()]);
    let me = format!("processkit-{}-", std::process::id());
    let mine = list
        .iter()
        .find(|c| {
            c.path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&me)
        })
        .expect("this process's root is listed");
    assert_eq!(mine.owner, OwnerState::Alive);
    assert!(
        mine.owner_command
            .as_deref()
            .is_some_and(|c| c.contains("containers"))
    );

    let removed = processkit::sweep_containers().unwrap();
    assert!(removed.iter().any(|c| c.path == root), "{removed:?}");
    assert!(removed.iter().all(|c| c.owner == OwnerState::Dead));
    assert!(!root.exists(), "the dead owner's root is still there");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match straggler.try_wait().unwrap() {
            Some(status) => {
                assert!(!status.success());
                break;
            }
            None => assert!(
                Instant::now() < deadline,
                "the straggler survived the sweep"
            ),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(mine.path.exists(), "a live owner's root was swept");
    assert!(
        processkit::containers()
            .unwrap()
            .iter()
            .any(|c| c.path == mine.path)
    );
    drop(group);
}

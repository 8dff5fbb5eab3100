//! `containers()` and `sweep_containers()`: a planted root of a dead owner
//! is listed as dead with its straggler, and swept (straggler killed,
//! directory removed); this process's own root is listed alive and kept.
#![cfg(target_os = "linux")]

mod common;

use processkit::{OwnerState, ProcessGroup};

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
    let parent = common::own_cgroup().expect("cgroup2 is mounted");
    let mut dead = common::DeadOwner::plant(&parent, 300);
    let (dead_pid, root) = (dead.pid, dead.root.clone());

    let list = processkit::containers().unwrap();
    let planted = list
        .iter()
        .find(|c| c.path == root)
        .expect("the planted root is listed");
    assert_eq!(planted.owner, OwnerState::Dead);
    assert_eq!(planted.owner_pid, Some(dead_pid));
    assert_eq!(planted.members, [dead.straggler.id()]);
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
    assert!(!dead.straggler_killed().success());
    assert!(mine.path.exists(), "a live owner's root was swept");
    assert!(
        processkit::containers()
            .unwrap()
            .iter()
            .any(|c| c.path == mine.path)
    );
    drop(group);
}

//! A group's per-child cgroup leaves go away once they are empty, for
//! children started with `start`, with the raw `spawn` escape hatch and
//! for adopted processes, while the group itself lives on.
#![cfg(target_os = "linux")]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use processkit::{Command, Mechanism, ProcessGroup};

/// The cgroup directory `pid` is in, as a path under the cgroup2 mount.
fn leaf_of(pid: u32) -> PathBuf {
    common::cgroup_dir_of(pid).expect("cgroup2 is mounted and holds the process")
}

fn cgroup_group() -> ProcessGroup {
    let g = ProcessGroup::new().unwrap();
    assert_eq!(
        g.mechanism(),
        Mechanism::CgroupV2,
        "this test needs a writable cgroup v2"
    );
    g
}

#[tokio::test]
async fn leaves_of_dropped_started_children_are_removed_while_the_group_lives() {
    let group = cgroup_group();
    let mut leaves = Vec::new();
    for _ in 0..20 {
        // A dropped member keeps running; its leaf goes once it has exited.
        let run = group
            .start(&Command::new("sleep").arg("0.5"))
            .await
            .unwrap();
        let leaf = leaf_of(run.pid().unwrap());
        assert!(leaf.is_dir());
        leaves.push(leaf);
        drop(run);
    }
    let ok = common::wait_until_async(Duration::from_secs(5), || {
        leaves.iter().all(|l| !l.exists())
    })
    .await;
    let left: Vec<_> = leaves.iter().filter(|l| l.exists()).collect();
    assert!(ok, "leaves left behind: {left:?}");
    drop(group);
}

#[tokio::test]
async fn the_leaf_of_a_raw_spawn_is_removed_once_the_child_is_gone() {
    let group = cgroup_group();
    let mut child = group
        .spawn(tokio::process::Command::new("sleep").arg("300"))
        .unwrap();
    let leaf = leaf_of(child.id().unwrap());
    assert!(leaf.is_dir());
    child.kill().await.unwrap();
    assert!(
        common::wait_until_async(Duration::from_secs(5), || !leaf.exists()).await,
        "{} left behind",
        leaf.display()
    );
    drop(group);
}

#[tokio::test]
async fn the_leaf_of_an_adopted_process_is_removed_once_it_is_gone() {
    let group = cgroup_group();
    let mut outside = tokio::process::Command::new("sleep")
        .arg("300")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = outside.id().unwrap();
    group.adopt(pid).unwrap();
    let leaf = leaf_of(pid);
    assert!(leaf.is_dir());
    outside.kill().await.unwrap();
    assert!(
        common::wait_until_async(Duration::from_secs(5), || !leaf.exists()).await,
        "{} left behind",
        leaf.display()
    );
    drop(group);
}

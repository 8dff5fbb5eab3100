//! The host side: what a re-executed copy of this binary does in its role.

use processkit::{Command, ProcessGroup};
use std::path::Path;
use std::time::Duration;

use super::*;

use super::rerun::{read_command, short};

fn report(key: &str, value: impl std::fmt::Display) {
    ROLES.report(key, value);
}

fn running_guardians_of_me() -> usize {
    guardians()
        .into_iter()
        .filter(|&(_, h)| h == std::process::id())
        .count()
}

async fn start_tree(
    group: &ProcessGroup,
    dir: &Path,
) -> (processkit::RunningProcess, processkit::RunningProcess) {
    for place in ["group", "oneshot"] {
        std::fs::create_dir_all(dir.join(place)).expect("mkdir");
    }
    let in_group = group
        .start(&Command::new("sh").args(["-c", &tree_script(&dir.join("group"))]))
        .await
        .expect("start in group");
    let one_shot = Command::new("sh")
        .args(["-c", &tree_script(&dir.join("oneshot"))])
        .start()
        .await
        .expect("one-shot start");
    let all_written = wait_until(REPORT, || {
        ["group", "oneshot"].iter().all(|p| {
            TECHNIQUES
                .iter()
                .all(|t| read_pid_file(&dir.join(p).join(format!("{t}.pid"))).is_some())
        })
    });
    assert!(all_written, "the escapees did not report their pids");
    (in_group, one_shot)
}

pub(super) async fn host_main(role: &str, dir: &Path) {
    match role {
        "tree" => {
            let group = ProcessGroup::new().expect("group");
            let handles = start_tree(&group, dir).await;
            let mechanism = match group.mechanism() {
                processkit::Mechanism::CgroupV2 => "cgroup-v2",
                processkit::Mechanism::ProcessGroup => "process-group",
                processkit::Mechanism::Subreaper => "subreaper",
                _ => "other",
            };
            report(
                "ready",
                format!("{mechanism} {}", short(&processkit::guarantee())),
            );
            match read_command().as_str() {
                "abort" => std::process::abort(),
                "exit" => std::process::exit(0),
                _ => {}
            }
            drop(handles);
        }
        "restart" => {
            let group = ProcessGroup::new().expect("group");
            let handles = start_tree(&group, dir).await;
            report(
                "guardian",
                guardian_of(std::process::id()).expect("guardian"),
            );
            assert_eq!(read_command(), "next");
            report("lost", short(&processkit::guarantee()));
            let second = ProcessGroup::new().expect("second group");
            let g = guardian_of(std::process::id()).map_or("none".to_owned(), |p| p.to_string());
            report(
                "replaced",
                format!("{g} {}", short(&processkit::guarantee())),
            );
            let _ = read_command();
            drop((handles, second, group));
        }
        "once" => {
            Command::new("true").run().await.expect("one containment");
            // The guardian's `execve` may still be finishing (its new argv
            // is not visible yet) when a fast run is already over.
            let mut g = None;
            wait_until(Duration::from_secs(5), || {
                g = guardian_of(std::process::id());
                g.is_some()
            });
            let g = g.expect("guardian");
            report("guardian", g);
            report("gstart", Pid::of(g).expect("guardian stat").start);
        }
        "fds" => {
            let child = Command::new("sleep")
                .arg("300")
                .start()
                .await
                .expect("child");
            report("child", child.pid().expect("pid"));
            let _ = read_command();
            drop(child);
        }
        "guarantee" => {
            let _ = processkit::preflight();
            report("before", short(&processkit::guarantee()));
            report("running-before", running_guardians_of_me());
            Command::new("true").run().await.expect("one containment");
            report("after", short(&processkit::guarantee()));
            // The guardian's argv shows once its `execve` has finished.
            wait_until(Duration::from_secs(5), || running_guardians_of_me() > 0);
            report("running-after", running_guardians_of_me());
        }
        "disable" => {
            report("disabled", processkit::disable_guardian());
            Command::new("true").run().await.expect("one containment");
            report("after", short(&processkit::guarantee()));
            report("running-after", running_guardians_of_me());
        }
        "disable-late" => {
            Command::new("true").run().await.expect("one containment");
            report("disabled", processkit::disable_guardian());
            report("after", short(&processkit::guarantee()));
            // The guardian's argv shows once its `execve` has finished.
            wait_until(Duration::from_secs(5), || running_guardians_of_me() > 0);
            report("running-after", running_guardians_of_me());
        }
        other => panic!("unknown role {other:?}"),
    }
}

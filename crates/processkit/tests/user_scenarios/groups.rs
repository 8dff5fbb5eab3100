//! Groups, pipelines and supervisors as users hold them.

use processkit::{Command, Error, Mechanism, ProcessGroup, StreamExt};
use std::time::{Duration, Instant};

use super::*;

// ----- groups as users hold them ------------------------------------------------------------------

/// Dropping a member's handle leaves it running in its group; dropping the
/// group takes every member and grandchild down.
#[tokio::test]
async fn a_group_outlives_member_handles_and_takes_all_down_on_drop() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let body = format!(
        "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
        pidfile.display()
    );
    let group = ProcessGroup::new()?;
    for _ in 0..3 {
        let handle = group.start(&Command::new("sh").args(["-c", &body])).await?;
        drop(handle);
    }
    let pids = wait_for_pids(&pidfile, 6).await;
    assert!(
        pids.iter().all(|p| alive(*p)),
        "a dropped member handle killed its process"
    );
    drop(group);
    assert_gone(&pids, "members of a dropped group").await;
    Ok(())
}

/// A member's own timeout kills only that member's subtree; its siblings
/// keep running.
#[tokio::test]
async fn a_member_timeout_leaves_its_siblings_alone() -> processkit::Result<()> {
    let group = ProcessGroup::new()?;
    let sibling = group.start(&Command::new("sleep").arg("30")).await?;
    let r = group
        .start(
            &Command::new("sh")
                .args(["-c", "sleep 30 & wait"])
                .timeout(Duration::from_millis(200)),
        )
        .await?
        .output_string()
        .await?;
    assert!(r.timed_out());
    assert!(
        alive(sibling.pid().unwrap()),
        "the sibling was killed by a member's timeout"
    );
    group.kill()?;
    assert_gone(&[sibling.pid().unwrap()], "group.kill").await;
    Ok(())
}

/// `members()` lists the whole tree on cgroup v2 and the tracked leaders on
/// process groups.
#[cfg(feature = "process-control")]
#[tokio::test]
async fn members_lists_grandchildren_where_the_mechanism_can() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pid");
    let group = ProcessGroup::new()?;
    let leader = group
        .start(&Command::new("sh").args([
            "-c",
            &format!("sleep 30 & echo $! > {}; wait", pidfile.display()),
        ]))
        .await?;
    let grandchild = wait_for_pids(&pidfile, 1).await[0];
    let members = group.members()?;
    assert!(members.contains(&leader.pid().unwrap()), "{members:?}");
    if Mechanism::current() == Mechanism::CgroupV2 {
        assert!(members.contains(&grandchild), "{members:?}");
    }
    group.kill()?;
    assert_gone(&[leader.pid().unwrap(), grandchild], "group.kill").await;
    Ok(())
}

/// A process started elsewhere can be adopted where the mechanism allows
/// (cgroup v2), and then dies with the group; elsewhere `adopt` is a typed
/// `Unsupported` error.
#[cfg(feature = "process-control")]
#[tokio::test]
async fn adopting_an_outside_process_puts_it_under_the_group() -> processkit::Result<()> {
    let group = ProcessGroup::new()?;
    let mut outside = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = outside.id();
    let adopted = group.adopt(pid);
    let listed = group.members().map(|m| m.contains(&pid));
    let died_with_group = if adopted.is_ok() {
        drop(group);
        eventually(DEADLINE, || matches!(outside.try_wait(), Ok(Some(_)))).await
    } else {
        false
    };
    let _ = outside.kill();
    let _ = outside.wait();
    match adopted {
        Ok(()) => {
            assert!(matches!(listed, Ok(true)), "{listed:?}");
            assert!(
                died_with_group,
                "an adopted process outlived its dropped group"
            );
        }
        Err(Error::Unsupported { .. }) => {
            assert_ne!(Mechanism::current(), Mechanism::CgroupV2);
        }
        Err(e) => panic!("{e:?}"),
    }
    Ok(())
}

/// The raw escape hatch: a `tokio::process::Command` spawned into a group
/// is still contained, grandchildren included.
#[tokio::test]
async fn raw_spawned_children_are_contained_by_the_group() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let group = ProcessGroup::new()?;
    let mut raw = tokio::process::Command::new("sh");
    raw.args([
        "-c",
        &format!(
            "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
            pidfile.display()
        ),
    ]);
    let mut child = group.spawn(&mut raw)?;
    let pids = wait_for_pids(&pidfile, 2).await;
    group.kill()?;
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("child exited")
        .unwrap();
    assert!(!status.success());
    assert_gone(&pids, "raw-spawned tree").await;
    Ok(())
}

/// Fifty groups in parallel, each with a two-process tree, all torn down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_groups_in_parallel_are_each_torn_down() -> processkit::Result<()> {
    let dir = scratch();
    let mut groups = Vec::new();
    for i in 0..50 {
        let f = dir.path().join(format!("g{i}"));
        let group = ProcessGroup::new()?;
        group
            .start(&Command::new("sh").args([
                "-c",
                &format!(
                    "sleep 30 & echo $! >> {0}; echo $$ >> {0}; wait",
                    f.display()
                ),
            ]))
            .await?;
        groups.push((group, f));
    }
    let mut pids = Vec::new();
    for (_, f) in &groups {
        pids.extend(wait_for_pids(f, 2).await);
    }
    assert_eq!(pids.len(), 100);
    let shutdowns = groups.iter().map(|(g, _)| g.shutdown());
    for s in shutdowns {
        s.await?;
    }
    assert_gone(&pids, "fifty groups after shutdown").await;
    Ok(())
}

// ----- interactive pipelines -----------------------------------------------------------------------

/// A started pipeline takes interactive stdin on its first stage and
/// streams its last stage's stdout.
#[tokio::test]
async fn a_started_pipeline_takes_stdin_and_streams_stdout() -> processkit::Result<()> {
    let mut run = (Command::new("cat").keep_stdin_open() | Command::new("sort").arg("-r"))
        .start()
        .await?;
    let mut stdin = run.standard_input().expect("the first stage's stdin");
    for w in ["pear", "apple", "fig"] {
        stdin.write_line(w).await?;
    }
    stdin.finish().await?;
    let lines: Vec<String> = tokio::time::timeout(DEADLINE, run.stdout_lines().collect())
        .await
        .expect("sort finished");
    assert_eq!(lines, ["pear", "fig", "apple"]);
    let (code, _) = run.finish_streamed().await?;
    assert_eq!(code, Some(0));
    Ok(())
}

/// `first_line` on an endless pipeline returns and tears every stage down.
#[tokio::test]
async fn first_line_on_an_endless_pipeline_stops_every_stage() -> processkit::Result<()> {
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let line = (Command::new("sh")
        .args(["-c", &format!("echo $$ >> {}; exec yes", pidfile.display())])
        | Command::new("sh").args(["-c", &format!("echo $$ >> {}; exec cat", pidfile.display())]))
    .first_line(|l| l == "y")
    .await?;
    assert_eq!(line.as_deref(), Some("y"));
    assert_gone(&pids_in(&pidfile), "stages after first_line").await;
    Ok(())
}

// ----- supervision ------------------------------------------------------------------------------------

/// A crash-looping service trips the storm guard: one collective pause
/// instead of restarts at backoff speed. (The score decays continuously, so
/// three quick failures score just under 3: a threshold of 2.5 trips on the
/// third.)
#[tokio::test]
async fn a_crash_loop_trips_the_storm_guard_once() -> processkit::Result<()> {
    use processkit::{StopReason, Supervisor};
    let t0 = Instant::now();
    let outcome = Supervisor::new(Command::new("sh").args(["-c", "exit 1"]))
        .max_restarts(3)
        .backoff(Duration::from_millis(1), 1.0)
        .failure_threshold(2.5)
        .storm_pause(Duration::from_millis(400))
        .run()
        .await?;
    assert_eq!(
        (outcome.restarts, outcome.stopped),
        (3, StopReason::MaxRestarts)
    );
    assert_eq!(outcome.storms, 1);
    assert_eq!(outcome.failures, 4);
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t0.elapsed()
    );
    Ok(())
}

/// Supervising a server that writes its pid each incarnation: every old
/// incarnation is gone before the next starts, and none is left at the end.
#[tokio::test]
async fn supervised_incarnations_do_not_pile_up() -> processkit::Result<()> {
    use processkit::{RestartPolicy, Supervisor};
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let body = format!(
        "sleep 30 & echo $! >> {0}; echo $$ >> {0}; sleep 0.05; exit 1",
        pidfile.display()
    );
    let outcome = Supervisor::new(Command::new("sh").args(["-c", &body]))
        .restart(RestartPolicy::Always)
        .max_restarts(4)
        .backoff(Duration::from_millis(1), 1.0)
        .run()
        .await?;
    assert_eq!(outcome.restarts, 4);
    let pids = pids_in(&pidfile);
    assert_eq!(pids.len(), 10);
    assert_gone(&pids, "incarnations and their background children").await;
    Ok(())
}

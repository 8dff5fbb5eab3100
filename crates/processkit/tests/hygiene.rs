//! Nothing leaks: no fds, no zombies, no cgroup directories, no stale
//! leftovers — under load and across many runs.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use processkit::{Command, JobRunner, Mechanism, ProcessGroup, output_all};

/// The cgroup directories this process owns, if it runs on cgroup v2.
fn my_cgroup_dirs() -> Option<Vec<std::path::PathBuf>> {
    if Mechanism::current() != Mechanism::CgroupV2 {
        return None;
    }
    let parent = common::own_cgroup()?;
    let me = format!("processkit-{}-", std::process::id());
    let root = std::fs::read_dir(&parent)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&me))?
        .path();
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.push(e.path());
                stack.push(e.path());
            }
        }
    }
    Some(out)
}

fn zombie_children() -> Vec<u32> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(i) = stat.rfind(')') else { continue };
        let f: Vec<&str> = stat[i + 2..].split_whitespace().collect();
        if f.first() == Some(&"Z") && f.get(1) == Some(&me.as_str()) {
            out.push(pid);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_runs_all_succeed() {
    let mut tasks = Vec::new();
    for i in 0..200 {
        tasks.push(tokio::spawn(async move {
            Command::new("sh")
                .args(["-c", &format!("echo {i}")])
                .run()
                .await
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap().unwrap(), i.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_leave_no_zombies_behind() {
    for _ in 0..40 {
        Command::new("sh")
            .args(["-c", "sleep 0.01 & true"])
            .run()
            .await
            .unwrap();
        let _ = Command::new("sleep")
            .arg("5")
            .timeout(Duration::from_millis(10))
            .output_string()
            .await
            .unwrap();
    }
    let ok = common::wait_until(Duration::from_secs(3), || zombie_children().is_empty());
    assert!(ok, "zombie children left: {:?}", zombie_children());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_all_never_exceeds_its_concurrency_cap() {
    let dir = common::scratch();
    let live = dir.path().join("live");
    std::fs::create_dir(&live).unwrap();
    let l = live.display();
    // Each command marks itself live for a while; the batch records the max.
    let cmds = (0..24).map(|i| {
        Command::new("sh").args([
            "-c",
            &format!("touch {l}/{i}; n=$(ls {l} | wc -l); echo $n; sleep 0.1; rm {l}/{i}"),
        ])
    });
    let results = output_all(cmds, 3, &JobRunner).await;
    assert_eq!(results.len(), 24);
    let max = results
        .iter()
        .map(|r| {
            r.as_ref()
                .unwrap()
                .stdout()
                .trim()
                .parse::<usize>()
                .unwrap()
        })
        .max()
        .unwrap();
    assert!(max <= 3, "saw {max} live at once with a cap of 3");
    assert!(max >= 2, "the batch did run concurrently (max {max})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_all_collects_every_outcome_without_short_circuiting() {
    let cmds = vec![
        Command::new("false"),
        Command::new("pk-no-such-program-anywhere"),
        Command::new("echo").arg("ok"),
    ];
    let results = output_all(cmds, 2, &JobRunner).await;
    assert_eq!(results[0].as_ref().unwrap().code(), Some(1));
    assert!(matches!(
        results[1],
        Err(processkit::Error::NotFound { .. })
    ));
    assert_eq!(results[2].as_ref().unwrap().stdout(), "ok\n");
}

/// All cgroup checks live in one test: the pool and directories are process-wide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_and_groups_leave_no_cgroup_directories() {
    assert_eq!(
        Mechanism::current(),
        Mechanism::CgroupV2,
        "this test needs a writable cgroup v2"
    );
    Command::new("true").run().await.unwrap();
    assert!(my_cgroup_dirs().is_some(), "the host root exists");
    for _ in 0..40 {
        Command::new("sh")
            .args(["-c", "sleep 30 & echo x"])
            .run()
            .await
            .unwrap();
    }
    for _ in 0..100 {
        let g = ProcessGroup::new().unwrap();
        g.start(&Command::new("sleep").arg("30")).await.unwrap();
        drop(g);
    }
    // One-shot leaves are pooled for reuse (bounded, and always empty);
    // group directories go away entirely.
    let populated = |d: &std::path::Path| {
        std::fs::read_to_string(d.join("cgroup.events")).is_ok_and(|e| e.contains("populated 1"))
    };
    let ok = common::wait_until(Duration::from_secs(5), || {
        let dirs = my_cgroup_dirs().unwrap_or_default();
        let name = |d: &std::path::PathBuf| d.file_name().unwrap().to_string_lossy().into_owned();
        let groups = dirs.iter().filter(|d| name(d).starts_with('g')).count();
        let leaves: Vec<_> = dirs.iter().filter(|d| name(d).starts_with('r')).collect();
        groups == 0 && leaves.len() <= 256 && leaves.iter().all(|d| !populated(d))
    });
    assert!(ok, "left behind: {:?}", my_cgroup_dirs());
}

//! Whole-tree stats and limits on the host the tests run on.
//!
//! Each assertion follows from what the host is: a cgroup v2 hierarchy that
//! offers a controller (or not), or the process-group mechanism. On a hybrid
//! host (cgroup2 with no controllers) every limit is refused, CPU time comes
//! from the core `cpu.stat`, current memory from the members' RSS, and peaks
//! are `None`. The pure cgroup v2 side is proven in `vm_limits.rs`.

#![cfg(unix)]
#![cfg(feature = "stats")]

use std::time::{Duration, Instant};

use processkit::{Command, Mechanism, ProcessGroup, ProcessGroupOptions, StreamExt};

const MIB: u64 = 1024 * 1024;

/// Polls `probe` every 10 ms until it returns `Some` or `within` passes.
async fn poll_until<T>(within: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The controllers the host's cgroup v2 hierarchy offers at its root (empty
/// when there is no cgroup2 mount).
#[cfg(target_os = "linux")]
fn hierarchy_offers(controller: &str) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let mount = info.lines().find_map(|line| {
        let (pre, post) = line.split_once(" - ")?;
        (post.split_whitespace().next() == Some("cgroup2"))
            .then(|| pre.split_whitespace().nth(4).map(str::to_owned))?
    });
    let Some(mount) = mount else { return false };
    std::fs::read_to_string(format!("{mount}/cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|w| w == controller))
}
#[cfg(not(target_os = "linux"))]
fn hierarchy_offers(_controller: &str) -> bool {
    false
}

#[cfg(feature = "limits")]
fn limit_cases() -> Vec<(&'static str, &'static str, ProcessGroupOptions)> {
    vec![
        (
            "memory_max",
            "memory",
            ProcessGroupOptions::default().memory_max(64 * MIB),
        ),
        (
            "max_processes",
            "pids",
            ProcessGroupOptions::default().max_processes(32),
        ),
        (
            "cpu_quota",
            "cpu",
            ProcessGroupOptions::default().cpu_quota(0.5),
        ),
    ]
}

#[cfg(feature = "limits")]
#[test]
fn a_limit_without_its_controller_is_refused_with_resource_limit() {
    let default_mechanism = ProcessGroup::new().expect("a group").mechanism();
    for (name, controller, options) in limit_cases() {
        let result = ProcessGroup::with_options(options);
        let offered = default_mechanism == Mechanism::CgroupV2 && hierarchy_offers(controller);
        match result {
            Err(processkit::Error::ResourceLimit { limit, reason }) => {
                assert_eq!(limit, name);
                assert!(!reason.is_empty(), "{name}: the reason is empty");
                eprintln!("{name}: refused: {reason}");
            }
            Ok(group) if offered => {
                eprintln!("note: {name} is enforced here ({controller} is offered)");
                drop(group);
            }
            Ok(_) => panic!("{name} was accepted although the host cannot enforce it"),
            Err(other) => panic!("{name}: expected ResourceLimit, got {other:?}"),
        }
    }
}

#[cfg(feature = "limits")]
#[test]
fn the_process_group_mechanism_refuses_every_limit() {
    for (name, _, options) in limit_cases() {
        let err = ProcessGroup::with_options(options.mechanism(Mechanism::ProcessGroup))
            .expect_err("a process-group container cannot enforce limits");
        match err {
            processkit::Error::ResourceLimit { limit, reason } => {
                assert_eq!(limit, name);
                assert!(reason.contains("process-group"), "{reason}");
            }
            other => panic!("{name}: expected ResourceLimit, got {other:?}"),
        }
    }
    let all = ProcessGroupOptions::default()
        .memory_max(MIB)
        .max_processes(4)
        .cpu_quota(1.0)
        .mechanism(Mechanism::ProcessGroup);
    match ProcessGroup::with_options(all) {
        Err(processkit::Error::ResourceLimit { limit, .. }) => assert_eq!(limit, "memory_max"),
        other => panic!("expected ResourceLimit, got {other:?}"),
    }
}

#[cfg(feature = "limits")]
#[test]
fn a_limit_that_is_no_limit_is_invalid_input() {
    let cases = [
        (
            "memory_max(0)",
            ProcessGroupOptions::default().memory_max(0),
        ),
        (
            "max_processes(0)",
            ProcessGroupOptions::default().max_processes(0),
        ),
        (
            "cpu_quota(0)",
            ProcessGroupOptions::default().cpu_quota(0.0),
        ),
        (
            "cpu_quota(-1)",
            ProcessGroupOptions::default().cpu_quota(-1.0),
        ),
        (
            "cpu_quota(NaN)",
            ProcessGroupOptions::default().cpu_quota(f64::NAN),
        ),
        (
            "cpu_quota(inf)",
            ProcessGroupOptions::default().cpu_quota(f64::INFINITY),
        ),
    ];
    for mechanism in [None, Some(Mechanism::ProcessGroup)] {
        for (what, options) in cases.clone() {
            let options = match mechanism {
                Some(m) => options.mechanism(m),
                None => options,
            };
            match ProcessGroup::with_options(options) {
                Err(processkit::Error::InvalidInput { reason, .. }) => assert!(!reason.is_empty()),
                other => panic!("{what} ({mechanism:?}): expected InvalidInput, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_busy_childs_cpu_time_is_reported() {
    let group = ProcessGroup::new().expect("a group");
    let busy = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .timeout(Duration::from_secs(30));
    let _run = group.start(&busy).await.expect("start the busy loop");
    if group.mechanism() == Mechanism::ProcessGroup {
        let s = group.stats().expect("stats");
        assert_eq!(
            (s.user_cpu, s.system_cpu),
            (None, None),
            "process groups have no CPU accounting"
        );
        group.kill().expect("kill");
        return;
    }
    let floor = Duration::from_millis(200);
    let reached = poll_until(Duration::from_secs(20), || {
        let s = group.stats().expect("stats");
        s.cpu_time().filter(|t| *t >= floor).map(|t| (t, s))
    })
    .await;
    group.kill().expect("kill");
    let (cpu, s) = reached.expect("the busy loop's CPU time never reached 200 ms within 20 s");
    assert!(
        s.user_cpu.unwrap() > Duration::ZERO,
        "a shell loop runs in user mode: {s:?}"
    );
    eprintln!("busy loop: {cpu:?} of CPU ({s:?})");
}

#[tokio::test]
async fn the_live_process_count_covers_the_whole_tree() {
    for mechanism in [None, Some(Mechanism::ProcessGroup)] {
        let options = match mechanism {
            Some(m) => ProcessGroupOptions::default().mechanism(m),
            None => ProcessGroupOptions::default(),
        };
        let group = ProcessGroup::with_options(options).expect("a group");
        let tree = Command::new("sh").args(["-c", "sleep 30 & sleep 30 & wait"]);
        let _run = group.start(&tree).await.expect("start");
        let three = poll_until(Duration::from_secs(10), || {
            let n = group.stats().expect("stats").active_process_count;
            (n == 3).then_some(n)
        })
        .await;
        let last = group.stats().expect("stats").active_process_count;
        group.shutdown().await.expect("shutdown");
        assert_eq!(
            three,
            Some(3),
            "{:?}: sh and two sleeps, last count {last}",
            group.mechanism()
        );
        assert_eq!(group.stats().expect("stats").active_process_count, 0);
    }
}

#[tokio::test]
async fn sample_stats_yields_one_sample_per_interval() {
    let group = ProcessGroup::new().expect("a group");
    let _run = group
        .start(&Command::new("sleep").arg("30"))
        .await
        .expect("start");
    let interval = Duration::from_millis(50);
    let started = Instant::now();
    let samples: Vec<_> = tokio::time::timeout(
        Duration::from_secs(10),
        group.sample_stats(interval).take(3).collect(),
    )
    .await
    .expect("three samples within 10 s");
    let took = started.elapsed();
    group.kill().expect("kill");
    assert_eq!(samples.len(), 3);
    for s in &samples {
        assert_eq!(s.active_process_count, 1, "{s:?}");
    }
    // The first sample is immediate; the next two wait an interval each.
    assert!(took >= interval * 2, "three samples in {took:?}");
}

#[tokio::test]
async fn values_the_host_cannot_give_are_none() {
    let group = ProcessGroup::new().expect("a group");
    let _run = group
        .start(&Command::new("sleep").arg("30"))
        .await
        .expect("start");
    let s = group.stats().expect("stats");
    match group.mechanism() {
        Mechanism::CgroupV2 => {
            assert!(
                s.user_cpu.is_some() && s.system_cpu.is_some(),
                "the cgroup core always counts CPU: {s:?}"
            );
            assert!(
                s.memory_bytes.is_some_and(|m| m > 0),
                "a live sleep has resident memory: {s:?}"
            );
            if hierarchy_offers("memory") {
                eprintln!("note: this hierarchy offers memory; memory.peak may exist");
            } else {
                assert_eq!(
                    s.peak_memory_bytes, None,
                    "no memory controller, no peak: {s:?}"
                );
            }
            if !hierarchy_offers("pids") {
                assert_eq!(
                    s.peak_process_count, None,
                    "no pids controller, no peak: {s:?}"
                );
            }
        }
        other => eprintln!("note: default mechanism is {other:?}; checked below"),
    }
    group.kill().expect("kill");

    let group = ProcessGroup::with_options(
        ProcessGroupOptions::default().mechanism(Mechanism::ProcessGroup),
    )
    .expect("a process-group group");
    let _run = group
        .start(&Command::new("sleep").arg("30"))
        .await
        .expect("start");
    let s = group.stats().expect("stats");
    group.kill().expect("kill");
    assert_eq!(s.active_process_count, 1);
    assert_eq!(
        (
            s.user_cpu,
            s.system_cpu,
            s.memory_bytes,
            s.peak_memory_bytes,
            s.peak_process_count
        ),
        (None, None, None, None, None),
        "process groups give counts only"
    );
}

#[tokio::test]
async fn profile_of_a_memory_holding_child_is_sane() {
    // dd reads /dev/zero into one 64 MiB buffer, 100 times: 64 MiB resident for the whole run.
    let cmd = Command::new("dd").args(["if=/dev/zero", "of=/dev/null", "bs=64M", "count=100"]);
    let started = Instant::now();
    let profile = cmd
        .start()
        .await
        .expect("start dd")
        .profile(Duration::from_millis(10))
        .await
        .expect("profile");
    let wall = started.elapsed();
    eprintln!("{profile:?}, avg cpu {:?}", profile.avg_cpu());
    assert_eq!(profile.exit_code, Some(0));
    assert!(!profile.timed_out);
    assert!(
        profile.duration > Duration::ZERO && profile.duration <= wall,
        "{profile:?} within {wall:?}"
    );
    assert!(profile.samples >= 2, "{profile:?}");
    if processkit::Mechanism::current() == Mechanism::ProcessGroup {
        assert_eq!(
            (profile.cpu_time(), profile.peak_memory_bytes),
            (None, None)
        );
        return;
    }
    let peak = profile.peak_memory_bytes.expect("a cgroup gives memory");
    assert!(peak >= 64 * MIB, "peak {peak} below the 64 MiB buffer");
    let cpu = profile.cpu_time().expect("a cgroup gives CPU time");
    assert!(
        cpu >= Duration::from_millis(20),
        "copying 6.25 GiB took {cpu:?} of CPU"
    );
    let cores = profile.avg_cpu().expect("avg cpu");
    assert!(
        cores > 0.0 && cores <= 1.2,
        "dd is single-threaded, yet averaged {cores} cores"
    );
}

#[tokio::test]
async fn profile_applies_the_runs_timeout() {
    let cmd = Command::new("sh")
        .args(["-c", "sleep 30 & sleep 30"])
        .timeout(Duration::from_millis(300));
    let profile = cmd
        .start()
        .await
        .expect("start")
        .profile(Duration::from_millis(20))
        .await
        .expect("profile");
    assert!(profile.timed_out, "{profile:?}");
    assert_eq!(profile.exit_code, None);
    assert!(
        profile.duration >= Duration::from_millis(300),
        "{profile:?}"
    );
    assert!(profile.duration < Duration::from_secs(10), "{profile:?}");
}

#[tokio::test]
async fn profile_of_a_group_member_measures_only_that_member() {
    let group = ProcessGroup::new().expect("a group");
    let busy = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .timeout(Duration::from_secs(30));
    let _sibling = group.start(&busy).await.expect("start the busy sibling");
    let run = group
        .start(&Command::new("sh").args(["-c", "sleep 0.5; exit 7"]))
        .await
        .expect("start");
    let profile = run
        .profile(Duration::from_millis(20))
        .await
        .expect("profile");
    eprintln!("member {profile:?}");
    assert_eq!(profile.exit_code, Some(7));
    if group.mechanism() != Mechanism::CgroupV2 {
        group.kill().expect("kill");
        return;
    }
    // The sleeping member used next to nothing: far less than the busy
    // sibling burnt meanwhile, which a profile of the whole group would
    // include. (Relative, not absolute: starting `sh` and `sleep` took up
    // to 160 ms of CPU in an emulated guest.)
    let member_cpu = profile.cpu_time().expect("a cgroup leaf counts CPU");
    let group_so_far = group
        .stats()
        .expect("stats")
        .cpu_time()
        .expect("a cgroup counts CPU");
    assert!(
        member_cpu * 2 < group_so_far,
        "member {member_cpu:?}, group {group_so_far:?}"
    );
    // ...while the group's counter goes on with the busy sibling's time.
    let group_cpu = poll_until(Duration::from_secs(20), || {
        let cpu = group
            .stats()
            .expect("stats")
            .cpu_time()
            .expect("a cgroup counts CPU");
        (cpu > member_cpu + Duration::from_millis(100)).then_some(cpu)
    })
    .await;
    group.kill().expect("kill");
    assert!(
        group_cpu.is_some(),
        "the group's CPU time never passed the member's by 100 ms"
    );
}

#[tokio::test]
async fn zero_and_endless_intervals_are_accepted() {
    let group = ProcessGroup::new().expect("a group");
    let _run = group
        .start(&Command::new("sleep").arg("30"))
        .await
        .expect("start");
    let samples: Vec<_> = tokio::time::timeout(
        Duration::from_secs(10),
        group.sample_stats(Duration::ZERO).take(3).collect(),
    )
    .await
    .expect("three samples at the smallest interval");
    assert_eq!(samples.len(), 3);
    group.kill().expect("kill");

    let cmd = Command::new("sh").args(["-c", "exit 5"]);
    let profile = tokio::time::timeout(
        Duration::from_secs(10),
        cmd.start().await.expect("start").profile(Duration::MAX),
    )
    .await
    .expect("a run that exits ends the profile whatever the interval")
    .expect("profile");
    assert_eq!(profile.exit_code, Some(5));
    // The first sample is at the start, the last after the exit.
    assert!(profile.samples >= 2, "{profile:?}");
}

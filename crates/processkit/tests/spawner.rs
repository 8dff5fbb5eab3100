//! The Linux spawner: exec failures, fd hygiene, signal isolation,
//! robustness under allocation pressure and privilege drop under cgroups.
#![cfg(target_os = "linux")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use processkit::{Command, Error, Mechanism};

fn zombie_children() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let Some(i) = stat.rfind(')') else {
                return false;
            };
            let f: Vec<&str> = stat[i + 2..].split_whitespace().collect();
            f.first() == Some(&"Z") && f.get(1) == Some(&me.as_str())
        })
        .count()
}

#[tokio::test]
async fn exec_failures_are_typed_and_leave_no_zombie() {
    let dir = common::scratch();
    let garbage = dir.path().join("garbage");
    common::write_by_child(&garbage, b"\x00\x01\x02 not a program", 0o755);
    let no_interp = dir.path().join("no-interp");
    common::write_by_child(&no_interp, b"#!/nonexistent/sh\n", 0o755);
    let not_exec = dir.path().join("not-exec");
    std::fs::write(&not_exec, "#!/bin/sh\n").unwrap();

    for _ in 0..20 {
        let err = Command::new(&garbage).run().await.unwrap_err();
        assert!(matches!(err, Error::Spawn { .. }), "{err:?}");
        assert!(err.to_string().contains("garbage"), "{err}");
        // The script exists: a missing interpreter is a spawn error that
        // names it, not "not found".
        let err = Command::new(&no_interp).run().await.unwrap_err();
        assert!(matches!(err, Error::Spawn { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/sh"), "{err}");
        let err = Command::new(&not_exec).run().await.unwrap_err();
        assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
        let err = Command::new("true")
            .current_dir(dir.path().join("missing"))
            .run()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::BadDirectory { .. }), "{err:?}");
        let err = Command::new("pk-no-such-program").run().await.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    }
    assert!(
        common::wait_until(Duration::from_secs(2), || zombie_children() == 0),
        "zombies left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_parent_fd_leaks_into_the_child_except_stdio() {
    // Distinctive fds in the parent, plus concurrent spawns holding pidfds,
    // pipes and cgroup.procs fds while the probe child starts.
    let dir = common::scratch();
    let _files: Vec<std::fs::File> = (0..5)
        .map(|i| std::fs::File::create(dir.path().join(format!("marker-{i}"))).unwrap())
        .collect();
    let busy: Vec<_> = (0..8)
        .map(|_| tokio::spawn(async { Command::new("sleep").arg("1").run().await }))
        .collect();
    // Fds this process inherited without close-on-exec from whoever started
    // it pass through to every child, as with std::process; everything the
    // process opened itself must not.
    let inherited: Vec<u32> = std::fs::read_dir("/proc/self/fdinfo")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let fd: u32 = e.file_name().to_str()?.parse().ok()?;
            let info = std::fs::read_to_string(e.path()).ok()?;
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))?
                .trim()
                .to_owned();
            let flags = u32::from_str_radix(&flags, 8).ok()?;
            (flags & libc::O_CLOEXEC as u32 == 0).then_some(fd)
        })
        .collect();
    for _ in 0..10 {
        let listing = Command::new("ls")
            .args(["-l", "/proc/self/fd/"])
            .run()
            .await
            .unwrap();
        let fds: Vec<&str> = listing.lines().filter(|l| l.contains("->")).collect();
        for line in &fds {
            let fd: u32 = line
                .split(" -> ")
                .next()
                .unwrap()
                .split_whitespace()
                .last()
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                fd <= 2 || line.contains("/proc/") || inherited.contains(&fd),
                "leaked fd in the child: {line}\n{listing}"
            );
            assert!(
                !line.contains("marker-") && !line.contains("cgroup") && !line.contains("pidfd"),
                "{line}"
            );
        }
    }
    for b in busy {
        b.await.unwrap().unwrap();
    }
}

static PARENT_PID: AtomicU32 = AtomicU32::new(0);
static HANDLED: AtomicUsize = AtomicUsize::new(0);
static IN_CHILD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(_: libc::c_int) {
    // Async-signal-safe: getpid and atomics only.
    if unsafe { libc::getpid() } as u32 != PARENT_PID.load(Ordering::Relaxed) {
        IN_CHILD.store(true, Ordering::Relaxed);
    }
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_signal_handler_never_runs_in_the_child() {
    PARENT_PID.store(std::process::id(), Ordering::Relaxed);
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let storm = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
            std::thread::sleep(Duration::from_micros(50));
        }
    });
    for _ in 0..300 {
        Command::new("true").run().await.unwrap();
    }
    // A caught signal in the parent becomes the default action in the child.
    let r = Command::new("sh")
        .args(["-c", "kill -USR1 $$; echo survived"])
        .output_string()
        .await
        .unwrap();
    assert_eq!(r.signal(), Some(libc::SIGUSR1), "{r:?}");
    stop.store(true, Ordering::Relaxed);
    storm.join().unwrap();
    assert!(
        HANDLED.load(Ordering::Relaxed) > 0,
        "the storm reached the parent"
    );
    assert!(
        !IN_CHILD.load(Ordering::Relaxed),
        "the parent's handler ran in a child"
    );
}

#[tokio::test]
async fn the_child_starts_with_an_empty_signal_mask_and_default_sigpipe() {
    // Block SIGUSR2 on this thread; the child must not inherit it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR2);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let status = Command::new("sh")
        .args(["-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status"])
        .run()
        .await
        .unwrap();
    let blk = status.lines().find(|l| l.starts_with("SigBlk")).unwrap();
    assert!(
        blk.split_whitespace()
            .last()
            .unwrap()
            .chars()
            .all(|c| c == '0'),
        "{blk}"
    );
    let ign = status.lines().find(|l| l.starts_with("SigIgn")).unwrap();
    let mask = u64::from_str_radix(ign.split_whitespace().last().unwrap(), 16).unwrap();
    assert_eq!(
        mask & (1 << (libc::SIGPIPE - 1)),
        0,
        "SIGPIPE must not be ignored in the child: {ign}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_spawns_while_other_threads_allocate_heavily() {
    let stop = Arc::new(AtomicBool::new(false));
    let churners: Vec<_> = (0..2)
        .map(|t| {
            let s = stop.clone();
            std::thread::spawn(move || {
                let mut keep: Vec<Vec<u8>> = Vec::new();
                let mut i = 0usize;
                while !s.load(Ordering::Relaxed) {
                    keep.push(vec![(i + t) as u8; 1 + (i * 7919) % 65536]);
                    if keep.len() > 64 {
                        keep.drain(..32);
                    }
                    i += 1;
                }
                keep.len()
            })
        })
        .collect();
    // The valgrind lane lowers the count: every spawn is ~100x slower there.
    let count: usize = std::env::var("PK_SPAWN_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let work = async {
        let mut tasks = Vec::new();
        for i in 0..count {
            tasks.push(tokio::spawn(async move {
                Command::new("echo").arg(i.to_string()).run().await
            }));
            if tasks.len() >= 16 {
                for t in tasks.drain(..) {
                    t.await.unwrap().unwrap();
                }
            }
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    };
    tokio::time::timeout(
        // valgrind runs every thread under one lock: give it room.
        if std::env::var_os("PK_UNDER_VALGRIND").is_some() {
            Duration::from_secs(600)
        } else {
            Duration::from_secs(120)
        },
        work,
    )
    .await
    .expect("no deadlock");
    stop.store(true, Ordering::Relaxed);
    for c in churners {
        c.join().unwrap();
    }
}

#[tokio::test]
async fn uid_and_gid_drop_works_under_the_cgroup_mechanism() {
    // SAFETY: plain query of this process's effective uid.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "this test needs root to change ids");
    let out = Command::new("id")
        .uid(65534)
        .gid(65534)
        .run()
        .await
        .unwrap();
    assert!(out.starts_with("uid=65534"), "{out}");
    assert!(out.contains("gid=65534"), "{out}");
    assert!(
        !out.contains("groups=0"),
        "supplementary groups reset: {out}"
    );
    let group = processkit::ProcessGroup::new().unwrap();
    let out = group
        .start(&Command::new("id").args(["-u"]).uid(65534))
        .await
        .unwrap()
        .output_string()
        .await
        .unwrap();
    assert_eq!(out.stdout().trim(), "65534");
    eprintln!(
        "mechanism: {} (cgroup expected on this host: {})",
        group.mechanism(),
        Mechanism::current()
    );
}

/// Runs inside a re-executed copy of this test binary (see below): starts
/// `sleep 300`, prints its pid, then waits to be killed.
#[test]
#[ignore = "a role for a re-executed copy of this binary: its driver test runs it with --ignored"]
fn pdeath_helper_process() {
    let Ok(mode) = std::env::var("PK_PDEATH_HELPER") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut cmd = Command::new("sleep").arg("300");
        if mode == "armed" {
            cmd = cmd.kill_on_parent_death();
        }
        let run = cmd.start().await.unwrap();
        println!("PID {}", run.pid().unwrap());
        std::mem::forget(run); // never dropped: only the parent's death can end it
        tokio::time::sleep(Duration::from_secs(300)).await;
    });
}

fn sleep_pid_of_killed_helper(mode: &str) -> u32 {
    use std::io::BufRead;
    let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "pdeath_helper_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PK_PDEATH_HELPER", mode)
        // Only PR_SET_PDEATHSIG may act here: no guardian, and process groups
        // (no atexit cgroup teardown can run after SIGKILL anyway).
        .env("PROCESSKIT_NO_GUARDIAN", "1")
        .env("PROCESSKIT_MECHANISM", "process-group")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pid = 0;
    for line in std::io::BufReader::new(helper.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(i) = line.find("PID ") {
            pid = line[i + 4..].trim().parse().unwrap();
            break;
        }
    }
    assert!(pid > 0, "the helper reported its child");
    helper.kill().unwrap();
    helper.wait().unwrap();
    pid
}

#[test]
fn kill_on_parent_death_kills_the_direct_child_when_the_parent_is_sigkilled() {
    let armed = sleep_pid_of_killed_helper("armed");
    common::assert_all_gone(
        &[armed],
        Duration::from_secs(2),
        "child armed with PR_SET_PDEATHSIG",
    );
    // Control: without the flag (and without guardian) the child outlives its parent.
    let unarmed = sleep_pid_of_killed_helper("plain");
    std::thread::sleep(Duration::from_millis(300));
    let survived = common::alive(unarmed);
    unsafe { libc::kill(unarmed as i32, libc::SIGKILL) };
    assert!(
        survived,
        "control: an unarmed child survives a SIGKILLed parent without the guardian"
    );
}

#[tokio::test]
async fn preflight_reports_the_spawner_in_use() {
    Command::new("true").run().await.unwrap();
    let spawner = processkit::preflight().spawner;
    // Read by the cross-target lanes (run with --nocapture there).
    println!("spawner in use: {spawner}");
    match std::env::var("PROCESSKIT_SPAWNER").ok().as_deref() {
        Some("std") => assert!(spawner.starts_with("std::process"), "{spawner}"),
        Some("clone") => assert!(spawner.contains("cgroup.procs"), "{spawner}"),
        // Emulators such as valgrind refuse clone3; the fallback is fine there.
        _ if Mechanism::current() == Mechanism::CgroupV2
            && std::env::var_os("PK_UNDER_VALGRIND").is_none() =>
        {
            assert!(spawner.starts_with("clone3"), "{spawner}")
        }
        _ => assert!(spawner.starts_with("clone"), "{spawner}"),
    }
}

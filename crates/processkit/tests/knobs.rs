//! Spawn knobs, each observed from inside the child (`/proc/self/status`,
//! `ulimit`, `nice`, `taskset`, `ionice`, `$0`). The whole file runs on the
//! default spawner and, through `knobs_hold_on_the_std_spawner_too`, again
//! on the `std::process` fallback (`PROCESSKIT_SPAWNER=std`).
#![cfg(target_os = "linux")]

mod common;

use processkit::{Command, Error, IoPriority, Resource};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `script` in `sh` with the knobs `f` adds, returning trimmed stdout.
async fn observe(script: &str, f: impl FnOnce(Command) -> Command) -> String {
    f(Command::new("sh").args(["-c", script]))
        .run()
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

#[tokio::test]
async fn arg0_is_what_the_child_sees_as_its_name() {
    let out = observe(
        "tr '\\0' '\\n' < /proc/$$/cmdline | head -n 1; echo $0",
        |c| c.arg0("renamed-shell"),
    )
    .await;
    assert_eq!(out, "renamed-shell\nrenamed-shell");
}

#[tokio::test]
async fn umask_is_applied() {
    let out = observe("umask; grep ^Umask: /proc/$$/status", |c| c.umask(0o027)).await;
    assert_eq!(out, "0027\nUmask:\t0027");
}

#[tokio::test]
async fn rlimits_are_applied_soft_and_hard() {
    let out = observe(
        "ulimit -Sn; ulimit -Hn; grep 'Max core file size' /proc/$$/limits",
        |c| {
            c.rlimit(Resource::NoFile, 200, 300)
                .rlimit(Resource::Core, 0, 4096 * 1024)
        },
    )
    .await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["200", "300"]);
    let core: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(&core[4..6], ["0", "4194304"], "{out}");
    let limits = observe("grep 'Max open files' /proc/$$/limits", |c| {
        c.rlimit(Resource::NoFile, 123, 456)
    })
    .await;
    let fields: Vec<&str> = limits.split_whitespace().collect();
    assert_eq!(&fields[3..5], ["123", "456"], "{limits}");
}

#[tokio::test]
async fn priority_sets_the_nice_value() {
    let out = observe("nice; cut -d' ' -f19 /proc/$$/stat", |c| c.priority(7)).await;
    assert_eq!(out, "7\n7");
    if is_root() {
        let out = observe("nice", |c| c.priority(-3)).await;
        assert_eq!(out, "-3");
    } else {
        let err = Command::new("nice").priority(-3).run().await.unwrap_err();
        assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
    }
}

#[tokio::test]
async fn cpu_affinity_pins_the_child() {
    let cpus: Vec<usize> = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|list| parse_cpu_list(list.trim()))
        .unwrap();
    let last = *cpus.last().unwrap();
    let out = observe(
        "grep ^Cpus_allowed_list: /proc/$$/status | cut -f2; taskset -p $$ | sed 's/.*: //'",
        |c| c.cpu_affinity([last]),
    )
    .await;
    let mask = format!("{:x}", 1u128 << last);
    assert_eq!(out, format!("{last}\n{mask}"));
}

fn parse_cpu_list(list: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => out.push(part.parse().unwrap()),
        }
    }
    out
}

#[tokio::test]
async fn io_priority_is_what_ionice_reports() {
    let out = observe("ionice -p $$", |c| c.io_priority(IoPriority::Idle)).await;
    assert_eq!(out, "idle");
    let out = observe("ionice -p $$", |c| c.io_priority(IoPriority::BestEffort(6))).await;
    assert_eq!(out, "best-effort: prio 6");
}

#[tokio::test]
async fn supplementary_groups_are_set_and_survive_a_privilege_drop() {
    if !is_root() {
        let err = Command::new("id").groups([4242]).run().await.unwrap_err();
        assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
        return;
    }
    let out = observe("grep ^Groups: /proc/$$/status", |c| c.groups([4, 27, 4242])).await;
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["Groups:", "4", "27", "4242"]
    );
    // Knobs run before the privilege drop: a raised nice value and extra
    // groups still apply to a child that then becomes nobody.
    let out = observe("id -u; id -G; nice", |c| {
        c.uid(65534).gid(65534).groups([65534, 4242]).priority(-2)
    })
    .await;
    assert_eq!(out, "65534\n65534 4242\n-2");
}

#[tokio::test]
async fn bad_knob_values_are_invalid_input_naming_the_program() {
    let cases: Vec<(Command, &str)> = vec![
        (
            Command::new("true").rlimit(Resource::NoFile, 10, 5),
            "soft limit",
        ),
        (Command::new("true").cpu_affinity([]), "at least one CPU"),
        (Command::new("true").cpu_affinity([100_000]), "CPU 100000"),
        (
            Command::new("true").io_priority(IoPriority::BestEffort(9)),
            "level",
        ),
    ];
    for (cmd, words) in cases {
        let err = cmd.exit_code().await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { program, reason } if program == "true" && reason.contains(words)),
            "{err}"
        );
    }
}

#[tokio::test]
async fn an_rlimit_the_child_may_not_raise_is_a_typed_error() {
    if is_root() {
        // Root may raise any limit: start from a lowered hard limit as nobody.
        let err = Command::new("true")
            .uid(65534)
            .rlimit(Resource::NoFile, 64, 64)
            .exit_code()
            .await;
        assert_eq!(err.unwrap(), 0);
    }
    // A CPU that does not exist on this host: the kernel refuses the set.
    let err = Command::new("true")
        .cpu_affinity([1000])
        .exit_code()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Spawn { program, .. } if program == "true"),
        "{err}"
    );
}

#[tokio::test]
async fn knobs_hold_on_the_std_spawner_too() {
    if std::env::var("PROCESSKIT_SPAWNER").as_deref() == Ok("std") {
        // Already the std spawner: this whole file is the proof.
        let out = observe("umask", |c| c.umask(0o077)).await;
        assert_eq!(out, "0077");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let r = Command::new(&exe)
        .args([
            "--skip",
            "knobs_hold_on_the_std_spawner_too",
            "--test-threads=2",
        ])
        .env("PROCESSKIT_SPAWNER", "std")
        .timeout(std::time::Duration::from_secs(120))
        .output_string()
        .await
        .unwrap();
    assert_eq!(r.code(), Some(0), "{}\n{}", r.stdout(), r.stderr());
    let summary = r
        .stdout()
        .lines()
        .find(|l| l.starts_with("test result:"))
        .unwrap_or_default()
        .to_owned();
    let passed: u32 = summary
        .split_whitespace()
        .nth(3)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        passed >= 8,
        "too few knob tests ran on the std spawner: {summary}"
    );
}

//! `processkit doctor`: what this host gives, in plain words.

use processkit::{Mechanism, ProcessGroup, ProcessGroupOptions};
use serde_json::json;

use crate::args::DoctorArgs;
use crate::util::{self, EXIT_TOOL};

/// Whether one limit can be enforced here, found by asking the library for
/// a container with that limit alone.
fn limit(name: &str, opts: ProcessGroupOptions) -> (String, bool, Option<String>) {
    match ProcessGroup::with_options(opts) {
        Ok(_) => (name.to_owned(), true, None),
        Err(processkit::Error::ResourceLimit { reason, .. }) => {
            (name.to_owned(), false, Some(reason))
        }
        Err(e) => (name.to_owned(), false, Some(e.to_string())),
    }
}

/// The cgroup2 mount point, from `/proc/self/mountinfo`.
fn cgroup2_mount() -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        if right.split_whitespace().next()? == "cgroup2" {
            left.split_whitespace().nth(4).map(str::to_owned)
        } else {
            None
        }
    })
}

/// This process's cgroup v2 path, from `/proc/self/cgroup`.
fn own_cgroup() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
}

fn kernel_release() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Runs `processkit doctor` and returns the tool's exit code.
pub fn run(args: DoctorArgs) -> i32 {
    let pre = processkit::preflight();
    let limits = [
        limit(
            "memory-max",
            ProcessGroupOptions::default().memory_max(64 << 20),
        ),
        limit(
            "max-processes",
            ProcessGroupOptions::default().max_processes(64),
        ),
        limit("cpu-quota", ProcessGroupOptions::default().cpu_quota(1.0)),
    ];
    let mount = cgroup2_mount();
    let own = own_cgroup();
    let controllers = match (&mount, &own) {
        (Some(m), Some(o)) => {
            let path = format!("{m}{}/cgroup.controllers", if o == "/" { "" } else { o });
            std::fs::read_to_string(path)
                .ok()
                .map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        }
        _ => None,
    };
    let guarantee = processkit::guarantee();
    if args.json {
        let doc = json!({
            "schema": "processkit-doctor",
            "version": 1,
            "mechanism": pre.mechanism.to_string(),
            "host_mechanism": pre.host_mechanism.to_string(),
            "contains_setsid": pre.mechanism.contains_setsid(),
            "fallback_reason": pre.fallback_reason,
            "spawner": pre.spawner,
            "guarantee": guarantee.to_string(),
            "limits": limits.iter().map(|(n, ok, why)| (n.clone(), json!({"enforceable": ok, "reason": why}))).collect::<serde_json::Map<_, _>>(),
            "kernel": {
                "os": std::env::consts::OS,
                "release": kernel_release(),
                "cgroup2_mount": mount,
                "cgroup": own,
                "controllers": controllers,
            },
        });
        return match util::write_json(std::path::Path::new("-"), &doc) {
            Ok(()) => 0,
            Err(e) => {
                util::complain(format!("cannot write the report: {e}"));
                EXIT_TOOL
            }
        };
    }
    let what = match pre.mechanism {
        Mechanism::CgroupV2 | Mechanism::JobObject => {
            "every descendant is contained, daemons that call setsid or double-fork included"
        }
        Mechanism::ProcessGroup => {
            "descendants are contained unless they call setsid or setpgid (daemons can escape)"
        }
        _ => "descendants are not contained",
    };
    println!("containment:  {} ({what})", pre.mechanism);
    if pre.host_mechanism != pre.mechanism {
        println!(
            "              the host offers {}, but PROCESSKIT_MECHANISM asks for {}",
            pre.host_mechanism, pre.mechanism
        );
    }
    if let Some(why) = &pre.fallback_reason {
        println!("              not stronger because: {why}");
    }
    println!("spawner:      {}", pre.spawner);
    println!("if this tool is killed: {guarantee}");
    println!("limits:");
    for (name, ok, why) in &limits {
        match (ok, why) {
            (true, _) => println!("  --{name}: enforceable"),
            (false, Some(why)) => println!("  --{name}: refused here ({why})"),
            (false, None) => println!("  --{name}: refused here"),
        }
    }
    println!(
        "kernel:       {} {}",
        std::env::consts::OS,
        kernel_release().unwrap_or_else(|| "unknown".into())
    );
    match &mount {
        Some(m) => {
            println!(
                "cgroup2:      mounted at {m}; this process is in {}",
                own.as_deref().unwrap_or("?")
            );
            match &controllers {
                Some(c) if !c.is_empty() => println!("controllers:  {}", c.join(" ")),
                _ => println!("controllers:  none offered here"),
            }
        }
        None => println!("cgroup2:      not mounted"),
    }
    0
}

//! `processkit ps` and `processkit sweep`: this user's containers (cgroup
//! directories and subreaper helpers), and the removal of those whose
//! owner has died.

use processkit::{ContainerInfo, OwnerState};
use serde_json::json;

use crate::args::{PsArgs, SweepArgs};
use crate::util::{self, EXIT_TOOL};

fn state(s: OwnerState) -> &'static str {
    match s {
        OwnerState::Alive => "alive",
        OwnerState::Dead => "dead",
        _ => "unknown",
    }
}

fn members_text(c: &ContainerInfo) -> String {
    c.members
        .iter()
        .map(|p| format!("{p} ({})", util::program_of(*p)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn memory_text(c: &ContainerInfo) -> String {
    c.memory_bytes
        .map(|b| format!("{:.1} MiB", b as f64 / 1048576.0))
        .unwrap_or_else(|| "-".into())
}

/// Runs `processkit ps` and returns the tool's exit code.
pub fn ps(args: PsArgs) -> i32 {
    let list = match processkit::containers() {
        Ok(l) => l,
        Err(e) => {
            util::complain(e);
            return EXIT_TOOL;
        }
    };
    if args.json {
        let doc = json!({
            "schema": "processkit-ps",
            "version": 1,
            "containers": list.iter().map(|c| json!({
                "path": c.path.display().to_string(),
                "mechanism": c.mechanism.to_string(),
                "owner_pid": c.owner_pid,
                "owner": state(c.owner),
                "command": c.owner_command,
                "members": c.members.iter().map(|p| json!({"pid": p, "program": util::program_of(*p)})).collect::<Vec<_>>(),
                "memory_bytes": c.memory_bytes,
            })).collect::<Vec<_>>(),
        });
        return match util::write_json(std::path::Path::new("-"), &doc) {
            Ok(()) => 0,
            Err(e) => {
                util::complain(format!("cannot write the list: {e}"));
                EXIT_TOOL
            }
        };
    }
    if list.is_empty() {
        println!("no containers of this user");
        return 0;
    }
    println!(
        "{:>8}  {:<7}  {:>7}  {:>10}  COMMAND",
        "OWNER", "STATE", "MEMBERS", "MEMORY"
    );
    for c in &list {
        let owner = c
            .owner_pid
            .map(|p| p.to_string())
            .unwrap_or_else(|| "?".into());
        let command = c.owner_command.clone().unwrap_or_else(|| "-".into());
        println!(
            "{owner:>8}  {:<7}  {:>7}  {:>10}  {command}",
            state(c.owner),
            c.members.len(),
            memory_text(c)
        );
        if !c.members.is_empty() {
            println!("{:>8}  members: {}", "", members_text(c));
        }
        println!("{:>8}  {} ({})", "", c.path.display(), c.mechanism);
    }
    0
}

/// Runs `processkit sweep` and returns the tool's exit code.
pub fn sweep(args: SweepArgs) -> i32 {
    // The members' names, read before they are killed.
    let before = match processkit::containers() {
        Ok(l) => l,
        Err(e) => {
            util::complain(e);
            return EXIT_TOOL;
        }
    };
    let dead: Vec<&ContainerInfo> = before
        .iter()
        .filter(|c| c.owner == OwnerState::Dead)
        .collect();
    let names: Vec<(std::path::PathBuf, String)> = dead
        .iter()
        .map(|c| (c.path.clone(), members_text(c)))
        .collect();
    if args.dry_run {
        if dead.is_empty() {
            println!("nothing to sweep");
        }
        for c in dead {
            println!(
                "would remove {} (owner {} is dead; {} process{} left{})",
                c.path.display(),
                c.owner_pid
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "?".into()),
                c.members.len(),
                if c.members.len() == 1 { "" } else { "es" },
                if c.members.is_empty() {
                    String::new()
                } else {
                    format!(": {}", members_text(c))
                }
            );
        }
        return 0;
    }
    let (removed, code) = match processkit::sweep_containers() {
        Ok(r) => (r, 0),
        Err(e) => {
            util::complain(e);
            (Vec::new(), EXIT_TOOL)
        }
    };
    if removed.is_empty() && code == 0 {
        println!("nothing to sweep");
    }
    for c in &removed {
        let killed = names
            .iter()
            .find(|(p, _)| *p == c.path)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| {
                c.members
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            });
        println!(
            "removed {} (owner {} was dead; killed {} process{}{})",
            c.path.display(),
            c.owner_pid
                .map(|p| p.to_string())
                .unwrap_or_else(|| "?".into()),
            c.members.len(),
            if c.members.len() == 1 { "" } else { "es" },
            if killed.is_empty() {
                String::new()
            } else {
                format!(": {killed}")
            }
        );
    }
    code
}

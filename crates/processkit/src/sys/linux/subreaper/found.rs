//! Finding the subreaper helpers of every process on this host, for
//! [`crate::containers`] and [`crate::sweep_containers`].
//!
//! A helper is the host's own executable re-run with the argument
//! `processkit-subreaper` and, after it, the host's identity
//! `<pid>-<start time>` (see `helper_plan`). That is enough to list them
//! from `/proc` without asking their owners: the owner is alive while a
//! process with that pid and start time exists.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use super::tree;
use crate::sys::linux::procfs;

/// The first argument of every helper.
pub(crate) const ARG: &str = "processkit-subreaper";

/// One helper and the tree below it.
pub(crate) struct FoundHelper {
    /// The helper's pid.
    pub pid: u32,
    /// The host that started it.
    pub owner_pid: u32,
    /// Whether that host still runs.
    pub owner_alive: bool,
    /// The uid the helper runs as.
    pub uid: u32,
    /// Its live descendants.
    pub members: Vec<u32>,
    /// The sum of the members' resident set sizes.
    pub resident_bytes: Option<u64>,
}

/// Parses a helper's command line: `(owner pid, owner start time)`.
fn owner_of(cmdline: &[u8]) -> Option<(u32, u64)> {
    let mut words = cmdline.split(|b| *b == 0);
    let _exe = words.next()?;
    if words.next()? != ARG.as_bytes() {
        return None;
    }
    let id = std::str::from_utf8(words.next()?).ok()?;
    let (pid, start) = id.split_once('-')?;
    Some((pid.parse().ok()?, start.parse().ok()?))
}

/// Whether `pid` is a helper factory (it shares the helpers' command line,
/// but holds no tree of its own: its children are helpers, listed by
/// themselves).
fn is_factory(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_ascii_end() == super::forge::COMM.to_bytes())
        .unwrap_or(false)
}

fn resident(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Every helper visible in this process's `/proc`, sorted by pid.
pub(crate) fn find_helpers() -> Vec<FoundHelper> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let Some((owner_pid, owner_start)) = owner_of(&cmdline) else {
            continue;
        };
        let Ok(meta) = e.metadata() else { continue };
        // A pidfd proves the pid still names the helper after the walk.
        let Some(fd) = rustix::process::Pid::from_raw(pid as i32).and_then(|p| {
            rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok()
        }) else {
            continue;
        };
        if is_factory(pid) {
            continue;
        }
        let members = tree::live(tree::Root {
            pid,
            fd: Some(fd.as_fd()),
        });
        let resident_bytes = members
            .iter()
            .map(|p| resident(*p))
            .try_fold(0u64, |sum, r| r.map(|r| sum + r));
        out.push(FoundHelper {
            pid,
            owner_pid,
            owner_alive: procfs::start_time(owner_pid) == Some(owner_start),
            uid: meta.uid(),
            members,
            resident_bytes,
        });
    }
    out.sort_by_key(|h| h.pid);
    out
}

/// Takes down a helper whose owner died and the tree below it (the
/// helper normally does this itself when its socket reaches end-of-file;
/// this is for one that cannot, for example one that was stopped). Waits
/// up to 5 s for the helper to be gone. Signals only through pidfds: the
/// tree is checked member by member, and the helper's own pidfd is opened
/// before its command line is checked again.
pub(crate) fn remove_helper(pid: u32, owner_pid: u32) -> std::io::Result<()> {
    let raw = rustix::process::Pid::from_raw(pid as i32)
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let fd = rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty())?;
    let again = std::fs::read(format!("/proc/{pid}/cmdline"))?;
    if owner_of(&again).map(|(o, _)| o) != Some(owner_pid) {
        return Ok(()); // It exited, and the pid now names something else.
    }
    tree::kill(tree::Root {
        pid,
        fd: Some(fd.as_fd()),
    });
    tree::send(&fd, libc::SIGKILL);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .and_then(|c| owner_of(&c))
        .is_some()
    {
        if std::time::Instant::now() > deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the subreaper helper {pid} did not exit"),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_owner_from_the_command_line() {
        assert_eq!(
            owner_of(b"/proc/self/exe\0processkit-subreaper\x0012-345\0"),
            Some((12, 345))
        );
        assert_eq!(owner_of(b"/bin/sh\0-c\0true\0"), None);
        assert_eq!(owner_of(b"x\0processkit-subreaper\0"), None);
        assert_eq!(owner_of(b"x\0processkit-subreaper\0a-b\0"), None);
    }
}

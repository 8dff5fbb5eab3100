//! What `/proc` says about this process and others: the cgroup2 mount
//! point, this process's own cgroup, a process's start time and the pid
//! namespace. A leaf of `sys/linux/`, read by the cgroup and systemd
//! backends, the subreaper helpers and the guardian.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The cgroup2 mount point: one of the usual places when `statfs` finds it
/// there, else from `/proc/self/mountinfo`.
pub(crate) fn cgroup2_mount() -> Option<PathBuf> {
    cgroup2_mount_or_error().ok().flatten()
}

/// The cgroup2 mount point; `Ok(None)` when none is mounted, `Err` when
/// `/proc/self/mountinfo` had to be read and could not be.
pub(crate) fn cgroup2_mount_or_error() -> io::Result<Option<PathBuf>> {
    match usual_cgroup2_mount() {
        Some(at) => Ok(Some(at)),
        None => mountinfo_cgroup2_mount(),
    }
}

/// Where cgroup2 is mounted on nearly every host: `/sys/fs/cgroup` (the
/// unified hierarchy) or `/sys/fs/cgroup/unified` (hybrid hosts).
const USUAL_MOUNTS: [&str; 2] = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];

/// `statfs`'s filesystem type of cgroup2.
const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;

/// The first of [`USUAL_MOUNTS`] that is the root of a cgroup2 mount
/// (`statfs` says cgroup2 and its device differs from its parent's): a few
/// syscalls instead of the kernel formatting every mount of the namespace.
fn usual_cgroup2_mount() -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    USUAL_MOUNTS.iter().find_map(|at| {
        let fs_type = rustix::fs::statfs(*at).ok()?.f_type;
        #[allow(clippy::unnecessary_cast)] // the type's width varies by target
        if fs_type as u64 != CGROUP2_SUPER_MAGIC {
            return None;
        }
        let at = Path::new(at);
        let dev = fs::metadata(at).ok()?.dev();
        let parent = fs::metadata(at.parent()?).ok()?.dev();
        (dev != parent).then(|| at.to_path_buf())
    })
}

/// The first cgroup2 mount listed in `/proc/self/mountinfo`.
fn mountinfo_cgroup2_mount() -> io::Result<Option<PathBuf>> {
    let info = fs::read_to_string("/proc/self/mountinfo")?;
    for line in info.lines() {
        // fields: id parent major:minor root mountpoint opts ... - fstype source superopts
        let Some((pre, post)) = line.split_once(" - ") else {
            return Ok(None);
        };
        if post.split_whitespace().next() == Some("cgroup2") {
            let Some(mount) = pre.split_whitespace().nth(4) else {
                return Ok(None);
            };
            return Ok(Some(PathBuf::from(unescape_mount(mount))));
        }
    }
    Ok(None)
}

fn unescape_mount(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo (octal).
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's cgroup v2 path (the `0::` line of `/proc/self/cgroup`).
/// The cgroup backend and the systemd backend ask for it.
#[cfg_attr(not(feature = "systemd"), allow(dead_code))]
pub(crate) fn own_cgroup() -> Option<String> {
    own_cgroup_or_error().ok().flatten()
}

pub(crate) fn own_cgroup_or_error() -> io::Result<Option<String>> {
    let text = fs::read_to_string("/proc/self/cgroup")?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim_end_matches(" (deleted)").to_owned()))
}

/// The start time (clock ticks since boot) of `pid`, field 22 of its stat file.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    start_time_of(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Field 22 of a `/proc/<pid>/stat` text.
pub(crate) fn start_time_of(stat: &str) -> Option<u64> {
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The inode of this process's pid namespace.
pub(crate) fn own_pid_namespace() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self/ns/pid").ok().map(|m| m.ino())
}

/// Whether the `/proc` mounted here shows this process's own pid namespace
/// (in a new namespace without its own `/proc`, it shows the parent's).
pub(crate) fn proc_is_own_namespace() -> bool {
    fs::read_link("/proc/self")
        .is_ok_and(|l| l.as_os_str() == std::process::id().to_string().as_str())
}

#[cfg(test)]
mod tests {
    /// The `statfs` shortcut and `/proc/self/mountinfo` name the same
    /// mount: when the shortcut finds one it is mountinfo's cgroup2 mount,
    /// and when it finds none, mountinfo has no cgroup2 at a usual place.
    #[test]
    fn the_statfs_shortcut_agrees_with_mountinfo() {
        let listed = super::mountinfo_cgroup2_mount().unwrap();
        match super::usual_cgroup2_mount() {
            Some(at) => assert_eq!(Some(at), listed),
            None => assert!(
                listed.as_deref().is_none_or(|m| !super::USUAL_MOUNTS
                    .iter()
                    .any(|u| m == std::path::Path::new(u))),
                "mountinfo lists cgroup2 at {listed:?}, statfs did not find it"
            ),
        }
        assert_eq!(super::cgroup2_mount(), listed);
    }

    #[test]
    fn mountinfo_escapes_are_decoded_without_panicking() {
        assert_eq!(super::unescape_mount("/a\\040b"), "/a b");
        assert_eq!(super::unescape_mount("/plain"), "/plain");
        assert_eq!(super::unescape_mount("/x\\é1"), "/x\\é1");
        assert_eq!(super::unescape_mount("/end\\04"), "/end\\04");
    }
}

//! Which process groups still have a live member, from one pass over
//! `/proc`: the liveness check of the process-group mechanism, whose held
//! zombie leader keeps `kill(-pgid, 0)` succeeding after the group is over.

use std::collections::HashSet;
use std::io;

/// Which of the process groups `wanted` have at least one live (non-zombie)
/// process, from one pass over `/proc`.
///
/// Each listed pid is asked for its group with `getpgid` (one syscall, no
/// file opened); only a process in one of the wanted groups has its
/// `stat` read, to tell a live member from a zombie (such as the held
/// leader). Where `getpgid` is refused (a security module), `stat` says
/// both.
pub(crate) fn live_pgids(wanted: &[u32]) -> HashSet<u32> {
    let mut live = HashSet::new();
    if wanted.is_empty() {
        return live;
    }
    let _ = scan(wanted, |pg| {
        live.insert(pg);
        // Every wanted group is known to be live: the pass can stop.
        live.len() < wanted.len()
    });
    live
}

/// How many live (non-zombie) processes are in the process groups
/// `wanted`, from one pass over `/proc`, asked as in [`live_pgids`].
pub(crate) fn count_live_in(wanted: &[u32]) -> io::Result<u64> {
    let mut count = 0;
    if wanted.is_empty() {
        return Ok(0);
    }
    scan(wanted, |_| {
        count += 1;
        true
    })?;
    Ok(count)
}

/// Calls `found` with the group of each live process in one of the groups
/// `wanted`, until it returns `false`.
fn scan(wanted: &[u32], mut found: impl FnMut(u32) -> bool) -> io::Result<()> {
    for e in std::fs::read_dir("/proc")?.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        // SAFETY: plain syscall with an integer argument. (Not rustix's
        // `getpgid`: a kernel thread's group is 0, which its `Pid` cannot
        // hold.)
        let pg = unsafe { libc::getpgid(pid as libc::pid_t) };
        if pg >= 0 && !wanted.contains(&(pg as u32)) {
            continue;
        }
        if pg < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
            continue;
        }
        if let Some((state, pg)) = stat_state_and_pgrp(pid)
            && wanted.contains(&pg)
            && state != b'Z'
            && state != b'X'
            && !found(pg)
        {
            break;
        }
    }
    Ok(())
}

/// The state letter and process group of `pid`, from `/proc/<pid>/stat`
/// read with one `read` into a stack buffer.
pub(crate) fn stat_state_and_pgrp(pid: u32) -> Option<(u8, u32)> {
    use std::io::Read;
    let mut f = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid pgrp ...": the comm is at most 64 bytes, so the
    // fields wanted are well inside the first 256.
    let mut buf = [0u8; 256];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    let text = &buf[..n];
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut fields = text.get(close + 2..)?.split(|&b| b == b' ');
    let state = *fields.next()?.first()?;
    let _ppid = fields.next()?;
    let pg = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    Some((state, pg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};

    /// A group with one live process is found and counted; once that
    /// process is a zombie (not reaped yet, like the held leader) the group
    /// is over, although `kill(-pgid, 0)` still succeeds.
    #[test]
    fn a_zombie_leader_alone_is_not_a_live_group() {
        let mut child = std::process::Command::new("sleep")
            .arg("300")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id();
        assert!(live_pgids(&[pgid]).contains(&pgid));
        assert_eq!(count_live_in(&[pgid]).unwrap(), 1);
        assert_eq!(stat_state_and_pgrp(pgid).map(|(_, pg)| pg), Some(pgid));
        // A group nobody is in.
        assert!(live_pgids(&[u32::MAX / 2]).is_empty());

        child.kill().unwrap();
        // Wait (with a deadline) for the zombie, without reaping it.
        let start = Instant::now();
        while stat_state_and_pgrp(pgid).map(|(s, _)| s) != Some(b'Z') {
            assert!(start.elapsed() < Duration::from_secs(10), "no zombie");
            std::thread::sleep(Duration::from_millis(5));
        }
        let pg = rustix::process::Pid::from_raw(pgid as i32).unwrap();
        assert!(rustix::process::test_kill_process_group(pg).is_ok());
        assert!(live_pgids(&[pgid]).is_empty());
        assert_eq!(count_live_in(&[pgid]).unwrap(), 0);
        child.wait().unwrap();
    }
}

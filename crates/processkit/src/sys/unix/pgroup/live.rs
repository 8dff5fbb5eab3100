//! Telling a live group from one whose only process left is its zombie
//! leader (see the module docs of `pgroup`).

use std::io;

/// Whether any non-zombie process is in group `pgid`.
///
/// A zombie leader (kept on purpose, see the module docs) does not count:
/// otherwise a group whose every process has exited would look alive until
/// the container is dropped, and a graceful shutdown would wait out its
/// whole grace period for nothing.
pub(crate) fn group_alive(pgid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        // No process at all in the group: cheap to rule out. A zombie leader
        // still counts for kill(0), so a "yes" needs a look at /proc.
        if !kill_probe(pgid) {
            return false;
        }
        live_pgids(&[pgid]).contains(&pgid)
    }
    #[cfg(any(target_os = "macos", target_os = "freebsd"))]
    {
        live_member(pgid).unwrap_or_else(|| kill_probe(pgid))
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "freebsd")))]
    {
        kill_probe(pgid)
    }
}

/// Which of the wanted process groups have a live (non-zombie) process,
/// from one pass over `/proc` (`getpgid` for each pid, `stat` only for
/// members of the wanted groups).
#[cfg(target_os = "linux")]
pub(super) use crate::sys::linux::pgscan::live_pgids;

/// `kill(-pgid, 0)`: whether the group has any process at all. Most kernels
/// count a zombie leader here, so this is only the fallback where the group
/// cannot be listed. `EPERM` means a member exists that may not be
/// signalled (it changed its user id): it is alive.
fn kill_probe(pgid: u32) -> bool {
    // SAFETY: plain syscall with integer arguments; signal 0 only checks.
    if unsafe { libc::kill(-(pgid as libc::pid_t), 0) } == 0 {
        return true;
    }
    io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// macOS: lists the group with `proc_listpgrppids` and asks each member's
/// state with `proc_pidinfo`. `None` when the group cannot be listed.
#[cfg(target_os = "macos")]
fn live_member(pgid: u32) -> Option<bool> {
    let mut cap = 64usize;
    loop {
        let mut pids: Vec<libc::pid_t> = vec![0; cap];
        let bytes = libc::c_int::try_from(cap * std::mem::size_of::<libc::pid_t>()).ok()?;
        // SAFETY: `__error` returns this thread's errno slot; clearing it
        // tells an empty group (0, errno 0) from a failure (0, errno set).
        unsafe { *libc::__error() = 0 };
        // SAFETY: the buffer holds `cap` pids, exactly `bytes` long, and
        // lives across the call.
        let n = unsafe {
            libc::proc_listpgrppids(pgid as libc::pid_t, pids.as_mut_ptr().cast(), bytes)
        };
        if n < 0 || (n == 0 && io::Error::last_os_error().raw_os_error().unwrap_or(0) != 0) {
            return None;
        }
        let n = n as usize;
        if n >= cap {
            // Possibly cut short: ask again with room to spare.
            cap = cap.checked_mul(4).filter(|&c| c <= 1 << 20)?;
            continue;
        }
        return Some(
            pids[..n]
                .iter()
                .any(|&pid| pid > 0 && live_in_group(pid, pgid)),
        );
    }
}

/// macOS: `true` unless `pid` is a zombie, gone, or now in another group.
/// A process this user may not inspect exists: it counts as live.
#[cfg(target_os = "macos")]
fn live_in_group(pid: libc::pid_t, pgid: u32) -> bool {
    // SAFETY: `proc_bsdinfo` is plain C data; all zeroes is a valid value.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
    // SAFETY: `info` is a live, writable `proc_bsdinfo` of `size` bytes.
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            (&mut info as *mut libc::proc_bsdinfo).cast(),
            size,
        )
    };
    if n == size {
        return info.pbi_status != libc::SZOMB && info.pbi_pgid == pgid;
    }
    io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// FreeBSD: `kern.proc.pgrp.<pgid>` lists the group's processes, zombies
/// with `ki_stat == SZOMB`. `None` when the group cannot be listed.
#[cfg(target_os = "freebsd")]
fn live_member(pgid: u32) -> Option<bool> {
    let mib = [
        libc::CTL_KERN,
        libc::KERN_PROC,
        libc::KERN_PROC_PGRP,
        pgid as libc::c_int,
    ];
    let stride = std::mem::size_of::<libc::kinfo_proc>();
    let mut want = 8usize;
    loop {
        let mut buf: Vec<libc::kinfo_proc> = Vec::with_capacity(want);
        let mut bytes = want * stride;
        // SAFETY: `buf` has room for `want` entries, `bytes` long; the kernel
        // writes at most `bytes` and reports how many it wrote.
        let rc = unsafe {
            libc::sysctl(
                mib.as_ptr(),
                mib.len() as libc::c_uint,
                buf.as_mut_ptr().cast(),
                &mut bytes,
                std::ptr::null(),
                0,
            )
        };
        if rc != 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::ENOMEM) {
                want = want.checked_mul(4).filter(|&w| w <= 1 << 16)?;
                continue;
            }
            return None;
        }
        let n = (bytes / stride).min(want);
        // SAFETY: the kernel wrote `bytes` bytes, which cover the first `n`
        // entries; `kinfo_proc` is plain C data.
        unsafe { buf.set_len(n) };
        if buf
            .first()
            .is_some_and(|k| k.ki_structsize as usize != stride)
        {
            return None; // another kernel ABI: do not guess at the layout
        }
        return Some(
            buf.iter()
                .any(|k| k.ki_stat != libc::SZOMB && k.ki_pgid == pgid as libc::pid_t),
        );
    }
}

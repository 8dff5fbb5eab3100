//! The helper program (a re-exec of the host's own binary, as a helper or
//! as the helper factory) and the socket pairs that connect the host to it.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use super::{entry, found};
use crate::sys::unix::prep::ExecPlan;

/// The helper program (or, with `factory`, the helper factory), prepared
/// once.
fn helper_plan(factory: bool) -> &'static ExecPlan {
    static PLANS: [OnceLock<ExecPlan>; 2] = [OnceLock::new(), OnceLock::new()];
    PLANS[usize::from(factory)].get_or_init(|| {
        let exe = c"/proc/self/exe".to_owned();
        // The owner's identity after the marker argument lets `processkit
        // ps` (through `found`) list helpers and judge their owners.
        let me = std::process::id();
        let owner = format!(
            "{me}-{}",
            crate::sys::linux::procfs::start_time(me).unwrap_or(0)
        );
        let argv = vec![
            exe.clone(),
            std::ffi::CString::new(found::ARG).expect("no NUL in the argument"),
            std::ffi::CString::new(owner).expect("no NUL in a number"),
        ];
        let value = if factory {
            entry::FACTORY_VALUE.to_str().expect("ASCII")
        } else {
            "1"
        };
        let mut envp = vec![
            std::ffi::CString::new(format!("{}={value}", entry::MARKER))
                .expect("no NUL in the marker"),
        ];
        if factory {
            // The dynamic loader binds every symbol once, in the factory:
            // otherwise each forked helper resolves the C library calls it
            // makes for itself, lazily, and copies the pages it patches.
            envp.push(c"LD_BIND_NOW=1".to_owned());
        }
        ExecPlan::from_parts(exe, argv, envp, None, None)
    })
}

/// Why [`reexec`] failed.
pub(super) enum ReexecError {
    /// `/dev/null` (the helper's output) could not be opened.
    Null(io::Error),
    /// The spawn itself failed.
    Spawn(crate::sys::linux::spawn::SpawnFailure),
}

/// Starts the host's binary again as a helper (with `factory`, as the
/// helper factory): `sock` as its standard input, `/dev/null` as its
/// output. Returns its pid and a pidfd on it.
pub(super) fn reexec(factory: bool, sock: &OwnedFd) -> Result<(u32, OwnedFd), ReexecError> {
    use std::os::fd::AsRawFd;
    let null = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| ReexecError::Null(e.into()))?;
    let setup = crate::sys::linux::spawn::Setup {
        plan: helper_plan(factory),
        cgroup: -1,
        pgroup: crate::sys::linux::spawn::PgMode::Inherit,
        stdio: [sock.as_raw_fd(), null.as_raw_fd(), null.as_raw_fd()],
        uid: None,
        gid: None,
        pdeathsig: false,
    };
    crate::sys::linux::spawn::spawn(&setup).map_err(ReexecError::Spawn)
}

/// A close-on-exec Unix socket pair of `kind` (`SOCK_STREAM`,
/// `SOCK_SEQPACKET`).
pub(super) fn socketpair(kind: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: socketpair writes two new fds into the array on success; each
    // is then owned by exactly one `OwnedFd`.
    unsafe {
        if libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        use std::os::fd::FromRawFd;
        Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])))
    }
}

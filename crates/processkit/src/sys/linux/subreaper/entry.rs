//! The library constructor that turns a re-executed host binary into a
//! subreaper helper or a helper factory.
//!
//! The constructor ([`entry`], run by the dynamic loader before `main`)
//! looks for the marker variable in the environment and for a socket on
//! fd 0. Only with both does the process become a helper (or, with the
//! marker's value `factory`, the helper factory); it then never returns to
//! the program's own startup code and leaves with `_exit`.

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{forge, helper};

/// The environment variable that marks a helper (only ever set in a
/// helper's own environment, which holds nothing else).
pub(crate) const MARKER: &str = "PROCESSKIT_SUBREAPER_HELPER";
const MARKER_C: &std::ffi::CStr = c"PROCESSKIT_SUBREAPER_HELPER";
/// The marker's value in a helper factory (any other value: a helper).
pub(crate) const FACTORY_VALUE: &std::ffi::CStr = c"factory";

/// Set by the constructor in every process that links this crate: proof
/// that a re-executed host binary will run [`entry`] too.
pub(crate) static CONSTRUCTOR_RAN: AtomicBool = AtomicBool::new(false);

ctor::declarative::ctor! {
    #[ctor(unsafe)]
    fn processkit_subreaper_entry() {
        entry();
    }
}

/// The constructor's body.
fn entry() {
    CONSTRUCTOR_RAN.store(true, Ordering::Relaxed);
    // SAFETY: getenv with a NUL-terminated name, before `main` (no other
    // thread can be changing the environment yet).
    let marked = unsafe { !libc::getenv(MARKER_C.as_ptr()).is_null() };
    if !marked {
        return;
    }
    // SAFETY: `stat` is plain C data, written by fstat.
    let is_socket = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(0, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK
    };
    if !is_socket {
        return;
    }
    // SAFETY: as above; the value is a NUL-terminated C string.
    let factory = unsafe {
        let v = libc::getenv(MARKER_C.as_ptr());
        std::ffi::CStr::from_ptr(v) == FACTORY_VALUE
    };
    // SAFETY: plain syscalls on fds this process owns; the duplicated
    // socket is owned by `sock` from here on.
    let sock = unsafe {
        let fd = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 {
            libc::_exit(120);
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::close(null);
        }
        OwnedFd::from_raw_fd(fd)
    };
    let code = if factory {
        forge::run(sock)
    } else {
        helper::run(sock, false)
    };
    // SAFETY: ends the process without running the program's own exit
    // handlers (it never started).
    unsafe { libc::_exit(code) }
}

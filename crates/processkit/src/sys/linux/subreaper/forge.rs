//! The helper factory's own side: a re-executed host binary that forks a
//! fresh helper for each request of its host, and the host attributes
//! every request carries.
//!
//! The factory is single-threaded and small (it never ran the program's
//! own `main`), so a `fork` of it is far cheaper than an exec of the host
//! binary. It reads messages from its host on a `SOCK_SEQPACKET` socket:
//!
//! * `F` + [`Attrs`], with two fds attached: the helper's end of a new
//!   socket pair and the host's working directory (`O_PATH`). The factory
//!   forks; the new process closes the factory's fds, takes on the host's
//!   current attributes and runs as an ordinary helper on that socket
//!   (`helper::run`). A failed fork closes the socket: the host sees
//!   end-of-file and starts that helper itself.
//! * `R` + a pid: the host let go of that helper. Only then may the factory
//!   reap it (once it has exited), so the pid cannot be reused while the
//!   host may still walk the tree below it or signal from it.
//! * End-of-file: the host is gone. Every helper is released; the factory
//!   waits for all of them (each one sees end-of-file on its own socket and
//!   takes its tree down) and exits.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use super::{helper, wire};

/// The factory's process name (`/proc/<pid>/comm`), which tells it apart
/// from the helpers it forks (they share its command line).
pub(crate) const COMM: &std::ffi::CStr = c"processkit-fact";

/// Message tags.
pub(super) const FORK: u8 = b'F';
pub(super) const RELEASE: u8 = b'R';

/// The resource limits carried (`RLIMIT_CPU` to `RLIMIT_RTTIME`).
const NLIMITS: usize = 16;
/// The signals whose disposition is carried (standard and real-time).
const NSIG: i32 = 64;
const CPUSET: usize = std::mem::size_of::<libc::cpu_set_t>();
/// The size of a fork request.
pub(super) const FORK_LEN: usize = 4 + 4 + 4 + 8 + NLIMITS * 16 + 1 + CPUSET;

/// What a helper would inherit from its host if the host started it: read
/// in the host at each spawn, applied by the forked helper.
pub(super) struct Attrs {
    umask: u32,
    nice: i32,
    /// Bit `n - 1` set: signal `n` is ignored.
    ignored: u64,
    rlimits: [(u64, u64); NLIMITS],
    cpus: Option<[u8; CPUSET]>,
}

/// The calling thread's umask and the process's ignored signals (bit
/// `n - 1` for signal `n`), from one read of its `status` file: `umask(2)`
/// cannot be read without changing it while another thread may be creating
/// files, and the file's `SigIgn` mask saves one `sigaction` call per
/// signal.
fn umask_and_ignored() -> Option<(u32, u64)> {
    let text = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let umask = u32::from_str_radix(field("Umask:")?, 8).ok()?;
    let ignored = u64::from_str_radix(field("SigIgn:")?, 16).ok()?;
    Some((umask, ignored))
}

impl Attrs {
    /// The calling thread's attributes now. `None` if one cannot be read
    /// (the spawn then starts its helper directly, as without a factory).
    pub(super) fn capture() -> Option<Attrs> {
        let (umask, ignored) = umask_and_ignored()?;
        // SAFETY: errno is thread-local; getpriority has no other effect.
        let nice = unsafe {
            *libc::__errno_location() = 0;
            let n = libc::getpriority(libc::PRIO_PROCESS, 0);
            if n == -1 && *libc::__errno_location() != 0 {
                return None;
            }
            n
        };
        let mut rlimits = [(0u64, 0u64); NLIMITS];
        for (res, slot) in rlimits.iter_mut().enumerate() {
            // SAFETY: getrlimit writes one struct through the pointer.
            unsafe {
                let mut r: libc::rlimit = std::mem::zeroed();
                if libc::getrlimit(res as _, &mut r) != 0 {
                    return None;
                }
                *slot = (r.rlim_cur, r.rlim_max);
            }
        }
        // SAFETY: cpu_set_t is plain bits; the kernel writes at most its size.
        let cpus = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            (libc::sched_getaffinity(0, CPUSET, &mut set) == 0)
                .then(|| std::mem::transmute::<libc::cpu_set_t, [u8; CPUSET]>(set))
        };
        Some(Attrs {
            umask,
            nice,
            ignored,
            rlimits,
            cpus,
        })
    }

    /// The fork request carrying these attributes.
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FORK_LEN);
        out.extend_from_slice(&[FORK, 0, 0, 0]);
        out.extend_from_slice(&self.umask.to_le_bytes());
        out.extend_from_slice(&self.nice.to_le_bytes());
        out.extend_from_slice(&self.ignored.to_le_bytes());
        for (soft, hard) in self.rlimits {
            out.extend_from_slice(&soft.to_le_bytes());
            out.extend_from_slice(&hard.to_le_bytes());
        }
        match &self.cpus {
            Some(c) => {
                out.push(1);
                out.extend_from_slice(c);
            }
            None => out.extend_from_slice(&[0u8; CPUSET + 1]),
        }
        out
    }

    fn decode(b: &[u8]) -> Option<Attrs> {
        if b.len() != FORK_LEN || b[0] != FORK {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let mut rlimits = [(0u64, 0u64); NLIMITS];
        for (i, slot) in rlimits.iter_mut().enumerate() {
            *slot = (u64_at(20 + i * 16), u64_at(28 + i * 16));
        }
        let at = 20 + NLIMITS * 16;
        let cpus = (b[at] != 0).then(|| b[at + 1..].try_into().expect("a cpu set"));
        Some(Attrs {
            umask: u32_at(4),
            nice: u32_at(8) as i32,
            ignored: u64_at(12),
            rlimits,
            cpus,
        })
    }

    /// Makes the calling (forked helper) process look like its host now.
    /// `base` is what the helper inherited: the factory's own attributes,
    /// captured once when it set itself up (they never change after), so
    /// only what differs costs a system call.
    fn apply(&self, cwd: &OwnedFd, base: &Attrs) -> io::Result<()> {
        let check = |rc: libc::c_int| {
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        // SAFETY: plain syscalls on this process with valid arguments and
        // zero-initialised or fully written structs.
        unsafe {
            check(libc::fchdir(cwd.as_raw_fd()))?;
            libc::umask(self.umask as libc::mode_t);
            for (res, (&want, &had)) in self.rlimits.iter().zip(&base.rlimits).enumerate() {
                if want != had {
                    let r = libc::rlimit {
                        rlim_cur: want.0,
                        rlim_max: want.1,
                    };
                    check(libc::setrlimit(res as _, &r))?;
                }
            }
            if self.nice != base.nice {
                check(libc::setpriority(libc::PRIO_PROCESS, 0, self.nice))?;
            }
            if let Some(c) = &self.cpus
                && self.cpus != base.cpus
            {
                let set = std::mem::transmute::<[u8; CPUSET], libc::cpu_set_t>(*c);
                check(libc::sched_setaffinity(0, CPUSET, &set))?;
            }
            let differ = self.ignored ^ base.ignored;
            for sig in 1..=NSIG {
                if differ & (1 << (sig - 1)) == 0 || sig == libc::SIGKILL || sig == libc::SIGSTOP {
                    continue;
                }
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = if self.ignored & (1 << (sig - 1)) != 0 {
                    libc::SIG_IGN
                } else {
                    libc::SIG_DFL
                };
                // A signal the C library keeps for itself refuses; it is
                // never one the host could have ignored through it.
                libc::sigaction(sig, &act, std::ptr::null_mut());
            }
        }
        Ok(())
    }
}

/// The factory's whole life on `sock` (its host's end is the other one).
/// Returns the exit code.
pub(super) fn run(sock: OwnedFd) -> i32 {
    let mut comm = [0u8; 17];
    // SAFETY: PR_GET_NAME writes at most 16 bytes; PR_SET_NAME reads a
    // NUL-terminated string. A SIGCHLD left ignored by the host would make
    // the kernel reap helpers on its own: the factory needs the default.
    let sigfd = unsafe {
        libc::prctl(libc::PR_GET_NAME, comm.as_mut_ptr(), 0, 0, 0);
        libc::prctl(libc::PR_SET_NAME, COMM.as_ptr(), 0, 0, 0);
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
        helper::catch_signals();
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return 122;
        }
        OwnedFd::from_raw_fd(fd)
    };
    // What every forked helper starts from; it changes only what differs.
    let Some(base) = Attrs::capture() else {
        return 124;
    };
    let mut released: HashSet<i32> = HashSet::new();
    let mut buf = vec![0u8; FORK_LEN + 64];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sigfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfd structs.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            continue; // EINTR
        }
        if fds[1].revents != 0 {
            let mut b = [0u8; 256];
            // SAFETY: reads into a local buffer from our own signalfd.
            while unsafe { libc::read(sigfd.as_raw_fd(), b.as_mut_ptr().cast(), b.len()) } > 0 {}
            reap_released(&mut released);
        }
        if fds[0].revents == 0 {
            continue;
        }
        let (n, got) = match wire::recv_with_fds(sock.as_fd(), &mut buf, true) {
            Ok((0, _)) => break,
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(_) => break,
        };
        match buf[0] {
            RELEASE if n >= 8 => {
                released.insert(i32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]));
                reap_released(&mut released);
            }
            FORK => {
                if let (Some(attrs), [chan, cwd]) = (Attrs::decode(&buf[..n]), &got[..]) {
                    // SAFETY: this process is single-threaded, so the forked
                    // copy may do anything. The copy never returns here: it
                    // ends in `_exit`, so the fds it closes by number are
                    // never closed twice.
                    unsafe {
                        if libc::fork() == 0 {
                            libc::close(sock.as_raw_fd());
                            libc::close(sigfd.as_raw_fd());
                            libc::prctl(libc::PR_SET_NAME, comm.as_ptr(), 0, 0, 0);
                            let code = forked(chan, cwd, &attrs, &base);
                            libc::_exit(code);
                        }
                    }
                }
                // A failed fork (or a bad request) closes the helper's
                // socket here: the host sees end-of-file.
            }
            _ => {}
        }
        drop(got);
    }
    // The host is gone: every helper is released. Each one sees end-of-file
    // on its own socket, takes its tree down and exits.
    loop {
        let mut status = 0;
        // SAFETY: plain syscall with a valid out pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return 0; // ECHILD: nothing left
        }
    }
}

/// In the forked copy: become the host's helper on `chan`.
fn forked(chan: &OwnedFd, cwd: &OwnedFd, attrs: &Attrs, base: &Attrs) -> i32 {
    if let Err(e) = attrs.apply(cwd, base) {
        let errno = e.raw_os_error().unwrap_or(0);
        let _ = wire::send_with_fds(chan.as_fd(), &wire::failed(wire::STAGE_HELPER, errno), &[]);
        return 126;
    }
    // SAFETY: the duplicate is a new fd owned by `sock` alone; the fds the
    // factory received are left to the `_exit` that follows.
    let sock = unsafe {
        let fd = libc::fcntl(chan.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 {
            return 120;
        }
        libc::close(cwd.as_raw_fd());
        OwnedFd::from_raw_fd(fd)
    };
    helper::run(sock, true)
}

/// Reaps every released helper that has exited.
fn reap_released(released: &mut HashSet<i32>) {
    released.retain(|&pid| {
        let mut status = 0;
        // SAFETY: plain syscall with a valid out pointer; only ever one of
        // this process's own children (any other pid gives ECHILD).
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        r == 0
    });
}

//! The helper side: what a re-executed host binary (or a fork of the
//! helper factory) runs instead of `main` (see `entry.rs`).
//!
//! The helper is a single-threaded process that never ran the program's
//! `main`: it may allocate and use the standard library freely. It starts the child with
//! the crate's vfork-style spawner, whose child side is async-signal-safe.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{tree, wire};
use crate::sys::linux::spawn::{self, PgMode, Setup, SpawnFailure};
use crate::sys::unix::prep::ExecPlan;

extern "C" fn ignore(_: libc::c_int) {}

/// Signals that would end or stop the helper by default are caught by a
/// no-op handler instead (a terminal's Ctrl-C reaches the whole foreground
/// group, helper included). Caught, not ignored: the child gets the default
/// back (ignored dispositions would be inherited across `execve`). A signal
/// the host already ignored stays ignored, as it would for a child the host
/// started itself.
pub(super) fn catch_signals() {
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGPIPE,
    ] {
        // SAFETY: sigaction with valid, zero-initialised structs; the
        // handler is an `extern "C"` function that does nothing.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_DFL
            {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = ignore as *const () as usize;
                act.sa_flags = libc::SA_RESTART;
                libc::sigaction(sig, &act, std::ptr::null_mut());
            }
        }
    }
}

fn send(sock: BorrowedFd<'_>, f: [u8; wire::FRAME], fds: &[RawFd]) -> bool {
    wire::send_with_fds(sock, &f, fds).is_ok()
}

/// The helper's whole life on `sock`. Returns the exit code. `forked`: the
/// helper was forked by the factory, so the host is not its parent and
/// gets its pid and a pidfd on it with the hello.
pub(super) fn run(sock: OwnedFd, forked: bool) -> i32 {
    let me = std::process::id();
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        send(sock.as_fd(), wire::failed(wire::STAGE_HELPER, e), &[]);
        return 121;
    }
    catch_signals();
    let sigfd = match child_signal_fd() {
        Ok(fd) => fd,
        Err(e) => {
            let e = e.raw_os_error().unwrap_or(0);
            send(sock.as_fd(), wire::failed(wire::STAGE_HELPER, e), &[]);
            return 122;
        }
    };
    let hello = if forked {
        let own = rustix::process::Pid::from_raw(me as i32).and_then(|p| {
            rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok()
        });
        let Some(own) = own else {
            send(
                sock.as_fd(),
                wire::failed(wire::STAGE_HELPER, libc::EMFILE),
                &[],
            );
            return 123;
        };
        send(
            sock.as_fd(),
            wire::frame(wire::HELLO, me as i32, 0),
            &[own.as_raw_fd()],
        )
    } else {
        send(sock.as_fd(), wire::frame(wire::HELLO, 0, 0), &[])
    };
    if !hello {
        return 123;
    }
    let (body, fds) = match wire::recv_request(sock.as_fd()) {
        Ok(r) => r,
        Err(_) => return 124,
    };
    let Some(req) = wire::decode_request(&body) else {
        send(
            sock.as_fd(),
            wire::frame(wire::FAILED, wire::STAGE_HELPER, libc::EINVAL),
            &[],
        );
        return 125;
    };
    let plan = ExecPlan::from_parts(req.program, req.argv, req.envp, req.cwd, req.knobs);
    let mut stdio = [-1; 3];
    for (slot, fd) in stdio.iter_mut().zip(fds.iter()) {
        *slot = fd.as_raw_fd();
    }
    let setup = Setup {
        plan: &plan,
        cgroup: -1,
        pgroup: match req.pgroup {
            wire::PG_SETSID => PgMode::Setsid,
            wire::PG_SETSID_CTTY => PgMode::SetsidCtty,
            _ => PgMode::Inherit,
        },
        stdio,
        uid: req.uid,
        gid: req.gid,
        // The child dies with the helper even if the helper itself is
        // SIGKILLed by someone else.
        pdeathsig: true,
    };
    let child = match spawn::spawn(&setup) {
        Ok((pid, pidfd)) => {
            drop(fds);
            let ok = send(
                sock.as_fd(),
                wire::frame(wire::STARTED, pid as i32, 0),
                &[pidfd.as_raw_fd()],
            );
            drop(pidfd);
            if !ok {
                teardown(sock.as_fd(), pid, &mut false);
                return 0;
            }
            pid
        }
        Err(failure) => {
            let (stage, errno) = match failure {
                SpawnFailure::Child(stage, e) => (stage as i32, e.raw_os_error().unwrap_or(0)),
                SpawnFailure::CloneRefused(e) | SpawnFailure::Parent(e) => {
                    (wire::STAGE_HELPER, e.raw_os_error().unwrap_or(0))
                }
            };
            send(sock.as_fd(), wire::frame(wire::FAILED, stage, errno), &[]);
            reap_all(0, &mut true, sock.as_fd());
            return 0;
        }
    };
    serve(sock.as_fd(), sigfd.as_fd(), child)
}

/// A non-blocking signalfd for SIGCHLD (blocked, so it is only ever read
/// from the fd). The child's spawner clears the mask before `execve`.
fn child_signal_fd() -> std::io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain C data, set up by sigemptyset/sigaddset;
    // signalfd returns a new fd that `OwnedFd` then owns.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Reaps every child that has exited. Sends the status when it is the
/// real child's. Returns `true` once the helper has no child left.
fn reap_all(child: u32, reported: &mut bool, sock: BorrowedFd<'_>) -> bool {
    loop {
        let mut status = 0;
        // SAFETY: plain syscall with a valid out pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            if pid as u32 == child && !*reported {
                *reported = true;
                send(sock, wire::frame(wire::EXITED, status, 0), &[]);
            }
            continue;
        }
        if pid == 0 {
            return false;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return true; // ECHILD
    }
}

/// Waits for children to exit (reaping orphans as they come) and for the
/// host to ask for the end or to vanish.
fn serve(sock: BorrowedFd<'_>, sigfd: BorrowedFd<'_>, child: u32) -> i32 {
    let mut reported = false;
    loop {
        if reap_all(child, &mut reported, sock) && reported {
            // The child and every descendant are gone: nothing to guard.
            return 0;
        }
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
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            continue; // EINTR
        }
        if fds[1].revents != 0 {
            let mut buf = [0u8; 256];
            // SAFETY: reads into a local buffer from our own signalfd.
            while unsafe { libc::read(sigfd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {
            }
        }
        if fds[0].revents != 0 {
            let mut b = [0u8; 64];
            // SAFETY: reads into a local buffer from our own socket.
            let got = unsafe {
                libc::recv(
                    sock.as_raw_fd(),
                    b.as_mut_ptr().cast(),
                    b.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            let quit = got == 0
                || (got < 0
                    && !matches!(
                        std::io::Error::last_os_error().kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ))
                || (got > 0 && b[..got as usize].contains(&wire::QUIT));
            if quit {
                teardown(sock, child, &mut reported);
                return 0;
            }
        }
    }
}

/// Kills the whole tree and reaps it, bounded. The child's status still
/// goes to the host if it was not sent yet.
fn teardown(sock: BorrowedFd<'_>, child: u32, reported: &mut bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        tree::kill(tree::Root::me());
        if reap_all(child, reported, sock) || std::time::Instant::now() > deadline {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

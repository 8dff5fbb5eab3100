//! Starting a helper and, through it, the child: the exec of the host's own
//! binary, the hello, the spawn request and the answer.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::child::{Chan, RemoteChild};
use super::exec::{ReexecError, reexec, socketpair};
use super::handle::Helper;
use super::{factory, wire};
use crate::sys::error::Error;
use crate::sys::linux::spawn::Stage;
use crate::sys::request::SpawnRequest;
use crate::sys::unix::prep::ExecPlan;

/// How long a helper may take to start and answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

fn wait_readable(fd: &OwnedFd, deadline: Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the subreaper helper did not answer",
            ));
        }
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, ms.max(1)) };
        if n > 0 {
            return Ok(());
        }
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// Reads one whole frame (blocking, bounded), with any fds sent with it.
fn read_frame(sock: &OwnedFd, deadline: Instant) -> io::Result<([u8; wire::FRAME], Vec<OwnedFd>)> {
    let mut f = [0u8; wire::FRAME];
    let mut have = 0;
    let mut fds = Vec::new();
    while have < wire::FRAME {
        wait_readable(sock, deadline)?;
        let (n, mut more) = match wire::recv_with_fds(sock.as_fd(), &mut f[have..], true) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        fds.append(&mut more);
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the subreaper helper exited before answering",
            ));
        }
        have += n;
    }
    Ok((f, fds))
}

/// The host's own standard stream `i`, or `/dev/null` when it is closed,
/// for a child that inherits it.
fn own_stream(i: RawFd) -> io::Result<Option<OwnedFd>> {
    // SAFETY: F_GETFD only asks whether the fd is open.
    if unsafe { libc::fcntl(i, libc::F_GETFD) } >= 0 {
        return Ok(None);
    }
    let mode = if i == 0 {
        rustix::fs::OFlags::RDONLY
    } else {
        rustix::fs::OFlags::WRONLY
    };
    Ok(Some(rustix::fs::open(
        "/dev/null",
        mode | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?))
}

/// A helper forked by the factory, its hello read (with its pid and a
/// pidfd on it), and how much of the spawn request (`bytes`, with `fds`)
/// went ahead of the hello. `None` when the factory cannot provide one in
/// time: the caller then starts its helper directly.
fn forked_helper(deadline: Instant, bytes: &[u8], fds: &[RawFd]) -> Option<(Helper, usize)> {
    let mine = factory::request()?;
    // The request goes ahead: the helper finds it waiting after its hello.
    let sent = wire::send_now(mine.as_fd(), bytes, fds);
    match read_frame(&mine, deadline) {
        Ok((hello, mut got)) => {
            let (tag, pid, _) = wire::parse(&hello);
            if tag == wire::HELLO && pid > 0 && got.len() == 1 {
                let helper = Helper {
                    pid: pid as u32,
                    pidfd: Some(got.swap_remove(0)),
                    chan: Arc::new(mine),
                    quit_sent: AtomicBool::new(false),
                    from_factory: true,
                };
                return Some((helper, sent));
            }
            if tag == wire::FAILED {
                // The helper could not take on the host's attributes: a
                // fresh factory will carry them from the start.
                let pid = wire::failed_pid(&hello);
                if pid > 0 {
                    factory::release(pid as u32);
                }
                factory::retire(false);
            }
            None
        }
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
            factory::retire(true);
            None
        }
        // End-of-file: the factory could not fork or died; the next
        // request finds out which.
        Err(_) => None,
    }
}

/// A helper started by the host itself (a re-exec of its binary), its
/// hello read, and how much of the spawn request went ahead of the hello.
fn direct_helper(
    name: &str,
    deadline: Instant,
    bytes: &[u8],
    fds: &[RawFd],
) -> Result<(Helper, usize), Error> {
    let io_err = |what: &str, e: io::Error| Error::io(name, what, e);
    let (mine, theirs) = socketpair(libc::SOCK_STREAM)
        .map_err(|e| io_err("creating the subreaper helper's socket", e))?;

    // The helper: the host's own binary again, the socket as its stdin.
    use crate::sys::linux::spawn::SpawnFailure;
    let (helper_pid, helper_fd) = match reexec(false, &theirs) {
        Ok(r) => r,
        Err(ReexecError::Null(e)) => return Err(io_err("opening /dev/null", e)),
        // No process could be created (the process limit, no memory): a
        // spawn error of this child, not an I/O error.
        Err(ReexecError::Spawn(SpawnFailure::Parent(e))) => {
            return Err(crate::sys::unix::failure::creation_failure(name, e));
        }
        Err(ReexecError::Spawn(SpawnFailure::Child(_, e) | SpawnFailure::CloneRefused(e))) => {
            return Err(io_err("starting the subreaper helper", e));
        }
    };
    drop(theirs);
    let helper = Helper {
        pid: helper_pid,
        pidfd: Some(helper_fd),
        chan: Arc::new(mine),
        quit_sent: AtomicBool::new(false),
        from_factory: false,
    };
    // From here on, dropping `helper` on an error path tells it to go and
    // reaps it.
    let sent = wire::send_now(helper.chan.as_fd(), bytes, fds);
    let hello = read_frame(&helper.chan, deadline).and_then(|(hello, _)| {
        if wire::parse(&hello).0 == wire::HELLO {
            return Ok(());
        }
        let (_, _, errno) = wire::parse(&hello);
        Err(io::Error::other(format!(
            "the subreaper helper could not set itself up: {}",
            io::Error::from_raw_os_error(errno)
        )))
    });
    if let Err(e) = hello {
        // A helper that does not answer is not trusted to leave by itself.
        helper.kill();
        return Err(io_err("starting the subreaper helper", e));
    }
    Ok((helper, sent))
}

pub(super) fn start(
    plan: &ExecPlan,
    req: &SpawnRequest<'_>,
    stdio: [RawFd; 3],
) -> Result<(RemoteChild, Helper), Error> {
    let name = req.display_name;
    let io_err = |what: &str, e: io::Error| Error::io(name, what, e);
    let mut extra = Vec::new();
    let mut fds = [-1; 3];
    for (i, slot) in fds.iter_mut().enumerate() {
        if stdio[i] >= 0 {
            *slot = stdio[i];
        } else {
            match own_stream(i as RawFd) {
                Ok(None) => *slot = i as RawFd,
                Ok(Some(fd)) => {
                    *slot = fd.as_raw_fd();
                    extra.push(fd);
                }
                Err(e) => return Err(io_err("opening /dev/null", e)),
            }
        }
    }
    let request = wire::Request {
        pgroup: if req.pty.is_some() {
            wire::PG_SETSID_CTTY
        } else if req.setsid {
            wire::PG_SETSID
        } else {
            wire::PG_INHERIT
        },
        uid: req.uid,
        gid: req.gid,
        program: plan.program.clone(),
        argv: plan.argv().to_vec(),
        envp: plan.envp().to_vec(),
        cwd: plan.cwd.clone(),
        knobs: plan.knobs.clone(),
    };
    let bytes = wire::encode_request(&request);
    let deadline = Instant::now() + START_TIMEOUT;
    let started = match forked_helper(deadline, &bytes, &fds) {
        Some(h) => Ok(h),
        None => direct_helper(name, Instant::now() + START_TIMEOUT, &bytes, &fds),
    };
    let (helper, sent) = match started {
        Ok(h) => h,
        Err(e) => {
            drop(extra);
            return Err(e);
        }
    };
    let sock = helper.chan.clone();
    // The rest of the request, if it did not all go ahead of the hello (the
    // fds went with its first byte).
    let rest = if sent < bytes.len() {
        let attach: &[RawFd] = if sent == 0 { &fds } else { &[] };
        wire::send_with_fds(sock.as_fd(), &bytes[sent..], attach)
    } else {
        Ok(())
    };
    let answer = rest.and_then(|()| read_frame(&sock, deadline));
    drop(extra);
    let (frame, mut got) = answer.map_err(|e| {
        // A helper that does not answer is not trusted to leave by itself.
        helper.kill();
        io_err("starting the subreaper helper", e)
    })?;
    let (tag, a, b) = wire::parse(&frame);
    match tag {
        wire::STARTED if !got.is_empty() && a > 0 => {
            let pidfd = got.swap_remove(0);
            let child = RemoteChild {
                pid: a as u32,
                pidfd,
                chan: Chan::Plain(sock),
                status: None,
                buf: [0; wire::FRAME],
                have: 0,
            };
            Ok((child, helper))
        }
        wire::FAILED => Err(failure(req, a, io::Error::from_raw_os_error(b))),
        _ => Err(io_err(
            "starting the subreaper helper",
            io::Error::other("unexpected answer from the helper"),
        )),
    }
}

/// The typed error for a failed spawn stage reported by the helper.
fn failure(req: &SpawnRequest<'_>, stage: i32, e: io::Error) -> Error {
    if stage <= wire::STAGE_HELPER {
        return Error::Spawn {
            program: req.display_name.to_owned(),
            source: io::Error::new(e.kind(), format!("the subreaper helper failed: {e}")),
        };
    }
    crate::sys::unix::failure::child_failure(req, Stage::from_u32(stage as u32), e)
}

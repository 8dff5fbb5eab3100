//! The few messages between the host and a subreaper helper, over a Unix
//! stream socket pair.
//!
//! * host → helper, once: the spawn request, a `u32` length and that many
//!   bytes (see [`encode_request`]), with the child's three standard streams
//!   attached as `SCM_RIGHTS`.
//! * host → helper, later: the single byte [`QUIT`] (kill the tree, reap it,
//!   exit). End-of-file means the same: the host is gone.
//! * helper → host: fixed 16-byte frames, a tag byte and three `i32`s.
//!   [`HELLO`] first (the helper's entry point really ran), then either
//!   [`STARTED`] (the child's pid, its pidfd attached) or [`FAILED`] (the
//!   spawn stage and `errno`), and after a start, once, [`EXITED`] (the raw
//!   wait status).

use std::ffi::CString;

use crate::sys::unix::prep::ChildKnobs;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

pub(super) const FRAME: usize = 16;
pub(super) const HELLO: u8 = b'H';
pub(super) const STARTED: u8 = b'P';
pub(super) const FAILED: u8 = b'E';
pub(super) const EXITED: u8 = b'X';
pub(super) const QUIT: u8 = b'Q';

/// Stage code for a failure in the helper itself (not in the child).
pub(super) const STAGE_HELPER: i32 = 0;

/// The largest request a helper accepts (argv and environment together are
/// limited far below this by the kernel's own `execve` limits).
const MAX_REQUEST: usize = 64 << 20;

/// What the helper needs to start the child.
pub(super) struct Request {
    pub pgroup: u8,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub program: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    pub cwd: Option<CString>,
    /// The command's spawn knobs, applied by the helper's spawner.
    pub knobs: Option<ChildKnobs>,
}

pub(super) const PG_INHERIT: u8 = 0;
pub(super) const PG_SETSID: u8 = 2;
/// A new session whose controlling terminal is the child's fd 0 (a `pty` run).
pub(super) const PG_SETSID_CTTY: u8 = 3;

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// The request as bytes, length prefix included.
pub(super) fn encode_request(r: &Request) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    out.push(r.pgroup);
    let flags = u8::from(r.uid.is_some())
        | (u8::from(r.gid.is_some()) << 1)
        | (u8::from(r.cwd.is_some()) << 2)
        | (u8::from(r.knobs.is_some()) << 3);
    out.push(flags);
    out.extend_from_slice(&r.uid.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&r.gid.unwrap_or(0).to_le_bytes());
    put_bytes(&mut out, r.program.as_bytes());
    out.extend_from_slice(&(r.argv.len() as u32).to_le_bytes());
    for a in &r.argv {
        put_bytes(&mut out, a.as_bytes());
    }
    out.extend_from_slice(&(r.envp.len() as u32).to_le_bytes());
    for e in &r.envp {
        put_bytes(&mut out, e.as_bytes());
    }
    if let Some(cwd) = &r.cwd {
        put_bytes(&mut out, cwd.as_bytes());
    }
    if let Some(k) = &r.knobs {
        encode_knobs(&mut out, k);
    }
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_le_bytes());
    out
}

struct Reader<'a> {
    b: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.b.len() < n {
            return None;
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    }
    fn cstring(&mut self) -> Option<CString> {
        let n = self.u32()? as usize;
        CString::new(self.take(n)?).ok()
    }
    fn list(&mut self) -> Option<Vec<CString>> {
        let n = self.u32()? as usize;
        let mut v = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            v.push(self.cstring()?);
        }
        Some(v)
    }
}

/// Parses a request body (without its length prefix).
pub(super) fn decode_request(b: &[u8]) -> Option<Request> {
    let mut r = Reader { b };
    let pgroup = r.u8()?;
    let flags = r.u8()?;
    let uid = r.u32()?;
    let gid = r.u32()?;
    let program = r.cstring()?;
    let argv = r.list()?;
    let envp = r.list()?;
    let cwd = if flags & 4 != 0 {
        Some(r.cstring()?)
    } else {
        None
    };
    let knobs = if flags & 8 != 0 {
        Some(decode_knobs(&mut r)?)
    } else {
        None
    };
    Some(Request {
        pgroup,
        uid: (flags & 1 != 0).then_some(uid),
        gid: (flags & 2 != 0).then_some(gid),
        program,
        argv,
        envp,
        cwd,
        knobs,
    })
}

fn put_opt_u32(out: &mut Vec<u8>, v: Option<u32>) {
    out.push(u8::from(v.is_some()));
    out.extend_from_slice(&v.unwrap_or(0).to_le_bytes());
}

/// The number of CPUs a `cpu_set_t` can name.
const CPU_SETSIZE: usize = 1024;

fn encode_knobs(out: &mut Vec<u8>, k: &ChildKnobs) {
    put_opt_u32(out, k.umask);
    out.extend_from_slice(&(k.rlimits.len() as u32).to_le_bytes());
    for &(res, soft, hard) in &k.rlimits {
        out.extend_from_slice(&(res as u32).to_le_bytes());
        out.extend_from_slice(&soft.to_le_bytes());
        out.extend_from_slice(&hard.to_le_bytes());
    }
    put_opt_u32(out, k.nice.map(|n| n as u32));
    // The CPU set as a list of CPU numbers.
    match &k.cpuset {
        Some(set) => {
            let cpus: Vec<u32> = (0..CPU_SETSIZE)
                // SAFETY: `c` is below CPU_SETSIZE, the number of bits in `set`.
                .filter(|&c| unsafe { libc::CPU_ISSET(c, set) })
                .map(|c| c as u32)
                .collect();
            out.push(1);
            out.extend_from_slice(&(cpus.len() as u32).to_le_bytes());
            for c in cpus {
                out.extend_from_slice(&c.to_le_bytes());
            }
        }
        None => out.push(0),
    }
    put_opt_u32(out, k.ioprio.map(|p| p as u32));
    match &k.groups {
        Some(g) => {
            out.push(1);
            out.extend_from_slice(&(g.len() as u32).to_le_bytes());
            for &gid in g {
                out.extend_from_slice(&gid.to_le_bytes());
            }
        }
        None => out.push(0),
    }
}

fn decode_knobs(r: &mut Reader<'_>) -> Option<ChildKnobs> {
    let opt_u32 = |r: &mut Reader<'_>| -> Option<Option<u32>> {
        let has = r.u8()?;
        let v = r.u32()?;
        Some((has != 0).then_some(v))
    };
    let umask = opt_u32(r)?.map(|m| m as libc::mode_t);
    let n = r.u32()? as usize;
    let mut rlimits = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let res = r.u32()? as libc::c_int;
        let soft = r.u64()?;
        let hard = r.u64()?;
        rlimits.push((res, soft, hard));
    }
    let nice = opt_u32(r)?.map(|v| v as libc::c_int);
    let cpuset = if r.u8()? != 0 {
        // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for _ in 0..r.u32()? {
            let c = r.u32()? as usize;
            if c >= CPU_SETSIZE {
                return None;
            }
            // SAFETY: `c` was checked to be below CPU_SETSIZE.
            unsafe { libc::CPU_SET(c, &mut set) };
        }
        Some(set)
    } else {
        None
    };
    let ioprio = opt_u32(r)?.map(|v| v as libc::c_int);
    let groups = if r.u8()? != 0 {
        let n = r.u32()? as usize;
        let mut g = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            g.push(r.u32()? as libc::gid_t);
        }
        Some(g)
    } else {
        None
    };
    Some(ChildKnobs {
        umask,
        rlimits,
        nice,
        cpuset,
        ioprio,
        groups,
    })
}

/// A 16-byte frame.
pub(super) fn frame(tag: u8, a: i32, b: i32) -> [u8; FRAME] {
    let mut f = [0u8; FRAME];
    f[0] = tag;
    f[4..8].copy_from_slice(&a.to_le_bytes());
    f[8..12].copy_from_slice(&b.to_le_bytes());
    f
}

/// A [`FAILED`] frame from a helper before its hello: the helper's own pid
/// rides along in the last four bytes, so the host can release a helper
/// the factory forked even when it failed to set itself up.
pub(super) fn failed(stage: i32, errno: i32) -> [u8; FRAME] {
    let mut f = frame(FAILED, stage, errno);
    f[12..16].copy_from_slice(&(std::process::id() as i32).to_le_bytes());
    f
}

/// The sender's pid of a [`failed`] frame (0 if none).
pub(super) fn failed_pid(f: &[u8; FRAME]) -> i32 {
    i32::from_le_bytes([f[12], f[13], f[14], f[15]])
}

/// The tag and the two values of a frame.
pub(super) fn parse(f: &[u8; FRAME]) -> (u8, i32, i32) {
    (
        f[0],
        i32::from_le_bytes([f[4], f[5], f[6], f[7]]),
        i32::from_le_bytes([f[8], f[9], f[10], f[11]]),
    )
}

/// Sends all of `data`, with `fds` attached to the first byte. Blocking,
/// never raises SIGPIPE.
pub(super) fn send_with_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let mut sent = 0;
    while sent < data.len() {
        let attach = if sent == 0 { fds } else { &[] };
        let n = sendmsg(sock, &data[sent..], attach, 0)?;
        sent += n;
    }
    Ok(())
}

/// One message (a whole packet on a `SOCK_SEQPACKET` socket) with `fds`
/// attached and extra send `flags` (`MSG_DONTWAIT`). Never raises SIGPIPE.
pub(super) fn send_msg(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fds: &[RawFd],
    flags: libc::c_int,
) -> io::Result<()> {
    let n = sendmsg(sock, data, fds, flags)?;
    if n == data.len() {
        Ok(())
    } else {
        Err(io::Error::from(io::ErrorKind::WriteZero))
    }
}

/// Sends what fits of `data` now, with `fds` attached to its first byte,
/// without waiting: the number of bytes sent (0 when none fit, or on any
/// error, which the next blocking send reports again).
pub(super) fn send_now(sock: BorrowedFd<'_>, data: &[u8], fds: &[RawFd]) -> usize {
    sendmsg(sock, data, fds, libc::MSG_DONTWAIT).unwrap_or(0)
}

fn sendmsg(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fds: &[RawFd],
    flags: libc::c_int,
) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // Room for up to four fds, aligned for cmsghdr.
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain C data; all zeroes is a valid empty value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        assert!(fds.len() <= 4, "at most four fds per message");
        let bytes = std::mem::size_of_val(fds) as u32;
        // SAFETY: CMSG_SPACE is a pure size computation.
        let space = unsafe { libc::CMSG_SPACE(bytes) } as usize;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        // socklen_t on musl, size_t on glibc.
        msg.msg_controllen = space as _;
        // SAFETY: the control buffer is `space` bytes long (checked against
        // its size below), aligned, and initialised; CMSG_FIRSTHDR returns a
        // pointer into it, and CMSG_DATA points at room for `bytes` bytes.
        unsafe {
            assert!(space <= std::mem::size_of_val(&cbuf));
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(bytes) as _;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(c),
                bytes as usize,
            );
        }
    }
    loop {
        // SAFETY: `msg` points at live buffers for the duration of the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL | flags) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// One `recvmsg`: the bytes read (0 at end-of-file) and any fds that came
/// with them (close-on-exec). `dontwait`: `WouldBlock` instead of waiting.
pub(super) fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    dontwait: bool,
) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain C data; all zeroes is a valid empty value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    let flags = libc::MSG_CMSG_CLOEXEC | if dontwait { libc::MSG_DONTWAIT } else { 0 };
    let n = loop {
        // SAFETY: `msg` points at live buffers for the duration of the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let mut fds = Vec::new();
    // SAFETY: the kernel filled `msg_controllen` bytes of the control
    // buffer; the CMSG macros walk exactly that. Each SCM_RIGHTS payload is
    // an array of fds now owned by this process.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c);
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                    / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n, fds))
}

/// Reads a whole request (length prefix, body, the fds sent with it).
pub(super) fn recv_request(sock: BorrowedFd<'_>) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut head = [0u8; 4];
    let mut got = 0;
    let mut fds = Vec::new();
    let mut body: Vec<u8> = Vec::new();
    let mut want = usize::MAX;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let (n, mut more) = recv_with_fds(sock, &mut chunk, false)?;
        fds.append(&mut more);
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut data = &chunk[..n];
        while got < 4 && !data.is_empty() {
            head[got] = data[0];
            got += 1;
            data = &data[1..];
            if got == 4 {
                want = u32::from_le_bytes(head) as usize;
                if want > MAX_REQUEST {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "request too large",
                    ));
                }
                body.reserve(want);
            }
        }
        body.extend_from_slice(data);
        if body.len() >= want {
            body.truncate(want);
            return Ok((body, fds));
        }
    }
}

//! Pseudo-terminals for `pty` runs.
//!
//! The parent opens the pair (`posix_openpt`, `grantpt`, `unlockpt`, then
//! the slave by `TIOCGPTPEER` or by name), sets the window size on it, and
//! hands the slave to the spawner as the child's fds 0, 1 and 2. The child
//! side of every spawner then makes itself a session leader (`setsid`) and
//! takes the slave as its controlling terminal (`ioctl(0, TIOCSCTTY)`), so
//! the terminal's job control works as in a shell: Ctrl-C typed on the
//! master reaches the foreground process group as `SIGINT`, a resize reaches
//! it as `SIGWINCH`, and when the session leader exits the kernel hangs the
//! terminal up.
//!
//! The parent keeps only the master. Every fd is opened close-on-exec and
//! `O_NOCTTY` (the slave must never become *this* process's controlling
//! terminal), and the parent's copy of the slave is closed as soon as the
//! child has it, so the master reads end-of-file (Linux reports it as
//! `EIO`) once the child's tree is gone.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A freshly opened terminal pair.
pub(crate) struct Pair {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Opens a pseudo-terminal of `cols` × `rows` characters.
pub(crate) fn open(cols: u16, rows: u16) -> io::Result<Pair> {
    let master = open_master()?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let slave = open_slave(&master)?;
    rustix::termios::tcsetwinsize(&slave, winsize(cols, rows))?;
    Ok(Pair { master, slave })
}

/// The master, close-on-exec from the start where `posix_openpt` takes the
/// flag.
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))]
fn open_master() -> io::Result<OwnedFd> {
    Ok(rustix::pty::openpt(
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )?)
}

/// Elsewhere (macOS, OpenBSD) the flag is set right after, while no spawn
/// of this crate can copy the fd (see `fds::fd_creation_pause`).
#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd")))]
fn open_master() -> io::Result<OwnedFd> {
    let _making = super::fds::FD_CREATION
        .read()
        .unwrap_or_else(|p| p.into_inner());
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY)?;
    rustix::io::fcntl_setfd(&master, rustix::io::FdFlags::CLOEXEC)?;
    Ok(master)
}

/// The slave side: straight from the master where the kernel offers it (no
/// path lookup, right even with several `devpts` mounts), else by name.
fn open_slave(master: &OwnedFd) -> io::Result<OwnedFd> {
    #[cfg(target_os = "linux")]
    if let Ok(fd) = rustix::pty::ioctl_tiocgptpeer(
        master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    ) {
        return Ok(fd);
    }
    let name = rustix::pty::ptsname(master, Vec::new())?;
    Ok(rustix::fs::open(
        name.as_c_str(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?)
}

fn winsize(cols: u16, rows: u16) -> Winsize {
    Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// A special character of the terminal's line discipline.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "pty"), allow(dead_code))]
pub(crate) enum Special {
    /// `VINTR` (Ctrl-C by default).
    Interrupt,
    /// `VEOF` (Ctrl-D by default).
    Eof,
}

/// The terminal's current character for `which`, as the program configured
/// it, or the usual default when it cannot be read or is switched off
/// (`_POSIX_VDISABLE`; the key press then is what a terminal would send).
fn special_byte(fd: BorrowedFd<'_>, which: Special) -> u8 {
    use rustix::termios::SpecialCodeIndex;
    let (index, default) = match which {
        Special::Interrupt => (SpecialCodeIndex::VINTR, 0x03),
        Special::Eof => (SpecialCodeIndex::VEOF, 0x04),
    };
    match rustix::termios::tcgetattr(fd) {
        Ok(t) if t.special_codes[index] != 0 => t.special_codes[index],
        _ => default,
    }
}

/// The parent's side of a child's terminal.
#[derive(Debug)]
pub(crate) struct PtyMaster {
    fd: OwnedFd,
}

#[cfg_attr(not(feature = "pty"), allow(dead_code))]
impl PtyMaster {
    pub(crate) fn new(fd: OwnedFd) -> PtyMaster {
        PtyMaster { fd }
    }

    /// Sets the window size; the kernel sends `SIGWINCH` to the terminal's
    /// foreground process group when it changes.
    pub(crate) fn resize(&self, cols: u16, rows: u16) -> io::Result<()> {
        Ok(rustix::termios::tcsetwinsize(
            &self.fd,
            winsize(cols, rows),
        )?)
    }

    /// The window size as `(columns, rows)`.
    pub(crate) fn size(&self) -> io::Result<(u16, u16)> {
        let w = rustix::termios::tcgetwinsize(&self.fd)?;
        Ok((w.ws_col, w.ws_row))
    }

    /// Types the terminal's character for `which` (see [`special_byte`]), so
    /// the line discipline acts on it exactly as on a key press: `VINTR`
    /// signals the foreground job, `VEOF` ends a read.
    pub(crate) fn send(&self, which: Special) -> io::Result<()> {
        let byte = special_byte(self.fd.as_fd(), which);
        loop {
            match rustix::io::write(&self.fd, &[byte]) {
                Ok(1) => return Ok(()),
                Ok(_) => return Err(io::ErrorKind::WriteZero.into()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A non-blocking stream over a duplicate of the master, registered with
    /// tokio's reactor.
    pub(crate) fn stream(&self) -> io::Result<PtyStream> {
        let fd = self.fd.try_clone()?;
        PtyStream::new(fd)
    }
}

/// Reads and writes the master without blocking a worker.
pub(crate) struct PtyStream {
    fd: AsyncFd<OwnedFd>,
    /// `VEOF` bytes still to type for a shutdown (one ends a read at the
    /// start of a line; a partial line needs a second).
    eof_left: Option<u8>,
    /// The last byte written was a newline (or nothing was written).
    at_line_start: bool,
}

impl PtyStream {
    fn new(fd: OwnedFd) -> io::Result<PtyStream> {
        // The file description is shared by every dup of the master, so
        // this makes all of them non-blocking (which `send` relies on not
        // to stall on a full input queue: it gets EAGAIN instead).
        rustix::io::ioctl_fionbio(&fd, true)?;
        // SAFETY: an OwnedFd stays open and names the same master for as
        // long as the AsyncFd owns it.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)?;
        Ok(PtyStream {
            fd,
            eof_left: None,
            at_line_start: true,
        })
    }
}

impl crate::sys::io::PipeRead for PtyStream {}

impl AsyncRead for PtyStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| {
                rustix::io::read(fd.get_ref().as_fd(), &mut *unfilled).map_err(io::Error::from)
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Every slave fd is closed: Linux says EIO where a pipe
                // would say end-of-file.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PtyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard
                .try_io(|fd| rustix::io::write(fd.get_ref().as_fd(), data).map_err(io::Error::from))
            {
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Ok(n)) => {
                    if n > 0 {
                        self.at_line_start = data[n - 1] == b'\n';
                    }
                    return Poll::Ready(Ok(n));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Closing one copy of the master is not end-of-file for the child: a
    /// shutdown types `VEOF` instead, twice after a partial line (the first
    /// hands the partial line to the reader, the second reads as EOF).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.eof_left.is_none() {
            self.eof_left = Some(if self.at_line_start { 1 } else { 2 });
        }
        while self.eof_left.is_some_and(|n| n > 0) {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            let byte = special_byte(guard.get_inner().as_fd(), Special::Eof);
            match guard.try_io(|fd| {
                rustix::io::write(fd.get_ref().as_fd(), &[byte]).map_err(io::Error::from)
            }) {
                Ok(Ok(1)) => {
                    self.eof_left = self.eof_left.map(|n| n - 1);
                    self.at_line_start = true;
                }
                Ok(Ok(_)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => {}
            }
        }
        Poll::Ready(Ok(()))
    }
}

//! The parent's end of a child's stdout or stderr pipe.
//!
//! A Linux pipe holds 64 KiB by default. A child that writes a lot fills it
//! long before the parent gets round to reading, and then producer and
//! consumer take turns: the child blocks, the parent wakes, reads at most
//! 64 KiB, the child wakes, and so on. Raising the capacity to 1 MiB (the
//! default `/proc/sys/fs/pipe-max-size`) lets both sides run in longer
//! stretches and cuts the number of wake-ups and reads by up to 16×.
//!
//! Bigger pipes cost unswappable kernel memory, counted against the user's
//! pipe budget (`/proc/sys/fs/pipe-user-pages-soft`), so the capacity is
//! raised lazily: only after one read came back with a full default pipe's
//! worth of bytes, which is the sign of a child that outpaces its reader.
//! A child that prints a line or two never gets a bigger pipe. When the
//! kernel refuses (a user over the budget), the pipe just keeps its size.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::unix::pipe::Receiver;

/// The default capacity of a Linux pipe (16 pages).
const DEFAULT_CAPACITY: usize = 64 * 1024;

/// The capacity a busy pipe is raised to.
#[cfg(target_os = "linux")]
pub(crate) const GROWN_CAPACITY: usize = 1024 * 1024;

/// A non-blocking pipe read end that grows the pipe once it proves busy.
pub(crate) struct PipeReader {
    inner: Receiver,
    /// Growing was tried already.
    grown: bool,
}

impl PipeReader {
    pub(crate) fn new(inner: Receiver) -> Self {
        PipeReader {
            inner,
            grown: false,
        }
    }
}

/// Raises the pipe's capacity. Best effort: a refusal (EPERM over the
/// user's pipe budget, EBUSY) leaves the pipe as it was, which is still
/// correct.
#[cfg(target_os = "linux")]
fn grow(pipe: &Receiver) {
    let _ = rustix::pipe::fcntl_setpipe_size(pipe, GROWN_CAPACITY);
}

/// Elsewhere pipes cannot be resized (macOS and the BSDs grow a busy pipe
/// by themselves).
#[cfg(not(target_os = "linux"))]
fn grow(_pipe: &Receiver) {}

impl crate::sys::io::PipeRead for PipeReader {
    fn blocking_copy(&self) -> Option<std::fs::File> {
        let fd = rustix::io::fcntl_dupfd_cloexec(&self.inner, 0).ok()?;
        // The flag belongs to the open pipe, shared with `inner`: the caller
        // drops `inner` right away and reads only through the copy.
        let flags = rustix::fs::fcntl_getfl(&fd).ok()?;
        rustix::fs::fcntl_setfl(&fd, flags - rustix::fs::OFlags::NONBLOCK).ok()?;
        Some(std::fs::File::from(fd))
    }
}

impl AsyncRead for PipeReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if !self.grown
            && matches!(polled, Poll::Ready(Ok(())))
            && buf.filled().len() - before >= DEFAULT_CAPACITY
        {
            self.grown = true;
            grow(&self.inner);
        }
        polled
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::fd::OwnedFd;
    use tokio::io::AsyncReadExt;

    fn pipe() -> (PipeReader, OwnedFd) {
        let (r, w) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )
        .expect("pipe");
        let rx = Receiver::from_owned_fd_unchecked(r).expect("register");
        (PipeReader::new(rx), w)
    }

    fn capacity(p: &PipeReader) -> usize {
        rustix::pipe::fcntl_getpipe_size(&p.inner).expect("F_GETPIPE_SZ")
    }

    #[tokio::test]
    async fn a_short_read_leaves_the_pipe_at_its_default_size() {
        let (mut p, w) = pipe();
        rustix::io::write(&w, b"hello\n").expect("write");
        let mut buf = vec![0u8; 1 << 20];
        assert_eq!(p.read(&mut buf).await.expect("read"), 6);
        assert_eq!(capacity(&p), DEFAULT_CAPACITY);
    }

    #[tokio::test]
    async fn a_full_read_grows_the_pipe() {
        let (mut p, w) = pipe();
        let chunk = vec![7u8; DEFAULT_CAPACITY];
        let mut written = 0;
        while written < DEFAULT_CAPACITY {
            written += rustix::io::write(&w, &chunk[written..]).expect("write");
        }
        let mut buf = vec![0u8; 1 << 20];
        assert_eq!(p.read(&mut buf).await.expect("read"), DEFAULT_CAPACITY);
        // Root may go past pipe-max-size; anyone else gets at most that much.
        assert!(
            capacity(&p) >= GROWN_CAPACITY.min(max_size()),
            "pipe did not grow: {}",
            capacity(&p)
        );
    }

    fn max_size() -> usize {
        std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(GROWN_CAPACITY)
    }
}

//! The pipe ends a child's standard streams come back as, and reading one
//! straight into a `Vec`'s spare capacity. A leaf of `sys/`.
//!
//! Every read takes part in tokio's cooperative budget, whatever the pipe
//! type underneath: a child that writes faster than this process reads
//! would otherwise keep the pipe always ready, and a loop over it would
//! never give the other tasks on its thread a turn.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// The read side of a child's stdout or stderr pipe.
pub(crate) type ReadPipe = Box<dyn PipeRead>;

/// A child's stdout or stderr as this process reads it.
pub(crate) trait PipeRead: tokio::io::AsyncRead + Send + Unpin {
    /// A blocking copy of this read end, so a detached process's output can
    /// go on being drained on a plain thread when no runtime is left to do
    /// it (the handle dropped outside a runtime, or the runtime shutting
    /// down). `None` where there is no such copy; the read end is then
    /// closed with the handle.
    fn blocking_copy(&self) -> Option<std::fs::File> {
        None
    }
}

impl PipeRead for &'static [u8] {}
impl PipeRead for std::io::Cursor<Vec<u8>> {}

/// The write side of a child's stdin pipe.
pub(crate) type WritePipe = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

/// Reads once from `pipe` into the spare capacity of `buf`, reserving at
/// least `chunk` bytes first and reading at most `max` bytes. Returns the
/// number of bytes read; 0 is EOF.
pub(crate) fn poll_read_vec(
    pipe: &mut ReadPipe,
    cx: &mut Context<'_>,
    buf: &mut Vec<u8>,
    chunk: usize,
    max: usize,
) -> Poll<io::Result<usize>> {
    let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
    if buf.capacity() - buf.len() < chunk {
        buf.reserve(chunk);
    }
    let spare = buf.spare_capacity_mut();
    let room = spare.len().min(max.max(1));
    let spare = &mut spare[..room];
    let mut rb = ReadBuf::uninit(spare);
    match Pin::new(pipe).poll_read(cx, &mut rb) {
        Poll::Ready(Ok(())) => {
            let n = rb.filled().len();
            // SAFETY: `poll_read` initialised (filled) the first `n` bytes of
            // the spare capacity, which directly follows the current length.
            unsafe { buf.set_len(buf.len() + n) };
            coop.made_progress();
            Poll::Ready(Ok(n))
        }
        Poll::Ready(Err(e)) => {
            coop.made_progress();
            Poll::Ready(Err(e))
        }
        Poll::Pending => Poll::Pending,
    }
}

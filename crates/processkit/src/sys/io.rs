//! Reading a pipe straight into a `Vec`'s spare capacity.
//!
//! Every read takes part in tokio's cooperative budget, whatever the pipe
//! type underneath: a child that writes faster than this process reads
//! would otherwise keep the pipe always ready, and a loop over it would
//! never give the other tasks on its thread a turn.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::sys::ReadPipe;

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

//! The parent's ends of a child's standard-stream pipes.
//!
//! The pipes are anonymous pipes (`CreatePipe`): the child expects ordinary
//! synchronous handles. The parent's ends are wrapped in `tokio::fs::File`,
//! which does each read or write on tokio's blocking pool, as tokio's own
//! process support does on Windows.
//!
//! Reading a pipe whose write ends are all closed fails with
//! `ERROR_BROKEN_PIPE` rather than returning 0 bytes; [`PipeReader`] turns
//! that into end-of-file.

use std::io;
use std::os::windows::io::OwnedHandle;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::sys::io::{ReadPipe, WritePipe};

/// A pipe's read end; a broken pipe reads as end-of-file.
struct PipeReader {
    file: tokio::fs::File,
    eof: bool,
}

impl crate::sys::io::PipeRead for PipeReader {}

impl AsyncRead for PipeReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.eof {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut self.file).poll_read(cx, buf) {
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.eof = true;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

/// Wraps the parent's read end of a stdout or stderr pipe.
pub(super) fn reader(handle: OwnedHandle) -> ReadPipe {
    let file = tokio::fs::File::from_std(std::fs::File::from(handle));
    Box::new(PipeReader { file, eof: false })
}

/// Wraps the parent's write end of a stdin pipe.
pub(super) fn writer(handle: OwnedHandle) -> WritePipe {
    Box::new(tokio::fs::File::from_std(std::fs::File::from(handle)))
}

//! Consuming a running child to its end: the collected output, the streamed
//! finish, and the first matching line.

use std::future::poll_fn;
use std::task::Poll;

use super::{RunningProcess, Stderr, lossy};
use crate::error::Result;
use crate::result::ProcessResult;

impl RunningProcess {
    /// Reads the rest of stdout (running the line handler, discarding the
    /// text), waits for the exit and returns the exit code (`None` when the
    /// run was killed) and everything written to stderr.
    ///
    /// A cancelled run returns [`Error::Cancelled`](crate::Error::Cancelled).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let run = processkit::Command::new("sh").args(["-c", "echo warn >&2"]).start().await?;
    /// let (code, stderr) = run.finish_streamed().await?;
    /// assert_eq!((code, stderr.as_str()), (Some(0), "warn\n"));
    /// # Ok(()) }
    /// ```
    pub async fn finish_streamed(mut self) -> Result<(Option<i32>, String)> {
        self.end_with_run();
        self.close_untaken_stdin();
        self.detach_stderr();
        let status = poll_fn(|cx| {
            let exit = self.poll_exit(cx);
            let out_done = self.stdout.poll_discard(cx).is_ready();
            match exit {
                Poll::Ready(Ok(s)) => {
                    if out_done || self.drain_expired(cx) {
                        Poll::Ready(Ok(s))
                    } else {
                        Poll::Pending
                    }
                }
                other => other,
            }
        })
        .await?;
        self.stdout.close();
        let stderr = self.stderr_bytes().await;
        if let Some(e) = self.final_error() {
            return Err(e);
        }
        Ok((status.code(), lossy(stderr)))
    }

    /// Runs to completion, capturing stdout and stderr losslessly.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let run = processkit::Command::new("echo").arg("x").start().await?;
    /// let r = run.output_bytes().await?;
    /// assert_eq!(r.stdout(), b"x\n");
    /// # Ok(()) }
    /// ```
    #[doc(alias = "wait_with_output")]
    pub async fn output_bytes(mut self) -> Result<ProcessResult<Vec<u8>>> {
        self.end_with_run();
        self.close_untaken_stdin();
        let mut stderr_inline = match std::mem::replace(&mut self.stderr, Stderr::Done(Vec::new()))
        {
            Stderr::Inline(p) => Some(p),
            other => {
                self.stderr = other;
                None
            }
        };
        let status = poll_fn(|cx| {
            let exit = self.poll_exit(cx);
            let out_done = self.stdout.poll_capture(cx).is_ready();
            let err_done = match stderr_inline.as_mut() {
                Some(p) => p.poll_capture(cx).is_ready(),
                None => true,
            };
            match exit {
                Poll::Ready(Ok(s)) => {
                    if (out_done && err_done) || self.drain_expired(cx) {
                        Poll::Ready(Ok(s))
                    } else {
                        Poll::Pending
                    }
                }
                other => other,
            }
        })
        .await?;
        let stdout = self.stdout.take_captured();
        self.stdout.close();
        let stderr = match stderr_inline.as_mut() {
            Some(p) => {
                let b = p.take_captured();
                self.stderr_dropped = p.dropped();
                p.close();
                b
            }
            None => self.stderr_bytes().await,
        };
        if let Some(e) = self.final_error() {
            return Err(e);
        }
        Ok(ProcessResult::new(
            self.program.clone(),
            status,
            stdout,
            stderr,
            self.timed_out,
            self.started.elapsed(),
        )
        .with_idle_timed_out(self.idle_timed_out)
        .with_dropped(self.stdout.dropped(), self.stderr_dropped))
    }

    /// Like [`output_bytes`](Self::output_bytes), with text output (invalid
    /// UTF-8 replaced with U+FFFD).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = processkit::Command::new("echo").arg("x").start().await?.output_string().await?;
    /// assert_eq!(r.stdout(), "x\n");
    /// # Ok(()) }
    /// ```
    pub async fn output_string(self) -> Result<ProcessResult<String>> {
        Ok(self.output_bytes().await?.into_lossy())
    }

    /// Reads stdout lines until one satisfies `pred`; `Ok(None)` when stdout
    /// closes first. Used by [`Command::first_line`](crate::Command::first_line).
    pub(crate) async fn first_matching_line(
        &mut self,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<Option<String>> {
        self.detach_stderr();
        loop {
            let line = poll_fn(|cx| self.poll_next_line(cx)).await;
            match line {
                Some(l) if pred(&l) => return Ok(Some(l)),
                Some(_) => continue,
                None => {
                    if let Some(e) = self.end_error() {
                        return Err(e);
                    }
                    return Ok(None);
                }
            }
        }
    }
}

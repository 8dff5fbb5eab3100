//! Reading a running child's stdout line by line: [`StdoutLines`] and,
//! with the `json` feature, [`JsonLines`].

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_stream::Stream;

use super::RunningProcess;
use crate::error::{Error, Result};

impl RunningProcess {
    /// Streams stdout line by line (see [`MAX_LINE`](crate::running::MAX_LINE) for the splitting rules)
    /// for splitting rules). Stderr is drained in the background meanwhile.
    /// The stream ends at EOF, or when the run's deadline kills the tree.
    ///
    /// ```
    /// use processkit::StreamExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("seq").arg("3").start().await?;
    /// let n = run.stdout_lines().collect::<Vec<_>>().await.len();
    /// assert_eq!(n, 3);
    /// # Ok(()) }
    /// ```
    ///
    /// When the command's stdout is not captured (see
    /// [`Command::stdout`](crate::Command::stdout)) the stream is empty; use
    /// [`try_stdout_lines`](Self::try_stdout_lines) to get an error instead.
    #[doc(alias = "lines")]
    pub fn stdout_lines(&mut self) -> StdoutLines<'_> {
        self.detach_stderr();
        StdoutLines { run: self }
    }

    /// Like [`stdout_lines`](Self::stdout_lines), but returns
    /// [`Error::OutputNotCaptured`] when the command's stdout is not
    /// captured (inherited, a file, `/dev/null`) instead of an empty stream.
    ///
    /// ```
    /// use processkit::{Command, Destination, Error, StreamExt};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = Command::new("seq").arg("2").start().await?;
    /// assert_eq!(run.try_stdout_lines()?.collect::<Vec<_>>().await, ["1", "2"]);
    ///
    /// let mut quiet = Command::new("seq").arg("2").stdout(Destination::null()).start().await?;
    /// assert!(matches!(quiet.try_stdout_lines(), Err(Error::OutputNotCaptured { .. })));
    /// # Ok(()) }
    /// ```
    pub fn try_stdout_lines(&mut self) -> Result<StdoutLines<'_>> {
        if let Some(dest) = self.stdout_dest {
            return Err(Error::OutputNotCaptured {
                program: self.program.clone(),
                verb: "stdout_lines".to_owned(),
                destination: dest.to_owned(),
            });
        }
        Ok(self.stdout_lines())
    }

    /// The next stdout line. Every line delivered uses up a unit of tokio's
    /// cooperative budget, so a consumer of a fast child's lines gives the
    /// other tasks on its thread a turn (and sees a runtime shutdown) every
    /// so often, even while all the lines come out of the buffer.
    pub(super) fn poll_next_line(&mut self, cx: &mut Context<'_>) -> Poll<Option<String>> {
        let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        let line = std::task::ready!(self.poll_next_line_inner(cx));
        coop.made_progress();
        Poll::Ready(line)
    }

    fn poll_next_line_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<String>> {
        // A line already in the buffer needs no exit check, reactor round
        // trip or syscall (the exit, deadline and token are polled again as
        // soon as the buffer runs dry). A requested cancellation or an
        // expired deadline still takes the full path at once.
        if !self.is_cancel_requested()
            && self
                .extras
                .as_ref()
                .and_then(|x| x.deadline.as_ref())
                .is_none_or(|d| tokio::time::Instant::now() < d.deadline())
            && let Some(line) = self.stdout.buffered_line()
        {
            return Poll::Ready(Some(line));
        }
        let exit = self.poll_exit(cx);
        if self.cancelled {
            // A cancelled run is abandoned: its stream ends, unread lines included.
            self.stdout.close();
            return Poll::Ready(None);
        }
        match self.stdout.poll_line(cx) {
            Poll::Ready(line) => Poll::Ready(line),
            Poll::Pending => {
                if exit.is_ready() && self.drain_expired(cx) {
                    self.stdout.close();
                    return Poll::Ready(None);
                }
                if let Poll::Ready(Err(_)) = exit {
                    return Poll::Ready(None);
                }
                Poll::Pending
            }
        }
    }
}

/// The stream returned by [`RunningProcess::stdout_lines`].
pub struct StdoutLines<'a> {
    run: &'a mut RunningProcess,
}

impl std::fmt::Debug for StdoutLines<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutLines")
            .field("program", &self.run.program)
            .finish()
    }
}

impl Stream for StdoutLines<'_> {
    type Item = String;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.get_mut().run.poll_next_line(cx)
    }
}

/// The error for JSON that does not parse: the line serde stopped at
/// (1-based, counted in `text`) and a bounded excerpt of that line.
#[cfg(feature = "json")]
pub(crate) fn json_error(program: &str, text: &str, e: serde_json::Error) -> Error {
    let line = e.line().max(1);
    let quoted = text.lines().nth(line - 1).unwrap_or(text);
    Error::Parse {
        program: program.to_owned(),
        line: Some(line),
        excerpt: crate::error::excerpt(quoted, 120),
        reason: e.to_string(),
    }
}

#[cfg(feature = "json")]
impl RunningProcess {
    /// Streams stdout as newline-delimited JSON (NDJSON): each non-blank
    /// line is deserialized into a `T`. A malformed line yields an
    /// [`Error::Parse`] with its 1-based line number and a bounded excerpt,
    /// and the stream goes on with the next line. Stderr is drained in the
    /// background meanwhile, as for [`stdout_lines`](Self::stdout_lines).
    ///
    /// ```
    /// use processkit::{Command, Error, StreamExt};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// #[derive(serde::Deserialize)]
    /// struct Event { n: u32 }
    /// let mut run = Command::new("printf").arg("{\"n\":1}\\nnot json\\n{\"n\":3}\\n").start().await?;
    /// let got: Vec<processkit::Result<Event>> = run.json_lines().collect().await;
    /// assert_eq!(got[0].as_ref().unwrap().n, 1);
    /// assert!(matches!(got[1], Err(Error::Parse { line: Some(2), .. })));
    /// assert_eq!(got[2].as_ref().unwrap().n, 3);
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json_lines<T: serde::de::DeserializeOwned>(&mut self) -> JsonLines<'_, T> {
        self.detach_stderr();
        JsonLines {
            run: self,
            line: 0,
            _t: std::marker::PhantomData,
        }
    }
}

/// The stream returned by [`RunningProcess::json_lines`].
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub struct JsonLines<'a, T> {
    run: &'a mut RunningProcess,
    line: usize,
    _t: std::marker::PhantomData<fn() -> T>,
}

#[cfg(feature = "json")]
impl<T> std::fmt::Debug for JsonLines<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLines")
            .field("program", &self.run.program)
            .field("line", &self.line)
            .finish()
    }
}

#[cfg(feature = "json")]
impl<T: serde::de::DeserializeOwned> Stream for JsonLines<'_, T> {
    type Item = Result<T>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let this = self.get_mut();
        loop {
            let Some(text) = std::task::ready!(this.run.poll_next_line(cx)) else {
                return Poll::Ready(None);
            };
            this.line += 1;
            if text.trim().is_empty() {
                continue;
            }
            return Poll::Ready(Some(serde_json::from_str(&text).map_err(|e| {
                let mut err = json_error(&this.run.program, &text, e);
                if let Error::Parse { line, .. } = &mut err {
                    *line = Some(this.line);
                }
                err
            })));
        }
    }
}

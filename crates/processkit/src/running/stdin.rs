//! Writing to a child's stdin: the interactive [`StdinWriter`] and the
//! background feeder for [`Stdin::from_string`](crate::Stdin::from_string),
//! `from_bytes` and `from_lines`.

use tokio::io::AsyncWriteExt;
use tokio_stream::StreamExt;

use crate::error::{Error, Result};
use crate::stdin::StdinKind;
use crate::sys::WritePipe;

/// The write end of a child's stdin, from
/// [`RunningProcess::standard_input`](crate::RunningProcess::standard_input).
///
/// Dropping it (or calling [`finish`](Self::finish)) closes the pipe, which
/// the child sees as EOF.
///
/// ```
/// use processkit::{Command, StreamExt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let mut run = Command::new("cat").keep_stdin_open().start().await?;
/// let mut stdin = run.standard_input().expect("stdin was kept open");
/// stdin.write_line("ping").await?;
/// stdin.finish().await?;
/// let lines: Vec<String> = run.stdout_lines().collect().await;
/// assert_eq!(lines, ["ping"]);
/// # Ok(()) }
/// ```
pub struct StdinWriter {
    program: String,
    pipe: Option<WritePipe>,
}

impl std::fmt::Debug for StdinWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdinWriter")
            .field("program", &self.program)
            .field("open", &self.pipe.is_some())
            .finish()
    }
}

impl StdinWriter {
    pub(crate) fn new(program: String, pipe: WritePipe) -> Self {
        StdinWriter {
            program,
            pipe: Some(pipe),
        }
    }

    fn pipe(&mut self) -> Result<&mut WritePipe> {
        let program = &self.program;
        self.pipe.as_mut().ok_or_else(|| Error::Io {
            program: program.clone(),
            context: "writing to stdin".into(),
            source: std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdin was already closed"),
        })
    }

    /// Writes all of `bytes`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("cat").keep_stdin_open().start().await?;
    /// run.standard_input().unwrap().write_all(b"raw bytes").await?;
    /// # Ok(()) }
    /// ```
    pub async fn write_all(&mut self, bytes: impl AsRef<[u8]>) -> Result<()> {
        let program = self.program.clone();
        let pipe = self.pipe()?;
        pipe.write_all(bytes.as_ref())
            .await
            .map_err(|e| Error::io(&program, "writing to stdin", e))?;
        pipe.flush()
            .await
            .map_err(|e| Error::io(&program, "writing to stdin", e))
    }

    /// Writes `line` followed by `\n`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("cat").keep_stdin_open().start().await?;
    /// run.standard_input().unwrap().write_line("hello").await?;
    /// # Ok(()) }
    /// ```
    pub async fn write_line(&mut self, line: &str) -> Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.write_all(buf).await
    }

    /// Flushes and closes the pipe: the child sees EOF.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("cat").keep_stdin_open().start().await?;
    /// run.standard_input().unwrap().finish().await?;
    /// assert_eq!(run.wait().await?, Some(0));
    /// # Ok(()) }
    /// ```
    pub async fn finish(mut self) -> Result<()> {
        if let Some(mut pipe) = self.pipe.take() {
            match pipe.shutdown().await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(Error::io(&self.program, "closing stdin", e)),
            }
        }
        Ok(())
    }
}

/// Writes a `Stdin` source into the pipe, then closes it. A child that stops
/// reading early (EPIPE) is not an error.
pub(crate) async fn feed(kind: StdinKind, mut pipe: WritePipe) {
    match kind {
        StdinKind::Bytes(bytes) => {
            let _ = pipe.write_all(&bytes).await;
        }
        StdinKind::Lines(source) => {
            let stream = source.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(mut stream) = stream {
                while let Some(line) = stream.next().await {
                    let mut buf = line.into_bytes();
                    buf.push(b'\n');
                    if pipe.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            }
        }
        StdinKind::Null | StdinKind::Inherit | StdinKind::File(_) => {}
    }
    let _ = pipe.shutdown().await;
}

//! Readiness probes: wait until a started process is *ready*, not merely
//! started.
//!
//! Every probe fails with [`Error::NotReady`] at its deadline or as soon as
//! it can no longer pass (the process exited; for `wait_for_line`, stdout
//! closed), and never kills the process: the caller decides what happens
//! next. `NotReady` is distinct from [`Error::Timeout`], which belongs to the
//! run's own [`Command::timeout`](crate::Command::timeout).

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use super::RunningProcess;
use crate::error::{Error, Result};

/// How often `wait_for_port` and `wait_for` retry.
const PROBE_INTERVAL: Duration = Duration::from_millis(25);

impl RunningProcess {
    fn not_ready(&self, reason: impl Into<String>) -> Error {
        Error::NotReady {
            program: self.program.clone(),
            reason: reason.into(),
        }
    }

    fn exited_reason(&self) -> String {
        match self.status {
            Some(s) => format!("the process exited ({s}) before it became ready"),
            None => "the process exited before it became ready".into(),
        }
    }

    /// Waits until stdout prints a line that satisfies `pred` and returns
    /// it. Consumes stdout up to and including that line; go on with
    /// [`stdout_lines`](Self::stdout_lines) or
    /// [`finish_streamed`](Self::finish_streamed).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("sh")
    ///     .args(["-c", "echo booting; echo listening on 8080; sleep 5"])
    ///     .start().await?;
    /// let line = run.wait_for_line(|l| l.contains("listening"), Duration::from_secs(5)).await?;
    /// assert_eq!(line, "listening on 8080");
    /// # Ok(()) }
    /// ```
    pub async fn wait_for_line(
        &mut self,
        mut pred: impl FnMut(&str) -> bool,
        within: Duration,
    ) -> Result<String> {
        self.detach_stderr();
        let deadline = tokio::time::sleep(within);
        tokio::pin!(deadline);
        loop {
            let next = poll_fn(|cx| {
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(()));
                }
                self.poll_next_line(cx).map(Ok)
            })
            .await;
            match next {
                Err(()) => {
                    let why = if self.stdout.received_any() {
                        format!("no matching line within {within:?}")
                    } else {
                        format!(
                            "no matching line within {within:?}: the child wrote nothing to \
                             stdout at all; programs usually buffer their output when stdout \
                             is a pipe (for Python set PYTHONUNBUFFERED=1; for C programs try \
                             `stdbuf -oL`)"
                        )
                    };
                    return Err(self.not_ready(why));
                }
                Ok(Some(line)) if pred(&line) => return Ok(line),
                Ok(Some(_)) => continue,
                Ok(None) => {
                    if let Some(e) = self.end_error() {
                        return Err(e);
                    }
                    let why = if self.status.is_some() {
                        self.exited_reason()
                    } else {
                        "stdout closed without a matching line".into()
                    };
                    return Err(self.not_ready(why));
                }
            }
        }
    }

    /// Waits until a TCP connection to `addr` succeeds. Consumes no output:
    /// stdout is buffered meanwhile (still there for `stdout_lines`) and
    /// stderr drained, so a chatty server cannot block on a full pipe.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("my-server").start().await?;
    /// run.wait_for_port("127.0.0.1:8080".parse().unwrap(), Duration::from_secs(10)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_for_port(&mut self, addr: SocketAddr, within: Duration) -> Result<()> {
        self.probe_until(within, move || async move {
            matches!(
                tokio::time::timeout(
                    Duration::from_millis(500),
                    tokio::net::TcpStream::connect(addr)
                )
                .await,
                Ok(Ok(_))
            )
        })
        .await
        .map_err(|e| match e {
            Error::NotReady { program, reason } if reason.starts_with("not ready within") => {
                Error::NotReady {
                    program,
                    reason: format!("{addr} did not accept a connection within {within:?}"),
                }
            }
            other => other,
        })
    }

    /// Waits until `check` resolves to `true`. Consumes no output (stdout
    /// is buffered meanwhile, stderr drained).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let marker = std::env::temp_dir().join(format!("pk-doc-ready-{}", std::process::id()));
    /// let mut run = processkit::Command::new("sh")
    ///     .args(["-c", &format!("touch {}; sleep 5", marker.display())])
    ///     .start().await?;
    /// let m = marker.clone();
    /// run.wait_for(move || { let m = m.clone(); async move { m.exists() } }, Duration::from_secs(5)).await?;
    /// std::fs::remove_file(marker).ok();
    /// # Ok(()) }
    /// ```
    pub async fn wait_for<F, Fut>(&mut self, check: F, within: Duration) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        self.probe_until(within, check).await
    }

    async fn probe_until<F, Fut>(&mut self, within: Duration, mut check: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        // Output is kept flowing (stdout buffered for later reads, stderr
        // drained) so a server that logs a lot before it listens cannot
        // block on a full pipe while the probe waits.
        self.detach_stderr();
        let deadline = Instant::now() + within;
        loop {
            // A cancelled run is never ready (polling the exit drives the token).
            self.has_exited()?;
            if let Some(e) = self.final_error() {
                return Err(e);
            }
            if let Ok(true) = tokio::time::timeout_at(deadline, check()).await {
                return Ok(());
            }
            if self.has_exited()? {
                if let Some(e) = self.end_error() {
                    return Err(e);
                }
                return Err(self.not_ready(self.exited_reason()));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.not_ready(format!("not ready within {within:?}")));
            }
            // Sleep until the next attempt, waking early if the process exits.
            let nap = tokio::time::sleep_until((now + PROBE_INTERVAL).min(deadline));
            tokio::pin!(nap);
            poll_fn(|cx| {
                if nap.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(());
                }
                let _ = self.stdout.poll_buffer(cx, super::WAIT_BUFFER);
                match self.poll_exit(cx) {
                    Poll::Ready(_) => Poll::Ready(()),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await;
        }
    }

    /// Polls the exit once without waiting.
    fn has_exited(&mut self) -> Result<bool> {
        let waker = futures_noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        match self.poll_exit(&mut cx) {
            Poll::Ready(Ok(_)) => Ok(true),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Ok(false),
        }
    }
}

fn futures_noop_waker() -> std::task::Waker {
    std::task::Waker::noop().clone()
}

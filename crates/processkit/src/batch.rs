//! Racing, joining and fanning out: [`wait_any`], [`wait_all`], [`output_all`].

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use tokio::sync::Semaphore;

use crate::error::Result;
use crate::result::ProcessResult;
use crate::runner::{ProcessRunner, ProcessRunnerExt};
use crate::{Command, RunningProcess};

/// Waits until the first of `procs` exits and returns its index and exit
/// code (`None` if it was killed). Borrows only: the others keep running and
/// stay usable. No per-process timeout is applied (wrap the call in
/// `tokio::time::timeout`).
///
/// ```
/// use processkit::{Command, wait_any};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let mut slow = Command::new("sleep").arg("30").start().await?;
/// let mut fast = Command::new("sh").args(["-c", "exit 2"]).start().await?;
/// let (idx, code) = wait_any(&mut [&mut slow, &mut fast]).await?;
/// assert_eq!((idx, code), (1, Some(2)));
/// assert!(slow.exit_status().is_none()); // still running
/// # Ok(()) }
/// ```
pub async fn wait_any(procs: &mut [&mut RunningProcess]) -> Result<(usize, Option<i32>)> {
    if procs.is_empty() {
        return Err(crate::Error::InvalidInput {
            program: "wait_any".into(),
            reason: "no processes to wait for".into(),
        });
    }
    let (idx, result) = poll_fn(|cx| {
        for (i, p) in procs.iter_mut().enumerate() {
            let fut = p.wait();
            tokio::pin!(fut);
            if let Poll::Ready(r) = fut.poll(cx) {
                return Poll::Ready((i, r));
            }
        }
        Poll::Pending
    })
    .await;
    Ok((idx, result?))
}

/// Waits for every process and returns their exit codes in input order.
///
/// ```
/// use processkit::{Command, wait_all};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let mut a = Command::new("sh").args(["-c", "exit 1"]).start().await?;
/// let mut b = Command::new("true").start().await?;
/// assert_eq!(wait_all(&mut [&mut a, &mut b]).await?, vec![Some(1), Some(0)]);
/// # Ok(()) }
/// ```
pub async fn wait_all(procs: &mut [&mut RunningProcess]) -> Result<Vec<Option<i32>>> {
    let mut codes = Vec::with_capacity(procs.len());
    for p in procs.iter_mut() {
        codes.push(p.wait().await?);
    }
    Ok(codes)
}

/// Runs every command with at most `concurrency` processes alive at once
/// and returns one independent result per command, in input order. A
/// failure never short-circuits the batch.
///
/// ```
/// use processkit::{Command, JobRunner, output_all};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let cmds = (0..10).map(|i| Command::new("sh").args(["-c", &format!("exit $(({i} % 2))")]));
/// let results = output_all(cmds, 4, &JobRunner).await;
/// let failed = results.iter().filter(|r| !matches!(r, Ok(o) if o.is_success())).count();
/// assert_eq!(failed, 5);
/// # Ok(()) }
/// ```
pub async fn output_all<I, R>(
    commands: I,
    concurrency: usize,
    runner: &R,
) -> Vec<Result<ProcessResult<String>>>
where
    I: IntoIterator<Item = Command>,
    R: ProcessRunner + ?Sized,
{
    let commands: Vec<Command> = commands.into_iter().collect();
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let futures = commands.iter().map(|cmd| {
        let permits = permits.clone();
        async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("semaphore never closed");
            runner.output_string(cmd).await
        }
    });
    join_all_ordered(futures).await
}

/// Polls every future concurrently on the current task; results in order.
async fn join_all_ordered<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    let mut futs: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    let mut remaining = futs.len();
    poll_fn(|cx| {
        for (i, f) in futs.iter_mut().enumerate() {
            if out[i].is_none()
                && let Poll::Ready(v) = f.as_mut().poll(cx)
            {
                out[i] = Some(v);
                remaining -= 1;
            }
        }
        if remaining == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future completed"))
        .collect()
}

//! Racing, joining and fanning out: [`wait_any`], [`wait_all`], [`output_all`].

use std::future::poll_fn;
use std::task::Poll;

use crate::error::Result;
use crate::result::ProcessResult;
use crate::runner::{BoxFuture, ProcessRunner, ProcessRunnerExt};
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
    let cap = concurrency.max(1);
    let mut results: Vec<Option<Result<ProcessResult<String>>>> =
        commands.iter().map(|_| None).collect();
    // A sliding window of at most `cap` runs: a run starts only when one
    // finishes, and each wake-up polls at most `cap` futures.
    let mut in_flight: Vec<(usize, BoxFuture<'_, Result<ProcessResult<String>>>)> =
        Vec::with_capacity(cap);
    let mut next = 0;
    poll_fn(|cx| {
        loop {
            while in_flight.len() < cap && next < commands.len() {
                in_flight.push((next, runner.output_string(&commands[next])));
                next += 1;
            }
            let mut finished_any = false;
            in_flight.retain_mut(|(i, fut)| match fut.as_mut().poll(cx) {
                Poll::Ready(r) => {
                    results[*i] = Some(r);
                    finished_any = true;
                    false
                }
                Poll::Pending => true,
            });
            if in_flight.is_empty() && next >= commands.len() {
                return Poll::Ready(());
            }
            if !finished_any {
                return Poll::Pending;
            }
        }
    })
    .await;
    results
        .into_iter()
        .map(|r| r.expect("every command ran"))
        .collect()
}

//! Cancelling on a schedule, for the suites that also run on Windows (they
//! include this file alone; `common` itself is for Unix).

#![allow(dead_code)]

use std::time::Duration;

/// Cancels `token` once `after` has passed on tokio's clock (paused or
/// not); awaiting the handle shows the cancel was sent.
pub fn cancel_after(
    token: &processkit::CancellationToken,
    after: Duration,
) -> tokio::task::JoinHandle<()> {
    let token = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        token.cancel();
    })
}

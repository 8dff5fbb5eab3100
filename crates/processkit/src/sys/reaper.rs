//! The background reaper: finishes teardown work that must not block a
//! tokio worker.
//!
//! `Drop` of a process handle or a container kills the tree at once (a
//! single non-blocking syscall or file write), but the last steps have to
//! wait for the kernel: reaping the killed direct child so no zombie is left,
//! and removing a cgroup directory, which only succeeds once the cgroup is
//! empty. Those steps are handed to one lazily started thread that polls
//! them with a short, growing back-off. A task that still is not done after
//! [`GIVE_UP`] is dropped; the leftover sweep on the next start collects
//! whatever it left.

use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// How long a task is retried before the reaper gives up on it.
const GIVE_UP: Duration = Duration::from_secs(120);

/// One unit of deferred teardown work.
pub(crate) enum Task {
    /// Reap a (killed or exiting) direct child through its pidfd.
    #[cfg(target_os = "linux")]
    ReapPidfd(std::os::fd::OwnedFd),
    /// Anything else: called until it returns `true`.
    Poll(Box<dyn FnMut() -> bool + Send>),
    /// Like `Poll`, for something that may take hours (a detached child's
    /// cgroup leaf emptying, a raw leader being reaped by its owner): kept
    /// for as long as it is not done, looked at twice a second at most.
    #[cfg_attr(not(unix), allow(dead_code))]
    Watch(Box<dyn FnMut() -> bool + Send>),
}

impl Task {
    /// A detached, still-running child may run for hours: keep polling it.
    fn never_gives_up(&self) -> bool {
        match self {
            #[cfg(target_os = "linux")]
            Task::ReapPidfd(_) => true,
            Task::Watch(_) => true,
            Task::Poll(_) => false,
        }
    }

    fn step(&mut self) -> bool {
        match self {
            #[cfg(target_os = "linux")]
            Task::ReapPidfd(fd) => reap_pidfd_now(fd),
            Task::Poll(f) | Task::Watch(f) => f(),
        }
    }
}

static SENDER: Mutex<Option<Sender<Task>>> = Mutex::new(None);

/// Hands `task` to the reaper thread. Runs it once inline first: most tasks
/// (a child that already exited, an empty cgroup) finish right away.
pub(crate) fn submit(mut task: Task) {
    if task.step() {
        return;
    }
    let mut guard = SENDER.lock().unwrap_or_else(|p| p.into_inner());
    if guard.is_none() {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("processkit-reaper".into())
            .spawn(move || run(rx));
        if spawned.is_err() {
            // No thread can be started: inside a tokio runtime the task runs
            // as an async task there (its waits are timers or fd readiness,
            // never a sleep on a worker); elsewhere it is parked, and later
            // submissions step it again. Nothing here may sleep: `submit`
            // runs in `Drop`.
            drop(guard);
            if let Err(task) = on_runtime(task) {
                park(task);
            }
            return;
        }
        // Anything parked while no thread could start goes to it now.
        let parked = std::mem::take(&mut *PARKED.lock().unwrap_or_else(|p| p.into_inner()));
        for (t, _) in parked {
            let _ = tx.send(t);
        }
        *guard = Some(tx);
    }
    if let Some(tx) = guard.as_ref()
        && let Err(mpsc::SendError(task)) = tx.send(task)
    {
        drop(guard);
        park(task);
    }
}

/// Runs `task` as an async task on the current tokio runtime, if there is
/// one. A child's reaping waits for its pidfd to become readable; anything
/// else is looked at again after a growing timer.
fn on_runtime(task: Task) -> Result<(), Task> {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return Err(task);
    };
    rt.spawn(drive(task));
    Ok(())
}

async fn drive(task: Task) {
    let mut task = match task {
        #[cfg(target_os = "linux")]
        Task::ReapPidfd(fd) => match reap_when_readable(fd).await {
            None => return,
            Some(fd) => Task::ReapPidfd(fd),
        },
        other => other,
    };
    let since = Instant::now();
    let mut nap = Duration::from_millis(1);
    loop {
        if task.step() || (!task.never_gives_up() && since.elapsed() > GIVE_UP) {
            return;
        }
        tokio::time::sleep(nap).await;
        let cap = if task.never_gives_up() {
            Duration::from_millis(500)
        } else {
            Duration::from_millis(50)
        };
        nap = (nap * 2).min(cap);
    }
}

/// Reaps the child behind `fd` once it has exited (a pidfd becomes
/// readable then). Gives the fd back when the runtime cannot watch it (no
/// I/O driver), for the timer loop.
#[cfg(target_os = "linux")]
async fn reap_when_readable(fd: std::os::fd::OwnedFd) -> Option<std::os::fd::OwnedFd> {
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;
    // SAFETY: the OwnedFd stays open and names the same pidfd for as long
    // as the AsyncFd owns it.
    let afd = match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
        Ok(afd) => afd,
        Err(e) => return Some(e.into_parts().0),
    };
    loop {
        if reap_pidfd_now(afd.get_ref()) {
            return None;
        }
        match afd.readable().await {
            Ok(mut ready) => ready.clear_ready(),
            Err(_) => return Some(afd.into_inner()),
        }
    }
}

/// One non-blocking look: `true` once the child behind `fd` is reaped (or
/// was reaped elsewhere).
#[cfg(target_os = "linux")]
fn reap_pidfd_now(fd: &std::os::fd::OwnedFd) -> bool {
    use rustix::process::{WaitId, WaitIdOptions, waitid};
    use std::os::fd::AsFd;
    match waitid(
        WaitId::PidFd(fd.as_fd()),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
    ) {
        Ok(Some(_)) => true,
        Ok(None) => false,
        Err(_) => true, // already reaped (ECHILD): nothing left to do
    }
}

/// Tasks that could not go to a reaper thread (none could be started).
static PARKED: Mutex<Vec<(Task, Instant)>> = Mutex::new(Vec::new());

/// Keeps `task` for a later [`submit`] to step, and steps every parked task
/// once now (each step is a few non-blocking syscalls).
fn park(task: Task) {
    let mut parked = PARKED.lock().unwrap_or_else(|p| p.into_inner());
    parked.retain_mut(|(task, since)| {
        !task.step() && (task.never_gives_up() || since.elapsed() < GIVE_UP)
    });
    parked.push((task, Instant::now()));
}

/// Number of parked tasks (for tests).
#[cfg(test)]
fn parked_len() -> usize {
    PARKED.lock().unwrap_or_else(|p| p.into_inner()).len()
}

fn run(rx: Receiver<Task>) {
    let mut pending: Vec<(Task, Instant)> = Vec::new();
    let mut nap = Duration::from_millis(1);
    loop {
        let next = if pending.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(nap)
        };
        match next {
            Ok(task) => {
                pending.push((task, Instant::now()));
                nap = Duration::from_millis(1);
            }
            Err(RecvTimeoutError::Timeout) => {
                // Killed trees and cgroups settle within milliseconds; what
                // is left after that is usually a detached, still-running
                // child, which may run for hours: look less often.
                let cap = if pending.iter().all(|(t, _)| t.never_gives_up()) {
                    Duration::from_millis(500)
                } else {
                    Duration::from_millis(50)
                };
                nap = (nap * 2).min(cap);
            }
            Err(RecvTimeoutError::Disconnected) => {
                if pending.is_empty() {
                    return;
                }
                // Nothing can arrive any more: just pace the remaining work.
                std::thread::sleep(nap);
            }
        }
        pending.retain_mut(|(task, since)| {
            !task.step() && (task.never_gives_up() || since.elapsed() < GIVE_UP)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a reaper thread a task is parked, never waited for: `submit`
    /// runs inside `Drop`, on whatever thread drops a handle.
    #[test]
    fn a_task_without_a_thread_is_parked_without_blocking() {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        let before = parked_len();
        let start = Instant::now();
        park(Task::Poll(Box::new(move || {
            flag.load(std::sync::atomic::Ordering::SeqCst)
        })));
        assert!(
            start.elapsed() < Duration::from_millis(100),
            "parking blocked for {:?}",
            start.elapsed()
        );
        assert_eq!(parked_len(), before + 1);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        park(Task::Poll(Box::new(|| false)));
        assert_eq!(parked_len(), before + 1, "the finished task was dropped");
    }
}

//! The process behind a [`RunningProcess`](crate::RunningProcess) handle (a
//! real child or a scripted stand-in) and who owns its container.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Sleep;

use crate::result::ExitStatus;
use crate::sys;

/// Who owns the container a process lives in.
pub(crate) enum Owner {
    /// The handle owns it: dropping the handle tears it down. Boxed, so
    /// that a group member's handle does not carry room for it.
    Own(Box<sys::Container>),
    /// A shared [`ProcessGroup`](crate::ProcessGroup) owns it.
    Shared,
    /// A pipeline stage: the pipeline owns the container, but this stage's
    /// own subtree is torn down when its direct child exits (so a
    /// backgrounded grandchild cannot hold the next stage's pipe open).
    Stage,
}

/// The process behind a handle: a real child or a scripted stand-in.
pub(crate) enum Proc {
    /// Fields drop in this order: a container the handle owns is killed
    /// before the child is dropped, so the child's reaping (handed off by
    /// its `Drop`) finds a dying process, not a live one.
    Real {
        owner: Owner,
        member: std::sync::Arc<sys::Member>,
        child: sys::Child,
    },
    Scripted {
        status: ExitStatus,
        exit_at: Option<Pin<Box<Sleep>>>,
        killed: bool,
    },
}

impl Proc {
    pub(crate) fn pid(&self) -> Option<u32> {
        match self {
            Proc::Real { child, .. } => Some(child.id()),
            Proc::Scripted { .. } => None,
        }
    }

    pub(crate) fn kills_tree_on_exit(&self) -> bool {
        matches!(
            self,
            Proc::Real {
                owner: Owner::Own(_) | Owner::Stage,
                ..
            }
        )
    }

    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<ExitStatus>> {
        match self {
            Proc::Real { child, .. } => child.poll_wait(cx),
            Proc::Scripted {
                status,
                exit_at,
                killed,
            } => {
                if *killed {
                    return Poll::Ready(Ok(ExitStatus::from_signal(9)));
                }
                if let Some(sleep) = exit_at
                    && sleep.as_mut().poll(cx).is_pending()
                {
                    return Poll::Pending;
                }
                Poll::Ready(Ok(*status))
            }
        }
    }

    /// Hard-kills this process's own tree (not siblings in a shared group).
    /// A handle that owns its container takes all of it down (for a started
    /// pipeline: every stage).
    pub(crate) fn kill_tree(&mut self) {
        match self {
            Proc::Real {
                member,
                child,
                owner,
            } => {
                match owner {
                    // The handle owns the container (a one-shot run, or a
                    // started pipeline whose other stages share it): the
                    // whole container goes.
                    Owner::Own(container) => {
                        let _ = container.kill_all();
                    }
                    // A group member or pipeline stage: only its own subtree.
                    Owner::Shared | Owner::Stage => {
                        let _ = member.kill_tree();
                    }
                }
                let _ = child.signal(kill_signal());
            }
            Proc::Scripted { killed, .. } => *killed = true,
        }
    }

    #[cfg_attr(not(feature = "process-control"), allow(dead_code))]
    pub(crate) fn signal_tree(&mut self, sig: i32) -> std::io::Result<()> {
        match self {
            Proc::Real { member, .. } => member.signal_tree(sig),
            Proc::Scripted { killed, .. } => {
                if sig == kill_signal() {
                    *killed = true;
                }
                Ok(())
            }
        }
    }

    #[cfg_attr(not(feature = "stats"), allow(dead_code))]
    pub(crate) fn member(&self) -> Option<&sys::Member> {
        match self {
            Proc::Real { member, .. } => Some(member.as_ref()),
            Proc::Scripted { .. } => None,
        }
    }
}

#[cfg(unix)]
pub(crate) fn kill_signal() -> i32 {
    libc::SIGKILL
}
#[cfg(not(unix))]
pub(crate) fn kill_signal() -> i32 {
    9
}

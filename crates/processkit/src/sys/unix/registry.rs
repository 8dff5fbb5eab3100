//! Where a process-group container reports the groups it tracks, so that a
//! watcher outside the host (the guardian) can kill them if the host dies
//! without running `Drop`. The façade hands the watcher's functions in; the
//! backend never names the watcher. A leaf of `sys/unix/`.

/// The functions a process-group container calls as it starts and stops
/// tracking a group (named by its leader's pid).
#[derive(Clone, Copy)]
pub(crate) struct GroupRegistry {
    /// Registers a group, before any signal can reach it.
    pub register: fn(u32),
    /// Forgets a released group before its leader is reaped (so nothing
    /// holds an id that is free again); `false` when that cannot be done
    /// now, and it is tried again later.
    pub try_unregister: fn(u32) -> bool,
}

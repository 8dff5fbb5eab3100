//! Which Linux spawner is in force: the one `PROCESSKIT_SPAWNER` asks
//! for, and whether `clone` was refused (then `std::process` is used from
//! there on). A leaf of `sys/unix/`, read by the spawners and the façade.

#[cfg(target_os = "linux")]
use std::sync::OnceLock;

/// Which spawner Linux uses, decided once.
#[cfg(target_os = "linux")]
pub(crate) static CLONE_REFUSED: OnceLock<String> = OnceLock::new();

/// Which Linux spawner `PROCESSKIT_SPAWNER` asks for (read once): `std`
/// (std::process with a `pre_exec` hook) or `clone` (the vfork-style clone
/// joining the cgroup through `cgroup.procs`, without `clone3`). Both are
/// the fallbacks of the default and exist so they can be tested on any host.
#[cfg(target_os = "linux")]
pub(crate) fn forced_spawner() -> Option<&'static str> {
    static FORCED: OnceLock<Option<String>> = OnceLock::new();
    FORCED
        .get_or_init(|| {
            std::env::var("PROCESSKIT_SPAWNER")
                .ok()
                .filter(|v| v == "std" || v == "clone")
        })
        .as_deref()
}

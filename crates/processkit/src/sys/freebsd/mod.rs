//! FreeBSD-only mechanisms.

pub(crate) mod reaper;

//! Passing shortages: errors that say "not right now" rather than "never".
//!
//! A full fd table (`EMFILE`, `ENFILE`), a reached process or thread limit
//! (`EAGAIN`) or a short spell without memory (`ENOMEM`) at the moment a
//! host probe or the guardian's start happens says nothing about the host
//! itself. Such a failure is never kept for the life of the process: the
//! probe (or the start) runs again the next time it is needed, up to
//! [`MAX_SHORTAGES`] times, so a fault that lasts for ever still ends in a
//! settled answer instead of a retry on every call.

use std::borrow::Cow;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// How many times a probe (or the guardian's start) that failed for a
/// passing shortage is tried again before its last failure is kept.
pub(crate) const MAX_SHORTAGES: u32 = 256;

/// `true` for an error that a passing shortage of fds, processes or memory
/// explains.
pub(crate) fn is_shortage(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::EAGAIN | libc::ENOMEM)
    ) || e.kind() == io::ErrorKind::OutOfMemory
}

/// Why a probe failed.
pub(crate) enum ProbeError {
    /// For good: the answer is kept.
    Final(String),
    /// For a passing shortage: asked again next time.
    Shortage(String),
}

impl ProbeError {
    /// `Shortage` when `e` is one, `Final` otherwise; the text is `what`
    /// followed by the error.
    pub(crate) fn from_io(what: impl std::fmt::Display, e: &io::Error) -> ProbeError {
        let text = format!("{what}: {e}");
        if is_shortage(e) {
            ProbeError::Shortage(text)
        } else {
            ProbeError::Final(text)
        }
    }
}

/// A host probe whose answer is kept once it is final.
pub(crate) struct Probe<T: 'static> {
    answer: OnceLock<Result<T, String>>,
    shortages: AtomicU32,
    /// One probe at a time: a probe may create things (a cgroup directory).
    running: Mutex<()>,
}

impl<T: Send + Sync + 'static> Probe<T> {
    pub(crate) const fn new() -> Self {
        Probe {
            answer: OnceLock::new(),
            shortages: AtomicU32::new(0),
            running: Mutex::new(()),
        }
    }

    /// The kept answer if there is one.
    pub(crate) fn settled(&'static self) -> Option<Result<&'static T, &'static str>> {
        self.answer
            .get()
            .map(|r| r.as_ref().map_err(String::as_str))
    }

    /// The answer: the kept one, or `probe`'s. A failure for a passing
    /// shortage is returned (with a note saying so) but not kept, until
    /// [`MAX_SHORTAGES`] of them were seen.
    pub(crate) fn get(
        &'static self,
        probe: impl FnOnce() -> Result<T, ProbeError>,
    ) -> Result<&'static T, Cow<'static, str>> {
        if let Some(r) = self.settled() {
            return r.map_err(Cow::Borrowed);
        }
        let _one = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = self.settled() {
            return r.map_err(Cow::Borrowed);
        }
        let kept = match probe() {
            Ok(v) => Ok(v),
            Err(ProbeError::Final(reason)) => Err(reason),
            Err(ProbeError::Shortage(reason)) => {
                let seen = self.shortages.fetch_add(1, Ordering::Relaxed) + 1;
                if seen < MAX_SHORTAGES {
                    return Err(Cow::Owned(format!(
                        "{reason} (a passing shortage: asked again next time)"
                    )));
                }
                Err(format!(
                    "{reason} (still short after {MAX_SHORTAGES} tries: not asked again)"
                ))
            }
        };
        let _ = self.answer.set(kept);
        self.settled()
            .expect("set just above")
            .map_err(Cow::Borrowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortages_are_asked_again_and_final_answers_are_kept() {
        static P: Probe<u32> = Probe::new();
        let e = io::Error::from_raw_os_error(libc::EMFILE);
        let first = P.get(|| Err(ProbeError::from_io("reading x", &e)));
        assert!(
            first.as_ref().unwrap_err().contains("Too many open files"),
            "{first:?}"
        );
        assert_eq!(*P.get(|| Ok(7)).unwrap(), 7);
        assert_eq!(*P.get(|| Ok(8)).unwrap(), 7, "a final answer is kept");

        static Q: Probe<u32> = Probe::new();
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert!(Q.get(|| Err(ProbeError::from_io("reading y", &e))).is_err());
        assert!(Q.get(|| Ok(1)).is_err(), "a final failure is kept");
    }

    #[test]
    fn shortages_are_bounded() {
        static P: Probe<u32> = Probe::new();
        let e = io::Error::from_raw_os_error(libc::EAGAIN);
        for _ in 0..MAX_SHORTAGES {
            assert!(P.get(|| Err(ProbeError::from_io("x", &e))).is_err());
        }
        assert!(P.get(|| Ok(1)).is_err(), "kept after the bound");
    }
}

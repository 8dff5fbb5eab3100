//! A direct child, tracked by its process handle.
//!
//! A process handle names one process for as long as it is open (Windows
//! does not reuse the pid meanwhile), and it becomes signalled when the
//! process exits. Waiting is a thread-pool wait
//! (`RegisterWaitForSingleObject`) whose callback wakes the task, so no
//! thread blocks per child. The registration lives in the [`Child`]: polling
//! again after a dropped future reuses it, which makes waiting cancel-safe.
//! Windows has no zombies: nothing needs reaping after exit.

use std::io;
use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use windows_sys::Win32::Foundation::{
    HANDLE, INVALID_HANDLE_VALUE, WAIT_FAILED, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, INFINITE, RegisterWaitForSingleObject, UnregisterWaitEx,
    WT_EXECUTEONLYONCE, WaitForSingleObject,
};

use super::job::{KILLED_EXIT_CODE, terminate_process};
use super::win32::last_error;
use crate::sys::status::ExitStatus;

/// A direct child on Windows.
pub(crate) struct Child {
    pid: u32,
    process: Arc<OwnedHandle>,
    status: Option<ExitStatus>,
    wait: Option<Registration>,
    /// Flags raised before something of ours kills this process (its job,
    /// its nested job, a direct `TerminateProcess`).
    marks: Vec<Arc<AtomicBool>>,
    /// Raised by a direct `TerminateProcess` of this child.
    direct_killed: Arc<AtomicBool>,
}

impl Child {
    pub(crate) fn new(
        pid: u32,
        process: Arc<OwnedHandle>,
        marks: Vec<Arc<AtomicBool>>,
        direct_killed: Arc<AtomicBool>,
    ) -> Child {
        Child {
            pid,
            process,
            status: None,
            wait: None,
            marks,
            direct_killed,
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.pid
    }

    fn raw(&self) -> HANDLE {
        self.process.as_raw_handle()
    }

    /// Non-blocking status check.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        // SAFETY: a valid process handle, and a zero timeout.
        match unsafe { WaitForSingleObject(self.raw(), 0) } {
            WAIT_OBJECT_0 => {}
            WAIT_TIMEOUT => return Ok(None),
            WAIT_FAILED => return Err(last_error()),
            other => return Err(io::Error::other(format!("unexpected wait result {other}"))),
        }
        let mut code = 0u32;
        // SAFETY: a valid process handle and an out-pointer to a local.
        if unsafe { GetExitCodeProcess(self.raw(), &mut code) } == 0 {
            return Err(last_error());
        }
        let killed_by_us =
            code == KILLED_EXIT_CODE && self.marks.iter().any(|m| m.load(Ordering::SeqCst));
        let status = if killed_by_us {
            ExitStatus::from_signal(9)
        } else {
            ExitStatus::from_code(code as i32)
        };
        self.status = Some(status);
        self.wait = None;
        Ok(Some(status))
    }

    /// Polls for the child's exit. Cancel-safe: all state lives in `self`.
    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        match self.try_wait() {
            Ok(Some(s)) => return Poll::Ready(Ok(s)),
            Ok(None) => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
        if self.wait.is_none() {
            match Registration::new(self.raw()) {
                Ok(r) => self.wait = Some(r),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let Some(wait) = &self.wait else {
            return Poll::Ready(Err(io::Error::other("no wait registration")));
        };
        wait.state.set_waker(cx.waker());
        // The process may have exited between the check above and storing
        // the waker: look again rather than risk a lost wake-up.
        match self.try_wait() {
            Ok(Some(s)) => Poll::Ready(Ok(s)),
            Ok(None) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Delivers `sig` to the direct child only. Only 9 (`TerminateProcess`)
    /// exists on Windows; other signals are rejected before they get here.
    pub(crate) fn signal(&self, sig: i32) -> io::Result<()> {
        if sig != 9 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("signal {sig} cannot be delivered: Windows has no POSIX signals"),
            ));
        }
        if self.status.is_some() {
            return Ok(());
        }
        terminate_process(&self.process, &self.direct_killed)
    }
}

/// What the thread-pool callback shares with the task.
struct WaitState {
    waker: Mutex<Option<Waker>>,
}

impl WaitState {
    fn set_waker(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_ref() {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }
}

/// A registered thread-pool wait on a process handle.
struct Registration {
    wait: HANDLE,
    /// One strong count, handed to the callback as its context and taken
    /// back in `Drop` once no callback can run any more.
    state: Arc<WaitState>,
    context: *const WaitState,
}

// SAFETY: the wait handle is only used to unregister (from any thread), and
// the context pointer is an `Arc` whose pointee is Sync.
unsafe impl Send for Registration {}
// SAFETY: shared access never touches the raw fields.
unsafe impl Sync for Registration {}

/// Runs on a thread-pool thread once the process is signalled.
unsafe extern "system" fn on_exit(context: *mut core::ffi::c_void, _timed_out: bool) {
    // SAFETY: `context` is the pointer from `Arc::into_raw` in
    // `Registration::new`; that strong count is only released after
    // `UnregisterWaitEx` has waited for this callback to finish.
    let state = unsafe { &*(context as *const WaitState) };
    let waker = state.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(w) = waker {
        w.wake();
    }
}

impl Registration {
    fn new(process: HANDLE) -> io::Result<Registration> {
        let state = Arc::new(WaitState {
            waker: Mutex::new(None),
        });
        let context = Arc::into_raw(state.clone());
        let mut wait: HANDLE = std::ptr::null_mut();
        // SAFETY: a valid process handle that stays open while the
        // registration exists (the `Child` owns both and drops the
        // registration first); the callback matches WAITORTIMERCALLBACK; the
        // context stays valid until `Drop` (see `on_exit`).
        let ok = unsafe {
            RegisterWaitForSingleObject(
                &mut wait,
                process,
                Some(on_exit),
                context.cast(),
                INFINITE,
                WT_EXECUTEONLYONCE,
            )
        };
        if ok == 0 {
            let e = last_error();
            // SAFETY: the registration failed, so nothing else holds the
            // count taken by `into_raw`.
            drop(unsafe { Arc::from_raw(context) });
            return Err(e);
        }
        Ok(Registration {
            wait,
            state,
            context,
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // INVALID_HANDLE_VALUE: return only once no callback is running or
        // can still run (the callback is a few instructions long).
        // SAFETY: the wait handle came from a successful registration and is
        // unregistered exactly once.
        unsafe { UnregisterWaitEx(self.wait, INVALID_HANDLE_VALUE) };
        // SAFETY: no callback can use the context any more; this releases
        // the count taken in `new`.
        drop(unsafe { Arc::from_raw(self.context) });
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Unregister before the process handle can close.
        self.wait = None;
    }
}

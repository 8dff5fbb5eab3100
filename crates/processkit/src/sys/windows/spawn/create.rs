//! The `CreateProcessW` call: the process created suspended, with exactly
//! the three standard handles inherited.

use std::io;
use std::mem::size_of;
use std::os::windows::io::{AsRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{
    ERROR_INTERNAL_ERROR, HANDLE, HANDLE_FLAG_INHERIT, SetHandleInformation,
};
use windows_sys::Win32::System::Threading::{
    CREATE_NO_WINDOW, CREATE_SUSPENDED, CREATE_UNICODE_ENVIRONMENT, CreateProcessW,
    DeleteProcThreadAttributeList, EXTENDED_STARTUPINFO_PRESENT, InitializeProcThreadAttributeList,
    PROC_THREAD_ATTRIBUTE_HANDLE_LIST, PROCESS_INFORMATION, ResumeThread, STARTF_USESTDHANDLES,
    STARTUPINFOEXW, STARTUPINFOW, UpdateProcThreadAttribute,
};

use super::plan::Plan;
use super::stdio::Stdio;
use crate::sys::error::Error;
use crate::sys::windows::win32::{last_error, owned};

/// A process created suspended, not yet in any job of ours.
pub(crate) struct Created {
    pub process: OwnedHandle,
    pub thread: OwnedHandle,
    pub pid: u32,
}

/// The attribute list that limits inheritance to the standard handles.
struct HandleList {
    buf: Vec<usize>,
    /// Read by the kernel through the list: must not move until the list is
    /// deleted (it is boxed, and dropped after the list).
    _handles: Box<[HANDLE]>,
}

impl HandleList {
    fn new(handles: Box<[HANDLE]>) -> io::Result<HandleList> {
        let mut size = 0usize;
        // SAFETY: a null list with a size out-pointer only asks for the
        // size (the call "fails" with ERROR_INSUFFICIENT_BUFFER).
        unsafe { InitializeProcThreadAttributeList(std::ptr::null_mut(), 1, 0, &mut size) };
        if size == 0 {
            return Err(last_error());
        }
        let mut buf = vec![0usize; size.div_ceil(size_of::<usize>())];
        // SAFETY: `buf` is writable for at least `size` bytes and aligned
        // for pointers.
        if unsafe { InitializeProcThreadAttributeList(buf.as_mut_ptr().cast(), 1, 0, &mut size) }
            == 0
        {
            return Err(last_error());
        }
        let list = HandleList {
            buf,
            _handles: handles,
        };
        // SAFETY: an initialised list; the handle array lives in the boxed
        // slice owned by `list`, which outlives every use of the list.
        let ok = unsafe {
            UpdateProcThreadAttribute(
                list.ptr(),
                0,
                PROC_THREAD_ATTRIBUTE_HANDLE_LIST as usize,
                list._handles.as_ptr().cast(),
                std::mem::size_of_val(&*list._handles),
                std::ptr::null_mut(),
                std::ptr::null(),
            )
        };
        if ok == 0 { Err(last_error()) } else { Ok(list) }
    }

    fn ptr(&self) -> *mut core::ffi::c_void {
        self.buf.as_ptr().cast_mut().cast()
    }
}

impl Drop for HandleList {
    fn drop(&mut self) {
        // SAFETY: the list was initialised in `new` (a failed `new` drops
        // only after a successful initialisation, too).
        unsafe { DeleteProcThreadAttributeList(self.ptr()) };
    }
}

/// Creates the process suspended, with exactly the three standard handles
/// inherited. The child's ends of the standard handles are closed on return.
pub(crate) fn create_suspended(
    name: &str,
    plan: &Plan,
    stdio: &mut Stdio,
    no_window: bool,
) -> Result<Created, Error> {
    let child: [HANDLE; 3] = std::array::from_fn(|i| {
        stdio.child[i]
            .as_ref()
            .map_or(std::ptr::null_mut(), |h| h.as_raw_handle())
    });
    let mut list: Vec<HANDLE> = child.iter().copied().filter(|h| !h.is_null()).collect();
    list.sort_unstable();
    list.dedup();
    for &h in &list {
        // SAFETY: a valid handle we own (in `stdio.child`), alive for the call.
        if unsafe { SetHandleInformation(h, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT) } == 0 {
            return Err(Error::io(
                name,
                "making a standard handle inheritable",
                last_error(),
            ));
        }
    }
    // Without the attribute list (refused by the host), every inheritable
    // handle of this process would be inherited; the standard handles are
    // then still the only ones this crate makes inheritable.
    let attributes = if list.is_empty() {
        None
    } else {
        HandleList::new(list.clone().into_boxed_slice()).ok()
    };

    let mut si = STARTUPINFOEXW::default();
    si.StartupInfo.cb = if attributes.is_some() {
        size_of::<STARTUPINFOEXW>()
    } else {
        size_of::<STARTUPINFOW>()
    } as u32;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = child[0];
    si.StartupInfo.hStdOutput = child[1];
    si.StartupInfo.hStdError = child[2];
    if let Some(a) = &attributes {
        si.lpAttributeList = a.ptr();
    }
    let mut flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT;
    if attributes.is_some() {
        flags |= EXTENDED_STARTUPINFO_PRESENT;
    }
    if no_window {
        flags |= CREATE_NO_WINDOW;
    }
    let mut pi = PROCESS_INFORMATION::default();
    let mut err = None;
    // Wine occasionally fails a process creation under load with
    // ERROR_INTERNAL_ERROR; nothing was created then, so trying again is
    // safe. Any other failure is final.
    for pause_ms in [0u64, 10, 50] {
        if pause_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(pause_ms));
        }
        let mut command_line = plan.command_line.clone();
        // SAFETY: every string is NUL-terminated UTF-16 and outlives the
        // call; the command line is a private mutable copy; the environment
        // block is double-NUL-terminated UTF-16 (CREATE_UNICODE_ENVIRONMENT);
        // `si` is a STARTUPINFOEXW whose `cb` matches what is used of it, and
        // its attribute list (if any) stays alive until after the call; `pi`
        // is an out-pointer.
        let ok = unsafe {
            CreateProcessW(
                plan.application.as_ptr(),
                command_line.as_mut_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                i32::from(!list.is_empty()),
                flags,
                plan.environment.as_ptr().cast(),
                plan.cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
                &si.StartupInfo,
                &mut pi,
            )
        };
        if ok != 0 {
            err = None;
            break;
        }
        let e = last_error();
        let transient = e.raw_os_error() == Some(ERROR_INTERNAL_ERROR as i32);
        err = Some(e);
        if !transient {
            break;
        }
    }
    drop(attributes);
    // The child has its copies now (or there is no child): close ours.
    stdio.child = [None, None, None];
    if let Some(e) = err {
        return Err(Error::from_spawn(name, plan.cwd_path().as_deref(), e));
    }
    // SAFETY: CreateProcessW succeeded: two fresh handles we own.
    let (process, thread) = unsafe { (owned(pi.hProcess), owned(pi.hThread)) };
    Ok(Created {
        process,
        thread,
        pid: pi.dwProcessId,
    })
}

/// Resumes a thread created suspended.
pub(crate) fn resume(thread: &OwnedHandle) -> io::Result<()> {
    // SAFETY: a valid thread handle (CreateProcessW grants all rights).
    if unsafe { ResumeThread(thread.as_raw_handle()) } == u32::MAX {
        Err(last_error())
    } else {
        Ok(())
    }
}

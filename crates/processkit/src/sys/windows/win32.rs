//! Small Win32 helpers the Windows modules share: the last error, owning a
//! raw handle, NUL-terminated UTF-16, and telling Wine apart. The bottom of
//! `sys/windows/`: it imports none of its neighbours.

use std::ffi::OsStr;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::HANDLE;

/// `s` as NUL-terminated UTF-16.
pub(crate) fn wide_nul(s: impl AsRef<OsStr>) -> Vec<u16> {
    s.as_ref().encode_wide().chain(std::iter::once(0)).collect()
}

/// The last Win32 error as an `io::Error`.
pub(super) fn last_error() -> io::Error {
    io::Error::last_os_error()
}

/// `true` when this process runs under Wine, which implements Job Objects but
/// does not account CPU time or memory for other processes (it reports
/// zeros). Decided once, from ntdll's `wine_get_version` export.
pub(super) fn is_wine() -> bool {
    use std::sync::OnceLock;
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    static WINE: OnceLock<bool> = OnceLock::new();
    *WINE.get_or_init(|| {
        let ntdll = wide_nul("ntdll.dll");
        // SAFETY: `ntdll` is a NUL-terminated UTF-16 string that outlives the
        // call; ntdll is mapped into every process, and the returned module
        // handle needs no release.
        let module = unsafe { GetModuleHandleW(ntdll.as_ptr()) };
        if module.is_null() {
            return false;
        }
        // SAFETY: a valid module handle and a NUL-terminated ASCII name; the
        // result is only compared with null, never called.
        unsafe { GetProcAddress(module, c"wine_get_version".as_ptr().cast()) }.is_some()
    })
}

/// Wraps a raw handle returned by a successful Win32 call.
///
/// # Safety
///
/// `raw` must be a valid, open handle that nothing else owns.
pub(super) unsafe fn owned(raw: HANDLE) -> OwnedHandle {
    // SAFETY: guaranteed by the caller.
    unsafe { OwnedHandle::from_raw_handle(raw) }
}

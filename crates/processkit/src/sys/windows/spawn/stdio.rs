//! The three standard streams while a spawn is being set up: what the child
//! gets, and the parent's ends of piped streams.

use std::os::windows::io::OwnedHandle;

use windows_sys::Win32::Foundation::{
    DUPLICATE_SAME_ACCESS, DuplicateHandle, GENERIC_READ, GENERIC_WRITE, HANDLE,
    INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
};
use windows_sys::Win32::System::Console::{
    GetStdHandle, STD_ERROR_HANDLE, STD_INPUT_HANDLE, STD_OUTPUT_HANDLE,
};
use windows_sys::Win32::System::Pipes::CreatePipe;
use windows_sys::Win32::System::Threading::GetCurrentProcess;

use crate::sys::error::Error;
use crate::sys::io::{ReadPipe, WritePipe};
use crate::sys::request::StdioKind;
use crate::sys::windows::pipe;
use crate::sys::windows::win32::{last_error, owned, wide_nul};

/// The pipe buffer size asked for (the system may round it).
const PIPE_BUFFER: u32 = 64 * 1024;

/// The three standard streams while a spawn is being set up.
#[derive(Default)]
pub(crate) struct Stdio {
    /// What the child gets (`None`: no handle).
    pub(super) child: [Option<OwnedHandle>; 3],
    /// The parent's ends of piped streams.
    parent: [Option<OwnedHandle>; 3],
}

impl Stdio {
    pub(crate) fn prepare(
        &mut self,
        program: &str,
        index: usize,
        kind: StdioKind,
    ) -> Result<(), Error> {
        match kind {
            StdioKind::Inherit => self.child[index] = inherited(index),
            StdioKind::Null => {
                let nul = wide_nul("NUL");
                // SAFETY: `nul` is NUL-terminated and outlives the call; no
                // security attributes (not inheritable) and no template.
                let raw = unsafe {
                    CreateFileW(
                        nul.as_ptr(),
                        GENERIC_READ | GENERIC_WRITE,
                        FILE_SHARE_READ | FILE_SHARE_WRITE,
                        std::ptr::null(),
                        OPEN_EXISTING,
                        0,
                        std::ptr::null_mut(),
                    )
                };
                if raw == INVALID_HANDLE_VALUE {
                    return Err(Error::io(program, "opening NUL", last_error()));
                }
                // SAFETY: CreateFileW succeeded: a fresh handle we own.
                self.child[index] = Some(unsafe { owned(raw) });
            }
            StdioKind::Piped => {
                let (mut read, mut write): (HANDLE, HANDLE) =
                    (std::ptr::null_mut(), std::ptr::null_mut());
                // SAFETY: out-pointers to locals; no security attributes, so
                // neither end is inheritable yet.
                if unsafe { CreatePipe(&mut read, &mut write, std::ptr::null(), PIPE_BUFFER) } == 0
                {
                    return Err(Error::io(program, "creating a pipe", last_error()));
                }
                // SAFETY: CreatePipe succeeded: two fresh handles we own.
                let (read, write) = unsafe { (owned(read), owned(write)) };
                let (mine, theirs) = if index == 0 {
                    (write, read)
                } else {
                    (read, write)
                };
                self.child[index] = Some(theirs);
                self.parent[index] = Some(mine);
            }
            StdioKind::Io(handle) => self.child[index] = Some(handle),
            StdioKind::Stdout => {
                // The same pipe or file as stdout, so the order of writes
                // to the two streams is kept.
                self.child[index] = match &self.child[1] {
                    Some(h) => Some(
                        h.try_clone()
                            .map_err(|e| Error::io(program, "duplicating stdout for stderr", e))?,
                    ),
                    None => None,
                };
            }
        }
        Ok(())
    }

    /// Wraps the parent's ends for tokio (the child's ends are closed by now).
    pub(crate) fn finish(mut self) -> (Option<WritePipe>, Option<ReadPipe>, Option<ReadPipe>) {
        self.child = [None, None, None];
        let stdin = self.parent[0].take().map(pipe::writer);
        let stdout = self.parent[1].take().map(pipe::reader);
        let stderr = self.parent[2].take().map(pipe::reader);
        (stdin, stdout, stderr)
    }
}

/// A private copy of this process's own standard handle `index`, or `None`
/// when it has none.
fn inherited(index: usize) -> Option<OwnedHandle> {
    let which = [STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE][index];
    // SAFETY: plain call; the result is checked.
    let raw = unsafe { GetStdHandle(which) };
    if raw.is_null() || raw == INVALID_HANDLE_VALUE {
        return None;
    }
    let mut dup: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo-handle of this process for both sides, a handle
    // GetStdHandle just returned, and an out-pointer to a local. The copy is
    // not inheritable until the spawn makes it so.
    let ok = unsafe {
        DuplicateHandle(
            GetCurrentProcess(),
            raw,
            GetCurrentProcess(),
            &mut dup,
            0,
            0,
            DUPLICATE_SAME_ACCESS,
        )
    };
    if ok == 0 {
        return None;
    }
    // SAFETY: DuplicateHandle succeeded: a fresh handle we own.
    Some(unsafe { owned(dup) })
}

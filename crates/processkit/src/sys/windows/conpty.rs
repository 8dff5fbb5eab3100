//! Pseudo-consoles (ConPTY) for `pty` runs.
//!
//! Windows has no terminal devices; since Windows 10 1809 it has the
//! pseudo-console: a console host (`conhost.exe` in headless mode) that
//! reads the keys typed on one pipe and writes the screen, as VT escape
//! sequences, to another. A `pty` run gets one of those:
//!
//! 1. Two anonymous pipes: the input pipe (this process writes, the
//!    console host reads) and the output pipe (the other way round).
//! 2. `CreatePseudoConsole` with the window size and the host's ends of
//!    both pipes, which the console host keeps its own copies of; ours are
//!    closed at once.
//! 3. `CreateProcessW` with a `STARTUPINFOEXW` whose attribute list holds
//!    `PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE`: the child attaches to that
//!    console instead of this process's. No handle is inherited, and the
//!    standard handles are given as `INVALID_HANDLE_VALUE` with
//!    `STARTF_USESTDHANDLES`, so the child opens the console's own instead
//!    of inheriting this process's (possibly redirected) ones.
//! 4. As for every child, it is created suspended, assigned to the Job
//!    Object and only then resumed: containment is the same as for any
//!    other run, and everything the child starts is in the job too.
//!
//! The handle's stdout is the output pipe, its stdin the input pipe (with
//! `\n` typed as the Enter key, `\r`: see `ConsoleInput`).
//!
//! * **Interrupt** is the byte `0x03` typed on the input: the console host
//!   turns it into `CTRL_C_EVENT` for every process attached to the console
//!   that has not turned Ctrl-C handling off (Windows has no foreground job
//!   of a terminal; a console's processes all get the event).
//! * **End of file** is Ctrl-Z then Enter (`0x1a`, `\r`), which is how a
//!   console reader sees end-of-file: `ReadFile` on a console returns 0
//!   bytes for a line that starts with Ctrl-Z, and the C runtime and Rust's
//!   standard library treat it the same way. Windows has no Ctrl-D; a
//!   program that reads the console in raw mode gets the byte itself. After
//!   a partial line, a `\r` ends that line first.
//! * **Resize** is `ResizePseudoConsole`; the console's programs see a
//!   `WINDOW_BUFFER_SIZE_EVENT`. ConPTY cannot be asked for its size, so
//!   [`PtyMaster::size`] is the last size set.
//!
//! **Teardown.** The output pipe reaches end-of-file only when the console
//! host goes, that is after `ClosePseudoConsole`. A thread per run waits
//! for the direct child to end (exit, kill, timeout, a dropped container:
//! all end it) and then closes the pseudo-console, so the output is read to
//! its end and the host exits. `ClosePseudoConsole` may block until the
//! host has written its last output, which is why it runs on that thread
//! and never on a tokio worker or in a `Drop`. The console host itself is
//! started by the system on `CreatePseudoConsole`, outside the Job Object
//! (it belongs to this process, not to the child's tree); it exits when the
//! pseudo-console is closed or, if this process dies, when its pipes break.
//!
//! `Command::create_no_window` has no effect on a terminal run: the child
//! gets the pseudo-console, never a console window of its own.
//!
//! The functions are looked up at run time, not imported: an import of
//! `CreatePseudoConsole` would stop the whole program from loading on a
//! Windows older than 10 1809. There a `pty` run is refused with
//! [`Error::Unsupported`].
//!
//! **Wine** (8.0, the version the `wine-test` lane runs) implements
//! `CreatePseudoConsole` and typing (echo, Ctrl-C) but not
//! `ResizePseudoConsole` (it returns `E_NOTIMPL`, so [`PtyMaster::resize`]
//! fails there), and it does not give a pseudo-console child the console as
//! its standard handles: a program there reaches the console only by
//! opening `CONIN$` and `CONOUT$`.

use std::ffi::c_void;
use std::io;
use std::mem::size_of;
use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;
use windows_sys::Win32::Foundation::{HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Console::{COORD, HPCON};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows_sys::Win32::System::Pipes::CreatePipe;
use windows_sys::Win32::System::Threading::{
    CREATE_SUSPENDED, CREATE_UNICODE_ENVIRONMENT, CreateProcessW, DeleteProcThreadAttributeList,
    EXTENDED_STARTUPINFO_PRESENT, INFINITE, InitializeProcThreadAttributeList,
    PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE, PROCESS_INFORMATION, STARTF_USESTDHANDLES, STARTUPINFOEXW,
    UpdateProcThreadAttribute, WaitForSingleObject,
};

use super::pipe;
use super::spawn::{Created, Plan};
use super::win32::{last_error, owned, wide_nul};
use crate::sys::error::Error;
use crate::sys::io::{ReadPipe, WritePipe};

/// A special character typed on the terminal.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "pty"), allow(dead_code))]
pub(crate) enum Special {
    /// Ctrl-C (`0x03`).
    Interrupt,
    /// Ctrl-Z, Enter.
    Eof,
}

impl Special {
    fn bytes(self) -> &'static [u8] {
        match self {
            Special::Interrupt => b"\x03",
            Special::Eof => b"\x1a\r",
        }
    }
}

type CreateFn = unsafe extern "system" fn(COORD, HANDLE, HANDLE, u32, *mut HPCON) -> i32;
type ResizeFn = unsafe extern "system" fn(HPCON, COORD) -> i32;
type CloseFn = unsafe extern "system" fn(HPCON);

/// The three ConPTY functions of kernel32, where the system has them.
struct Api {
    create: CreateFn,
    resize: ResizeFn,
    close: CloseFn,
}

fn api() -> Option<&'static Api> {
    static API: OnceLock<Option<Api>> = OnceLock::new();
    API.get_or_init(|| {
        let kernel32 = wide_nul("kernel32.dll");
        // SAFETY: a NUL-terminated UTF-16 name that outlives the call;
        // kernel32 is mapped into every process and its module handle needs
        // no release.
        let module = unsafe { GetModuleHandleW(kernel32.as_ptr()) };
        if module.is_null() {
            return None;
        }
        // SAFETY: a valid module handle and NUL-terminated ASCII names.
        let (create, resize, close) = unsafe {
            (
                GetProcAddress(module, c"CreatePseudoConsole".as_ptr().cast())?,
                GetProcAddress(module, c"ResizePseudoConsole".as_ptr().cast())?,
                GetProcAddress(module, c"ClosePseudoConsole".as_ptr().cast())?,
            )
        };
        // SAFETY: these exports have exactly these signatures (the
        // documented prototypes, as windows-sys declares them too).
        unsafe {
            Some(Api {
                create: std::mem::transmute::<unsafe extern "system" fn() -> isize, CreateFn>(
                    create,
                ),
                resize: std::mem::transmute::<unsafe extern "system" fn() -> isize, ResizeFn>(
                    resize,
                ),
                close: std::mem::transmute::<unsafe extern "system" fn() -> isize, CloseFn>(close),
            })
        }
    })
    .as_ref()
}

fn coord(cols: u16, rows: u16) -> io::Result<COORD> {
    let fit = |n: u16| i16::try_from(n).ok().filter(|&n| n > 0);
    match (fit(cols), fit(rows)) {
        (Some(x), Some(y)) => Ok(COORD { X: x, Y: y }),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a console window of {cols} x {rows} characters is not possible (1 to 32767 each)"
            ),
        )),
    }
}

fn hresult(hr: i32) -> io::Result<()> {
    if hr >= 0 {
        return Ok(());
    }
    // A Win32 error wrapped in an HRESULT (FACILITY_WIN32) unwraps to it.
    let code = hr as u32;
    if code & 0xFFFF_0000 == 0x8007_0000 {
        Err(io::Error::from_raw_os_error((code & 0xFFFF) as i32))
    } else {
        Err(io::Error::other(format!("HRESULT {code:#010x}")))
    }
}

/// One pseudo-console, closed once (by the run's closer thread).
struct Console {
    hpc: Mutex<Option<HPCON>>,
    size: Mutex<(u16, u16)>,
}

// SAFETY: an HPCON is an opaque handle that any thread may use; access to it
// is serialised by the mutex.
unsafe impl Send for Console {}
// SAFETY: as above.
unsafe impl Sync for Console {}

impl Console {
    /// Closes the pseudo-console if nothing has yet. May block until the
    /// console host has flushed its output: call it off tokio's workers.
    fn close(&self) {
        let hpc = self.hpc.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let (Some(hpc), Some(api)) = (hpc, api()) {
            // SAFETY: a pseudo-console created by `create` and not closed yet
            // (it was taken out of the mutex exactly once).
            unsafe { (api.close)(hpc) };
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        // Still open only if the closer thread never started (a spawn that
        // failed after the console was made). Closing may wait for the
        // console host, so it happens on a thread of its own, not here.
        let hpc = self.hpc.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let (Some(hpc), Some(api)) = (hpc, api()) {
            let close = api.close;
            let closer = move || {
                // SAFETY: a pseudo-console that was never closed; it was
                // taken out of its mutex, so nothing else closes it.
                unsafe { close(hpc) }
            };
            if std::thread::Builder::new()
                .name("processkit-conpty".into())
                .spawn(closer)
                .is_err()
            {
                // No thread to be had: close it here rather than leak the
                // console host.
                closer();
            }
        }
    }
}

/// A new pseudo-console and this process's ends of its pipes.
pub(crate) struct Prepared {
    console: Arc<Console>,
    input: OwnedHandle,
    output: OwnedHandle,
}

fn pipe_pair() -> io::Result<(OwnedHandle, OwnedHandle)> {
    let (mut read, mut write): (HANDLE, HANDLE) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: out-pointers to locals, no security attributes (the handles
    // are not inheritable).
    if unsafe { CreatePipe(&mut read, &mut write, std::ptr::null(), 64 * 1024) } == 0 {
        return Err(last_error());
    }
    // SAFETY: CreatePipe succeeded: two fresh handles we own.
    Ok(unsafe { (owned(read), owned(write)) })
}

/// Opens a pseudo-console of `cols` × `rows` characters.
pub(crate) fn prepare(program: &str, cols: u16, rows: u16) -> Result<Prepared, Error> {
    let Some(api) = api() else {
        return Err(Error::unsupported(
            program,
            "pty",
            "this Windows has no pseudo-console (ConPTY needs Windows 10 1809 or later)",
        ));
    };
    let size = coord(cols, rows).map_err(|e| Error::invalid(program, e.to_string()))?;
    let io_err = |e: io::Error| Error::io(program, "creating a pseudo-console", e);
    let (console_in, input) = pipe_pair().map_err(io_err)?;
    let (output, console_out) = pipe_pair().map_err(io_err)?;
    let mut hpc: HPCON = 0;
    // SAFETY: two valid pipe handles (the console host duplicates them) and
    // an out-pointer to a local.
    let hr = unsafe {
        (api.create)(
            size,
            console_in.as_raw_handle(),
            console_out.as_raw_handle(),
            0,
            &mut hpc,
        )
    };
    hresult(hr).map_err(io_err)?;
    // The console host has its own copies now.
    drop((console_in, console_out));
    Ok(Prepared {
        console: Arc::new(Console {
            hpc: Mutex::new(Some(hpc)),
            size: Mutex::new((cols, rows)),
        }),
        input,
        output,
    })
}

/// The attribute list that attaches the child to a pseudo-console.
struct AttributeList {
    buf: Vec<usize>,
}

impl AttributeList {
    fn new(hpc: HPCON) -> io::Result<AttributeList> {
        let mut size = 0usize;
        // SAFETY: a null list with a size out-pointer only asks for the size.
        unsafe { InitializeProcThreadAttributeList(std::ptr::null_mut(), 1, 0, &mut size) };
        if size == 0 {
            return Err(last_error());
        }
        let mut buf = vec![0usize; size.div_ceil(size_of::<usize>())];
        // SAFETY: `buf` is writable for at least `size` bytes and aligned for
        // pointers.
        if unsafe { InitializeProcThreadAttributeList(buf.as_mut_ptr().cast(), 1, 0, &mut size) }
            == 0
        {
            return Err(last_error());
        }
        let list = AttributeList { buf };
        // SAFETY: an initialised list. For this attribute the value *is* the
        // HPCON (passed by value in the pointer argument, as documented), so
        // nothing needs to outlive the call but the pseudo-console itself,
        // which lives until after CreateProcessW.
        let ok = unsafe {
            UpdateProcThreadAttribute(
                list.ptr(),
                0,
                PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE as usize,
                hpc as *const c_void,
                size_of::<HPCON>(),
                std::ptr::null_mut(),
                std::ptr::null(),
            )
        };
        if ok == 0 { Err(last_error()) } else { Ok(list) }
    }

    fn ptr(&self) -> *mut c_void {
        self.buf.as_ptr().cast_mut().cast()
    }
}

impl Drop for AttributeList {
    fn drop(&mut self) {
        // SAFETY: the list was initialised in `new`.
        unsafe { DeleteProcThreadAttributeList(self.ptr()) };
    }
}

/// Creates the child suspended and attached to the pseudo-console.
pub(crate) fn create_suspended(
    name: &str,
    plan: &Plan,
    prepared: &Prepared,
) -> Result<Created, Error> {
    let hpc = prepared
        .console
        .hpc
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .ok_or_else(|| Error::io(name, "starting on a pseudo-console", closed()))?;
    let attributes = AttributeList::new(hpc)
        .map_err(|e| Error::io(name, "preparing the pseudo-console attribute", e))?;
    let mut si = STARTUPINFOEXW::default();
    si.StartupInfo.cb = size_of::<STARTUPINFOEXW>() as u32;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = INVALID_HANDLE_VALUE;
    si.StartupInfo.hStdOutput = INVALID_HANDLE_VALUE;
    si.StartupInfo.hStdError = INVALID_HANDLE_VALUE;
    si.lpAttributeList = attributes.ptr();
    let flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT;
    let mut pi = PROCESS_INFORMATION::default();
    let mut command_line = plan.command_line.clone();
    // SAFETY: every string is NUL-terminated UTF-16 and outlives the call;
    // the command line is a private mutable copy; the environment block is
    // double-NUL-terminated UTF-16 (CREATE_UNICODE_ENVIRONMENT); `si` is a
    // STARTUPINFOEXW with a matching `cb` whose attribute list lives until
    // after the call; no handle is inherited; `pi` is an out-pointer.
    let ok = unsafe {
        CreateProcessW(
            plan.application.as_ptr(),
            command_line.as_mut_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            0,
            flags,
            plan.environment.as_ptr().cast(),
            plan.cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            &si.StartupInfo,
            &mut pi,
        )
    };
    drop(attributes);
    if ok == 0 {
        return Err(Error::from_spawn(
            name,
            plan.cwd_path().as_deref(),
            last_error(),
        ));
    }
    // SAFETY: CreateProcessW succeeded: two fresh handles we own.
    let (process, thread) = unsafe { (owned(pi.hProcess), owned(pi.hThread)) };
    Ok(Created {
        process,
        thread,
        pid: pi.dwProcessId,
    })
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the pseudo-console is closed: the run has ended",
    )
}

impl Prepared {
    /// Hands the pseudo-console to a thread that closes it once `process`
    /// has ended, and returns the run's stdin, stdout and terminal.
    pub(crate) fn finish(
        self,
        program: &str,
        process: &OwnedHandle,
    ) -> Result<(WritePipe, ReadPipe, PtyMaster), Error> {
        let io_err = |e: io::Error| Error::io(program, "setting up the pseudo-console", e);
        let waited = process.try_clone().map_err(io_err)?;
        let typing = self.input.try_clone().map_err(io_err)?;
        let console = self.console.clone();
        std::thread::Builder::new()
            .name("processkit-conpty".into())
            .spawn(move || {
                // SAFETY: a valid process handle we own, for the whole wait.
                unsafe { WaitForSingleObject(waited.as_raw_handle(), INFINITE) };
                console.close();
            })
            .map_err(io_err)?;
        let stdin: WritePipe = Box::new(ConsoleInput::new(tokio::fs::File::from_std(
            std::fs::File::from(self.input),
        )));
        let master = PtyMaster {
            console: self.console,
            input: Mutex::new(std::fs::File::from(typing)),
        };
        Ok((stdin, pipe::reader(self.output), master))
    }
}

/// The parent's side of a child's pseudo-console.
pub(crate) struct PtyMaster {
    console: Arc<Console>,
    /// A copy of the input pipe's write end, for the special characters.
    input: Mutex<std::fs::File>,
}

impl std::fmt::Debug for PtyMaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtyMaster").finish_non_exhaustive()
    }
}

#[cfg_attr(not(feature = "pty"), allow(dead_code))]
impl PtyMaster {
    /// `ResizePseudoConsole`; remembered as the size on success.
    pub(crate) fn resize(&self, cols: u16, rows: u16) -> io::Result<()> {
        let size = coord(cols, rows)?;
        let api = api().ok_or_else(closed)?;
        let hpc = self.console.hpc.lock().unwrap_or_else(|p| p.into_inner());
        let hpc = (*hpc).ok_or_else(closed)?;
        // SAFETY: a live pseudo-console: the closer takes it out of the mutex
        // before closing it, and the lock is held for this call.
        hresult(unsafe { (api.resize)(hpc, size) })?;
        *self.console.size.lock().unwrap_or_else(|p| p.into_inner()) = (cols, rows);
        Ok(())
    }

    /// The last size set (ConPTY cannot be asked).
    pub(crate) fn size(&self) -> io::Result<(u16, u16)> {
        if self
            .console
            .hpc
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
        {
            return Err(closed());
        }
        Ok(*self.console.size.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Types `which` on the console's input. A blocking write of one or two
    /// bytes into a 64 KiB pipe that the console host drains: it returns at
    /// once unless the host has stopped reading.
    pub(crate) fn send(&self, which: Special) -> io::Result<()> {
        use std::io::Write;
        let mut input = self.input.lock().unwrap_or_else(|p| p.into_inner());
        input.write_all(which.bytes())
    }
}

/// The run's stdin on a pseudo-console: the input pipe, with line ends
/// typed as the Enter key and a shutdown typed as end-of-file.
///
/// * A console ends an input line on a carriage return (what the Enter key
///   sends); a line feed would be read as one more character (Ctrl-J). So
///   `\n` is typed as `\r`, and `\r\n` as a single `\r`.
/// * A shutdown types end-of-file (Ctrl-Z, Enter; after a partial line, an
///   Enter first) instead of closing the pipe, which the console host would
///   not pass on to the program as end-of-file.
struct ConsoleInput {
    file: tokio::fs::File,
    /// Translated bytes not yet handed to the file.
    out: Vec<u8>,
    /// How much of `out` has been handed over.
    sent: usize,
    eof_typed: bool,
    /// The last byte typed was a carriage return.
    after_cr: bool,
    /// The last byte typed ended a line (or nothing was typed).
    at_line_start: bool,
}

impl ConsoleInput {
    fn new(file: tokio::fs::File) -> ConsoleInput {
        ConsoleInput {
            file,
            out: Vec::new(),
            sent: 0,
            eof_typed: false,
            after_cr: false,
            at_line_start: true,
        }
    }

    /// Appends `data` to `out` with its line ends as Enter.
    fn translate(&mut self, data: &[u8]) {
        for &b in data {
            match b {
                b'\n' if self.after_cr => {}
                b'\n' => self.out.push(b'\r'),
                b => self.out.push(b),
            }
            self.after_cr = b == b'\r';
            self.at_line_start = matches!(b, b'\r' | b'\n');
        }
    }

    /// Hands everything in `out` to the file.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            let n = ready!(Pin::new(&mut self.file).poll_write(cx, &self.out[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.out.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ConsoleInput {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        self.translate(data);
        // The bytes are ours now; they go out on the next write or flush.
        let _ = self.poll_drain(cx)?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.file).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.eof_typed {
            ready!(self.poll_drain(cx))?;
            self.eof_typed = true;
            if !self.at_line_start {
                self.out.push(b'\r');
            }
            self.out.extend_from_slice(Special::Eof.bytes());
            self.at_line_start = true;
        }
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.file).poll_flush(cx)
    }
}

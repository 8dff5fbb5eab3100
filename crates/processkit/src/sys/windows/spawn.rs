//! Turning a [`SpawnRequest`] into a suspended process.
//!
//! Everything is checked and built before `CreateProcessW` runs:
//!
//! * **The program** is resolved the way `std::process::Command` does it: a
//!   name without a directory is searched in the child's `PATH`, then in the
//!   system directory and the Windows directory (never the current
//!   directory); a name without an extension gets `.exe`. A relative path
//!   with a directory is relative to the child's working directory, as on
//!   Unix.
//! * **The command line** is quoted for the rules every C runtime (and
//!   `CommandLineToArgvW`) parses with: an argument with a space, a tab or a
//!   quote is put in quotes, quotes inside are escaped with a backslash, and
//!   backslashes are doubled only where they precede a quote.
//! * **Batch files** (`.bat`, `.cmd`) run through `cmd.exe /c`, which parses
//!   its command line with different rules. Arguments are quoted for `cmd`,
//!   `%` is neutralised so no variable is expanded, and an argument that
//!   cannot be passed safely (a carriage return or a line feed, which end the
//!   command) is refused with [`Error::InvalidInput`].
//! * **The environment** is a sorted, NUL-separated UTF-16 block.
//! * **The standard handles** are made inheritable only for the duration of
//!   the call, and `PROC_THREAD_ATTRIBUTE_HANDLE_LIST` limits inheritance to
//!   exactly those three, so no other inheritable handle of this process
//!   leaks into the child.

use std::ffi::{OsStr, OsString};
use std::io;
use std::mem::size_of;
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::path::{Path, PathBuf};

use windows_sys::Win32::Foundation::{
    DUPLICATE_SAME_ACCESS, DuplicateHandle, ERROR_INTERNAL_ERROR, GENERIC_READ, GENERIC_WRITE,
    HANDLE, HANDLE_FLAG_INHERIT, INVALID_HANDLE_VALUE, SetHandleInformation,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
};
use windows_sys::Win32::System::Console::{
    GetStdHandle, STD_ERROR_HANDLE, STD_INPUT_HANDLE, STD_OUTPUT_HANDLE,
};
use windows_sys::Win32::System::Pipes::CreatePipe;
use windows_sys::Win32::System::SystemInformation::{GetSystemDirectoryW, GetWindowsDirectoryW};
use windows_sys::Win32::System::Threading::{
    CREATE_NO_WINDOW, CREATE_SUSPENDED, CREATE_UNICODE_ENVIRONMENT, CreateProcessW,
    DeleteProcThreadAttributeList, EXTENDED_STARTUPINFO_PRESENT, GetCurrentProcess,
    InitializeProcThreadAttributeList, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, PROCESS_INFORMATION,
    ResumeThread, STARTF_USESTDHANDLES, STARTUPINFOEXW, STARTUPINFOW, UpdateProcThreadAttribute,
};

use super::{last_error, owned, pipe};
use crate::sys::error::Error;
use crate::sys::io::{ReadPipe, WritePipe};
use crate::sys::request::{SpawnRequest, StdioKind};

/// The longest command line `CreateProcessW` accepts, in UTF-16 units,
/// including the terminating NUL.
const MAX_COMMAND_LINE: usize = 32_767;

/// The pipe buffer size asked for (the system may round it).
const PIPE_BUFFER: u32 = 64 * 1024;

/// `s` as NUL-terminated UTF-16.
pub(crate) fn wide_nul(s: impl AsRef<OsStr>) -> Vec<u16> {
    s.as_ref().encode_wide().chain(std::iter::once(0)).collect()
}

fn has_nul(s: &OsStr) -> bool {
    s.encode_wide().any(|c| c == 0)
}

/// Everything `CreateProcessW` needs, as UTF-16.
pub(crate) struct Plan {
    /// The resolved executable (`cmd.exe` for a batch file), NUL-terminated.
    pub(super) application: Vec<u16>,
    /// NUL-terminated.
    pub(super) command_line: Vec<u16>,
    /// `NAME=value` entries, each NUL-terminated, then one more NUL.
    pub(super) environment: Vec<u16>,
    /// NUL-terminated.
    pub(super) cwd: Option<Vec<u16>>,
}

impl Plan {
    /// The working directory as a path, for error messages.
    pub(super) fn cwd_path(&self) -> Option<PathBuf> {
        self.cwd
            .as_ref()
            .map(|c| PathBuf::from(OsString::from_wide(&c[..c.len() - 1])))
    }
}

/// Checks the request for bad input, resolves the program and builds the
/// command line and the environment block.
pub(crate) fn plan(req: &SpawnRequest<'_>) -> Result<Plan, Error> {
    let name = req.display_name;
    if req.program.is_empty() {
        return Err(Error::invalid(name, "the program name is empty"));
    }
    if has_nul(req.program) {
        return Err(Error::invalid(
            name,
            format!("program {:?} contains a NUL character", req.program),
        ));
    }
    for a in req.args {
        if has_nul(a) {
            return Err(Error::invalid(
                name,
                format!("argument {a:?} contains a NUL character"),
            ));
        }
    }
    let environment = environment_block(name, &req.env)?;
    let cwd = match req.cwd {
        Some(dir) => {
            if has_nul(dir.as_os_str()) {
                return Err(Error::invalid(
                    name,
                    format!("working directory {dir:?} contains a NUL character"),
                ));
            }
            match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(Error::BadDirectory {
                        program: name.to_owned(),
                        dir: dir.to_owned(),
                        source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                    });
                }
                Err(e) => {
                    return Err(Error::BadDirectory {
                        program: name.to_owned(),
                        dir: dir.to_owned(),
                        source: e,
                    });
                }
            }
            Some(wide_nul(dir))
        }
        None => None,
    };
    let path_var = req
        .env
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case("PATH"))
        .map(|(_, v)| v.as_os_str());
    let resolved = resolve(name, req.program, path_var, req.cwd)?;

    let (application, mut command_line) = if is_batch(&resolved) {
        let cmd = system_directory()
            .map(|d| d.join("cmd.exe"))
            .map_err(|e| Error::io(name, "finding cmd.exe for a batch file", e))?;
        (
            wide_nul(&cmd),
            batch_command_line(name, &resolved, req.args)?,
        )
    } else {
        (
            wide_nul(&resolved),
            command_line(name, req.program, req.args)?,
        )
    };
    command_line.push(0);
    if command_line.len() > MAX_COMMAND_LINE {
        return Err(Error::invalid(
            name,
            format!(
                "the command line is {} characters long; Windows accepts at most {}",
                command_line.len() - 1,
                MAX_COMMAND_LINE - 1
            ),
        ));
    }
    Ok(Plan {
        application,
        command_line,
        environment,
        cwd,
    })
}

fn is_batch(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("bat") || e.eq_ignore_ascii_case("cmd"))
}

/// Where a program name is looked up, in order, and where it was found.
fn resolve(
    name: &str,
    program: &OsStr,
    path_var: Option<&OsStr>,
    cwd: Option<&Path>,
) -> Result<PathBuf, Error> {
    let p = Path::new(program);
    let has_dir = program
        .encode_wide()
        .any(|c| c == u16::from(b'/') || c == u16::from(b'\\'))
        || p.has_root()
        || p.is_absolute()
        || p.components()
            .next()
            .is_some_and(|c| matches!(c, std::path::Component::Prefix(_)));
    if has_dir {
        let full = match cwd {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_owned(),
        };
        return candidates(&full)
            .into_iter()
            .find(|c| c.is_file())
            .ok_or_else(|| Error::NotFound {
                program: name.to_owned(),
                searched: None,
            });
    }
    let mut dirs: Vec<PathBuf> = path_var
        .map(|v| std::env::split_paths(v).collect())
        .unwrap_or_default();
    if let Ok(d) = system_directory() {
        dirs.push(d);
    }
    if let Ok(d) = windows_directory() {
        dirs.push(d);
    }
    for dir in dirs.iter().filter(|d| !d.as_os_str().is_empty()) {
        if let Some(found) = candidates(&dir.join(p)).into_iter().find(|c| c.is_file()) {
            return Ok(found);
        }
    }
    Err(Error::NotFound {
        program: name.to_owned(),
        searched: Some(
            path_var
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    })
}

/// The files a program path may name: `.exe` is appended to a name without
/// an extension, and tried after the name itself for one with another
/// extension (`python3.11` finds `python3.11.exe`).
fn candidates(p: &Path) -> Vec<PathBuf> {
    let with_exe = || {
        let mut s = OsString::from(p.as_os_str());
        s.push(".exe");
        PathBuf::from(s)
    };
    match p.extension() {
        None => vec![with_exe()],
        Some(e) if e.eq_ignore_ascii_case("exe") => vec![p.to_owned()],
        Some(_) => vec![p.to_owned(), with_exe()],
    }
}

fn system_directory() -> io::Result<PathBuf> {
    // SAFETY: the callee writes at most `len` units into the buffer it is
    // given and returns the length needed.
    directory(|buf, len| unsafe { GetSystemDirectoryW(buf, len) })
}

fn windows_directory() -> io::Result<PathBuf> {
    // SAFETY: as for `system_directory`.
    directory(|buf, len| unsafe { GetWindowsDirectoryW(buf, len) })
}

fn directory(get: impl Fn(*mut u16, u32) -> u32) -> io::Result<PathBuf> {
    let mut buf = vec![0u16; 260];
    loop {
        let n = get(buf.as_mut_ptr(), buf.len() as u32) as usize;
        if n == 0 {
            return Err(last_error());
        }
        if n < buf.len() {
            buf.truncate(n);
            return Ok(PathBuf::from(OsString::from_wide(&buf)));
        }
        buf.resize(n + 1, 0);
    }
}

/// The command line for an ordinary program: `argv[0]` in quotes (the C
/// runtime takes it verbatim up to the closing quote), then each argument.
fn command_line(name: &str, program: &OsStr, args: &[OsString]) -> Result<Vec<u16>, Error> {
    if program.encode_wide().any(|c| c == u16::from(b'"')) {
        return Err(Error::invalid(
            name,
            format!("program {program:?} contains a double quote"),
        ));
    }
    let mut line = Vec::new();
    line.push(u16::from(b'"'));
    line.extend(program.encode_wide());
    line.push(u16::from(b'"'));
    for a in args {
        line.push(u16::from(b' '));
        push_quoted(&mut line, a);
    }
    Ok(line)
}

/// Appends one argument so that the C runtime's parser gives it back
/// unchanged.
pub(crate) fn push_quoted(line: &mut Vec<u16>, arg: &OsStr) {
    let special = |c: u16| {
        c == u16::from(b' ')
            || c == u16::from(b'\t')
            || c == u16::from(b'\n')
            || c == 0x0b
            || c == u16::from(b'"')
    };
    if !arg.is_empty() && !arg.encode_wide().any(special) {
        line.extend(arg.encode_wide());
        return;
    }
    line.push(u16::from(b'"'));
    let mut backslashes = 0usize;
    for c in arg.encode_wide() {
        if c == u16::from(b'\\') {
            backslashes += 1;
            continue;
        }
        if c == u16::from(b'"') {
            // Every backslash before a quote is doubled, and the quote
            // itself escaped with one more.
            line.extend(std::iter::repeat_n(u16::from(b'\\'), backslashes * 2 + 1));
        } else {
            line.extend(std::iter::repeat_n(u16::from(b'\\'), backslashes));
        }
        backslashes = 0;
        line.push(c);
    }
    // Backslashes before the closing quote are doubled too.
    line.extend(std::iter::repeat_n(u16::from(b'\\'), backslashes * 2));
    line.push(u16::from(b'"'));
}

/// The command line for a batch file: `cmd.exe /e:ON /v:OFF /d /c "…"`,
/// with the script and its arguments quoted for `cmd`.
///
/// * `/d` skips AutoRun commands, `/v:OFF` turns off `!var!` expansion and
///   `/e:ON` keeps the substring syntax used below available.
/// * Each argument that is not plain (letters, digits and a few safe
///   punctuation marks) is put in quotes, so `&`, `|`, `<`, `>`, `^` and
///   `(`…`)` stay literal; a quote inside is doubled.
/// * A `%` is written as `%%cd:~,%`: `cmd` expands `%cd:~,%` (an empty
///   substring of the current directory) to nothing and keeps the first `%`,
///   so no `%name%` in an argument is ever expanded.
/// * A carriage return or line feed would end the command: refused.
fn batch_command_line(name: &str, script: &Path, args: &[OsString]) -> Result<Vec<u16>, Error> {
    let script_w: Vec<u16> = script.as_os_str().encode_wide().collect();
    if script_w.contains(&u16::from(b'"')) || script_w.last() == Some(&u16::from(b'\\')) {
        return Err(Error::invalid(
            name,
            format!("batch file path {script:?} cannot be quoted for cmd.exe"),
        ));
    }
    let mut line: Vec<u16> = OsStr::new("cmd.exe /e:ON /v:OFF /d /c \"\"")
        .encode_wide()
        .collect();
    line.extend(&script_w);
    line.push(u16::from(b'"'));
    for a in args {
        if a.encode_wide()
            .any(|c| c == u16::from(b'\r') || c == u16::from(b'\n'))
        {
            return Err(Error::invalid(
                name,
                format!(
                    "argument {a:?} contains a line break, which cmd.exe would treat as the end of the command; \
                     it cannot be passed to a batch file"
                ),
            ));
        }
        line.push(u16::from(b' '));
        push_batch_arg(&mut line, a);
    }
    line.push(u16::from(b'"'));
    Ok(line)
}

fn push_batch_arg(line: &mut Vec<u16>, arg: &OsStr) {
    const PLAIN: &str = "#$*+-./:?@\\_";
    let plain = |c: u16| match char::from_u32(u32::from(c)) {
        Some(ch) if ch.is_ascii() => ch.is_ascii_alphanumeric() || PLAIN.contains(ch),
        Some(ch) => !ch.is_control(),
        None => true, // half of a surrogate pair: not ASCII, not a control
    };
    let wide: Vec<u16> = arg.encode_wide().collect();
    // An argument ending in a backslash is quoted so that a script's `"%~1"`
    // cannot have its closing quote escaped.
    let quote = wide.is_empty()
        || wide.last() == Some(&u16::from(b'\\'))
        || !wide.iter().all(|&c| plain(c));
    if quote {
        line.push(u16::from(b'"'));
    }
    let mut backslashes = 0usize;
    for &c in &wide {
        if c == u16::from(b'\\') {
            backslashes += 1;
            line.push(c);
            continue;
        }
        if c == u16::from(b'"') {
            // Backslashes before a quote are doubled for the program the
            // script may hand the argument to; the quote is doubled for cmd.
            line.extend(std::iter::repeat_n(u16::from(b'\\'), backslashes));
            line.push(u16::from(b'"'));
        } else if c == u16::from(b'%') {
            line.extend(OsStr::new("%%cd:~,").encode_wide());
        }
        backslashes = 0;
        line.push(c);
    }
    if quote {
        line.extend(std::iter::repeat_n(u16::from(b'\\'), backslashes));
        line.push(u16::from(b'"'));
    }
}

/// The environment block: entries sorted by name, case-insensitively (as
/// Windows expects), each `NAME=value` NUL-terminated, then one more NUL. A
/// name repeated in another case keeps its last value.
fn environment_block(name: &str, env: &[(OsString, OsString)]) -> Result<Vec<u16>, Error> {
    let mut vars: Vec<(Vec<u16>, &OsStr, &OsStr)> = Vec::with_capacity(env.len());
    for (k, v) in env.iter().rev() {
        let kw: Vec<u16> = k.encode_wide().collect();
        // A leading '=' is allowed: Windows keeps per-drive directories in
        // variables such as `=C:`.
        if kw.is_empty() || kw.iter().skip(1).any(|&c| c == u16::from(b'=')) {
            return Err(Error::invalid(
                name,
                format!("environment variable name {k:?} is empty or contains '='"),
            ));
        }
        if kw.contains(&0) || has_nul(v) {
            return Err(Error::invalid(
                name,
                format!("environment variable {k:?} contains a NUL character"),
            ));
        }
        vars.push((kw.iter().map(|&c| upcase(c)).collect(), k, v));
    }
    // Stable: for repeated names the first entry kept is the last one set.
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.dedup_by(|later, earlier| later.0 == earlier.0);
    let mut block = Vec::new();
    for (_, k, v) in vars {
        block.extend(k.encode_wide());
        block.push(u16::from(b'='));
        block.extend(v.encode_wide());
        block.push(0);
    }
    if block.is_empty() {
        block.push(0);
    }
    block.push(0);
    Ok(block)
}

/// Upper-cases one UTF-16 unit where that maps to exactly one unit.
fn upcase(c: u16) -> u16 {
    match char::from_u32(u32::from(c)) {
        Some(ch) => {
            let mut up = ch.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) if (u as u32) <= 0xFFFF => u as u32 as u16,
                _ => c,
            }
        }
        None => c,
    }
}

/// The three standard streams while a spawn is being set up.
#[derive(Default)]
pub(crate) struct Stdio {
    /// What the child gets (`None`: no handle).
    child: [Option<OwnedHandle>; 3],
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits a command line the way the C runtime does (the 2008 rules:
    /// `2n` backslashes + quote → n backslashes and a quote toggle, `2n+1`
    /// → n backslashes and a literal quote, `""` inside quotes → a quote).
    fn split(line: &str) -> Vec<String> {
        let chars: Vec<char> = line.chars().collect();
        let mut args = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
                i += 1;
            }
            if i >= chars.len() {
                break;
            }
            let mut arg = String::new();
            let mut quoted = false;
            while i < chars.len() {
                let c = chars[i];
                if !quoted && (c == ' ' || c == '\t') {
                    break;
                }
                if c == '\\' {
                    let mut n = 0;
                    while i < chars.len() && chars[i] == '\\' {
                        n += 1;
                        i += 1;
                    }
                    if i < chars.len() && chars[i] == '"' {
                        arg.extend(std::iter::repeat_n('\\', n / 2));
                        if n % 2 == 1 {
                            arg.push('"');
                            i += 1;
                        }
                    } else {
                        arg.extend(std::iter::repeat_n('\\', n));
                    }
                    continue;
                }
                if c == '"' {
                    if quoted && i + 1 < chars.len() && chars[i + 1] == '"' {
                        arg.push('"');
                        i += 2;
                        continue;
                    }
                    quoted = !quoted;
                    i += 1;
                    continue;
                }
                arg.push(c);
                i += 1;
            }
            args.push(arg);
        }
        args
    }

    fn quoted(arg: &str) -> String {
        let mut line = Vec::new();
        push_quoted(&mut line, OsStr::new(arg));
        String::from_utf16(&line).unwrap()
    }

    #[test]
    fn quoting_round_trips_through_the_c_runtime_rules() {
        for arg in [
            "plain",
            "",
            "two words",
            "tab\there",
            "quote\"inside",
            "trailing\\",
            "trailing space\\",
            "\\\\server\\share\\",
            "a\\\"b",
            "a\\\\\"b c",
            "\"",
            "\\",
            "ends with quote\"",
            "ünïcödé ✓",
        ] {
            let q = quoted(arg);
            assert_eq!(
                split(&q),
                vec![arg.to_owned()],
                "argument {arg:?} quoted as {q}"
            );
        }
    }

    #[test]
    fn plain_arguments_are_not_quoted() {
        assert_eq!(quoted("C:\\path\\file.txt"), "C:\\path\\file.txt");
        assert_eq!(quoted("--flag=value"), "--flag=value");
    }

    #[test]
    fn environment_block_is_sorted_case_insensitively_and_keeps_the_last_duplicate() {
        let env = vec![
            (OsString::from("b"), OsString::from("2")),
            (OsString::from("A"), OsString::from("1")),
            (OsString::from("Path"), OsString::from("old")),
            (OsString::from("PATH"), OsString::from("new")),
        ];
        let block = environment_block("x", &env).unwrap();
        let text = String::from_utf16(&block).unwrap();
        assert_eq!(text, "A=1\0b=2\0PATH=new\0\0");
    }

    #[test]
    fn an_empty_environment_is_two_nuls() {
        assert_eq!(environment_block("x", &[]).unwrap(), vec![0, 0]);
    }

    #[test]
    fn a_bad_environment_name_is_invalid_input() {
        for bad in ["", "A=B"] {
            let env = vec![(OsString::from(bad), OsString::from("v"))];
            assert!(
                matches!(
                    environment_block("x", &env),
                    Err(Error::InvalidInput { .. })
                ),
                "{bad:?}"
            );
        }
        let env = vec![(OsString::from("=C:"), OsString::from("C:\\"))];
        assert!(environment_block("x", &env).is_ok());
    }

    #[test]
    fn batch_arguments_are_quoted_for_cmd_and_percent_is_neutralised() {
        let line = batch_command_line(
            "x",
            Path::new("C:\\s.bat"),
            &[
                OsString::from("a&b"),
                OsString::from("%PATH%"),
                OsString::from("plain"),
            ],
        )
        .unwrap();
        let text = String::from_utf16(&line).unwrap();
        assert_eq!(
            text,
            "cmd.exe /e:ON /v:OFF /d /c \"\"C:\\s.bat\" \"a&b\" \"%%cd:~,%PATH%%cd:~,%\" plain\""
        );
    }

    #[test]
    fn batch_arguments_with_line_breaks_are_refused() {
        for bad in ["a\nb", "a\rb"] {
            let r = batch_command_line("x", Path::new("C:\\s.bat"), &[OsString::from(bad)]);
            assert!(matches!(r, Err(Error::InvalidInput { .. })), "{bad:?}");
        }
    }

    #[test]
    fn a_program_without_extension_gets_exe() {
        assert_eq!(
            candidates(Path::new("C:\\bin\\tool")),
            vec![PathBuf::from("C:\\bin\\tool.exe")]
        );
        assert_eq!(
            candidates(Path::new("tool.EXE")),
            vec![PathBuf::from("tool.EXE")]
        );
        assert_eq!(
            candidates(Path::new("python3.11")),
            vec![PathBuf::from("python3.11"), PathBuf::from("python3.11.exe")]
        );
    }
}

//! The program, resolved and checked, and everything `CreateProcessW` needs
//! as UTF-16 (see the module docs of `spawn`).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use windows_sys::Win32::System::SystemInformation::{GetSystemDirectoryW, GetWindowsDirectoryW};

use super::cmdline::{batch_command_line, command_line, environment_block, has_nul};
use crate::sys::error::Error;
use crate::sys::request::SpawnRequest;
use crate::sys::windows::win32::{last_error, wide_nul};

/// The longest command line `CreateProcessW` accepts, in UTF-16 units,
/// including the terminating NUL.
const MAX_COMMAND_LINE: usize = 32_767;

/// Everything `CreateProcessW` needs, as UTF-16.
pub(crate) struct Plan {
    /// The resolved executable (`cmd.exe` for a batch file), NUL-terminated.
    pub(in crate::sys::windows) application: Vec<u16>,
    /// NUL-terminated.
    pub(in crate::sys::windows) command_line: Vec<u16>,
    /// `NAME=value` entries, each NUL-terminated, then one more NUL.
    pub(in crate::sys::windows) environment: Vec<u16>,
    /// NUL-terminated.
    pub(in crate::sys::windows) cwd: Option<Vec<u16>>,
}

impl Plan {
    /// The working directory as a path, for error messages.
    pub(in crate::sys::windows) fn cwd_path(&self) -> Option<PathBuf> {
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
pub(super) fn candidates(p: &Path) -> Vec<PathBuf> {
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

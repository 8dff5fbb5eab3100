//! Turning a [`SpawnRequest`] into what `execve` needs, before any fork.
//!
//! Everything that allocates happens here, in the parent: the child side of
//! a vfork-style spawn may only run async-signal-safe code, so it must find
//! argv, envp, the resolved program path and the working directory ready as
//! C strings.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::sys::SpawnRequest;

/// argv, envp and friends as NUL-terminated C strings plus pointer arrays.
pub(crate) struct ExecPlan {
    pub program: CString,
    _argv: Vec<CString>,
    pub argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    pub envp_ptrs: Vec<*const libc::c_char>,
    /// Read by the Linux spawner; `std::process` changes directory itself.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub cwd: Option<CString>,
}

// SAFETY: the raw pointers point into the CStrings owned by the same struct,
// which are never mutated; moving the struct between threads moves the heap
// buffers with it (the pointers stay valid).
unsafe impl Send for ExecPlan {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for ExecPlan {}

impl ExecPlan {
    /// A plan from parts already checked and resolved elsewhere (the
    /// subreaper helper rebuilds the host's plan from the wire).
    #[cfg(target_os = "linux")]
    pub(crate) fn from_parts(
        program: CString,
        argv: Vec<CString>,
        envp: Vec<CString>,
        cwd: Option<CString>,
    ) -> ExecPlan {
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
        envp_ptrs.push(std::ptr::null());
        ExecPlan {
            program,
            _argv: argv,
            argv_ptrs,
            _envp: envp,
            envp_ptrs,
            cwd,
        }
    }

    /// The argument vector, `argv[0]` first.
    #[cfg(target_os = "linux")]
    pub(crate) fn argv(&self) -> &[CString] {
        &self._argv
    }

    /// The environment, as `KEY=value` strings.
    #[cfg(target_os = "linux")]
    pub(crate) fn envp(&self) -> &[CString] {
        &self._envp
    }
}

fn cstring(program: &str, what: &str, s: &OsStr) -> Result<CString, Error> {
    CString::new(s.as_bytes()).map_err(|_| {
        Error::invalid(
            program,
            format!("{what} {:?} contains a NUL byte", s.to_string_lossy()),
        )
    })
}

/// Checks the request for bad input and resolves the program on `PATH`.
pub(crate) fn plan(req: &SpawnRequest<'_>) -> Result<ExecPlan, Error> {
    let name = req.display_name;
    if req.program.is_empty() {
        return Err(Error::invalid(name, "the program name is empty"));
    }
    let mut argv = Vec::with_capacity(req.args.len() + 1);
    argv.push(cstring(name, "program", req.program)?);
    for a in req.args {
        argv.push(cstring(name, "argument", a)?);
    }
    let mut envp = Vec::with_capacity(req.env.len());
    let mut path_var: Option<&OsStr> = None;
    for (k, v) in &req.env {
        if k.is_empty() || k.as_bytes().contains(&b'=') {
            return Err(Error::invalid(
                name,
                format!(
                    "environment variable name {:?} is empty or contains '='",
                    k.to_string_lossy()
                ),
            ));
        }
        if k == "PATH" {
            path_var = Some(v);
        }
        let mut kv = OsString::with_capacity(k.len() + v.len() + 1);
        kv.push(k);
        kv.push("=");
        kv.push(v);
        envp.push(cstring(name, "environment variable", &kv)?);
    }
    let cwd = match req.cwd {
        Some(dir) => {
            let c = cstring(name, "working directory", dir.as_os_str())?;
            match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(Error::BadDirectory {
                        program: name.to_owned(),
                        dir: dir.to_owned(),
                        source: io::Error::from(io::ErrorKind::NotADirectory),
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
            Some(c)
        }
        None => None,
    };
    let resolved = resolve(name, req.program, path_var, req.cwd)?;
    let program = cstring(name, "program", resolved.as_os_str())?;

    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    Ok(ExecPlan {
        program,
        _argv: argv,
        argv_ptrs,
        _envp: envp,
        envp_ptrs,
        cwd,
    })
}

/// Finds the file to execute, the way `execvp` would, but in the parent so a
/// missing program is reported with the search path and without a spawn.
fn resolve(
    name: &str,
    program: &OsStr,
    path_var: Option<&OsStr>,
    cwd: Option<&Path>,
) -> Result<PathBuf, Error> {
    let p = Path::new(program);
    // `execve` runs after the child's `chdir`, so a relative path is looked
    // up from the child's working directory: check it there, but hand
    // `execve` the path as it is.
    let seen_from_child = |c: &Path| match cwd {
        Some(dir) if c.is_relative() => dir.join(c),
        _ => c.to_owned(),
    };
    if program.as_bytes().contains(&b'/') {
        return check_file(name, &seen_from_child(p)).map(|()| p.to_owned());
    }
    let path_var = path_var
        .map(OsStr::to_owned)
        .unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    let mut denied: Option<io::Error> = None;
    for dir in std::env::split_paths(&path_var) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(p);
        match check_file(name, &seen_from_child(&candidate)) {
            Ok(()) => return Ok(candidate),
            Err(Error::PermissionDenied { source, .. }) => denied = Some(source),
            Err(_) => {}
        }
    }
    if let Some(source) = denied {
        return Err(Error::PermissionDenied {
            program: name.to_owned(),
            source,
        });
    }
    Err(Error::NotFound {
        program: name.to_owned(),
        searched: Some(String::from_utf8_lossy(path_var.as_bytes()).into_owned()),
    })
}

fn check_file(name: &str, path: &Path) -> Result<(), Error> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {
            if m.permissions().mode() & 0o111 == 0 {
                Err(Error::PermissionDenied {
                    program: name.to_owned(),
                    source: io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!("{} is not executable", path.display()),
                    ),
                })
            } else {
                Ok(())
            }
        }
        Ok(_) => Err(Error::PermissionDenied {
            program: name.to_owned(),
            source: io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{} is not a regular file", path.display()),
            ),
        }),
        Err(_) => Err(Error::NotFound {
            program: name.to_owned(),
            searched: None,
        }),
    }
}

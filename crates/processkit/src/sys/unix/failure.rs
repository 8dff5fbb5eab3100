//! The typed errors of a spawn that failed: the process could not be
//! created, a child-side setup step failed, or `execve` could not find what
//! an existing file needs to run. A leaf of `sys/unix/`: the spawners, the
//! subreaper helpers and the façade all report through it.

use std::io;

use crate::sys::error::Error;
#[cfg(target_os = "linux")]
use crate::sys::request::SpawnRequest;
use crate::sys::unix::prep;

/// The error for a spawn knob the child could not apply: a permission
/// problem as [`Error::PermissionDenied`], anything else as
/// [`Error::Spawn`], both saying which setting failed.
#[cfg(target_os = "linux")]
pub(crate) fn knob_error(name: &str, what: &str, e: io::Error) -> Error {
    let source = io::Error::new(e.kind(), format!("{what}: {e}"));
    if e.kind() == io::ErrorKind::PermissionDenied {
        Error::PermissionDenied {
            program: name.to_owned(),
            source,
        }
    } else {
        Error::Spawn {
            program: name.to_owned(),
            source,
        }
    }
}

/// The typed error for a child-side setup step that failed (from the
/// spawner, or reported by a subreaper helper).
#[cfg(target_os = "linux")]
pub(crate) fn child_failure(
    req: &SpawnRequest<'_>,
    stage: crate::sys::linux::spawn::Stage,
    e: io::Error,
) -> Error {
    use crate::sys::linux::spawn::Stage;
    let name = req.display_name;
    match stage {
        Stage::Exec => Error::from_spawn(name, None, e),
        Stage::Chdir => Error::BadDirectory {
            program: name.to_owned(),
            dir: req.cwd.map(|p| p.to_owned()).unwrap_or_default(),
            source: e,
        },
        Stage::Uid | Stage::Gid | Stage::Groups => Error::PermissionDenied {
            program: name.to_owned(),
            source: io::Error::new(e.kind(), format!("dropping privileges: {e}")),
        },
        Stage::Cgroup => Error::Spawn {
            program: name.to_owned(),
            source: io::Error::new(e.kind(), format!("joining the cgroup: {e}")),
        },
        Stage::Rlimit => knob_error(name, "setting a resource limit", e),
        Stage::Priority => knob_error(name, "setting the priority", e),
        Stage::Affinity => knob_error(name, "setting the CPU affinity", e),
        Stage::IoPriority => knob_error(name, "setting the I/O priority", e),
        other => Error::Spawn {
            program: name.to_owned(),
            source: io::Error::new(e.kind(), format!("child setup ({other:?}): {e}")),
        },
    }
}

/// The typed error for a process that could not be created at all (`clone`
/// refused for want of processes or memory, no fd for its pidfd), saying
/// which limit is the likely cause.
pub(crate) fn creation_failure(name: &str, e: io::Error) -> Error {
    let why = match e.raw_os_error() {
        Some(libc::EAGAIN) => {
            "; the limit on processes or threads is reached (RLIMIT_NPROC, a cgroup's \
             pids.max, or kernel.threads-max)"
        }
        Some(libc::ENOMEM) => "; the system is out of memory",
        Some(libc::EMFILE | libc::ENFILE) => "; no file descriptor is free",
        _ => "",
    };
    Error::Spawn {
        program: name.to_owned(),
        source: io::Error::new(e.kind(), format!("creating the process: {e}{why}")),
    }
}

/// `execve` said `ENOENT`, yet the file it was given exists: what is
/// missing is what the file needs to run (the interpreter its `#!` line
/// names, or the loader of a dynamically linked program). Says so instead
/// of "program not found".
pub(crate) fn explain_exec_failure(
    err: Error,
    plan: &prep::ExecPlan,
    cwd: Option<&std::path::Path>,
) -> Error {
    use std::os::unix::ffi::OsStrExt;
    let Error::NotFound {
        program,
        searched: None,
    } = &err
    else {
        return err;
    };
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(plan.program.as_bytes()));
    let seen = match cwd {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_owned(),
    };
    if !seen.is_file() {
        return err;
    }
    let what = match interpreter_of(&seen) {
        Some(interp) => format!(
            "{} exists, but the interpreter its #! line names ({interp}) was not found",
            path.display()
        ),
        None => format!(
            "{} exists, but something it needs to run (its program loader, the ELF \
             interpreter) was not found",
            path.display()
        ),
    };
    Error::Spawn {
        program: program.clone(),
        source: io::Error::new(io::ErrorKind::NotFound, what),
    }
}

/// The interpreter named on a script's `#!` line.
fn interpreter_of(path: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|&b| b == b'\n').next()?;
    let text = String::from_utf8_lossy(line);
    text.split_whitespace().next().map(str::to_owned)
}

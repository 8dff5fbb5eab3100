//! Turning a [`SpawnRequest`] into what `execve` needs, before any fork.
//!
//! Everything that allocates happens here, in the parent: the child side of
//! a vfork-style spawn may only run async-signal-safe code, so it must find
//! argv, envp, the resolved program path and the working directory ready as
//! C strings.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::sys::error::Error;
use crate::sys::request::SpawnRequest;

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
    /// Settings the child applies to itself before `execve`.
    pub knobs: Option<ChildKnobs>,
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
        knobs: Option<ChildKnobs>,
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
            knobs,
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
    argv.push(cstring(
        name,
        "program",
        req.knobs.arg0.as_deref().unwrap_or(req.program),
    )?);
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
    let ids = Ids {
        uid: req.uid,
        gid: req.gid,
    };
    let resolved = resolve(name, req.program, path_var, req.cwd, ids)?;
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
        knobs: ChildKnobs::prepare(name, req.knobs)?,
    })
}

/// The ids the child will run with, where they differ from this process's.
#[derive(Clone, Copy)]
struct Ids {
    uid: Option<u32>,
    gid: Option<u32>,
}

/// Finds the file to execute, the way `execvp` would, but in the parent so a
/// missing program is reported with the search path and without a spawn.
///
/// Like `execvp`, the search skips an entry that does not exist (`ENOENT`,
/// `ENOTDIR`) or that the child could not execute (`EACCES`, or no execute
/// permission for the user the child runs as), and stops at any other error
/// (`ELOOP`, `ENAMETOOLONG`, ...), which is returned as it happened.
/// `PermissionDenied` is returned when something was found but none of it
/// is executable.
fn resolve(
    name: &str,
    program: &OsStr,
    path_var: Option<&OsStr>,
    cwd: Option<&Path>,
    ids: Ids,
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
        return check_file(name, &seen_from_child(p), ids).map(|()| p.to_owned());
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
        match check_file(name, &seen_from_child(&candidate), ids) {
            Ok(()) => return Ok(candidate),
            Err(Error::PermissionDenied { source, .. }) => denied = Some(source),
            Err(Error::NotFound { .. }) => {}
            // Like `execvp`: a PATH entry that is not a directory is skipped.
            Err(Error::Spawn { source, .. }) if source.kind() == io::ErrorKind::NotADirectory => {}
            Err(other) => return Err(other),
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

/// Whether the child may execute `path`: asked of the kernel with this
/// process's effective ids, or read from the mode bits for the ids the
/// child switches to.
fn executable(path: &Path, m: &std::fs::Metadata, ids: Ids) -> bool {
    use std::os::unix::fs::MetadataExt;
    if ids.uid.is_none() && ids.gid.is_none() {
        return rustix::fs::accessat(
            rustix::fs::CWD,
            path,
            rustix::fs::Access::EXEC_OK,
            rustix::fs::AtFlags::EACCESS,
        )
        .is_ok();
    }
    let uid = ids
        .uid
        .unwrap_or_else(|| rustix::process::geteuid().as_raw());
    let gid = ids
        .gid
        .unwrap_or_else(|| rustix::process::getegid().as_raw());
    let mode = m.mode();
    if uid == 0 {
        return mode & 0o111 != 0;
    }
    let bit = if m.uid() == uid {
        0o100
    } else if m.gid() == gid {
        0o010
    } else {
        0o001
    };
    mode & bit != 0
}

fn check_file(name: &str, path: &Path, ids: Ids) -> Result<(), Error> {
    let denied = |why: String| Error::PermissionDenied {
        program: name.to_owned(),
        source: io::Error::new(io::ErrorKind::PermissionDenied, why),
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {
            if executable(path, &m, ids) {
                Ok(())
            } else {
                Err(denied(format!(
                    "{} is not executable by the user the child runs as",
                    path.display()
                )))
            }
        }
        Ok(_) => Err(denied(format!("{} is not a regular file", path.display()))),
        Err(e) => match e.raw_os_error() {
            Some(libc::ENOENT) => Err(Error::NotFound {
                program: name.to_owned(),
                searched: None,
            }),
            Some(libc::ENOTDIR) => Err(Error::Spawn {
                program: name.to_owned(),
                source: io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!(
                        "{}: a part of the path before its last component is not a directory",
                        path.display()
                    ),
                ),
            }),
            Some(libc::EACCES) => Err(denied(format!("{}: {e}", path.display()))),
            _ => Err(Error::Spawn {
                program: name.to_owned(),
                source: io::Error::new(e.kind(), format!("{}: {e}", path.display())),
            }),
        },
    }
}

/// The knobs of a [`SpawnKnobs`](crate::sys::knobs::SpawnKnobs), checked and
/// converted for the child side: plain data that the child applies with raw
/// syscalls, without allocating.
#[derive(Default, Clone)]
pub(crate) struct ChildKnobs {
    pub umask: Option<libc::mode_t>,
    pub rlimits: Vec<(libc::c_int, u64, u64)>,
    pub nice: Option<libc::c_int>,
    #[cfg(target_os = "linux")]
    pub cpuset: Option<libc::cpu_set_t>,
    #[cfg(target_os = "linux")]
    pub ioprio: Option<libc::c_int>,
    /// Supplementary groups to set instead of the default of a privilege drop.
    pub groups: Option<Vec<libc::gid_t>>,
}

/// A knob step in the child that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KnobStep {
    Rlimit,
    Priority,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Affinity,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    IoPriority,
}

impl ChildKnobs {
    /// Checks and converts the knobs; `None` when no child-side knob is set.
    pub(crate) fn prepare(
        name: &str,
        k: &crate::sys::knobs::SpawnKnobs,
    ) -> Result<Option<ChildKnobs>, Error> {
        if !k.needs_child_setup() {
            return Ok(None);
        }
        let mut out = ChildKnobs {
            umask: k.umask.map(|m| (m & 0o7777) as libc::mode_t),
            nice: k.priority,
            groups: k
                .groups
                .as_ref()
                .map(|g| g.iter().map(|&g| g as libc::gid_t).collect()),
            ..ChildKnobs::default()
        };
        for &(res, soft, hard) in &k.rlimits {
            if soft > hard {
                return Err(Error::invalid(
                    name,
                    format!(
                        "{}: the soft limit {soft} is above the hard limit {hard}",
                        res.name()
                    ),
                ));
            }
            out.rlimits.push((resource(res), soft, hard));
        }
        #[cfg(target_os = "linux")]
        if let Some(cpus) = &k.cpu_affinity {
            const SETSIZE: usize = 1024;
            if cpus.is_empty() {
                return Err(Error::invalid(name, "cpu_affinity needs at least one CPU"));
            }
            if let Some(bad) = cpus.iter().find(|&&c| c >= SETSIZE) {
                return Err(Error::invalid(
                    name,
                    format!("cpu_affinity: CPU {bad} is beyond the {SETSIZE} a CPU set can name"),
                ));
            }
            // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            for &c in cpus {
                // SAFETY: `c` was checked to be below CPU_SETSIZE, the
                // number of bits in `set`.
                unsafe { libc::CPU_SET(c, &mut set) };
            }
            out.cpuset = Some(set);
        }
        #[cfg(target_os = "linux")]
        if let Some(p) = k.io_priority {
            out.ioprio = Some(p.encode().ok_or_else(|| {
                Error::invalid(name, format!("io_priority {p:?}: the level must be 0 to 7"))
            })?);
        }
        Ok(Some(out))
    }

    /// Applies umask, resource limits, priority, CPU affinity and I/O
    /// priority to the calling process. Only raw syscalls on prepared data,
    /// so it may run in a vfork-style child. On failure `errno` is left set.
    ///
    /// # Safety
    ///
    /// Must run in the freshly spawned child, before `execve`.
    pub(crate) unsafe fn apply(&self) -> Result<(), KnobStep> {
        // SAFETY: plain syscalls on integers and on structures owned by
        // `self`, which the caller keeps alive.
        unsafe {
            if let Some(mask) = self.umask {
                libc::umask(mask);
            }
            for &(res, soft, hard) in &self.rlimits {
                if set_rlimit(res, soft, hard) != 0 {
                    return Err(KnobStep::Rlimit);
                }
            }
            if let Some(nice) = self.nice {
                #[cfg(target_os = "linux")]
                let r = libc::syscall(libc::SYS_setpriority, libc::PRIO_PROCESS, 0, nice);
                #[cfg(not(target_os = "linux"))]
                let r = libc::setpriority(libc::PRIO_PROCESS, 0, nice);
                if r != 0 {
                    return Err(KnobStep::Priority);
                }
            }
            #[cfg(target_os = "linux")]
            if let Some(set) = &self.cpuset
                && libc::syscall(
                    libc::SYS_sched_setaffinity,
                    0,
                    std::mem::size_of::<libc::cpu_set_t>(),
                    set as *const libc::cpu_set_t,
                ) != 0
            {
                return Err(KnobStep::Affinity);
            }
            #[cfg(target_os = "linux")]
            if let Some(prio) = self.ioprio {
                const IOPRIO_WHO_PROCESS: libc::c_int = 1;
                if libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) != 0 {
                    return Err(KnobStep::IoPriority);
                }
            }
        }
        Ok(())
    }
}

fn resource(r: crate::sys::knobs::Resource) -> libc::c_int {
    use crate::sys::knobs::Resource;
    (match r {
        Resource::Core => libc::RLIMIT_CORE,
        Resource::Cpu => libc::RLIMIT_CPU,
        Resource::Data => libc::RLIMIT_DATA,
        Resource::FileSize => libc::RLIMIT_FSIZE,
        Resource::NoFile => libc::RLIMIT_NOFILE,
        Resource::Stack => libc::RLIMIT_STACK,
        Resource::AddressSpace => libc::RLIMIT_AS,
        Resource::Processes => libc::RLIMIT_NPROC,
        Resource::MemLock => libc::RLIMIT_MEMLOCK,
    }) as libc::c_int
}

#[cfg_attr(target_os = "linux", allow(dead_code))]
fn rlim(v: u64) -> libc::rlim_t {
    if v == u64::MAX {
        libc::RLIM_INFINITY
    } else {
        v as libc::rlim_t
    }
}

/// `setrlimit` as one raw syscall (`prlimit64` on the calling process).
#[cfg(target_os = "linux")]
unsafe fn set_rlimit(res: libc::c_int, soft: u64, hard: u64) -> libc::c_long {
    let new = libc::rlimit64 {
        rlim_cur: if soft == u64::MAX {
            libc::RLIM64_INFINITY
        } else {
            soft
        },
        rlim_max: if hard == u64::MAX {
            libc::RLIM64_INFINITY
        } else {
            hard
        },
    };
    // SAFETY: a pointer to a local, valid for the call; NULL for the old value.
    unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            res,
            &new as *const libc::rlimit64,
            std::ptr::null_mut::<libc::rlimit64>(),
        )
    }
}

#[cfg(not(target_os = "linux"))]
unsafe fn set_rlimit(res: libc::c_int, soft: u64, hard: u64) -> libc::c_long {
    let new = libc::rlimit {
        rlim_cur: rlim(soft),
        rlim_max: rlim(hard),
    };
    // SAFETY: a pointer to a local, valid for the call.
    unsafe { libc::setrlimit(res as _, &new) as libc::c_long }
}

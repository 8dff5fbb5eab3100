//! The vfork-style spawner: `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)`.
//!
//! # Why not `fork` + `pre_exec`
//!
//! Putting a child into a cgroup needs code between fork and exec (write `0`
//! to the target `cgroup.procs`). With `std::process`, any `pre_exec` hook
//! forces a real `fork`, which copies the parent's page tables: from a parent
//! holding gigabytes of touched memory a spawn then costs hundreds of times
//! more than `posix_spawn`. `posix_spawn` itself avoids that with a vfork-style
//! `clone`, but offers no "join this cgroup" step.
//!
//! So this module does what `posix_spawn` does inside, plus the cgroup join:
//! the child shares the parent's memory (`CLONE_VM`), the parent thread is
//! suspended until the child calls `execve` or exits (`CLONE_VFORK`), and the
//! kernel hands back a pidfd for the child (`CLONE_PIDFD`). The cost is flat
//! in the parent's memory size.
//!
//! # Rules for the child side
//!
//! The child runs on a small dedicated stack inside the parent's address
//! space, so it may only run async-signal-safe code: no allocation, no
//! locks, no Rust panics. Everything it needs (argv, envp, the resolved
//! program, fds) is prepared by the parent in [`ExecPlan`] and [`Setup`].
//! All signals are blocked in the parent around the `clone`, so no parent
//! handler can run on the child's stack; the child resets every caught
//! signal to its default before unblocking.
//!
//! Order in the child: signal dispositions → join cgroup → `setsid`/`setpgid`
//! → stdio (then, for a terminal, `TIOCSCTTY`) → the command's knobs
//! (umask, rlimits, nice, CPU affinity, I/O priority, supplementary groups)
//! → `setgroups`/`setgid`/`setuid` (after the cgroup join, so a privilege
//! drop composes with a root-owned cgroup) → `chdir` (after the id change,
//! as std does: a directory the child's user may not enter is refused) →
//! `PR_SET_PDEATHSIG` (after the id change, which would clear it), then
//! `getppid` to catch a parent that died before the signal was armed → an
//! empty signal mask → `execve`. A failure at any step writes the step and
//! `errno` to a close-on-exec pipe and exits with 127; the parent reads the
//! pipe after `clone` returns and turns it into a typed error.
//!
//! # Credential changes do not share the memory map
//!
//! A child that changes its user or group id must not share the parent's
//! memory: the kernel resets the "dumpable" flag of the memory map on an id
//! change, and with `CLONE_VM` that map is the host's own (no core dumps,
//! `/proc/<host>` turning root-owned). Such a spawn leaves out `CLONE_VM`:
//! the child gets its own copy of the address space, as with `fork`, and
//! reports a failed step through the pipe only.

use std::cell::RefCell;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use crate::sys::unix::prep::ExecPlan;

/// How the child relates to process groups and sessions.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PgMode {
    /// Stay in the parent's process group.
    Inherit,
    /// Become the leader of a new process group (`setpgid(0, 0)`).
    NewGroup,
    /// Become the leader of a new session (`setsid`).
    Setsid,
    /// Become the leader of a new session and take the terminal on fd 0
    /// (after the stdio step) as its controlling terminal (`TIOCSCTTY`).
    SetsidCtty,
}

/// Everything the child side needs besides argv/envp.
pub(crate) struct Setup<'a> {
    pub plan: &'a ExecPlan,
    /// An open cgroup directory the child must start in, or -1.
    pub cgroup: RawFd,
    pub pgroup: PgMode,
    /// Fds to install as 0, 1, 2; -1 leaves the parent's stream in place.
    pub stdio: [RawFd; 3],
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub pdeathsig: bool,
}

impl Setup<'_> {
    /// Whether the child may share the parent's memory map (no credential
    /// change, see the module docs).
    fn share_vm(&self) -> bool {
        self.uid.is_none() && self.gid.is_none()
    }
}

/// The step of the child setup that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Stage {
    Cgroup = 1,
    Session = 2,
    DeathSignal = 3,
    Stdio = 4,
    Chdir = 5,
    Groups = 6,
    Gid = 7,
    Uid = 8,
    Exec = 9,
    Rlimit = 10,
    Priority = 11,
    Affinity = 12,
    IoPriority = 13,
}

impl Stage {
    /// The stage of a failed knob step.
    pub(crate) fn of_knob(step: crate::sys::unix::prep::KnobStep) -> Stage {
        use crate::sys::unix::prep::KnobStep;
        match step {
            KnobStep::Rlimit => Stage::Rlimit,
            KnobStep::Priority => Stage::Priority,
            KnobStep::Affinity => Stage::Affinity,
            KnobStep::IoPriority => Stage::IoPriority,
        }
    }

    pub(crate) fn from_u32(v: u32) -> Stage {
        match v {
            1 => Stage::Cgroup,
            2 => Stage::Session,
            3 => Stage::DeathSignal,
            4 => Stage::Stdio,
            5 => Stage::Chdir,
            6 => Stage::Groups,
            7 => Stage::Gid,
            8 => Stage::Uid,
            10 => Stage::Rlimit,
            11 => Stage::Priority,
            12 => Stage::Affinity,
            13 => Stage::IoPriority,
            _ => Stage::Exec,
        }
    }
}

/// Why a spawn failed.
#[derive(Debug)]
pub(crate) enum SpawnFailure {
    /// The kernel refused the `clone` itself (seccomp, an old kernel): the
    /// caller may fall back to another spawner.
    CloneRefused(io::Error),
    /// The child started but a setup step or `execve` failed.
    Child(Stage, io::Error),
    /// Something in the parent failed (pipe, stack).
    Parent(io::Error),
}

struct ChildArgs<'a> {
    setup: &'a Setup<'a>,
    /// An open `cgroup.procs` for the child to write `0` into, or -1 when
    /// the kernel already created it inside its cgroup (`CLONE_INTO_CGROUP`).
    cgroup_procs: AtomicI32,
    /// A close-on-exec pipe to report a failed step through, or -1 once the
    /// shared-memory report below is known to work.
    err_fd: RawFd,
    /// Set by the child first thing: proves it shares our memory.
    started: AtomicBool,
    /// The parent's pid, for the child's `getppid` check after arming the
    /// death signal.
    parent: libc::pid_t,
    /// A failed step, written by the child before `_exit(127)`: the stage in
    /// the high half, `errno` in the low half; 0 while nothing failed.
    failure: AtomicU64,
}

const STACK_SIZE: usize = 64 * 1024;

/// Set once the kernel rejected `CLONE_PIDFD`.
static NO_CLONE_PIDFD: AtomicBool = AtomicBool::new(false);

/// Set once `clone3` with `CLONE_INTO_CGROUP` was refused (a kernel before
/// 5.7, a seccomp filter, an emulator); from then on the child joins its
/// cgroup by writing to `cgroup.procs`.
static NO_CLONE3: AtomicBool =
    AtomicBool::new(!cfg!(any(target_arch = "x86_64", target_arch = "aarch64")));

/// Whether children are created straight into their cgroup with `clone3`
/// (not refused so far, not ruled out by `PROCESSKIT_SPAWNER=clone`).
pub(crate) fn clone3_in_use() -> bool {
    !NO_CLONE3.load(Ordering::Relaxed)
        && crate::sys::unix::spawner::forced_spawner() != Some("clone")
}

/// `clone3`'s argument block (`struct clone_args`, version 2: 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `clone3` that runs `f(arg)` on the new stack in the child and exits with
/// its result. Returns the child's pid, or a negative errno.
///
/// # Safety
///
/// `args` must describe a valid stack that nothing else uses until the
/// child execs or exits (the caller passes `CLONE_VFORK`), and `f` must only
/// run async-signal-safe code and never return into the caller's frames.
#[cfg(target_arch = "x86_64")]
unsafe fn raw_clone3(
    args: *mut CloneArgs,
    f: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> libc::c_long {
    let ret: libc::c_long;
    // SAFETY: the syscall preserves every register but rax, rcx and r11. In
    // the parent it returns the pid (or -errno) and execution continues
    // after the block. The child starts on the new, 16-byte aligned stack
    // with rax = 0, calls `f(arg)` (r12, r13 are inherited) and exits with
    // its result without ever returning here.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, r13",
            "call r12",
            "mov edi, eax",
            "mov eax, 60",
            "syscall",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") args,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") f,
            in("r13") arg,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// See the x86-64 version.
#[cfg(target_arch = "aarch64")]
unsafe fn raw_clone3(
    args: *mut CloneArgs,
    f: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> libc::c_long {
    let ret: libc::c_long;
    // SAFETY: as for x86-64: `svc` preserves every register but x0; the
    // child starts on the new stack with x0 = 0, calls `f(arg)` through x9
    // and x10 and exits with its result.
    unsafe {
        std::arch::asm!(
            "svc #0",
            "cbnz x0, 2f",
            "mov x0, x10",
            "blr x9",
            "mov x8, #93",
            "svc #0",
            "brk #1",
            "2:",
            inlateout("x0") args => ret,
            in("x1") std::mem::size_of::<CloneArgs>(),
            in("x8") libc::SYS_clone3,
            in("x9") f,
            in("x10") arg,
            options(nostack),
        );
    }
    ret
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
unsafe fn raw_clone3(
    _args: *mut CloneArgs,
    _f: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    _arg: *mut libc::c_void,
) -> libc::c_long {
    -(libc::ENOSYS as libc::c_long)
}

/// Opens the `cgroup.procs` of the cgroup directory `dir` for writing.
pub(crate) fn open_procs(dir: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: `dir` is an open directory fd owned by the caller for this call.
    let dir = unsafe { std::os::fd::BorrowedFd::borrow_raw(dir) };
    Ok(rustix::fs::openat(
        dir,
        "cgroup.procs",
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?)
}

/// Set once a child was seen writing into the parent's memory. From then
/// on a failed step is reported through [`ChildArgs::failure`] alone, with
/// no error pipe: a pipe costs four syscalls per spawn, and worse, every
/// child spawned meanwhile on another thread inherits its write end until
/// that child execs, so the read that waits for EOF would stall this thread
/// on another thread's child. Until then (and for good in an emulator that
/// turns the vfork into a real fork), the pipe is used as well.
static SHARED_REPORT_WORKS: AtomicBool = AtomicBool::new(false);

thread_local! {
    // One stack per thread, reused: a vfork child is done with it before
    // `clone` returns in the parent.
    static STACK: RefCell<Vec<u128>> = const { RefCell::new(Vec::new()) };
}

/// Spawns the child. Returns its pid and pidfd.
pub(crate) fn spawn(setup: &Setup<'_>) -> Result<(u32, OwnedFd), SpawnFailure> {
    let share_vm = setup.share_vm();
    let err_pipe = if share_vm && SHARED_REPORT_WORKS.load(Ordering::Relaxed) {
        None
    } else {
        Some(
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                .map_err(|e| SpawnFailure::Parent(e.into()))?,
        )
    };
    let use_clone3 = setup.cgroup >= 0 && clone3_in_use();
    let mut procs: Option<OwnedFd> = None;
    if setup.cgroup >= 0 && !use_clone3 {
        procs = Some(open_procs(setup.cgroup).map_err(SpawnFailure::Parent)?);
    }
    let args = ChildArgs {
        setup,
        cgroup_procs: AtomicI32::new(procs.as_ref().map_or(-1, std::os::fd::AsRawFd::as_raw_fd)),
        err_fd: err_pipe
            .as_ref()
            .map_or(-1, |(_, w)| std::os::fd::AsRawFd::as_raw_fd(w)),
        started: AtomicBool::new(false),
        parent: std::process::id() as libc::pid_t,
        failure: AtomicU64::new(0),
    };
    let vm_flag = if share_vm { libc::CLONE_VM } else { 0 };

    let result = STACK.with(|stack| {
        let mut stack = stack.borrow_mut();
        if stack.is_empty() {
            stack.resize(STACK_SIZE / std::mem::size_of::<u128>(), 0);
        }
        let len = stack.len();
        // SAFETY: `len` elements exist; the pointer one past the end is valid
        // to compute and is the (16-byte aligned) top of the stack, which
        // grows down on every Linux architecture Rust supports here.
        let top = unsafe { stack.as_mut_ptr().add(len) } as *mut libc::c_void;

        let mut all: libc::sigset_t = unsafe_zeroed_sigset();
        let mut old: libc::sigset_t = unsafe_zeroed_sigset();
        // SAFETY: both sets are valid, initialised sigset_t values.
        unsafe {
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        }
        let mut pidfd: libc::c_int = -1;
        let mut pid: libc::c_int = -1;
        let mut clone3_done = false;
        if use_clone3 {
            let mut cl = CloneArgs {
                flags: (vm_flag | libc::CLONE_VFORK | libc::CLONE_PIDFD) as u64 | CLONE_INTO_CGROUP,
                pidfd: &mut pidfd as *mut libc::c_int as u64,
                exit_signal: libc::SIGCHLD as u64,
                stack: stack.as_mut_ptr() as u64,
                stack_size: (len * std::mem::size_of::<u128>()) as u64,
                cgroup: setup.cgroup as u64,
                ..CloneArgs::default()
            };
            // SAFETY: the stack is ours and unused until the vfork child
            // execs or exits; `child_main` follows the rules above.
            let r = unsafe {
                raw_clone3(
                    &mut cl,
                    child_main,
                    &args as *const ChildArgs<'_> as *mut libc::c_void,
                )
            };
            if r >= 0 {
                pid = r as libc::c_int;
                clone3_done = true;
            } else if matches!(
                -r as i32,
                libc::ENOSYS | libc::EINVAL | libc::EPERM | libc::E2BIG | libc::EOPNOTSUPP
            ) {
                // Refused: fall back to clone + a cgroup.procs write, for good.
                NO_CLONE3.store(true, Ordering::Relaxed);
                match open_procs(setup.cgroup) {
                    Ok(fd) => {
                        args.cgroup_procs
                            .store(std::os::fd::AsRawFd::as_raw_fd(&fd), Ordering::Relaxed);
                        procs = Some(fd);
                    }
                    Err(e) => {
                        // SAFETY: restores the mask saved above.
                        unsafe {
                            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut())
                        };
                        return Err(e);
                    }
                }
            } else {
                // SAFETY: restores the mask saved above.
                unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
                return Err(io::Error::from_raw_os_error(-r as i32));
            }
        }
        let with_pidfd = !NO_CLONE_PIDFD.load(Ordering::Relaxed);
        let mut flags = vm_flag | libc::CLONE_VFORK | libc::SIGCHLD;
        if with_pidfd {
            flags |= libc::CLONE_PIDFD;
        }
        if !clone3_done {
            // SAFETY: `child_main` only runs async-signal-safe calls on data that
            // outlives the clone (the parent is suspended until the child execs or
            // exits, because of CLONE_VFORK). The stack is ours and unused by
            // anyone else during that time. `pidfd` receives the pidfd
            // (CLONE_PIDFD stores it through the parent_tid argument).
            pid = unsafe {
                libc::clone(
                    child_main,
                    top,
                    flags,
                    &args as *const ChildArgs<'_> as *mut libc::c_void,
                    &mut pidfd as *mut libc::c_int,
                )
            };
        }
        if !clone3_done
            && pid < 0
            && with_pidfd
            && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL)
        {
            // Some environments (older kernels, emulators such as valgrind)
            // reject CLONE_PIDFD: clone without it and open the pidfd after.
            NO_CLONE_PIDFD.store(true, Ordering::Relaxed);
            flags &= !libc::CLONE_PIDFD;
            // SAFETY: as above.
            pid = unsafe {
                libc::clone(
                    child_main,
                    top,
                    flags,
                    &args as *const ChildArgs<'_> as *mut libc::c_void,
                    std::ptr::null_mut::<libc::c_int>(),
                )
            };
        }
        let clone_err = io::Error::last_os_error();
        // SAFETY: restores the mask saved above.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
        if pid < 0 {
            Err(clone_err)
        } else {
            Ok((pid, pidfd))
        }
    });
    let err_r = err_pipe.map(|(r, _w)| r);
    let (pid, pidfd) = match result {
        Ok(v) => v,
        // A filter or an old kernel says no to this kind of clone: another
        // spawner may still work.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EPERM | libc::ENOSYS | libc::EINVAL)
            ) =>
        {
            return Err(SpawnFailure::CloneRefused(e));
        }
        // Out of processes or memory: a real failure of this spawn only.
        Err(e) => return Err(SpawnFailure::Parent(e)),
    };
    let pidfd = if pidfd >= 0 {
        // SAFETY: CLONE_PIDFD succeeded, so `pidfd` is a new fd that we own.
        unsafe { OwnedFd::from_raw_fd(pidfd) }
    } else {
        // The child is ours and not reaped, so its pid cannot have been
        // recycled: opening a pidfd now is race-free.
        let raw = rustix::process::Pid::from_raw(pid).expect("clone returned a positive pid");
        match rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(e) => {
                // SAFETY: plain syscall on our own unreaped child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, std::ptr::null_mut(), 0);
                }
                // Only a kernel without pidfds rules this spawner out; any
                // other failure (out of fds) belongs to this spawn alone.
                return Err(if e == rustix::io::Errno::NOSYS {
                    SpawnFailure::CloneRefused(e.into())
                } else {
                    SpawnFailure::Parent(e.into())
                });
            }
        }
    };

    // The child has exec'd or exited (CLONE_VFORK). If it shares our
    // memory, its report is in `args`; otherwise read the pipe to EOF
    // (the write end closes at exec, by CLOEXEC, or at exit).
    let failure = if share_vm && args.started.load(Ordering::Acquire) {
        SHARED_REPORT_WORKS.store(true, Ordering::Relaxed);
        args.failure.load(Ordering::Acquire)
    } else {
        let mut report = [0u8; 8];
        match err_r.as_ref().map(|r| read_full(r, &mut report)) {
            Some(8) => u64::from_ne_bytes(report),
            _ => 0,
        }
    };
    if failure != 0 {
        let stage = Stage::from_u32((failure >> 32) as u32);
        let errno = failure as u32 as i32;
        // The child has exited (status 127); reap it so no zombie is left.
        let _ = rustix::process::waitid(
            rustix::process::WaitId::PidFd(std::os::fd::AsFd::as_fd(&pidfd)),
            rustix::process::WaitIdOptions::EXITED,
        );
        return Err(SpawnFailure::Child(
            stage,
            io::Error::from_raw_os_error(errno),
        ));
    }
    Ok((pid as u32, pidfd))
}

fn unsafe_zeroed_sigset() -> libc::sigset_t {
    // SAFETY: sigset_t is a plain bit array; all-zero is a valid (empty) set.
    unsafe { std::mem::zeroed() }
}

fn read_full(fd: &OwnedFd, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match rustix::io::read(fd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        }
    }
    got
}

/// Reports a failed step to the parent and exits. Async-signal-safe.
unsafe fn fail(a: &ChildArgs<'_>, stage: Stage) -> ! {
    // SAFETY: errno location is valid for the (shared) thread; atomic
    // stores, write and _exit are async-signal-safe.
    unsafe {
        let errno = *libc::__errno_location();
        let report = ((stage as u64) << 32) | u64::from(errno as u32);
        a.failure.store(report, Ordering::Release);
        if a.err_fd >= 0 {
            let buf = report.to_ne_bytes();
            libc::write(a.err_fd, buf.as_ptr() as *const libc::c_void, 8);
        }
        libc::_exit(127)
    }
}

/// The child side. Runs on the dedicated stack, in the parent's memory.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` points at the ChildArgs on the suspended parent's stack,
    // alive until this child execs or exits. Every call below is a raw,
    // async-signal-safe libc syscall wrapper on prepared data.
    unsafe {
        let a = &*(arg as *const ChildArgs<'_>);
        let s = a.setup;
        a.started.store(true, Ordering::Release);

        // 1. Default dispositions for every caught signal (the handlers are
        //    parent code), and SIGPIPE back to default (Rust ignores it).
        let mut sig = 1;
        while sig < 65 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                    && (old.sa_sigaction != libc::SIG_IGN || sig == libc::SIGPIPE)
                    && old.sa_sigaction != libc::SIG_DFL
                {
                    let mut dfl: libc::sigaction = std::mem::zeroed();
                    dfl.sa_sigaction = libc::SIG_DFL;
                    libc::sigaction(sig, &dfl, std::ptr::null_mut());
                }
            }
            sig += 1;
        }

        // 2. Join the cgroup before anything else can fork.
        let procs = a.cgroup_procs.load(Ordering::Relaxed);
        if procs >= 0 && libc::write(procs, b"0".as_ptr() as *const libc::c_void, 1) != 1 {
            fail(a, Stage::Cgroup);
        }

        // 3. Process group / session.
        match s.pgroup {
            PgMode::Inherit => {}
            PgMode::NewGroup => {
                if libc::setpgid(0, 0) != 0 {
                    fail(a, Stage::Session);
                }
            }
            PgMode::Setsid | PgMode::SetsidCtty => {
                if libc::setsid() < 0 {
                    fail(a, Stage::Session);
                }
            }
        }

        // 5. stdio. dup2 clears close-on-exec on the target; an fd that is
        //    already in place needs the flag cleared by hand.
        let mut i = 0;
        while i < 3 {
            let src = s.stdio[i];
            if src >= 0 {
                if src == i as RawFd {
                    if libc::fcntl(src, libc::F_SETFD, 0) != 0 {
                        fail(a, Stage::Stdio);
                    }
                } else if libc::dup2(src, i as RawFd) < 0 {
                    fail(a, Stage::Stdio);
                }
            }
            i += 1;
        }
        if s.pgroup == PgMode::SetsidCtty && libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
            fail(a, Stage::Session);
        }

        // 6b. The command's own settings (umask, resource limits, nice, CPU
        //     affinity, I/O priority) and supplementary groups, while the
        //     child still has the parent's privileges.
        let explicit_groups = match &s.plan.knobs {
            Some(k) => {
                if let Err(step) = k.apply() {
                    fail(a, Stage::of_knob(step));
                }
                match &k.groups {
                    Some(g) => {
                        if libc::syscall(libc::SYS_setgroups, g.len(), g.as_ptr()) != 0 {
                            fail(a, Stage::Groups);
                        }
                        true
                    }
                    None => false,
                }
            }
            None => false,
        };

        // 7. Privilege drop, after the cgroup join. Raw syscalls: glibc's
        //    wrappers broadcast credential changes to every thread of the
        //    (shared) process, which must not happen from a vfork child.
        if s.uid.is_some() || s.gid.is_some() {
            if let Some(gid) = s.gid {
                let groups = [gid as libc::gid_t];
                if !explicit_groups
                    && libc::syscall(libc::SYS_setgroups, 1, groups.as_ptr()) != 0
                    && *libc::__errno_location() != libc::EPERM
                {
                    fail(a, Stage::Groups);
                }
                if libc::syscall(libc::SYS_setgid, gid as libc::gid_t) != 0 {
                    fail(a, Stage::Gid);
                }
            } else if !explicit_groups
                && libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0
                && *libc::__errno_location() != libc::EPERM
            {
                fail(a, Stage::Groups);
            }
            if let Some(uid) = s.uid
                && libc::syscall(libc::SYS_setuid, uid as libc::uid_t) != 0
            {
                fail(a, Stage::Uid);
            }
        }

        // 7b. Working directory, after the id change (as std does): a
        //     directory the child's user may not enter is refused.
        if let Some(cwd) = &s.plan.cwd
            && libc::chdir(cwd.as_ptr()) != 0
        {
            fail(a, Stage::Chdir);
        }

        // 8. Die with the parent. Armed after the id change, which clears
        //    it. The parent is the spawning *thread*: the caller makes sure
        //    that thread lives as long as the process. A parent that died
        //    before this point sent nothing: check for it by hand.
        if s.pdeathsig {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                fail(a, Stage::DeathSignal);
            }
            if libc::getppid() != a.parent {
                libc::_exit(127);
            }
        }

        // 9. Unblock every signal (a fresh process starts with an empty
        //    mask, whatever the spawning thread blocks), then exec.
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());

        libc::execve(
            s.plan.program.as_ptr(),
            s.plan.argv_ptrs.as_ptr(),
            s.plan.envp_ptrs.as_ptr(),
        );
        fail(a, Stage::Exec)
    }
}

/// Work handed to the lasting spawner thread.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// The queue of the thread that starts children with a death signal.
static LASTING: std::sync::Mutex<Option<std::sync::mpsc::Sender<Job>>> =
    std::sync::Mutex::new(None);

/// Runs `f` on a thread that lives as long as the process and returns its
/// result; the calling thread waits meanwhile (as it would for the vfork
/// anyway).
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that created the child exits,
/// not the process: a child started from a `spawn_blocking` thread, a
/// short-lived `std::thread` or a runtime worker retired at shutdown would
/// be killed while the program lives on. Children that ask for the signal
/// are therefore created from this one thread, which never exits; it dies
/// only with the process, and then the signal fires as documented.
pub(crate) fn on_lasting_thread<R: Send>(f: impl FnOnce() -> R + Send) -> io::Result<R> {
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<std::thread::Result<R>>(1);
    let job = move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = done_tx.send(r);
    };
    let job: Box<dyn FnOnce() + Send + '_> = Box::new(job);
    // SAFETY: only the lifetime is erased. This function does not return
    // before `done_rx.recv()` does, and that happens only once `done_tx`
    // was used or dropped, that is, once the job has run or was dropped
    // unrun: the borrows the job holds never outlive this call.
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
    {
        let mut guard = LASTING.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("processkit-spawner".into())
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                })?;
            *guard = Some(tx);
        }
        let tx = guard.as_ref().expect("set above");
        if let Err(std::sync::mpsc::SendError(job)) = tx.send(job) {
            // The thread is gone (it never exits on its own): drop the job
            // here, which drops `done_tx`, and report.
            drop(job);
            *guard = None;
        }
    }
    match done_rx.recv() {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => Err(io::Error::other(
            "the thread that starts children with kill_on_parent_death is gone",
        )),
    }
}

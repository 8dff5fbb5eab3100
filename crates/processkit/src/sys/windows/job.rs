//! One Job Object: creation, limits, termination, the member list,
//! accounting, the completion port and best-effort freezing.
//!
//! * Limits are written as one `JOBOBJECT_EXTENDED_LIMIT_INFORMATION` that
//!   always carries every flag this job has (`KILL_ON_JOB_CLOSE` included),
//!   from a copy kept here rather than read back from the kernel, so setting
//!   one limit can never clear another.
//! * Every job has a completion port. The kernel posts a message for each
//!   process that joins or leaves the job, which gives the peak number of
//!   live processes (accounting only has the current and the total count).
//!   The port is drained whenever the job is used, so it stays short.
//! * A process killed through this job exits with [`KILLED_EXIT_CODE`], and
//!   the job's `killed` flag is raised first: a child that exits with that
//!   code while the flag is up reports "killed by signal 9" rather than an
//!   exit code.

use std::io;
use std::mem::size_of;
use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use windows_sys::Win32::Foundation::{
    ERROR_MORE_DATA, HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
};
use windows_sys::Win32::System::IO::{
    CreateIoCompletionPort, GetQueuedCompletionStatus, OVERLAPPED,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, IsProcessInJob, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    JOBOBJECT_ASSOCIATE_COMPLETION_PORT, JOBOBJECT_BASIC_ACCOUNTING_INFORMATION,
    JOBOBJECT_BASIC_PROCESS_ID_LIST, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JobObjectAssociateCompletionPortInformation, JobObjectBasicAccountingInformation,
    JobObjectBasicProcessIdList, JobObjectExtendedLimitInformation, QueryInformationJobObject,
    SetInformationJobObject, TerminateJobObject,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcessId, OpenProcess, OpenThread, PROCESS_QUERY_INFORMATION,
    PROCESS_QUERY_LIMITED_INFORMATION, ResumeThread, SuspendThread, THREAD_SUSPEND_RESUME,
    TerminateProcess, WaitForSingleObject,
};

use super::win32::{last_error, owned};

/// The exit code of a process this crate kills (the shell's convention for
/// "killed by signal 9": 128 + 9).
pub(crate) const KILLED_EXIT_CODE: u32 = 137;

/// Completion-port message: a process joined the job (`winnt.h`).
const JOB_OBJECT_MSG_NEW_PROCESS: u32 = 6;
/// Completion-port message: a process in the job exited.
const JOB_OBJECT_MSG_EXIT_PROCESS: u32 = 7;
/// Completion-port message: a process in the job exited abnormally.
const JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS: u32 = 8;

/// A Job Object with its completion port.
pub(crate) struct Job {
    handle: OwnedHandle,
    port: Option<OwnedHandle>,
    /// Raised before this job terminates its processes.
    killed: Arc<AtomicBool>,
    /// The limit block last written (the kernel's copy is not trusted to
    /// read back: Wine returns zeros).
    limits: Mutex<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>,
    counts: Mutex<Counts>,
}

/// Live-process bookkeeping from the completion port.
#[derive(Default)]
struct Counts {
    live: u64,
    peak: u64,
}

impl Job {
    /// A new, empty job. `kill_on_close`: the tree dies when the last handle
    /// closes (containers); nested member jobs leave that to their parent.
    pub(crate) fn new(kill_on_close: bool) -> io::Result<Job> {
        // SAFETY: null security attributes (a non-inheritable handle) and no
        // name; a null result is checked.
        let raw = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if raw.is_null() {
            return Err(last_error());
        }
        // SAFETY: CreateJobObjectW succeeded: a fresh handle we own.
        let handle = unsafe { owned(raw) };
        let mut limits = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
        if kill_on_close {
            limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        }
        let job = Job {
            handle,
            port: None,
            killed: Arc::new(AtomicBool::new(false)),
            limits: Mutex::new(limits),
            counts: Mutex::new(Counts::default()),
        };
        if kill_on_close {
            job.write_limits(&limits)?;
        }
        let port = job.associate_port().ok();
        Ok(Job { port, ..job })
    }

    pub(crate) fn raw(&self) -> HANDLE {
        self.handle.as_raw_handle()
    }

    fn associate_port(&self) -> io::Result<OwnedHandle> {
        // SAFETY: INVALID_HANDLE_VALUE with no existing port creates a new
        // port; a null result is checked.
        let raw =
            unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, std::ptr::null_mut(), 0, 1) };
        if raw.is_null() {
            return Err(last_error());
        }
        // SAFETY: CreateIoCompletionPort succeeded: a fresh handle we own.
        let port = unsafe { owned(raw) };
        let info = JOBOBJECT_ASSOCIATE_COMPLETION_PORT {
            CompletionKey: std::ptr::null_mut(),
            CompletionPort: port.as_raw_handle(),
        };
        // SAFETY: `info` is a valid structure of the size passed, alive for
        // the call; the job handle is valid.
        let ok = unsafe {
            SetInformationJobObject(
                self.raw(),
                JobObjectAssociateCompletionPortInformation,
                (&raw const info).cast(),
                size_of::<JOBOBJECT_ASSOCIATE_COMPLETION_PORT>() as u32,
            )
        };
        if ok == 0 { Err(last_error()) } else { Ok(port) }
    }

    /// The flag raised before this job kills its processes.
    pub(crate) fn killed_flag(&self) -> Arc<AtomicBool> {
        self.killed.clone()
    }

    /// Puts a process into the job.
    pub(crate) fn assign(&self, process: HANDLE) -> io::Result<()> {
        // SAFETY: both handles are valid for the call (the caller owns the
        // process handle).
        if unsafe { AssignProcessToJobObject(self.raw(), process) } == 0 {
            Err(last_error())
        } else {
            Ok(())
        }
    }

    /// Kills every process in the job, nested jobs included.
    pub(crate) fn terminate(&self) -> io::Result<()> {
        self.killed.store(true, Ordering::SeqCst);
        // SAFETY: a valid job handle with full access.
        if unsafe { TerminateJobObject(self.raw(), KILLED_EXIT_CODE) } == 0 {
            Err(last_error())
        } else {
            Ok(())
        }
    }

    /// The pids of the processes in the job (nested jobs included).
    pub(crate) fn pids(&self) -> io::Result<Vec<u32>> {
        // The list is a header followed by pointer-sized pids; grow it until
        // every pid fits.
        let header = size_of::<JOBOBJECT_BASIC_PROCESS_ID_LIST>() / size_of::<usize>() - 1;
        let mut room = 64usize;
        loop {
            let mut buf = vec![0usize; header + room];
            let bytes = (buf.len() * size_of::<usize>()) as u32;
            // SAFETY: `buf` is writable for `bytes` bytes and aligned for the
            // structure (usize alignment); the job handle is valid.
            let ok = unsafe {
                QueryInformationJobObject(
                    self.raw(),
                    JobObjectBasicProcessIdList,
                    buf.as_mut_ptr().cast(),
                    bytes,
                    std::ptr::null_mut(),
                )
            };
            let err = if ok == 0 { Some(last_error()) } else { None };
            // SAFETY: the buffer starts with the list header (the kernel
            // filled it, or it is still zeroed).
            let list = unsafe { &*(buf.as_ptr() as *const JOBOBJECT_BASIC_PROCESS_ID_LIST) };
            let assigned = list.NumberOfAssignedProcesses as usize;
            let listed = (list.NumberOfProcessIdsInList as usize).min(room);
            match err {
                Some(e) if e.raw_os_error() != Some(ERROR_MORE_DATA as i32) => return Err(e),
                _ if assigned > listed => room = assigned.max(room * 2),
                _ => {
                    // The ids start where the header's one-element array is.
                    return Ok(buf[header..header + listed]
                        .iter()
                        .map(|&p| p as u32)
                        .collect());
                }
            }
        }
    }

    /// CPU times and process counts.
    pub(crate) fn accounting(&self) -> io::Result<JOBOBJECT_BASIC_ACCOUNTING_INFORMATION> {
        let mut info = JOBOBJECT_BASIC_ACCOUNTING_INFORMATION::default();
        // SAFETY: `info` is writable for the size passed; valid job handle.
        let ok = unsafe {
            QueryInformationJobObject(
                self.raw(),
                JobObjectBasicAccountingInformation,
                (&raw mut info).cast(),
                size_of::<JOBOBJECT_BASIC_ACCOUNTING_INFORMATION>() as u32,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 { Err(last_error()) } else { Ok(info) }
    }

    /// How many processes are alive in the job.
    pub(crate) fn active_processes(&self) -> io::Result<u32> {
        Ok(self.accounting()?.ActiveProcesses)
    }

    /// The kernel's view of the limit block (peak memory lives here too).
    pub(crate) fn query_limits(&self) -> io::Result<JOBOBJECT_EXTENDED_LIMIT_INFORMATION> {
        let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
        // SAFETY: `info` is writable for the size passed; valid job handle.
        let ok = unsafe {
            QueryInformationJobObject(
                self.raw(),
                JobObjectExtendedLimitInformation,
                (&raw mut info).cast(),
                size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 { Err(last_error()) } else { Ok(info) }
    }

    fn write_limits(&self, info: &JOBOBJECT_EXTENDED_LIMIT_INFORMATION) -> io::Result<()> {
        // SAFETY: `info` is a valid structure of the size passed, alive for
        // the call; valid job handle.
        let ok = unsafe {
            SetInformationJobObject(
                self.raw(),
                JobObjectExtendedLimitInformation,
                (info as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
                size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            )
        };
        if ok == 0 { Err(last_error()) } else { Ok(()) }
    }

    /// Adds limits to the job's limit block: `edit` changes a copy of the
    /// current block (flags included), and the whole block is written back,
    /// so no flag set earlier is lost. On failure the old block stays.
    pub(crate) fn add_limits(
        &self,
        edit: impl FnOnce(&mut JOBOBJECT_EXTENDED_LIMIT_INFORMATION),
    ) -> io::Result<JOBOBJECT_EXTENDED_LIMIT_INFORMATION> {
        let mut current = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = *current;
        edit(&mut next);
        self.write_limits(&next)?;
        *current = next;
        Ok(next)
    }

    /// Puts back a limit block written by [`add_limits`](Self::add_limits)
    /// that turned out not to be in force.
    pub(crate) fn restore_limits(&self, previous: JOBOBJECT_EXTENDED_LIMIT_INFORMATION) {
        let mut current = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        if self.write_limits(&previous).is_ok() {
            *current = previous;
        }
    }

    /// The limit block last written.
    pub(crate) fn limits(&self) -> JOBOBJECT_EXTENDED_LIMIT_INFORMATION {
        *self.limits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads every queued message from the completion port (never blocks)
    /// and updates the live and peak process counts.
    pub(crate) fn drain_port(&self) {
        let Some(port) = &self.port else { return };
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let mut message = 0u32;
            let mut key = 0usize;
            let mut overlapped: *mut OVERLAPPED = std::ptr::null_mut();
            // SAFETY: valid port handle and out-pointers to locals; a zero
            // timeout never blocks. For job notifications the "overlapped"
            // value is the pid, never dereferenced.
            let ok = unsafe {
                GetQueuedCompletionStatus(
                    port.as_raw_handle(),
                    &mut message,
                    &mut key,
                    &mut overlapped,
                    0,
                )
            };
            if ok == 0 {
                break;
            }
            match message {
                JOB_OBJECT_MSG_NEW_PROCESS => {
                    counts.live += 1;
                    counts.peak = counts.peak.max(counts.live);
                }
                JOB_OBJECT_MSG_EXIT_PROCESS | JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS => {
                    counts.live = counts.live.saturating_sub(1);
                }
                _ => {}
            }
        }
    }

    /// The peak number of live processes seen so far (at least `now`), or
    /// `None` without a completion port.
    pub(crate) fn peak_processes(&self, now: u64) -> Option<u64> {
        self.port.as_ref()?;
        self.drain_port();
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.peak = counts.peak.max(now);
        Some(counts.peak)
    }

    /// Suspends (`true`) or resumes every thread of every process in the job.
    #[cfg_attr(not(feature = "process-control"), allow(dead_code))]
    pub(crate) fn freeze(&self, frozen: bool) -> io::Result<()> {
        let own = {
            // SAFETY: plain call without pointers.
            unsafe { GetCurrentProcessId() }
        };
        // Hold a handle to each member while its threads are walked, so a
        // pid cannot be reused by an unrelated process meanwhile; check that
        // the process really is in this job.
        let mut members: Vec<(u32, OwnedHandle)> = Vec::new();
        for pid in self.pids()? {
            if pid == own {
                continue;
            }
            // Full query rights first (Wine's IsProcessInJob needs them),
            // then the limited right that Windows also accepts.
            for access in [PROCESS_QUERY_INFORMATION, PROCESS_QUERY_LIMITED_INFORMATION] {
                // SAFETY: plain call; a null result is checked.
                let raw = unsafe { OpenProcess(access, 0, pid) };
                if raw.is_null() {
                    continue; // exited meanwhile, or not this access
                }
                // SAFETY: OpenProcess succeeded: a fresh handle we own.
                let handle = unsafe { owned(raw) };
                let mut inside = 0;
                // SAFETY: valid handles and an out-pointer to a local.
                if unsafe { IsProcessInJob(raw, self.raw(), &mut inside) } != 0 {
                    if inside != 0 {
                        members.push((pid, handle));
                    }
                    break;
                }
            }
        }
        if members.is_empty() {
            return Ok(());
        }
        let pids: Vec<u32> = members.iter().map(|(p, _)| *p).collect();
        for_each_thread(
            |owner| pids.contains(&owner),
            |thread| {
                // SAFETY: a valid thread handle opened with
                // THREAD_SUSPEND_RESUME.
                unsafe {
                    if frozen {
                        SuspendThread(thread);
                    } else {
                        ResumeThread(thread);
                    }
                }
            },
        )?;
        drop(members);
        Ok(())
    }
}

/// Resumes the threads of a process created suspended (the raw escape hatch,
/// where tokio keeps the main thread's handle to itself). A suspended new
/// process has exactly one thread.
pub(crate) fn resume_process(pid: u32) -> io::Result<()> {
    let mut resumed = 0;
    let mut failure = None;
    for_each_thread(
        |owner| owner == pid,
        |thread| {
            // SAFETY: a valid thread handle opened with THREAD_SUSPEND_RESUME.
            if unsafe { ResumeThread(thread) } == u32::MAX {
                failure = Some(last_error());
            } else {
                resumed += 1;
            }
        },
    )?;
    match failure {
        Some(e) => Err(e),
        None if resumed == 0 => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no thread found for pid {pid}"),
        )),
        None => Ok(()),
    }
}

/// Calls `act` with a `THREAD_SUSPEND_RESUME` handle for every thread (in a
/// system-wide snapshot) whose owning pid passes `wanted`.
fn for_each_thread(wanted: impl Fn(u32) -> bool, mut act: impl FnMut(HANDLE)) -> io::Result<()> {
    // SAFETY: plain call; an invalid result is checked.
    let snap = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) };
    if snap == INVALID_HANDLE_VALUE || snap.is_null() {
        return Err(last_error());
    }
    // SAFETY: the snapshot call succeeded: a fresh handle we own.
    let snap = unsafe { owned(snap) };
    let mut entry = THREADENTRY32 {
        dwSize: size_of::<THREADENTRY32>() as u32,
        ..Default::default()
    };
    // SAFETY: valid snapshot handle; `entry` has its size field set.
    let mut more = unsafe { Thread32First(snap.as_raw_handle(), &mut entry) } != 0;
    while more {
        if wanted(entry.th32OwnerProcessID) {
            // SAFETY: plain call; a null result is checked.
            let thread = unsafe { OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID) };
            if !thread.is_null() {
                // SAFETY: OpenThread succeeded: a fresh handle we own.
                let thread = unsafe { owned(thread) };
                act(thread.as_raw_handle());
            }
        }
        // SAFETY: as for Thread32First.
        more = unsafe { Thread32Next(snap.as_raw_handle(), &mut entry) } != 0;
    }
    Ok(())
}

/// `true` once the process behind `handle` has exited.
pub(crate) fn has_exited(handle: HANDLE) -> bool {
    // SAFETY: a valid process handle, and a zero timeout.
    unsafe { WaitForSingleObject(handle, 0) == WAIT_OBJECT_0 }
}

/// `TerminateProcess` with the exit code that marks a kill, after noting
/// that the kill is ours. A process that has already exited is not an error.
pub(super) fn terminate_process(process: &OwnedHandle, killed: &AtomicBool) -> io::Result<()> {
    let raw = process.as_raw_handle();
    killed.store(true, Ordering::SeqCst);
    // SAFETY: a valid process handle opened with PROCESS_TERMINATE rights
    // (CreateProcessW grants all rights on the handle it returns).
    if unsafe { TerminateProcess(raw, KILLED_EXIT_CODE) } != 0 {
        return Ok(());
    }
    let e = last_error();
    // SAFETY: as above, with a zero timeout.
    if unsafe { WaitForSingleObject(raw, 0) } == WAIT_OBJECT_0 {
        Ok(())
    } else {
        Err(e)
    }
}

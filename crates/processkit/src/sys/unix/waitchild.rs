//! A direct child on Unixes without pidfds (macOS, the BSDs).
//!
//! # Observing an exit without reaping
//!
//! On the process-group backend the direct child leads its own group, and
//! its pid is the group id. Reaping it would free that id while the group
//! may still need a final `killpg`, so this handle only *observes* the exit
//! (`defer_reap`); the group's [`Leader`] reaps the zombie after its last
//! signal.
//!
//! # How the exit is seen
//!
//! * **macOS and FreeBSD: a kqueue.** Each child gets a private kqueue that
//!   watches its pid with `EVFILT_PROC`/`NOTE_EXIT` (plus `NOTE_EXITSTATUS`
//!   on macOS). The event carries the wait status, so nothing has to be
//!   reaped to read it, and it fires on exit only: a group frozen with
//!   `SIGSTOP` is never mistaken for an exited one. The kqueue descriptor is
//!   itself registered with tokio's reactor (a kqueue is readable while it
//!   holds an event), so a waiting task holds no thread and a poll that finds
//!   the child running costs no syscall.
//! * **A child already past `exit` when the watch is attached.** FreeBSD
//!   delivers the event at once. macOS refuses to attach to a process that
//!   is exiting or a zombie (`ESRCH`); such a child falls back to `waitid`
//!   below, which returns as soon as the zombie exists.
//! * **Elsewhere, and as that fallback: `waitid(P_PID, WEXITED | WNOWAIT)`**
//!   on tokio's blocking pool, after a non-blocking check. Only
//!   `CLD_EXITED`, `CLD_KILLED` and `CLD_DUMPED` count as an exit: some
//!   macOS releases have been seen to answer an exit-only `waitid` with a
//!   stop notification.
//!
//! `waitid` is not the main path on macOS and FreeBSD because a blocked
//! `waitid` occupies one of tokio's blocking threads for the child's whole
//! life (the pool is bounded), and a runtime waits for its blocking tasks
//! when it shuts down, so a long-lived child would hold up the host's exit.
//! Older macOS releases also reported `0` instead of the signal number for
//! a killed child through `waitid`.
//!
//! # Signalling
//!
//! A leader's pid must never be signalled after it was reaped (the id may
//! belong to an unrelated process by then). Once [`WaitChild::with_leader`]
//! links the handle to its group's [`Leader`], signals go through the
//! leader, which refuses them once the group was released and reaped.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustix::process::{Pid, WaitId, WaitIdOptions, WaitIdStatus, waitid};

use crate::sys::reaper;
use crate::sys::status::ExitStatus;
use crate::sys::unix::pgroup::Leader;

/// How long the blocking fallback naps after a report that is not an exit
/// (a stop notification some kernels hand to an exit-only `waitid`), so it
/// never spins.
const NOT_AN_EXIT_NAP: Duration = Duration::from_millis(10);

/// How a child's exit is watched for.
enum Watch {
    /// A kqueue with the exit watch attached, not yet registered with the
    /// reactor (that needs a runtime, which only polling guarantees).
    #[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
    Kqueue(std::os::fd::OwnedFd),
    /// The kqueue, registered with the reactor.
    #[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
    Registered(tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>),
    /// `waitid` on the blocking pool, started by the first poll that finds
    /// the child still running.
    Waitid(Option<tokio::task::JoinHandle<io::Result<ExitStatus>>>),
}

/// A child tracked by pid.
pub(crate) struct WaitChild {
    pid: u32,
    status: Option<ExitStatus>,
    /// `true`: observe the exit only and leave the reaping to the leader.
    defer_reap: bool,
    watch: Watch,
    /// The group this child leads: signals go through it.
    leader: Option<Arc<Leader>>,
}

impl WaitChild {
    /// Starts watching `pid`, a child of this process that has not been
    /// reaped. Never fails: when no kqueue watch can be attached, the exit
    /// is watched with `waitid` instead.
    pub(crate) fn new(pid: u32, defer_reap: bool) -> Self {
        #[cfg_attr(
            not(any(target_vendor = "apple", target_os = "freebsd")),
            allow(unused_mut)
        )]
        let mut child = WaitChild {
            pid,
            status: None,
            defer_reap,
            watch: Watch::Waitid(None),
            leader: None,
        };
        #[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
        match kq::attach(pid) {
            Ok(kq::Attach::Watching(fd)) => child.watch = Watch::Kqueue(fd),
            Ok(kq::Attach::Exited(status)) => child.record(status, false),
            // Already exiting (macOS), or the kernel gave no status: the
            // zombie is about to exist, and `waitid` reads it.
            Ok(kq::Attach::Exiting) | Err(_) => {}
        }
        child
    }

    /// Links this child to the group it leads: from now on signals go
    /// through `leader`, which refuses them once the group is released.
    pub(crate) fn with_leader(mut self, leader: Arc<Leader>) -> Self {
        self.leader = Some(leader);
        self
    }

    pub(crate) fn id(&self) -> u32 {
        self.pid
    }

    /// Remembers the exit. A child whose reaping is this handle's job and
    /// that is not reaped yet goes to the reaper (on macOS the exit event
    /// comes a moment before the zombie exists).
    fn record(&mut self, status: ExitStatus, reaped: bool) {
        self.status = Some(status);
        if !self.defer_reap && !reaped {
            reap_later(self.pid);
        }
    }

    fn waitid_options(&self, block: bool) -> WaitIdOptions {
        let mut o = WaitIdOptions::EXITED;
        if !block {
            o |= WaitIdOptions::NOHANG;
        }
        if self.defer_reap {
            o |= WaitIdOptions::NOWAIT;
        }
        o
    }

    /// Non-blocking status check.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        match &self.watch {
            #[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
            Watch::Kqueue(fd) => {
                let seen = kq::fetch(fd)?;
                self.see(seen)?;
            }
            #[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
            Watch::Registered(afd) => {
                let seen = kq::fetch(afd.get_ref())?;
                self.see(seen)?;
            }
            Watch::Waitid(_) => {
                if let Some(s) = peek(self.pid, self.waitid_options(false))? {
                    self.record(s, true);
                }
            }
        }
        Ok(self.status)
    }

    /// Acts on what the kqueue said.
    #[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
    fn see(&mut self, seen: kq::Seen) -> io::Result<()> {
        match seen {
            kq::Seen::Running => {}
            kq::Seen::Exited(s) => self.record(s, false),
            kq::Seen::ExitedWithoutStatus => {
                self.watch = Watch::Waitid(None);
                if let Some(s) = peek(self.pid, self.waitid_options(false))? {
                    self.record(s, true);
                }
            }
        }
        Ok(())
    }

    /// Polls for the child's exit. Cancel-safe: all state lives in `self`,
    /// so a dropped wait loses nothing and the next poll picks up where it
    /// left off.
    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        let (quick, block) = (self.waitid_options(false), self.waitid_options(true));
        loop {
            if let Some(s) = self.status {
                return Poll::Ready(Ok(s));
            }
            match &mut self.watch {
                #[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
                Watch::Kqueue(_) => {
                    // First poll: the child may have exited already.
                    if let Err(e) = self.try_wait() {
                        return Poll::Ready(Err(e));
                    }
                    if self.status.is_some() || !matches!(self.watch, Watch::Kqueue(_)) {
                        continue;
                    }
                    let Watch::Kqueue(fd) = std::mem::replace(&mut self.watch, Watch::Waitid(None))
                    else {
                        unreachable!("checked just above")
                    };
                    // A kqueue is readable while it holds an event. If the
                    // reactor refuses it, the `waitid` fallback stays.
                    // SAFETY: an OwnedFd stays open and names the same kqueue
                    // for as long as the AsyncFd owns it.
                    let registered = unsafe {
                        tokio::io::unix::AsyncFd::register_with_interest(
                            fd,
                            tokio::io::Interest::READABLE,
                        )
                    };
                    if let Ok(afd) = registered {
                        self.watch = Watch::Registered(afd);
                    }
                }
                #[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
                Watch::Registered(afd) => {
                    let seen = match afd.poll_read_ready(cx) {
                        Poll::Ready(Ok(mut guard)) => {
                            let seen = kq::fetch(guard.get_inner());
                            if matches!(seen, Ok(kq::Seen::Running)) {
                                // Readiness without an event: wait again.
                                guard.clear_ready();
                            }
                            seen
                        }
                        Poll::Ready(Err(e)) => Err(e),
                        Poll::Pending => return Poll::Pending,
                    };
                    match seen {
                        Ok(seen) => {
                            if let Err(e) = self.see(seen) {
                                return Poll::Ready(Err(e));
                            }
                        }
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
                Watch::Waitid(waiter) => {
                    if waiter.is_none() {
                        let pid = self.pid;
                        match peek(pid, quick) {
                            Ok(Some(s)) => {
                                self.record(s, true);
                                continue;
                            }
                            Ok(None) => {}
                            Err(e) => return Poll::Ready(Err(e)),
                        }
                        *waiter = Some(tokio::task::spawn_blocking(move || {
                            block_until_exit(pid, block)
                        }));
                    }
                    let Some(handle) = waiter.as_mut() else {
                        unreachable!("set just above")
                    };
                    let outcome = match Pin::new(handle).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(joined) => joined,
                    };
                    *waiter = None;
                    match outcome {
                        Ok(Ok(s)) => self.record(s, true),
                        Ok(Err(e)) => return Poll::Ready(Err(e)),
                        Err(e) => return Poll::Ready(Err(io::Error::other(e))),
                    }
                }
            }
        }
    }

    /// Sends `sig` to the direct child only. A child that has already exited
    /// is not an error; a child that may have been reaped is never
    /// signalled.
    pub(crate) fn signal(&self, sig: i32) -> io::Result<()> {
        if let Some(leader) = &self.leader {
            return leader.signal_leader(sig);
        }
        if self.status.is_some() && !self.defer_reap {
            return Ok(()); // reaped (or about to be): the pid may be recycled
        }
        // SAFETY: plain syscall with integer arguments; the pid is our
        // child and not reaped (checked above).
        if unsafe { libc::kill(self.pid as libc::pid_t, sig) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) {
            Ok(())
        } else {
            Err(e)
        }
    }
}

impl Drop for WaitChild {
    fn drop(&mut self) {
        if self.defer_reap || self.status.is_some() {
            return; // the leader reaps, or the exit was seen and handled
        }
        if matches!(self.watch, Watch::Waitid(Some(_))) {
            return; // the blocking `waitid` (without WNOWAIT) reaps it
        }
        // Not reaped yet: let the reaper thread collect it once it exits,
        // so no zombie is left and no tokio worker blocks.
        reap_later(self.pid);
    }
}

/// Hands the reaping of our own child `pid` to the reaper thread.
fn reap_later(pid: u32) {
    let pid = pid as libc::pid_t;
    reaper::submit(reaper::Task::Poll(Box::new(move || {
        let mut st = 0;
        // SAFETY: plain syscall; `st` is a valid out pointer. `pid` is our
        // child, reaped only here.
        unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) != 0 }
    })));
}

/// One `waitid(P_PID)` call; `Some` only for a terminal status.
fn peek(pid: u32, options: WaitIdOptions) -> io::Result<Option<ExitStatus>> {
    let pid = Pid::from_raw(pid as i32)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "pid 0"))?;
    match waitid(WaitId::Pid(pid), options) {
        Ok(Some(s)) => Ok(terminal(&s)),
        Ok(None) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Blocks (on the blocking pool) until `pid` has exited.
fn block_until_exit(pid: u32, options: WaitIdOptions) -> io::Result<ExitStatus> {
    loop {
        match peek(pid, options) {
            Ok(Some(s)) => return Ok(s),
            // A report that is not an exit: look again shortly.
            Ok(None) => std::thread::sleep(NOT_AN_EXIT_NAP),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The exit a `waitid` report describes, or `None` for a stop or continue
/// notification.
fn terminal(s: &WaitIdStatus) -> Option<ExitStatus> {
    if let Some(code) = s.exit_status() {
        // Darwin passes the full `exit()` argument; everything else (and
        // `waitpid`) keeps only its low 8 bits.
        Some(ExitStatus::from_code(code & 0xff))
    } else {
        // An older macOS reported 0 instead of the signal of a killed child.
        s.terminating_signal()
            .map(|sig| ExitStatus::from_signal(if sig > 0 { sig } else { libc::SIGKILL }))
    }
}

/// The kqueue exit watch.
#[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
mod kq {
    use std::io;
    use std::mem::MaybeUninit;
    use std::os::fd::OwnedFd;
    use std::time::Duration;

    use rustix::event::kqueue::{Event, EventFilter, EventFlags, ProcessEvents, kevent, kqueue};
    use rustix::process::Pid;

    use crate::sys::status::ExitStatus;

    /// What to watch for: the exit, and on macOS its status (FreeBSD puts
    /// the status in every `NOTE_EXIT` event).
    #[cfg(target_vendor = "apple")]
    const WATCH: u32 = libc::NOTE_EXIT | libc::NOTE_EXITSTATUS;
    #[cfg(not(target_vendor = "apple"))]
    const WATCH: u32 = libc::NOTE_EXIT;

    /// The outcome of attaching the watch.
    pub(super) enum Attach {
        /// The kqueue will hold an event once the child exits.
        Watching(OwnedFd),
        /// The child had exited already (FreeBSD reports a zombie at once).
        Exited(ExitStatus),
        /// The child is already past `exit` and no status came with it.
        Exiting,
    }

    /// What the kqueue holds.
    pub(super) enum Seen {
        Running,
        Exited(ExitStatus),
        /// The exit happened, but the event carries no status (macOS
        /// without `NOTE_EXITSTATUS` support).
        #[cfg_attr(not(target_vendor = "apple"), allow(dead_code))]
        ExitedWithoutStatus,
    }

    /// Creates a kqueue watching `pid` (our unreaped child) for its exit.
    pub(super) fn attach(pid: u32) -> io::Result<Attach> {
        let pid = Pid::from_raw(pid as i32)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "pid 0"))?;
        let kq = kqueue()?;
        // Neither macOS nor FreeBSD hands a kqueue to a child, but say so.
        rustix::io::fcntl_setfd(&kq, rustix::io::FdFlags::CLOEXEC)?;
        let change = Event::new(
            EventFilter::Proc {
                pid,
                flags: ProcessEvents::from_bits_retain(WATCH),
            },
            EventFlags::ADD | EventFlags::ONESHOT,
            std::ptr::null_mut(),
        );
        let ev = match next_event(&kq, &[change]) {
            Ok(ev) => ev,
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(Attach::Exiting),
            Err(e) => return Err(e),
        };
        let Some(ev) = ev else {
            return Ok(Attach::Watching(kq));
        };
        if ev.flags().contains(EventFlags::ERROR) {
            return match ev.data() {
                0 => Ok(Attach::Watching(kq)),
                e if e == i64::from(libc::ESRCH) => Ok(Attach::Exiting),
                e => Err(io::Error::from_raw_os_error(e as i32)),
            };
        }
        Ok(match decode(&ev) {
            Seen::Exited(s) => Attach::Exited(s),
            Seen::ExitedWithoutStatus => Attach::Exiting,
            Seen::Running => Attach::Watching(kq),
        })
    }

    /// Takes the pending event, if any, without blocking.
    pub(super) fn fetch(kq: &OwnedFd) -> io::Result<Seen> {
        match next_event(kq, &[])? {
            None => Ok(Seen::Running),
            Some(ev) if ev.flags().contains(EventFlags::ERROR) => {
                Err(io::Error::from_raw_os_error(ev.data() as i32))
            }
            Some(ev) => Ok(decode(&ev)),
        }
    }

    /// One non-blocking `kevent` call that applies `changes` and returns at
    /// most one event.
    fn next_event(kq: &OwnedFd, changes: &[Event]) -> io::Result<Option<Event>> {
        loop {
            let mut out = [MaybeUninit::<Event>::uninit(); 1];
            // SAFETY: the only filter used is EVFILT_PROC, which names a pid,
            // not a file descriptor, so no descriptor has to outlive the
            // kqueue.
            match unsafe { kevent(kq, changes, &mut out, Some(Duration::ZERO)) } {
                Ok((got, _)) => return Ok(got.first().copied()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn decode(ev: &Event) -> Seen {
        let EventFilter::Proc { flags, .. } = ev.filter() else {
            return Seen::Running;
        };
        if !flags.contains(ProcessEvents::EXIT) {
            return Seen::Running;
        }
        #[cfg(target_vendor = "apple")]
        if !flags.contains(ProcessEvents::from_bits_retain(libc::NOTE_EXITSTATUS)) {
            return Seen::ExitedWithoutStatus;
        }
        Seen::Exited(ExitStatus::from_wait_status(ev.data() as i32))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    //! The `waitid` path (the only one Linux has) and the shared decoding,
    //! run against real children.

    use super::*;
    use std::future::poll_fn;
    use std::os::unix::process::CommandExt;
    use std::time::Instant;

    // The code under test reaps these children (or the test does, by pid).
    #[allow(clippy::zombie_processes)]
    fn spawn(script: &str) -> u32 {
        let child = std::process::Command::new("sh")
            .args(["-c", script])
            .process_group(0)
            .spawn()
            .expect("spawn sh");
        child.id() // std's handle neither waits nor kills on drop
    }

    /// `true` while `pid` is our unreaped child.
    fn unreaped(pid: u32) -> bool {
        let pid = Pid::from_raw(pid as i32).unwrap();
        waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
        )
        .is_ok()
    }

    fn reap(pid: u32) {
        let mut st = 0;
        // SAFETY: plain syscall on our own child; `st` is a valid out pointer.
        unsafe { libc::waitpid(pid as libc::pid_t, &mut st, 0) };
    }

    fn state(pid: u32) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat[stat.rfind(')')? + 2..].chars().next()
    }

    async fn wait(child: &mut WaitChild) -> io::Result<ExitStatus> {
        tokio::time::timeout(Duration::from_secs(10), poll_fn(|cx| child.poll_wait(cx)))
            .await
            .expect("the child exits within 10 s")
    }

    #[tokio::test]
    async fn an_exit_code_is_observed_and_the_zombie_is_left_for_the_leader() {
        let pid = spawn("exit 7");
        let mut child = WaitChild::new(pid, true);
        assert_eq!(wait(&mut child).await.unwrap(), ExitStatus::from_code(7));
        assert_eq!(child.try_wait().unwrap(), Some(ExitStatus::from_code(7)));
        drop(child);
        assert!(unreaped(pid), "a deferred child must stay unreaped");
        assert_eq!(state(pid), Some('Z'));
        reap(pid);
    }

    #[tokio::test]
    async fn a_killed_child_reports_its_signal() {
        let pid = spawn("exec sleep 30");
        let mut child = WaitChild::new(pid, true);
        assert_eq!(child.try_wait().unwrap(), None);
        child.signal(libc::SIGTERM).unwrap();
        assert_eq!(
            wait(&mut child).await.unwrap(),
            ExitStatus::from_signal(libc::SIGTERM)
        );
        reap(pid);
    }

    #[tokio::test]
    async fn a_stopped_child_is_not_an_exit() {
        let pid = spawn("exec sleep 30");
        let mut child = WaitChild::new(pid, true);
        child.signal(libc::SIGSTOP).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while state(pid) != Some('T') {
            assert!(Instant::now() < deadline, "the child never stopped");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(child.try_wait().unwrap(), None);
        let early = tokio::time::timeout(
            Duration::from_millis(100),
            poll_fn(|cx| child.poll_wait(cx)),
        )
        .await;
        assert!(early.is_err(), "a stop was reported as an exit: {early:?}");
        child.signal(libc::SIGKILL).unwrap();
        assert_eq!(
            wait(&mut child).await.unwrap(),
            ExitStatus::from_signal(libc::SIGKILL)
        );
        reap(pid);
    }

    #[tokio::test]
    async fn a_dropped_wait_loses_nothing() {
        let pid = spawn("exec sleep 30");
        let mut child = WaitChild::new(pid, true);
        let first =
            tokio::time::timeout(Duration::from_millis(50), poll_fn(|cx| child.poll_wait(cx)))
                .await;
        assert!(first.is_err(), "sleep 30 cannot have exited yet");
        child.signal(libc::SIGKILL).unwrap();
        assert_eq!(
            wait(&mut child).await.unwrap(),
            ExitStatus::from_signal(libc::SIGKILL)
        );
        reap(pid);
    }

    #[tokio::test]
    async fn a_child_that_reaps_itself_leaves_no_zombie() {
        let pid = spawn("exit 3");
        let mut child = WaitChild::new(pid, false);
        assert_eq!(wait(&mut child).await.unwrap(), ExitStatus::from_code(3));
        assert!(!unreaped(pid), "a non-deferred child is reaped by its wait");
    }

    #[tokio::test]
    async fn a_dropped_unwaited_child_is_reaped_in_the_background() {
        let pid = spawn("exit 0");
        drop(WaitChild::new(pid, false));
        let deadline = Instant::now() + Duration::from_secs(5);
        while unreaped(pid) {
            assert!(
                Instant::now() < deadline,
                "the dropped child stayed a zombie"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[tokio::test]
    async fn a_linked_child_is_signalled_through_its_leader() {
        // Nothing outside this test needs to know about the group.
        let pg =
            crate::sys::unix::pgroup::PgContainer::new(crate::sys::unix::registry::GroupRegistry {
                register: |_| {},
                try_unregister: |_| true,
            });
        let pid = spawn("exec sleep 30");
        let leader = pg.track(pid);
        let mut child = WaitChild::new(pid, true).with_leader(leader);
        assert_eq!(child.id(), pid);
        child.signal(libc::SIGTERM).unwrap();
        assert_eq!(
            wait(&mut child).await.unwrap(),
            ExitStatus::from_signal(libc::SIGTERM)
        );
        pg.teardown();
        let deadline = Instant::now() + Duration::from_secs(5);
        while unreaped(pid) {
            assert!(
                Instant::now() < deadline,
                "the released leader was not reaped"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // Released and reaped: the pid is no longer ours to signal.
        child.signal(libc::SIGKILL).unwrap();
    }

    #[test]
    fn wait_statuses_decode_to_codes_and_signals() {
        for (script, expected) in [
            ("exit 0", ExitStatus::from_code(0)),
            ("exit 42", ExitStatus::from_code(42)),
            ("kill -TERM $$", ExitStatus::from_signal(libc::SIGTERM)),
            ("kill -KILL $$", ExitStatus::from_signal(libc::SIGKILL)),
        ] {
            let pid = spawn(script);
            let mut raw = 0;
            // SAFETY: plain syscall on our own child; `raw` is a valid out
            // pointer.
            let rc = unsafe { libc::waitpid(pid as libc::pid_t, &mut raw, 0) };
            assert_eq!(rc, pid as libc::pid_t);
            assert_eq!(ExitStatus::from_wait_status(raw), expected, "{script}");
        }
    }
}

//! Settings of the child process itself: user and group, session, `argv[0]`,
//! umask, resource limits, priority, CPU affinity, I/O priority, the Windows
//! console, parent-death behaviour and the pseudo-terminal.

use std::ffi::OsStr;

use super::Command;
use crate::knobs::{IoPriority, Resource};

impl Command {
    /// Runs the child as user `uid` (Unix). On other targets the run fails
    /// with [`Error::Unsupported`](crate::Error::Unsupported).
    ///
    /// ```
    /// let _ = processkit::Command::new("id").uid(1000);
    /// ```
    pub fn uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// Runs the child with group id `gid` (set before the user id; Unix). On
    /// other targets the run fails with
    /// [`Error::Unsupported`](crate::Error::Unsupported).
    ///
    /// ```
    /// let _ = processkit::Command::new("id").gid(1000);
    /// ```
    pub fn gid(mut self, gid: u32) -> Self {
        self.gid = Some(gid);
        self
    }

    /// Starts the child in a new session (Unix). It stays contained: the
    /// container tracks the new session's process group. On other targets
    /// the run fails with [`Error::Unsupported`](crate::Error::Unsupported).
    ///
    /// ```
    /// let _ = processkit::Command::new("daemon").setsid();
    /// ```
    pub fn setsid(mut self) -> Self {
        self.setsid = true;
        self
    }

    /// Sets `argv[0]`, the name the program sees for itself (`$0` in a
    /// shell), while still running [`get_program`](Self::get_program)
    /// (Unix; [`Error::Unsupported`](crate::Error::Unsupported) elsewhere).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let out = processkit::Command::new("sh").arg0("my-shell").args(["-c", "echo $0"]).run().await?;
    /// assert_eq!(out, "my-shell");
    /// # Ok(()) }
    /// ```
    pub fn arg0(mut self, arg0: impl AsRef<OsStr>) -> Self {
        self.knobs.arg0 = Some(arg0.as_ref().to_owned());
        self
    }

    /// Sets the child's supplementary group ids (`setgroups(2)`; Unix, needs
    /// privilege). Applied before [`gid`](Self::gid) and [`uid`](Self::uid),
    /// and replaces the default (only `gid`, or none) a privilege drop uses.
    ///
    /// ```
    /// let _ = processkit::Command::new("id").uid(1000).gid(1000).groups([1000, 27]);
    /// ```
    pub fn groups(mut self, groups: impl IntoIterator<Item = u32>) -> Self {
        self.knobs.groups = Some(groups.into_iter().collect());
        self
    }

    /// Sets the child's file-mode creation mask (`umask(2)`; Unix).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let out = processkit::Command::new("sh").args(["-c", "umask"]).umask(0o077).run().await?;
    /// assert_eq!(out, "0077");
    /// # Ok(()) }
    /// ```
    pub fn umask(mut self, mask: u32) -> Self {
        self.knobs.umask = Some(mask);
        self
    }

    /// Sets a resource limit for the child (`setrlimit(2)`; Unix): `soft`
    /// is enforced, `hard` is the ceiling the child may raise `soft` to.
    /// `u64::MAX` means unlimited. Raising a hard limit needs privilege; a
    /// `soft` above `hard` is [`Error::InvalidInput`](crate::Error::InvalidInput).
    /// Can be called once per resource (a later call replaces it).
    ///
    /// ```
    /// use processkit::{Command, Resource};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let out = Command::new("sh").args(["-c", "ulimit -n"]).rlimit(Resource::NoFile, 256, 512).run().await?;
    /// assert_eq!(out, "256");
    /// # Ok(()) }
    /// ```
    pub fn rlimit(mut self, resource: Resource, soft: u64, hard: u64) -> Self {
        self.knobs.rlimits.retain(|(r, _, _)| *r != resource);
        self.knobs.rlimits.push((resource, soft, hard));
        self
    }

    /// Sets the child's scheduling priority, its nice value (`-20`, the
    /// highest, to `19`; `setpriority(2)`; Unix). A value below the
    /// parent's needs privilege.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let out = processkit::Command::new("nice").priority(10).run().await?;
    /// assert_eq!(out.parse::<i32>().unwrap(), 10);
    /// # Ok(()) }
    /// ```
    pub fn priority(mut self, nice: i32) -> Self {
        self.knobs.priority = Some(nice);
        self
    }

    /// Pins the child to the given CPUs (numbered from 0;
    /// `sched_setaffinity(2)`). Linux only: elsewhere the run fails with
    /// [`Error::Unsupported`](crate::Error::Unsupported). An empty set is
    /// [`Error::InvalidInput`](crate::Error::InvalidInput).
    ///
    /// ```
    /// let _ = processkit::Command::new("worker").cpu_affinity([0]);
    /// ```
    pub fn cpu_affinity(mut self, cpus: impl IntoIterator<Item = usize>) -> Self {
        self.knobs.cpu_affinity = Some(cpus.into_iter().collect());
        self
    }

    /// Sets the child's I/O scheduling class and level (`ioprio_set(2)`,
    /// what `ionice` does). Linux only: elsewhere the run fails with
    /// [`Error::Unsupported`](crate::Error::Unsupported).
    ///
    /// ```
    /// use processkit::{Command, IoPriority};
    /// let _ = Command::new("backup").io_priority(IoPriority::Idle);
    /// ```
    pub fn io_priority(mut self, priority: IoPriority) -> Self {
        self.knobs.io_priority = Some(priority);
        self
    }

    /// Windows: start without a console window. A no-op elsewhere. Survives
    /// the container's own creation flags (they are combined).
    ///
    /// ```
    /// let _ = processkit::Command::new("helper").create_no_window();
    /// ```
    pub fn create_no_window(mut self) -> Self {
        self.create_no_window = true;
        self
    }

    /// Kills the child if this process dies abruptly (SIGKILL).
    ///
    /// "Parent" means this *process*: the child is never killed because a
    /// thread ended. Linux arms `PR_SET_PDEATHSIG` (SIGKILL) on the direct
    /// child; since the kernel ties that signal to the creating thread,
    /// such children are created from one thread that lives as long as the
    /// process, so starting one from `spawn_blocking` or a short-lived
    /// thread is safe. The signal is armed after a [`uid`](Self::uid) /
    /// [`gid`](Self::gid) change, and a child whose parent is already gone
    /// exits before `exec`. Windows already guarantees this through the Job
    /// Object. macOS and the BSDs have no equivalent (a documented no-op
    /// there; the guardian still covers it).
    ///
    /// ```
    /// let _ = processkit::Command::new("daemonish").kill_on_parent_death();
    /// ```
    pub fn kill_on_parent_death(mut self) -> Self {
        self.kill_on_parent_death = true;
        self
    }

    /// Runs the child on a new pseudo-terminal of 80 × 24 characters (see
    /// [`pty_size`](Self::pty_size) for another size), as if a person had
    /// started it in a terminal window: it sees a terminal on stdin, stdout
    /// and stderr (`isatty` is true), leads a new session whose controlling
    /// terminal that is, and so line-buffers its output, prompts and
    /// colours as it would for a person.
    ///
    /// This process keeps the terminal's master side:
    ///
    /// * everything the child prints, stdout and stderr merged as on a
    ///   screen, is the run's stdout (the captured stderr stays empty);
    ///   the terminal ends lines with `\r\n`, and lines drop the `\r`;
    /// * [`RunningProcess::standard_input`](crate::RunningProcess::standard_input)
    ///   types into the terminal (always available on a terminal run; the
    ///   terminal echoes what is typed, as on screen). A
    ///   [`Stdin`](crate::Stdin) text or bytes source is typed in, followed
    ///   by the end-of-file character; with the default (no input) nothing
    ///   is typed and the terminal stays open;
    /// * [`RunningProcess::terminal`](crate::RunningProcess::terminal)
    ///   resizes the window and types Ctrl-C and Ctrl-D.
    ///
    /// The run is contained like any other: the child and everything it
    /// starts live in the run's container, and a timeout, a drop or a
    /// cancellation ends the whole tree. A terminal run cannot have stdout
    /// or stderr sent elsewhere (only [`Destination::tee`](crate::Destination::tee)
    /// on stdout), read stdin from a file or this process's own stdin, or
    /// be a pipeline stage: each of those is an
    /// [`Error::InvalidInput`](crate::Error::InvalidInput).
    ///
    /// On Windows the terminal is a pseudo-console (ConPTY, Windows 10 1809
    /// or later; older systems give
    /// [`Error::Unsupported`](crate::Error::Unsupported)): the output is the
    /// console's VT rendering of the screen, a typed `\n` is sent as the
    /// Enter key (`\r`), and end-of-file is Ctrl-Z, Enter (see
    /// [`Terminal`](crate::Terminal)). The child is placed in the run's Job
    /// Object like any other.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let on_terminal = processkit::Command::new("sh").args(["-c", "test -t 0 && test -t 1"])
    ///     .pty()
    ///     .probe()
    ///     .await?;
    /// assert!(on_terminal);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "pty")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pty")))]
    pub fn pty(mut self) -> Self {
        if self.pty.is_none() {
            self.pty = Some(crate::terminal::DEFAULT_SIZE);
        }
        self
    }

    /// Like [`pty`](Self::pty), with a window of `cols` columns and `rows`
    /// rows.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let size = processkit::Command::new("stty").arg("size").pty_size(120, 40).run().await?;
    /// assert_eq!(size, "40 120");
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "pty")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pty")))]
    pub fn pty_size(mut self, cols: u16, rows: u16) -> Self {
        self.pty = Some((cols, rows));
        self
    }

    /// Removes terminal escape sequences (colours, cursor moves, window
    /// titles) and control characters other than newline and tab from the
    /// run's text: every line (streams, line handlers, readiness probes,
    /// [`first_line`](Self::first_line)) and the text of
    /// [`output_string`](Self::output_string) and [`run`](Self::run). The
    /// raw bytes stay available through [`output_bytes`](Self::output_bytes)
    /// and [`Destination::tee`](crate::Destination::tee). Useful with
    /// [`pty`](Self::pty), and with tools that colour their output anyway.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let colour = processkit::Command::new("printf").arg("\\033[32mok\\033[0m\\n");
    /// assert_eq!(colour.clone().strip_escapes().run().await?, "ok");
    /// assert_eq!(colour.output_bytes().await?.stdout(), b"\x1b[32mok\x1b[0m\n");
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "pty")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pty")))]
    pub fn strip_escapes(mut self) -> Self {
        self.strip_escapes = true;
        self
    }
}

//! [`Command`]: a plain, cloneable description of what to run.
//!
//! A `Command` does no I/O. The verb you finish with decides what happens:
//! [`run`](Command::run), [`output_string`](Command::output_string),
//! [`output_bytes`](Command::output_bytes), [`exit_code`](Command::exit_code),
//! [`probe`](Command::probe), [`first_line`](Command::first_line) or
//! [`start`](Command::start). Every verb goes through the
//! [`ProcessRunner`](crate::ProcessRunner) seam ([`JobRunner`](crate::JobRunner)
//! here), and every process it starts lives in its own kill-on-drop container.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::knobs::{IoPriority, Resource, SpawnKnobs};
use crate::output::{CaptureLimit, DestKind, Destination, LineHandler};
use crate::{Error, Result, RetryPolicy, Stdin};

/// Where the child's environment starts from, before explicit changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum EnvBase {
    /// The parent's whole environment.
    #[default]
    Inherit,
    /// Nothing.
    Empty,
    /// Only the named parent variables.
    Only(Vec<OsString>),
}

/// What to run, and how. Cheap to clone and reuse.
///
/// ```
/// use processkit::Command;
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let greet = Command::new("sh")
///     .args(["-c", "echo hello $WHO"])
///     .env("WHO", "world")
///     .timeout(Duration::from_secs(10));
/// assert_eq!(greet.run().await?, "hello world");
/// assert_eq!(greet.clone().env("WHO", "again").run().await?, "hello again");
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[doc(alias = "kill_on_drop")]
pub struct Command {
    pub(crate) program: OsString,
    pub(crate) display: String,
    pub(crate) args: Vec<OsString>,
    pub(crate) env_base: EnvBase,
    pub(crate) env_ops: Vec<(OsString, Option<OsString>)>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) stdin: Stdin,
    pub(crate) keep_stdin_open: bool,
    pub(crate) stdout: Destination,
    pub(crate) stderr: Destination,
    pub(crate) stdout_limit: Option<CaptureLimit>,
    pub(crate) stderr_limit: Option<CaptureLimit>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) grace: Option<Duration>,
    pub(crate) stop_signal: crate::signal::Signal,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) ok_codes: Option<Vec<i32>>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) setsid: bool,
    pub(crate) create_no_window: bool,
    pub(crate) kill_on_parent_death: bool,
    pub(crate) knobs: SpawnKnobs,
    pub(crate) on_stdout: Option<LineHandler>,
    pub(crate) on_stderr: Option<LineHandler>,
    pub(crate) retry: Option<RetryPolicy>,
    #[cfg(feature = "cancellation")]
    pub(crate) cancel: Option<tokio_util::sync::CancellationToken>,
    /// Run on a pseudo-terminal of `(columns, rows)`.
    pub(crate) pty: Option<(u16, u16)>,
    /// Lines and text output lose their terminal escape sequences.
    pub(crate) strip_escapes: bool,
    /// A supervisor's graceful stop: when it fires, the run's tree gets the
    /// requested signal, then `SIGKILL` after the grace period.
    pub(crate) graceful_stop: Option<crate::signal::StopRx>,
}

impl Command {
    /// A command that runs `program`.
    ///
    /// A name without a `/` is looked up on the *child's* `PATH` (the one
    /// it gets from [`env`](Self::env) and friends; `/usr/bin:/bin` when it
    /// has none), the way `execvp` does: entries that do not exist or that
    /// the child's user may not execute are skipped, and any other lookup
    /// error (a name too long, a symlink loop) is reported as it happened.
    /// A relative path with a `/` (`./tool`, `bin/tool`) is resolved from
    /// the *child's* working directory ([`current_dir`](Self::current_dir)),
    /// not this process's. On Windows the lookup follows the platform's own
    /// rules. The lookup happens before anything is spawned, so a missing
    /// program is [`Error::NotFound`](crate::Error::NotFound) naming the
    /// `PATH` that was searched.
    ///
    /// ```
    /// let cmd = processkit::Command::new("git");
    /// assert_eq!(cmd.get_program(), "git");
    /// ```
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let program = program.as_ref().to_owned();
        let display = program.to_string_lossy().into_owned();
        Command {
            program,
            display,
            args: Vec::new(),
            env_base: EnvBase::Inherit,
            env_ops: Vec::new(),
            cwd: None,
            stdin: Stdin::null(),
            keep_stdin_open: false,
            stdout: Destination::capture(),
            stderr: Destination::capture(),
            stdout_limit: None,
            stderr_limit: None,
            timeout: None,
            grace: None,
            stop_signal: crate::signal::Signal::Term,
            idle_timeout: None,
            ok_codes: None,
            uid: None,
            gid: None,
            setsid: false,
            create_no_window: false,
            kill_on_parent_death: false,
            knobs: SpawnKnobs::default(),
            on_stdout: None,
            on_stderr: None,
            retry: None,
            #[cfg(feature = "cancellation")]
            cancel: None,
            pty: None,
            strip_escapes: false,
            graceful_stop: None,
        }
    }

    /// Appends one argument. No shell is involved: spaces, quotes and `$`
    /// reach the program as they are.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let out = processkit::Command::new("echo").arg("$HOME; rm -rf /").run().await?;
    /// assert_eq!(out, "$HOME; rm -rf /");
    /// # Ok(()) }
    /// ```
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends several arguments.
    ///
    /// ```
    /// let cmd = processkit::Command::new("git").args(["log", "-n", "1"]);
    /// assert_eq!(cmd.get_args().len(), 3);
    /// ```
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the child.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let out = processkit::Command::new("sh").args(["-c", "echo $GREETING"]).env("GREETING", "hi").run().await?;
    /// assert_eq!(out, "hi");
    /// # Ok(()) }
    /// ```
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env_ops
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Sets several environment variables.
    ///
    /// ```
    /// let cmd = processkit::Command::new("make").envs([("CC", "clang"), ("V", "1")]);
    /// # let _ = cmd;
    /// ```
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// Removes a variable from the child's environment.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let out = processkit::Command::new("sh").args(["-c", "echo ${HOME:-unset}"]).env_remove("HOME").run().await?;
    /// assert_eq!(out, "unset");
    /// # Ok(()) }
    /// ```
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env_ops.push((key.as_ref().to_owned(), None));
        self
    }

    /// Starts the child with an empty environment, dropping variables set
    /// earlier on this command too (like `std::process::Command::env_clear`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let out = processkit::Command::new("/usr/bin/env").env_clear().env("ONLY", "1").run().await?;
    /// assert_eq!(out, "ONLY=1");
    /// # Ok(()) }
    /// ```
    pub fn env_clear(mut self) -> Self {
        self.env_base = EnvBase::Empty;
        self.env_ops.clear();
        self
    }

    /// Starts from an empty environment and copies only the named variables
    /// from this process. Variables set with [`env`](Self::env) and removed
    /// with [`env_remove`](Self::env_remove) still apply on top.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let out = processkit::Command::new("sh")
    ///     .args(["-c", "echo ${HOME:-none} ${EXTRA}"])
    ///     .inherit_env(["PATH"])
    ///     .env("EXTRA", "x")
    ///     .run()
    ///     .await?;
    /// assert_eq!(out, "none x");
    /// # Ok(()) }
    /// ```
    pub fn inherit_env<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.env_base = EnvBase::Only(names.into_iter().map(|n| n.as_ref().to_owned()).collect());
        self
    }

    /// Sets the child's working directory. A missing directory is reported
    /// as [`Error::BadDirectory`](crate::Error::BadDirectory) naming it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let out = processkit::Command::new("pwd").current_dir("/").run().await?;
    /// assert_eq!(out, "/");
    /// # Ok(()) }
    /// ```
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Sets the source of standard input (default: [`Stdin::null`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let out = processkit::Command::new("cat").stdin(processkit::Stdin::from_string("piped")).run().await?;
    /// assert_eq!(out, "piped");
    /// # Ok(()) }
    /// ```
    pub fn stdin(mut self, stdin: impl Into<Stdin>) -> Self {
        self.stdin = stdin.into();
        self
    }

    /// Keeps a pipe to the child's stdin open so that
    /// [`RunningProcess::standard_input`] can write to it interactively.
    ///
    /// A writer nobody took is closed when a verb waits for the child (the
    /// consuming verbs such as [`run`](Self::run) and
    /// [`output_string`](Self::output_string), and
    /// [`RunningProcess::wait`], `output_bytes`, `output_string` and
    /// `finish_streamed`), so a child that reads stdin to its end sees EOF
    /// instead of waiting for ever.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("cat").keep_stdin_open().start().await?;
    /// let mut stdin = run.standard_input().expect("kept open");
    /// stdin.write_line("echo").await?;
    /// stdin.finish().await?;
    /// let (code, _) = run.finish_streamed().await?;
    /// assert_eq!(code, Some(0));
    /// # Ok(()) }
    /// ```
    pub fn keep_stdin_open(mut self) -> Self {
        self.keep_stdin_open = true;
        self
    }

    /// Sets where the child's stdout goes (default:
    /// [`Destination::capture`]).
    ///
    /// [`run`](Self::run) and [`first_line`](Self::first_line) read stdout,
    /// so they return [`Error::OutputNotCaptured`] unless it is captured
    /// (or teed); [`output_string`](Self::output_string),
    /// [`exit_code`](Self::exit_code) and [`start`](Self::start) work with
    /// every destination (the captured stdout is then empty). In a
    /// [`Pipeline`] only the last stage's setting applies: the other stages
    /// write into the pipe to the next one.
    ///
    /// ```
    /// use processkit::{Command, Destination, Error};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let quiet = Command::new("echo").arg("hidden").stdout(Destination::null());
    /// assert_eq!(quiet.exit_code().await?, 0);
    /// assert!(matches!(quiet.run().await, Err(Error::OutputNotCaptured { .. })));
    /// # Ok(()) }
    /// ```
    pub fn stdout(mut self, destination: Destination) -> Self {
        self.stdout = destination;
        self
    }

    /// Sets where the child's stderr goes (default:
    /// [`Destination::capture`]). In a [`Pipeline`] every stage's own
    /// setting applies.
    ///
    /// ```
    /// use processkit::{Command, Destination};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = Command::new("sh").args(["-c", "echo warn >&2"])
    ///     .stderr(Destination::inherit())
    ///     .output_string()
    ///     .await?;
    /// assert_eq!(r.stderr(), "");
    /// # Ok(()) }
    /// ```
    pub fn stderr(mut self, destination: Destination) -> Self {
        self.stderr = destination;
        self
    }

    /// Sends stderr wherever stdout goes, on the same file description, like
    /// `2>&1` in a shell: with captured stdout, both streams arrive on one
    /// pipe in the order the child wrote them (and the captured stderr is
    /// empty); with an inherited stdout or a file, stderr goes there too.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = processkit::Command::new("sh")
    ///     .args(["-c", "echo 1; echo 2 >&2; echo 3"])
    ///     .stderr_to_stdout()
    ///     .output_string()
    ///     .await?;
    /// assert_eq!((r.stdout().as_str(), r.stderr().as_str()), ("1\n2\n3\n", ""));
    /// # Ok(()) }
    /// ```
    pub fn stderr_to_stdout(mut self) -> Self {
        self.stderr = Destination(DestKind::Stdout);
        self
    }

    /// Caps how much captured stdout is kept in memory (default: all of it
    /// for the capture verbs). Bytes beyond the cap are still read, so the
    /// child never blocks, and dropped; the result reports how many
    /// ([`ProcessResult::stdout_dropped`]). Line streaming is not affected:
    /// it holds one line at a time (see
    /// [`MAX_LINE`](crate::running::MAX_LINE)).
    ///
    /// ```
    /// use processkit::{CaptureLimit, Command};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = Command::new("seq").arg("100000")
    ///     .stdout_limit(CaptureLimit::tail(7))
    ///     .output_string()
    ///     .await?;
    /// assert_eq!((r.stdout().as_str(), r.stdout_dropped()), ("100000\n", 588_888));
    /// # Ok(()) }
    /// ```
    pub fn stdout_limit(mut self, limit: CaptureLimit) -> Self {
        self.stdout_limit = Some(limit);
        self
    }

    /// Caps how much captured stderr is kept in memory (default: all of it
    /// for the capture verbs; the last 4 MiB while stdout is streamed).
    ///
    /// ```
    /// use processkit::{CaptureLimit, Command};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = Command::new("sh").args(["-c", "echo first >&2; echo second >&2"])
    ///     .stderr_limit(CaptureLimit::head(6))
    ///     .output_string()
    ///     .await?;
    /// assert_eq!((r.stderr().as_str(), r.stderr_dropped()), ("first\n", 7));
    /// # Ok(()) }
    /// ```
    pub fn stderr_limit(mut self, limit: CaptureLimit) -> Self {
        self.stderr_limit = Some(limit);
        self
    }

    /// The same cap on stdout and stderr (each stream separately).
    ///
    /// ```
    /// use processkit::{CaptureLimit, Command};
    /// let _ = Command::new("chatty").output_limit(CaptureLimit::both(1 << 20));
    /// ```
    pub fn output_limit(self, limit: CaptureLimit) -> Self {
        self.stdout_limit(limit).stderr_limit(limit)
    }

    /// Where stdout goes.
    ///
    /// ```
    /// use processkit::{Command, Destination};
    /// assert!(Command::new("ls").get_stdout().is_captured());
    /// assert!(!Command::new("ls").stdout(Destination::inherit()).get_stdout().is_captured());
    /// ```
    pub fn get_stdout(&self) -> &Destination {
        &self.stdout
    }

    /// Where stderr goes.
    ///
    /// ```
    /// use processkit::{Command, Destination};
    /// assert!(!Command::new("ls").stderr(Destination::null()).get_stderr().is_captured());
    /// ```
    pub fn get_stderr(&self) -> &Destination {
        &self.stderr
    }

    /// The error a verb that reads stdout returns when it is not captured.
    pub(crate) fn require_captured_stdout(&self, verb: &str) -> Result<()> {
        if self.stdout.is_captured() {
            return Ok(());
        }
        Err(Error::OutputNotCaptured {
            program: self.name().to_owned(),
            verb: verb.to_owned(),
            destination: self.stdout.describe().to_owned(),
        })
    }

    /// Bounds the run. At the deadline the whole process tree is killed;
    /// [`output_string`](Self::output_string) reports
    /// [`timed_out`](ProcessResult::timed_out) with what was captured, while
    /// [`run`](Self::run) and [`exit_code`](Self::exit_code) return
    /// [`Error::Timeout`](crate::Error::Timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = processkit::Command::new("sleep").arg("10").timeout(Duration::from_millis(100)).output_string().await?;
    /// assert!(r.timed_out());
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Makes the deadlines ([`timeout`](Self::timeout) and
    /// [`idle_timeout`](Self::idle_timeout)) stop the process the way a
    /// careful operator would: first the stop signal (`SIGTERM` unless
    /// [`stop_signal`](Self::stop_signal) says otherwise) to the whole tree,
    /// then, if the direct child is still running after `grace`, `SIGKILL`
    /// to the whole tree. Whatever the child leaves behind when it exits is
    /// killed at once. The outcome still records
    /// [`timed_out`](ProcessResult::timed_out) (or
    /// [`idle_timed_out`](ProcessResult::idle_timed_out)).
    ///
    /// Without a grace period a deadline kills at once. Cancellation always
    /// kills at once. Unix only: on Windows the run fails with
    /// [`Error::Unsupported`](crate::Error::Unsupported) (a Job Object has
    /// no polite stop).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// // A server that cleans up on SIGTERM gets two seconds to do so.
    /// let r = processkit::Command::new("sh")
    ///     .args(["-c", "trap 'echo cleaned up; exit 0' TERM; while :; do sleep 0.05; done"])
    ///     .timeout(Duration::from_millis(300))
    ///     .grace_period(Duration::from_secs(2))
    ///     .output_string()
    ///     .await?;
    /// assert!(r.timed_out());
    /// assert_eq!((r.code(), r.stdout().as_str()), (Some(0), "cleaned up\n"));
    /// # Ok(()) }
    /// ```
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// The signal a deadline sends first when a
    /// [`grace_period`](Self::grace_period) is set (default
    /// [`Signal::Term`](crate::Signal::Term)). An invalid signal number is
    /// reported as [`Error::InvalidInput`](crate::Error::InvalidInput) when
    /// the process starts.
    ///
    /// ```
    /// use processkit::{Command, Signal};
    /// use std::time::Duration;
    /// let _ = Command::new("server").timeout(Duration::from_secs(60))
    ///     .grace_period(Duration::from_secs(5))
    ///     .stop_signal(Signal::Int);
    /// ```
    #[cfg(feature = "process-control")]
    #[cfg_attr(docsrs, doc(cfg(feature = "process-control")))]
    pub fn stop_signal(mut self, signal: crate::Signal) -> Self {
        self.stop_signal = signal;
        self
    }

    /// Ends the run when neither stdout nor stderr delivers a byte for
    /// `idle` (counted from the start, then from the last byte). The tree is
    /// stopped like at the [`timeout`](Self::timeout) (honouring
    /// [`grace_period`](Self::grace_period)), and the outcome records
    /// [`idle_timed_out`](ProcessResult::idle_timed_out), distinct from
    /// `timed_out`; [`run`](Self::run) and [`exit_code`](Self::exit_code)
    /// return [`Error::Inactive`](crate::Error::Inactive).
    ///
    /// Only bytes that pass through this process count, so at least one of
    /// the two streams must be captured (otherwise the start fails with
    /// [`Error::InvalidInput`](crate::Error::InvalidInput)). In a pipeline a
    /// stage sees its own stderr and, for the last stage, its stdout.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = processkit::Command::new("sh").args(["-c", "echo started; sleep 30"])
    ///     .idle_timeout(Duration::from_millis(300))
    ///     .output_string()
    ///     .await?;
    /// assert!(r.idle_timed_out() && !r.timed_out());
    /// assert_eq!(r.stdout(), "started\n");
    /// # Ok(()) }
    /// ```
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = Some(idle);
        self
    }

    /// The exit codes that count as success for the checking verbs
    /// ([`run`](Self::run) and [`exit_code`](Self::exit_code); default:
    /// only 0, and `exit_code` accepts any code). A code outside the set is
    /// [`Error::NonZeroExit`](crate::Error::NonZeroExit). [`probe`](Self::probe)
    /// keeps its own 0 = yes, 1 = no contract.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// // grep exits 1 when nothing matched: not a failure here.
    /// let cmd = processkit::Command::new("grep").arg("absent").stdin("text\n").ok_codes([0, 1]);
    /// assert_eq!(cmd.run().await?, "");
    /// assert_eq!(cmd.exit_code().await?, 1);
    /// let strict = processkit::Command::new("sh").args(["-c", "exit 3"]).ok_codes([0]);
    /// assert!(matches!(strict.exit_code().await, Err(processkit::Error::NonZeroExit { code: 3, .. })));
    /// # Ok(()) }
    /// ```
    pub fn ok_codes(mut self, codes: impl IntoIterator<Item = i32>) -> Self {
        self.ok_codes = Some(codes.into_iter().collect());
        self
    }

    /// `true` when `code` counts as success for [`run`](Self::run).
    pub(crate) fn is_ok_code(&self, code: i32) -> bool {
        match &self.ok_codes {
            Some(codes) => codes.contains(&code),
            None => code == 0,
        }
    }

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

    /// Calls `handler` with each stdout line as it is read (in addition to
    /// capture). The handler runs on the read pump, so keep it quick.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = processkit::Command::new("printf").arg("a\\nb\\n")
    ///     .on_stdout_line(|l| println!("got {l}"))
    ///     .output_string().await?;
    /// assert_eq!(r.stdout(), "a\nb\n");
    /// # Ok(()) }
    /// ```
    pub fn on_stdout_line(mut self, handler: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_stdout = Some(Arc::new(handler));
        self
    }

    /// Calls `handler` with each stderr line as it is read (in addition to capture).
    ///
    /// ```
    /// let _ = processkit::Command::new("make").on_stderr_line(|l| eprintln!("make: {l}"));
    /// ```
    pub fn on_stderr_line(mut self, handler: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_stderr = Some(Arc::new(handler));
        self
    }

    /// Replays the run per `policy` until it succeeds or the policy gives
    /// up. The outcome is the last attempt's.
    ///
    /// ```
    /// use processkit::{Command, RetryPolicy};
    /// use std::time::Duration;
    /// let _ = Command::new("flaky").retry(RetryPolicy::new(3).backoff(Duration::from_millis(50), 2.0));
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Cancels the run when `token` is cancelled: the tree is killed and the
    /// verb returns [`Error::Cancelled`](crate::Error::Cancelled). A token that
    /// is already cancelled short-circuits without spawning.
    ///
    /// ```
    /// use processkit::{CancellationToken, Command};
    /// let token = CancellationToken::new();
    /// let _ = Command::new("long-job").cancel_on(token.child_token());
    /// ```
    #[cfg(feature = "cancellation")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cancellation")))]
    pub fn cancel_on(mut self, token: tokio_util::sync::CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// The program.
    ///
    /// ```
    /// assert_eq!(processkit::Command::new("ls").get_program(), "ls");
    /// ```
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments.
    ///
    /// ```
    /// let c = processkit::Command::new("ls").arg("-l");
    /// assert_eq!(c.get_args(), &["-l"]);
    /// ```
    pub fn get_args(&self) -> &[OsString] {
        &self.args
    }

    /// The working directory, if set.
    ///
    /// ```
    /// assert!(processkit::Command::new("ls").get_current_dir().is_none());
    /// ```
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// The names of the variables set or removed explicitly (never values).
    ///
    /// ```
    /// let c = processkit::Command::new("x").env("B", "secret").env("A", "1");
    /// assert_eq!(c.get_env_names(), vec!["A", "B"]);
    /// ```
    pub fn get_env_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .env_ops
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The run's timeout, if set.
    ///
    /// ```
    /// assert!(processkit::Command::new("x").get_timeout().is_none());
    /// ```
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// `true` when the command feeds data to the child's stdin.
    ///
    /// ```
    /// assert!(processkit::Command::new("cat").stdin("x").has_stdin());
    /// ```
    pub fn has_stdin(&self) -> bool {
        self.stdin.has_data() || self.keep_stdin_open
    }

    /// The program name as text (lossy), for messages.
    pub(crate) fn name(&self) -> &str {
        &self.display
    }

    /// The child's complete environment.
    pub(crate) fn resolved_env(&self) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = match &self.env_base {
            EnvBase::Inherit => std::env::vars_os().collect(),
            EnvBase::Empty => Vec::new(),
            EnvBase::Only(names) => std::env::vars_os()
                .filter(|(k, _)| names.iter().any(|n| env_eq(n, k)))
                .collect(),
        };
        for (k, v) in &self.env_ops {
            env.retain(|(ek, _)| !env_eq(ek, k));
            if let Some(v) = v {
                env.push((k.clone(), v.clone()));
            }
        }
        env
    }

    /// Whether a cancellation token was cancelled already.
    pub(crate) fn is_cancelled(&self) -> bool {
        #[cfg(feature = "cancellation")]
        {
            self.cancel.as_ref().is_some_and(|t| t.is_cancelled())
        }
        #[cfg(not(feature = "cancellation"))]
        {
            false
        }
    }
}

#[cfg(windows)]
fn env_eq(a: &OsStr, b: &OsStr) -> bool {
    a.to_string_lossy()
        .eq_ignore_ascii_case(&b.to_string_lossy())
}

#[cfg(not(windows))]
fn env_eq(a: &OsStr, b: &OsStr) -> bool {
    a == b
}

/// Shows program, arguments, working directory and the *names* of changed
/// variables. Environment values are never printed.
impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Command");
        d.field("program", &self.program).field("args", &self.args);
        if let Some(cwd) = &self.cwd {
            d.field("cwd", cwd);
        }
        let names = self.get_env_names();
        if !names.is_empty() {
            d.field("env_names", &names);
        }
        if self.env_base != EnvBase::Inherit {
            d.field(
                "env_base",
                &match &self.env_base {
                    EnvBase::Empty => "cleared".to_owned(),
                    EnvBase::Only(n) => format!("only {n:?}"),
                    EnvBase::Inherit => unreachable!(),
                },
            );
        }
        d.field("stdin", &self.stdin);
        if !matches!(self.stdout.0, DestKind::Capture) {
            d.field("stdout", &self.stdout);
        }
        if !matches!(self.stderr.0, DestKind::Capture) {
            d.field("stderr", &self.stderr);
        }
        if let Some(t) = self.timeout {
            d.field("timeout", &t);
        }
        if let Some(size) = self.pty {
            d.field("pty", &size);
        }
        d.finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_env_values() {
        let c = Command::new("x").env("TOKEN", "hunter2-secret");
        let s = format!("{c:?}");
        assert!(s.contains("TOKEN"));
        assert!(!s.contains("hunter2"));
    }

    #[test]
    fn inherit_env_keeps_only_named_plus_explicit() {
        let c = Command::new("x").inherit_env(["PATH"]).env("A", "1");
        let env = c.resolved_env();
        assert!(env.iter().all(|(k, _)| k == "PATH" || k == "A"));
        assert!(env.iter().any(|(k, v)| k == "A" && v == "1"));
    }
}

//! [`Command`]: a plain, cloneable description of what to run.
//!
//! A `Command` does no I/O. The verb you finish with decides what happens:
//! [`run`](Command::run), [`output_string`](Command::output_string),
//! [`output_bytes`](Command::output_bytes), [`exit_code`](Command::exit_code),
//! [`probe`](Command::probe), [`first_line`](Command::first_line) or
//! [`start`](Command::start). Every verb goes through the
//! [`ProcessRunner`](crate::ProcessRunner) seam ([`JobRunner`](crate::JobRunner)
//! here), and every process it starts lives in its own kill-on-drop container.

mod deadlines;
mod settings;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::knobs::SpawnKnobs;
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
    /// [`RunningProcess::standard_input`](crate::RunningProcess::standard_input) can write to it interactively.
    ///
    /// A writer nobody took is closed when a verb waits for the child (the
    /// consuming verbs such as [`run`](Self::run) and
    /// [`output_string`](Self::output_string), and
    /// [`RunningProcess::wait`](crate::RunningProcess::wait), `output_bytes`, `output_string` and
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
    /// [`Pipeline`](crate::Pipeline) only the last stage's setting applies: the other stages
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
    /// [`Destination::capture`]). In a [`Pipeline`](crate::Pipeline) every stage's own
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
    /// ([`ProcessResult::stdout_dropped`](crate::ProcessResult::stdout_dropped)). Line streaming is not affected:
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

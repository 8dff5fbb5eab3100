//! [`CliClient`] and [`cli_client!`](crate::cli_client): typed wrappers
//! around an external tool whose runner is injectable.
//!
//! A wrapper for `git`, `gh` or `jj` is mostly parsers. `CliClient` holds the
//! rest: the program name, the runner, and defaults (timeout, environment,
//! cancellation token) applied to every command it builds. The runner is a
//! type parameter, so the same wrapper runs real processes in production and
//! a [`ScriptedRunner`](crate::ScriptedRunner) in tests.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::command::Command;
use crate::error::Result;
use crate::result::ProcessResult;
use crate::runner::{JobRunner, ProcessRunner, ProcessRunnerExt};
use crate::running::RunningProcess;

/// A client for one external program: builds its commands with the
/// client's defaults and runs them through the client's runner.
///
/// Build commands with [`command`](Self::command) or
/// [`command_in`](Self::command_in), adjust them with any [`Command`]
/// builder method, and finish with one of the client's verbs
/// ([`run`](Self::run), [`output_string`](Self::output_string),
/// [`output_bytes`](Self::output_bytes), [`exit_code`](Self::exit_code),
/// [`probe`](Self::probe), [`first_line`](Self::first_line),
/// [`start`](Self::start)), which mean the same as on [`Command`].
///
/// Defaults: [`default_env`](Self::default_env) is applied when a command
/// is built, so a command can still override a variable afterwards. The
/// [`default_timeout`](Self::default_timeout) and the `default_cancel_on`
/// token (feature `cancellation`) are applied when a
/// command is built *and* again by each verb to any command that has none
/// of its own, so a command built elsewhere still gets them.
///
/// ```
/// use processkit::{CliClient, ScriptedRunner};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let gh = CliClient::new("gh")
///     .with_runner(ScriptedRunner::new().on(["gh", "auth", "status"], "Logged in\n"))
///     .default_timeout(Duration::from_secs(30))
///     .default_env("GH_PROMPT_DISABLED", "1");
/// assert_eq!(gh.run(gh.command(["auth", "status"])).await?, "Logged in");
/// let call = &gh.runner().calls()[0];
/// assert_eq!(call.timeout, Some(Duration::from_secs(30)));
/// assert_eq!(call.env_names, ["GH_PROMPT_DISABLED"]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CliClient<R = JobRunner> {
    program: OsString,
    runner: R,
    timeout: Option<Duration>,
    env: Vec<(OsString, OsString)>,
    #[cfg(feature = "cancellation")]
    cancel: Option<tokio_util::sync::CancellationToken>,
}

/// Shows the program, the defaults (variable names only, never values) and
/// the runner.
impl<R: fmt::Debug> fmt::Debug for CliClient<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.env.iter().map(|(k, _)| k).collect();
        let mut d = f.debug_struct("CliClient");
        d.field("program", &self.program)
            .field("runner", &self.runner)
            .field("default_timeout", &self.timeout)
            .field("default_env_names", &names);
        #[cfg(feature = "cancellation")]
        d.field("default_cancel_on", &self.cancel.is_some());
        d.finish()
    }
}

impl CliClient<JobRunner> {
    /// A client for `program` that runs real processes ([`JobRunner`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let echo = processkit::CliClient::new("echo");
    /// assert_eq!(echo.run(echo.command(["hello"])).await?, "hello");
    /// # Ok(()) }
    /// ```
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        CliClient::with_program_and_runner(program, JobRunner)
    }
}

impl<R> CliClient<R> {
    /// A client for `program` that runs its commands through `runner`.
    ///
    /// ```
    /// let client = processkit::CliClient::with_program_and_runner("git", processkit::ScriptedRunner::new());
    /// assert_eq!(client.program(), "git");
    /// ```
    pub fn with_program_and_runner(program: impl AsRef<OsStr>, runner: R) -> Self {
        CliClient {
            program: program.as_ref().to_owned(),
            runner,
            timeout: None,
            env: Vec::new(),
            #[cfg(feature = "cancellation")]
            cancel: None,
        }
    }

    /// The same client with another runner (keeps the program and defaults).
    ///
    /// ```
    /// use processkit::{CliClient, ProcessGroup};
    /// # fn main() -> processkit::Result<()> {
    /// // Every command of this client joins one shared kill-on-drop group.
    /// let group = ProcessGroup::new()?;
    /// let _make = CliClient::new("make").with_runner(group);
    /// # Ok(()) }
    /// ```
    pub fn with_runner<R2>(self, runner: R2) -> CliClient<R2> {
        CliClient {
            program: self.program,
            runner,
            timeout: self.timeout,
            env: self.env,
            #[cfg(feature = "cancellation")]
            cancel: self.cancel,
        }
    }

    /// Gives every command a timeout (unless it sets its own).
    ///
    /// ```
    /// use std::time::Duration;
    /// let client = processkit::CliClient::new("curl").default_timeout(Duration::from_secs(10));
    /// assert_eq!(client.command(["-I", "example.org"]).get_timeout(), Some(Duration::from_secs(10)));
    /// ```
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets `key` to `value` in the environment of every command built by
    /// [`command`](Self::command) / [`command_in`](Self::command_in).
    ///
    /// ```
    /// let git = processkit::CliClient::new("git").default_env("GIT_TERMINAL_PROMPT", "0");
    /// assert_eq!(git.command(["fetch"]).get_env_names(), ["GIT_TERMINAL_PROMPT"]);
    /// ```
    pub fn default_env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        let key = key.as_ref().to_owned();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.as_ref().to_owned()));
        self
    }

    /// Ties every command of this client to `token`: cancelling it kills
    /// every in-flight command of the client, and later runs fail with
    /// [`Error::Cancelled`](crate::Error::Cancelled) without starting
    /// anything. A command with its own token keeps that one instead.
    ///
    /// ```
    /// use processkit::{CancellationToken, CliClient, Error};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let shutdown = CancellationToken::new();
    /// let sleeper = CliClient::new("sleep").default_cancel_on(shutdown.child_token());
    /// let run = tokio::spawn(async move { sleeper.run(sleeper.command(["30"])).await });
    /// shutdown.cancel();
    /// assert!(matches!(run.await.unwrap(), Err(Error::Cancelled { .. })));
    /// # }
    /// ```
    #[cfg(feature = "cancellation")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cancellation")))]
    pub fn default_cancel_on(mut self, token: tokio_util::sync::CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// The program this client runs.
    ///
    /// ```
    /// assert_eq!(processkit::CliClient::new("jj").program(), "jj");
    /// ```
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// The runner commands go through (for a test double: its call log).
    ///
    /// ```
    /// let client = processkit::CliClient::new("git").with_runner(processkit::ScriptedRunner::new());
    /// assert!(client.runner().calls().is_empty());
    /// ```
    pub fn runner(&self) -> &R {
        &self.runner
    }

    /// A command for this client's program with `args` and the client's
    /// defaults.
    ///
    /// ```
    /// let git = processkit::CliClient::new("git");
    /// let cmd = git.command(["status", "--short"]);
    /// assert_eq!(cmd.get_program(), "git");
    /// assert_eq!(cmd.get_args(), &["status", "--short"]);
    /// ```
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.program).args(args);
        for (k, v) in &self.env {
            cmd = cmd.env(k, v);
        }
        self.fill_defaults(cmd)
    }

    /// Like [`command`](Self::command), running in `dir`.
    ///
    /// ```
    /// let git = processkit::CliClient::new("git");
    /// let cmd = git.command_in("/srv/repo", ["pull"]);
    /// assert_eq!(cmd.get_current_dir(), Some(std::path::Path::new("/srv/repo")));
    /// ```
    pub fn command_in<I, S>(&self, dir: impl AsRef<Path>, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(args).current_dir(dir)
    }

    /// Applies the timeout and cancellation defaults a command lacks.
    fn fill_defaults(&self, mut cmd: Command) -> Command {
        if cmd.timeout.is_none() {
            cmd.timeout = self.timeout;
        }
        #[cfg(feature = "cancellation")]
        if cmd.cancel.is_none() {
            cmd.cancel = self.cancel.clone();
        }
        cmd
    }
}

impl<R: ProcessRunner> CliClient<R> {
    /// Runs `cmd` and returns its trimmed stdout; a non-zero exit, a timeout
    /// or a kill is an error. See [`Command::run`].
    ///
    /// ```
    /// use processkit::{CliClient, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let git = CliClient::new("git").with_runner(ScriptedRunner::new().on(["git", "describe"], "v1.0.0\n"));
    /// assert_eq!(git.run(git.command(["describe"])).await?, "v1.0.0");
    /// # Ok(()) }
    /// ```
    pub async fn run(&self, cmd: Command) -> Result<String> {
        self.runner.run(&self.fill_defaults(cmd)).await
    }

    /// Runs `cmd` and returns the full outcome as text; a non-zero exit is
    /// data. See [`Command::output_string`].
    ///
    /// ```
    /// use processkit::{CliClient, ScriptedOutcome, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let git = CliClient::new("git").with_runner(ScriptedRunner::new().on(["git", "status"], ScriptedOutcome::exit(128).stderr("not a repo\n")));
    /// let r = git.output_string(git.command(["status"])).await?;
    /// assert_eq!(r.code(), Some(128));
    /// # Ok(()) }
    /// ```
    pub async fn output_string(&self, cmd: Command) -> Result<ProcessResult<String>> {
        self.runner.output_string(&self.fill_defaults(cmd)).await
    }

    /// Runs `cmd` and returns the full outcome as bytes. See
    /// [`Command::output_bytes`].
    ///
    /// ```
    /// use processkit::{CliClient, ScriptedOutcome, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let git = CliClient::new("git").with_runner(ScriptedRunner::new().on(["git", "cat-file", "blob", "x"], ScriptedOutcome::success().stdout(vec![0u8, 159])));
    /// assert_eq!(git.output_bytes(git.command(["cat-file", "blob", "x"])).await?.stdout(), &[0u8, 159]);
    /// # Ok(()) }
    /// ```
    pub async fn output_bytes(&self, cmd: Command) -> Result<ProcessResult<Vec<u8>>> {
        self.runner.output_bytes(&self.fill_defaults(cmd)).await
    }

    /// Runs `cmd` and returns its exit code. See [`Command::exit_code`].
    ///
    /// ```
    /// use processkit::{CliClient, ScriptedOutcome, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let git = CliClient::new("git").with_runner(ScriptedRunner::new().on(["git", "diff", "--quiet"], ScriptedOutcome::exit(1)));
    /// assert_eq!(git.exit_code(git.command(["diff", "--quiet"])).await?, 1);
    /// # Ok(()) }
    /// ```
    pub async fn exit_code(&self, cmd: Command) -> Result<i32> {
        self.runner.exit_code(&self.fill_defaults(cmd)).await
    }

    /// Runs `cmd` as a yes/no check. See [`Command::probe`].
    ///
    /// ```
    /// use processkit::{CliClient, ScriptedOutcome, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let git = CliClient::new("git").with_runner(ScriptedRunner::new().on_prefix(["git", "diff", "--quiet"], ScriptedOutcome::exit(1)));
    /// assert!(!git.probe(git.command(["diff", "--quiet", "HEAD"])).await?);
    /// # Ok(()) }
    /// ```
    pub async fn probe(&self, cmd: Command) -> Result<bool> {
        self.runner.probe(&self.fill_defaults(cmd)).await
    }

    /// Returns the first stdout line that satisfies `pred`, or `None`. See
    /// [`Command::first_line`].
    ///
    /// ```
    /// use processkit::{CliClient, ScriptedOutcome, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let git = CliClient::new("git").with_runner(
    ///     ScriptedRunner::new().on(["git", "remote", "-v"], ScriptedOutcome::success().lines(["origin a (fetch)", "origin a (push)"])),
    /// );
    /// let line = git.first_line(git.command(["remote", "-v"]), |l| l.ends_with("(push)")).await?;
    /// assert_eq!(line.as_deref(), Some("origin a (push)"));
    /// # Ok(()) }
    /// ```
    pub async fn first_line(
        &self,
        cmd: Command,
        pred: impl FnMut(&str) -> bool + Send,
    ) -> Result<Option<String>> {
        self.runner.first_line(&self.fill_defaults(cmd), pred).await
    }

    /// Starts `cmd` and returns a live handle. See [`Command::start`].
    ///
    /// ```
    /// use processkit::{CliClient, ScriptedOutcome, ScriptedRunner, StreamExt};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let git = CliClient::new("git").with_runner(ScriptedRunner::new().on_prefix(["git", "log"], ScriptedOutcome::success().lines(["c3", "c2", "c1"])));
    /// let mut run = git.start(git.command(["log", "--format=%h"])).await?;
    /// let lines: Vec<String> = run.stdout_lines().collect().await;
    /// assert_eq!(lines, ["c3", "c2", "c1"]);
    /// # Ok(()) }
    /// ```
    pub async fn start(&self, cmd: Command) -> Result<RunningProcess> {
        self.runner.start(&self.fill_defaults(cmd)).await
    }
}

/// Defines a typed wrapper around one external program: a struct with a
/// public `core: CliClient<R>` field, generic over its runner (default
/// [`JobRunner`](crate::JobRunner)).
///
/// `cli_client!(pub struct Git => "git");` generates:
///
/// * `pub struct Git<R = JobRunner> { pub core: CliClient<R> }` (`Debug`, `Clone`);
/// * `Git::new()`: runs the real program, and `Default`;
/// * `Git::with_runner(runner)`: runs through any runner (a
///   [`ScriptedRunner`](crate::ScriptedRunner) in tests);
/// * `Git::from_core(client)`: wraps a configured [`CliClient`] (defaults
///   such as a timeout or a cancellation token).
///
/// Attributes and doc comments before `struct` are kept. Add the tool's
/// operations in your own `impl<R: ProcessRunner> Git<R>` block, building
/// commands with `self.core.command(..)` / `self.core.command_in(..)` and
/// running them with the client's verbs.
///
/// ```
/// use processkit::{cli_client, ProcessRunner, Result, ScriptedRunner};
/// use std::path::Path;
///
/// cli_client!(
///     /// A typed `git`.
///     pub struct Git => "git"
/// );
///
/// impl<R: ProcessRunner> Git<R> {
///     async fn head(&self, dir: &Path) -> Result<String> {
///         self.core.run(self.core.command_in(dir, ["rev-parse", "HEAD"])).await
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let git = Git::with_runner(ScriptedRunner::new().on(["git", "rev-parse", "HEAD"], "4b825dc\n"));
/// assert_eq!(git.head(Path::new("/repo")).await?, "4b825dc");
/// assert_eq!(git.core.runner().calls()[0].cwd.as_deref(), Some(Path::new("/repo")));
///
/// let _real = Git::new(); // runs the real `git`
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! cli_client {
    ($(#[$meta:meta])* $vis:vis struct $name:ident => $program:expr $(,)?) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        $vis struct $name<R = $crate::JobRunner> {
            /// The underlying client: builds commands and runs them.
            pub core: $crate::CliClient<R>,
        }

        #[allow(dead_code)]
        impl $name<$crate::JobRunner> {
            /// A client that runs the real program.
            $vis fn new() -> Self {
                $name { core: $crate::CliClient::new($program) }
            }
        }

        impl ::core::default::Default for $name<$crate::JobRunner> {
            fn default() -> Self {
                $name::new()
            }
        }

        #[allow(dead_code)]
        impl<R> $name<R> {
            /// A client that runs its commands through `runner`.
            $vis fn with_runner(runner: R) -> Self {
                $name { core: $crate::CliClient::with_program_and_runner($program, runner) }
            }

            /// Wraps a configured client (its program should be this tool's).
            $vis fn from_core(core: $crate::CliClient<R>) -> Self {
                $name { core }
            }
        }
    };
}

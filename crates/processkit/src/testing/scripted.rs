//! [`ScriptedRunner`]: a [`ProcessRunner`] that answers from a script of
//! canned outcomes and never starts a process.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::invocation::{Invocation, StandIn, stand_in};
use crate::command::Command;
use crate::error::{Error, Result};
use crate::result::{ExitStatus, ProcessResult};
use crate::runner::{BoxFuture, ProcessRunner};
use crate::running::RunningProcess;

type ErrorFactory = Arc<dyn Fn(&str) -> Error + Send + Sync>;

/// What a scripted stand-in process does: its exit status, its output, how
/// long it runs, or the error its start fails with.
///
/// Build one from a constructor ([`success`](Self::success),
/// [`exit`](Self::exit), [`killed`](Self::killed),
/// [`timed_out`](Self::timed_out), [`not_found`](Self::not_found),
/// [`error`](Self::error)) and refine it with [`stdout`](Self::stdout),
/// [`stderr`](Self::stderr), [`lines`](Self::lines), [`delay`](Self::delay)
/// or [`until_killed`](Self::until_killed). A `&str` or `String` converts to
/// a successful run that prints that text on stdout.
///
/// # How a stand-in behaves
///
/// Its output is available at once, and goes through the same pumps as a
/// real child's: line handlers run, [`stdout_lines`](RunningProcess::stdout_lines)
/// and [`wait_for_line`](RunningProcess::wait_for_line) see the lines, and
/// the captured bytes are exactly the scripted ones. It then "runs" for its
/// [`delay`](Self::delay) (no delay: it exits at once) before reporting its
/// exit status. The command's own [`timeout`](Command::timeout) and
/// cancellation token apply as they do to a real child: a stand-in whose
/// delay outlasts the command's timeout is killed at the deadline and the
/// result says `timed_out` (with the scripted output, which was written
/// before the deadline). Delays use tokio's clock, so a test with a paused
/// clock (`#[tokio::test(start_paused = true)]`) skips them instantly.
///
/// An error outcome fails the run before anything "starts", like a real
/// spawn failure; its delay is ignored.
///
/// ```
/// use processkit::{Command, ProcessRunnerExt, ScriptedOutcome, ScriptedRunner};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let runner = ScriptedRunner::new()
///     .on(["make", "test"], ScriptedOutcome::exit(2).stderr("1 test failed\n"))
///     .on(["make", "build"], "built\n");
/// let r = runner.output_string(&Command::new("make").arg("test")).await?;
/// assert_eq!((r.code(), r.stderr().as_str()), (Some(2), "1 test failed\n"));
/// assert_eq!(runner.run(&Command::new("make").arg("build")).await?, "built");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ScriptedOutcome {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    timed_out: bool,
    runs_for: Option<Duration>,
    error: Option<ErrorFactory>,
}

impl fmt::Debug for ScriptedOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ScriptedOutcome");
        if self.error.is_some() {
            d.field("error", &"<scripted error>");
        } else {
            d.field("status", &self.status)
                .field("stdout", &String::from_utf8_lossy(&self.stdout))
                .field("stderr", &String::from_utf8_lossy(&self.stderr))
                .field("timed_out", &self.timed_out)
                .field("runs_for", &self.runs_for);
        }
        d.finish()
    }
}

impl Default for ScriptedOutcome {
    fn default() -> Self {
        ScriptedOutcome::success()
    }
}

impl From<&str> for ScriptedOutcome {
    /// A successful run that prints `stdout`.
    fn from(stdout: &str) -> Self {
        ScriptedOutcome::success().stdout(stdout)
    }
}

impl From<String> for ScriptedOutcome {
    /// A successful run that prints `stdout`.
    fn from(stdout: String) -> Self {
        ScriptedOutcome::success().stdout(stdout)
    }
}

impl ScriptedOutcome {
    /// A run that exits with code 0 and prints nothing.
    ///
    /// ```
    /// use processkit::{Command, ProcessRunnerExt, ScriptedOutcome, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let runner = ScriptedRunner::new().on(["true"], ScriptedOutcome::success());
    /// assert!(runner.probe(&Command::new("true")).await?);
    /// # Ok(()) }
    /// ```
    pub fn success() -> Self {
        ScriptedOutcome::exit(0)
    }

    /// A run that exits with `code` and prints nothing.
    ///
    /// ```
    /// use processkit::{Command, ProcessRunnerExt, ScriptedOutcome, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let runner = ScriptedRunner::new().on(["grep", "-q", "x", "f"], ScriptedOutcome::exit(1));
    /// assert!(!runner.probe(&Command::new("grep").args(["-q", "x", "f"])).await?);
    /// # Ok(()) }
    /// ```
    pub fn exit(code: i32) -> Self {
        ScriptedOutcome {
            status: ExitStatus::from_code(code),
            stdout: Vec::new(),
            stderr: Vec::new(),
            timed_out: false,
            runs_for: None,
            error: None,
        }
    }

    /// A run killed by `signal` (no exit code).
    ///
    /// ```
    /// use processkit::{Command, Error, ProcessRunnerExt, ScriptedOutcome, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let runner = ScriptedRunner::new().on(["crashy"], ScriptedOutcome::killed(11));
    /// let err = runner.exit_code(&Command::new("crashy")).await.unwrap_err();
    /// assert!(matches!(err, Error::Killed { signal: 11, .. }));
    /// # }
    /// ```
    pub fn killed(signal: i32) -> Self {
        ScriptedOutcome {
            status: ExitStatus::from_signal(signal),
            ..ScriptedOutcome::success()
        }
    }

    /// A run whose deadline passed: the result says `timed_out` at once,
    /// without waiting for the command's timeout (for
    /// [`execute`](ProcessRunner::execute)). Under
    /// [`start`](ProcessRunner::start) the stand-in runs until the command's
    /// own deadline kills it, so the handle reports a real timeout; a command
    /// without a timeout gets a stand-in that was killed (signal 9) at once.
    ///
    /// ```
    /// use processkit::{Command, Error, ProcessRunnerExt, ScriptedOutcome, ScriptedRunner};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let runner = ScriptedRunner::new().on(["slow"], ScriptedOutcome::timed_out());
    /// let cmd = Command::new("slow").timeout(Duration::from_secs(60));
    /// assert!(runner.output_string(&cmd).await?.timed_out());
    /// assert!(matches!(runner.run(&cmd).await, Err(Error::Timeout { .. })));
    /// # Ok(()) }
    /// ```
    pub fn timed_out() -> Self {
        ScriptedOutcome {
            status: ExitStatus::from_signal(9),
            timed_out: true,
            ..ScriptedOutcome::success()
        }
    }

    /// A start that fails with [`Error::NotFound`], as for a program that is
    /// not installed.
    ///
    /// ```
    /// use processkit::{Command, Error, ProcessRunnerExt, ScriptedOutcome, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let runner = ScriptedRunner::new().on_program("jj", ScriptedOutcome::not_found());
    /// let err = runner.run(&Command::new("jj").arg("status")).await.unwrap_err();
    /// assert!(matches!(err, Error::NotFound { ref program, .. } if program == "jj"));
    /// # }
    /// ```
    pub fn not_found() -> Self {
        ScriptedOutcome::error(|program| Error::NotFound {
            program: program.to_owned(),
            searched: None,
        })
    }

    /// A start that fails with the error `make` builds (it gets the program
    /// name). Called once per use, so an outcome can be served many times.
    ///
    /// ```
    /// use processkit::{Command, Error, ProcessRunnerExt, ScriptedOutcome, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let denied = ScriptedOutcome::error(|program| Error::PermissionDenied {
    ///     program: program.to_owned(),
    ///     source: std::io::ErrorKind::PermissionDenied.into(),
    /// });
    /// let runner = ScriptedRunner::new().otherwise(denied);
    /// let err = runner.run(&Command::new("anything")).await.unwrap_err();
    /// assert!(matches!(err, Error::PermissionDenied { .. }));
    /// # }
    /// ```
    pub fn error(make: impl Fn(&str) -> Error + Send + Sync + 'static) -> Self {
        ScriptedOutcome {
            error: Some(Arc::new(make)),
            ..ScriptedOutcome::success()
        }
    }

    /// Sets what the stand-in prints on stdout.
    ///
    /// ```
    /// use processkit::ScriptedOutcome;
    /// let _ = ScriptedOutcome::success().stdout("v1.2.3\n");
    /// let _ = ScriptedOutcome::success().stdout(vec![0xff, 0x00]); // bytes work too
    /// ```
    pub fn stdout(mut self, stdout: impl Into<Vec<u8>>) -> Self {
        self.stdout = stdout.into();
        self
    }

    /// Sets what the stand-in prints on stderr.
    ///
    /// ```
    /// let _ = processkit::ScriptedOutcome::exit(1).stderr("fatal: not a git repository\n");
    /// ```
    pub fn stderr(mut self, stderr: impl Into<Vec<u8>>) -> Self {
        self.stderr = stderr.into();
        self
    }

    /// Sets stdout to `lines`, each followed by `\n`.
    ///
    /// ```
    /// use processkit::{Command, ProcessRunner, ScriptedOutcome, ScriptedRunner, StreamExt};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let runner = ScriptedRunner::new().on(["git", "log", "--oneline"], ScriptedOutcome::success().lines(["a1 fix", "b2 feat"]));
    /// let mut run = runner.start(&Command::new("git").args(["log", "--oneline"])).await?;
    /// let lines: Vec<String> = run.stdout_lines().collect().await;
    /// assert_eq!(lines, ["a1 fix", "b2 feat"]);
    /// # Ok(()) }
    /// ```
    pub fn lines<I, S>(mut self, lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Vec::new();
        for line in lines {
            out.extend_from_slice(line.as_ref().as_bytes());
            out.push(b'\n');
        }
        self.stdout = out;
        self
    }

    /// Makes the stand-in run for `delay` after printing its output, before
    /// it exits. A delay longer than the command's timeout ends in a
    /// timed-out result, as for a real child.
    ///
    /// ```
    /// use processkit::{Command, ProcessRunnerExt, ScriptedOutcome, ScriptedRunner};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> processkit::Result<()> {
    /// let runner = ScriptedRunner::new().on(["build"], ScriptedOutcome::success().delay(Duration::from_secs(600)));
    /// let r = runner.output_string(&Command::new("build").timeout(Duration::from_secs(5))).await?;
    /// assert!(r.timed_out());
    /// # Ok(()) }
    /// ```
    pub fn delay(mut self, delay: Duration) -> Self {
        self.runs_for = Some(delay);
        self
    }

    /// Makes the stand-in run until it is killed (by the command's timeout,
    /// a cancellation, [`RunningProcess::kill`] or dropping the handle): a
    /// server that prints its banner and keeps running. Under a capture verb
    /// (`run`, `output_string`...) such a stand-in ends only at the command's
    /// timeout or cancellation, exactly like a real server would.
    ///
    /// ```
    /// use processkit::{Command, ProcessRunner, ScriptedOutcome, ScriptedRunner};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let runner = ScriptedRunner::new()
    ///     .on(["server"], ScriptedOutcome::success().lines(["booting", "listening on 8080"]).until_killed());
    /// let mut run = runner.start(&Command::new("server")).await?;
    /// run.wait_for_line(|l| l.starts_with("listening"), Duration::from_secs(5)).await?;
    /// run.kill().await?;
    /// assert_eq!(run.wait().await?, None);
    /// # Ok(()) }
    /// ```
    pub fn until_killed(mut self) -> Self {
        // tokio clamps an unrepresentable deadline to its far future.
        self.runs_for = Some(Duration::MAX);
        self
    }

    /// Runs the stand-in to completion for `cmd`.
    pub(crate) async fn execute_for(&self, cmd: &Command) -> Result<ProcessResult<Vec<u8>>> {
        if let Some(make) = &self.error {
            return Err(make(cmd.name()));
        }
        if cmd.is_cancelled() {
            return Err(Error::Cancelled {
                program: cmd.name().to_owned(),
            });
        }
        if self.timed_out {
            return Ok(ProcessResult::new(
                cmd.name(),
                self.status,
                self.stdout.clone(),
                self.stderr.clone(),
                true,
                cmd.get_timeout().unwrap_or_default(),
            ));
        }
        self.stand_in(cmd, self.runs_for).output_bytes().await
    }

    /// Starts the stand-in for `cmd`.
    pub(crate) fn start_for(&self, cmd: &Command) -> Result<RunningProcess> {
        if let Some(make) = &self.error {
            return Err(make(cmd.name()));
        }
        if cmd.is_cancelled() {
            return Err(Error::Cancelled {
                program: cmd.name().to_owned(),
            });
        }
        if self.timed_out && cmd.get_timeout().is_some() {
            // Runs until the handle's own deadline kills it.
            return Ok(self.stand_in(cmd, Some(Duration::MAX)));
        }
        Ok(self.stand_in(cmd, self.runs_for))
    }

    fn stand_in(&self, cmd: &Command, runs_for: Option<Duration>) -> RunningProcess {
        stand_in(
            cmd,
            StandIn {
                status: self.status,
                stdout: self.stdout.clone(),
                stderr: self.stderr.clone(),
                runs_for,
            },
        )
    }
}

/// Which invocations a rule answers.
enum Pattern {
    /// Program and arguments exactly.
    Exact(Vec<String>),
    /// Program and leading arguments.
    Prefix(Vec<String>),
    /// The program, any arguments.
    Program(String),
    /// A caller's predicate.
    When(Box<dyn Fn(&Invocation) -> bool + Send + Sync>),
    /// Anything.
    Any,
}

impl Pattern {
    /// How specific a match is (higher wins), or `None` for no match.
    fn rank(&self, inv: &Invocation) -> Option<usize> {
        let argv = inv.argv();
        match self {
            Pattern::When(pred) => pred(inv).then_some(usize::MAX),
            Pattern::Exact(p) => (!p.is_empty() && argv == *p).then_some(usize::MAX - 1),
            Pattern::Prefix(p) => {
                (!p.is_empty() && argv.len() >= p.len() && argv[..p.len()] == p[..])
                    .then_some(p.len() + 1)
            }
            Pattern::Program(p) => (inv.program == *p).then_some(1),
            Pattern::Any => Some(0),
        }
    }

    /// `true` when adding to `self` should extend its queue instead of making a new rule.
    fn same_as(&self, other: &Pattern) -> bool {
        match (self, other) {
            (Pattern::Exact(a), Pattern::Exact(b)) | (Pattern::Prefix(a), Pattern::Prefix(b)) => {
                a == b
            }
            (Pattern::Program(a), Pattern::Program(b)) => a == b,
            (Pattern::Any, Pattern::Any) => true,
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Pattern::Exact(p) => format!("exactly {p:?}"),
            Pattern::Prefix(p) => format!("{p:?} followed by anything"),
            Pattern::Program(p) => format!("`{p}` with any arguments"),
            Pattern::When(_) => "a predicate".to_owned(),
            Pattern::Any => "any invocation".to_owned(),
        }
    }
}

struct Rule {
    pattern: Pattern,
    outcomes: Vec<ScriptedOutcome>,
}

#[derive(Default)]
struct State {
    /// Per rule: how many outcomes were served.
    served: Vec<usize>,
    calls: Vec<Invocation>,
}

/// A [`ProcessRunner`] that answers every invocation from a script of
/// canned [`ScriptedOutcome`]s: no process is ever started.
///
/// # Matching
///
/// An invocation is the program (exactly as given to [`Command::new`]) and
/// its arguments. Rules are tried from the most specific to the least:
///
/// 1. [`when`](Self::when) predicates, in the order they were added;
/// 2. [`on`](Self::on): the program and all arguments exactly;
/// 3. [`on_prefix`](Self::on_prefix): the program and leading arguments (the
///    longest matching prefix wins);
/// 4. [`on_program`](Self::on_program): the program with any arguments;
/// 5. [`otherwise`](Self::otherwise): anything.
///
/// An invocation no rule matches fails with [`Error::NoScriptedOutcome`],
/// which names the invocation. The working directory, environment and stdin
/// do not take part in matching except through [`when`](Self::when).
///
/// Adding a rule for a pattern that already has one queues another outcome:
/// the outcomes are served in order, and the last one repeats forever after.
///
/// # Call log
///
/// Every invocation that reaches the runner, matched or not, is logged as an
/// [`Invocation`] (program, args, cwd, environment variable *names*, whether
/// stdin is fed, timeout, and whether it was a `start`). Read it with
/// [`calls`](Self::calls).
///
/// # Streaming
///
/// [`start`](ProcessRunner::start) hands back a [`RunningProcess`] whose
/// canned output flows through the same machinery as a real child's, so
/// [`stdout_lines`](RunningProcess::stdout_lines),
/// [`wait_for_line`](RunningProcess::wait_for_line),
/// [`finish_streamed`](RunningProcess::finish_streamed) and
/// [`first_line`](crate::ProcessRunnerExt::first_line) all work. Stdin, if
/// the command has any, is accepted and discarded; its
/// [`pid`](RunningProcess::pid) is `None`.
///
/// ```
/// use processkit::{Command, ProcessRunner, ProcessRunnerExt, ScriptedOutcome, ScriptedRunner};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let runner = ScriptedRunner::new()
///     .on(["git", "rev-parse", "HEAD"], "abc123\n")
///     .on_prefix(["git", "push"], ScriptedOutcome::exit(1).stderr("rejected\n"))
///     // A flaky probe: fails twice, then succeeds for good.
///     .on(["ping", "db"], ScriptedOutcome::exit(1))
///     .on(["ping", "db"], ScriptedOutcome::exit(1))
///     .on(["ping", "db"], ScriptedOutcome::success());
///
/// assert_eq!(runner.run(&Command::new("git").args(["rev-parse", "HEAD"])).await?, "abc123");
/// let push = runner.output_string(&Command::new("git").args(["push", "origin", "main"])).await?;
/// assert_eq!(push.code(), Some(1));
/// let ping = Command::new("ping").arg("db");
/// let answers = [runner.probe(&ping).await?, runner.probe(&ping).await?, runner.probe(&ping).await?, runner.probe(&ping).await?];
/// assert_eq!(answers, [false, false, true, true]);
///
/// // Anything unscripted is an error, not a real process.
/// let miss = runner.run(&Command::new("rm").args(["-rf", "/"])).await.unwrap_err();
/// assert!(matches!(miss, processkit::Error::NoScriptedOutcome { .. }));
/// assert_eq!(runner.calls().len(), 7);
/// # Ok(()) }
/// ```
pub struct ScriptedRunner {
    rules: Vec<Rule>,
    state: Mutex<State>,
}

impl fmt::Debug for ScriptedRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|r| format!("{} ({} outcomes)", r.pattern.describe(), r.outcomes.len()))
            .collect();
        f.debug_struct("ScriptedRunner")
            .field("rules", &rules)
            .field("calls", &self.lock().calls.len())
            .finish()
    }
}

impl Default for ScriptedRunner {
    fn default() -> Self {
        ScriptedRunner::new()
    }
}

fn argv_of<I, S>(argv: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    argv.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

impl ScriptedRunner {
    /// A runner with an empty script: every invocation misses.
    ///
    /// ```
    /// use processkit::{Command, ProcessRunnerExt, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let runner = ScriptedRunner::new();
    /// assert!(runner.run(&Command::new("ls")).await.is_err());
    /// # }
    /// ```
    pub fn new() -> Self {
        ScriptedRunner {
            rules: Vec::new(),
            state: Mutex::new(State::default()),
        }
    }

    fn add(mut self, pattern: Pattern, outcome: ScriptedOutcome) -> Self {
        if let Some(rule) = self.rules.iter_mut().find(|r| r.pattern.same_as(&pattern)) {
            rule.outcomes.push(outcome);
        } else {
            self.rules.push(Rule {
                pattern,
                outcomes: vec![outcome],
            });
            self.lock().served.push(0);
        }
        self
    }

    /// Answers the exact invocation `argv` (the program, then every
    /// argument) with `outcome`. An empty `argv` matches nothing.
    ///
    /// ```
    /// use processkit::{Command, ProcessRunnerExt, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let runner = ScriptedRunner::new().on(["uname", "-s"], "Linux\n");
    /// assert_eq!(runner.run(&Command::new("uname").arg("-s")).await?, "Linux");
    /// assert!(runner.run(&Command::new("uname").arg("-a")).await.is_err());
    /// # Ok(()) }
    /// ```
    pub fn on<I, S>(self, argv: I, outcome: impl Into<ScriptedOutcome>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.add(Pattern::Exact(argv_of(argv)), outcome.into())
    }

    /// Answers every invocation that starts with `argv` (the program, then
    /// leading arguments) with `outcome`. An empty `argv` matches nothing.
    ///
    /// ```
    /// use processkit::{Command, ProcessRunnerExt, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let runner = ScriptedRunner::new()
    ///     .on_prefix(["git", "log"], "one\n")
    ///     .on_prefix(["git", "log", "--oneline"], "two\n"); // longer prefix wins
    /// assert_eq!(runner.run(&Command::new("git").args(["log", "-3"])).await?, "one");
    /// assert_eq!(runner.run(&Command::new("git").args(["log", "--oneline", "-3"])).await?, "two");
    /// # Ok(()) }
    /// ```
    pub fn on_prefix<I, S>(self, argv: I, outcome: impl Into<ScriptedOutcome>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.add(Pattern::Prefix(argv_of(argv)), outcome.into())
    }

    /// Answers every invocation of `program`, whatever its arguments.
    ///
    /// ```
    /// use processkit::{Command, ProcessRunnerExt, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let runner = ScriptedRunner::new().on_program("notify-send", "");
    /// runner.run(&Command::new("notify-send").args(["build", "done"])).await?;
    /// # Ok(()) }
    /// ```
    pub fn on_program(
        self,
        program: impl Into<String>,
        outcome: impl Into<ScriptedOutcome>,
    ) -> Self {
        self.add(Pattern::Program(program.into()), outcome.into())
    }

    /// Answers every invocation for which `pred` returns `true`. Predicates
    /// are tried before every other rule, in the order they were added; each
    /// call adds a new rule.
    ///
    /// ```
    /// use processkit::{Command, ProcessRunnerExt, ScriptedRunner};
    /// use std::path::Path;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let runner = ScriptedRunner::new()
    ///     .when(|inv| inv.cwd.as_deref() == Some(Path::new("/repo/a")), "a\n")
    ///     .on_program("pwd", "elsewhere\n");
    /// assert_eq!(runner.run(&Command::new("pwd").current_dir("/repo/a")).await?, "a");
    /// assert_eq!(runner.run(&Command::new("pwd")).await?, "elsewhere");
    /// # Ok(()) }
    /// ```
    pub fn when(
        self,
        pred: impl Fn(&Invocation) -> bool + Send + Sync + 'static,
        outcome: impl Into<ScriptedOutcome>,
    ) -> Self {
        self.add(Pattern::When(Box::new(pred)), outcome.into())
    }

    /// Answers every invocation that no other rule matches.
    ///
    /// ```
    /// use processkit::{Command, ProcessRunnerExt, ScriptedOutcome, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let runner = ScriptedRunner::new().otherwise(ScriptedOutcome::success());
    /// assert!(runner.probe(&Command::new("anything").arg("at-all")).await?);
    /// # Ok(()) }
    /// ```
    pub fn otherwise(self, outcome: impl Into<ScriptedOutcome>) -> Self {
        self.add(Pattern::Any, outcome.into())
    }

    /// Every invocation that reached this runner so far, in order.
    ///
    /// ```
    /// use processkit::{Command, ProcessRunnerExt, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let runner = ScriptedRunner::new().otherwise("");
    /// runner.run(&Command::new("deploy").arg("--prod").env("API_TOKEN", "t0ps3cret").current_dir("/srv")).await?;
    /// let call = &runner.calls()[0];
    /// assert_eq!(call.argv(), ["deploy", "--prod"]);
    /// assert_eq!(call.env_names, ["API_TOKEN"]); // names only, never values
    /// assert_eq!(call.cwd.as_deref(), Some(std::path::Path::new("/srv")));
    /// assert!(!call.started);
    /// # Ok(()) }
    /// ```
    pub fn calls(&self) -> Vec<Invocation> {
        self.lock().calls.clone()
    }

    /// The rules that still hold outcomes nobody asked for, described in
    /// words: empty once the whole script was used. Handy as a final
    /// assertion that the code under test made every expected call.
    ///
    /// ```
    /// use processkit::{Command, ProcessRunnerExt, ScriptedRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let runner = ScriptedRunner::new().on(["a"], "").on(["b"], "");
    /// runner.run(&Command::new("a")).await?;
    /// assert_eq!(runner.unused(), ["exactly [\"b\"]: 1 of 1 outcomes unused"]);
    /// # Ok(()) }
    /// ```
    pub fn unused(&self) -> Vec<String> {
        let state = self.lock();
        self.rules
            .iter()
            .zip(&state.served)
            .filter(|(r, served)| **served < r.outcomes.len())
            .map(|(r, served)| {
                format!(
                    "{}: {} of {} outcomes unused",
                    r.pattern.describe(),
                    r.outcomes.len() - served,
                    r.outcomes.len()
                )
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a panic poisoned the lock.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Logs the invocation and picks its outcome.
    fn answer(&self, cmd: &Command, started: bool) -> Result<ScriptedOutcome> {
        let mut inv = Invocation::of(cmd);
        inv.started = started;
        let best = self
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.pattern.rank(&inv).map(|rank| (rank, i)))
            // Highest rank; among equals, the rule added first.
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut state = self.lock();
        let outcome = best.map(|(_, i)| {
            let rule = &self.rules[i];
            let served = &mut state.served[i];
            let pick = (*served).min(rule.outcomes.len() - 1);
            *served = (*served + 1).min(rule.outcomes.len());
            rule.outcomes[pick].clone()
        });
        let detail = inv.describe();
        state.calls.push(inv);
        drop(state);
        outcome.ok_or_else(|| Error::NoScriptedOutcome {
            program: cmd.name().to_owned(),
            detail: format!(
                "{detail} matches none of the {} scripted rules",
                self.rules.len()
            ),
        })
    }
}

impl ProcessRunner for ScriptedRunner {
    fn execute<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, Result<ProcessResult<Vec<u8>>>> {
        Box::pin(async move { self.answer(cmd, false)?.execute_for(cmd).await })
    }

    fn start<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, Result<RunningProcess>> {
        Box::pin(async move { self.answer(cmd, true)?.start_for(cmd) })
    }
}

//! [`RecordReplayRunner`]: capture real runs into a JSON cassette once, then
//! replay them without starting a process.
//!
//! # The cassette file
//!
//! A cassette is one JSON object:
//!
//! ```json
//! {
//!   "format": "processkit-cassette",
//!   "version": 1,
//!   "entries": [
//!     {
//!       "program": "git",
//!       "args": ["rev-parse", "HEAD"],
//!       "cwd": "/repo",
//!       "env_names": ["GIT_DIR"],
//!       "has_stdin": false,
//!       "result": {
//!         "status": { "code": 0, "signal": null },
//!         "stdout": "4b825dc642cb6eb9a060e54bf8d69288fbee4904\n",
//!         "stderr": "",
//!         "timed_out": false,
//!         "duration": { "secs": 0, "nanos": 2100000 }
//!       }
//!     },
//!     { "program": "jj", "args": ["status"], "error": { "kind": "not_found" } }
//!   ]
//! }
//! ```
//!
//! * `stdout` / `stderr` are strings when the output is valid UTF-8, and
//!   arrays of byte values otherwise, so binary output survives exactly.
//! * `cwd`, `env_names` and `has_stdin` may be left out of a hand-written
//!   entry (no directory, no variables, no stdin).
//! * An entry holds either a `result` or an `error` (`kind` is one of
//!   `not_found`, `permission_denied`, `bad_directory`, `spawn`,
//!   `invalid_input`, `unsupported`, with an optional `message`).
//! * Environment *values* are never written: only the sorted names of the
//!   variables the command set or removed.
//! * Unknown fields, a missing or different `format`, and a `version` other
//!   than [`CASSETTE_VERSION`] are errors, never guesses.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::invocation::{Invocation, StandIn, stand_in};
use crate::command::Command;
use crate::error::{Error, Result};
use crate::result::{ExitStatus, ProcessResult};
use crate::runner::{BoxFuture, ProcessRunner};
use crate::running::RunningProcess;

/// The cassette format version this crate reads and writes. A cassette with
/// any other version is refused with an error.
///
/// ```
/// assert_eq!(processkit::testing::CASSETTE_VERSION, 1);
/// ```
pub const CASSETTE_VERSION: u32 = 1;

/// The value of a cassette's `format` field.
const FORMAT: &str = "processkit-cassette";

/// Captured output: text when it is valid UTF-8, raw bytes otherwise.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Blob {
    Text(String),
    Bytes(Vec<u8>),
}

impl Blob {
    fn from_bytes(bytes: Vec<u8>) -> Blob {
        match String::from_utf8(bytes) {
            Ok(s) => Blob::Text(s),
            Err(e) => Blob::Bytes(e.into_bytes()),
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        match self {
            Blob::Text(s) => s.into_bytes(),
            Blob::Bytes(b) => b,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedResult {
    status: ExitStatus,
    stdout: Blob,
    stderr: Blob,
    #[serde(default)]
    timed_out: bool,
    #[serde(default)]
    duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ErrorKind {
    NotFound,
    PermissionDenied,
    BadDirectory,
    Spawn,
    InvalidInput,
    Unsupported,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedError {
    kind: ErrorKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl RecordedError {
    /// The recordable errors: those that describe the invocation itself
    /// (the program is missing, the directory is bad...). Cancellation and
    /// I/O trouble belong to one particular run and are not recorded.
    fn capture(e: &Error) -> Option<RecordedError> {
        let (kind, operation, message) = match e {
            Error::NotFound { .. } => (ErrorKind::NotFound, None, None),
            Error::PermissionDenied { source, .. } => {
                (ErrorKind::PermissionDenied, None, Some(source.to_string()))
            }
            Error::BadDirectory { source, .. } => {
                (ErrorKind::BadDirectory, None, Some(source.to_string()))
            }
            Error::Spawn { source, .. } => (ErrorKind::Spawn, None, Some(source.to_string())),
            Error::InvalidInput { reason, .. } => {
                (ErrorKind::InvalidInput, None, Some(reason.clone()))
            }
            Error::Unsupported {
                operation, reason, ..
            } => (
                ErrorKind::Unsupported,
                Some(operation.clone()),
                Some(reason.clone()),
            ),
            _ => return None,
        };
        Some(RecordedError {
            kind,
            operation,
            message,
        })
    }

    fn rebuild(&self, cmd: &Command) -> Error {
        let program = cmd.name().to_owned();
        let message = self.message.clone().unwrap_or_default();
        match self.kind {
            ErrorKind::NotFound => Error::NotFound {
                program,
                searched: None,
            },
            ErrorKind::PermissionDenied => Error::PermissionDenied {
                program,
                source: io::Error::new(io::ErrorKind::PermissionDenied, message),
            },
            ErrorKind::BadDirectory => Error::BadDirectory {
                program,
                dir: cmd
                    .get_current_dir()
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
                source: io::Error::new(io::ErrorKind::NotFound, message),
            },
            ErrorKind::Spawn => Error::Spawn {
                program,
                source: io::Error::other(message),
            },
            ErrorKind::InvalidInput => Error::InvalidInput {
                program,
                reason: message,
            },
            ErrorKind::Unsupported => Error::Unsupported {
                program,
                operation: self.operation.clone().unwrap_or_default(),
                reason: message,
            },
        }
    }
}

/// One recorded invocation and what came of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    program: String,
    args: Vec<String>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    env_names: Vec<String>,
    #[serde(default)]
    has_stdin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<RecordedResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<RecordedError>,
}

/// What identifies an invocation on replay.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    program: String,
    args: Vec<String>,
    cwd: Option<String>,
    has_stdin: bool,
}

impl Key {
    fn of(inv: &Invocation) -> Key {
        Key {
            program: inv.program.clone(),
            args: inv.args.clone(),
            cwd: inv.cwd.as_ref().map(|p| p.to_string_lossy().into_owned()),
            has_stdin: inv.has_stdin,
        }
    }

    fn of_entry(e: &Entry) -> Key {
        Key {
            program: e.program.clone(),
            args: e.args.clone(),
            cwd: e.cwd.clone(),
            has_stdin: e.has_stdin,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CassetteFile {
    format: String,
    version: u32,
    entries: Vec<Entry>,
}

/// The fields checked before anything else, so that a cassette from a newer
/// format is reported as such rather than as a confusing parse error.
#[derive(Deserialize)]
struct Header {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

fn bad_cassette(source: &str, reason: impl std::fmt::Display) -> Error {
    Error::InvalidInput {
        program: source.to_owned(),
        reason: format!("not a usable processkit cassette: {reason}"),
    }
}

/// Parses cassette text; `source` names it in errors.
fn parse(json: &str, source: &str) -> Result<Vec<Entry>> {
    let header: Header = serde_json::from_str(json).map_err(|e| bad_cassette(source, e))?;
    match header.format {
        Some(serde_json::Value::String(f)) if f == FORMAT => {}
        Some(other) => {
            return Err(bad_cassette(
                source,
                format!("`format` is {other}, expected \"{FORMAT}\""),
            ));
        }
        None => {
            return Err(bad_cassette(
                source,
                format!("the `format` field (\"{FORMAT}\") is missing"),
            ));
        }
    }
    match header.version {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(CASSETTE_VERSION)) => {}
        Some(v) => {
            return Err(bad_cassette(
                source,
                format!(
                    "format version {v} is not supported (this version of processkit reads version \
                     {CASSETTE_VERSION}); re-record the cassette or use a matching processkit"
                ),
            ));
        }
        None => return Err(bad_cassette(source, "the `version` field is missing")),
    }
    let file: CassetteFile = serde_json::from_str(json).map_err(|e| bad_cassette(source, e))?;
    for (i, e) in file.entries.iter().enumerate() {
        if e.result.is_some() == e.error.is_some() {
            return Err(bad_cassette(
                source,
                format!("entry {i} must hold exactly one of `result` and `error`"),
            ));
        }
    }
    Ok(file.entries)
}

struct State {
    entries: Vec<Entry>,
    /// Replay: how many entries were served per invocation.
    served: HashMap<Key, usize>,
    /// Record: entries captured since the last save.
    dirty: bool,
}

/// A [`ProcessRunner`] that records real runs into a JSON cassette, or
/// replays a cassette without starting any process.
///
/// * **Record** ([`record`](Self::record)): every run goes through the inner
///   runner and is captured (exit status, stdout and stderr losslessly,
///   timeout flag, duration). [`save`](Self::save) writes the cassette;
///   dropping the runner saves too, best-effort. An existing file is
///   replaced.
/// * **Replay** ([`replay`](Self::replay)): every run is answered from the
///   cassette. An invocation that is not in it fails with
///   [`Error::NoScriptedOutcome`]: replay never starts a process.
///
/// # Matching
///
/// Entries are matched by program + arguments + working directory + whether
/// stdin is fed. Environment variables take no part in matching and only
/// their sorted *names* are written, so a cassette committed to a
/// repository cannot leak a secret passed through the environment. When one
/// invocation was recorded several times, replay serves its entries in the
/// order they were captured and then repeats the last one: a sequence of
/// changing outputs replays faithfully, and a retry or polling loop keeps
/// getting the final answer.
///
/// # What is recorded
///
/// Results, including non-zero exits and timeouts, and the start errors
/// that describe the invocation itself (`NotFound`, `PermissionDenied`,
/// `BadDirectory`, `Spawn`, `InvalidInput`, `Unsupported`). A cancellation
/// or an I/O failure belongs to one particular run and is not recorded.
///
/// # Streaming
///
/// On replay, [`start`](ProcessRunner::start) hands back a handle whose
/// recorded output flows through the same pumps as a live child's, so
/// `stdout_lines`, `wait_for_line`, `finish_streamed` and `first_line` work.
/// While recording, `start` runs the command to completion through the inner
/// runner first, records it, and then hands back the same kind of handle:
/// the output is not live, so don't record a server that never exits (give
/// such a command a timeout). An interactive session
/// ([`keep_stdin_open`](Command::keep_stdin_open)) cannot be recorded or
/// replayed and fails with [`Error::Unsupported`].
///
/// A timed-out entry replayed through `start` reports a process killed by
/// signal 9 (the handle's `timed_out()` is `false`); through the capture
/// verbs it replays exactly.
///
/// ```
/// use processkit::{Command, JobRunner, ProcessRunnerExt, RecordReplayRunner};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let cassette = dir.path().join("echo.json");
///
/// // Record once against the real program…
/// let recorder = RecordReplayRunner::record(&cassette, JobRunner::new());
/// let live = recorder.output_string(&Command::new("echo").arg("hello")).await?;
/// recorder.save()?;
///
/// // …then replay it: no process is started.
/// let replayer = RecordReplayRunner::replay(&cassette)?;
/// let replayed = replayer.output_string(&Command::new("echo").arg("hello")).await?;
/// assert_eq!(replayed, live);
/// assert!(replayer.run(&Command::new("echo").arg("bye")).await.is_err()); // not recorded
/// # Ok(()) }
/// ```
pub struct RecordReplayRunner {
    path: Option<PathBuf>,
    inner: Option<Box<dyn ProcessRunner>>,
    state: Mutex<State>,
}

impl std::fmt::Debug for RecordReplayRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordReplayRunner")
            .field(
                "mode",
                &if self.inner.is_some() {
                    "record"
                } else {
                    "replay"
                },
            )
            .field("path", &self.path)
            .field("entries", &self.lock().entries.len())
            .finish()
    }
}

impl RecordReplayRunner {
    /// A recorder: runs go through `inner` and are captured into the
    /// cassette at `path` (written by [`save`](Self::save) or on drop).
    ///
    /// ```
    /// use processkit::{JobRunner, RecordReplayRunner};
    /// let dir = tempfile::tempdir().unwrap();
    /// let recorder = RecordReplayRunner::record(dir.path().join("git.json"), JobRunner::new());
    /// assert!(recorder.is_recording());
    /// ```
    pub fn record(path: impl Into<PathBuf>, inner: impl ProcessRunner + 'static) -> Self {
        RecordReplayRunner {
            path: Some(path.into()),
            inner: Some(Box::new(inner)),
            state: Mutex::new(State {
                entries: Vec::new(),
                served: HashMap::new(),
                dirty: true,
            }),
        }
    }

    /// A replayer for the cassette at `path`. Fails if the file cannot be
    /// read, is not a cassette, or has another format version.
    ///
    /// ```
    /// use processkit::{Error, RecordReplayRunner};
    /// let err = RecordReplayRunner::replay("/nonexistent/cassette.json").unwrap_err();
    /// assert!(matches!(err, Error::Io { .. }));
    /// ```
    pub fn replay(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let source = path.display().to_string();
        let json = std::fs::read_to_string(path)
            .map_err(|e| Error::io(&source, "reading the record/replay cassette", e))?;
        let entries = parse(&json, &source)?;
        Ok(RecordReplayRunner::replaying(
            Some(path.to_path_buf()),
            entries,
        ))
    }

    /// A replayer for cassette text held in memory (a fixture embedded with
    /// `include_str!`, say). Malformed input is an error, never a panic.
    ///
    /// ```
    /// use processkit::{Command, ProcessRunnerExt, RecordReplayRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let runner = RecordReplayRunner::from_json_str(r#"{
    ///     "format": "processkit-cassette", "version": 1,
    ///     "entries": [{ "program": "uname", "args": [],
    ///                   "result": { "status": { "code": 0, "signal": null }, "stdout": "Linux\n", "stderr": "" } }]
    /// }"#)?;
    /// assert_eq!(runner.run(&Command::new("uname")).await?, "Linux");
    ///
    /// assert!(RecordReplayRunner::from_json_str("{ not json").is_err());
    /// assert!(RecordReplayRunner::from_json_str(r#"{"format": "processkit-cassette", "version": 99, "entries": []}"#).is_err());
    /// # Ok(()) }
    /// ```
    pub fn from_json_str(json: &str) -> Result<Self> {
        let entries = parse(json, "<cassette text>")?;
        Ok(RecordReplayRunner::replaying(None, entries))
    }

    fn replaying(path: Option<PathBuf>, entries: Vec<Entry>) -> Self {
        RecordReplayRunner {
            path,
            inner: None,
            state: Mutex::new(State {
                entries,
                served: HashMap::new(),
                dirty: false,
            }),
        }
    }

    /// `true` for a recorder, `false` for a replayer.
    ///
    /// ```
    /// let r = processkit::RecordReplayRunner::from_json_str(r#"{"format":"processkit-cassette","version":1,"entries":[]}"#).unwrap();
    /// assert!(!r.is_recording());
    /// ```
    pub fn is_recording(&self) -> bool {
        self.inner.is_some()
    }

    /// The cassette file, if there is one.
    ///
    /// ```
    /// use processkit::{JobRunner, RecordReplayRunner};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("tool.json");
    /// let r = RecordReplayRunner::record(&path, JobRunner::new());
    /// assert_eq!(r.path(), Some(path.as_path()));
    /// ```
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The cassette as JSON text (what [`save`](Self::save) writes).
    ///
    /// ```
    /// let r = processkit::RecordReplayRunner::from_json_str(r#"{"format":"processkit-cassette","version":1,"entries":[]}"#).unwrap();
    /// assert!(r.to_json().unwrap().contains("\"version\": 1"));
    /// ```
    pub fn to_json(&self) -> Result<String> {
        let state = self.lock();
        let file = CassetteFile {
            format: FORMAT.to_owned(),
            version: CASSETTE_VERSION,
            entries: state.entries.clone(),
        };
        let mut json = serde_json::to_string_pretty(&file).map_err(|e| {
            Error::io(
                self.source(),
                "encoding the record/replay cassette",
                e.into(),
            )
        })?;
        json.push('\n');
        Ok(json)
    }

    /// Writes the cassette (recording only; a replayer has nothing to write
    /// and returns `Ok`). Missing parent directories are created, and the
    /// file is replaced atomically (written beside it, then renamed).
    ///
    /// ```
    /// use processkit::{Command, JobRunner, ProcessRunnerExt, RecordReplayRunner};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("nested/dir/true.json");
    /// let recorder = RecordReplayRunner::record(&path, JobRunner::new());
    /// recorder.probe(&Command::new("true")).await?;
    /// recorder.save()?;
    /// assert!(path.exists());
    /// # Ok(()) }
    /// ```
    pub fn save(&self) -> Result<()> {
        let Some(path) = self.path.as_deref().filter(|_| self.is_recording()) else {
            return Ok(());
        };
        let json = self.to_json()?;
        let source = self.source();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                Error::io(
                    source,
                    format!("creating directory {}", parent.display()),
                    e,
                )
            })?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                Error::io(source, "writing the record/replay cassette", e)
            })?;
        self.lock().dirty = false;
        Ok(())
    }

    fn source(&self) -> &str {
        // Errors name the cassette where a program name would go.
        "record/replay cassette"
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn capture(&self, cmd: &Command, outcome: &Result<ProcessResult<Vec<u8>>>) {
        let (result, error) = match outcome {
            Ok(r) => (
                Some(RecordedResult {
                    status: r.status(),
                    stdout: Blob::from_bytes(r.stdout().clone()),
                    stderr: Blob::from_bytes(r.stderr().clone()),
                    timed_out: r.timed_out(),
                    duration: r.duration(),
                }),
                None,
            ),
            Err(e) => match RecordedError::capture(e) {
                Some(rec) => (None, Some(rec)),
                None => return,
            },
        };
        let inv = Invocation::of(cmd);
        let entry = Entry {
            program: inv.program,
            args: inv.args,
            cwd: inv.cwd.map(|p| p.to_string_lossy().into_owned()),
            env_names: inv.env_names,
            has_stdin: inv.has_stdin,
            result,
            error,
        };
        let mut state = self.lock();
        state.entries.push(entry);
        state.dirty = true;
    }

    /// The next entry for `cmd` on replay.
    fn lookup(&self, cmd: &Command) -> Result<Entry> {
        let inv = Invocation::of(cmd);
        let key = Key::of(&inv);
        let mut state = self.lock();
        let matching: Vec<usize> = state
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| Key::of_entry(e) == key)
            .map(|(i, _)| i)
            .collect();
        let Some(&last) = matching.last() else {
            let where_ = self
                .path
                .as_ref()
                .map(|p| format!("cassette {}", p.display()));
            return Err(Error::NoScriptedOutcome {
                program: cmd.name().to_owned(),
                detail: format!(
                    "{} is not in the {} ({} entries); record it again",
                    inv.describe(),
                    where_.as_deref().unwrap_or("cassette"),
                    state.entries.len()
                ),
            });
        };
        let served = state.served.entry(key).or_insert(0);
        let idx = matching.get(*served).copied().unwrap_or(last);
        *served = (*served + 1).min(matching.len());
        Ok(state.entries[idx].clone())
    }

    fn interactive(cmd: &Command) -> Result<()> {
        if cmd.keep_stdin_open {
            return Err(Error::unsupported(
                cmd.name(),
                "recording or replaying an interactive session (keep_stdin_open)",
                "a cassette holds finished runs; use a ScriptedRunner for conversations",
            ));
        }
        Ok(())
    }
}

/// Builds the handle that replays `r` for `cmd`.
fn replay_handle(cmd: &Command, r: RecordedResult) -> RunningProcess {
    stand_in(
        cmd,
        StandIn {
            status: r.status,
            stdout: r.stdout.into_bytes(),
            stderr: r.stderr.into_bytes(),
            runs_for: None,
        },
    )
}

impl ProcessRunner for RecordReplayRunner {
    fn execute<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, Result<ProcessResult<Vec<u8>>>> {
        Box::pin(async move {
            if let Some(inner) = &self.inner {
                let outcome = inner.execute(cmd).await;
                self.capture(cmd, &outcome);
                return outcome;
            }
            if cmd.is_cancelled() {
                return Err(Error::Cancelled {
                    program: cmd.name().to_owned(),
                });
            }
            let entry = self.lookup(cmd)?;
            let (Some(r), None) = (entry.result, &entry.error) else {
                return Err(entry.error.as_ref().map_or_else(
                    || bad_cassette(self.source(), "an entry without a result"),
                    |e| e.rebuild(cmd),
                ));
            };
            let (status, timed_out, duration) = (r.status, r.timed_out, r.duration);
            // Through the pumps, so the command's line handlers see the output.
            let (stdout, stderr) = replay_handle(cmd, r).output_bytes().await?.into_output();
            Ok(ProcessResult::new(
                cmd.name(),
                status,
                stdout,
                stderr,
                timed_out,
                duration,
            ))
        })
    }

    fn start<'a>(&'a self, cmd: &'a Command) -> BoxFuture<'a, Result<RunningProcess>> {
        Box::pin(async move {
            RecordReplayRunner::interactive(cmd)?;
            if cmd.is_cancelled() {
                return Err(Error::Cancelled {
                    program: cmd.name().to_owned(),
                });
            }
            if let Some(inner) = &self.inner {
                let outcome = inner.execute(cmd).await;
                self.capture(cmd, &outcome);
                let r = outcome?;
                // The inner run already fed the line handlers once.
                let mut quiet = cmd.clone();
                quiet.on_stdout = None;
                quiet.on_stderr = None;
                let status = r.status();
                let (stdout, stderr) = r.into_output();
                return Ok(stand_in(
                    &quiet,
                    StandIn {
                        status,
                        stdout,
                        stderr,
                        runs_for: None,
                    },
                ));
            }
            let entry = self.lookup(cmd)?;
            match (entry.result, entry.error) {
                (Some(r), None) => Ok(replay_handle(cmd, r)),
                (_, Some(e)) => Err(e.rebuild(cmd)),
                (None, None) => Err(bad_cassette(self.source(), "an entry without a result")),
            }
        })
    }
}

impl Drop for RecordReplayRunner {
    fn drop(&mut self) {
        if self.is_recording() && self.lock().dirty {
            let _ = self.save();
        }
    }
}

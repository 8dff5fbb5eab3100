//! [`Destination`]: where a child's stdout or stderr goes.
//!
//! By default both streams are piped to this process and captured. A
//! [`Command`](crate::Command) can instead send either one straight to this
//! process's own stream ([`Destination::inherit`]), to `/dev/null`
//! ([`Destination::null`]), to a file ([`Destination::file`],
//! [`Destination::append`]), or capture it *and* forward every byte to a
//! writer ([`Destination::tee`]). Stderr can also be merged into stdout, in
//! order, on one pipe ([`Command::stderr_to_stdout`](crate::Command::stderr_to_stdout)).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A callback run for each output line, on the read pump.
pub(crate) type LineHandler = Arc<dyn Fn(&str) + Send + Sync>;

/// A writer shared by every clone of a command that tees into it.
pub(crate) type TeeWriter = Arc<Mutex<dyn Write + Send>>;

/// Where one of a child's output streams goes. The default is
/// [`Destination::capture`].
///
/// ```
/// use processkit::{Command, Destination};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// // Let a build tool print straight to this terminal; keep stderr captured.
/// let r = Command::new("sh").args(["-c", "echo to-the-terminal; echo oops >&2"])
///     .stdout(Destination::inherit())
///     .output_string()
///     .await?;
/// assert_eq!((r.stdout().as_str(), r.stderr().as_str()), ("", "oops\n"));
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
#[doc(alias = "Stdio")]
pub struct Destination(pub(crate) DestKind);

#[derive(Clone, Default)]
pub(crate) enum DestKind {
    /// A pipe to this process; the bytes are captured.
    #[default]
    Capture,
    /// This process's own stream.
    Inherit,
    /// `/dev/null` (`NUL` on Windows).
    Null,
    /// A file, truncated or appended to.
    File { path: PathBuf, append: bool },
    /// Captured, and every byte also written to the writer.
    Tee(TeeWriter),
    /// Stderr only: the same file description as stdout (`2>&1`).
    Stdout,
}

impl Destination {
    /// Piped to this process and captured (the default).
    ///
    /// ```
    /// use processkit::{Command, Destination};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let out = Command::new("echo").arg("hi").stdout(Destination::capture()).run().await?;
    /// assert_eq!(out, "hi");
    /// # Ok(()) }
    /// ```
    pub fn capture() -> Self {
        Destination(DestKind::Capture)
    }

    /// This process's own stdout or stderr: the child writes to it directly,
    /// nothing passes through this process and nothing is captured.
    ///
    /// ```
    /// use processkit::{Command, Destination};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let code = Command::new("echo").arg("shown as it happens")
    ///     .stdout(Destination::inherit())
    ///     .exit_code()
    ///     .await?;
    /// assert_eq!(code, 0);
    /// # Ok(()) }
    /// ```
    pub fn inherit() -> Self {
        Destination(DestKind::Inherit)
    }

    /// Discarded (`/dev/null`, or `NUL` on Windows).
    ///
    /// ```
    /// use processkit::{Command, Destination};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = Command::new("sh").args(["-c", "echo noise >&2"])
    ///     .stderr(Destination::null())
    ///     .output_string()
    ///     .await?;
    /// assert_eq!(r.stderr(), "");
    /// # Ok(()) }
    /// ```
    pub fn null() -> Self {
        Destination(DestKind::Null)
    }

    /// Written to the file at `path`, created if missing and truncated first.
    /// The file is opened when the process starts; a file that cannot be
    /// opened is an [`Error::Io`](crate::Error::Io) naming the program.
    ///
    /// ```
    /// use processkit::{Command, Destination};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let path = std::env::temp_dir().join(format!("pk-doc-file-{}", std::process::id()));
    /// Command::new("echo").arg("saved").stdout(Destination::file(&path)).exit_code().await?;
    /// assert_eq!(std::fs::read_to_string(&path).unwrap(), "saved\n");
    /// # std::fs::remove_file(&path).ok();
    /// # Ok(()) }
    /// ```
    pub fn file(path: impl AsRef<Path>) -> Self {
        Destination(DestKind::File {
            path: path.as_ref().to_owned(),
            append: false,
        })
    }

    /// Appended to the file at `path`, created if missing.
    ///
    /// ```
    /// use processkit::{Command, Destination};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let path = std::env::temp_dir().join(format!("pk-doc-append-{}", std::process::id()));
    /// # std::fs::remove_file(&path).ok();
    /// let log = Command::new("echo").stdout(Destination::append(&path));
    /// log.clone().arg("one").exit_code().await?;
    /// log.arg("two").exit_code().await?;
    /// assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
    /// # std::fs::remove_file(&path).ok();
    /// # Ok(()) }
    /// ```
    pub fn append(path: impl AsRef<Path>) -> Self {
        Destination(DestKind::File {
            path: path.as_ref().to_owned(),
            append: true,
        })
    }

    /// Captured as usual, and every byte also written to `writer` as it is
    /// read (for example `std::io::stderr()` to show progress live while
    /// keeping the text for an error message).
    ///
    /// The writer is called on the read pump, so it should be quick; clones
    /// of the command share it. A write error stops the forwarding (capture
    /// goes on).
    ///
    /// ```
    /// use processkit::{Command, Destination};
    /// use std::sync::{Arc, Mutex};
    ///
    /// #[derive(Clone, Default)]
    /// struct Shared(Arc<Mutex<Vec<u8>>>);
    /// impl std::io::Write for Shared {
    ///     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
    ///         self.0.lock().unwrap().extend_from_slice(b);
    ///         Ok(b.len())
    ///     }
    ///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let seen = Shared::default();
    /// let out = Command::new("echo").arg("both").stdout(Destination::tee(seen.clone())).run().await?;
    /// assert_eq!(out, "both");
    /// assert_eq!(&*seen.0.lock().unwrap(), b"both\n");
    /// # Ok(()) }
    /// ```
    pub fn tee(writer: impl Write + Send + 'static) -> Self {
        Destination(DestKind::Tee(Arc::new(Mutex::new(writer))))
    }

    /// `true` when the stream is piped to this process and captured
    /// ([`capture`](Self::capture) and [`tee`](Self::tee)).
    ///
    /// ```
    /// use processkit::Destination;
    /// assert!(Destination::capture().is_captured());
    /// assert!(!Destination::inherit().is_captured());
    /// ```
    pub fn is_captured(&self) -> bool {
        matches!(self.0, DestKind::Capture | DestKind::Tee(_))
    }

    /// A short description for messages (`"inherited"`, `"a file"`...).
    pub(crate) fn describe(&self) -> &'static str {
        match self.0 {
            DestKind::Capture => "captured",
            DestKind::Inherit => "inherited",
            DestKind::Null => "discarded (null)",
            DestKind::File { append: false, .. } => "written to a file",
            DestKind::File { append: true, .. } => "appended to a file",
            DestKind::Tee(_) => "teed",
            DestKind::Stdout => "merged into stdout",
        }
    }

    /// The writer to forward captured bytes to, if this is a tee.
    pub(crate) fn tee_writer(&self) -> Option<TeeWriter> {
        match &self.0 {
            DestKind::Tee(w) => Some(w.clone()),
            _ => None,
        }
    }
}

/// Shows the kind of destination (and a file's path); never the writer.
impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            DestKind::File { path, append } => f
                .debug_struct("File")
                .field("path", path)
                .field("append", append)
                .finish(),
            _ => f.write_str(self.describe()),
        }
    }
}

/// Which part of an over-long output a [`CaptureLimit`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Keep {
    /// The first bytes.
    Head,
    /// The last bytes (where errors usually are).
    Tail,
    /// The first half and the last half of the cap, joined; the dropped
    /// bytes were between them.
    Both,
}

/// A cap on how many bytes of one stream are kept in memory, so a runaway
/// child cannot take the host's memory. The child is never blocked: bytes
/// beyond the cap are read and dropped, and the result says how many
/// ([`ProcessResult::stdout_dropped`](crate::ProcessResult::stdout_dropped)).
///
/// Set it with [`Command::stdout_limit`](crate::Command::stdout_limit),
/// [`Command::stderr_limit`](crate::Command::stderr_limit) or
/// [`Command::output_limit`](crate::Command::output_limit).
///
/// ```
/// use processkit::{CaptureLimit, Command};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let r = Command::new("seq").arg("100000")
///     .stdout_limit(CaptureLimit::tail(7))
///     .output_string()
///     .await?;
/// assert_eq!(r.stdout(), "100000\n");
/// assert!(r.is_truncated());
/// assert_eq!(r.stdout_dropped(), 588_895 - 7);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CaptureLimit {
    pub(crate) max_bytes: usize,
    pub(crate) keep: Keep,
}

impl CaptureLimit {
    /// Keeps at most `max_bytes`, choosing which part with `keep`.
    ///
    /// ```
    /// use processkit::{CaptureLimit, Keep};
    /// assert_eq!(CaptureLimit::new(1024, Keep::Tail), CaptureLimit::tail(1024));
    /// ```
    pub fn new(max_bytes: usize, keep: Keep) -> Self {
        CaptureLimit { max_bytes, keep }
    }

    /// Keeps the first `max_bytes`.
    ///
    /// ```
    /// use processkit::{CaptureLimit, Command};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = Command::new("seq").arg("1000").stdout_limit(CaptureLimit::head(4)).output_string().await?;
    /// assert_eq!(r.stdout(), "1\n2\n");
    /// # Ok(()) }
    /// ```
    pub fn head(max_bytes: usize) -> Self {
        Self::new(max_bytes, Keep::Head)
    }

    /// Keeps the last `max_bytes`.
    ///
    /// ```
    /// use processkit::{CaptureLimit, Command};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = Command::new("seq").arg("1000").stdout_limit(CaptureLimit::tail(5)).output_string().await?;
    /// assert_eq!(r.stdout(), "1000\n");
    /// # Ok(()) }
    /// ```
    pub fn tail(max_bytes: usize) -> Self {
        Self::new(max_bytes, Keep::Tail)
    }

    /// Keeps the first and the last `max_bytes / 2` (rounded so the two
    /// add up to `max_bytes`).
    ///
    /// ```
    /// use processkit::{CaptureLimit, Command};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let r = Command::new("printf").arg("abc----------xyz")
    ///     .stdout_limit(CaptureLimit::both(6))
    ///     .output_string()
    ///     .await?;
    /// assert_eq!((r.stdout().as_str(), r.stdout_dropped()), ("abcxyz", 10));
    /// # Ok(()) }
    /// ```
    pub fn both(max_bytes: usize) -> Self {
        Self::new(max_bytes, Keep::Both)
    }

    /// The cap in bytes.
    ///
    /// ```
    /// assert_eq!(processkit::CaptureLimit::head(10).max_bytes(), 10);
    /// ```
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Which part is kept.
    ///
    /// ```
    /// use processkit::{CaptureLimit, Keep};
    /// assert_eq!(CaptureLimit::head(10).keep(), Keep::Head);
    /// ```
    pub fn keep(&self) -> Keep {
        self.keep
    }
}

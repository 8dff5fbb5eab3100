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

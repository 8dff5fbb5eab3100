//! [`Stdin`]: what a command reads on its standard input.

use std::fmt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio_stream::Stream;

/// A boxed stream of lines for [`Stdin::from_lines`].
pub(crate) type LineSource = Pin<Box<dyn Stream<Item = String> + Send>>;

/// The source of a command's standard input.
///
/// The default is [`Stdin::null`]: a child that tries to read gets EOF at
/// once instead of stealing the terminal or hanging a CI job.
///
/// ```
/// use processkit::{Command, Stdin};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let out = Command::new("sort").stdin(Stdin::from_string("b\na\n")).run().await?;
/// assert_eq!(out, "a\nb");
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
#[doc(alias = "Stdio")]
pub struct Stdin(pub(crate) StdinKind);

#[derive(Clone, Default)]
pub(crate) enum StdinKind {
    #[default]
    Null,
    Inherit,
    Bytes(Arc<[u8]>),
    /// A one-shot stream: taken by the first run that uses it.
    Lines(Arc<Mutex<Option<LineSource>>>),
    File(PathBuf),
}

impl Stdin {
    /// An empty input (`/dev/null`): reads get EOF at once. The default.
    ///
    /// ```
    /// let _ = processkit::Command::new("cat").stdin(processkit::Stdin::null());
    /// ```
    pub fn null() -> Self {
        Stdin(StdinKind::Null)
    }

    /// This process's own standard input.
    ///
    /// ```
    /// let _ = processkit::Command::new("cat").stdin(processkit::Stdin::inherit());
    /// ```
    pub fn inherit() -> Self {
        Stdin(StdinKind::Inherit)
    }

    /// The bytes of `s`, then EOF.
    ///
    /// ```
    /// let _ = processkit::Stdin::from_string("hello\n");
    /// ```
    pub fn from_string(s: impl Into<String>) -> Self {
        Stdin(StdinKind::Bytes(Arc::from(s.into().into_bytes())))
    }

    /// The given bytes, then EOF.
    ///
    /// ```
    /// let _ = processkit::Stdin::from_bytes(vec![0u8, 1, 2]);
    /// ```
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Stdin(StdinKind::Bytes(Arc::from(bytes.into())))
    }

    /// Each item of `lines` followed by `\n`, then EOF when the stream ends.
    ///
    /// A stream can be consumed once: the first run that uses this `Stdin`
    /// takes it, and a later run of a clone gets an empty input.
    ///
    /// ```
    /// use processkit::{Command, Stdin};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let lines = tokio_stream::iter(vec!["b".to_string(), "a".to_string()]);
    /// let out = Command::new("sort").stdin(Stdin::from_lines(lines)).run().await?;
    /// assert_eq!(out, "a\nb");
    /// # Ok(()) }
    /// ```
    pub fn from_lines<S>(lines: S) -> Self
    where
        S: Stream<Item = String> + Send + 'static,
    {
        Stdin(StdinKind::Lines(Arc::new(Mutex::new(Some(Box::pin(
            lines,
        ))))))
    }

    /// The contents of the file at `path` (opened when the process starts;
    /// a missing file is an error naming the path).
    ///
    /// ```
    /// let _ = processkit::Stdin::from_file("/etc/hostname");
    /// ```
    pub fn from_file(path: impl Into<PathBuf>) -> Self {
        Stdin(StdinKind::File(path.into()))
    }

    /// `true` when the process gets data from the parent (not null, not inherited).
    pub(crate) fn has_data(&self) -> bool {
        matches!(
            self.0,
            StdinKind::Bytes(_) | StdinKind::Lines(_) | StdinKind::File(_)
        )
    }
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            StdinKind::Null => f.write_str("Stdin::null"),
            StdinKind::Inherit => f.write_str("Stdin::inherit"),
            StdinKind::Bytes(b) => write!(f, "Stdin::from_bytes({} bytes)", b.len()),
            StdinKind::Lines(_) => f.write_str("Stdin::from_lines(..)"),
            StdinKind::File(p) => write!(f, "Stdin::from_file({})", p.display()),
        }
    }
}

impl From<&str> for Stdin {
    fn from(s: &str) -> Self {
        Stdin::from_string(s)
    }
}

impl From<String> for Stdin {
    fn from(s: String) -> Self {
        Stdin::from_string(s)
    }
}

impl From<Vec<u8>> for Stdin {
    fn from(b: Vec<u8>) -> Self {
        Stdin::from_bytes(b)
    }
}

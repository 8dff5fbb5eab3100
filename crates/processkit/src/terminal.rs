//! Pseudo-terminal runs: [`Terminal`], the live handle's side of a child
//! started with [`Command::pty`](crate::Command::pty), and
//! [`strip_escapes`] for the text such a child prints.
//!
//! A program on a terminal behaves as it does for a person: it line-buffers
//! its output, prompts, colours. The child leads a new session whose
//! controlling terminal is the pty's slave on its stdin, stdout and stderr;
//! this process keeps the master. Everything the child (and anything it
//! starts) prints arrives merged on the handle's stdout, with the
//! terminal's `\r\n` line ends (lines drop the `\r`), and input is typed
//! through [`RunningProcess::standard_input`](crate::RunningProcess::standard_input)
//! (the terminal echoes it, as it would on screen). Containment is the
//! same as for any other run: the whole tree lives in the run's container.

#[cfg(feature = "pty")]
use std::sync::Arc;

#[cfg(feature = "pty")]
use crate::error::{Error, Result};
#[cfg(feature = "pty")]
use crate::sys;

/// The default window size of a terminal run: 80 columns, 24 rows.
#[cfg(feature = "pty")]
pub(crate) const DEFAULT_SIZE: (u16, u16) = (80, 24);

/// The terminal of a running [`Command::pty`](crate::Command::pty) child,
/// from [`RunningProcess::terminal`](crate::RunningProcess::terminal).
///
/// Cheap to clone; every clone controls the same terminal. Resizing and the
/// special characters act as they would from a terminal emulator: the
/// kernel's line discipline turns them into `SIGWINCH`, `SIGINT` (for the
/// terminal's foreground job, not the whole tree) and end-of-file.
///
/// On Windows the terminal is a pseudo-console (ConPTY). A resize is
/// `ResizePseudoConsole` (the console's programs see a window-size event),
/// and [`size`](Self::size) is the last size set, since a pseudo-console
/// cannot be asked. [`interrupt`](Self::interrupt) types Ctrl-C (`0x03`),
/// which the console host turns into `CTRL_C_EVENT` for every program on
/// the console that has not switched it off (Windows has no foreground
/// job). [`send_eof`](Self::send_eof) types Ctrl-Z then Enter, how a
/// console reader (the C runtime, Rust's `stdin`) sees end-of-file; there
/// is no Ctrl-D. Once the run has ended the pseudo-console is closed, and
/// these calls return an error.
///
/// ```
/// use processkit::Command;
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> processkit::Result<()> {
/// let mut run = Command::new("sh").args(["-c", "echo ready; read line; echo got $line"])
///     .pty()
///     .start().await?;
/// run.wait_for_line(|l| l == "ready", Duration::from_secs(10)).await?;
/// let term = run.terminal().expect("a pty run has a terminal");
/// assert_eq!(term.size()?, (80, 24));
/// run.standard_input().expect("terminal input").write_line("hi").await?;
/// run.wait_for_line(|l| l == "got hi", Duration::from_secs(10)).await?;
/// # Ok(()) }
/// ```
#[cfg(feature = "pty")]
#[cfg_attr(docsrs, doc(cfg(feature = "pty")))]
#[derive(Clone)]
pub struct Terminal {
    program: Arc<str>,
    master: Arc<sys::PtyMaster>,
}

#[cfg(feature = "pty")]
impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("program", &self.program)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "pty")]
impl Terminal {
    pub(crate) fn new(program: &str, master: Arc<sys::PtyMaster>) -> Terminal {
        Terminal {
            program: program.into(),
            master,
        }
    }

    /// Sets the window size to `cols` × `rows`. The child's foreground job
    /// gets `SIGWINCH` when the size changes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let run = processkit::Command::new("sleep").arg("5").pty().start().await?;
    /// let term = run.terminal().unwrap();
    /// term.resize(132, 50)?;
    /// assert_eq!(term.size()?, (132, 50));
    /// # Ok(()) }
    /// ```
    pub fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        self.master
            .resize(cols, rows)
            .map_err(|e| Error::io(&self.program, "resizing the terminal", e))
    }

    /// The window size as `(columns, rows)`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let run = processkit::Command::new("sleep").arg("5").pty_size(100, 30).start().await?;
    /// assert_eq!(run.terminal().unwrap().size()?, (100, 30));
    /// # Ok(()) }
    /// ```
    pub fn size(&self) -> Result<(u16, u16)> {
        self.master
            .size()
            .map_err(|e| Error::io(&self.program, "reading the terminal size", e))
    }

    /// Types the interrupt character (Ctrl-C, or whatever the program set
    /// as `VINTR`): the terminal sends `SIGINT` to its foreground process
    /// group, exactly as when a person presses Ctrl-C. A shell's foreground
    /// command stops; the shell itself goes on. A program that switched the
    /// terminal to raw mode reads the byte as input instead.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("sh").args(["-c", "echo go; exec sleep 30"])
    ///     .pty()
    ///     .start().await?;
    /// run.wait_for_line(|l| l == "go", Duration::from_secs(10)).await?;
    /// run.terminal().unwrap().interrupt()?;
    /// assert_eq!(run.wait().await?, None); // killed by SIGINT
    /// # Ok(()) }
    /// ```
    pub fn interrupt(&self) -> Result<()> {
        self.master
            .send(sys::Special::Interrupt)
            .map_err(|e| Error::io(&self.program, "typing the interrupt character", e))
    }

    /// Types the end-of-file character (Ctrl-D, or the program's `VEOF`):
    /// at the start of a line, the child's next read returns end-of-file.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> processkit::Result<()> {
    /// let mut run = processkit::Command::new("cat").pty().start().await?;
    /// run.terminal().unwrap().send_eof()?;
    /// assert_eq!(run.wait().await?, Some(0));
    /// # Ok(()) }
    /// ```
    pub fn send_eof(&self) -> Result<()> {
        self.master
            .send(sys::Special::Eof)
            .map_err(|e| Error::io(&self.program, "typing the end-of-file character", e))
    }
}

/// Removes terminal escape sequences (colours, cursor moves, titles) and
/// control characters other than newline and tab from `bytes`, and returns
/// the text (invalid UTF-8 replaced with U+FFFD). A `\r` goes too, so a
/// terminal's `\r\n` becomes `\n`.
///
/// [`Command::strip_escapes`](crate::Command::strip_escapes) applies this
/// to a run's lines and text output; use it directly on the raw bytes of
/// [`output_bytes`](crate::Command::output_bytes).
///
/// ```
/// let text = processkit::strip_escapes(b"\x1b[1;31merror\x1b[0m: \x1b]0;title\x07bad\r\n");
/// assert_eq!(text, "error: bad\n");
/// ```
#[cfg(feature = "pty")]
#[cfg_attr(docsrs, doc(cfg(feature = "pty")))]
pub fn strip_escapes(bytes: &[u8]) -> String {
    struct Text(String);
    impl vte::Perform for Text {
        fn print(&mut self, c: char) {
            self.0.push(c);
        }
        fn execute(&mut self, byte: u8) {
            if byte == b'\n' || byte == b'\t' {
                self.0.push(byte as char);
            }
        }
    }
    let mut text = Text(String::with_capacity(bytes.len()));
    vte::Parser::new().advance(&mut text, bytes);
    text.0
}

/// [`strip_escapes`] where the feature is on; plain lossy text otherwise
/// (nothing can ask for stripping then).
pub(crate) fn stripped_text(raw: &[u8]) -> String {
    #[cfg(feature = "pty")]
    {
        strip_escapes(raw)
    }
    #[cfg(not(feature = "pty"))]
    {
        String::from_utf8_lossy(raw).into_owned()
    }
}

#[cfg(all(test, feature = "pty"))]
mod tests {
    use super::strip_escapes;

    #[test]
    fn colours_cursor_moves_and_titles_go_text_tabs_and_newlines_stay() {
        let raw = b"\x1b[?2004h\x1b[2K\x1b[1G\x1b[32mok\x1b[0m\tdone\r\n\x1b]0;t\x1b\\next\x07\n";
        assert_eq!(strip_escapes(raw), "ok\tdone\nnext\n");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters_and_text_survives() {
        let text = strip_escapes(b"a\xffb \xc3\xa9\n");
        assert_eq!(text, "a\u{fffd}b \u{e9}\n");
    }
}

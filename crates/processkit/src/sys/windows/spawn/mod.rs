//! Turning a [`SpawnRequest`] into a suspended process.
//!
//! Everything is checked and built before `CreateProcessW` runs:
//!
//! * **The program** is resolved the way `std::process::Command` does it: a
//!   name without a directory is searched in the child's `PATH`, then in the
//!   system directory and the Windows directory (never the current
//!   directory); a name without an extension gets `.exe`. A relative path
//!   with a directory is relative to the child's working directory, as on
//!   Unix.
//! * **The command line** is quoted for the rules every C runtime (and
//!   `CommandLineToArgvW`) parses with: an argument with a space, a tab or a
//!   quote is put in quotes, quotes inside are escaped with a backslash, and
//!   backslashes are doubled only where they precede a quote.
//! * **Batch files** (`.bat`, `.cmd`) run through `cmd.exe /c`, which parses
//!   its command line with different rules. Arguments are quoted for `cmd`,
//!   `%` is neutralised so no variable is expanded, and an argument that
//!   cannot be passed safely (a carriage return or a line feed, which end the
//!   command) is refused with [`Error::InvalidInput`].
//! * **The environment** is a sorted, NUL-separated UTF-16 block.
//! * **The standard handles** are made inheritable only for the duration of
//!   the call, and `PROC_THREAD_ATTRIBUTE_HANDLE_LIST` limits inheritance to
//!   exactly those three, so no other inheritable handle of this process
//!   leaks into the child.

mod cmdline;
mod create;
mod plan;
mod stdio;
#[cfg(test)]
mod tests;

pub(crate) use create::{Created, create_suspended, resume};
pub(crate) use plan::{Plan, plan};
pub(crate) use stdio::Stdio;

//! Command lines (for the C runtime's parser and for `cmd.exe`) and the
//! environment block, as UTF-16.

use std::ffi::{OsStr, OsString};
use std::os::windows::ffi::OsStrExt;
use std::path::Path;

use crate::sys::error::Error;

pub(super) fn has_nul(s: &OsStr) -> bool {
    s.encode_wide().any(|c| c == 0)
}

/// The command line for an ordinary program: `argv[0]` in quotes (the C
/// runtime takes it verbatim up to the closing quote), then each argument.
pub(super) fn command_line(
    name: &str,
    program: &OsStr,
    args: &[OsString],
) -> Result<Vec<u16>, Error> {
    if program.encode_wide().any(|c| c == u16::from(b'"')) {
        return Err(Error::invalid(
            name,
            format!("program {program:?} contains a double quote"),
        ));
    }
    let mut line = Vec::new();
    line.push(u16::from(b'"'));
    line.extend(program.encode_wide());
    line.push(u16::from(b'"'));
    for a in args {
        line.push(u16::from(b' '));
        push_quoted(&mut line, a);
    }
    Ok(line)
}

/// Appends one argument so that the C runtime's parser gives it back
/// unchanged.
pub(crate) fn push_quoted(line: &mut Vec<u16>, arg: &OsStr) {
    let special = |c: u16| {
        c == u16::from(b' ')
            || c == u16::from(b'\t')
            || c == u16::from(b'\n')
            || c == 0x0b
            || c == u16::from(b'"')
    };
    if !arg.is_empty() && !arg.encode_wide().any(special) {
        line.extend(arg.encode_wide());
        return;
    }
    line.push(u16::from(b'"'));
    let mut backslashes = 0usize;
    for c in arg.encode_wide() {
        if c == u16::from(b'\\') {
            backslashes += 1;
            continue;
        }
        if c == u16::from(b'"') {
            // Every backslash before a quote is doubled, and the quote
            // itself escaped with one more.
            line.extend(std::iter::repeat_n(u16::from(b'\\'), backslashes * 2 + 1));
        } else {
            line.extend(std::iter::repeat_n(u16::from(b'\\'), backslashes));
        }
        backslashes = 0;
        line.push(c);
    }
    // Backslashes before the closing quote are doubled too.
    line.extend(std::iter::repeat_n(u16::from(b'\\'), backslashes * 2));
    line.push(u16::from(b'"'));
}

/// The command line for a batch file: `cmd.exe /e:ON /v:OFF /d /c "…"`,
/// with the script and its arguments quoted for `cmd`.
///
/// * `/d` skips AutoRun commands, `/v:OFF` turns off `!var!` expansion and
///   `/e:ON` keeps the substring syntax used below available.
/// * Each argument that is not plain (letters, digits and a few safe
///   punctuation marks) is put in quotes, so `&`, `|`, `<`, `>`, `^` and
///   `(`…`)` stay literal; a quote inside is doubled.
/// * A `%` is written as `%%cd:~,%`: `cmd` expands `%cd:~,%` (an empty
///   substring of the current directory) to nothing and keeps the first `%`,
///   so no `%name%` in an argument is ever expanded.
/// * A carriage return or line feed would end the command: refused.
pub(super) fn batch_command_line(
    name: &str,
    script: &Path,
    args: &[OsString],
) -> Result<Vec<u16>, Error> {
    let script_w: Vec<u16> = script.as_os_str().encode_wide().collect();
    if script_w.contains(&u16::from(b'"')) || script_w.last() == Some(&u16::from(b'\\')) {
        return Err(Error::invalid(
            name,
            format!("batch file path {script:?} cannot be quoted for cmd.exe"),
        ));
    }
    let mut line: Vec<u16> = OsStr::new("cmd.exe /e:ON /v:OFF /d /c \"\"")
        .encode_wide()
        .collect();
    line.extend(&script_w);
    line.push(u16::from(b'"'));
    for a in args {
        if a.encode_wide()
            .any(|c| c == u16::from(b'\r') || c == u16::from(b'\n'))
        {
            return Err(Error::invalid(
                name,
                format!(
                    "argument {a:?} contains a line break, which cmd.exe would treat as the end of the command; \
                     it cannot be passed to a batch file"
                ),
            ));
        }
        line.push(u16::from(b' '));
        push_batch_arg(&mut line, a);
    }
    line.push(u16::from(b'"'));
    Ok(line)
}

fn push_batch_arg(line: &mut Vec<u16>, arg: &OsStr) {
    const PLAIN: &str = "#$*+-./:?@\\_";
    let plain = |c: u16| match char::from_u32(u32::from(c)) {
        Some(ch) if ch.is_ascii() => ch.is_ascii_alphanumeric() || PLAIN.contains(ch),
        Some(ch) => !ch.is_control(),
        None => true, // half of a surrogate pair: not ASCII, not a control
    };
    let wide: Vec<u16> = arg.encode_wide().collect();
    // An argument ending in a backslash is quoted so that a script's `"%~1"`
    // cannot have its closing quote escaped.
    let quote = wide.is_empty()
        || wide.last() == Some(&u16::from(b'\\'))
        || !wide.iter().all(|&c| plain(c));
    if quote {
        line.push(u16::from(b'"'));
    }
    let mut backslashes = 0usize;
    for &c in &wide {
        if c == u16::from(b'\\') {
            backslashes += 1;
            line.push(c);
            continue;
        }
        if c == u16::from(b'"') {
            // Backslashes before a quote are doubled for the program the
            // script may hand the argument to; the quote is doubled for cmd.
            line.extend(std::iter::repeat_n(u16::from(b'\\'), backslashes));
            line.push(u16::from(b'"'));
        } else if c == u16::from(b'%') {
            line.extend(OsStr::new("%%cd:~,").encode_wide());
        }
        backslashes = 0;
        line.push(c);
    }
    if quote {
        line.extend(std::iter::repeat_n(u16::from(b'\\'), backslashes));
        line.push(u16::from(b'"'));
    }
}

/// The environment block: entries sorted by name, case-insensitively (as
/// Windows expects), each `NAME=value` NUL-terminated, then one more NUL. A
/// name repeated in another case keeps its last value.
pub(super) fn environment_block(
    name: &str,
    env: &[(OsString, OsString)],
) -> Result<Vec<u16>, Error> {
    let mut vars: Vec<(Vec<u16>, &OsStr, &OsStr)> = Vec::with_capacity(env.len());
    for (k, v) in env.iter().rev() {
        let kw: Vec<u16> = k.encode_wide().collect();
        // A leading '=' is allowed: Windows keeps per-drive directories in
        // variables such as `=C:`.
        if kw.is_empty() || kw.iter().skip(1).any(|&c| c == u16::from(b'=')) {
            return Err(Error::invalid(
                name,
                format!("environment variable name {k:?} is empty or contains '='"),
            ));
        }
        if kw.contains(&0) || has_nul(v) {
            return Err(Error::invalid(
                name,
                format!("environment variable {k:?} contains a NUL character"),
            ));
        }
        vars.push((kw.iter().map(|&c| upcase(c)).collect(), k, v));
    }
    // Stable: for repeated names the first entry kept is the last one set.
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.dedup_by(|later, earlier| later.0 == earlier.0);
    let mut block = Vec::new();
    for (_, k, v) in vars {
        block.extend(k.encode_wide());
        block.push(u16::from(b'='));
        block.extend(v.encode_wide());
        block.push(0);
    }
    if block.is_empty() {
        block.push(0);
    }
    block.push(0);
    Ok(block)
}

/// Upper-cases one UTF-16 unit where that maps to exactly one unit.
fn upcase(c: u16) -> u16 {
    match char::from_u32(u32::from(c)) {
        Some(ch) => {
            let mut up = ch.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) if (u as u32) <= 0xFFFF => u as u32 as u16,
                _ => c,
            }
        }
        None => c,
    }
}

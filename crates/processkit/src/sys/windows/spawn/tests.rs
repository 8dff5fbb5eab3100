use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::cmdline::{batch_command_line, environment_block, push_quoted};
use super::plan::candidates;
use crate::sys::error::Error;

/// Splits a command line the way the C runtime does (the 2008 rules:
/// `2n` backslashes + quote → n backslashes and a quote toggle, `2n+1`
/// → n backslashes and a literal quote, `""` inside quotes → a quote).
fn split(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut args = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let mut arg = String::new();
        let mut quoted = false;
        while i < chars.len() {
            let c = chars[i];
            if !quoted && (c == ' ' || c == '\t') {
                break;
            }
            if c == '\\' {
                let mut n = 0;
                while i < chars.len() && chars[i] == '\\' {
                    n += 1;
                    i += 1;
                }
                if i < chars.len() && chars[i] == '"' {
                    arg.extend(std::iter::repeat_n('\\', n / 2));
                    if n % 2 == 1 {
                        arg.push('"');
                        i += 1;
                    }
                } else {
                    arg.extend(std::iter::repeat_n('\\', n));
                }
                continue;
            }
            if c == '"' {
                if quoted && i + 1 < chars.len() && chars[i + 1] == '"' {
                    arg.push('"');
                    i += 2;
                    continue;
                }
                quoted = !quoted;
                i += 1;
                continue;
            }
            arg.push(c);
            i += 1;
        }
        args.push(arg);
    }
    args
}

fn quoted(arg: &str) -> String {
    let mut line = Vec::new();
    push_quoted(&mut line, OsStr::new(arg));
    String::from_utf16(&line).unwrap()
}

#[test]
fn quoting_round_trips_through_the_c_runtime_rules() {
    for arg in [
        "plain",
        "",
        "two words",
        "tab\there",
        "quote\"inside",
        "trailing\\",
        "trailing space\\",
        "\\\\server\\share\\",
        "a\\\"b",
        "a\\\\\"b c",
        "\"",
        "\\",
        "ends with quote\"",
        "ünïcödé ✓",
    ] {
        let q = quoted(arg);
        assert_eq!(
            split(&q),
            vec![arg.to_owned()],
            "argument {arg:?} quoted as {q}"
        );
    }
}

#[test]
fn plain_arguments_are_not_quoted() {
    assert_eq!(quoted("C:\\path\\file.txt"), "C:\\path\\file.txt");
    assert_eq!(quoted("--flag=value"), "--flag=value");
}

#[test]
fn environment_block_is_sorted_case_insensitively_and_keeps_the_last_duplicate() {
    let env = vec![
        (OsString::from("b"), OsString::from("2")),
        (OsString::from("A"), OsString::from("1")),
        (OsString::from("Path"), OsString::from("old")),
        (OsString::from("PATH"), OsString::from("new")),
    ];
    let block = environment_block("x", &env).unwrap();
    let text = String::from_utf16(&block).unwrap();
    assert_eq!(text, "A=1\0b=2\0PATH=new\0\0");
}

#[test]
fn an_empty_environment_is_two_nuls() {
    assert_eq!(environment_block("x", &[]).unwrap(), vec![0, 0]);
}

#[test]
fn a_bad_environment_name_is_invalid_input() {
    for bad in ["", "A=B"] {
        let env = vec![(OsString::from(bad), OsString::from("v"))];
        assert!(
            matches!(
                environment_block("x", &env),
                Err(Error::InvalidInput { .. })
            ),
            "{bad:?}"
        );
    }
    let env = vec![(OsString::from("=C:"), OsString::from("C:\\"))];
    assert!(environment_block("x", &env).is_ok());
}

#[test]
fn batch_arguments_are_quoted_for_cmd_and_percent_is_neutralised() {
    let line = batch_command_line(
        "x",
        Path::new("C:\\s.bat"),
        &[
            OsString::from("a&b"),
            OsString::from("%PATH%"),
            OsString::from("plain"),
        ],
    )
    .unwrap();
    let text = String::from_utf16(&line).unwrap();
    assert_eq!(
        text,
        "cmd.exe /e:ON /v:OFF /d /c \"\"C:\\s.bat\" \"a&b\" \"%%cd:~,%PATH%%cd:~,%\" plain\""
    );
}

#[test]
fn batch_arguments_with_line_breaks_are_refused() {
    for bad in ["a\nb", "a\rb"] {
        let r = batch_command_line("x", Path::new("C:\\s.bat"), &[OsString::from(bad)]);
        assert!(matches!(r, Err(Error::InvalidInput { .. })), "{bad:?}");
    }
}

#[test]
fn a_program_without_extension_gets_exe() {
    assert_eq!(
        candidates(Path::new("C:\\bin\\tool")),
        vec![PathBuf::from("C:\\bin\\tool.exe")]
    );
    assert_eq!(
        candidates(Path::new("tool.EXE")),
        vec![PathBuf::from("tool.EXE")]
    );
    assert_eq!(
        candidates(Path::new("python3.11")),
        vec![PathBuf::from("python3.11"), PathBuf::from("python3.11.exe")]
    );
}

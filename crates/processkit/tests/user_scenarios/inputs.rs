//! What goes in and comes out: environment, arguments and paths, exit codes, typed mistakes.

use processkit::{Command, Error};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::Instant;

use super::*;

// ----- environment -----------------------------------------------------------------------------------

/// An environment allow-list passes exactly the named variables (case
/// sensitive on Unix) plus explicit ones, and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_allow_list_passes_exactly_the_named_variables() -> processkit::Result<()> {
    fn names(out: &str) -> Vec<String> {
        let mut v: Vec<String> = out
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_owned()))
            .collect();
        v.sort();
        v
    }
    let has_path = std::env::var_os("PATH").is_some();
    let out = Command::new("/usr/bin/env")
        .inherit_env(["PATH", "PK_SURELY_UNSET_VARIABLE"])
        .run()
        .await?;
    assert_eq!(names(&out), if has_path { vec!["PATH"] } else { vec![] });

    let out = Command::new("/usr/bin/env")
        .inherit_env(["path"])
        .run()
        .await?;
    assert_eq!(
        names(&out),
        Vec::<String>::new(),
        "names are case sensitive on Unix"
    );

    let out = Command::new("/usr/bin/env")
        .env_clear()
        .env("ONLY", "this")
        .run()
        .await?;
    assert_eq!(out, "ONLY=this");

    // The allow-list still finds programs on the parent's PATH.
    let out = Command::new("sh")
        .args(["-c", "echo ok"])
        .inherit_env(["PATH"])
        .run()
        .await?;
    assert_eq!(out, "ok");
    Ok(())
}

// ----- arguments and paths -------------------------------------------------------------------------

/// Non-UTF-8 arguments, environment values, program paths and working
/// directories reach the child byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_arguments_pass_through_verbatim() -> processkit::Result<()> {
    let raw: &[u8] = b"caf\xe9 \xff\xfe\x80 end";
    let arg = OsStr::from_bytes(raw);
    let r = Command::new("printf")
        .arg("%s")
        .arg(arg)
        .output_bytes()
        .await?;
    assert_eq!(r.stdout().as_slice(), raw);

    let r = Command::new("sh")
        .args(["-c", "printf %s \"$RAW\""])
        .env("RAW", arg)
        .output_bytes()
        .await?;
    assert_eq!(r.stdout().as_slice(), raw);

    let r = (Command::new("printf").arg("%s").arg(arg) | Command::new("cat"))
        .output_bytes()
        .await?;
    assert_eq!(r.stdout().as_slice(), raw);

    let dir = scratch();
    let odd = dir
        .path()
        .join(OsString::from_vec(b"dir-\xff\xfe".to_vec()));
    std::fs::create_dir(&odd).unwrap();
    let tool = script(&odd, "tool", "#!/bin/sh\npwd\n");
    let r = Command::new(&tool).current_dir(&odd).output_bytes().await?;
    assert_eq!(
        r.stdout().strip_suffix(b"\n").unwrap(),
        odd.as_os_str().as_bytes()
    );
    // Lossy text keeps the valid parts and replaces the rest.
    let s = Command::new("printf").arg("%s").arg(arg).run().await?;
    assert!(
        s.starts_with("caf") && s.ends_with(" end") && s.contains('\u{FFFD}'),
        "{s:?}"
    );
    Ok(())
}

/// A relative program path with a separator is resolved against the
/// command's `current_dir`, as on a shell after `cd`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_program_path_resolves_against_current_dir() -> processkit::Result<()> {
    let dir = scratch();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    script(
        &dir.path().join("bin"),
        "tool",
        "#!/bin/sh\necho tool ran in $(pwd)\n",
    );
    let out = Command::new("./bin/tool")
        .current_dir(dir.path())
        .run()
        .await?;
    assert_eq!(out, format!("tool ran in {}", dir.path().display()));
    let out = Command::new("bin/tool")
        .current_dir(dir.path())
        .run()
        .await?;
    assert!(out.starts_with("tool ran in "), "{out}");
    Ok(())
}

/// A long argument list (about 1 MiB across 10 000 arguments) is passed in
/// full; one past the kernel's limit is a typed error, not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn very_long_argument_lists_pass_or_fail_typed() -> processkit::Result<()> {
    let args: Vec<String> = (0..10_000).map(|i| format!("{i:0>100}")).collect();
    let out = Command::new("sh")
        .args(["-c", "echo $# \"$1\" \"${10000}\"", "sh"])
        .args(&args)
        .run()
        .await?;
    assert_eq!(out, format!("10000 {} {}", args[0], args[9999]));

    // One argument longer than MAX_ARG_STRLEN (128 KiB), and a list longer
    // than ARG_MAX: both refused by exec.
    let huge = "x".repeat(200 * 1024);
    let e = Command::new("echo").arg(&huge).run().await.unwrap_err();
    assert!(
        matches!(&e, Error::Spawn { program, source }
            if program == "echo" && source.kind() == std::io::ErrorKind::ArgumentListTooLong),
        "{e:?}"
    );
    let many: Vec<String> = (0..40_000).map(|i| format!("{i:0>200}")).collect();
    let e = Command::new("echo").args(&many).run().await.unwrap_err();
    assert!(
        matches!(&e, Error::Spawn { program, source }
            if program == "echo" && source.kind() == std::io::ErrorKind::ArgumentListTooLong),
        "{e:?}"
    );
    Ok(())
}

// ----- exit codes and signals ----------------------------------------------------------------------

/// An exit code above 128 is a code, not a signal; a death by signal is a
/// signal, not a code — in results and in errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_above_128_are_not_signals() -> processkit::Result<()> {
    let r = Command::new("sh")
        .args(["-c", "exit 130"])
        .output_string()
        .await?;
    assert_eq!((r.code(), r.signal()), (Some(130), None));
    assert!(!r.is_success());
    let r = Command::new("sh")
        .args(["-c", "kill -USR1 $$"])
        .output_string()
        .await?;
    assert_eq!((r.code(), r.signal()), (None, Some(10)));
    let r = Command::new("sh")
        .args(["-c", "kill -TERM $$"])
        .output_string()
        .await?;
    assert_eq!((r.code(), r.signal()), (None, Some(15)));
    let r = Command::new("sh")
        .args(["-c", "exit 255"])
        .output_string()
        .await?;
    assert_eq!(r.code(), Some(255));

    let e = Command::new("sh")
        .args(["-c", "exit 137"])
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NonZeroExit { code: 137, .. }), "{e:?}");
    let e = Command::new("sh")
        .args(["-c", "kill -KILL $$"])
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Killed { signal: 9, .. }), "{e:?}");
    assert_eq!(
        Command::new("sh")
            .args(["-c", "exit 143"])
            .exit_code()
            .await?,
        143
    );
    let e = Command::new("sh")
        .args(["-c", "kill -TERM $$"])
        .exit_code()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Killed { signal: 15, .. }), "{e:?}");
    Ok(())
}

/// What a CLI user gets for the usual mistakes: a missing program, a
/// missing working directory, a file that is not executable, and a missing
/// program in the middle of a pipeline (which leaves no stage running).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usual_mistakes_are_typed_errors_naming_the_program() -> processkit::Result<()> {
    let e = Command::new("pk-no-such-tool").run().await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("pk-no-such-tool"), "{e}");

    let dir = scratch();
    let e = Command::new("true")
        .current_dir(dir.path().join("missing"))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::BadDirectory { .. }), "{e:?}");

    let plain = dir.path().join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\necho hi\n").unwrap();
    let e = Command::new(&plain).run().await.unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");

    let pidfile = dir.path().join("pid");
    let first = Command::new("sh").args([
        "-c",
        &format!("echo $$ > {}; exec sleep 30", pidfile.display()),
    ]);
    let t0 = Instant::now();
    let e = (first | Command::new("pk-missing-middle-stage") | Command::new("cat"))
        .output_string()
        .await
        .unwrap_err();
    assert!(t0.elapsed() < DEADLINE);
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("pk-missing-middle-stage"), "{e}");
    // If the first stage was spawned before the failure, it must be gone.
    assert_gone(
        &pids_in(&pidfile),
        "first stage of a pipeline whose middle is missing",
    )
    .await;
    Ok(())
}

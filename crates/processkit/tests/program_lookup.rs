//! How the program is found: the child's `PATH` is searched, a relative
//! program resolves from the child's working directory, the search skips
//! what the child could not execute, and a lookup error is reported as what
//! happened. Also: waiting verbs close a kept-open stdin nobody took, and a
//! start outside a tokio runtime is a typed error before anything spawns.
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use processkit::{Command, Error};

/// A scratch directory every user may enter.
fn open_scratch() -> tempfile::TempDir {
    let dir = common::scratch();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn script(dir: &Path, name: &str, body: &str, mode: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    common::write_by_child(&path, format!("#!/bin/sh\n{body}\n").as_bytes(), mode);
}

#[tokio::test]
async fn the_childs_path_is_searched() {
    let dir = open_scratch();
    script(
        dir.path(),
        "pk-lookup-only-here",
        "echo found on the PATH of the child",
        0o755,
    );
    let out = Command::new("pk-lookup-only-here")
        .env("PATH", dir.path())
        .run()
        .await
        .unwrap();
    assert_eq!(out, "found on the PATH of the child");
}

#[tokio::test]
async fn a_relative_program_resolves_from_the_childs_working_directory() {
    let dir = open_scratch();
    let sub = dir.path().join("sub");
    script(&sub, "prog", "echo from the directory of the child", 0o755);
    assert!(
        !Path::new("./prog").exists(),
        "the test's own directory has no prog"
    );
    let out = Command::new("./prog")
        .current_dir(&sub)
        .run()
        .await
        .unwrap();
    assert_eq!(out, "from the directory of the child");
}

#[tokio::test]
async fn the_search_skips_a_file_the_childs_user_cannot_execute() {
    let dir = open_scratch();
    let (first, second) = (dir.path().join("a"), dir.path().join("b"));
    // Executable by its owner (root) only, not by the child's user.
    script(&first, "pk-lookup-prog", "echo first", 0o700);
    script(&second, "pk-lookup-prog", "echo second", 0o755);
    for d in [&first, &second] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = std::env::join_paths([&first, &second]).unwrap();
    let out = Command::new("pk-lookup-prog")
        .env("PATH", path)
        .uid(65534)
        .gid(65534)
        .run()
        .await
        .unwrap();
    assert_eq!(out, "second");
}

#[tokio::test]
async fn a_name_too_long_is_reported_as_such() {
    let program = format!("/tmp/{}/prog", "n".repeat(300));
    let err = Command::new(&program).run().await.unwrap_err();
    assert!(
        !matches!(err, Error::NotFound { .. }) && err.to_string().contains("too long"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_symlink_loop_is_reported_as_such() {
    let dir = open_scratch();
    std::os::unix::fs::symlink(dir.path().join("b"), dir.path().join("a")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("b")).unwrap();
    let err = Command::new(dir.path().join("a")).run().await.unwrap_err();
    assert!(
        !matches!(err, Error::NotFound { .. }) && err.to_string().contains("symbolic links"),
        "{err:?}"
    );
}

const ROLE_VAR: &str = "PK_LOOKUP_ROLE";

/// A program behind a directory this user may not enter is a permission
/// problem, not a missing program. Runs as an unprivileged user (root
/// enters every directory), in a copy of this binary started by `setpriv`.
#[test]
fn a_directory_this_user_cannot_enter_is_permission_denied() {
    const NAME: &str = "a_directory_this_user_cannot_enter_is_permission_denied";
    if let Ok(program) = std::env::var(ROLE_VAR) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt.block_on(Command::new(&program).run()).unwrap_err();
        assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
        return;
    }
    let dir = open_scratch();
    let locked = dir.path().join("locked");
    script(&locked, "prog", "echo unreachable", 0o755);
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    let exe = dir.path().join("test-binary");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let status = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["--exact", NAME, "--test-threads=1"])
        .env(ROLE_VAR, locked.join("prog"))
        .current_dir("/")
        .status()
        .expect("run setpriv (util-linux, root)");
    assert!(status.success(), "the unprivileged lookup failed: {status}");
}

#[tokio::test]
async fn waiting_verbs_close_a_kept_open_stdin_nobody_took() {
    let cat = || {
        Command::new("cat")
            .keep_stdin_open()
            .timeout(Duration::from_secs(5))
    };
    let t = Instant::now();
    assert_eq!(cat().output_string().await.unwrap().stdout(), "");
    assert_eq!(cat().run().await.unwrap(), "");
    assert_eq!(cat().exit_code().await.unwrap(), 0);
    assert!(cat().probe().await.unwrap());
    let r = cat().start().await.unwrap().output_string().await.unwrap();
    assert!(r.is_success());
    let mut run = cat().start().await.unwrap();
    assert_eq!(run.wait().await.unwrap(), Some(0));
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "a verb waited for its timeout ({:?})",
        t.elapsed()
    );
}

/// Whether any process has `marker` in its command line.
fn running_with(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
    })
}

#[test]
fn starting_outside_a_tokio_runtime_is_a_typed_error_and_spawns_nothing() {
    let marker = format!("pk-no-runtime-{}", std::process::id());
    let cmd = Command::new("sh").args(["-c", "sleep 30", &marker]);
    let mut fut = std::pin::pin!(cmd.start());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let err = match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(e)) => e,
        std::task::Poll::Ready(Ok(_)) => panic!("started without a runtime"),
        std::task::Poll::Pending => panic!("pending without a runtime"),
    };
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("tokio runtime"), "{err}");
    assert!(!running_with(&marker), "a child was spawned");
}

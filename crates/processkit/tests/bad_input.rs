//! Bad input gets a clear, typed error that names the program — never a
//! panic, never a spawned process.
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;

use processkit::{Command, Error};

#[tokio::test]
async fn nul_bytes_anywhere_are_invalid_input_naming_the_program() {
    let cases = [
        Command::new("ec\0ho"),
        Command::new("echo").arg("a\0b"),
        Command::new("echo").env("KEY", "va\0lue"),
        Command::new("echo").env("K\0EY", "value"),
        Command::new("echo").current_dir("/tm\0p"),
    ];
    for cmd in cases {
        let err = cmd.run().await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { .. }),
            "{cmd:?}: {err:?}"
        );
        assert!(err.to_string().contains("NUL"), "{err}");
    }
}

#[tokio::test]
async fn an_empty_program_or_bad_env_name_is_invalid_input() {
    let err = Command::new("").run().await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    let err = Command::new("echo")
        .env("A=B", "x")
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}

#[tokio::test]
async fn a_missing_program_is_not_found_naming_it() {
    let err = Command::new("pk-no-such-program-anywhere")
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string().contains("pk-no-such-program-anywhere"),
        "{err}"
    );
    let err = Command::new("/nonexistent/dir/tool")
        .output_string()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/dir/tool"), "{err}");
}

#[tokio::test]
async fn a_missing_working_directory_names_the_directory() {
    let err = Command::new("ls")
        .current_dir("/nonexistent/pk-cwd")
        .run()
        .await
        .unwrap_err();
    match &err {
        Error::BadDirectory { program, dir, .. } => {
            assert_eq!(program, "ls");
            assert_eq!(dir, std::path::Path::new("/nonexistent/pk-cwd"));
        }
        other => panic!("expected BadDirectory, got {other:?}"),
    }
    assert!(err.to_string().contains("/nonexistent/pk-cwd"), "{err}");
    let dir = common::scratch();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let err = Command::new("ls")
        .current_dir(&file)
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadDirectory { .. }), "{err:?}");
}

#[tokio::test]
async fn a_non_executable_file_is_permission_denied() {
    let dir = common::scratch();
    let script = dir.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Command::new(&script).run().await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
    assert!(err.to_string().contains("script.sh"), "{err}");
    let err = Command::new(dir.path()).run().await.unwrap_err();
    assert!(
        matches!(err, Error::PermissionDenied { .. } | Error::NotFound { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_script_with_a_missing_interpreter_is_a_typed_spawn_error() {
    let dir = common::scratch();
    let script = dir.path().join("broken.sh");
    // Written by another process: a file this test process had open for
    // writing could be inherited by a child another test forks at that
    // moment, and executing it would then fail with ETXTBSY.
    let wrote = std::process::Command::new("sh")
        .args([
            "-c",
            "printf '#!/nonexistent/interpreter\\necho hi\\n' > \"$1\" && chmod 755 \"$1\"",
            "sh",
        ])
        .arg(&script)
        .status()
        .expect("write the script");
    assert!(wrote.success());
    let err = Command::new(&script).run().await.unwrap_err();
    // The script exists: what is missing is its interpreter, and the error
    // says so rather than "not found; check the name and PATH".
    assert!(matches!(err, Error::Spawn { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("broken.sh") && text.contains("/nonexistent/interpreter"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_input_errors_leave_no_child_or_fd_behind() {
    let before = common::fd_count();
    for _ in 0..50 {
        let _ = Command::new("pk-no-such-program-anywhere").run().await;
        let _ = Command::new("ls")
            .current_dir("/nonexistent/pk-cwd")
            .run()
            .await;
        let _ = Command::new("echo").arg("a\0b").run().await;
    }
    let after = common::fd_count();
    assert!(after <= before + 2, "fds grew from {before} to {after}");
}

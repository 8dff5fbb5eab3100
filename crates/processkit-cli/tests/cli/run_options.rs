//! Options of `run` that shape the command: cwd, env, credentials, and the resource report.

use super::*;

#[test]
fn cwd_env_and_inherit_env_reach_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path().canonicalize().unwrap();
    let out = pk()
        .env("PK_CLI_KEEP", "kept")
        .env("PK_CLI_DROP", "dropped")
        .arg("run")
        .arg("--cwd")
        .arg(&here)
        .args([
            "--env",
            "PK_CLI_SET=a=b",
            "--inherit-env",
            "PK_CLI_KEEP",
            "--",
        ])
        .args([
            "/bin/sh",
            "-c",
            "pwd; echo \"$PK_CLI_SET\"; echo \"${PK_CLI_KEEP-unset}\"; \
             echo \"${PK_CLI_DROP-unset}\"; echo \"${HOME-unset}\"",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [here.to_str().unwrap(), "a=b", "kept", "unset", "unset"],
        "{text}"
    );

    // Without --inherit-env the whole environment passes, plus --env.
    let out = pk()
        .env("PK_CLI_KEEP", "kept")
        .args(["run", "--env", "PK_CLI_SET=1", "--"])
        .args(["/bin/sh", "-c", "echo \"$PK_CLI_KEEP $PK_CLI_SET\""])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "kept 1");

    // A directory that does not exist: one line naming it, 125, nothing run.
    let missing = here.join("no-such-dir");
    let marker = here.join("ran");
    let out = pk()
        .arg("run")
        .arg("--cwd")
        .arg(&missing)
        .args(["--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no-such-dir"), "{err}");
    assert!(!marker.exists());
}

#[test]
fn uid_and_gid_set_the_commands_credentials() {
    let me = rustix::process::geteuid().as_raw();
    if me == 0 {
        let out = pk()
            .args(["run", "--uid", "65534", "--gid", "65533", "--"])
            .args(["/bin/sh", "-c", "id -u; id -g"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "65534\n65533\n");
    } else {
        // Not root: the own ids are accepted, another user's are refused
        // with a clear error that names the program.
        let gid = rustix::process::getegid().as_raw();
        let out = pk()
            .args(["run", "--uid", &me.to_string(), "--gid", &gid.to_string()])
            .args(["--", "/bin/sh", "-c", "id -u"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), me.to_string());
        let out = pk()
            .args(["run", "--uid", "0", "--", "/bin/true"])
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert!(
            matches!(out.status.code(), Some(125 | 126)),
            "{:?}: {err}",
            out.status
        );
        assert!(err.contains("true"), "{err}");
    }
}

#[test]
fn report_measures_cpu_memory_and_processes() {
    // About 30 MB held by the shell for half a second (the sampler looks
    // every 50 ms), a busy loop for CPU, and a pipeline for processes.
    let script = "i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done; \
                  x=$(head -c 30000000 /dev/zero | tr '\\0' a); sleep 0.5; echo ${#x}";
    let out = pk()
        .args(["run", "--report", "--json", "-", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let (printed, json) = text.split_once('\n').unwrap();
    assert_eq!(printed, "30000000");
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    validate(RUN_SCHEMA, &doc);
    let cpu = doc["cpu"]["user_ms"].as_f64().unwrap() + doc["cpu"]["system_ms"].as_f64().unwrap();
    assert!(cpu >= 20.0, "the busy loop's CPU was not counted: {doc:#}");
    assert!(doc["peak_processes"].as_u64().unwrap() >= 2, "{doc:#}");
    let err = stderr_of(&out);
    assert!(
        err.contains("cpu user") && !err.contains("cpu user unknown"),
        "{err}"
    );
    if processkit::Mechanism::current() == processkit::Mechanism::ProcessGroup {
        // Documented: a process group keeps no memory account.
        assert!(doc["peak_memory_bytes"].is_null(), "{doc:#}");
    } else {
        let peak = doc["peak_memory_bytes"].as_u64().unwrap();
        assert!(
            peak >= 30_000_000,
            "peak memory {peak} < what the shell held"
        );
        assert!(peak < 1 << 31, "peak memory {peak} is implausible");
    }
}

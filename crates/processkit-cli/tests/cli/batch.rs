//! `batch`: concurrency cap, failures, output blocks, output dir and timeouts.

use super::*;

#[test]
fn batch_runs_at_most_j_at_once_and_reports_every_failure() {
    let dir = tempfile::tempdir().unwrap();
    let running = dir.path().join("running");
    std::fs::create_dir(&running).unwrap();
    let counts = dir.path().join("counts");
    let mut text = String::from("# fifty commands, every fifth fails\n\n");
    for i in 1..=50 {
        let fail = if i % 5 == 0 { "exit 1" } else { "exit 0" };
        text.push_str(&format!(
            "sh -c 'touch {r}/$$; ls {r} | wc -l >> {c}; sleep 0.05; rm {r}/$$; {fail}'\n",
            r = running.display(),
            c = counts.display()
        ));
    }
    let file = dir.path().join("batch.txt");
    std::fs::write(&file, text).unwrap();
    let json = dir.path().join("batch.json");
    let out = pk()
        .args(["batch", "-j", "4", "--json"])
        .arg(&json)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let counts: Vec<u32> = std::fs::read_to_string(&counts)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 50);
    let max = *counts.iter().max().unwrap();
    assert!(max <= 4, "{max} commands ran at once with -j 4");
    assert!(max >= 2, "the batch never ran two commands at once");
    let err = stderr_of(&out);
    for i in (5..=50).step_by(5) {
        let line = i + 2; // two header lines
        assert!(
            err.contains(&format!("FAILED, line {line}:")),
            "line {line} not reported: {err}"
        );
    }
    assert_eq!(err.matches("FAILED").count(), 10, "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    validate(BATCH_SCHEMA, &doc);
    assert_eq!(doc["failed"], 10);
    assert_eq!(doc["succeeded"], 40);
    assert_eq!(doc["commands"].as_array().unwrap().len(), 50);
}

#[test]
fn batch_output_blocks_never_interleave() {
    let mut text = String::new();
    for i in 0..12 {
        text.push_str(&format!(
            "sh -c 'for k in 1 2 3 4 5 6 7 8 9 10; do echo {i}:$k; echo err{i}:$k >&2; sleep 0.01; done'\n"
        ));
    }
    let out = pk()
        .args(["batch", "-j", "6", "-"])
        .write_stdin(text)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let ids: Vec<&str> = stdout
        .lines()
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(ids.len(), 120);
    for block in ids.chunks(10) {
        assert!(
            block.iter().all(|id| *id == block[0]),
            "interleaved: {stdout}"
        );
    }
    let stderr = stderr_of(&out);
    let errs: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("err"))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(errs.len(), 120);
    for block in errs.chunks(10) {
        assert!(
            block.iter().all(|id| *id == block[0]),
            "interleaved: {stderr}"
        );
    }
}

#[test]
fn batch_output_dir_and_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let out = pk()
        .args(["batch", "--timeout", "300ms", "--output-dir"])
        .arg(&outdir)
        .arg("-")
        .write_stdin("echo hello\nsleep 30\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(outdir.join("1.out")).unwrap(),
        "hello\n"
    );
    assert!(outdir.join("2.err").exists());
    assert!(stderr_of(&out).contains("timed out"), "{}", stderr_of(&out));
}

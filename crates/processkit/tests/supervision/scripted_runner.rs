use super::*;
use processkit::{ScriptedOutcome, ScriptedRunner};

#[tokio::test(start_paused = true)]
async fn a_scripted_runner_drives_supervision_without_processes() {
    let runner = ScriptedRunner::new()
        .on(["my-server", "--port", "8080"], ScriptedOutcome::exit(1))
        .on(["my-server", "--port", "8080"], ScriptedOutcome::killed(9))
        .on(
            ["my-server", "--port", "8080"],
            ScriptedOutcome::success().stdout("bye\n"),
        );
    let started = Instant::now();
    let outcome = Supervisor::new(Command::new("my-server").args(["--port", "8080"]))
        .backoff(Duration::from_secs(1), 2.0)
        .jitter(false)
        .with_runner(&runner)
        .run()
        .await
        .unwrap();
    assert_eq!(
        (outcome.restarts, outcome.failures, outcome.stopped),
        (2, 2, StopReason::CleanExit)
    );
    assert_eq!(
        outcome.last.map(|r| r.stdout().clone()).as_deref(),
        Some("bye\n")
    );
    assert_eq!(runner.calls().len(), 3);
    assert!(runner.unused().is_empty(), "{:?}", runner.unused());
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(3),
        "1 s + 2 s of backoff, on the paused clock"
    );
}

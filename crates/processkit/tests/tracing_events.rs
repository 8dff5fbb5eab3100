//! Lifecycle events under the `tracing` feature: spawn, exit, timeout,
//! retry, teardown, restart, storm and cancel events appear, name the
//! program, and never carry an argument or an environment value.

#![cfg(all(unix, feature = "tracing"))]

mod common;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use processkit::{Command, ProcessGroup, RetryPolicy, ScriptedOutcome, ScriptedRunner, Supervisor};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Text that must never show up in an event: it is passed only as an
/// argument or as an environment value.
const SECRET_ARG: &str = "argv-secret-9d1b7c";
const SECRET_ENV: &str = "env-secret-51e0aa";

/// One captured event or span: its target and every field, rendered.
#[derive(Debug, Clone)]
struct Captured {
    target: String,
    fields: Vec<(String, String)>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn message(&self) -> &str {
        self.field("message").unwrap_or("")
    }
}

struct FieldCollector<'a>(&'a mut Vec<(String, String)>);

impl Visit for FieldCollector<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

/// A subscriber that keeps every event and span, with all field values.
#[derive(Clone, Default)]
struct Collector {
    seen: Arc<Mutex<Vec<Captured>>>,
    next_id: Arc<AtomicU64>,
}

impl Collector {
    fn push(&self, target: &str, fields: Vec<(String, String)>) {
        self.seen.lock().unwrap().push(Captured {
            target: target.to_owned(),
            fields,
        });
    }

    fn events(&self) -> Vec<Captured> {
        self.seen.lock().unwrap().clone()
    }

    fn with_message(&self, message: &str) -> Vec<Captured> {
        self.events()
            .into_iter()
            .filter(|e| e.target == "processkit" && e.message() == message)
            .collect()
    }

    /// Fails if any captured value carries a secret.
    fn assert_no_secrets(&self) {
        for e in self.events() {
            for (k, v) in &e.fields {
                assert!(
                    !v.contains(SECRET_ARG) && !v.contains(SECRET_ENV),
                    "field `{k}` of a `{}` event leaks argv/env: {v}",
                    e.target
                );
            }
        }
    }
}

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = vec![("span".to_owned(), span.metadata().name().to_owned())];
        span.record(&mut FieldCollector(&mut fields));
        self.push(span.metadata().target(), fields);
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut fields = vec![("span".to_owned(), "record".to_owned())];
        values.record(&mut FieldCollector(&mut fields));
        self.push("span-record", fields);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Vec::new();
        event.record(&mut FieldCollector(&mut fields));
        self.push(event.metadata().target(), fields);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Installs a collector for this thread (the tests use current-thread runtimes).
fn collect() -> (Collector, tracing::subscriber::DefaultGuard) {
    let c = Collector::default();
    let guard = tracing::subscriber::set_default(c.clone());
    (c, guard)
}

fn secret_script(body: &str) -> Command {
    Command::new("sh")
        .args(["-c", &format!("{body} # {SECRET_ARG}"), SECRET_ARG])
        .env("DEPLOY_TOKEN", SECRET_ENV)
}

#[tokio::test(flavor = "current_thread")]
async fn spawn_and_exit_events_name_the_program_but_never_argv_or_env() {
    let (events, _guard) = collect();
    let r = secret_script("echo \"$DEPLOY_TOKEN\" \"$0\"")
        .output_string()
        .await
        .unwrap();
    // The child really saw both secrets: they were in play.
    assert!(r.stdout().contains(SECRET_ENV) && r.stdout().contains(SECRET_ARG));

    let spawned = events.with_message("spawned");
    assert_eq!(spawned.len(), 1, "{:?}", events.events());
    assert_eq!(spawned[0].field("program"), Some("sh"));
    assert!(
        spawned[0]
            .field("pid")
            .is_some_and(|p| p.parse::<u32>().is_ok()),
        "{:?}",
        spawned[0]
    );
    assert!(spawned[0].field("mechanism").is_some());

    let exited = events.with_message("exited");
    assert_eq!(exited.len(), 1, "{:?}", events.events());
    assert_eq!(exited[0].field("program"), Some("sh"));
    assert_eq!(exited[0].field("code"), Some("0"));
    assert!(exited[0].field("elapsed_ms").is_some());
    events.assert_no_secrets();
}

#[tokio::test(flavor = "current_thread")]
async fn a_timeout_emits_a_timed_out_event_with_the_deadline() {
    let (events, _guard) = collect();
    let r = secret_script("sleep 30")
        .timeout(Duration::from_millis(150))
        .output_string()
        .await
        .unwrap();
    assert!(r.timed_out());
    let timed_out = events.with_message("timed out; tree killed");
    assert_eq!(timed_out.len(), 1, "{:?}", events.events());
    assert_eq!(timed_out[0].field("program"), Some("sh"));
    assert_eq!(timed_out[0].field("timeout_ms"), Some("150"));
    let exited = events.with_message("exited");
    assert_eq!(exited.len(), 1);
    assert_eq!(
        exited[0].field("code"),
        None,
        "a killed run has no code: {:?}",
        exited[0]
    );
    events.assert_no_secrets();
}

#[tokio::test(flavor = "current_thread")]
async fn retries_emit_one_event_per_extra_attempt() {
    let (events, _guard) = collect();
    let cmd = secret_script("exit 1").retry(
        RetryPolicy::new(3)
            .backoff(Duration::from_millis(1), 1.0)
            .jitter(false),
    );
    let r = cmd.output_string().await.unwrap();
    assert_eq!(r.code(), Some(1));
    let retries = events.with_message("retrying");
    assert_eq!(retries.len(), 2, "{:?}", events.events());
    assert!(retries.iter().all(|e| e.field("program") == Some("sh")));
    assert_eq!(events.with_message("spawned").len(), 3);
    events.assert_no_secrets();
}

#[tokio::test(flavor = "current_thread")]
async fn group_teardown_emits_a_teardown_event() {
    let (events, _guard) = collect();
    let group = ProcessGroup::new().unwrap();
    let run = group.start(&secret_script("sleep 30")).await.unwrap();
    let pid = run.pid().unwrap();
    group.kill().unwrap();
    common::assert_all_gone(&[pid], Duration::from_secs(5), "group member after kill");
    let teardown = events.with_message("teardown");
    assert!(
        teardown.iter().any(|e| e.field("what") == Some("kill")),
        "{:?}",
        events.events()
    );
    assert!(teardown.iter().all(|e| e.field("mechanism").is_some()));
    events.assert_no_secrets();
}

#[tokio::test(flavor = "current_thread")]
async fn pipeline_stages_emit_spawn_events_without_argv() {
    let (events, _guard) = collect();
    let out = Command::new("echo")
        .args([SECRET_ARG, "b"])
        .pipe(
            Command::new("tr")
                .args(["a-z", "A-Z"])
                .env("STAGE_SECRET", SECRET_ENV),
        )
        .output_string()
        .await
        .unwrap();
    assert!(out.stdout().contains(&SECRET_ARG.to_uppercase()));
    let programs: Vec<String> = events
        .with_message("spawned")
        .iter()
        .filter_map(|e| e.field("program").map(str::to_owned))
        .collect();
    assert_eq!(programs, ["echo", "tr"]);
    events.assert_no_secrets();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn supervision_emits_restart_and_storm_events() {
    let (events, _guard) = collect();
    let runner = ScriptedRunner::new().otherwise(ScriptedOutcome::exit(1).stderr(SECRET_ARG));
    let outcome = Supervisor::new(secret_script("exit 1"))
        .max_restarts(4)
        .backoff(Duration::from_millis(10), 1.0)
        .jitter(false)
        .storm_pause(Duration::from_secs(60))
        .failure_threshold(1.5)
        .with_runner(&runner)
        .run()
        .await
        .unwrap();
    assert_eq!(outcome.restarts, 4);
    let restarts = events.with_message("restarting");
    assert_eq!(restarts.len(), 4, "{:?}", events.events());
    assert!(restarts.iter().all(|e| e.field("program") == Some("sh")));
    let storms = events.with_message("failure storm; pausing restarts");
    assert!(!storms.is_empty(), "{:?}", events.events());
    assert_eq!(storms[0].field("pause_ms"), Some("60000"));
    // Scripted stand-ins report their exits too, without a pid.
    let exited = events.with_message("exited");
    assert_eq!(exited.len(), 5);
    assert!(exited.iter().all(|e| e.field("pid").is_none()));
    events.assert_no_secrets();
}

#[cfg(feature = "cancellation")]
#[tokio::test(flavor = "current_thread")]
async fn a_cancellation_emits_a_cancelled_event() {
    let (events, _guard) = collect();
    let token = processkit::CancellationToken::new();
    let mut run = secret_script("sleep 30")
        .cancel_on(token.clone())
        .start()
        .await
        .unwrap();
    let pid = run.pid().unwrap();
    token.cancel();
    assert!(matches!(
        run.wait().await,
        Err(processkit::Error::Cancelled { .. })
    ));
    common::assert_all_gone(&[pid], Duration::from_secs(5), "cancelled child");
    let cancelled = events.with_message("cancelled; tree killed");
    assert_eq!(cancelled.len(), 1, "{:?}", events.events());
    assert_eq!(cancelled[0].field("program"), Some("sh"));
    events.assert_no_secrets();
}

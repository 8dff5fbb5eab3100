//! Observability: `ShutdownReport`, `serde` serialization of the report
//! types (never output, argv or environment), and `metrics` counters.
#![cfg(unix)]

mod common;

use std::time::Duration;

use processkit::{Command, ProcessGroup, ProcessGroupOptions};

#[tokio::test]
async fn shutdown_reports_who_got_the_signal_and_who_needed_kill() {
    let dir = common::scratch();
    let pidfile = dir.path().join("pids");
    let grace = Duration::from_millis(400);
    let group = ProcessGroup::with_options(ProcessGroupOptions::default().grace(grace)).unwrap();
    // Two processes that exit on SIGTERM, and a tree of two that ignores it.
    let _a = group.start(&Command::new("sleep").arg("30")).await.unwrap();
    let _b = group
        .start(&Command::new("sh").args([
            "-c",
            &format!(
                "trap '' TERM; sleep 1000 & echo $! >> {p}; echo $$ >> {p}; wait",
                p = pidfile.display()
            ),
        ]))
        .await
        .unwrap();
    let pids = common::wait_for_pids_within(&pidfile, 2, Duration::from_secs(10)).await;
    let report = group.shutdown().await.unwrap();
    assert!(report.signalled >= 3, "{report:?}");
    assert_eq!(report.killed, 2, "{report:?}");
    assert!(report.duration >= grace, "{report:?}");
    common::assert_gone_within(&pids, Duration::from_secs(5), "shut-down tree").await;

    let quiet = ProcessGroup::new().unwrap();
    let _c = quiet.start(&Command::new("sleep").arg("30")).await.unwrap();
    let report = quiet.shutdown().await.unwrap();
    assert_eq!((report.signalled, report.killed), (1, 0), "{report:?}");
}

#[cfg(feature = "serde")]
#[tokio::test]
async fn reports_serialize_without_output_argv_or_environment() {
    use processkit::{RestartPolicy, Supervisor};
    let cmd = Command::new("sh")
        .args([
            "-c",
            "echo secret-output; echo secret-error >&2; exit 3",
            "secret-arg",
        ])
        .env("SECRET_VAR", "secret-value");
    let r = cmd.output_string().await.unwrap();
    let json = serde_json::to_string(&r.report()).unwrap();
    assert!(json.contains("\"program\":\"sh\""), "{json}");
    assert!(json.contains("\"code\":3"), "{json}");
    assert!(!json.contains("secret"), "{json}");

    let outcome = Supervisor::new(cmd)
        .restart(RestartPolicy::Never)
        .run()
        .await
        .unwrap();
    let json = serde_json::to_string(&outcome).unwrap();
    assert!(json.contains("\"stopped\":\"PolicyNever\""), "{json}");
    assert!(json.contains("\"timed_out\":false"), "{json}");
    assert!(!json.contains("secret"), "{json}");

    let group = ProcessGroup::new().unwrap();
    let json = serde_json::to_string(&group.shutdown().await.unwrap()).unwrap();
    assert!(json.contains("\"killed\":0"), "{json}");
    #[cfg(feature = "stats")]
    {
        let run = Command::new("true").start().await.unwrap();
        let profile = run.profile(Duration::from_millis(5)).await.unwrap();
        let json = serde_json::to_string(&profile).unwrap();
        assert!(json.contains("\"exit_code\":0"), "{json}");
    }
    let json = serde_json::to_string(&processkit::Mechanism::current()).unwrap();
    assert!(json.starts_with('"'), "{json}");
}

#[cfg(feature = "metrics")]
mod metrics_feature {
    use super::*;
    use metrics::{
        Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    };
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    type Store = Arc<Mutex<BTreeMap<String, u64>>>;

    fn label(key: &Key) -> String {
        let mut s = key.name().to_owned();
        for l in key.labels() {
            s.push_str(&format!(",{}={}", l.key(), l.value()));
        }
        s
    }

    struct Count(Store, String);
    impl metrics::CounterFn for Count {
        fn increment(&self, v: u64) {
            *self.0.lock().unwrap().entry(self.1.clone()).or_default() += v;
        }
        fn absolute(&self, v: u64) {
            self.0.lock().unwrap().insert(self.1.clone(), v);
        }
    }
    impl metrics::HistogramFn for Count {
        fn record(&self, _: f64) {
            *self.0.lock().unwrap().entry(self.1.clone()).or_default() += 1;
        }
    }

    struct Rec(Store);
    impl Recorder for Rec {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::new(Count(self.0.clone(), label(key))))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(Arc::new(Count(self.0.clone(), label(key))))
        }
    }

    #[test]
    fn runs_spawns_exits_timeouts_and_retries_are_counted() {
        let store: Store = Arc::default();
        let rec = Rec(store.clone());
        metrics::with_local_recorder(&rec, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                Command::new("true").run().await.unwrap();
                Command::new("false").output_string().await.unwrap();
                let r = Command::new("sleep")
                    .arg("10")
                    .timeout(Duration::from_millis(50))
                    .output_string()
                    .await
                    .unwrap();
                assert!(r.timed_out());
                let _ = Command::new("false")
                    .retry(processkit::RetryPolicy::new(2).backoff(Duration::from_millis(1), 1.0))
                    .run()
                    .await;
            });
        });
        let m = store.lock().unwrap().clone();
        let get = |k: &str| m.get(k).copied().unwrap_or(0);
        let spawns: u64 = m
            .iter()
            .filter(|(k, _)| k.starts_with("processkit_spawns_total,mechanism="))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(spawns, 5, "{m:?}");
        assert_eq!(get("processkit_exits_total,outcome=success"), 1, "{m:?}");
        assert_eq!(get("processkit_exits_total,outcome=failure"), 3, "{m:?}");
        assert_eq!(get("processkit_exits_total,outcome=signal"), 1, "{m:?}");
        assert_eq!(get("processkit_timeouts_total,kind=wall_clock"), 1, "{m:?}");
        assert_eq!(get("processkit_retries_total"), 1, "{m:?}");
        assert_eq!(get("processkit_run_duration_seconds"), 5, "{m:?}");
    }
}

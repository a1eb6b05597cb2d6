//! The tower middleware passes the same fault-mode tests as the extension, in-process: a
//! handler that records that it ran, wrapped by [`FaultLayer`] around an engine with the
//! config injected, a fixed seed and a private temp directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use faultline_layer_engine::{Cadence, Engine, LiveConfig, MemorySource, SystemEngineClock};
use faultline_layer_middleware::FaultLayer;
use lambda_runtime::{service_fn, Context, Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use tower_layer::Layer;
use tower_service::Service;

static SEQ: AtomicUsize = AtomicUsize::new(0);

struct Fixture {
    layer: FaultLayer,
    ran: Arc<AtomicUsize>,
    dir: PathBuf,
    /// The config and kill switch the engine reads; the test may change them.
    source: MemorySource,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(config: &str) -> Fixture {
    fixture_with(config, MINUTE, Duration::from_secs(5))
}

/// A fixture whose engine re-reads its source every `active` while a fault is active and
/// every `idle` otherwise.
fn fixture_with(config: &str, idle: Duration, active: Duration) -> Fixture {
    let dir = std::env::temp_dir().join(format!(
        "faultline-mw-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let source = MemorySource::armed(Some(config));
    let live = LiveConfig::new(
        Box::new(source.clone()),
        Cadence {
            idle,
            active,
            first_wait: Duration::from_secs(1),
        },
    );
    let engine = Engine::new(live, Arc::new(SystemEngineClock), 20261123, dir.clone());
    Fixture {
        layer: FaultLayer::new(Arc::new(engine)),
        ran: Arc::new(AtomicUsize::new(0)),
        dir,
        source,
    }
}

impl Fixture {
    /// Invokes the wrapped handler (echo) with `event` and a deadline `deadline_in` from now.
    async fn call(&self, event: Value, deadline_in: Duration) -> Result<Value, Diagnostic> {
        let ran = self.ran.clone();
        let mut svc = self.layer.layer(service_fn(move |ev: LambdaEvent<Value>| {
            let ran = ran.clone();
            async move {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Diagnostic>(json!({"statusCode": 200, "body": ev.payload.to_string()}))
            }
        }));
        let mut ctx = Context::default();
        ctx.deadline = (SystemTime::now() + deadline_in)
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
        svc.call(LambdaEvent::new(event, ctx)).await
    }

    fn ran(&self) -> usize {
        self.ran.load(Ordering::SeqCst)
    }
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn latency_is_added_within_the_configured_bounds() {
    let f = fixture(r#"{"latency": {"enabled": true, "min_latency": 100, "max_latency": 200}}"#);
    for _ in 0..3 {
        let t = Instant::now();
        f.call(json!({}), MINUTE).await.unwrap();
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took <= Duration::from_millis(200 + 1_000),
            "{took:?}"
        );
    }
    assert_eq!(f.ran(), 3);
}

#[tokio::test]
async fn exception_fails_without_running_the_handler() {
    let f = fixture(r#"{"exception": {"enabled": true, "exception_msg": "mw boom"}}"#);
    let e = f.call(json!({}), MINUTE).await.unwrap_err();
    assert_eq!(e.error_type, "FaultlineInjectedException");
    assert_eq!(e.error_message, "mw boom");
    assert_eq!(f.ran(), 0);
}

#[tokio::test]
async fn statuscode_answers_without_running_the_handler() {
    let f = fixture(r#"{"isEnabled": true, "failureMode": "statuscode", "statusCode": 502}"#);
    let v = f.call(json!({}), MINUTE).await.unwrap();
    assert_eq!(v["statusCode"], 502);
    assert_eq!(f.ran(), 0);
}

impl Fixture {
    /// Bytes in `diskspace` files in the fixture's temp directory.
    fn diskspace_bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".faultline-diskspace-")
            })
            .map(|e| e.metadata().unwrap().len())
            .sum()
    }

    /// Polls until the `diskspace` files are gone, without invoking; panics at `within`.
    async fn diskspace_gone_within(&self, within: Duration, after: &str) {
        let deadline = Instant::now() + within;
        while self.diskspace_bytes() > 0 {
            assert!(
                Instant::now() < deadline,
                "diskspace files still there {within:?} after {after}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn diskspace_grows_tmp_usage_by_the_configured_amount() {
    let f = fixture(r#"{"diskspace": {"enabled": true, "disk_space": 2}}"#);
    f.call(json!({}), MINUTE).await.unwrap();
    assert_eq!(f.diskspace_bytes(), 2 << 20);
    assert_eq!(f.ran(), 1);
}

const DISK_1MB: &str = r#"{"diskspace": {"enabled": true, "disk_space": 1}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diskspace_files_are_removed_after_a_halt_a_clear_or_a_change() {
    // Idle as fast as active, so that re-arming after each step is seen at once too.
    let active = Duration::from_secs(1);
    let f = fixture_with(DISK_1MB, active, active);
    for (what, change) in [
        ("a halt", (Some(DISK_1MB), Some("false"))),
        ("a clear", (None, Some("true"))),
        (
            "diskspace disabled",
            (
                Some(
                    r#"{"diskspace": {"enabled": false}, "latency": {"enabled": true, "min_latency": 0, "max_latency": 0}}"#,
                ),
                Some("true"),
            ),
        ),
        (
            "a different size",
            (
                Some(r#"{"diskspace": {"enabled": true, "disk_space": 2}}"#),
                Some("true"),
            ),
        ),
    ] {
        // Armed with 1 MiB per invocation; wait for the engine to see it, then fill twice.
        f.source.set_config(Some(DISK_1MB));
        f.source.set_kill_switch(Some("true"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while f.diskspace_bytes() == 0 {
            assert!(
                Instant::now() < deadline,
                "diskspace never came back before {what}"
            );
            f.call(json!({}), MINUTE).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        f.call(json!({}), MINUTE).await.unwrap();
        assert_eq!(f.diskspace_bytes(), 2 << 20, "before {what}");
        f.source.set_config(change.0);
        f.source.set_kill_switch(change.1);
        // The refresh interval, plus slack for a loaded machine; no invocation needed.
        f.diskspace_gone_within(active + Duration::from_secs(5), what)
            .await;
        assert_eq!(f.layer.engine().diskspace_files(), 0, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diskspace_files_are_removed_when_the_config_expires() {
    let f = fixture(&format!(
        r#"{{"expires_at": "{}", "diskspace": {{"enabled": true, "disk_space": 1}}}}"#,
        utc_in(2)
    ));
    f.call(json!({}), MINUTE).await.unwrap();
    assert_eq!(f.diskspace_bytes(), 1 << 20);
    // Removed at the expiry by the engine's own timer: no read and no invocation needed.
    f.diskspace_gone_within(Duration::from_secs(2 + 5), "expires_at")
        .await;
    let v = f.call(json!({}), MINUTE).await.unwrap();
    assert_eq!(v["statusCode"], 200);
    assert_eq!(f.diskspace_bytes(), 0, "an expired fault wrote again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halt_stops_the_faults_within_the_active_refresh_interval() {
    let active = Duration::from_secs(1);
    let f = fixture_with(
        r#"{"exception": {"enabled": true, "exception_msg": "mw boom"}}"#,
        MINUTE,
        active,
    );
    assert!(f.call(json!({}), MINUTE).await.is_err());
    f.source.set_kill_switch(Some("false"));
    let halted = Instant::now();
    while f.call(json!({}), MINUTE).await.is_err() {
        assert!(
            halted.elapsed() < active + Duration::from_secs(5),
            "still injecting {:?} after the halt",
            halted.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(f.layer.engine().live().halts_logged(), 1);
}

#[tokio::test]
async fn a_missing_or_invalid_kill_switch_injects_nothing() {
    for switch in [None, Some("yes"), Some("false")] {
        let f = fixture(r#"{"exception": {"enabled": true}}"#);
        f.source.set_kill_switch(switch);
        for _ in 0..3 {
            f.call(json!({}), MINUTE).await.unwrap();
        }
        assert_eq!(f.ran(), 3, "{switch:?}");
        assert_eq!(f.layer.engine().live().halts_logged(), 1, "{switch:?}");
    }
}

/// `getent ahosts` resolves through getaddrinfo; run it with the built shim preloaded.
fn resolves(host: &str, deny_file: &std::path::Path) -> bool {
    std::process::Command::new("getent")
        .args(["ahosts", host])
        .env("LD_PRELOAD", faultline_deny_shim::SO_PATH)
        .env("FAULTLINE_DENYLIST_FILE", deny_file)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("getent runs")
        .success()
}

#[tokio::test]
async fn denylist_fails_resolution_of_matching_hosts_under_the_shim() {
    let f = fixture(
        r#"{"denylist": {"enabled": true, "deny_list": ["^localhost$"],
             "match": [{"path": "deny", "operator": "exists"}]}}"#,
    );
    let file = f.dir.join(".faultline-denylist");
    f.call(json!({}), MINUTE).await.unwrap();
    assert!(resolves("localhost", &file));
    f.call(json!({"deny": 1}), MINUTE).await.unwrap();
    assert!(!resolves("localhost", &file), "a denied host resolved");
    assert!(resolves("127.0.0.1", &file), "an allowed host failed");
    f.call(json!({}), MINUTE).await.unwrap();
    assert!(resolves("localhost", &file), "the deny list stayed on");
}

#[tokio::test]
async fn timeout_sleeps_until_the_buffer_before_the_deadline() {
    let f = fixture(r#"{"timeout": {"enabled": true, "timeout_buffer_ms": 1000}}"#);
    let t = Instant::now();
    f.call(json!({}), Duration::from_millis(1_600))
        .await
        .unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(550) && took < Duration::from_millis(1_600),
        "{took:?}"
    );
    assert_eq!(f.ran(), 1);
}

#[tokio::test]
async fn corruption_replaces_or_mangles_the_response() {
    let f = fixture(r#"{"corruption": {"enabled": true, "body": "{\"error\": \"corrupted\"}"}}"#);
    assert_eq!(
        f.call(json!({}), MINUTE).await.unwrap(),
        json!({"error": "corrupted"})
    );
    let f = fixture(r#"{"corruption": {"enabled": true}}"#);
    let v = f.call(json!({"k": "v"}), MINUTE).await.unwrap();
    assert_eq!(v["statusCode"], 200);
    assert_ne!(v["body"], json!({"k": "v"}).to_string());
    assert!(v["body"].as_str().unwrap().contains("faultline-corrupted"));
}

#[tokio::test]
async fn percentage_30_affects_30_percent_of_1000_invocations() {
    let f = fixture(r#"{"exception": {"enabled": true, "percentage": 30}}"#);
    let mut hit = 0;
    for _ in 0..1_000 {
        if f.call(json!({}), MINUTE).await.is_err() {
            hit += 1;
        }
    }
    assert!((250..=350).contains(&hit), "{hit}");
    assert_eq!(f.ran(), 1_000 - hit);
}

#[tokio::test]
async fn match_conditions_select_only_matching_events() {
    let f = fixture(
        r#"{"statuscode": {"enabled": true, "status_code": 418,
             "match": [{"path": "requestContext.stage", "operator": "startsWith", "value": "prod"}]}}"#,
    );
    let v = f
        .call(json!({"requestContext": {"stage": "prod-eu"}}), MINUTE)
        .await
        .unwrap();
    assert_eq!(v["statusCode"], 418);
    let v = f
        .call(json!({"requestContext": {"stage": "dev"}}), MINUTE)
        .await
        .unwrap();
    assert_eq!(v["statusCode"], 200);
    assert_eq!(f.ran(), 1);
}

#[tokio::test]
async fn expired_or_broken_config_fails_open() {
    for doc in [
        r#"{"expires_at": "2020-01-01T00:00:00Z", "exception": {"enabled": true}}"#,
        r#"{"exception": {"enabled": tru"#,
        r#"{"meteor": {"enabled": true}}"#,
        r#"{"denylist": {"enabled": true, "deny_list": ["(a|aa)+$"]}}"#,
    ] {
        let f = fixture(doc);
        for _ in 0..3 {
            f.call(json!({}), MINUTE).await.unwrap();
        }
        assert_eq!(f.ran(), 3, "{doc}");
        let logged = f.layer.engine().live().problems_logged();
        let expected = usize::from(!doc.contains("expires_at"));
        assert_eq!(logged, expected, "{doc}");
    }
}

/// RFC 3339 (UTC, whole seconds) for `secs` from now, from the system clock the engine reads.
fn utc_in(secs: u64) -> String {
    let out = std::process::Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("+{secs} seconds"),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .output()
        .expect("date runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

//! The tower middleware passes the same fault-mode tests as the extension, in-process: a
//! handler that records that it ran, wrapped by [`FaultLayer`] around an engine with the
//! config injected, a fixed seed and a private temp directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use faultline_layer_engine::{Engine, LiveConfig, StaticSource, SystemEngineClock};
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
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(config: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!(
        "faultline-mw-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let live = LiveConfig::new(
        Box::new(StaticSource(Some(config.to_owned()))),
        Duration::from_secs(60),
        Duration::from_secs(1),
    );
    let engine = Engine::new(live, Arc::new(SystemEngineClock), 20261123, dir.clone());
    Fixture {
        layer: FaultLayer::new(Arc::new(engine)),
        ran: Arc::new(AtomicUsize::new(0)),
        dir,
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

#[tokio::test]
async fn diskspace_grows_tmp_usage_by_the_configured_amount() {
    let f = fixture(r#"{"diskspace": {"enabled": true, "disk_space": 2}}"#);
    f.call(json!({}), MINUTE).await.unwrap();
    let used: u64 = std::fs::read_dir(&f.dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".faultline-diskspace-")
        })
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert_eq!(used, 2 << 20);
    assert_eq!(f.ran(), 1);
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

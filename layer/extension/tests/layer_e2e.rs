//! End to end: the cargo-lambda emulator → the built `faultline-extension` → a Rust
//! (lambda_runtime) or Python (awslambdaric) function started through the layer's wrappers,
//! with the fault config in a private moto's SSM. Each test measures the fault's effect.
//!
//! Long by design: eighteen scenarios share one Chain; a split would only add test binaries.

mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use common::{ext_env, free_port, marker, Chain, Func, Moto, Opts};
use serde_json::{json, Value};

const PARAM: &str = "/faultline/layer-test";
/// The kill switch's default name.
const KILL_SWITCH: &str = "/faultline/enabled";

/// A moto with `config` in the parameter, and a proxied chain for `func` reading it.
async fn chain_with(func: Func, config: &str, ttl: u64) -> Result<(Moto, Chain)> {
    chain_with_env(func, config, ttl, vec![]).await
}

async fn chain_with_env(
    func: Func,
    config: &str,
    ttl: u64,
    extra: Vec<(String, String)>,
) -> Result<(Moto, Chain)> {
    let moto = Moto::start().await?;
    moto.put_param(PARAM, config).await?;
    // The kill switch, as Terraform creates it: faults run.
    moto.put_param(KILL_SWITCH, "true").await?;
    let mut env = ext_env(moto.env(), PARAM, ttl);
    env.extend(extra);
    let chain = Chain::start(Opts::proxied(func, env)).await?;
    Ok((moto, chain))
}

const ALL_DISABLED: &str = r#"{
  "latency": {"enabled": false, "min_latency": 100, "max_latency": 400},
  "exception": {"enabled": false, "exception_msg": "Exception message!"},
  "statuscode": {"enabled": false, "status_code": 404},
  "diskspace": {"enabled": false, "disk_space": 100},
  "denylist": {"enabled": false, "deny_list": ["s3.*.amazonaws.com"]},
  "timeout": {"enabled": false, "timeout_buffer_ms": 500},
  "corruption": {"enabled": false, "body": "{\"error\": \"corrupted\"}"}
}"#;

/// Drops the per-invocation request id so two runs compare byte for byte.
fn without_request_id(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(mut v) => {
            if let Some(seen) = v.get_mut("seen").and_then(Value::as_object_mut) {
                let trace = seen.remove("xray_trace_id");
                assert!(
                    trace.is_none()
                        || trace
                            .as_ref()
                            .and_then(Value::as_str)
                            .is_some_and(|t| t.starts_with("Root=")),
                    "no trace id: {text}"
                );
                let id = seen.remove("request_id");
                assert!(
                    id.as_ref()
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.is_empty()),
                    "the function saw no request id: {text}"
                );
            }
            v.to_string()
        }
        Err(_) => text.to_owned(),
    }
}

async fn passthrough_is_byte_identical() -> Result<()> {
    let mut direct = Chain::start(Opts {
        func: Func::Rust,
        proxied: false,
        ext_env: vec![],
        ext_bin: None,
    })
    .await?;
    let (_moto, mut proxied) = chain_with(Func::Rust, ALL_DISABLED, 60).await?;
    let events = [
        r#"{"hello": "world", "n": [1, 2.5, null], "nested": {"ü": "☃"}}"#.to_owned(),
        r#"{"fail": "boom: the handler failed"}"#.to_owned(),
        "[]".to_owned(),
        "this is not json".to_owned(),
    ];
    for ev in &events {
        let (s1, t1) = direct.invoke_raw(ev).await?;
        let (s2, t2) = proxied.invoke_raw(ev).await?;
        assert_eq!(s1, s2, "status for {ev}: {t1} vs {t2}");
        assert_eq!(
            without_request_id(&t1),
            without_request_id(&t2),
            "body for {ev}"
        );
    }
    // The headers reached the function through the proxy: deadline, ARN, trace id.
    let (_, v) = proxied.invoke(&json!({"x": 1})).await?;
    let seen = &v["seen"];
    assert_eq!(seen["invoked_function_arn"], "function-arn", "{v}");
    assert_eq!(seen["deadline"], 600000, "{v}");
    assert!(proxied.alive());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_function_passes_through_unchanged_when_no_fault_is_configured() -> Result<()> {
    passthrough_is_byte_identical().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_function_passes_through_unchanged_when_no_fault_is_configured() -> Result<()> {
    // awslambdaric cannot run against the emulator directly (the emulator's events carry no
    // Content-Type and awslambdaric crashes without one; the proxy adds the header real Lambda
    // always sends), so the Python run is compared with what the handler computes, byte for
    // byte.
    let (_moto, mut c) = chain_with(Func::Python, ALL_DISABLED, 60).await?;
    let ev = r#"{"hello": "world", "n": [1, 2.5, null], "nested": {"\u00fc": "\u2603"}}"#;
    let (s, text) = c.invoke_raw(ev).await?;
    assert_eq!(s, 200, "{text}");
    let v: Value = serde_json::from_str(&text)?;
    let id = v["seen"]["request_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!id.is_empty(), "{text}");
    // json.dumps of the handler's dict, as awslambdaric serialises it.
    let expected = format!(
        r#"{{"event": {ev}, "seen": {{"request_id": "{id}", "invoked_function_arn": "function-arn"}}}}"#
    );
    assert_eq!(text, expected);
    let (_, v) = c
        .invoke(&json!({"fail": "boom: the handler failed"}))
        .await?;
    assert_eq!(v["errorType"], "TestFailure", "{v}");
    assert_eq!(v["errorMessage"], "boom: the handler failed", "{v}");
    assert!(c.alive());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_is_added_within_the_configured_bounds() -> Result<()> {
    let (_m, mut c) = chain_with(
        Func::Rust,
        r#"{"latency": {"enabled": true, "percentage": 100, "min_latency": 300, "max_latency": 500}}"#,
        60,
    )
    .await?;
    for i in 0..5 {
        let t = Instant::now();
        let (s, v) = c.invoke(&json!({"i": i})).await?;
        let took = t.elapsed();
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["event"]["i"], i, "the handler still ran: {v}");
        // The floor is exact; the ceiling leaves room for a loaded CI machine.
        assert!(
            took >= Duration::from_millis(300) && took <= Duration::from_millis(500 + 1_500),
            "invocation {i} took {took:?}, outside 300..=500 ms plus the emulator's overhead"
        );
    }
    // What the proxy drew, from its own log lines: every one within the bounds.
    let drawn: Vec<u64> = c
        .log_lines("\"latency_ms\"")
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["fields"]["latency_ms"].as_u64())
        .collect();
    assert_eq!(drawn.len(), 5, "{drawn:?}");
    assert!(drawn.iter().all(|ms| (300..=500).contains(ms)), "{drawn:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exception_fails_the_invocation_without_running_the_handler() -> Result<()> {
    let (_m, mut c) = chain_with(
        Func::Rust,
        r#"{"exception": {"enabled": true, "exception_msg": "injected by the test"}}"#,
        60,
    )
    .await?;
    let m = marker(&c, "ran");
    let (_, v) = c.invoke(&json!({"marker": m})).await?;
    assert_eq!(v["errorType"], "FaultlineInjectedException", "{v}");
    assert_eq!(v["errorMessage"], "injected by the test", "{v}");
    assert!(!m.exists(), "the handler ran although the fault skips it");
    // And again: the proxy fetched the next event itself and stays in the loop.
    let (_, v) = c.invoke(&json!({"marker": m})).await?;
    assert_eq!(v["errorType"], "FaultlineInjectedException", "{v}");
    assert!(!m.exists());
    assert!(c.alive());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuscode_answers_without_running_the_handler_legacy_format() -> Result<()> {
    // failure-lambda 0.x format.
    let (_m, mut c) = chain_with(
        Func::Rust,
        r#"{"isEnabled": true, "failureMode": "statuscode", "rate": 1, "statusCode": 503}"#,
        60,
    )
    .await?;
    let m = marker(&c, "ran");
    let (s, v) = c.invoke(&json!({"marker": m})).await?;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["statusCode"], 503, "{v}");
    assert!(
        v["body"].as_str().unwrap_or_default().contains("503"),
        "{v}"
    );
    assert!(!m.exists(), "the handler ran although the fault skips it");
    Ok(())
}

fn diskspace_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(".faultline-diskspace-")
                })
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diskspace_grows_tmp_usage_by_the_configured_amount() -> Result<()> {
    let (_m, mut c) = chain_with(
        Func::Rust,
        r#"{"diskspace": {"enabled": true, "disk_space": 3}}"#,
        60,
    )
    .await?;
    assert_eq!(diskspace_bytes(&c.dir), 0);
    let m = marker(&c, "ran");
    let (s, v) = c.invoke(&json!({"marker": m})).await?;
    assert_eq!(s, 200, "{v}");
    assert!(m.exists(), "diskspace does not skip the handler");
    assert_eq!(diskspace_bytes(&c.dir), 3 << 20);
    c.invoke(&json!({})).await?;
    assert_eq!(diskspace_bytes(&c.dir), 6 << 20);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denylist_fails_resolution_of_matching_hosts_in_the_python_function() -> Result<()> {
    let (_m, mut c) = chain_with(
        Func::Python,
        r#"{"denylist": {"enabled": true, "deny_list": ["^localhost$"],
             "match": [{"path": "deny", "operator": "exists"}]}}"#,
        60,
    )
    .await?;
    let hosts = json!(["localhost", "127.0.0.1"]);
    // Not selected: both resolve (the shim is loaded but the deny-list file is absent).
    let (_, v) = c.invoke(&json!({"resolve": hosts})).await?;
    assert_eq!(v["resolve"]["localhost"], "resolved", "{v}");
    assert_eq!(v["resolve"]["127.0.0.1"], "resolved", "{v}");
    // Selected: the matching host fails, the other still resolves.
    let (_, v) = c.invoke(&json!({"resolve": hosts, "deny": true})).await?;
    assert!(
        v["resolve"]["localhost"]
            .as_str()
            .unwrap_or_default()
            .starts_with("failed"),
        "{v}"
    );
    assert_eq!(v["resolve"]["127.0.0.1"], "resolved", "{v}");
    // And it switches off again.
    let (_, v) = c.invoke(&json!({"resolve": hosts})).await?;
    assert_eq!(v["resolve"]["localhost"], "resolved", "{v}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_sleeps_until_the_buffer_before_the_deadline() -> Result<()> {
    // The emulator's deadline is 600 s after the event arrives; a 598.5 s buffer wakes the
    // handler 1.5 s in.
    let (_m, mut c) = chain_with(
        Func::Rust,
        r#"{"timeout": {"enabled": true, "timeout_buffer_ms": 598500}}"#,
        60,
    )
    .await?;
    let m = marker(&c, "ran");
    let t = Instant::now();
    let (s, v) = c.invoke(&json!({"marker": m})).await?;
    let took = t.elapsed();
    assert_eq!(s, 200, "{v}");
    assert!(m.exists(), "timeout lets the handler run after the sleep");
    assert!(
        took >= Duration::from_millis(1_480),
        "woke before deadline - buffer: {took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "slept past deadline - buffer: {took:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corruption_mangles_or_replaces_the_response_body() -> Result<()> {
    let (fleet, mut c) = chain_with(Func::Rust, r#"{"corruption": {"enabled": true}}"#, 1).await?;
    let (s, text) = c.invoke_raw(r#"{"k": "v"}"#).await?;
    assert_eq!(s, 200);
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "mangled body still parses: {text}"
    );
    assert!(text.contains("faultline-corrupted"), "{text}");
    fleet
        .put_param(
            PARAM,
            r#"{"corruption": {"enabled": true, "body": "{\"error\": \"corrupted\"}"}}"#,
        )
        .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, text) = c.invoke_raw(r#"{"k": "v"}"#).await?;
        if text == r#"{"error": "corrupted"}"# {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replacement body never came: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percentage_30_affects_30_percent_of_1000_invocations() -> Result<()> {
    let (_m, mut c) = chain_with_env(
        Func::Rust,
        r#"{"exception": {"enabled": true, "percentage": 30}}"#,
        60,
        vec![("FAULTLINE_SEED".into(), "20261123".into())],
    )
    .await?;
    let mut hit = 0;
    for i in 0..1_000 {
        let (_, v) = c.invoke(&json!({"i": i})).await?;
        if v["errorType"] == "FaultlineInjectedException" {
            hit += 1;
        } else {
            assert_eq!(v["event"]["i"], i, "{v}");
        }
    }
    assert!((250..=350).contains(&hit), "{hit} of 1000 affected");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_conditions_select_only_matching_events() -> Result<()> {
    let (_m, mut c) = chain_with(
        Func::Rust,
        r#"{"statuscode": {"enabled": true, "status_code": 418, "match": [
              {"path": "requestContext.stage", "value": "prod"},
              {"path": "requestContext.http.path", "operator": "startsWith", "value": "/api"},
              {"path": "requestContext.http.method", "operator": "regex", "value": "^(GET|HEAD)$"}]}}"#,
        60,
    )
    .await?;
    let ev = |stage: &str, path: &str, method: &str| json!({"requestContext": {"stage": stage, "http": {"path": path, "method": method}}});
    let (_, v) = c.invoke(&ev("prod", "/api/orders", "GET")).await?;
    assert_eq!(v["statusCode"], 418, "{v}");
    for other in [
        ev("dev", "/api/orders", "GET"),
        ev("prod", "/web", "GET"),
        ev("prod", "/api/orders", "POST"),
        json!({}),
    ] {
        let (_, v) = c.invoke(&other).await?;
        assert_eq!(v["event"], other, "{v}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_changes_take_effect_after_the_ttl_without_a_cold_start() -> Result<()> {
    let (fleet, mut c) = chain_with(Func::Rust, ALL_DISABLED, 1).await?;
    let pids = (c.func.id(), c.ext.as_ref().and_then(|e| e.id()));
    let (_, v) = c.invoke(&json!({"a": 1})).await?;
    assert_eq!(v["event"]["a"], 1, "{v}");
    fleet
        .put_param(
            PARAM,
            r#"{"exception": {"enabled": true, "exception_msg": "now"}}"#,
        )
        .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = c.invoke(&json!({"a": 2})).await?;
        if v["errorMessage"] == "now" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new config never took effect: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(c.alive(), "a process restarted");
    assert_eq!(pids, (c.func.id(), c.ext.as_ref().and_then(|e| e.id())));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expires_at_in_the_past_disables_the_faults() -> Result<()> {
    let (_m, mut c) = chain_with(
        Func::Rust,
        r#"{"expires_at": "2020-01-01T00:00:00Z", "exception": {"enabled": true}}"#,
        60,
    )
    .await?;
    let m = marker(&c, "ran");
    let (s, v) = c.invoke(&json!({"marker": m})).await?;
    assert_eq!(s, 200, "{v}");
    assert!(m.exists());
    Ok(())
}

/// Five invocations run untouched (handler ran, echo answered) and the extension logged
/// exactly one fail-open line, although it re-read the config before each of them.
async fn fails_open_with_one_log_line(mut c: Chain) -> Result<()> {
    for i in 0..5 {
        let m = marker(&c, &format!("ran-{i}"));
        let (s, v) = c.invoke(&json!({"marker": m, "i": i})).await?;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["event"]["i"], i, "{v}");
        assert!(m.exists());
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    let lines = c.log_lines("fail open");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_fails_open_with_one_log_line() -> Result<()> {
    let (_m, c) = chain_with(Func::Rust, r#"{"latency": {"enabled": tru"#, 1).await?;
    fails_open_with_one_log_line(c).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_mode_fails_open_with_one_log_line() -> Result<()> {
    let (_m, c) = chain_with(Func::Rust, r#"{"meteor": {"enabled": true}}"#, 1).await?;
    fails_open_with_one_log_line(c).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regex_bomb_fails_open_with_one_log_line() -> Result<()> {
    let (_m, c) = chain_with(
        Func::Rust,
        r#"{"denylist": {"enabled": true, "deny_list": ["^(a+)+$"]}}"#,
        1,
    )
    .await?;
    fails_open_with_one_log_line(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_ssm_fails_open_with_one_log_line() -> Result<()> {
    // Nothing listens on this port: every fetch fails.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", dead.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("FAILURE_INJECTION_PARAM", PARAM),
        ("FAULTLINE_CACHE_TTL", "1"),
        ("FAULTLINE_FETCH_TIMEOUT_MS", "500"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let c = Chain::start(Opts::proxied(Func::Rust, env)).await?;
    fails_open_with_one_log_line(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_kill_switch_injects_nothing_with_one_log_line() -> Result<()> {
    // Fail safe, as the monkey: no kill switch means halted, whatever the config says.
    let moto = Moto::start().await?;
    moto.put_param(PARAM, r#"{"exception": {"enabled": true}}"#)
        .await?;
    let mut c = Chain::start(Opts::proxied(Func::Rust, ext_env(moto.env(), PARAM, 1))).await?;
    for i in 0..3 {
        let m = marker(&c, &format!("ran-{i}"));
        let (s, v) = c.invoke(&json!({"marker": m, "i": i})).await?;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["event"]["i"], i, "{v}");
        assert!(m.exists());
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    let lines = c.log_lines("kill switch: no faults injected");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    for what_to_do in [KILL_SWITCH, "does not exist", "faultline resume"] {
        assert!(lines[0].contains(what_to_do), "{}", lines[0]);
    }
    Ok(())
}

//! Issue 15, part 4: a drop-in for failure-lambda. Documents written the way failure-lambda's
//! users write them (the shapes of its README) are read as failure-lambda 1.x reads its own
//! (`src/config.ts`, `src/failures/*.ts`), and each test asserts what the per-invocation plan
//! then does: unknown keys ignored, an invalid flag skipped alone (naming the field),
//! failure-lambda's defaults for a bare `{"enabled": true}`, its regex syntax in deny lists
//! (run through the C library as the shim runs it), and integer percentages.

use std::time::Duration;

use chrono::{DateTime, Utc};
use faultline_layer_engine::config::{ConfigError, LayerFaultKind, SkipKind};
use faultline_layer_engine::plan::InvocationPlan;
use faultline_layer_engine::{Cadence, FaultConfig, LiveConfig, MemorySource};
use rand::{rngs::StdRng, SeedableRng};
use serde_json::{json, Value};

fn now() -> DateTime<Utc> {
    "2026-11-23T20:00:00Z".parse().unwrap()
}

/// The plans of `n` invocations of `event`, with a fixed seed.
fn plans(c: &FaultConfig, event: &Value, n: usize) -> Vec<InvocationPlan> {
    let mut rng = StdRng::seed_from_u64(15);
    (0..n).map(|_| c.plan(event, now(), &mut rng)).collect()
}

fn plan(c: &FaultConfig) -> InvocationPlan {
    plans(c, &json!({}), 1).remove(0)
}

fn skipped(c: &FaultConfig, kind: SkipKind) -> Vec<&str> {
    let mut v: Vec<&str> = c
        .skipped
        .iter()
        .filter(|s| s.kind == kind)
        .map(|s| s.field.as_str())
        .collect();
    v.sort();
    v
}

/// Whether glibc's `regexec` finds `ere` in `host`, compiled with the shim's flags
/// (`layer/shim/deny.c`: `REG_EXTENDED | REG_NOSUB | REG_ICASE`).
fn shim_denies(ere: &[String], host: &str) -> bool {
    let host = std::ffi::CString::new(host).unwrap();
    ere.iter().any(|p| {
        let pat = std::ffi::CString::new(p.as_str()).unwrap();
        // SAFETY: a zeroed regex_t is what regcomp fills; freed before returning.
        unsafe {
            let mut re: libc::regex_t = std::mem::zeroed();
            let flags = libc::REG_EXTENDED | libc::REG_NOSUB | libc::REG_ICASE;
            assert_eq!(libc::regcomp(&mut re, pat.as_ptr(), flags), 0, "{p:?}");
            let hit = libc::regexec(&re, host.as_ptr(), 0, std::ptr::null_mut(), 0) == 0;
            libc::regfree(&mut re);
            hit
        }
    })
}

/// Reads `doc` through a [`LiveConfig`] for `reads` refreshes; the config served and the
/// number of `fail open` lines logged.
async fn live(doc: &str, reads: usize) -> (std::sync::Arc<FaultConfig>, usize) {
    let l = LiveConfig::new(
        Box::new(MemorySource::armed(Some(doc))),
        Cadence {
            idle: Duration::from_secs(1),
            active: Duration::from_secs(1),
            first_wait: Duration::from_millis(200),
        },
    );
    let mut c = l.get().await;
    for _ in 0..reads {
        tokio::time::sleep(Duration::from_secs(2)).await;
        c = l.get().await;
    }
    assert!(l.fetches() >= reads);
    (c, l.problems_logged())
}

/// failure-lambda's README configuration, latency and exception switched on, plus keys it
/// does not know (a description, an owner, a mode of another tool).
const WITH_UNKNOWN_KEYS: &str = r#"{
  "description": "game day 3: payments",
  "owner": {"team": "payments", "oncall": "@alice"},
  "meteor": {"enabled": true},
  "latency": { "enabled": true, "percentage": 100, "min_latency": 100, "max_latency": 400 },
  "exception": { "enabled": true, "percentage": 100, "exception_msg": "Exception message!" },
  "statuscode": { "enabled": false, "percentage": 100, "status_code": 404 },
  "diskspace": { "enabled": false, "percentage": 100, "disk_space": 100 },
  "denylist": { "enabled": false, "percentage": 50, "deny_list": ["s3.*.amazonaws.com", "dynamodb.*.amazonaws.com"] },
  "timeout": { "enabled": false, "percentage": 100, "timeout_buffer_ms": 500 },
  "corruption": { "enabled": false, "percentage": 30, "body": "{\"error\": \"corrupted\"}" }
}"#;

#[test]
fn unknown_top_level_keys_are_ignored_and_the_flags_still_apply() {
    let c = FaultConfig::read(WITH_UNKNOWN_KEYS).unwrap();
    assert_eq!(c.mode_names(), ["latency", "exception"]);
    assert_eq!(
        skipped(&c, SkipKind::UnknownKey),
        ["description", "meteor", "owner"]
    );
    assert_eq!(c.skipped.len(), 3);
    for p in plans(&c, &json!({}), 200) {
        let l = p.latency.expect("latency at 100%");
        assert!((100..=400).contains(&l.as_millis()), "{l:?}");
        assert_eq!(p.exception.as_deref(), Some("Exception message!"));
        assert_eq!(p.statuscode, None);
        assert_eq!(p.denylist, None);
    }
    // The strict reading (`faultline layer set`) still names the key.
    assert!(matches!(
        FaultConfig::parse(WITH_UNKNOWN_KEYS),
        Err(ConfigError::UnknownMode(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn an_unknown_key_is_logged_once_not_once_per_refresh() {
    let (c, logged) = live(WITH_UNKNOWN_KEYS, 5).await;
    assert_eq!(c.mode_names(), ["latency", "exception"]);
    assert_eq!(
        logged, 3,
        "one line per ignored key, whatever the number of reads"
    );
}

/// Each invalid flag the way a failure-lambda user gets one wrong; exception and corruption
/// are valid.
const WITH_INVALID_FLAGS: &str = r#"{
  "latency": { "enabled": true, "percentage": 100, "min_latency": "100", "max_latency": 400 },
  "statuscode": { "enabled": true, "percentage": 100, "status_code": 999 },
  "diskspace": { "enabled": true, "percentage": 100, "disk_space": 20000 },
  "timeout": { "enabled": true, "timeout_buffer_ms": -5 },
  "denylist": { "enabled": true, "deny_list": "s3.*.amazonaws.com" },
  "exception": { "enabled": true, "percentage": 100, "exception_msg": "boom", "match": [
      { "path": "requestContext.stage", "value": "prod" }
  ] },
  "corruption": { "enabled": true, "percentage": 100, "body": "{\"error\": \"corrupted\"}",
    "match": [
      { "path": "requestContext.http.method", "value": "GET" },
      { "path": "requestContext.stage", "value": "prod" }
    ] }
}"#;

#[test]
fn an_invalid_flag_is_skipped_naming_the_field_and_the_valid_flags_still_apply() {
    let c = FaultConfig::read(WITH_INVALID_FLAGS).unwrap();
    assert_eq!(c.mode_names(), ["exception", "corruption"]);
    assert_eq!(
        skipped(&c, SkipKind::Flag),
        [
            "denylist.deny_list",
            "diskspace.disk_space",
            "latency.min_latency",
            "statuscode.status_code",
            "timeout.timeout_buffer_ms"
        ]
    );
    let prod_get = json!({"requestContext": {"stage": "prod", "http": {"method": "GET"}}});
    for p in plans(&c, &prod_get, 50) {
        assert_eq!(
            p,
            InvocationPlan {
                exception: Some("boom".into()),
                corruption: Some(Some(r#"{"error": "corrupted"}"#.into())),
                ..InvocationPlan::default()
            }
        );
    }
    let dev = json!({"requestContext": {"stage": "dev", "http": {"method": "GET"}}});
    assert!(plans(&c, &dev, 50).iter().all(InvocationPlan::is_empty));
    let e = FaultConfig::parse(WITH_INVALID_FLAGS).unwrap_err();
    assert!(matches!(e, ConfigError::Invalid { .. }), "{e}");
}

#[tokio::test(start_paused = true)]
async fn an_invalid_flag_is_logged_once_and_the_others_are_injected() {
    let (c, logged) = live(WITH_INVALID_FLAGS, 5).await;
    assert_eq!(c.mode_names(), ["exception", "corruption"]);
    assert_eq!(logged, 5, "one line per skipped flag");
}

#[test]
fn a_flag_of_the_wrong_shape_is_skipped_alone() {
    let c = FaultConfig::read(
        r#"{"latency": true, "exception": {"enabled": "true"}, "statuscode": {"enabled": true,
            "match": {"path": "a"}}, "diskspace": {"enabled": true, "disk_space": 5}}"#,
    )
    .unwrap();
    assert_eq!(
        skipped(&c, SkipKind::Flag),
        ["exception.enabled", "latency", "statuscode.match"]
    );
    assert_eq!(
        plan(&c),
        InvocationPlan {
            diskspace_mb: Some(5),
            ..InvocationPlan::default()
        }
    );
}

#[test]
fn a_bare_enabled_flag_takes_failure_lambdas_defaults() {
    // failure-lambda's src/failures/*.ts: `flag.min_latency ?? 0`, `flag.max_latency ?? 0`,
    // `exception_msg ?? "Injected exception"`, `status_code ?? 500`, `disk_space ?? 100`,
    // `timeout_buffer_ms ?? 0`, `deny_list ?? []`; corruption without `body` mangles.
    let c = FaultConfig::read(
        r#"{"latency": {"enabled": true}, "exception": {"enabled": true},
            "statuscode": {"enabled": true}, "diskspace": {"enabled": true},
            "denylist": {"enabled": true}, "timeout": {"enabled": true},
            "corruption": {"enabled": true}}"#,
    )
    .unwrap();
    assert!(c.skipped.is_empty(), "{:?}", c.skipped);
    for p in plans(&c, &json!({}), 100) {
        assert_eq!(
            p,
            InvocationPlan {
                latency: Some(Duration::ZERO),
                timeout_buffer: Some(Duration::ZERO),
                diskspace_mb: Some(100),
                denylist: None,
                statuscode: Some(500),
                exception: Some("Injected exception".into()),
                corruption: Some(None),
            }
        );
    }
    // A deny list without patterns denies nothing; it is no fault at all.
    for doc in [
        r#"{"denylist": {"enabled": true}}"#,
        r#"{"denylist": {"enabled": true, "deny_list": []}}"#,
    ] {
        let c = FaultConfig::read(doc).unwrap();
        assert!(c.is_empty() && c.skipped.is_empty(), "{doc}");
        assert!(plan(&c).is_empty(), "{doc}");
    }
}

#[test]
fn latency_bounds_default_as_in_failure_lambda() {
    // `Math.floor(min + Math.random() * Math.max(0, max - min))`.
    let only_min =
        FaultConfig::read(r#"{"latency": {"enabled": true, "min_latency": 250}}"#).unwrap();
    assert!(plans(&only_min, &json!({}), 50)
        .iter()
        .all(|p| p.latency == Some(Duration::from_millis(250))));
    let only_max =
        FaultConfig::read(r#"{"latency": {"enabled": true, "max_latency": 300}}"#).unwrap();
    let ms: Vec<u128> = plans(&only_max, &json!({}), 200)
        .iter()
        .map(|p| p.latency.unwrap().as_millis())
        .collect();
    assert!(ms.iter().all(|m| *m <= 300), "{ms:?}");
    assert!(
        ms.iter().any(|m| *m < 150) && ms.iter().any(|m| *m > 150),
        "{ms:?}"
    );
    // Fractions are accepted (floored), as failure-lambda accepts any non-negative number.
    let frac = FaultConfig::read(
        r#"{"latency": {"enabled": true, "min_latency": 100.7, "max_latency": 100.9}}"#,
    )
    .unwrap();
    assert_eq!(plan(&frac).latency, Some(Duration::from_millis(100)));
    // max below min is failure-lambda's `latency.max_latency` error.
    let c = FaultConfig::read(
        r#"{"latency": {"enabled": true, "min_latency": 500, "max_latency": 100}}"#,
    )
    .unwrap();
    assert!(c.is_empty());
    assert_eq!(skipped(&c, SkipKind::Flag), ["latency.max_latency"]);
}

#[test]
fn deny_patterns_in_failure_lambda_regex_syntax_deny_as_the_shim_runs_them() {
    let c = FaultConfig::read(
        r#"{"denylist": {"enabled": true, "percentage": 100, "deny_list": [
            "^api\\d+\\.example\\.com$",
            "(?:dynamodb|sqs)\\.[\\w-]+\\.amazonaws\\.com",
            "^(orders|payments)-\\w+\\.internal$",
            "^cache\\S*\\.local$"
        ]}}"#,
    )
    .unwrap();
    assert!(c.skipped.is_empty(), "{:?}", c.skipped);
    let ere = plan(&c).denylist.expect("denylist at 100%");
    assert_eq!(ere.len(), 4);
    for host in [
        "api1.example.com",
        "api42.example.com",
        "dynamodb.us-east-1.amazonaws.com",
        "sqs.eu-west-2.amazonaws.com",
        "payments-v2.internal",
        "cache-01.local",
    ] {
        assert!(
            shim_denies(&ere, host),
            "{host} should be denied by {ere:?}"
        );
    }
    for host in [
        "api.example.com",
        "apix.example.com",
        "s3.us-east-1.amazonaws.com",
        "billing-v2.internal",
        "payments-.internal",
        "example.org",
    ] {
        assert!(
            !shim_denies(&ere, host),
            "{host} should resolve despite {ere:?}"
        );
    }
}

#[test]
fn deny_patterns_up_to_failure_lambdas_length_limit() {
    // failure-lambda's MAX_REGEX_LENGTH is 512 (src/config.ts).
    let long = format!("^{}\\.example\\.com$", "a".repeat(512 - 16));
    assert_eq!(long.len(), 512);
    let c =
        FaultConfig::read(&json!({"denylist": {"enabled": true, "deny_list": [long]}}).to_string())
            .unwrap();
    let ere = plan(&c).denylist.expect("a 512-character pattern applies");
    assert!(shim_denies(
        &ere,
        &format!("{}.example.com", "a".repeat(496))
    ));
    let too_long = format!("{long}x");
    let c = FaultConfig::read(
        &json!({"denylist": {"enabled": true, "deny_list": ["^s3\\.", too_long]}}).to_string(),
    )
    .unwrap();
    assert!(c.is_empty(), "failure-lambda skips the whole flag");
    assert_eq!(skipped(&c, SkipKind::Flag), ["denylist.deny_list[1]"]);
}

#[test]
fn deny_patterns_that_backtrack_or_compile_slowly_are_refused_with_a_line() {
    // Refused by failure-lambda too (nested quantifiers): the flag is skipped, as it skips it.
    let c = FaultConfig::read(
        r#"{"denylist": {"enabled": true, "deny_list": ["^s3\\.", "^(a+)+$"]},
            "exception": {"enabled": true}}"#,
    )
    .unwrap();
    assert_eq!(c.mode_names(), ["exception"]);
    assert_eq!(skipped(&c, SkipKind::Flag), ["denylist.deny_list[1]"]);
    assert_eq!(plan(&c).denylist, None);

    // Accepted by failure-lambda, but a backtracking shape or a huge bound for the C library:
    // only that pattern is skipped, the others deny.
    let c = FaultConfig::read(
        r#"{"denylist": {"enabled": true, "deny_list": [
            "(a|ab)*c", "[a-z0-9-]{1,32767}", "\\bapi\\b", "^s3\\.[\\w-]+\\.amazonaws\\.com$"
        ]}}"#,
    )
    .unwrap();
    assert_eq!(
        skipped(&c, SkipKind::Pattern),
        [
            "denylist.deny_list[0]",
            "denylist.deny_list[1]",
            "denylist.deny_list[2]"
        ]
    );
    let ere = plan(&c).denylist.expect("the safe pattern applies");
    assert_eq!(ere, [r"^s3\.[A-Za-z0-9_-]+\.amazonaws\.com$"]);
    assert!(shim_denies(&ere, "s3.us-east-1.amazonaws.com"));
    assert!(!shim_denies(&ere, "abababc"));
    match &c.faults[0].kind {
        LayerFaultKind::Denylist { patterns, .. } => {
            assert_eq!(patterns, &[r"^s3\.[\w-]+\.amazonaws\.com$"])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn percentage_is_an_integer_from_0_to_100() {
    for bad in [r#"50.5"#, r#"150"#, r#"-1"#, r#""50""#, r#"true"#] {
        let doc = format!(
            r#"{{"latency": {{"enabled": true, "percentage": {bad}, "min_latency": 100, "max_latency": 100}},
                "exception": {{"enabled": true, "percentage": 100}}}}"#
        );
        let c = FaultConfig::read(&doc).unwrap();
        assert_eq!(c.mode_names(), ["exception"], "{bad}");
        assert_eq!(skipped(&c, SkipKind::Flag), ["latency.percentage"], "{bad}");
        assert!(
            plans(&c, &json!({}), 100)
                .iter()
                .all(|p| p.latency.is_none()),
            "{bad}"
        );
        let e = FaultConfig::parse(&doc).unwrap_err();
        assert!(
            matches!(&e, ConfigError::Invalid { field, .. } if field == "latency.percentage"),
            "{bad}: {e:?}"
        );
    }
    // 50.0 is an integer in JavaScript (`Number.isInteger(50.0)`); 0 never fires.
    let c = FaultConfig::read(
        r#"{"latency": {"enabled": true, "percentage": 50.0, "min_latency": 10, "max_latency": 10},
            "exception": {"enabled": true, "percentage": 0}}"#,
    )
    .unwrap();
    assert!(c.skipped.is_empty());
    let ps = plans(&c, &json!({}), 1000);
    assert!(ps.iter().all(|p| p.exception.is_none()));
    let hits = ps.iter().filter(|p| p.latency.is_some()).count();
    assert!((400..=600).contains(&hits), "{hits}");
}

#[test]
fn faultlines_additions_still_work() {
    // expires_at: past it, nothing.
    let c = FaultConfig::read(
        r#"{"expires_at": "2026-11-23T19:00:00Z", "exception": {"enabled": true}}"#,
    )
    .unwrap();
    assert!(plan(&c).is_empty());
    // A broken expires_at still rejects the document (a stop date is never guessed).
    assert!(
        FaultConfig::read(r#"{"expires_at": "soon", "exception": {"enabled": true}}"#).is_err()
    );
    // Match operators, from failure-lambda's README.
    let c = FaultConfig::read(
        r#"{"latency": {"enabled": true, "percentage": 100, "min_latency": 200, "max_latency": 500,
            "match": [
              { "path": "requestContext.http.path", "operator": "startsWith", "value": "/api" },
              { "path": "headers.x-debug", "operator": "exists" },
              { "path": "requestContext.http.method", "operator": "regex", "value": "^(GET|HEAD)$" }
            ]}}"#,
    )
    .unwrap();
    let hit = json!({"requestContext": {"http": {"path": "/api/x", "method": "HEAD"}},
                     "headers": {"x-debug": ""}});
    let miss = json!({"requestContext": {"http": {"path": "/api/x", "method": "POST"}},
                      "headers": {"x-debug": ""}});
    assert!(plans(&c, &hit, 20).iter().all(|p| p.latency.is_some()));
    assert!(plans(&c, &miss, 20).iter().all(InvocationPlan::is_empty));
    // A match regex failure-lambda refuses skips the flag.
    let c = FaultConfig::read(
        r#"{"exception": {"enabled": true, "match": [{"path": "a", "operator": "regex", "value": "(a+)+"}]}}"#,
    )
    .unwrap();
    assert_eq!(skipped(&c, SkipKind::Flag), ["exception.match[0].value"]);
    // The 0.x format.
    let c = FaultConfig::read(
        r#"{"isEnabled": true, "failureMode": "denylist", "rate": 1, "denylist": ["^api\\d\\."]}"#,
    )
    .unwrap();
    let ere = plan(&c).denylist.unwrap();
    assert!(shim_denies(&ere, "api1.example.com") && !shim_denies(&ere, "api.example.com"));
}

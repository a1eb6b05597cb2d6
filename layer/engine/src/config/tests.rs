//! The config parser's tests: failure-lambda 1.x compatibility, every field the strict
//! reading rejects. `layer/engine/tests/failure_lambda_compat.rs` covers the lenient reading.
use super::*;
use serde_json::json;

#[test]
fn parses_the_1x_format_in_injection_order() {
    let c = FaultConfig::parse(
        r#"{
          "exception": {"enabled": true, "percentage": 10, "exception_msg": "boom"},
          "latency": {"enabled": true, "percentage": 50, "min_latency": 100, "max_latency": 400},
          "statuscode": {"enabled": false, "status_code": 404},
          "diskspace": {"enabled": true, "disk_space": 5},
          "denylist": {"enabled": true, "deny_list": ["s3.*.amazonaws.com", "^dynamodb\\."]},
          "timeout": {"enabled": true, "timeout_buffer_ms": 500},
          "corruption": {"enabled": true, "body": "{\"error\": \"corrupted\"}"}
        }"#,
    )
    .unwrap();
    assert_eq!(
        c.mode_names(),
        [
            "latency",
            "timeout",
            "diskspace",
            "denylist",
            "exception",
            "corruption"
        ]
    );
    assert_eq!(
        c.faults[0].kind,
        LayerFaultKind::Latency {
            min: Duration::from_millis(100),
            max: Duration::from_millis(400)
        }
    );
    assert_eq!(c.faults[0].percentage, 50.0);
    assert_eq!(c.faults[4].percentage, 10.0);
    assert_eq!(c.faults[2].percentage, 100.0, "percentage defaults to 100");
    assert!(c.expires_at.is_none());
}

#[test]
fn parses_the_legacy_0x_format() {
    let c = FaultConfig::parse(
        r#"{"isEnabled": true, "failureMode": "latency", "rate": 0.5, "minLatency": 100, "maxLatency": 400}"#,
    )
    .unwrap();
    assert_eq!(c.faults.len(), 1);
    assert_eq!(c.faults[0].percentage, 50.0);
    assert_eq!(
        c.faults[0].kind,
        LayerFaultKind::Latency {
            min: Duration::from_millis(100),
            max: Duration::from_millis(400)
        }
    );
    let c = FaultConfig::parse(
        r#"{"isEnabled": true, "failureMode": "denylist", "rate": 1, "denylist": ["s3.*.amazonaws.com"]}"#,
    )
    .unwrap();
    assert_eq!(
        c.faults[0].kind,
        LayerFaultKind::Denylist {
            patterns: vec!["s3.*.amazonaws.com".into()],
            ere: vec!["s3.*.amazonaws.com".into()]
        }
    );
    let off = FaultConfig::parse(
        r#"{"isEnabled": false, "failureMode": "exception", "exceptionMsg": "x"}"#,
    )
    .unwrap();
    assert!(off.is_empty());
    let code = FaultConfig::parse(
        r#"{"isEnabled": true, "failureMode": "statuscode", "statusCode": 503}"#,
    )
    .unwrap();
    assert_eq!(
        code.faults[0].kind,
        LayerFaultKind::StatusCode { code: 503 }
    );
}

#[test]
fn expires_at_is_parsed_and_compared() {
    let c = FaultConfig::parse(
        r#"{"expires_at": "2026-11-23T20:00:00Z", "exception": {"enabled": true}}"#,
    )
    .unwrap();
    let t: DateTime<Utc> = "2026-11-23T20:00:00Z".parse().unwrap();
    assert!(!c.expired(t - chrono::Duration::seconds(1)));
    assert!(c.expired(t));
    assert!(matches!(
        FaultConfig::parse(r#"{"expires_at": "tomorrow"}"#),
        Err(ConfigError::Invalid { .. })
    ));
}

#[test]
fn rejects_bad_documents_with_a_reason() {
    assert!(matches!(
        FaultConfig::parse("{not json"),
        Err(ConfigError::Malformed(_))
    ));
    assert!(matches!(
        FaultConfig::parse("[1]"),
        Err(ConfigError::Malformed(_))
    ));
    assert_eq!(
        FaultConfig::parse(r#"{"meteor": {"enabled": true}}"#).unwrap_err(),
        ConfigError::UnknownMode("meteor".into())
    );
    assert_eq!(
        FaultConfig::parse(r#"{"isEnabled": true, "failureMode": "meteor"}"#).unwrap_err(),
        ConfigError::UnknownMode("meteor".into())
    );
    for bad in [
        r#"{"latency": {"enabled": true, "percentage": 101}}"#,
        r#"{"latency": {"enabled": true, "min_latency": 500, "max_latency": 100}}"#,
        r#"{"statuscode": {"enabled": true, "status_code": 99}}"#,
        r#"{"diskspace": {"enabled": true, "disk_space": 0}}"#,
        r#"{"latency": {"enabled": true, "percentage": 50.5}}"#,
        r#"{"latency": {"enabled": "yes"}}"#,
        r#"{"denylist": {"enabled": true, "deny_list": ["(a+)+$"]}}"#,
        r#"{"exception": {"enabled": true, "match": [{"path": "a", "operator": "like", "value": "x"}]}}"#,
        r#"{"exception": {"enabled": true, "match": [{"path": "a"}]}}"#,
        r#"{"isEnabled": true, "failureMode": "latency", "rate": 2}"#,
    ] {
        let e = FaultConfig::parse(bad).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { .. }), "{bad}: {e}");
    }
}

#[test]
fn a_huge_repetition_bound_in_the_deny_list_is_refused_naming_the_field() {
    let e = FaultConfig::parse(
        r#"{"denylist": {"enabled": true, "deny_list": ["^api\\.example$", "[a-z0-9-]{1,32767}"]}}"#,
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ConfigError::Invalid { .. }), "{text}");
    assert!(text.contains("denylist.deny_list"), "{text}");
    assert!(text.contains("repetition bound 32767"), "{text}");
}

#[test]
fn match_operators() {
    let c = FaultConfig::parse(
        r#"{"exception": {"enabled": true, "match": [
            {"path": "requestContext.http.path", "operator": "startsWith", "value": "/api"},
            {"path": "headers.x-debug", "operator": "exists"},
            {"path": "requestContext.http.method", "operator": "regex", "value": "^(GET|HEAD)$"},
            {"path": "requestContext.stage", "value": "prod"},
            {"path": "n", "value": 3}
        ]}}"#,
    )
    .unwrap();
    let ms = &c.faults[0].matches;
    let ev = json!({"requestContext": {"http": {"path": "/api/x", "method": "GET"}, "stage": "prod"},
                    "headers": {"x-debug": ""}, "n": 3});
    assert!(ms.iter().all(|m| m.holds(&ev)));
    let other = json!({"requestContext": {"http": {"path": "/web", "method": "POST"}, "stage": "dev"},
                       "headers": {"x-debug": null}, "n": 4});
    assert!(ms.iter().all(|m| !m.holds(&other)));
    assert!(ms.iter().all(|m| !m.holds(&Value::Null)));
}

#[test]
fn a_legacy_document_with_a_wrong_type_names_the_field() {
    let e = FaultConfig::parse(r#"{"isEnabled": "yes", "failureMode": "latency"}"#).unwrap_err();
    assert!(
        matches!(&e, ConfigError::Invalid { field, .. } if field == "isEnabled"),
        "{e:?}"
    );
}

#[test]
fn a_legacy_document_names_its_own_fields() {
    let e = FaultConfig::parse(
        r#"{"isEnabled": true, "failureMode": "latency", "minLatency": 500, "maxLatency": 100}"#,
    )
    .unwrap_err();
    assert!(
        matches!(&e, ConfigError::Invalid { field, .. } if field == "maxLatency"),
        "{e:?}"
    );
}

#[test]
fn skipped_parts_read_as_one_line_each() {
    let c = FaultConfig::read(
        r#"{"meteor": 1, "latency": {"enabled": true, "percentage": 50.5},
            "denylist": {"enabled": true, "deny_list": ["(a|ab)*", "^s3\\."]}}"#,
    )
    .unwrap();
    let lines: Vec<String> = c.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    for start in [
        "denylist.deny_list[0] not applied",
        "latency not injected: latency.percentage:",
        "key \"meteor\" ignored",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(start)),
            "{start}: {lines:#?}"
        );
    }
}

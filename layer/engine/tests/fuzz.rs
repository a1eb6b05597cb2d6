//! Fuzzing (issue 14): the layer's fault configuration parser (both failure-lambda formats)
//! over arbitrary text and over valid documents with a field replaced, removed or added: no
//! panic, and every rejection names the field (or the unknown mode, or says the whole document
//! is not a JSON object).
//!
//! 256 cases per property; `FAULTLINE_FUZZ_CASES=N` runs N.

use faultline_fuzz::{arb_bytes, arb_json, config, near_valid};
use faultline_layer_engine::config::{ConfigError, FaultConfig};
use proptest::prelude::*;
use serde_json::{json, Value};

const WORDS: &[&str] = &[
    "",
    "x",
    "enabled",
    "percentage",
    "rate",
    "match",
    "path",
    "operator",
    "value",
    "min_latency",
    "max_latency",
    "exception_msg",
    "status_code",
    "disk_space",
    "deny_list",
    "timeout_buffer_ms",
    "body",
    "latency",
    "exception",
    "statuscode",
    "diskspace",
    "denylist",
    "timeout",
    "corruption",
    "expires_at",
    "isEnabled",
    "failureMode",
    "minLatency",
    "maxLatency",
    "exceptionMsg",
    "statusCode",
    "diskSpace",
    "eq",
    "exists",
    "startsWith",
    "regex",
    "s3.*.amazonaws.com",
    "[a-z0-9-]{1,32767}",
    "(",
    "a{64}",
    "^dynamodb\\.",
    "2026-11-23T10:00:00Z",
    "body.user.id",
    "\u{0}",
    "é",
];

fn configs() -> Vec<Value> {
    let v1 = json!({
        "exception": {"enabled": true, "percentage": 10, "exception_msg": "boom"},
        "latency": {"enabled": true, "percentage": 50, "min_latency": 100, "max_latency": 400,
                    "match": [{"path": "body.user", "operator": "eq", "value": "x"}]},
        "statuscode": {"enabled": false, "status_code": 404},
        "diskspace": {"enabled": true, "disk_space": 5},
        "denylist": {"enabled": true, "deny_list": ["s3.*.amazonaws.com", "^dynamodb\\."]},
        "timeout": {"enabled": true, "timeout_buffer_ms": 500},
        "corruption": {"enabled": true, "body": "{\"error\": \"corrupted\"}"},
        "expires_at": "2026-11-23T10:00:00Z"});
    let v0 = json!({"isEnabled": true, "failureMode": "latency", "rate": 0.5,
                    "minLatency": 100, "maxLatency": 400});
    let v0_deny = json!({"isEnabled": true, "failureMode": "denylist", "rate": 1,
                         "denylist": ["s3.*.amazonaws.com"]});
    for c in [&v1, &v0, &v0_deny] {
        FaultConfig::parse(&c.to_string()).expect("seed configs are valid");
    }
    vec![v1, v0, v0_deny]
}

/// A rejection names the field, or the unknown mode, or rejects the document as a whole only
/// when it is not a JSON object.
fn names_the_field(text: &str, e: &ConfigError) -> Result<(), TestCaseError> {
    let doc = serde_json::from_str::<Value>(text).ok();
    let obj = doc.as_ref().and_then(Value::as_object);
    let legacy = obj.is_some_and(|o| o.contains_key("failureMode") || o.contains_key("isEnabled"));
    match e {
        ConfigError::Invalid { field, reason } => {
            prop_assert!(!field.is_empty(), "no field: {e:?}");
            prop_assert!(!reason.trim().is_empty(), "no reason: {e:?}");
        }
        ConfigError::UnknownMode(mode) => {
            let o = obj.expect("an unknown mode comes from an object");
            prop_assert!(
                o.contains_key(mode.as_str()) || legacy,
                "unknown mode {mode:?} is no key of {text}"
            );
        }
        ConfigError::Malformed(m) => {
            // Only what is not a JSON object is malformed; a 0.x document with a value of the
            // wrong type names its field (`isEnabled`) like a 1.x one.
            prop_assert!(
                obj.is_none(),
                "a JSON object rejected as a whole: {m} for {text}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(bytes in arb_bytes(configs())) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = FaultConfig::parse(&text) {
            names_the_field(&text, &e)?;
        }
    }

    #[test]
    fn arbitrary_json_is_rejected_by_field(v in arb_json(WORDS)) {
        let text = v.to_string();
        if let Err(e) = FaultConfig::parse(&text) {
            names_the_field(&text, &e)?;
        }
    }

    #[test]
    fn arbitrary_modes_are_rejected_by_field(
        mode in prop::sample::select(&WORDS[17..24]),
        flag in arb_json(WORDS),
    ) {
        let text = json!({ mode: flag }).to_string();
        if let Err(e) = FaultConfig::parse(&text) {
            names_the_field(&text, &e)?;
        }
    }

    #[test]
    fn near_valid_configs_are_rejected_by_field(v in near_valid(configs(), WORDS)) {
        let text = v.to_string();
        match FaultConfig::parse(&text) {
            Ok(c) => {
                let _ = (c.is_empty(), c.needs_event(), c.mode_names());
            }
            Err(e) => names_the_field(&text, &e)?,
        }
    }
}

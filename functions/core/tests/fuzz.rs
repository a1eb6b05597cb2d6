//! Fuzzing (issue 14): the parsers of the monkey's outside input (the experiment spec, alone or
//! in the scheduler envelope) and of the experiment record the timer reads back. Arbitrary bytes
//! and JSON, and valid documents with a field replaced, removed or added: no panic, and every
//! rejection names the field.
//!
//! 256 cases per property; `FAULTLINE_FUZZ_CASES=N` runs N.

use chrono::{DateTime, Utc};
use faultline_core::record::Record;
use faultline_core::spec::{Experiment, Invocation, SpecError};
use faultline_fuzz::{arb_bytes, arb_json, config, near_valid};
use proptest::prelude::*;
use serde_json::{json, Value};

const WORDS: &[&str] = &[
    "",
    "x",
    "name",
    "targets",
    "selection",
    "action",
    "guards",
    "recovery",
    "experiment",
    "execution_id",
    "scheduled_time",
    "resource",
    "ec2-instance",
    "asg-instance",
    "mode",
    "count",
    "percent",
    "all",
    "value",
    "type",
    "terminate",
    "stop",
    "reboot",
    "agent",
    "fault",
    "latency",
    "args",
    "duration",
    "5m",
    "30m",
    "0s",
    "99999h",
    "max_targets",
    "windows",
    "days",
    "MON-FRI",
    "09:00",
    "25:00",
    "Europe/London",
    "Mars/Olympus",
    "2026-11-23T10:00:00Z",
    "yesterday",
    "open",
    "closed",
    "-1",
    "1e400",
    "\u{0}",
    "é",
    "✓",
    "a.b",
    ".",
];

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn bare() -> Value {
    json!({"name": "x", "targets": {"resource": "ec2-instance", "tags": {"app": "web"}},
           "selection": {"mode": "count", "value": 1}, "action": {"type": "stop"}})
}

fn specs() -> Vec<Value> {
    let full = json!({"execution_id": "0b9a-11ef-8f2e", "scheduled_time": "2026-11-23T10:00:00Z",
        "experiment": {
          "name": "web-terminate",
          "targets": {"resource": "asg-instance", "tags": {"app": "web"}, "asg_names": ["web-asg"]},
          "selection": {"mode": "percent", "value": 30},
          "action": {"type": "terminate"},
          "dry_run": false,
          "guards": {"stop_alarms": ["web-5xx"], "min_healthy": 1, "max_targets": 10,
                     "windows": [{"days": "MON-FRI", "start": "09:00", "end": "16:00", "tz": "Europe/London"}],
                     "probability": 1.0},
          "recovery": {"timeout": "30m", "alarms": ["web-5xx"]}}});
    let mut agent = bare();
    agent["action"] = json!({"type": "agent", "fault": "latency",
                             "args": {"delay_ms": 200, "jitter_ms": 20}, "duration": "5m"});
    let mut kill = bare();
    kill["action"] = json!({"type": "agent", "fault": "kill",
                            "args": {"name": "nginx", "signal": "TERM"}, "duration": "1m"});
    for doc in [&full, &agent, &kill] {
        assert!(
            Invocation::from_value(doc.clone(), now(), 1).is_ok(),
            "seed {doc} must be valid"
        );
    }
    vec![bare(), full, agent, kill]
}

fn records() -> Vec<Value> {
    let r = json!({"v": 2, "id": "e1", "experiment": "web", "state": {"status": "open"},
        "started_at": "2026-11-23T10:00:00Z",
        "action": {"type": "agent", "fault": "latency", "duration_s": 300, "commands": ["c-1"]},
        "groups": {"web-asg": {"desired": 3}},
        "targets": [{"id": "i-0123456789abcdef0", "group": "web-asg", "zone": "us-east-1a"},
                    {"id": "i-0fedcba9876543210"}],
        "timeout_s": 1800, "alarms": ["web-5xx"], "failed": ["i-1"]});
    let mut closed = r.clone();
    closed["action"] = json!({"type": "terminate", "via_asg": true});
    closed["state"] = json!({"status": "closed", "outcome": "recovered",
        "at": "2026-11-23T10:05:00Z", "recovered_at": "2026-11-23T10:04:00Z", "ttr_s": 240,
        "observed": true});
    for doc in [&r, &closed] {
        Record::parse(&doc.to_string()).expect("seed records are valid");
    }
    vec![r, closed]
}

/// A spec rejection names the field: a dotted path, `.` only for the input as a whole, and
/// then the message says what is wrong with the whole (not JSON, not an object) or names the
/// member in backticks (serde's "missing field `name`", "unknown field `x`").
fn names_the_field(e: &SpecError) -> Result<(), TestCaseError> {
    prop_assert!(!e.path.is_empty(), "empty path: {e:?}");
    prop_assert!(!e.message.trim().is_empty(), "empty message: {e:?}");
    if e.path == "." {
        prop_assert!(
            e.message.contains("not valid JSON")
                || e.message.contains("expected a JSON object")
                || e.message.contains('`'),
            "a rejection of the whole input that names no field: {e:?}"
        );
    }
    Ok(())
}

/// A record rejection can be traced to its field: serde_path_to_error finds a path, or serde's
/// message names the member in backticks, or the text is not JSON at all.
fn record_error_names_the_field<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<(), TestCaseError> {
    if !serde_json::from_slice::<Value>(bytes).is_ok_and(|v| v.is_object()) {
        return Ok(()); // not JSON, or not an object: there is no field to name
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(_) => Ok(()),
        Err(e) => {
            let path = e.path().to_string();
            let msg = e.inner().to_string();
            prop_assert!(
                path != "." || msg.contains('`'),
                "record rejection without a field: {msg}"
            );
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn spec_text_never_panics_and_rejections_name_the_field(bytes in arb_bytes(specs())) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = Invocation::from_json_str(&text, now(), 7) {
            names_the_field(&e)?;
        }
        if let Err(e) = Experiment::from_json_str(&text) {
            names_the_field(&e)?;
        }
    }

    #[test]
    fn arbitrary_json_specs_are_rejected_by_field(v in arb_json(WORDS)) {
        if let Err(e) = Invocation::from_value(v.clone(), now(), 7) {
            names_the_field(&e)?;
        }
        // The same value as the experiment of a scheduler envelope.
        let env = json!({"execution_id": "x-1", "experiment": v});
        if let Err(e) = Invocation::from_value(env, now(), 7) {
            names_the_field(&e)?;
        }
    }

    #[test]
    fn near_valid_specs_are_rejected_by_field(v in near_valid(specs(), WORDS)) {
        if let Err(e) = Invocation::from_value(v.clone(), now(), 7) {
            names_the_field(&e)?;
        }
        if let Err(e) = Experiment::from_json_str(&v.to_string()) {
            names_the_field(&e)?;
        }
    }

    #[test]
    fn near_valid_experiments_in_an_envelope_are_rejected_by_field(v in near_valid(vec![bare()], WORDS)) {
        let env = json!({"execution_id": "x-1", "scheduled_time": "2026-11-23T10:00:00Z", "experiment": v});
        if let Err(e) = Invocation::from_value(env, now(), 7) {
            names_the_field(&e)?;
            prop_assert!(
                e.path.starts_with("experiment"),
                "the error of a nested experiment is outside it: {e:?}"
            );
        }
    }

    #[test]
    fn records_never_panic(bytes in arb_bytes(records())) {
        let _ = serde_json::from_slice::<Record>(&bytes);
        record_error_names_the_field::<Record>(&bytes)?;
        parse_error_names_the_field(&bytes)?;
    }

    #[test]
    fn near_valid_records_never_panic_and_name_the_field(v in near_valid(records(), WORDS)) {
        let bytes = v.to_string().into_bytes();
        if let Ok(r) = serde_json::from_slice::<Record>(&bytes) {
            // What parses re-encodes (the timer writes it back) without panicking.
            let _ = r.encode();
            let _ = r.victims().count();
            let _ = r.json();
        }
        record_error_names_the_field::<Record>(&bytes)?;
        parse_error_names_the_field(&bytes)?;
    }
}

/// `Record::parse` (what the timer and `faultline status` read) names the field of a bad value
/// in an object: its message starts with a path other than `.`, or names the member in
/// backticks (`missing field `id``).
fn parse_error_names_the_field(bytes: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    if !serde_json::from_str::<Value>(&text).is_ok_and(|v| v.is_object()) {
        return Ok(());
    }
    if let Err(msg) = Record::parse(&text) {
        prop_assert!(
            !msg.starts_with(".:") || msg.contains('`'),
            "stored-record rejection without a field: {msg}"
        );
    }
    Ok(())
}

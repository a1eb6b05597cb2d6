//! The Lambda actions' part of the spec: [`LambdaAction`] (`lambda-fault`, `throttle`,
//! `disable-event-source`, each for a duration) and the strict check of a `lambda-fault`'s
//! `faults` (failure-lambda 1.x flags), so the monkey never writes a document the layer would
//! read differently from what the spec says.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::spec::error::SpecError;

/// What a Lambda action does to each chosen function, for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaAction {
    /// Which change.
    pub kind: LambdaKind,
    /// How long it holds; the recovery timer restores the previous state then.
    pub duration: Duration,
}

/// The change a Lambda action makes.
#[derive(Debug, Clone, PartialEq)]
pub enum LambdaKind {
    /// Writes the function's layer parameter (failure-lambda 1.x flags, with `expires_at` =
    /// injection + duration), keeping the previous value to restore.
    Fault(Map<String, Value>),
    /// Reserved concurrency 0; the previous value (or none) is restored.
    Throttle,
    /// Disables the function's enabled event source mappings; exactly those are re-enabled.
    DisableEventSource,
}

impl LambdaKind {
    /// `lambda-fault`, `throttle`, `disable-event-source`.
    pub fn name(&self) -> &'static str {
        match self {
            LambdaKind::Fault(_) => "lambda-fault",
            LambdaKind::Throttle => "throttle",
            LambdaKind::DisableEventSource => "disable-event-source",
        }
    }
}

/// The failure-lambda 1.x modes and, for each, its fields with their check.
const MODES: &[(&str, &[(&str, Kind)])] = &[
    (
        "latency",
        &[
            ("min_latency", Kind::Int(0, 900_000)),
            ("max_latency", Kind::Int(0, 900_000)),
        ],
    ),
    ("exception", &[("exception_msg", Kind::Text)]),
    ("statuscode", &[("status_code", Kind::Int(100, 599))]),
    ("diskspace", &[("disk_space", Kind::Int(1, 10_240))]),
    ("denylist", &[("deny_list", Kind::TextList)]),
    ("timeout", &[("timeout_buffer_ms", Kind::Int(0, 900_000))]),
    ("corruption", &[("body", Kind::Text), ("match", Kind::Any)]),
];

#[derive(Clone, Copy)]
enum Kind {
    Int(u64, u64),
    Text,
    TextList,
    Any,
}

/// Checks a `lambda-fault`'s `faults` strictly: known modes only, each an object with
/// `enabled` (boolean), `percentage` (an integer 0 to 100, as failure-lambda requires) and its
/// own fields of the right type; at least one mode enabled. `expires_at` is the monkey's to set.
pub(super) fn check_faults(faults: &Map<String, Value>, path: &str) -> Result<(), SpecError> {
    let known = || MODES.iter().map(|(m, _)| *m).collect::<Vec<_>>().join(", ");
    let mut enabled = 0;
    for (mode, flag) in faults {
        let at = format!("{path}.{mode}");
        if mode == "expires_at" {
            return Err(SpecError::new(
                at,
                "is set by the monkey (injection time + the action's duration); remove it",
            ));
        }
        let Some((_, fields)) = MODES.iter().find(|(m, _)| m == mode) else {
            return Err(SpecError::new(
                at,
                format!("is not a failure-lambda mode; use one of {}", known()),
            ));
        };
        let Value::Object(flag) = flag else {
            return Err(SpecError::new(
                at,
                "must be an object like {\"enabled\": true, \"percentage\": 100, ...}",
            ));
        };
        for (k, v) in flag {
            let field = format!("{at}.{k}");
            match k.as_str() {
                "enabled" => match v {
                    Value::Bool(true) => enabled += 1,
                    Value::Bool(false) => {}
                    _ => return Err(SpecError::new(field, "must be true or false")),
                },
                "percentage" => {
                    if v.as_u64().is_none_or(|p| p > 100) {
                        return Err(SpecError::new(
                            field,
                            format!("must be an integer from 0 to 100 (as failure-lambda requires), got {v}"),
                        ));
                    }
                }
                _ => {
                    let Some((_, kind)) = fields.iter().find(|(f, _)| f == k) else {
                        let names: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
                        return Err(SpecError::new(
                            field,
                            format!(
                                "is not a field of {mode}; use enabled, percentage, {}",
                                names.join(", ")
                            ),
                        ));
                    };
                    check_field(*kind, v, &field)?;
                }
            }
        }
        if mode == "latency" {
            let n = |k: &str| flag.get(k).and_then(Value::as_u64);
            if let (Some(min), Some(max)) = (n("min_latency"), n("max_latency")) {
                if min > max {
                    return Err(SpecError::new(
                        format!("{at}.min_latency"),
                        format!("{min} is above max_latency {max}"),
                    ));
                }
            }
        }
    }
    if enabled == 0 {
        return Err(SpecError::new(
            path,
            format!(
                "enables no fault: give at least one mode with \"enabled\": true ({})",
                known()
            ),
        ));
    }
    Ok(())
}

fn check_field(kind: Kind, v: &Value, field: &str) -> Result<(), SpecError> {
    let ok = match kind {
        Kind::Int(lo, hi) => v.as_u64().is_some_and(|n| (lo..=hi).contains(&n)),
        Kind::Text => v.is_string(),
        Kind::TextList => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        Kind::Any => true,
    };
    if ok {
        return Ok(());
    }
    let want = match kind {
        Kind::Int(lo, hi) => format!("an integer from {lo} to {hi}"),
        Kind::Text => "a string".to_owned(),
        Kind::TextList => "a list of strings".to_owned(),
        Kind::Any => unreachable!("any value is accepted"),
    };
    Err(SpecError::new(field, format!("must be {want}, got {v}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: Value) -> Result<(), SpecError> {
        check_faults(v.as_object().unwrap(), "action.faults")
    }

    #[test]
    fn failure_lambda_flags_pass_and_mistakes_are_named() {
        check(serde_json::json!({
            "latency": {"enabled": true, "percentage": 50, "min_latency": 100, "max_latency": 400},
            "exception": {"enabled": false, "exception_msg": "boom"},
            "denylist": {"enabled": true, "deny_list": ["s3.*.amazonaws.com"]}
        }))
        .unwrap();
        let e = check(serde_json::json!({"latency": {"enabled": true, "percentage": 50.5}}))
            .unwrap_err();
        assert_eq!(e.path, "action.faults.latency.percentage");
        let e = check(serde_json::json!({"latncy": {"enabled": true}})).unwrap_err();
        assert_eq!(e.path, "action.faults.latncy");
        let e = check(serde_json::json!({"statuscode": {"enabled": true, "status_code": 42}}))
            .unwrap_err();
        assert_eq!(e.path, "action.faults.statuscode.status_code");
        let e = check(serde_json::json!({"latency": {"enabled": false}})).unwrap_err();
        assert_eq!(e.path, "action.faults");
        let e = check(serde_json::json!({"expires_at": "2026-01-01T00:00:00Z"})).unwrap_err();
        assert_eq!(e.path, "action.faults.expires_at");
        let e = check(
            serde_json::json!({"latency": {"enabled": true, "min_latency": 5, "max_latency": 1}}),
        )
        .unwrap_err();
        assert_eq!(e.path, "action.faults.latency.min_latency");
    }
}

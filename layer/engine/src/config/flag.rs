//! One failure-lambda 1.x flag (`{"enabled": true, "percentage": 50, ...}`), read as
//! failure-lambda's `validateFlagValue` reads it: every field's type and range checked, the
//! first invalid one named; absent fields take failure-lambda's defaults (its
//! `src/failures/*.ts`): latency 0 to 0 ms (`min_latency` alone is a fixed delay), exception
//! message `Injected exception`, status code 500, disk space 100 MB, timeout buffer 0 ms, no
//! deny patterns (which denies nothing), percentage 100.

use std::time::Duration;

use serde_json::{Map, Value};
use tracing::debug;

use super::{LayerFault, LayerFaultKind, Match, MatchOp, SkipKind, Skipped, MAX_PATTERNS, MODES};
use crate::pattern::{deny_pattern, match_regex, PatternError};

/// Longest delay or timeout buffer applied: a Lambda invocation's longest timeout. A longer
/// value (failure-lambda accepts any) has the same effect, the invocation timing out.
pub const MAX_MS: f64 = 900_000.0;

/// failure-lambda's `MAX_DISK_SPACE_MB`.
pub const MAX_DISK_SPACE_MB: f64 = 10_240.0;

/// The field that makes a flag invalid.
#[derive(Debug)]
pub(super) struct FlagError {
    pub field: String,
    pub reason: String,
}

/// Reads every top-level key of a 1.x document; what is left out goes to `skipped`.
pub(super) fn read_all(obj: &Map<String, Value>, skipped: &mut Vec<Skipped>) -> Vec<LayerFault> {
    let mut out = Vec::new();
    for (key, value) in obj {
        if key == "expires_at" {
            continue;
        }
        if !MODES.contains(&key.as_str()) {
            skipped.push(Skipped {
                kind: SkipKind::UnknownKey,
                field: key.clone(),
                reason: "not a failure mode".into(),
            });
            continue;
        }
        match read(key, value, skipped) {
            Ok(Some(f)) => out.push(f),
            Ok(None) => {}
            Err(e) => skipped.push(Skipped {
                kind: SkipKind::Flag,
                field: e.field,
                reason: e.reason,
            }),
        }
    }
    out
}

/// One flag: `None` when disabled or when it does nothing (a deny list without patterns).
fn read(
    mode: &str,
    value: &Value,
    skipped: &mut Vec<Skipped>,
) -> Result<Option<LayerFault>, FlagError> {
    let Value::Object(obj) = value else {
        return Err(FlagError {
            field: mode.to_owned(),
            reason: format!("must be an object, got {value}"),
        });
    };
    let f = Fields { mode, obj };
    match obj.get("enabled") {
        Some(Value::Bool(true)) => {}
        None | Some(Value::Null) | Some(Value::Bool(false)) => return Ok(None),
        Some(other) => return Err(f.err("enabled", format!("must be true or false, got {other}"))),
    }
    let percentage = match (f.get("percentage"), f.get("rate")) {
        (Some(p), _) => {
            let Some(n) = p.as_f64() else {
                return Err(f.err(
                    "percentage",
                    format!("must be an integer from 0 to 100, got {p}"),
                ));
            };
            if n.fract() != 0.0 || !(0.0..=100.0).contains(&n) {
                return Err(f.err(
                    "percentage",
                    format!("must be an integer from 0 to 100, got {p}"),
                ));
            }
            n
        }
        // faultline's addition: a 0.x-style rate in a 1.x flag.
        (None, Some(r)) => match r.as_f64() {
            Some(r) if (0.0..=1.0).contains(&r) => r * 100.0,
            _ => return Err(f.err("rate", format!("must be a number from 0 to 1, got {r}"))),
        },
        (None, None) => 100.0,
    };
    build(mode, obj, percentage, skipped)
}

/// The fault a flag describes, its percentage already read (1.x `percentage` or 0.x `rate`).
pub(super) fn build(
    mode: &str,
    obj: &Map<String, Value>,
    percentage: f64,
    skipped: &mut Vec<Skipped>,
) -> Result<Option<LayerFault>, FlagError> {
    let f = Fields { mode, obj };
    let matches = matches(&f)?;
    let kind = match mode {
        "latency" => {
            let min = f.non_negative("min_latency")?;
            let max = f.non_negative("max_latency")?;
            if let (Some(min), Some(max)) = (min, max) {
                if min > max {
                    return Err(f.err(
                        "max_latency",
                        format!("max_latency {max} must be >= min_latency {min}"),
                    ));
                }
            }
            let min = min.unwrap_or(0.0);
            LayerFaultKind::Latency {
                min: ms(min),
                max: ms(max.unwrap_or(0.0).max(min)),
            }
        }
        "timeout" => LayerFaultKind::Timeout {
            buffer: ms(f.non_negative("timeout_buffer_ms")?.unwrap_or(0.0)),
        },
        "diskspace" => LayerFaultKind::DiskSpace {
            mb: f
                .whole("disk_space", 1.0, MAX_DISK_SPACE_MB, "a whole number of MB")?
                .unwrap_or(100.0) as u64,
        },
        "statuscode" => LayerFaultKind::StatusCode {
            code: f
                .whole("status_code", 100.0, 599.0, "an HTTP status code")?
                .unwrap_or(500.0) as u16,
        },
        "exception" => LayerFaultKind::Exception {
            message: f
                .string("exception_msg")?
                .unwrap_or_else(|| "Injected exception".to_owned()),
        },
        "corruption" => LayerFaultKind::Corruption {
            body: f.string("body")?,
        },
        "denylist" => match denylist(&f, skipped)? {
            Some(kind) => kind,
            None => return Ok(None),
        },
        other => {
            return Err(FlagError {
                field: other.to_owned(),
                reason: "not a failure mode".into(),
            })
        }
    };
    Ok(Some(LayerFault {
        kind,
        percentage,
        matches,
    }))
}

/// `deny_list`: patterns failure-lambda refuses make the flag invalid; patterns only the shim
/// cannot run are skipped alone. `None` when no pattern is left (the flag denies nothing).
fn denylist(f: &Fields, skipped: &mut Vec<Skipped>) -> Result<Option<LayerFaultKind>, FlagError> {
    let list = match f.get("deny_list") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| f.err("deny_list", "must be an array of strings"))?,
        Some(other) => {
            return Err(f.err(
                "deny_list",
                format!("must be an array of strings, got {other}"),
            ))
        }
    };
    let mut patterns = Vec::new();
    let mut ere = Vec::new();
    let mut dropped = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let field = format!("deny_list[{i}]");
        match deny_pattern(p) {
            Ok(_) if patterns.len() == MAX_PATTERNS => dropped.push((
                field,
                format!("more than {MAX_PATTERNS} patterns (the shim runs at most {MAX_PATTERNS})"),
            )),
            Ok(e) => {
                patterns.push(p.clone());
                ere.push(e);
            }
            Err(PatternError::Refused(reason)) => return Err(f.err(&field, reason)),
            Err(PatternError::Unsupported(reason)) => dropped.push((field, reason)),
        }
    }
    skipped.extend(dropped.into_iter().map(|(field, reason)| Skipped {
        kind: SkipKind::Pattern,
        field: f.name(&field),
        reason,
    }));
    if patterns.is_empty() {
        debug!(
            source = "faultline",
            mode = "denylist",
            "no deny pattern: nothing denied"
        );
        return Ok(None);
    }
    Ok(Some(LayerFaultKind::Denylist { patterns, ere }))
}

/// `match`: every condition must be valid for the flag to be.
fn matches(f: &Fields) -> Result<Vec<Match>, FlagError> {
    let conditions = match f.get("match") {
        None => return Ok(Vec::new()),
        Some(Value::Array(c)) => c,
        Some(other) => {
            return Err(f.err(
                "match",
                format!("must be an array of match condition objects, got {other}"),
            ))
        }
    };
    let mut out = Vec::new();
    for (i, c) in conditions.iter().enumerate() {
        let at = |a: &str| format!("match[{i}]{a}");
        let Value::Object(c) = c else {
            return Err(f.err(&at(""), "must be an object with a string path field"));
        };
        let path = match c.get("path") {
            Some(Value::String(p)) if !p.is_empty() => p.split('.').map(str::to_owned).collect(),
            _ => return Err(f.err(&at(".path"), "must be a non-empty string")),
        };
        let operator = match c.get("operator") {
            None | Some(Value::Null) => "eq",
            Some(Value::String(o)) => o.as_str(),
            Some(other) => {
                return Err(f.err(
                    &at(".operator"),
                    format!("must be one of: eq, exists, startsWith, regex; got {other}"),
                ))
            }
        };
        // Numbers and booleans compare by their JSON text (faultline's addition).
        let value = || match c.get("value") {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Null) | None => Err(f.err(
                &at(".value"),
                "must be a string (required for all operators except 'exists')",
            )),
            Some(other) => Ok(other.to_string()),
        };
        let op = match operator {
            "eq" => MatchOp::Eq(value()?),
            "exists" => MatchOp::Exists,
            "startsWith" => MatchOp::StartsWith(value()?),
            "regex" => MatchOp::Regex(
                match_regex(&value()?).map_err(|e| f.err(&at(".value"), e.to_string()))?,
            ),
            other => {
                return Err(f.err(
                    &at(".operator"),
                    format!("must be one of: eq, exists, startsWith, regex; got {other:?}"),
                ))
            }
        };
        out.push(Match { path, op });
    }
    Ok(out)
}

fn ms(v: f64) -> Duration {
    Duration::from_millis(v.min(MAX_MS).floor() as u64)
}

/// A flag's fields, each error naming `mode.field`.
struct Fields<'a> {
    mode: &'a str,
    obj: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn name(&self, field: &str) -> String {
        format!("{}.{field}", self.mode)
    }

    fn err(&self, field: &str, reason: impl Into<String>) -> FlagError {
        FlagError {
            field: self.name(field),
            reason: reason.into(),
        }
    }

    /// The value, `null` read as absent.
    fn get(&self, field: &str) -> Option<&Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    /// A number of at least 0 (failure-lambda accepts fractions).
    fn non_negative(&self, field: &str) -> Result<Option<f64>, FlagError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n >= 0.0 => Ok(Some(n)),
                _ => Err(self.err(field, format!("must be a non-negative number, got {v}"))),
            },
        }
    }

    /// A whole number in `lo..=hi`.
    fn whole(&self, field: &str, lo: f64, hi: f64, what: &str) -> Result<Option<f64>, FlagError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n.fract() == 0.0 && (lo..=hi).contains(&n) => Ok(Some(n)),
                _ => Err(self.err(field, format!("must be {what} from {lo} to {hi}, got {v}"))),
            },
        }
    }

    fn string(&self, field: &str) -> Result<Option<String>, FlagError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.err(field, format!("must be a string, got {v}"))),
        }
    }
}

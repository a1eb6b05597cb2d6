//! The fault configuration: both failure-lambda formats parsed into one typed [`FaultConfig`].
//!
//! - 1.x, one object per mode: `{"latency": {"enabled": true, "percentage": 50,
//!   "min_latency": 100, "max_latency": 400}, "exception": {...}, ...}`
//! - 0.x, one mode: `{"isEnabled": true, "failureMode": "latency", "rate": 0.5,
//!   "minLatency": 100, "maxLatency": 400}`
//!
//! Both accept faultline's addition, a top-level `"expires_at"` (RFC 3339) after which the
//! configuration is ignored. Anything invalid rejects the whole document: the caller fails open.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::pattern::{check_deny_pattern, MAX_PATTERN_LEN};

/// Most deny-list patterns accepted.
pub const MAX_PATTERNS: usize = 64;

/// Why a configuration document was rejected.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// Not JSON, or not an object.
    #[error("malformed fault config (fix the JSON in the parameter): {0}")]
    Malformed(String),
    /// A key that is no failure mode.
    #[error("unknown failure mode {0:?} (known: latency, exception, statuscode, diskspace, denylist, timeout, corruption)")]
    UnknownMode(String),
    /// A value out of range or of the wrong type.
    #[error("invalid fault config: {field}: {reason}")]
    Invalid {
        /// Which field.
        field: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A parsed, validated configuration. The default is "no faults".
#[derive(Debug, Clone, Default)]
pub struct FaultConfig {
    /// The enabled faults, in injection order (see [`LayerFaultKind::order`]).
    pub faults: Vec<LayerFault>,
    /// After this instant the configuration injects nothing.
    pub expires_at: Option<DateTime<Utc>>,
}

/// One enabled fault.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerFault {
    /// What it does.
    pub kind: LayerFaultKind,
    /// Share of invocations affected, 0..=100.
    pub percentage: f64,
    /// All must hold for the fault to apply.
    pub matches: Vec<Match>,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerFaultKind {
    /// Delay the handler by a uniformly random time in `min..=max`.
    Latency {
        /// Lower bound.
        min: Duration,
        /// Upper bound.
        max: Duration,
    },
    /// Sleep until `buffer` before the deadline, then run the handler.
    Timeout {
        /// How long before the deadline to wake up.
        buffer: Duration,
    },
    /// Write this many MiB to the temp directory (capped at its free space).
    DiskSpace {
        /// Size in MiB.
        mb: u64,
    },
    /// Host names matching these (validated, POSIX-ERE-compatible) patterns fail to resolve.
    Denylist {
        /// The patterns.
        patterns: Vec<String>,
    },
    /// The handler does not run; an API Gateway-shaped response with this code is returned.
    StatusCode {
        /// HTTP status code, 100..=599.
        code: u16,
    },
    /// The handler does not run; the invocation fails with this message.
    Exception {
        /// The error message.
        message: String,
    },
    /// Replace (with `body`) or mangle (when `None`) the handler's response.
    Corruption {
        /// Replacement body.
        body: Option<String>,
    },
}

impl LayerFaultKind {
    /// The mode's name in the 1.x format.
    pub fn name(&self) -> &'static str {
        match self {
            LayerFaultKind::Latency { .. } => "latency",
            LayerFaultKind::Timeout { .. } => "timeout",
            LayerFaultKind::DiskSpace { .. } => "diskspace",
            LayerFaultKind::Denylist { .. } => "denylist",
            LayerFaultKind::StatusCode { .. } => "statuscode",
            LayerFaultKind::Exception { .. } => "exception",
            LayerFaultKind::Corruption { .. } => "corruption",
        }
    }

    /// failure-lambda's injection order: pre-handler delays and side effects, then the
    /// short-circuits, then the post-handler corruption.
    fn order(&self) -> u8 {
        match self {
            LayerFaultKind::Latency { .. } => 0,
            LayerFaultKind::Timeout { .. } => 1,
            LayerFaultKind::DiskSpace { .. } => 2,
            LayerFaultKind::Denylist { .. } => 3,
            LayerFaultKind::StatusCode { .. } => 4,
            LayerFaultKind::Exception { .. } => 5,
            LayerFaultKind::Corruption { .. } => 6,
        }
    }
}

/// A condition on an event field.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// Dot-separated path into the event, split.
    pub path: Vec<String>,
    /// The test applied to the value found there.
    pub op: MatchOp,
}

/// How a [`Match`] tests its value.
#[derive(Debug, Clone)]
pub enum MatchOp {
    /// String equality (numbers and booleans compare by their JSON text).
    Eq(String),
    /// The path exists and is not null.
    Exists,
    /// The value starts with a prefix.
    StartsWith(String),
    /// The value matches a (linear-time) regular expression.
    Regex(regex_lite::Regex),
}

/// Two regexes are the same condition when their patterns are.
impl PartialEq for MatchOp {
    fn eq(&self, other: &MatchOp) -> bool {
        match (self, other) {
            (MatchOp::Eq(a), MatchOp::Eq(b)) | (MatchOp::StartsWith(a), MatchOp::StartsWith(b)) => {
                a == b
            }
            (MatchOp::Exists, MatchOp::Exists) => true,
            (MatchOp::Regex(a), MatchOp::Regex(b)) => a.as_str() == b.as_str(),
            (MatchOp::Eq(_) | MatchOp::Exists | MatchOp::StartsWith(_) | MatchOp::Regex(_), _) => {
                false
            }
        }
    }
}

impl Match {
    /// Whether `event` satisfies the condition.
    pub fn holds(&self, event: &Value) -> bool {
        let mut v = event;
        for seg in &self.path {
            v = match v {
                Value::Object(m) => match m.get(seg) {
                    Some(x) => x,
                    None => return false,
                },
                Value::Array(a) => match seg.parse::<usize>().ok().and_then(|i| a.get(i)) {
                    Some(x) => x,
                    None => return false,
                },
                _ => return false,
            };
        }
        if v.is_null() {
            return false;
        }
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match &self.op {
            MatchOp::Exists => true,
            MatchOp::Eq(want) => &text == want,
            MatchOp::StartsWith(p) => text.starts_with(p.as_str()),
            MatchOp::Regex(re) => re.is_match(&text),
        }
    }
}

impl FaultConfig {
    /// Parses either failure-lambda format (see the module docs).
    pub fn parse(text: &str) -> Result<FaultConfig, ConfigError> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| ConfigError::Malformed(e.to_string()))?;
        let Value::Object(obj) = v else {
            return Err(ConfigError::Malformed("expected a JSON object".into()));
        };
        let expires_at = match obj.get("expires_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                DateTime::parse_from_rfc3339(s)
                    .map_err(|e| invalid("expires_at", format!("{s:?} is not RFC 3339: {e}")))?
                    .with_timezone(&Utc),
            ),
            Some(other) => {
                return Err(invalid(
                    "expires_at",
                    format!("expected an RFC 3339 string, got {other}"),
                ))
            }
        };
        let mut faults = if obj.contains_key("failureMode") || obj.contains_key("isEnabled") {
            parse_legacy(&obj)?
        } else {
            parse_flags(&obj)?
        };
        faults.sort_by_key(|f| f.kind.order());
        Ok(FaultConfig { faults, expires_at })
    }

    /// Whether nothing can ever be injected.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    /// Whether any fault needs the event (a `match` condition).
    pub fn needs_event(&self) -> bool {
        self.faults.iter().any(|f| !f.matches.is_empty())
    }

    /// Whether the configuration is past its `expires_at`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }

    /// The names of the enabled modes, for logs.
    pub fn mode_names(&self) -> Vec<&'static str> {
        self.faults.iter().map(|f| f.kind.name()).collect()
    }
}

/// A 1.x flag: every attribute of every mode, all optional; unknown attributes are ignored
/// as failure-lambda does.
#[derive(Debug, Default, Deserialize)]
struct RawFlag {
    #[serde(default)]
    enabled: bool,
    percentage: Option<f64>,
    rate: Option<f64>,
    #[serde(rename = "match")]
    matches: Option<Vec<RawMatch>>,
    min_latency: Option<f64>,
    max_latency: Option<f64>,
    exception_msg: Option<String>,
    status_code: Option<f64>,
    disk_space: Option<f64>,
    deny_list: Option<Vec<String>>,
    timeout_buffer_ms: Option<f64>,
    body: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawMatch {
    path: String,
    #[serde(default)]
    operator: Option<String>,
    value: Option<Value>,
}

const MODES: [&str; 7] = [
    "latency",
    "exception",
    "statuscode",
    "diskspace",
    "denylist",
    "timeout",
    "corruption",
];

fn parse_flags(obj: &Map<String, Value>) -> Result<Vec<LayerFault>, ConfigError> {
    let mut out = Vec::new();
    for (key, value) in obj {
        if key == "expires_at" {
            continue;
        }
        if !MODES.contains(&key.as_str()) {
            return Err(ConfigError::UnknownMode(key.clone()));
        }
        let flag: RawFlag = serde_json::from_value(value.clone())
            .map_err(|e| invalid(key.clone(), e.to_string()))?;
        if !flag.enabled {
            continue;
        }
        let percentage = match (flag.percentage, flag.rate) {
            (Some(p), _) => p,
            (None, Some(r)) => rate_to_percentage(key, r)?,
            (None, None) => 100.0,
        };
        out.push(build(key, &flag, percentage)?);
    }
    Ok(out)
}

fn rate_to_percentage(field: &str, r: f64) -> Result<f64, ConfigError> {
    if !(0.0..=1.0).contains(&r) {
        return Err(invalid(
            format!("{field}.rate"),
            format!("{r} is not between 0 and 1"),
        ));
    }
    Ok(r * 100.0)
}

fn num(field: String, v: Option<f64>, default: f64, lo: f64, hi: f64) -> Result<f64, ConfigError> {
    let v = v.unwrap_or(default);
    if !(lo..=hi).contains(&v) || v.fract() != 0.0 {
        return Err(invalid(
            field,
            format!("{v} is not a whole number between {lo} and {hi}"),
        ));
    }
    Ok(v)
}

fn build(mode: &str, f: &RawFlag, percentage: f64) -> Result<LayerFault, ConfigError> {
    if !(0.0..=100.0).contains(&percentage) {
        return Err(invalid(
            format!("{mode}.percentage"),
            format!("{percentage} is not between 0 and 100"),
        ));
    }
    let field = |a: &str| format!("{mode}.{a}");
    let kind = match mode {
        "latency" => {
            let min = num(field("min_latency"), f.min_latency, 100.0, 0.0, 900_000.0)?;
            let max = num(
                field("max_latency"),
                f.max_latency,
                400.0_f64.max(min),
                0.0,
                900_000.0,
            )?;
            if min > max {
                return Err(invalid(
                    field("min_latency"),
                    format!("min_latency {min} is above max_latency {max}"),
                ));
            }
            LayerFaultKind::Latency {
                min: Duration::from_millis(min as u64),
                max: Duration::from_millis(max as u64),
            }
        }
        "timeout" => LayerFaultKind::Timeout {
            buffer: Duration::from_millis(num(
                field("timeout_buffer_ms"),
                f.timeout_buffer_ms,
                0.0,
                0.0,
                900_000.0,
            )? as u64),
        },
        "diskspace" => LayerFaultKind::DiskSpace {
            mb: num(field("disk_space"), f.disk_space, 100.0, 1.0, 10_240.0)? as u64,
        },
        "denylist" => {
            let patterns = f.deny_list.clone().unwrap_or_default();
            if patterns.is_empty() || patterns.len() > MAX_PATTERNS {
                return Err(invalid(
                    field("deny_list"),
                    format!("give 1 to {MAX_PATTERNS} host name patterns"),
                ));
            }
            for p in &patterns {
                check_deny_pattern(p).map_err(|reason| invalid(field("deny_list"), reason))?;
            }
            LayerFaultKind::Denylist { patterns }
        }
        "statuscode" => LayerFaultKind::StatusCode {
            code: num(field("status_code"), f.status_code, 404.0, 100.0, 599.0)? as u16,
        },
        "exception" => LayerFaultKind::Exception {
            message: f
                .exception_msg
                .clone()
                .unwrap_or_else(|| "Exception message!".to_owned()),
        },
        "corruption" => LayerFaultKind::Corruption {
            body: f.body.clone(),
        },
        other => return Err(ConfigError::UnknownMode(other.to_owned())),
    };
    let mut matches = Vec::new();
    for (i, m) in f.matches.iter().flatten().enumerate() {
        matches.push(build_match(&format!("{mode}.match[{i}]"), m)?);
    }
    Ok(LayerFault {
        kind,
        percentage,
        matches,
    })
}

fn build_match(field: &str, m: &RawMatch) -> Result<Match, ConfigError> {
    if m.path.is_empty() {
        return Err(invalid(field, "path is empty"));
    }
    let path = m.path.split('.').map(str::to_owned).collect();
    let value = || -> Result<String, ConfigError> {
        match &m.value {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Null) | None => Err(invalid(field, "this operator needs a value")),
            Some(other) => Ok(other.to_string()),
        }
    };
    let op = match m.operator.as_deref().unwrap_or("eq") {
        "eq" => MatchOp::Eq(value()?),
        "exists" => MatchOp::Exists,
        "startsWith" => MatchOp::StartsWith(value()?),
        "regex" => {
            let p = value()?;
            if p.len() > MAX_PATTERN_LEN {
                return Err(invalid(
                    field,
                    format!("regex longer than {MAX_PATTERN_LEN} characters"),
                ));
            }
            MatchOp::Regex(
                regex_lite::Regex::new(&p)
                    .map_err(|e| invalid(field, format!("bad regex {p:?}: {e}")))?,
            )
        }
        other => {
            return Err(invalid(
                field,
                format!("unknown operator {other:?} (eq, exists, startsWith, regex)"),
            ))
        }
    };
    Ok(Match { path, op })
}

fn parse_legacy(obj: &Map<String, Value>) -> Result<Vec<LayerFault>, ConfigError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Legacy {
        #[serde(default)]
        is_enabled: bool,
        failure_mode: Option<String>,
        rate: Option<f64>,
        min_latency: Option<f64>,
        max_latency: Option<f64>,
        exception_msg: Option<String>,
        status_code: Option<f64>,
        disk_space: Option<f64>,
        denylist: Option<Vec<String>>,
    }
    // serde_path_to_error: a wrong type names its field (`isEnabled`), as 1.x errors do.
    let l: Legacy = serde_path_to_error::deserialize(Value::Object(obj.clone())).map_err(|e| {
        ConfigError::Invalid {
            field: e.path().to_string(),
            reason: e.into_inner().to_string(),
        }
    })?;
    let mode = l.failure_mode.clone().unwrap_or_default();
    if ![
        "latency",
        "exception",
        "statuscode",
        "diskspace",
        "denylist",
    ]
    .contains(&mode.as_str())
    {
        return Err(ConfigError::UnknownMode(mode));
    }
    if !l.is_enabled {
        return Ok(Vec::new());
    }
    let percentage = rate_to_percentage("rate", l.rate.unwrap_or(1.0))?;
    let flag = RawFlag {
        enabled: true,
        min_latency: l.min_latency,
        max_latency: l.max_latency,
        exception_msg: l.exception_msg,
        status_code: l.status_code,
        disk_space: l.disk_space,
        deny_list: l.denylist,
        ..RawFlag::default()
    };
    Ok(vec![build(&mode, &flag, percentage)?])
}

#[cfg(test)]
mod tests;

//! The fault configuration: both failure-lambda formats read into one typed [`FaultConfig`].
//!
//! - 1.x, one object per mode: `{"latency": {"enabled": true, "percentage": 50,
//!   "min_latency": 100, "max_latency": 400}, "exception": {...}, ...}` ([`flag`])
//! - 0.x, one mode: `{"isEnabled": true, "failureMode": "latency", "rate": 0.5,
//!   "minLatency": 100, "maxLatency": 400}` ([`legacy`])
//!
//! Both accept faultline's addition, a top-level `"expires_at"` (RFC 3339) after which the
//! configuration is ignored.
//!
//! [`FaultConfig::read`] reads a document as failure-lambda 1.x reads its own (`src/config.ts`):
//! an unknown top-level key is ignored, an invalid flag is skipped and the valid ones still
//! apply, and a deny pattern the shim cannot run safely is skipped on its own; each is recorded
//! in [`FaultConfig::skipped`] for the caller to log. Only a document that is no JSON object, an
//! invalid `expires_at` (faultline's stop date: never guessed) or an invalid 0.x document (one
//! mode) is rejected whole. [`FaultConfig::parse`] is the strict reading (`faultline layer set`
//! validates with it): anything skipped rejects the document, naming the field.

mod flag;
mod legacy;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Most deny-list patterns applied (the shim's `MAX_PATTERNS`); the rest are skipped.
pub const MAX_PATTERNS: usize = 64;

/// The failure modes, as failure-lambda 1.x names them.
pub const MODES: [&str; 7] = [
    "latency",
    "exception",
    "statuscode",
    "diskspace",
    "denylist",
    "timeout",
    "corruption",
];

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

/// What the reading left out of a document whose other parts apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipKind {
    /// A top-level key that is no failure mode (failure-lambda ignores it).
    UnknownKey,
    /// A flag with an invalid field (failure-lambda skips it).
    Flag,
    /// One deny pattern the shim cannot run safely; the flag's other patterns apply.
    Pattern,
}

/// One part of a document left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// What kind of part.
    pub kind: SkipKind,
    /// The key, or the field that made the flag invalid (`latency.percentage`,
    /// `denylist.deny_list[1]`).
    pub field: String,
    /// What is wrong and what is allowed.
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            SkipKind::UnknownKey => write!(
                f,
                "key {:?} ignored: not a failure mode (known: {})",
                self.field,
                MODES.join(", ")
            ),
            SkipKind::Flag => {
                let mode = self.field.split(['.', '[']).next().unwrap_or_default();
                write!(
                    f,
                    "{mode} not injected: {}: {}; the other flags apply",
                    self.field, self.reason
                )
            }
            SkipKind::Pattern => write!(
                f,
                "{} not applied: {}; the other patterns apply",
                self.field, self.reason
            ),
        }
    }
}

impl Skipped {
    /// The strict reading's error for this part.
    fn to_error(&self) -> ConfigError {
        match self.kind {
            SkipKind::UnknownKey => ConfigError::UnknownMode(self.field.clone()),
            SkipKind::Flag | SkipKind::Pattern => invalid(self.field.clone(), self.reason.clone()),
        }
    }
}

/// A read configuration. The default is "no faults".
#[derive(Debug, Clone, Default)]
pub struct FaultConfig {
    /// The enabled faults, in injection order (see [`LayerFaultKind::order`]).
    pub faults: Vec<LayerFault>,
    /// After this instant the configuration injects nothing.
    pub expires_at: Option<DateTime<Utc>>,
    /// What the reading left out, in document order (log each once).
    pub skipped: Vec<Skipped>,
}

/// One enabled fault.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerFault {
    /// What it does.
    pub kind: LayerFaultKind,
    /// Share of invocations affected, 0..=100 (a whole number in 1.x documents).
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
    /// Host names matching these patterns fail to resolve.
    Denylist {
        /// The patterns applied, as written in the document.
        patterns: Vec<String>,
        /// The same patterns in POSIX ERE, as the `getaddrinfo` shim runs them.
        ere: Vec<String>,
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
    /// Reads either failure-lambda format as failure-lambda reads it (see the module docs).
    pub fn read(text: &str) -> Result<FaultConfig, ConfigError> {
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
        let mut skipped = Vec::new();
        let mut faults = if obj.contains_key("failureMode") || obj.contains_key("isEnabled") {
            legacy::read(&obj, &mut skipped)?
        } else {
            flag::read_all(&obj, &mut skipped)
        };
        faults.sort_by_key(|f| f.kind.order());
        Ok(FaultConfig {
            faults,
            expires_at,
            skipped,
        })
    }

    /// The strict reading: as [`FaultConfig::read`], but anything it would skip rejects the
    /// document, naming the field.
    pub fn parse(text: &str) -> Result<FaultConfig, ConfigError> {
        let c = FaultConfig::read(text)?;
        match c.skipped.first() {
            Some(s) => Err(s.to_error()),
            None => Ok(c),
        }
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

#[cfg(test)]
mod tests;

//! [`Invocation`]: what one monkey run was asked to do, and its [`ExecutionId`] (the
//! idempotency key, safe as the last segment of an SSM parameter name).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::spec::calendar::Purpose;
use crate::spec::experiment::Experiment;

/// What the monkey was asked to do, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// Idempotency key: the scheduler's execution id, or a generated one for manual runs.
    pub execution_id: ExecutionId,
    /// When the schedule fired, if the envelope said so.
    pub scheduled_time: Option<DateTime<Utc>>,
    /// The experiment to run.
    pub experiment: Experiment,
    /// Run the round, or plan a random start (`"phase": "plan-start"` in the envelope).
    pub purpose: Purpose,
    /// The experiment object as given (kept in the record for the report).
    pub spec: serde_json::Value,
}

/// An id that is safe to use as the last segment of an SSM parameter name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ExecutionId(String);

impl ExecutionId {
    /// Validates `raw` as an id: 1..=128 of `[A-Za-z0-9_.-]`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.starts_with("<aws.scheduler") {
            return Err(format!(
                "{raw} is the scheduler's placeholder, not a value: invoke through EventBridge \
                 Scheduler, or omit the envelope to let the monkey generate an id"
            ));
        }
        if raw.is_empty() || raw.len() > 128 {
            return Err(format!("must be 1 to 128 characters, got {}", raw.len()));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(format!(
                "contains {bad:?}; only letters, digits, '-', '_' and '.' are allowed"
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Generates an id for a manual run from the time and 32 random bits.
    pub fn generate(now: DateTime<Utc>, random: u32) -> Self {
        Self(format!(
            "manual-{}-{random:08x}",
            now.format("%Y%m%dT%H%M%SZ")
        ))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

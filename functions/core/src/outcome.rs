//! What a round produced: how it ended ([`RoundOutcome`]), what happened to each target, the
//! phase timings, and [`RoundResult`], which the Lambda returns, the CLI prints and the SNS
//! message is written from.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::aws::AwsError;
use crate::guards::Refusal;
use crate::select::Plan;

/// How a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundOutcome {
    /// Every chosen target was hit.
    Acted,
    /// Some chosen targets failed; the rest were hit.
    Partial,
    /// Every chosen target failed.
    Failed,
    /// A guard refused; nothing changed.
    Refused,
    /// Dry run: the plan only; nothing changed, nothing recorded.
    DryRun,
    /// This execution id already has a record: an at-least-once redelivery; nothing changed.
    Duplicate,
}

impl RoundOutcome {
    /// The outcome's name.
    pub fn name(&self) -> &'static str {
        match self {
            RoundOutcome::Acted => "acted",
            RoundOutcome::Partial => "partial",
            RoundOutcome::Failed => "failed",
            RoundOutcome::Refused => "refused",
            RoundOutcome::DryRun => "dry_run",
            RoundOutcome::Duplicate => "duplicate",
        }
    }
}

/// What happened to one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetResult {
    /// Instance id.
    pub instance_id: String,
    /// Its group, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asg: Option<String>,
    /// `terminated`, `stopped`, `rebooted`, `sent` or `failed`.
    pub outcome: String,
    /// The state AWS reported right after the call (`shutting-down`, `stopping`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Wall time of each phase, milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Kill switch, windows, probability, stop alarms.
    pub guards_ms: u64,
    /// Describe calls.
    pub inventory_ms: u64,
    /// Record creation.
    pub record_ms: u64,
    /// The action itself.
    pub act_ms: u64,
    /// SNS publish.
    pub notify_ms: u64,
    /// The whole round.
    pub total_ms: u64,
}

/// Milliseconds since `t`.
pub(crate) fn ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

/// The result of a round: what the Lambda returns and the CLI prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundResult {
    /// Execution id.
    pub experiment_id: String,
    /// Experiment name.
    pub experiment: String,
    /// How it ended.
    pub outcome: RoundOutcome,
    /// `terminate`, `stop`, `reboot`, `agent`.
    pub action: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// When the round started deciding.
    pub started_at: DateTime<Utc>,
    /// The selection: eligible, requested, chosen, per-group blast radius, exclusions, caps
    /// (flattened: the JSON keeps those six fields at the top level).
    #[serde(flatten)]
    pub plan: Plan,
    /// Per-target outcome (empty unless acted).
    pub results: Vec<TargetResult>,
    /// The guard that refused (at most one: the chain stops at the first).
    pub refusals: Vec<Refusal>,
    /// The record's id (the execution id) in the records table, when one was written (or found,
    /// for a duplicate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// SSM Run Command ids of an `agent` action (one per batch of at most 50 instances).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// The SNS message id, when published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notified: Option<String>,
    /// Why publishing failed, if it did (the action stands; the record is written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_error: Option<String>,
    /// HTTP requests this round made to AWS.
    pub api_calls: u64,
    /// Phase timings.
    pub timings: Timings,
}

/// A round that could not decide safely: nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    /// An AWS read or the record write failed before anything was touched.
    #[error("{0}; nothing was changed. Check the function's IAM permissions and the service's health, then retry")]
    Aws(#[from] AwsError),
}

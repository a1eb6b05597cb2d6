//! The experiment record: what the recovery timer needs, stored as compact JSON in one SSM
//! parameter at `<prefix>/<execution id>`. Creating it is also the idempotency lock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::guards::{Guard, Refusal};

/// SSM's limit for a standard-tier parameter value.
pub const STANDARD_LIMIT: usize = 4096;
/// SSM's limit for an advanced-tier parameter value.
pub const ADVANCED_LIMIT: usize = 8192;

/// Open until the recovery timer closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being watched.
    Open,
    /// Closed with an outcome.
    Closed,
}

/// One experiment's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Format version.
    pub v: u32,
    /// Execution id.
    pub id: String,
    /// Experiment name.
    pub experiment: String,
    /// Open / closed.
    pub status: Status,
    /// When the action was sent.
    pub started_at: DateTime<Utc>,
    /// `terminate`, `stop` or `reboot`.
    pub action: String,
    /// Terminated through the Auto Scaling API.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub via_asg: bool,
    /// Targets in groups, by group, with the group's desired capacity at injection.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, RecordGroup>,
    /// Targets outside any group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub standalone: Vec<String>,
    /// Recovery timeout, seconds.
    pub timeout_s: u64,
    /// Alarms that must be OK for recovery.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
    /// Chosen targets the action failed on (not victims: the timer ignores them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// Set when closed: `recovered`, `not_recovered`, `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// SSM Run Command ids of an `agent` action, one per batch of at most 50 instances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// An `agent` fault's duration in seconds: the agent rolls it back by itself then, which
    /// is one of the recovery timer's conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<u64>,
}

/// A group's part of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordGroup {
    /// `DesiredCapacity` at injection.
    pub desired: u32,
    /// Instance ids hit in this group.
    pub targets: Vec<String>,
}

/// A record encoded for SSM.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// Compact JSON.
    pub json: String,
    /// Needs the advanced tier (over 4 KB).
    pub advanced: bool,
}

impl Record {
    /// Encodes as compact JSON, choosing the standard tier when it fits and the advanced tier
    /// only when needed; refuses (before anything is touched) a record too large for either.
    pub fn encode(&self) -> Result<Encoded, Refusal> {
        let json = serde_json::to_string(self).expect("a record always serialises");
        match json.len() {
            n if n <= STANDARD_LIMIT => Ok(Encoded {
                json,
                advanced: false,
            }),
            n if n <= ADVANCED_LIMIT => Ok(Encoded {
                json,
                advanced: true,
            }),
            n => Err(Refusal::new(
                Guard::RecordTooLarge,
                format!(
                    "the experiment record would be {n} bytes, over SSM's {ADVANCED_LIMIT}: lower \
                     guards.max_targets (about 300 targets fit) or split the experiment"
                ),
            )),
        }
    }

    /// Every instance hit (groups and standalone), minus the failed ones.
    pub fn victims(&self) -> impl Iterator<Item = &str> {
        self.groups
            .values()
            .flat_map(|g| g.targets.iter())
            .chain(self.standalone.iter())
            .map(String::as_str)
    }
}

/// The parameter name of a record.
pub fn parameter_name(prefix: &str, id: &str) -> String {
    format!("{}/{id}", prefix.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: usize) -> Record {
        Record {
            v: 1,
            id: "e1".into(),
            experiment: "web".into(),
            status: Status::Open,
            started_at: DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            action: "terminate".into(),
            via_asg: false,
            groups: BTreeMap::from([(
                "web-asg".to_owned(),
                RecordGroup {
                    desired: 3,
                    targets: (0..n).map(|i| format!("i-{i:017x}")).collect(),
                },
            )]),
            standalone: vec![],
            timeout_s: 1800,
            alarms: vec![],
            failed: vec![],
            outcome: None,
            commands: vec![],
            duration_s: None,
        }
    }

    #[test]
    fn round_trips_compactly() {
        let r = record(2);
        let e = r.encode().unwrap();
        assert!(!e.advanced);
        assert!(!e.json.contains(' '));
        assert!(!e.json.contains("via_asg"));
        let back: Record = serde_json::from_str(&e.json).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.victims().count(), 2);
    }

    #[test]
    fn picks_the_tier_by_size_and_refuses_what_cannot_fit() {
        assert!(!record(150).encode().unwrap().advanced);
        assert!(record(300).encode().unwrap().advanced);
        assert_eq!(
            record(500).encode().unwrap_err().guard,
            Guard::RecordTooLarge
        );
    }

    #[test]
    fn parameter_names() {
        assert_eq!(
            parameter_name("/faultline/experiments/", "x"),
            "/faultline/experiments/x"
        );
        assert_eq!(
            parameter_name("/faultline/experiments", "x"),
            "/faultline/experiments/x"
        );
    }
}

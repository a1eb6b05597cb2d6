//! The experiment record: one typed shape that the monkey creates, the recovery timer closes and
//! the CLI lists. It is stored as one JSON document in a DynamoDB item (`aws::records`), whose
//! conditional create on the execution id is the idempotency lock and whose conditional update on
//! the state is the right to close it once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::guards::{Guard, Refusal};
use crate::spec::{Comparison, Hypothesis, Phase};

/// The record format written by this code. Version 1 was the SSM-parameter record
/// (`faultline records migrate` converts it).
pub const VERSION: u32 = 2;

/// The largest record written: DynamoDB's item limit is 400 KB, and the item's key and index
/// attributes take some of it. About 4,000 targets fit (each takes 60 to 100 bytes).
pub const MAX_BYTES: usize = 350 * 1024;

/// What the experiment did, with what is needed to watch or undo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum RecordAction {
    /// Terminated.
    Terminate {
        /// Through the Auto Scaling API (`TerminateInstanceInAutoScalingGroup`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        via_asg: bool,
    },
    /// Stopped.
    Stop {
        /// Start the instances again this long after the injection (the recovery timer does).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restart_after_s: Option<u64>,
        /// When the recovery timer started them again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restarted_at: Option<DateTime<Utc>>,
    },
    /// Rebooted.
    Reboot,
    /// An on-host agent fault.
    Agent {
        /// The fault's kind (`latency`, `cpu`, ...).
        fault: String,
        /// How long the fault lasts, seconds: the agent rolls it back by itself then, which is
        /// one of the recovery conditions.
        duration_s: u64,
        /// SSM Run Command ids, one per batch of at most 50 instances.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        commands: Vec<String>,
    },
    /// An Availability Zone taken out for a duration, with exactly what restores it.
    AzOutage {
        /// The zone.
        zone: String,
        /// The zone's instances were terminated (else stopped, and started at the restore).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        terminate: bool,
        /// How long the zone is out, seconds.
        duration_s: u64,
        /// The opted-in groups whose subnets in the zone were removed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        groups: Vec<ZoneGroup>,
        /// The network ACLs swapped (`"network": true`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        acls: Vec<AclSwap>,
        /// When everything was put back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restored_at: Option<DateTime<Utc>>,
        /// What the restore did, per group, subnet and instance.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        restored: Vec<RolledBack>,
    },
    /// A change to Lambda functions for a duration, with exactly what restores it.
    Lambda {
        /// Which change.
        change: LambdaChange,
        /// How long the change holds, seconds: the recovery timer restores then.
        duration_s: u64,
        /// What restores each function, read before anything was changed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        restore: Vec<Restore>,
        /// When the previous state was put back (by the recovery timer or an abort).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restored_at: Option<DateTime<Utc>>,
    },
}

/// A group's subnets before an Availability Zone outage removed the zone's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneGroup {
    /// The group.
    pub name: String,
    /// Its `VPCZoneIdentifier` before, exactly (order kept): what the restore puts back.
    pub before: String,
    /// What the outage set.
    pub during: String,
}

/// A subnet whose network ACL an outage swapped for a deny-all one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclSwap {
    /// The subnet.
    pub subnet: String,
    /// Its ACL before: what the restore associates again.
    pub original: String,
    /// The deny-all ACL the outage created (and the restore deletes).
    pub deny: String,
}

/// The change a Lambda experiment makes (the spec's `lambda-fault`, `throttle`,
/// `disable-event-source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LambdaChange {
    /// The function's layer parameter written with faults and `expires_at`.
    LambdaFault,
    /// Reserved concurrency 0.
    Throttle,
    /// Its enabled event source mappings disabled.
    DisableEventSource,
}

impl LambdaChange {
    /// `lambda-fault`, `throttle`, `disable-event-source`.
    pub fn name(&self) -> &'static str {
        match self {
            LambdaChange::LambdaFault => "lambda-fault",
            LambdaChange::Throttle => "throttle",
            LambdaChange::DisableEventSource => "disable-event-source",
        }
    }
}

/// What puts one function back as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum Restore {
    /// The layer parameter: `previous` is put back (deleted when there was none), but only while
    /// the parameter still holds what the monkey `written` (a newer write by someone else wins).
    Parameter {
        /// The function.
        function: String,
        /// The SSM parameter.
        name: String,
        /// Its value before, if it existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
        /// What the monkey wrote.
        written: String,
    },
    /// Reserved concurrency: `previous` set again, or deleted when there was none.
    Concurrency {
        /// The function.
        function: String,
        /// The reserved concurrency before, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<i32>,
    },
    /// An event source mapping that was enabled: enabled again.
    EventSource {
        /// The function.
        function: String,
        /// The mapping's UUID.
        uuid: String,
    },
}

impl Restore {
    /// The function it restores.
    pub fn function(&self) -> &str {
        match self {
            Restore::Parameter { function, .. }
            | Restore::Concurrency { function, .. }
            | Restore::EventSource { function, .. } => function,
        }
    }
}

impl RecordAction {
    /// `terminate`, `stop`, `reboot`, `agent`.
    pub fn name(&self) -> &'static str {
        match self {
            RecordAction::Terminate { .. } => "terminate",
            RecordAction::Stop { .. } => "stop",
            RecordAction::Reboot => "reboot",
            RecordAction::Agent { .. } => "agent",
            RecordAction::Lambda { change, .. } => change.name(),
            RecordAction::AzOutage { .. } => "az-outage",
        }
    }

    /// The action takes its targets out of service (terminate, stop): they never count toward
    /// their group's recovered capacity.
    pub fn takes_out_of_service(&self) -> bool {
        match self {
            RecordAction::Terminate { .. }
            | RecordAction::Stop { .. }
            | RecordAction::AzOutage { .. } => true,
            RecordAction::Reboot | RecordAction::Agent { .. } | RecordAction::Lambda { .. } => {
                false
            }
        }
    }

    /// Standalone targets must be `running` again to recover (stop, reboot).
    pub fn standalone_must_run(&self) -> bool {
        match self {
            RecordAction::Stop { .. } | RecordAction::Reboot => true,
            RecordAction::Terminate { .. }
            | RecordAction::Agent { .. }
            | RecordAction::Lambda { .. }
            | RecordAction::AzOutage { .. } => false,
        }
    }

    /// When a stop's instances are due to start again, if they are and have not been yet.
    pub fn restart_due(&self, started_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            RecordAction::Stop {
                restart_after_s: Some(s),
                restarted_at: None,
            } => Some(started_at + chrono::Duration::seconds(*s as i64)),
            RecordAction::Stop { .. }
            | RecordAction::Terminate { .. }
            | RecordAction::Reboot
            | RecordAction::Agent { .. }
            | RecordAction::Lambda { .. }
            | RecordAction::AzOutage { .. } => None,
        }
    }

    /// When a Lambda change or a zone outage is due to be restored, if it has not been yet.
    pub fn restore_due(&self, started_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            RecordAction::Lambda {
                duration_s,
                restored_at: None,
                ..
            }
            | RecordAction::AzOutage {
                duration_s,
                restored_at: None,
                ..
            } => Some(started_at + chrono::Duration::seconds(*duration_s as i64)),
            RecordAction::Lambda { .. }
            | RecordAction::AzOutage { .. }
            | RecordAction::Stop { .. }
            | RecordAction::Terminate { .. }
            | RecordAction::Reboot
            | RecordAction::Agent { .. } => None,
        }
    }

    /// An agent fault's duration, seconds.
    pub fn fault_duration_s(&self) -> Option<u64> {
        match self {
            RecordAction::Agent { duration_s, .. } => Some(*duration_s),
            RecordAction::Terminate { .. }
            | RecordAction::Stop { .. }
            | RecordAction::Reboot
            | RecordAction::Lambda { .. }
            | RecordAction::AzOutage { .. } => None,
        }
    }
}

/// One instance hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordTarget {
    /// Instance id.
    pub id: String,
    /// Its Auto Scaling group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Its Availability Zone, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// A group hit, as it was at injection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordGroup {
    /// `DesiredCapacity` at injection: recovery means this many healthy instances again.
    pub desired: u32,
}

/// How an experiment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every recovery condition held before the timeout.
    Recovered,
    /// The timeout passed first.
    NotRecovered,
    /// The action failed on every target: nothing to recover from.
    Failed,
}

impl Outcome {
    /// `recovered` / `not_recovered` / `failed` (the record and the SNS `outcome` attribute).
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Recovered => "recovered",
            Outcome::NotRecovered => "not_recovered",
            Outcome::Failed => "failed",
        }
    }

    /// `recovered` / `not-recovered` / `failed` (the SNS `event` attribute).
    pub fn event(&self) -> &'static str {
        match self {
            Outcome::Recovered => "recovered",
            Outcome::NotRecovered => "not-recovered",
            Outcome::Failed => "failed",
        }
    }
}

/// How a record was closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Closed {
    /// Recovered, not, or failed.
    pub outcome: Outcome,
    /// When it was closed.
    pub at: DateTime<Utc>,
    /// When recovery happened (recovered only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_at: Option<DateTime<Utc>>,
    /// Time to recover, whole seconds (recovered only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttr_s: Option<i64>,
    /// The TTR is an upper bound observed by a check, not from an authoritative timestamp.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observed: bool,
    /// Passed or failed, judged by the hypothesis (records closed before verdicts have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// This run's TTR against the median of the experiment's previous runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<Regression>,
    /// Where the report is (`s3://bucket/key/`, holding `report.json` and `report.html`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

/// The verdict on an experiment's hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Recovered, within `max_ttr`, every steady-state condition held.
    Passed,
    /// Something did not hold: each breach says which and by how much.
    Failed {
        /// What did not hold.
        breaches: Vec<Breach>,
    },
    /// Aborted before it could be judged.
    Aborted,
}

impl Verdict {
    /// `passed` / `failed` / `aborted` (record, SNS attribute, metric, exit code mapping).
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed { .. } => "failed",
            Verdict::Aborted => "aborted",
        }
    }
}

/// One thing that did not hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    /// The condition's name, or `max_ttr`, or `recovery` (not recovered in time).
    pub condition: String,
    /// The phase it was checked in (steady-state conditions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The worst value observed (none: no data point in the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<f64>,
    /// The comparison the value had to satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// The threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// By how much the worst value missed the threshold (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<f64>,
    /// When the worst value was observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// For people: `SuccessRate Average during: 91.2 < 99 (by 7.8) at 10:03:00`.
    pub detail: String,
}

/// This run's TTR against the median of the experiment's previous runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    /// This run's TTR, seconds.
    pub ttr_s: i64,
    /// The median TTR of the previous runs compared with, seconds.
    pub median_s: f64,
    /// How many previous runs.
    pub runs: u32,
    /// The factor above the median that flags a regression.
    pub factor: f64,
    /// `ttr_s > factor * median_s`: markedly slower than usual.
    pub slower: bool,
}

/// What the report needs of the round that is not in the rest of the record: the spec as given,
/// the guards passed, the eligible targets spared and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// The experiment object as given.
    pub spec: serde_json::Value,
    /// The guards passed, in order (`kill_switch`, `window`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<String>,
    /// Resources not hit, with why (at most [`MAX_SPARED`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spared: Vec<Spared>,
    /// How many were spared in all (more than `spared` lists when over [`MAX_SPARED`]).
    #[serde(default)]
    pub spared_total: usize,
}

/// The most spared resources a record lists (the count is kept in full).
pub const MAX_SPARED: usize = 200;

/// A resource the round did not hit, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spared {
    /// Instance id, group name or function name.
    pub id: String,
    /// Why (`not chosen`, `group at its floor`, `unhealthy`, ...).
    pub reason: String,
}

/// What aborted an experiment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum AbortTrigger {
    /// One of the experiment's stop alarms went to `ALARM` (seen by the recovery timer).
    StopAlarm {
        /// The alarm's name.
        alarm: String,
    },
    /// `faultline halt`: the kill switch was turned off and every open experiment aborted.
    Halt,
    /// `faultline abort`.
    Abort,
}

impl AbortTrigger {
    /// `stop_alarm` / `halt` / `abort` (logs, the SNS `trigger` attribute).
    pub fn name(&self) -> &'static str {
        match self {
            AbortTrigger::StopAlarm { .. } => "stop_alarm",
            AbortTrigger::Halt => "halt",
            AbortTrigger::Abort => "abort",
        }
    }

    /// For a message: `web-5xx in ALARM`, `faultline halt`, `faultline abort`.
    pub fn describe(&self) -> String {
        match self {
            AbortTrigger::StopAlarm { alarm } => format!("{alarm} in ALARM"),
            AbortTrigger::Halt => "faultline halt".to_owned(),
            AbortTrigger::Abort => "faultline abort".to_owned(),
        }
    }
}

/// What an abort did on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolledBack {
    /// Instance id.
    pub id: String,
    /// Rolled back (or nothing to undo), confirmed.
    pub ok: bool,
    /// The confirmation or the error (`Success`, `started`, `nothing to undo: terminated`, ...).
    pub detail: String,
}

/// How a record was aborted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aborted {
    /// What aborted it.
    pub trigger: AbortTrigger,
    /// When the abort finished (the record changed).
    pub at: DateTime<Utc>,
    /// Per target: rolled back or not.
    pub rolled_back: Vec<RolledBack>,
    /// From the trigger (the alarm's state change, or the call) to the last rollback
    /// confirmation, milliseconds.
    pub time_to_safe_ms: i64,
    /// Where the report is (`s3://bucket/key/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

impl Aborted {
    /// Targets confirmed rolled back (or with nothing to undo).
    pub fn ok(&self) -> usize {
        self.rolled_back.iter().filter(|r| r.ok).count()
    }
}

/// Where an experiment stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum State {
    /// Being watched by the recovery timer.
    Open,
    /// Closed, once.
    Closed(Closed),
    /// Aborted, once: rolled back before it could close.
    Aborted(Aborted),
}

impl State {
    /// `open` / `closed` / `aborted`: the item's `state` attribute.
    pub fn name(&self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed(_) => "closed",
            State::Aborted(_) => "aborted",
        }
    }

    /// When it ended (closed or aborted); `None` while open. Ended records leave the open
    /// index and expire.
    pub fn ended_at(&self) -> Option<DateTime<Utc>> {
        match self {
            State::Open => None,
            State::Closed(c) => Some(c.at),
            State::Aborted(a) => Some(a.at),
        }
    }
}

/// One experiment's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// Execution id.
    pub id: String,
    /// Experiment name.
    pub experiment: String,
    /// When the action was sent.
    pub started_at: DateTime<Utc>,
    /// What was done.
    pub action: RecordAction,
    /// The groups hit, with their desired capacity at injection.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, RecordGroup>,
    /// Every instance hit (the action succeeded on it).
    pub targets: Vec<RecordTarget>,
    /// The Availability Zones the experiment was restricted to (for `"random"`, the one drawn).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// Chosen targets the action failed on (not victims: the timer ignores them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// Recovery timeout, seconds.
    pub timeout_s: u64,
    /// Alarms that must be OK for recovery.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
    /// The experiment's stop and abort alarms (`guards.stop_alarms`, `guards.abort_alarms`):
    /// one in `ALARM` while the record is open makes the recovery timer abort it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_alarms: Vec<String>,
    /// What must hold for the experiment to pass (the spec's, as it ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypothesis: Option<Hypothesis>,
    /// The spec, the guards passed and what was spared: for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
    /// Open or closed.
    pub state: State,
}

impl Record {
    /// Compact JSON: the one serialization of a record.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a record always serialises")
    }

    /// [`Record::json`], refused (before anything is touched) when too large for one item.
    pub fn encode(&self) -> Result<String, Refusal> {
        let json = self.json();
        match json.len() {
            n if n <= MAX_BYTES => Ok(json),
            n => Err(Refusal::new(
                Guard::RecordTooLarge,
                format!(
                    "the experiment record would be {n} bytes, over the {MAX_BYTES} a record may \
                     take: lower guards.max_targets (about 4,000 targets fit) or split the \
                     experiment"
                ),
            )),
        }
    }

    /// Parses a stored record, naming the field of a bad value (`started_at: input contains
    /// invalid characters`).
    pub fn parse(text: &str) -> Result<Record, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize::<_, Record>(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    format!("not JSON: {inner}")
                }
                _ => format!("{path}: {inner}"),
            }
        })
    }

    /// Still being watched.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// How it closed, once closed.
    pub fn closed(&self) -> Option<&Closed> {
        match &self.state {
            State::Open | State::Aborted(_) => None,
            State::Closed(c) => Some(c),
        }
    }

    /// How it was aborted, once aborted.
    pub fn aborted(&self) -> Option<&Aborted> {
        match &self.state {
            State::Open | State::Closed(_) => None,
            State::Aborted(a) => Some(a),
        }
    }

    /// Every instance hit (the failed ones are not targets).
    pub fn victims(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().map(|t| t.id.as_str())
    }

    /// The instances hit in `group`.
    pub fn targets_in<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a str> {
        self.targets
            .iter()
            .filter(move |t| t.group.as_deref() == Some(group))
            .map(|t| t.id.as_str())
    }

    /// The instances hit outside any group.
    pub fn standalone(&self) -> impl Iterator<Item = &str> {
        self.targets
            .iter()
            .filter(|t| t.group.is_none())
            .map(|t| t.id.as_str())
    }

    /// Drops the targets the action failed on (they are not victims) and the groups left
    /// without one, and lists them in `failed`.
    pub fn exclude_failed(&mut self, failed: Vec<String>) {
        self.targets.retain(|t| !failed.contains(&t.id));
        let hit: std::collections::BTreeSet<&str> = self
            .targets
            .iter()
            .filter_map(|t| t.group.as_deref())
            .collect();
        self.groups.retain(|g, _| hit.contains(g.as_str()));
        self.failed = failed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn record(n: usize) -> Record {
        Record {
            v: VERSION,
            id: "e1".into(),
            experiment: "web".into(),
            started_at: DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            action: RecordAction::Terminate { via_asg: false },
            groups: BTreeMap::from([("web-asg".to_owned(), RecordGroup { desired: 3 })]),
            targets: (0..n)
                .map(|i| RecordTarget {
                    id: format!("i-{i:017x}"),
                    group: Some("web-asg".into()),
                    zone: Some("us-east-1a".into()),
                })
                .collect(),
            zones: vec![],
            failed: vec![],
            timeout_s: 1800,
            alarms: vec![],
            stop_alarms: vec![],
            hypothesis: None,
            context: None,
            state: State::Open,
        }
    }

    #[test]
    fn round_trips_compactly_with_typed_action_and_state() {
        let mut r = record(2);
        let json = r.encode().unwrap();
        assert!(!json.contains(' '));
        assert!(!json.contains("via_asg"));
        assert!(json.contains(r#""action":{"type":"terminate"}"#), "{json}");
        assert!(json.contains(r#""state":{"status":"open"}"#), "{json}");
        assert_eq!(Record::parse(&json).unwrap(), r);
        assert_eq!(r.victims().count(), 2);
        r.state = State::Closed(Closed {
            outcome: Outcome::Recovered,
            at: r.started_at,
            recovered_at: Some(r.started_at),
            ttr_s: Some(0),
            observed: false,
            verdict: None,
            regression: None,
            report: None,
        });
        r.action = RecordAction::Agent {
            fault: "latency".into(),
            duration_s: 60,
            commands: vec!["c1".into()],
        };
        let json = r.encode().unwrap();
        assert!(
            json.contains(r#""state":{"status":"closed","outcome":"recovered""#),
            "{json}"
        );
        assert_eq!(Record::parse(&json).unwrap(), r);
        assert_eq!(r.action.fault_duration_s(), Some(60));
    }

    #[test]
    fn an_aborted_record_round_trips_and_has_ended() {
        let mut r = record(1);
        r.stop_alarms = vec!["web-5xx".into()];
        r.state = State::Aborted(Aborted {
            trigger: AbortTrigger::StopAlarm {
                alarm: "web-5xx".into(),
            },
            at: r.started_at,
            rolled_back: vec![RolledBack {
                id: "i-1".into(),
                ok: true,
                detail: "Success".into(),
            }],
            time_to_safe_ms: 3200,
            report: None,
        });
        let json = r.encode().unwrap();
        assert!(
            json.contains(
                r#""state":{"status":"aborted","trigger":{"by":"stop_alarm","alarm":"web-5xx"}"#
            ),
            "{json}"
        );
        assert_eq!(Record::parse(&json).unwrap(), r);
        assert_eq!(r.state.name(), "aborted");
        assert_eq!(r.state.ended_at(), Some(r.started_at));
        assert!(!r.is_open() && r.closed().is_none());
        assert_eq!(r.aborted().unwrap().ok(), 1);
        // Records written before stop alarms were recorded still parse.
        let old = record(1).encode().unwrap();
        assert!(!old.contains("stop_alarms"));
        assert!(Record::parse(&old).unwrap().stop_alarms.is_empty());
    }

    #[test]
    fn a_thousand_targets_fit_and_what_cannot_fit_is_refused() {
        assert!(record(1_000).encode().is_ok());
        assert!(record(4_000).encode().is_ok());
        assert_eq!(
            record(10_000).encode().unwrap_err().guard,
            Guard::RecordTooLarge
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        let json = record(1)
            .encode()
            .unwrap()
            .replace("2026-11-23", "yesterday");
        let e = Record::parse(&json).unwrap_err();
        assert!(e.starts_with("started_at: "), "{e}");
        let json = record(1)
            .encode()
            .unwrap()
            .replace(r#""type":"terminate""#, r#""type":"explode""#);
        let e = Record::parse(&json).unwrap_err();
        assert!(
            e.starts_with("action.type: unknown variant `explode`"),
            "{e}"
        );
        assert!(Record::parse("{").unwrap_err().starts_with("not JSON"));
    }

    #[test]
    fn failed_targets_are_no_victims() {
        let mut r = record(2);
        r.targets.push(RecordTarget {
            id: "i-solo".into(),
            group: None,
            zone: None,
        });
        let all_in_group: Vec<String> = r.targets_in("web-asg").map(str::to_owned).collect();
        r.exclude_failed(all_in_group.clone());
        assert_eq!(r.failed, all_in_group);
        assert!(
            r.groups.is_empty(),
            "a group with no target left is dropped"
        );
        assert_eq!(r.standalone().collect::<Vec<_>>(), ["i-solo"]);
    }
}

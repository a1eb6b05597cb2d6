//! The experiment spec: the JSON an EventBridge Scheduler schedule hands the monkey, parsed once
//! and validated into types that cannot hold an invalid state.
//!
//! Two shapes are accepted: the scheduler envelope
//! `{"execution_id": .., "scheduled_time": .., "experiment": {..}}` and, for manual runs, a bare
//! experiment object (then an id is generated). Parsing happens in two steps, like ripgrep's
//! LowArgs → HiArgs: serde reads the raw shape (rejecting unknown fields by name), then
//! [`validate`] turns it into [`Experiment`], naming the field of the first problem it finds.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::window::{Days, Window};
use faultline_faults::{Fault, FaultDuration, RawArgs};

/// A spec that cannot be run, with the dotted path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid experiment spec: {path}: {message}")]
pub struct SpecError {
    /// Dotted path of the field, e.g. `experiment.selection.value` (`.` for the whole input).
    pub path: String,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
}

impl SpecError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// What the monkey was asked to do, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// Idempotency key: the scheduler's execution id, or a generated one for manual runs.
    pub execution_id: ExecutionId,
    /// When the schedule fired, if the envelope said so.
    pub scheduled_time: Option<DateTime<Utc>>,
    /// The experiment to run.
    pub experiment: Experiment,
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

/// A validated experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// Name used in messages, metrics and records: `[A-Za-z0-9_.-]{1,64}`.
    pub name: String,
    /// Off switch for this experiment alone (the kill switch stops all of them).
    pub enabled: bool,
    /// Which instances may be hit.
    pub targets: Targets,
    /// How many of the eligible instances to hit.
    pub selection: Selection,
    /// What to do to them.
    pub action: Action,
    /// Plan and report only: change nothing, record nothing.
    pub dry_run: bool,
    /// Guard rails beyond the opt-in tag.
    pub guards: Guards,
    /// What the recovery timer watches afterwards.
    pub recovery: Recovery,
    /// Publish refusals to SNS too (acting rounds are always published).
    pub notify_refusals: bool,
}

/// The kind of resource an experiment targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resource {
    /// Instances of opted-in Auto Scaling groups (the group carries the opt-in tag).
    AsgInstance,
    /// Opted-in EC2 instances (the instance carries the opt-in tag), standalone or in a group;
    /// group members still get the group's blast-radius protection.
    Ec2Instance,
}

/// Which instances may be hit, before the opt-in tag and health are checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// Resource kind.
    pub resource: Resource,
    /// Tags that must all match (on the group for `asg-instance`, on the instance otherwise),
    /// ANDed with the opt-in tag.
    pub tags: BTreeMap<String, String>,
    /// Only these groups (`asg-instance` only).
    pub asg_names: Option<Vec<String>>,
}

/// How many of the N eligible targets to pick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Selection {
    /// floor(N × p / 100), at least 1 when N ≥ 1 and p > 0. `p` is in `0.0..=100.0`.
    Percent(f64),
    /// The same percentage of each group separately (`"per_group": true`); standalone
    /// instances count as one pool. Spreads the blast the way Chaos Monkey does.
    PercentEach(f64),
    /// min(n, N).
    Count(u32),
    /// All N.
    All,
}

impl Selection {
    /// The number requested of `eligible` targets, before the guards cap it (for
    /// [`Selection::PercentEach`], of one pool).
    pub fn requested(&self, eligible: usize) -> usize {
        match *self {
            Selection::All => eligible,
            Selection::Count(n) => (n as usize).min(eligible),
            Selection::Percent(p) | Selection::PercentEach(p) => {
                if eligible == 0 || p <= 0.0 {
                    return 0;
                }
                // Exact for integral percentages: compute in hundredths to dodge float error
                // (e.g. 100 * 0.29 = 28.999...).
                let hundredths = (p * 100.0).round() as u128;
                let n = (eligible as u128 * hundredths / 10_000) as usize;
                n.clamp(1, eligible)
            }
        }
    }
}

/// What to do to each chosen instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Terminate. Through the EC2 API (the group has to notice by itself, as in a real failure)
    /// unless `via_asg`, which asks the group to terminate and replace it gracefully.
    Terminate {
        /// Use `TerminateInstanceInAutoScalingGroup` (ShouldDecrementDesiredCapacity=false).
        via_asg: bool,
    },
    /// Stop (the instance can be started again).
    Stop,
    /// Reboot.
    Reboot,
    /// Run a fault on the instance with faultline-agent, through SSM Run Command.
    Agent(AgentAction),
}

/// A fault for faultline-agent, validated with the agent's own types (crate `faultline-faults`).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentAction {
    /// The fault and its arguments.
    pub fault: Fault,
    /// How long it lasts; the agent rolls it back by itself afterwards.
    pub duration: Duration,
}

impl AgentAction {
    /// The parameters of the faultline SSM document: `Fault`, `Args` (checked against the
    /// document's `allowedPattern` during validation), `Duration`.
    pub fn ssm_parameters(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Fault", self.fault.kind().name().to_owned()),
            (
                "Args",
                self.fault
                    .ssm_args()
                    .expect("checked when the spec was validated"),
            ),
            ("Duration", FaultDuration(self.duration).to_arg()),
        ]
    }
}

impl Action {
    /// The action's name as in the spec.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Terminate { .. } => "terminate",
            Action::Stop => "stop",
            Action::Reboot => "reboot",
            Action::Agent(_) => "agent",
        }
    }

    /// The past tense, for messages ("terminated 2 of 7 instances").
    pub fn past_tense(&self) -> &'static str {
        match self {
            Action::Terminate { .. } => "terminated",
            Action::Stop => "stopped",
            Action::Reboot => "rebooted",
            Action::Agent(_) => "sent",
        }
    }
}

/// Guard rails checked before anything is touched.
#[derive(Debug, Clone, PartialEq)]
pub struct Guards {
    /// CloudWatch alarms that must all exist and be `OK`.
    pub stop_alarms: Vec<String>,
    /// Never leave a group with fewer healthy `InService` instances than
    /// max(its `MinSize`, this).
    pub min_healthy: u32,
    /// Never hit more than this many instances in one round.
    pub max_targets: Option<u32>,
    /// The round runs only inside one of these windows (none = any time).
    pub windows: Vec<Window>,
    /// Chance that a round runs at all, in `0.0..=1.0`.
    pub probability: f64,
}

/// What the recovery timer watches.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    /// Give up and report "not recovered" after this long.
    pub timeout: Duration,
    /// Alarms that must be `OK` again for the system to count as recovered.
    pub alarms: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The raw shape, as serde reads it.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    #[serde(default)]
    execution_id: Option<String>,
    #[serde(default)]
    scheduled_time: Option<String>,
    experiment: RawExperiment,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExperiment {
    name: String,
    #[serde(default = "yes")]
    enabled: bool,
    targets: RawTargets,
    selection: RawSelection,
    action: RawAction,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    guards: RawGuards,
    #[serde(default)]
    recovery: RawRecovery,
    #[serde(default)]
    notify_refusals: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargets {
    resource: Resource,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    asg_names: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
enum RawSelection {
    Percent {
        value: f64,
        #[serde(default)]
        per_group: bool,
    },
    Count {
        value: u32,
    },
    // Empty struct variants, not unit variants: serde ignores unknown fields on unit variants
    // of an internally tagged enum even with deny_unknown_fields.
    All {},
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum RawAction {
    Terminate {
        #[serde(default)]
        via_asg: bool,
    },
    Stop {},
    Reboot {},
    Agent {
        fault: String,
        #[serde(default)]
        args: Box<RawArgs>,
        duration: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGuards {
    #[serde(default)]
    stop_alarms: Vec<String>,
    #[serde(default)]
    min_healthy: u32,
    #[serde(default)]
    max_targets: Option<u32>,
    #[serde(default)]
    windows: Vec<RawWindow>,
    #[serde(default = "one")]
    probability: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for RawGuards {
    fn default() -> Self {
        Self {
            stop_alarms: Vec::new(),
            min_healthy: 0,
            max_targets: None,
            windows: Vec::new(),
            probability: 1.0,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    days: String,
    start: String,
    end: String,
    #[serde(default = "utc")]
    tz: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRecovery {
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    alarms: Vec<String>,
}

/// Default time the recovery timer waits before reporting "not recovered".
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(30 * 60);

// ---------------------------------------------------------------------------------------------
// Parsing and validation.

impl Invocation {
    /// Parses a monkey payload from JSON text.
    pub fn from_json_str(
        text: &str,
        now: DateTime<Utc>,
        random: u32,
    ) -> Result<Invocation, SpecError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| SpecError::new(".", format!("the input is not valid JSON: {e}")))?;
        Self::from_value(value, now, random)
    }

    /// Parses a monkey payload already decoded as JSON. `now` and `random` make the generated
    /// id of a bare experiment.
    pub fn from_value(
        value: serde_json::Value,
        now: DateTime<Utc>,
        random: u32,
    ) -> Result<Invocation, SpecError> {
        let serde_json::Value::Object(map) = &value else {
            return Err(SpecError::new(
                ".",
                format!(
                    "expected a JSON object (the scheduler envelope or a bare experiment), got {}",
                    json_kind(&value)
                ),
            ));
        };
        if map.contains_key("experiment") {
            let raw: RawEnvelope = from_value_at(value, "")?;
            let execution_id = match raw.execution_id {
                Some(id) => {
                    ExecutionId::parse(&id).map_err(|m| SpecError::new("execution_id", m))?
                }
                None => ExecutionId::generate(now, random),
            };
            let scheduled_time = raw
                .scheduled_time
                .map(|t| {
                    DateTime::parse_from_rfc3339(&t)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|e| {
                            SpecError::new(
                                "scheduled_time",
                                format!("{t:?} is not an RFC 3339 time ({e})"),
                            )
                        })
                })
                .transpose()?;
            Ok(Invocation {
                execution_id,
                scheduled_time,
                experiment: validate(raw.experiment, "experiment.")?,
            })
        } else {
            let raw: RawExperiment = from_value_at(value, "")?;
            Ok(Invocation {
                execution_id: ExecutionId::generate(now, random),
                scheduled_time: None,
                experiment: validate(raw, "")?,
            })
        }
    }
}

impl Experiment {
    /// Parses a bare experiment object from JSON text (the CLI's `validate` / `plan`).
    pub fn from_json_str(text: &str) -> Result<Experiment, SpecError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| SpecError::new(".", format!("the input is not valid JSON: {e}")))?;
        validate(from_value_at(value, "")?, "")
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn from_value_at<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, SpecError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." {
            prefix.trim_end_matches('.').to_owned()
        } else {
            format!("{prefix}{path}")
        };
        let path = if path.is_empty() {
            ".".to_owned()
        } else {
            path
        };
        SpecError::new(path, e.into_inner().to_string())
    })
}

fn valid_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn validate(raw: RawExperiment, p: &str) -> Result<Experiment, SpecError> {
    let at = |field: &str| format!("{p}{field}");

    if !valid_name(&raw.name, 64) {
        return Err(SpecError::new(
            at("name"),
            format!(
                "{:?} is not a valid name: use 1 to 64 letters, digits, '-', '_' or '.'",
                raw.name
            ),
        ));
    }

    // Targets.
    for (k, v) in &raw.targets.tags {
        if k.is_empty() || k.len() > 128 || v.len() > 256 {
            return Err(SpecError::new(
                at(&format!("targets.tags.{k}")),
                "tag keys must be 1 to 128 characters and values at most 256",
            ));
        }
    }
    if let Some(names) = &raw.targets.asg_names {
        if raw.targets.resource != Resource::AsgInstance {
            return Err(SpecError::new(
                at("targets.asg_names"),
                "asg_names applies to \"resource\": \"asg-instance\" only; for ec2-instance, \
                 select by tags",
            ));
        }
        if names.is_empty() {
            return Err(SpecError::new(
                at("targets.asg_names"),
                "is empty: list at least one group, or omit it to target every opted-in group",
            ));
        }
        if let Some((i, n)) = names
            .iter()
            .enumerate()
            .find(|(_, n)| n.is_empty() || n.len() > 255)
        {
            return Err(SpecError::new(
                at(&format!("targets.asg_names[{i}]")),
                format!("{n:?} is not a valid Auto Scaling group name (1 to 255 characters)"),
            ));
        }
    }

    // Selection.
    let selection = match raw.selection {
        RawSelection::Percent { value, per_group } => {
            if !(value.is_finite() && (0.0..=100.0).contains(&value)) {
                return Err(SpecError::new(
                    at("selection.value"),
                    format!("a percentage must be between 0 and 100, got {value}"),
                ));
            }
            if per_group {
                Selection::PercentEach(value)
            } else {
                Selection::Percent(value)
            }
        }
        RawSelection::Count { value } => {
            if value == 0 {
                return Err(SpecError::new(
                    at("selection.value"),
                    "a count must be at least 1 (disable the experiment with \"enabled\": false)",
                ));
            }
            Selection::Count(value)
        }
        RawSelection::All {} => Selection::All,
    };

    // Action.
    let action = match raw.action {
        RawAction::Terminate { via_asg } => {
            if via_asg && raw.targets.resource != Resource::AsgInstance {
                return Err(SpecError::new(
                    at("action.via_asg"),
                    "via_asg needs \"resource\": \"asg-instance\" (it asks the group to replace \
                     the instance)",
                ));
            }
            Action::Terminate { via_asg }
        }
        RawAction::Stop {} => Action::Stop,
        RawAction::Reboot {} => Action::Reboot,
        RawAction::Agent {
            fault,
            args,
            duration,
        } => {
            let bad = |e: faultline_faults::FaultError| {
                let field = match e.field.as_str() {
                    "fault" => "action.fault".to_owned(),
                    "duration" => "action.duration".to_owned(),
                    f => format!("action.args.{f}"),
                };
                SpecError::new(at(&field), e.message)
            };
            let fault = Fault::from_raw(&fault, &args).map_err(bad)?;
            fault.ssm_args().map_err(bad)?;
            let duration = FaultDuration::parse(&duration).map_err(bad)?.0;
            Action::Agent(AgentAction { fault, duration })
        }
    };

    // Guards.
    let g = raw.guards;
    check_alarm_names(&g.stop_alarms, &at("guards.stop_alarms"))?;
    if g.max_targets == Some(0) {
        return Err(SpecError::new(
            at("guards.max_targets"),
            "must be at least 1 (disable the experiment with \"enabled\": false)",
        ));
    }
    if !(g.probability.is_finite() && (0.0..=1.0).contains(&g.probability)) {
        return Err(SpecError::new(
            at("guards.probability"),
            format!("must be between 0.0 and 1.0, got {}", g.probability),
        ));
    }
    let windows = g
        .windows
        .into_iter()
        .enumerate()
        .map(|(i, w)| parse_window(w, &at(&format!("guards.windows[{i}]"))))
        .collect::<Result<Vec<_>, _>>()?;

    // Recovery.
    let timeout = match raw.recovery.timeout {
        None => DEFAULT_RECOVERY_TIMEOUT,
        Some(t) => {
            let d = humantime::parse_duration(&t).map_err(|e| {
                SpecError::new(
                    at("recovery.timeout"),
                    format!("{t:?} is not a duration like \"30m\" or \"1h 30m\" ({e})"),
                )
            })?;
            if d < Duration::from_secs(60) || d > Duration::from_secs(7 * 24 * 3600) {
                return Err(SpecError::new(
                    at("recovery.timeout"),
                    format!("{t:?} is out of range: use between 1m and 7d"),
                ));
            }
            d
        }
    };
    check_alarm_names(&raw.recovery.alarms, &at("recovery.alarms"))?;

    Ok(Experiment {
        name: raw.name,
        enabled: raw.enabled,
        targets: Targets {
            resource: raw.targets.resource,
            tags: raw.targets.tags,
            asg_names: raw.targets.asg_names,
        },
        selection,
        action,
        dry_run: raw.dry_run,
        guards: Guards {
            stop_alarms: g.stop_alarms,
            min_healthy: g.min_healthy,
            max_targets: g.max_targets,
            windows,
            probability: g.probability,
        },
        recovery: Recovery {
            timeout,
            alarms: raw.recovery.alarms,
        },
        notify_refusals: raw.notify_refusals,
    })
}

fn check_alarm_names(names: &[String], path: &str) -> Result<(), SpecError> {
    if names.len() > 100 {
        return Err(SpecError::new(path, "at most 100 alarms"));
    }
    match names
        .iter()
        .enumerate()
        .find(|(_, n)| n.is_empty() || n.len() > 255)
    {
        Some((i, n)) => Err(SpecError::new(
            format!("{path}[{i}]"),
            format!("{n:?} is not a valid alarm name (1 to 255 characters)"),
        )),
        None => Ok(()),
    }
}

fn parse_window(w: RawWindow, path: &str) -> Result<Window, SpecError> {
    let days = Days::parse(&w.days).map_err(|m| SpecError::new(format!("{path}.days"), m))?;
    let time = |s: &str, field: &str| {
        NaiveTime::parse_from_str(s, "%H:%M")
            .ok()
            .filter(|_| s.len() == 5)
            .ok_or_else(|| {
                SpecError::new(
                    format!("{path}.{field}"),
                    format!("{s:?} is not a time of day as HH:MM between 00:00 and 23:59"),
                )
            })
    };
    let start = time(&w.start, "start")?;
    let end = if w.end == "24:00" {
        None
    } else {
        Some(time(&w.end, "end")?)
    };
    if Some(start) == end {
        return Err(SpecError::new(
            format!("{path}.end"),
            "equals start: a window must have a length (use 00:00 to 24:00 for all day)",
        ));
    }
    let tz: Tz = w.tz.parse().map_err(|_| {
        SpecError::new(
            format!("{path}.tz"),
            format!(
                "{:?} is not an IANA time zone name like \"Europe/London\" or \"UTC\"",
                w.tz
            ),
        )
    })?;
    Ok(Window {
        days,
        start,
        end,
        tz,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    const FULL: &str = r#"{"execution_id": "0b9a-11ef-8f2e",
        "scheduled_time": "2026-11-23T10:00:00Z",
        "experiment": {
          "name": "web-terminate",
          "targets": {"resource": "asg-instance", "tags": {"app": "web"}, "asg_names": ["web-asg"]},
          "selection": {"mode": "percent", "value": 30},
          "action": {"type": "terminate"},
          "dry_run": false,
          "guards": {"stop_alarms": ["web-5xx"], "min_healthy": 1, "max_targets": 10,
                     "windows": [{"days": "MON-FRI", "start": "09:00", "end": "16:00", "tz": "Europe/London"}],
                     "probability": 1.0},
          "recovery": {"timeout": "30m", "alarms": ["web-5xx"]}}}"#;

    fn parse(text: &str) -> Result<Invocation, SpecError> {
        Invocation::from_json_str(text, now(), 0xabcdef)
    }

    fn bare(patch: &str) -> String {
        // A minimal bare experiment with one field replaced by `patch` (a `"key": value` pair).
        let mut fields = vec![
            r#""name": "x""#.to_owned(),
            r#""targets": {"resource": "ec2-instance"}"#.to_owned(),
            r#""selection": {"mode": "all"}"#.to_owned(),
            r#""action": {"type": "stop"}"#.to_owned(),
        ];
        if !patch.is_empty() {
            let key = patch.split(':').next().unwrap();
            fields.retain(|f| !f.starts_with(key));
            fields.push(patch.to_owned());
        }
        format!("{{{}}}", fields.join(","))
    }

    fn err(text: &str) -> SpecError {
        parse(text).expect_err("should be rejected")
    }

    #[test]
    fn parses_the_scheduler_envelope() {
        let inv = parse(FULL).unwrap();
        assert_eq!(inv.execution_id.as_str(), "0b9a-11ef-8f2e");
        assert_eq!(inv.scheduled_time, Some(now()));
        let e = inv.experiment;
        assert_eq!(e.name, "web-terminate");
        assert_eq!(e.targets.resource, Resource::AsgInstance);
        assert_eq!(e.targets.tags.get("app").map(String::as_str), Some("web"));
        assert_eq!(e.selection, Selection::Percent(30.0));
        assert_eq!(e.action, Action::Terminate { via_asg: false });
        assert_eq!(e.guards.max_targets, Some(10));
        assert_eq!(e.guards.windows.len(), 1);
        assert_eq!(e.recovery.timeout, Duration::from_secs(1800));
        assert!(e.enabled && !e.dry_run && !e.notify_refusals);
    }

    #[test]
    fn a_bare_experiment_gets_a_generated_id_and_defaults() {
        let inv = parse(&bare("")).unwrap();
        assert_eq!(
            inv.execution_id.as_str(),
            "manual-20261123T100000Z-00abcdef"
        );
        assert_eq!(inv.experiment.guards.probability, 1.0);
        assert_eq!(inv.experiment.recovery.timeout, DEFAULT_RECOVERY_TIMEOUT);
    }

    #[test]
    fn an_envelope_without_execution_id_gets_one() {
        let text = format!(r#"{{"experiment": {}}}"#, bare(""));
        assert!(parse(&text)
            .unwrap()
            .execution_id
            .as_str()
            .starts_with("manual-"));
    }

    #[test]
    fn rejects_input_that_is_not_json() {
        let e = err("terminate everything please");
        assert_eq!(e.path, ".");
        assert!(e.message.contains("not valid JSON"), "{e}");
        let e = err("[1, 2]");
        assert!(e.message.contains("got an array"), "{e}");
    }

    #[test]
    fn rejects_unknown_fields_by_name() {
        let e = err(&bare(r#""dryrun": true"#));
        assert!(e.message.contains("unknown field `dryrun`"), "{e}");
        let e = err(&bare(
            r#""targets": {"resource": "ec2-instance", "tag": {}}"#,
        ));
        assert_eq!(e.path, "targets.tag");
        assert!(e.message.contains("unknown field `tag`"), "{e}");
        let text = FULL.replace("\"probability\": 1.0", "\"probabilty\": 1.0");
        let e = err(&text);
        assert_eq!(e.path, "experiment.guards.probabilty");
        assert!(e.message.contains("`probabilty`"), "{e}");
    }

    #[test]
    fn rejects_an_unknown_action() {
        let e = err(&bare(r#""action": {"type": "explode"}"#));
        assert_eq!(e.path, "action.type");
        assert!(e.message.contains("unknown variant `explode`"), "{e}");
        assert!(e.message.contains("terminate"), "{e}");
    }

    #[test]
    fn rejects_percent_out_of_range() {
        let e = err(&bare(r#""selection": {"mode": "percent", "value": 150}"#));
        assert_eq!(e.path, "selection.value");
        assert!(e.message.contains("between 0 and 100, got 150"), "{e}");
        let e = err(&bare(r#""selection": {"mode": "percent", "value": -1}"#));
        assert_eq!(e.path, "selection.value");
    }

    #[test]
    fn rejects_empty_or_missing_targets() {
        let e = err(&bare(r#""targets": {}"#));
        assert_eq!(e.path, "targets");
        assert!(e.message.contains("missing field `resource`"), "{e}");
        let e = err(&bare(
            r#""targets": {"resource": "asg-instance", "asg_names": []}"#,
        ));
        assert_eq!(e.path, "targets.asg_names");
        assert!(e.message.contains("is empty"), "{e}");
        let e = err(r#"{"name": "x", "selection": {"mode": "all"}, "action": {"type": "stop"}}"#);
        assert!(e.message.contains("missing field `targets`"), "{e}");
    }

    #[test]
    fn rejects_a_bad_window() {
        let text = FULL.replace("\"16:00\"", "\"25:00\"");
        let e = err(&text);
        assert_eq!(e.path, "experiment.guards.windows[0].end");
        assert!(e.message.contains("\"25:00\""), "{e}");
        let e = err(&FULL.replace("MON-FRI", "MON-FUN"));
        assert_eq!(e.path, "experiment.guards.windows[0].days");
        let e = err(&FULL.replace("Europe/London", "Europe/Londn"));
        assert_eq!(e.path, "experiment.guards.windows[0].tz");
        let e = err(&FULL.replace("\"16:00\"", "\"09:00\""));
        assert!(e.message.contains("equals start"), "{e}");
        let e = err(&FULL.replace("\"09:00\"", "\"9:00\""));
        assert_eq!(e.path, "experiment.guards.windows[0].start");
    }

    #[test]
    fn rejects_other_bad_values() {
        for (patch, path) in [
            (r#""name": "web terminate""#, "name"),
            (r#""name": """#, "name"),
            (
                r#""selection": {"mode": "count", "value": 0}"#,
                "selection.value",
            ),
            (r#""selection": {"mode": "some"}"#, "selection.mode"),
            (r#""guards": {"probability": 1.5}"#, "guards.probability"),
            (r#""guards": {"max_targets": 0}"#, "guards.max_targets"),
            (r#""guards": {"min_healthy": -1}"#, "guards.min_healthy"),
            (
                r#""guards": {"stop_alarms": [""]}"#,
                "guards.stop_alarms[0]",
            ),
            (r#""recovery": {"timeout": "soon"}"#, "recovery.timeout"),
            (r#""recovery": {"timeout": "5s"}"#, "recovery.timeout"),
            (
                r#""action": {"type": "terminate", "via_asg": true}"#,
                "action.via_asg",
            ),
            (r#""action": {"type": "stop", "force": true}"#, "action"),
            (r#""selection": {"mode": "all", "value": 3}"#, "selection"),
            (
                r#""targets": {"resource": "ec2-instance", "asg_names": ["a"]}"#,
                "targets.asg_names",
            ),
            (r#""targets": {"resource": "lambda"}"#, "targets.resource"),
        ] {
            let e = parse(&bare(patch)).expect_err(patch);
            assert_eq!(e.path, path, "{patch}: {e}");
        }
    }

    #[test]
    fn parses_an_agent_action_with_the_agents_own_types() {
        let inv = parse(&bare(
            r#""action": {"type": "agent", "fault": "latency", "args": {"delay_ms": 200, "jitter_ms": 20}, "duration": "5m"}"#,
        ))
        .unwrap();
        let Action::Agent(a) = &inv.experiment.action else {
            panic!("{:?}", inv.experiment.action)
        };
        assert_eq!(a.duration, Duration::from_secs(300));
        assert_eq!(inv.experiment.action.name(), "agent");
        assert_eq!(
            a.ssm_parameters(),
            vec![
                ("Fault", "latency".to_owned()),
                ("Args", "--delay-ms 200 --jitter-ms 20".to_owned()),
                ("Duration", "300s".to_owned()),
            ]
        );
    }

    #[test]
    fn rejects_bad_agent_arguments_by_path() {
        for (action, path, says) in [
            (
                r#"{"type": "agent", "fault": "latency", "args": {"delay_ms": -5}, "duration": "5m"}"#,
                "action.args.delay_ms",
                "got -5",
            ),
            (
                r#"{"type": "agent", "fault": "loss", "args": {"percent": 101}, "duration": "5m"}"#,
                "action.args.percent",
                "at most 100, got 101",
            ),
            (
                r#"{"type": "agent", "fault": "explode", "duration": "5m"}"#,
                "action.fault",
                "unknown fault",
            ),
            (
                r#"{"type": "agent", "fault": "blackhole", "args": {"to": ["10.0.0.0/33"]}, "duration": "5m"}"#,
                "action.args.to",
                "IPv4 CIDR",
            ),
            (
                r#"{"type": "agent", "fault": "latency", "args": {"delay_ms": 100}, "duration": "forever"}"#,
                "action.duration",
                "not a duration",
            ),
            (
                r#"{"type": "agent", "fault": "latency", "args": {"delay": 100}, "duration": "5m"}"#,
                // serde buffers an internally tagged enum, so the path stops at the action; the
                // message still names the field.
                "action",
                "unknown field `delay`",
            ),
            (
                r#"{"type": "agent", "fault": "kill", "args": {"pattern": "java .*Main$"}, "duration": "5m"}"#,
                "action.args.pattern",
                "SSM document",
            ),
            (
                r#"{"type": "agent", "fault": "latency", "args": {"delay_ms": 100}}"#,
                "action",
                "missing field `duration`",
            ),
        ] {
            let e = parse(&bare(&format!(r#""action": {action}"#))).expect_err(action);
            assert_eq!(e.path, path, "{action}: {e}");
            assert!(e.message.contains(says), "{action}: {e}");
        }
    }

    #[test]
    fn rejects_a_bad_envelope() {
        let text = FULL.replace("0b9a-11ef-8f2e", "<aws.scheduler.execution-id>");
        let e = err(&text);
        assert_eq!(e.path, "execution_id");
        assert!(e.message.contains("placeholder"), "{e}");
        let e = err(&FULL.replace("0b9a-11ef-8f2e", "../../etc"));
        assert_eq!(e.path, "execution_id");
        let e = err(&FULL.replace("2026-11-23T10:00:00Z", "yesterday"));
        assert_eq!(e.path, "scheduled_time");
        let e = err(&FULL.replace("\"execution_id\"", "\"executionId\""));
        assert!(e.message.contains("`executionId`"), "{e}");
    }

    #[test]
    fn percent_selection_rounds_down_but_takes_at_least_one() {
        let p = |v: f64, n| Selection::Percent(v).requested(n);
        assert_eq!(p(30.0, 100), 30);
        assert_eq!(p(30.0, 7), 2);
        assert_eq!(p(30.0, 3), 1);
        assert_eq!(p(1.0, 10), 1);
        assert_eq!(p(29.0, 100), 29);
        assert_eq!(p(100.0, 3), 3);
        assert_eq!(p(0.0, 10), 0);
        assert_eq!(p(50.0, 0), 0);
        assert_eq!(Selection::PercentEach(30.0).requested(10), 3);
        assert_eq!(Selection::Count(5).requested(3), 3);
        assert_eq!(Selection::All.requested(4), 4);
    }
}

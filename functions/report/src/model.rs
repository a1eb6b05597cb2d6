//! The report's data: everything an experiment's record says (the spec as given, the guards
//! passed, targets hit and spared, the injection, each recovery condition, the verdict, the
//! regression) with the metric series the verdict read. Stored as `report.json`; the renderers
//! read only this.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use faultline_core::record::{
    Outcome, Record, RecordAction, RecordGroup, RecordTarget, Regression, Restore, RolledBack,
    Spared, State, Verdict,
};
use faultline_core::recovery::Condition;
use faultline_core::spec::{Hypothesis, Phase};
use faultline_core::verdict::{Measure, Series};
use serde::{Deserialize, Serialize};

/// The report format written by this code.
pub const VERSION: u32 = 1;

/// Where the experiment stood when the report was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Still watched by the recovery timer.
    Open,
    /// Closed by the recovery timer.
    Closed,
    /// Aborted.
    Aborted,
}

/// The badge a report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Badge {
    /// The hypothesis held.
    Passed,
    /// Something did not hold.
    Failed,
    /// Aborted before it could be judged.
    Aborted,
    /// Not judged (open, or closed before verdicts existed).
    None,
}

impl Badge {
    /// `passed` / `failed` / `aborted` / `no verdict`.
    pub fn label(&self) -> &'static str {
        match self {
            Badge::Passed => "passed",
            Badge::Failed => "failed",
            Badge::Aborted => "aborted",
            Badge::None => "no verdict",
        }
    }

    /// The CSS class (`passed`, `failed`, `aborted`, `none`).
    pub fn class(&self) -> &'static str {
        match self {
            Badge::Passed => "passed",
            Badge::Failed => "failed",
            Badge::Aborted => "aborted",
            Badge::None => "none",
        }
    }
}

/// What was done, when, where, and what put it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Injection {
    /// `terminate`, `stop`, `agent`, `throttle`, `az-outage`, ...
    pub action: String,
    /// When the action was sent.
    pub at: DateTime<Utc>,
    /// The action as recorded (fault, duration, what restores it).
    pub detail: RecordAction,
    /// The Availability Zones the experiment was restricted to, or the zone taken out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// How long the fault or change lasts, seconds (agent faults, Lambda changes, outages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<u64>,
    /// When the previous state was put back (a stop's restart, a Lambda or zone restore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_at: Option<DateTime<Utc>>,
    /// What was put back, one line each, for people.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restored: Vec<String>,
}

/// One recovery condition, with when it held and where that time comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryCondition {
    /// What, for people: `web-asg back to 3 healthy InService`.
    pub what: String,
    /// It held.
    pub met: bool,
    /// When it became true, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// Where `at` comes from, or why it is not met.
    pub source: String,
}

impl From<&Condition> for RecoveryCondition {
    fn from(c: &Condition) -> Self {
        RecoveryCondition {
            what: c.what.clone(),
            met: c.met,
            at: c.at,
            source: c.detail.clone(),
        }
    }
}

/// How the system recovered (or did not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// The recovery timeout, seconds.
    pub timeout_s: u64,
    /// Alarms that had to be OK.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
    /// Recovered, not, or failed (closed records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// When recovery happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_at: Option<DateTime<Utc>>,
    /// Time to recover, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttr_s: Option<i64>,
    /// The TTR is an upper bound seen by a check, not from an authoritative timestamp.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observed: bool,
    /// When the record was closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    /// Each condition, with its time and source when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<RecoveryCondition>,
}

/// How the experiment was aborted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Abort {
    /// What aborted it, for people (`web-5xx in ALARM`, `faultline abort`).
    pub trigger: String,
    /// When the abort finished.
    pub at: DateTime<Utc>,
    /// Per target: rolled back or not.
    pub rolled_back: Vec<RolledBack>,
    /// From the trigger to the last rollback confirmation, milliseconds.
    pub time_to_safe_ms: i64,
}

/// A phase's window on the time axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Which phase.
    pub phase: Phase,
    /// From.
    pub from: DateTime<Utc>,
    /// To.
    pub to: DateTime<Utc>,
}

/// What happened at one moment, for the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The action was sent.
    Injection,
    /// The previous state was put back (restart, restore).
    Restore,
    /// An agent fault's duration ended.
    FaultEnd,
    /// Every recovery condition held.
    Recovery,
    /// The record was closed.
    Close,
    /// The experiment was aborted.
    Abort,
    /// A condition did not hold.
    Breach,
}

impl EventKind {
    /// `injection`, `restore`, `fault-end`, `recovery`, `close`, `abort`, `breach`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Injection => "injection",
            EventKind::Restore => "restore",
            EventKind::FaultEnd => "fault-end",
            EventKind::Recovery => "recovery",
            EventKind::Close => "close",
            EventKind::Abort => "abort",
            EventKind::Breach => "breach",
        }
    }
}

/// One moment on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// What.
    pub kind: EventKind,
    /// When.
    pub at: DateTime<Utc>,
    /// For people (`injection`, `breach: SuccessRate during`).
    pub label: String,
}

/// A hypothesis condition as charted: its measure and its series, if any was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Charted<'a> {
    /// The condition's name.
    pub name: &'a str,
    /// Its comparison and threshold, when known.
    pub threshold: Option<(faultline_core::spec::Comparison, f64)>,
    /// Its data points, when read.
    pub series: Option<&'a Series>,
}

/// An experiment's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// Execution id.
    pub id: String,
    /// Experiment name.
    pub experiment: String,
    /// When this report was made.
    pub generated_at: DateTime<Utc>,
    /// Open, closed or aborted.
    pub status: Status,
    /// The experiment as given (records made before reports have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<serde_json::Value>,
    /// The guards passed, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<String>,
    /// Every instance hit.
    pub targets: Vec<RecordTarget>,
    /// Chosen targets the action failed on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// The groups hit, with their desired capacity at injection.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, RecordGroup>,
    /// Resources not hit, with why (at most the record's limit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spared: Vec<Spared>,
    /// How many were spared in all.
    #[serde(default)]
    pub spared_total: usize,
    /// What was done.
    pub injection: Injection,
    /// How it recovered.
    pub recovery: Recovery,
    /// How it was aborted, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<Abort>,
    /// What had to hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypothesis: Option<Hypothesis>,
    /// Passed, failed (with breaches) or aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// This run's TTR against the previous runs'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<Regression>,
    /// The metric series: hypothesis conditions and groups' healthy capacity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<Series>,
}

impl Report {
    /// Everything `record` says, with the metric `series` read for it. The recovery conditions
    /// are those the record itself dates (a restart, a restore, a fault's end, the recovery);
    /// [`Report::with_conditions`] replaces them with the recovery timer's own.
    pub fn build(record: &Record, series: Vec<Series>, generated_at: DateTime<Utc>) -> Report {
        let (status, closed, aborted) = match &record.state {
            State::Open => (Status::Open, None, None),
            State::Closed(c) => (Status::Closed, Some(c), None),
            State::Aborted(a) => (Status::Aborted, None, Some(a)),
        };
        let context = record.context.as_ref();
        let injection = injection(record);
        let recovery = Recovery {
            timeout_s: record.timeout_s,
            alarms: record.alarms.clone(),
            outcome: closed.map(|c| c.outcome),
            recovered_at: closed.and_then(|c| c.recovered_at),
            ttr_s: closed.and_then(|c| c.ttr_s),
            observed: closed.is_some_and(|c| c.observed),
            closed_at: closed.map(|c| c.at),
            conditions: conditions(record, &injection),
        };
        Report {
            v: VERSION,
            id: record.id.clone(),
            experiment: record.experiment.clone(),
            generated_at,
            status,
            spec: context.map(|c| c.spec.clone()),
            guards: context.map(|c| c.guards.clone()).unwrap_or_default(),
            targets: record.targets.clone(),
            failed: record.failed.clone(),
            groups: record.groups.clone(),
            spared: context.map(|c| c.spared.clone()).unwrap_or_default(),
            spared_total: context.map_or(0, |c| c.spared_total),
            injection,
            recovery,
            abort: aborted.map(|a| Abort {
                trigger: a.trigger.describe(),
                at: a.at,
                rolled_back: a.rolled_back.clone(),
                time_to_safe_ms: a.time_to_safe_ms,
            }),
            hypothesis: record.hypothesis.clone(),
            verdict: closed
                .and_then(|c| c.verdict.clone())
                .or_else(|| aborted.map(|_| Verdict::Aborted)),
            regression: closed.and_then(|c| c.regression.clone()),
            series,
        }
    }

    /// The recovery timer's conditions (as it evaluated them at closing) instead of those
    /// derived from the record.
    pub fn with_conditions(mut self, conditions: &[Condition]) -> Report {
        self.recovery.conditions = conditions.iter().map(RecoveryCondition::from).collect();
        self
    }

    /// The badge: the verdict, aborted, or none.
    pub fn badge(&self) -> Badge {
        match (&self.verdict, self.status) {
            (Some(Verdict::Passed), _) => Badge::Passed,
            (Some(Verdict::Failed { .. }), _) => Badge::Failed,
            (Some(Verdict::Aborted), _) | (None, Status::Aborted) => Badge::Aborted,
            (None, Status::Open | Status::Closed) => Badge::None,
        }
    }

    /// The breaches of a failed verdict.
    pub fn breaches(&self) -> &[faultline_core::record::Breach] {
        match &self.verdict {
            Some(Verdict::Failed { breaches }) => breaches,
            Some(Verdict::Passed | Verdict::Aborted) | None => &[],
        }
    }

    /// When the experiment ended (closed or aborted), else when the report was made.
    pub fn end(&self) -> DateTime<Utc> {
        self.recovery
            .closed_at
            .or(self.abort.as_ref().map(|a| a.at))
            .unwrap_or(self.generated_at)
    }

    /// When an agent fault's duration ends.
    pub fn fault_end(&self) -> Option<DateTime<Utc>> {
        self.injection
            .detail
            .fault_duration_s()
            .map(|s| self.injection.at + seconds(s))
    }

    /// The phases' windows: `before` the injection, `during` (to recovery or the fault's end,
    /// whichever is later; to the end when not recovered) and `after` recovery. Before and
    /// after only with a hypothesis.
    pub fn windows(&self) -> Vec<Window> {
        let at = self.injection.at;
        let recovered = self.recovery.recovered_at;
        let during_to = [
            recovered.unwrap_or_else(|| self.end()),
            self.fault_end().unwrap_or(at),
        ]
        .into_iter()
        .max()
        .unwrap_or(at);
        let mut out = Vec::new();
        if let Some(h) = &self.hypothesis {
            out.push(Window {
                phase: Phase::Before,
                from: at - seconds(h.before_s),
                to: at,
            });
        }
        out.push(Window {
            phase: Phase::During,
            from: at,
            to: during_to.max(at),
        });
        if let (Some(h), Some(r)) = (&self.hypothesis, recovered) {
            out.push(Window {
                phase: Phase::After,
                from: r,
                to: r + seconds(h.after_s),
            });
        }
        out
    }

    /// Every dated moment, oldest first.
    pub fn events(&self) -> Vec<Event> {
        let event = |kind: EventKind, at: DateTime<Utc>, label: String| Event { kind, at, label };
        let mut out = vec![event(
            EventKind::Injection,
            self.injection.at,
            format!("injection ({})", self.injection.action),
        )];
        if let Some(t) = self.injection.restored_at {
            out.push(event(EventKind::Restore, t, "restore".to_owned()));
        }
        if let Some(t) = self.fault_end() {
            out.push(event(EventKind::FaultEnd, t, "fault ends".to_owned()));
        }
        if let Some(t) = self.recovery.recovered_at {
            out.push(event(EventKind::Recovery, t, "recovered".to_owned()));
        }
        if let Some(t) = self.recovery.closed_at {
            out.push(event(EventKind::Close, t, "closed".to_owned()));
        }
        if let Some(a) = &self.abort {
            out.push(event(
                EventKind::Abort,
                a.at,
                format!("aborted: {}", a.trigger),
            ));
        }
        for b in self.breaches() {
            if let Some(t) = b.at {
                let phase = b
                    .phase
                    .map(|p| format!(" {}", p.name()))
                    .unwrap_or_default();
                out.push(event(
                    EventKind::Breach,
                    t,
                    format!("breach: {}{phase}", b.condition),
                ));
            }
        }
        out.sort_by_key(|e| e.at);
        out
    }

    /// The time axis every chart and the timeline share: the windows, the events and the data
    /// points, with a little room on both sides.
    pub fn span(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let times = self
            .windows()
            .iter()
            .flat_map(|w| [w.from, w.to])
            .chain(self.events().iter().map(|e| e.at))
            .chain(
                self.series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| p.at)),
            )
            .collect::<Vec<_>>();
        let from = times.iter().min().copied().unwrap_or(self.injection.at);
        let to = times.iter().max().copied().unwrap_or(self.injection.at);
        let to = if to - from < Duration::seconds(60) {
            from + Duration::seconds(60)
        } else {
            to
        };
        let pad = (to - from) / 40;
        (from - pad, to + pad)
    }

    /// Every hypothesis condition (in the hypothesis's order), then any other condition series,
    /// each with its series if one was read: every condition gets a chart.
    pub fn charted(&self) -> Vec<Charted<'_>> {
        let series_of = |name: &str| {
            self.series.iter().find(|s| match &s.measure {
                Measure::Condition { name: n, .. } => n == name,
                Measure::Capacity { .. } => false,
            })
        };
        let mut out: Vec<Charted<'_>> = self
            .hypothesis
            .iter()
            .flat_map(|h| h.conditions.iter())
            .map(|c| Charted {
                name: &c.name,
                threshold: Some((c.comparison, c.threshold)),
                series: series_of(&c.name),
            })
            .collect();
        for s in &self.series {
            match &s.measure {
                Measure::Condition {
                    name,
                    comparison,
                    threshold,
                    ..
                } if !out.iter().any(|c| c.name == name) => out.push(Charted {
                    name,
                    threshold: Some((*comparison, *threshold)),
                    series: Some(s),
                }),
                Measure::Condition { .. } | Measure::Capacity { .. } => {}
            }
        }
        out
    }

    /// The groups' healthy-capacity series.
    pub fn capacity(&self) -> Vec<&Series> {
        self.series
            .iter()
            .filter(|s| match s.measure {
                Measure::Capacity { .. } => true,
                Measure::Condition { .. } => false,
            })
            .collect()
    }
}

fn seconds(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

/// The injection, from the record's action.
fn injection(record: &Record) -> Injection {
    let (duration_s, restored_at, restored, zones) = match &record.action {
        RecordAction::Terminate { .. } | RecordAction::Reboot => {
            (None, None, Vec::new(), Vec::new())
        }
        RecordAction::Stop {
            restart_after_s,
            restarted_at,
        } => (
            *restart_after_s,
            *restarted_at,
            restarted_at
                .map(|_| {
                    vec![format!(
                        "{} instance(s) started again",
                        record.targets.len()
                    )]
                })
                .unwrap_or_default(),
            Vec::new(),
        ),
        RecordAction::Agent { duration_s, .. } => (
            Some(*duration_s),
            None,
            vec!["the agent rolls the fault back at the end of its duration".to_owned()],
            Vec::new(),
        ),
        RecordAction::Lambda {
            duration_s,
            restore,
            restored_at,
            ..
        } => (
            Some(*duration_s),
            *restored_at,
            restore.iter().map(restore_line).collect(),
            Vec::new(),
        ),
        RecordAction::AzOutage {
            zone,
            duration_s,
            groups,
            acls,
            restored_at,
            restored,
            ..
        } => {
            let mut lines: Vec<String> = groups
                .iter()
                .map(|g| format!("{}: subnets {} put back", g.name, g.before))
                .collect();
            lines.extend(
                acls.iter()
                    .map(|a| format!("{}: network ACL {} put back", a.subnet, a.original)),
            );
            lines.extend(restored.iter().map(|r| {
                format!(
                    "{}: {}{}",
                    r.id,
                    r.detail,
                    if r.ok { "" } else { " (FAILED)" }
                )
            }));
            (Some(*duration_s), *restored_at, lines, vec![zone.clone()])
        }
    };
    let zones = if zones.is_empty() {
        record.zones.clone()
    } else {
        zones
    };
    Injection {
        action: record.action.name().to_owned(),
        at: record.started_at,
        detail: record.action.clone(),
        zones,
        duration_s,
        restored_at,
        restored,
    }
}

/// One Lambda restore, for people.
fn restore_line(r: &Restore) -> String {
    match r {
        Restore::Parameter {
            function,
            name,
            previous,
            ..
        } => match previous {
            Some(_) => format!("{function}: layer parameter {name} put back"),
            None => format!("{function}: layer parameter {name} deleted (there was none)"),
        },
        Restore::Concurrency { function, previous } => match previous {
            Some(n) => format!("{function}: reserved concurrency back to {n}"),
            None => format!("{function}: reserved concurrency removed (there was none)"),
        },
        Restore::EventSource { function, uuid } => {
            format!("{function}: event source mapping {uuid} enabled again")
        }
    }
}

/// The recovery conditions the record itself dates.
fn conditions(record: &Record, injection: &Injection) -> Vec<RecoveryCondition> {
    let closed = record.closed();
    let recovered = closed.and_then(|c| c.recovered_at);
    let mut out = Vec::new();
    match &record.action {
        RecordAction::Stop { restarted_at, .. } => {
            if let Some(t) = restarted_at {
                out.push(RecoveryCondition {
                    what: "stopped instances started again".to_owned(),
                    met: true,
                    at: Some(*t),
                    source: "the recovery timer's StartInstances".to_owned(),
                });
            }
        }
        RecordAction::Lambda { restored_at, .. } | RecordAction::AzOutage { restored_at, .. } => {
            out.push(RecoveryCondition {
                what: "previous state put back".to_owned(),
                met: restored_at.is_some(),
                at: *restored_at,
                source: match restored_at {
                    Some(_) => "the restore's record".to_owned(),
                    None => "not restored yet".to_owned(),
                },
            });
        }
        RecordAction::Agent { duration_s, .. } => out.push(RecoveryCondition {
            what: format!("the fault's {duration_s}s duration passed"),
            met: recovered.is_some(),
            at: Some(injection.at + seconds(*duration_s)),
            source: "the injection time plus the fault's duration".to_owned(),
        }),
        RecordAction::Terminate { .. } | RecordAction::Reboot => {}
    }
    for (name, g) in &record.groups {
        out.push(RecoveryCondition {
            what: format!("{name} back to {} healthy InService", g.desired),
            met: recovered.is_some(),
            at: None,
            source: "recorded as part of the recovery time".to_owned(),
        });
    }
    for alarm in &record.alarms {
        out.push(RecoveryCondition {
            what: format!("alarm {alarm} OK"),
            met: recovered.is_some(),
            at: None,
            source: "recorded as part of the recovery time".to_owned(),
        });
    }
    if let Some(c) = closed {
        out.push(RecoveryCondition {
            what: "every recovery condition held".to_owned(),
            met: c.recovered_at.is_some(),
            at: c.recovered_at,
            source: match (c.outcome, c.observed) {
                (Outcome::Recovered, true) => {
                    "observed by a check: an upper bound, no authoritative timestamp".to_owned()
                }
                (Outcome::Recovered, false) => {
                    "the latest authoritative timestamp among the conditions".to_owned()
                }
                (Outcome::NotRecovered, _) => "not recovered within the timeout".to_owned(),
                (Outcome::Failed, _) => "the action failed on every target".to_owned(),
            },
        });
    }
    out
}

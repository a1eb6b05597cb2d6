//! The experiment's hypothesis: what must hold for it to pass. A `max_ttr` and steady-state
//! conditions on CloudWatch metrics, each checked in one or more phases (`before` the injection,
//! as a guard; `during` it; `after` recovery). Stored as is in the record, so the recovery timer
//! judges the experiment by the hypothesis it ran with.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// When a condition must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// In the `before_s` seconds before the injection: checked as a guard (a system that is
    /// not steady is not tested).
    Before,
    /// From the injection to recovery (or to the end of the fault's duration, whichever is
    /// later).
    During,
    /// From recovery for `after_s` seconds.
    After,
}

impl Phase {
    /// `before` / `during` / `after`.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::During => "during",
            Phase::After => "after",
        }
    }
}

/// How an observed value is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `<`
    #[serde(rename = "<")]
    Lt,
}

impl Comparison {
    /// `>=`, `>`, `<=`, `<`.
    pub fn symbol(&self) -> &'static str {
        match self {
            Comparison::Ge => ">=",
            Comparison::Gt => ">",
            Comparison::Le => "<=",
            Comparison::Lt => "<",
        }
    }

    /// `value <op> threshold` holds.
    pub fn holds(&self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Ge => value >= threshold,
            Comparison::Gt => value > threshold,
            Comparison::Le => value <= threshold,
            Comparison::Lt => value < threshold,
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// One steady-state condition on a CloudWatch metric: every data point (one per `period_s`) of
/// its phases' windows must satisfy `statistic <comparison> threshold`; a window with no data
/// point fails (no evidence is not evidence of health).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SteadyState {
    /// How the condition is named in verdicts and reports (default: `metric statistic`).
    pub name: String,
    /// CloudWatch namespace (`faultline/traffic`, `AWS/ApplicationELB`).
    pub namespace: String,
    /// Metric name (`SuccessRate`).
    pub metric: String,
    /// Metric dimensions, exactly (`{"Target": "web:80"}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    /// `Average`, `Minimum`, `Maximum`, `Sum`, `SampleCount`, or a percentile `p99`, `p99.9`.
    pub statistic: String,
    /// How the value is compared with `threshold`.
    pub comparison: Comparison,
    /// The threshold.
    pub threshold: f64,
    /// The phases it must hold in (at least one; sorted, no repeats).
    pub when: Vec<Phase>,
    /// Seconds per data point (60 unless the metric is high-resolution): a multiple of 60, or
    /// 1, 5, 10, 30.
    pub period_s: u32,
}

/// The experiment's hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    /// The experiment fails when it took longer than this to recover, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ttr_s: Option<u64>,
    /// The steady-state conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<SteadyState>,
    /// How far back `before` looks from the injection, seconds (default 300).
    pub before_s: u64,
    /// How long `after` is watched from recovery, seconds (default 300): the record closes
    /// with its verdict only then; the time to recover is not changed by it.
    pub after_s: u64,
    /// How many previous runs of the experiment the regression check compares with (their
    /// median TTR; default 5; 0 = no check).
    pub regression_runs: u32,
    /// A TTR above this factor of that median is flagged as a regression (default 1.5).
    pub regression_factor: f64,
}

/// Default `hypothesis.before`.
pub const DEFAULT_BEFORE_S: u64 = 300;
/// Default `hypothesis.after`.
pub const DEFAULT_AFTER_S: u64 = 300;
/// Default `hypothesis.regression.runs`.
pub const DEFAULT_REGRESSION_RUNS: u32 = 5;
/// Default `hypothesis.regression.factor`.
pub const DEFAULT_REGRESSION_FACTOR: f64 = 1.5;

impl Hypothesis {
    /// The conditions checked in `phase`.
    pub fn in_phase(&self, phase: Phase) -> impl Iterator<Item = &SteadyState> {
        self.conditions
            .iter()
            .filter(move |c| c.when.contains(&phase))
    }
}

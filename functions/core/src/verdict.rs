//! Verdicts: the experiment's hypothesis judged on what CloudWatch recorded before, during and
//! after the injection, and the metric series that judgement (and the report's charts) read.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::record::{Breach, Outcome, Record, RecordAction, Regression, Verdict};
use crate::recovery::short_duration;
use crate::spec::{Comparison, Hypothesis, Phase, SteadyState};

/// One data point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The period's start.
    pub at: DateTime<Utc>,
    /// The statistic's value.
    pub value: f64,
}

/// What a series measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measure {
    /// A hypothesis condition's metric.
    Condition {
        /// The condition's name.
        name: String,
        /// Its comparison.
        comparison: Comparison,
        /// Its threshold.
        threshold: f64,
        /// The phases it is checked in.
        when: Vec<Phase>,
    },
    /// An Auto Scaling group's healthy capacity (`AWS/AutoScaling` `GroupInServiceInstances`).
    Capacity {
        /// The group.
        group: String,
        /// Its desired capacity at injection.
        desired: u32,
    },
}

/// A metric's data points over the experiment (sorted by time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// What it measures.
    pub measure: Measure,
    /// `namespace/metric statistic`, for labels.
    pub label: String,
    /// The data points, oldest first.
    pub points: Vec<Point>,
}

/// A phase's time window: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The phase.
    pub phase: Phase,
    /// Inclusive.
    pub start: DateTime<Utc>,
    /// Exclusive.
    pub end: DateTime<Utc>,
}

impl Window {
    /// Whether the data point of a `period_s` bucket starting at `at` overlaps the window
    /// (CloudWatch rounds a query's start down to the period).
    pub fn covers(&self, at: DateTime<Utc>, period_s: u32) -> bool {
        at < self.end && at + Duration::seconds(i64::from(period_s.max(1))) > self.start
    }
}

/// The `before` window ending at `at` (the injection, or now for the guard).
pub fn before_window(h: &Hypothesis, at: DateTime<Utc>) -> Window {
    Window {
        phase: Phase::Before,
        start: at - Duration::seconds(h.before_s as i64),
        end: at,
    }
}

/// When the fault itself ended: the agent fault's duration, or the restore of a Lambda change
/// or a zone outage (its due time while not restored yet); `None` for instant actions.
pub fn fault_end(rec: &Record) -> Option<DateTime<Utc>> {
    let after = |s: u64| rec.started_at + Duration::seconds(s as i64);
    match &rec.action {
        RecordAction::Agent { duration_s, .. } => Some(after(*duration_s)),
        RecordAction::Lambda {
            duration_s,
            restored_at,
            ..
        }
        | RecordAction::AzOutage {
            duration_s,
            restored_at,
            ..
        } => Some(restored_at.unwrap_or_else(|| after(*duration_s))),
        RecordAction::Terminate { .. } | RecordAction::Stop { .. } | RecordAction::Reboot => None,
    }
}

/// The windows the hypothesis is judged in, for a record closing at `now`:
/// - before: `[injection - before_s, injection)`;
/// - during: `[injection, max(recovered_at, end of the fault))` (`now` when not recovered);
/// - after: `[recovered_at, recovered_at + after_s)`, only when recovered.
///
/// Only the phases some condition is checked in.
pub fn windows(
    rec: &Record,
    h: &Hypothesis,
    recovered_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<Window> {
    let mut out = Vec::new();
    let wanted = |p: Phase| h.in_phase(p).next().is_some();
    if wanted(Phase::Before) {
        out.push(before_window(h, rec.started_at));
    }
    if wanted(Phase::During) {
        let end = match (recovered_at, fault_end(rec)) {
            (Some(r), Some(f)) => r.max(f),
            (Some(r), None) => r,
            (None, _) => now,
        };
        // A recovery at the injection instant still has one period to look at.
        let end = end.max(rec.started_at + Duration::seconds(1));
        out.push(Window {
            phase: Phase::During,
            start: rec.started_at,
            end,
        });
    }
    if let (true, Some(r)) = (wanted(Phase::After), recovered_at) {
        out.push(Window {
            phase: Phase::After,
            start: r,
            end: r + Duration::seconds(h.after_s.max(1) as i64),
        });
    }
    out
}

/// What a condition series measures, for a query.
pub fn condition_measure(c: &SteadyState) -> Measure {
    Measure::Condition {
        name: c.name.clone(),
        comparison: c.comparison,
        threshold: c.threshold,
        when: c.when.clone(),
    }
}

/// The comparison a failing value satisfies instead (`>=` fails as `<`).
fn failing_symbol(c: Comparison) -> &'static str {
    match c {
        Comparison::Ge => "<",
        Comparison::Gt => "<=",
        Comparison::Le => ">",
        Comparison::Lt => ">=",
    }
}

/// The worse of two points for a comparison (the lower for `>=`/`>`, the higher for `<=`/`<`);
/// the earlier on a tie.
fn worse(c: Comparison, a: Point, b: Point) -> Point {
    let b_worse = match c {
        Comparison::Ge | Comparison::Gt => b.value < a.value,
        Comparison::Le | Comparison::Lt => b.value > a.value,
    };
    if b_worse {
        b
    } else {
        a
    }
}

fn hms(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// Rounds for people: at most 3 decimals, trailing zeros dropped.
pub fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// One condition in one window: `None` when every data point holds; a [`Breach`] naming the
/// worst point, or "no data" when the window has none.
pub fn check(c: &SteadyState, w: &Window, points: &[Point]) -> Option<Breach> {
    let inside: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| w.covers(p.at, c.period_s))
        .collect();
    let label = format!("{} {}", c.name, w.phase.name());
    let Some(first) = inside.first().copied() else {
        return Some(Breach {
            condition: c.name.clone(),
            phase: Some(w.phase),
            observed: None,
            comparison: Some(c.comparison),
            threshold: Some(c.threshold),
            by: None,
            at: None,
            detail: format!(
                "{label}: no data between {} and {} ({}/{} {}): no evidence is not evidence of health",
                hms(w.start),
                hms(w.end),
                c.namespace,
                c.metric,
                c.statistic
            ),
        });
    };
    let worst = inside
        .iter()
        .copied()
        .fold(first, |a, b| worse(c.comparison, a, b));
    if c.comparison.holds(worst.value, c.threshold) {
        return None;
    }
    let by = (worst.value - c.threshold).abs();
    Some(Breach {
        condition: c.name.clone(),
        phase: Some(w.phase),
        observed: Some(worst.value),
        comparison: Some(c.comparison),
        threshold: Some(c.threshold),
        by: Some(by),
        at: Some(worst.at),
        detail: format!(
            "{label}: {} {} {} (by {}) at {}",
            num(worst.value),
            failing_symbol(c.comparison),
            num(c.threshold),
            num(by),
            hms(worst.at)
        ),
    })
}

/// The points of the condition named `name` among `series`.
fn points_of<'a>(series: &'a [Series], name: &str) -> &'a [Point] {
    series
        .iter()
        .find(|s| matches!(&s.measure, Measure::Condition { name: n, .. } if n == name))
        .map(|s| s.points.as_slice())
        .unwrap_or(&[])
}

/// Every condition of `h` checked in its phases' `windows` against `series`.
pub fn breaches(h: &Hypothesis, windows: &[Window], series: &[Series]) -> Vec<Breach> {
    let mut out = Vec::new();
    for w in windows {
        for c in h.in_phase(w.phase) {
            out.extend(check(c, w, points_of(series, &c.name)));
        }
    }
    out
}

/// The verdict on a closing record: recovered (else a `recovery` breach), within `max_ttr`
/// (else a `max_ttr` breach), and every condition held in each of its phases' windows.
/// Without a hypothesis only recovery counts.
pub fn judge(
    h: Option<&Hypothesis>,
    outcome: Outcome,
    ttr_s: Option<i64>,
    timeout_s: u64,
    windows: &[Window],
    series: &[Series],
) -> Verdict {
    let mut out = Vec::new();
    match (outcome, ttr_s) {
        (Outcome::Recovered, Some(ttr)) => {
            if let Some(max) = h.and_then(|h| h.max_ttr_s) {
                if ttr > max as i64 {
                    let by = ttr - max as i64;
                    out.push(Breach {
                        condition: "max_ttr".to_owned(),
                        phase: None,
                        observed: Some(ttr as f64),
                        comparison: Some(Comparison::Le),
                        threshold: Some(max as f64),
                        by: Some(by as f64),
                        at: None,
                        detail: format!(
                            "max_ttr: recovered in {}, over {} (by {})",
                            short_duration(ttr),
                            short_duration(max as i64),
                            short_duration(by)
                        ),
                    });
                }
            }
        }
        (Outcome::Recovered, None) | (Outcome::NotRecovered, _) | (Outcome::Failed, _) => {
            out.push(Breach {
                condition: "recovery".to_owned(),
                phase: None,
                observed: None,
                comparison: None,
                threshold: None,
                by: None,
                at: None,
                detail: match outcome {
                    Outcome::Failed => "recovery: the action failed on every target".to_owned(),
                    Outcome::Recovered | Outcome::NotRecovered => format!(
                        "recovery: not recovered within the {} timeout",
                        short_duration(timeout_s as i64)
                    ),
                },
            });
        }
    }
    if let Some(h) = h {
        out.extend(breaches(h, windows, series));
    }
    if out.is_empty() {
        Verdict::Passed
    } else {
        Verdict::Failed { breaches: out }
    }
}

/// The median of `values` (`None` when empty).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The fewest previous runs a regression check compares with.
pub const MIN_REGRESSION_RUNS: usize = 3;

/// This run's TTR against the median of the previous runs' (`previous`: their TTRs, newest
/// first; the first `regression_runs` are used). `None` without a TTR, with the check off, or
/// with fewer than [`MIN_REGRESSION_RUNS`] previous runs.
pub fn regression(h: &Hypothesis, ttr_s: Option<i64>, previous: &[i64]) -> Option<Regression> {
    let ttr = ttr_s?;
    let runs = previous.len().min(h.regression_runs as usize);
    if runs < MIN_REGRESSION_RUNS {
        return None;
    }
    let values: Vec<f64> = previous[..runs].iter().map(|s| *s as f64).collect();
    let median_s = median(&values)?;
    Some(Regression {
        ttr_s: ttr,
        median_s,
        runs: runs as u32,
        factor: h.regression_factor,
        slower: ttr as f64 > h.regression_factor * median_s,
    })
}

/// The TTRs of the records that closed recovered, in the given order (the regression's input).
pub fn previous_ttrs(records: &[Record]) -> Vec<i64> {
    records
        .iter()
        .filter_map(|r| r.closed())
        .filter(|c| c.outcome == Outcome::Recovered)
        .filter_map(|c| c.ttr_s)
        .collect()
}

/// `before` as a guard: the conditions checked `before` against the window ending now. `Err`
/// names each that does not hold: `not steady: SuccessRate Average before: 93.1 < 99 ...`.
pub fn steady(h: &Hypothesis, w: &Window, series: &[Series]) -> Result<(), String> {
    let found = breaches(h, std::slice::from_ref(w), series);
    if found.is_empty() {
        return Ok(());
    }
    let list: Vec<&str> = found.iter().map(|b| b.detail.as_str()).collect();
    Err(format!(
        "not steady: {}. The hypothesis' before conditions must hold for the {} before a round; \
         nothing was touched",
        list.join("; "),
        short_duration(h.before_s as i64)
    ))
}

/// Merges series fetched per window into one per measure (points sorted, one per time).
pub fn merge(parts: Vec<Series>) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for s in parts {
        match out.iter_mut().find(|o| o.measure == s.measure) {
            Some(o) => o.points.extend(s.points),
            None => out.push(s),
        }
    }
    for s in &mut out {
        s.points.sort_by_key(|p| p.at);
        s.points.dedup_by_key(|p| p.at);
    }
    out
}

/// One line for the subject: `PASSED`, or `FAILED: SuccessRate during 91.2 < 99` (the first
/// breach), or `ABORTED`.
pub fn headline(v: &Verdict) -> String {
    match v {
        Verdict::Passed => "PASSED".to_owned(),
        Verdict::Aborted => "ABORTED".to_owned(),
        Verdict::Failed { breaches } => match breaches.first() {
            None => "FAILED".to_owned(),
            Some(b) => format!("FAILED: {}", short_breach(b)),
        },
    }
}

/// `SuccessRate during 91.2 < 99`, `SuccessRate during: no data`, `max_ttr 5m 2s > 5m`,
/// `not recovered`.
pub fn short_breach(b: &Breach) -> String {
    match (b.phase, b.observed, b.comparison, b.threshold) {
        (Some(p), Some(v), Some(c), Some(t)) => format!(
            "{} {} {} {} {}",
            b.condition,
            p.name(),
            num(v),
            failing_symbol(c),
            num(t)
        ),
        (Some(p), None, _, _) => format!("{} {}: no data", b.condition, p.name()),
        (None, Some(v), Some(_), Some(t)) => format!(
            "{} {} > {}",
            b.condition,
            short_duration(v as i64),
            short_duration(t as i64)
        ),
        _ => "not recovered".to_owned(),
    }
}

#[cfg(test)]
mod tests;

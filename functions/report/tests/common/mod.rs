//! A realistic report for the renderer and browser tests: a terminate on two instances of
//! `web-asg`, a hypothesis with two conditions, a failed verdict, a regression, metric series
//! for both conditions and the group's healthy capacity, and hostile strings in the spec.

#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use faultline_core::record::{
    Breach, Closed, Context, Outcome, Record, RecordAction, RecordGroup, RecordTarget, Regression,
    Spared, State, Verdict, VERSION,
};
use faultline_core::spec::{Comparison, Hypothesis, Phase, SteadyState};
use faultline_core::verdict::{Measure, Point, Series};
use faultline_report::Report;
use serde_json::json;

/// A string that must never reach the page unescaped.
pub const HOSTILE: &str = "<script>alert('x')</script>&<img src=x>";

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn condition(
    name: &str,
    metric: &str,
    cmp: Comparison,
    threshold: f64,
    when: Vec<Phase>,
) -> SteadyState {
    SteadyState {
        name: name.into(),
        namespace: "faultline/traffic".into(),
        metric: metric.into(),
        dimensions: BTreeMap::from([("Target".to_owned(), "web:80".to_owned())]),
        statistic: "Average".into(),
        comparison: cmp,
        threshold,
        when,
        period_s: 60,
    }
}

/// The record as the recovery timer closes it.
pub fn record() -> Record {
    let start = t("2026-11-23T10:00:00Z");
    let hypothesis = Hypothesis {
        max_ttr_s: Some(300),
        conditions: vec![
            condition(
                "success rate",
                "SuccessRate",
                Comparison::Ge,
                99.0,
                vec![Phase::During, Phase::After],
            ),
            condition(
                "p99 <latency>",
                "Latency",
                Comparison::Le,
                0.5,
                vec![Phase::Before, Phase::During],
            ),
        ],
        before_s: 300,
        after_s: 300,
        regression_runs: 5,
        regression_factor: 1.5,
    };
    Record {
        v: VERSION,
        id: "e-7f3a".into(),
        experiment: "web-terminate".into(),
        started_at: start,
        action: RecordAction::Terminate { via_asg: true },
        groups: BTreeMap::from([("web-asg".to_owned(), RecordGroup { desired: 3 })]),
        targets: vec![
            RecordTarget {
                id: "i-0aaaaaaaaaaaaaaa1".into(),
                group: Some("web-asg".into()),
                zone: Some("us-east-1a".into()),
            },
            RecordTarget {
                id: "i-0aaaaaaaaaaaaaaa2".into(),
                group: Some("web-asg".into()),
                zone: Some("us-east-1b".into()),
            },
        ],
        zones: vec![],
        failed: vec![],
        timeout_s: 1800,
        alarms: vec!["web-5xx".into()],
        stop_alarms: vec![],
        hypothesis: Some(hypothesis),
        context: Some(Context {
            spec: json!({"name": "web-terminate",
                "targets": {"resource": "asg-instance", "tags": {"app": HOSTILE}},
                "selection": {"mode": "count", "value": 2}, "action": {"type": "terminate"}}),
            guards: vec![
                "kill_switch".into(),
                "window".into(),
                "probability".into(),
                "stop_alarms".into(),
            ],
            spared: vec![Spared {
                id: "i-0bbbbbbbbbbbbbbb3".into(),
                reason: "not chosen".into(),
            }],
            spared_total: 1,
        }),
        state: State::Closed(Closed {
            outcome: Outcome::Recovered,
            at: t("2026-11-23T10:09:40Z"),
            recovered_at: Some(t("2026-11-23T10:04:31Z")),
            ttr_s: Some(271),
            observed: false,
            verdict: Some(Verdict::Failed {
                breaches: vec![Breach {
                    condition: "success rate".into(),
                    phase: Some(Phase::During),
                    observed: Some(91.2),
                    comparison: Some(Comparison::Ge),
                    threshold: Some(99.0),
                    by: Some(7.8),
                    at: Some(t("2026-11-23T10:02:00Z")),
                    detail: "SuccessRate Average during: 91.2 < 99 (by 7.8) at 10:02:00".into(),
                }],
            }),
            regression: Some(Regression {
                ttr_s: 271,
                median_s: 150.0,
                runs: 5,
                factor: 1.5,
                slower: true,
            }),
            report: None,
        }),
    }
}

/// One point a minute from 10:00 - 5m to 10:00 + 10m.
fn points(f: impl Fn(i64) -> f64) -> Vec<Point> {
    (-5..=10)
        .map(|m| Point {
            at: t("2026-11-23T10:00:00Z") + Duration::minutes(m),
            value: f(m),
        })
        .collect()
}

pub fn series() -> Vec<Series> {
    vec![
        Series {
            measure: Measure::Condition {
                name: "success rate".into(),
                comparison: Comparison::Ge,
                threshold: 99.0,
                when: vec![Phase::During, Phase::After],
            },
            label: "faultline/traffic/SuccessRate Average".into(),
            points: points(|m| match m {
                1 => 95.0,
                2 => 91.2,
                3 => 97.5,
                _ => 99.8,
            }),
        },
        Series {
            measure: Measure::Condition {
                name: "p99 <latency>".into(),
                comparison: Comparison::Le,
                threshold: 0.5,
                when: vec![Phase::Before, Phase::During],
            },
            label: "faultline/traffic/Latency Average".into(),
            points: points(|m| {
                if (0..4).contains(&m) {
                    0.31 + 0.03 * m as f64
                } else {
                    0.12
                }
            }),
        },
        Series {
            measure: Measure::Capacity {
                group: "web-asg".into(),
                desired: 3,
            },
            label: "AWS/AutoScaling/GroupInServiceInstances Minimum".into(),
            points: points(|m| match m {
                0..=2 => 1.0,
                3 | 4 => 2.0,
                _ => 3.0,
            }),
        },
    ]
}

pub fn report() -> Report {
    Report::build(&record(), series(), t("2026-11-23T10:09:41Z"))
}

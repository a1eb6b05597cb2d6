//! Unit tests of the verdict: windows, checks, the verdict, regression, the guard's reason.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::*;
use crate::record::{Closed, RecordGroup, RecordTarget, State, VERSION};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn cond(name: &str, comparison: Comparison, threshold: f64, when: &[Phase]) -> SteadyState {
    SteadyState {
        name: name.to_owned(),
        namespace: "app".to_owned(),
        metric: "SuccessRate".to_owned(),
        dimensions: BTreeMap::new(),
        statistic: "Average".to_owned(),
        comparison,
        threshold,
        when: when.to_vec(),
        period_s: 60,
    }
}

fn hyp(conditions: Vec<SteadyState>) -> Hypothesis {
    Hypothesis {
        max_ttr_s: Some(300),
        conditions,
        before_s: 300,
        after_s: 300,
        regression_runs: 5,
        regression_factor: 1.5,
    }
}

fn record(action: RecordAction) -> Record {
    Record {
        v: VERSION,
        id: "e1".into(),
        experiment: "web".into(),
        started_at: at("2026-11-23T10:00:00Z"),
        action,
        groups: BTreeMap::from([("web-asg".to_owned(), RecordGroup { desired: 3 })]),
        targets: vec![RecordTarget {
            id: "i-1".into(),
            group: Some("web-asg".into()),
            zone: None,
        }],
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

fn series(name: &str, c: &SteadyState, points: &[(&str, f64)]) -> Series {
    Series {
        measure: condition_measure(&SteadyState {
            name: name.to_owned(),
            ..c.clone()
        }),
        label: "app/SuccessRate Average".to_owned(),
        points: points
            .iter()
            .map(|(t, v)| Point {
                at: at(t),
                value: *v,
            })
            .collect(),
    }
}

#[test]
fn windows_cover_before_during_and_after() {
    let h = hyp(vec![cond(
        "sr",
        Comparison::Ge,
        99.0,
        &[Phase::Before, Phase::During, Phase::After],
    )]);
    let rec = record(RecordAction::Agent {
        fault: "latency".into(),
        duration_s: 600,
        commands: vec![],
    });
    let rec_at = at("2026-11-23T10:02:00Z");
    let w = windows(&rec, &h, Some(rec_at), at("2026-11-23T10:20:00Z"));
    assert_eq!(w.len(), 3);
    assert_eq!(w[0].start, at("2026-11-23T09:55:00Z"));
    assert_eq!(w[0].end, at("2026-11-23T10:00:00Z"));
    // The agent fault lasts 10 minutes: during ends with it, past the recovery.
    assert_eq!(w[1].start, at("2026-11-23T10:00:00Z"));
    assert_eq!(w[1].end, at("2026-11-23T10:10:00Z"));
    assert_eq!(w[2].start, rec_at);
    assert_eq!(w[2].end, at("2026-11-23T10:07:00Z"));
    // Not recovered: during runs to the close; no after window.
    let w = windows(&rec, &h, None, at("2026-11-23T10:30:00Z"));
    assert_eq!(w.len(), 2);
    assert_eq!(w[1].end, at("2026-11-23T10:30:00Z"));
    // A terminate's during ends at recovery.
    let rec = record(RecordAction::Terminate { via_asg: true });
    let w = windows(&rec, &h, Some(rec_at), at("2026-11-23T10:20:00Z"));
    assert_eq!(w[1].end, rec_at);
}

#[test]
fn a_breach_names_the_condition_phase_worst_value_threshold_and_when() {
    let c = cond(
        "SuccessRate Average",
        Comparison::Ge,
        99.0,
        &[Phase::During],
    );
    let w = Window {
        phase: Phase::During,
        start: at("2026-11-23T10:00:00Z"),
        end: at("2026-11-23T10:05:00Z"),
    };
    let pts = series(
        &c.name,
        &c,
        &[
            ("2026-11-23T09:50:00Z", 10.0), // outside: ignored
            ("2026-11-23T10:00:00Z", 99.5),
            ("2026-11-23T10:02:00Z", 91.2),
            ("2026-11-23T10:03:00Z", 95.0),
        ],
    )
    .points;
    let b = check(&c, &w, &pts).expect("a breach");
    assert_eq!(b.condition, "SuccessRate Average");
    assert_eq!(b.phase, Some(Phase::During));
    assert_eq!(b.observed, Some(91.2));
    assert_eq!(b.threshold, Some(99.0));
    assert!((b.by.unwrap() - 7.8).abs() < 1e-9);
    assert_eq!(b.at, Some(at("2026-11-23T10:02:00Z")));
    assert_eq!(
        b.detail,
        "SuccessRate Average during: 91.2 < 99 (by 7.8) at 10:02:00"
    );
    assert_eq!(short_breach(&b), "SuccessRate Average during 91.2 < 99");
    // Every point holds: no breach.
    assert!(check(&c, &w, &[pts[1]]).is_none());
    // Lower is better: the highest point is the worst.
    let lat = cond("p99", Comparison::Lt, 95.0, &[Phase::During]);
    let b = check(&lat, &w, &pts).unwrap();
    assert_eq!(b.observed, Some(99.5));
    assert_eq!(b.detail, "p99 during: 99.5 >= 95 (by 4.5) at 10:00:00");
}

#[test]
fn an_empty_window_fails_with_no_data() {
    let c = cond("sr", Comparison::Ge, 99.0, &[Phase::After]);
    let w = Window {
        phase: Phase::After,
        start: at("2026-11-23T10:00:00Z"),
        end: at("2026-11-23T10:05:00Z"),
    };
    let b = check(&c, &w, &[]).unwrap();
    assert_eq!(b.observed, None);
    assert!(
        b.detail
            .starts_with("sr after: no data between 10:00:00 and 10:05:00"),
        "{}",
        b.detail
    );
    assert_eq!(short_breach(&b), "sr after: no data");
}

#[test]
fn a_bucket_straddling_the_window_start_counts() {
    let w = Window {
        phase: Phase::Before,
        start: at("2026-11-23T10:00:30Z"),
        end: at("2026-11-23T10:05:00Z"),
    };
    assert!(w.covers(at("2026-11-23T10:00:00Z"), 60));
    assert!(!w.covers(at("2026-11-23T09:59:30Z"), 60));
    assert!(!w.covers(at("2026-11-23T10:05:00Z"), 60));
}

#[test]
fn the_verdict_counts_recovery_max_ttr_and_conditions() {
    let c = cond("sr", Comparison::Ge, 99.0, &[Phase::During]);
    let h = hyp(vec![c.clone()]);
    let w = [Window {
        phase: Phase::During,
        start: at("2026-11-23T10:00:00Z"),
        end: at("2026-11-23T10:05:00Z"),
    }];
    let good = [series("sr", &c, &[("2026-11-23T10:01:00Z", 99.9)])];
    let bad = [series("sr", &c, &[("2026-11-23T10:01:00Z", 91.2)])];
    assert_eq!(
        judge(Some(&h), Outcome::Recovered, Some(120), 1800, &w, &good),
        Verdict::Passed
    );
    let v = judge(Some(&h), Outcome::Recovered, Some(120), 1800, &w, &bad);
    assert_eq!(headline(&v), "FAILED: sr during 91.2 < 99");
    let v = judge(Some(&h), Outcome::Recovered, Some(302), 1800, &w, &good);
    let Verdict::Failed { breaches } = &v else {
        panic!("{v:?}")
    };
    assert_eq!(breaches[0].condition, "max_ttr");
    assert_eq!(breaches[0].by, Some(2.0));
    assert_eq!(headline(&v), "FAILED: max_ttr 5m 2s > 5m");
    let v = judge(Some(&h), Outcome::NotRecovered, None, 1800, &w, &good);
    let Verdict::Failed { breaches } = &v else {
        panic!("{v:?}")
    };
    assert_eq!(breaches[0].condition, "recovery");
    assert!(breaches[0].detail.contains("30m timeout"));
    // No hypothesis: recovery alone.
    assert_eq!(
        judge(None, Outcome::Recovered, Some(999), 1800, &[], &[]),
        Verdict::Passed
    );
}

#[test]
fn regression_needs_three_previous_runs_and_flags_slower() {
    let h = hyp(vec![]);
    assert_eq!(regression(&h, Some(100), &[60, 60]), None);
    assert_eq!(regression(&h, None, &[60, 60, 60]), None);
    let r = regression(&h, Some(100), &[60, 50, 70]).unwrap();
    assert_eq!(r.median_s, 60.0);
    assert_eq!(r.runs, 3);
    assert!(r.slower);
    // Only the newest `regression_runs` are compared with.
    let r = regression(&h, Some(100), &[80, 80, 80, 80, 80, 1, 1, 1]).unwrap();
    assert_eq!((r.runs, r.median_s, r.slower), (5, 80.0, false));
    let off = Hypothesis {
        regression_runs: 0,
        ..h
    };
    assert_eq!(regression(&off, Some(100), &[1, 1, 1]), None);
}

#[test]
fn previous_ttrs_take_recovered_closes_only() {
    let mut a = record(RecordAction::Reboot);
    a.state = State::Closed(Closed {
        outcome: Outcome::Recovered,
        at: at("2026-11-23T10:05:00Z"),
        recovered_at: None,
        ttr_s: Some(42),
        observed: false,
        verdict: None,
        regression: None,
        report: None,
    });
    let mut b = a.clone();
    if let State::Closed(c) = &mut b.state {
        c.outcome = Outcome::NotRecovered;
        c.ttr_s = None;
    }
    let open = record(RecordAction::Reboot);
    assert_eq!(previous_ttrs(&[a, b, open]), vec![42]);
}

#[test]
fn the_steady_state_guard_names_condition_and_value() {
    let c = cond(
        "SuccessRate Average",
        Comparison::Ge,
        99.0,
        &[Phase::Before],
    );
    let h = hyp(vec![c.clone()]);
    let w = before_window(&h, at("2026-11-23T10:00:00Z"));
    let s = [series(&c.name, &c, &[("2026-11-23T09:58:00Z", 93.1)])];
    let why = steady(&h, &w, &s).unwrap_err();
    assert!(
        why.starts_with("not steady: SuccessRate Average before: 93.1 < 99"),
        "{why}"
    );
    let s = [series(&c.name, &c, &[("2026-11-23T09:58:00Z", 99.1)])];
    assert!(steady(&h, &w, &s).is_ok());
}

#[test]
fn merge_joins_windows_per_measure() {
    let c = cond("sr", Comparison::Ge, 99.0, &[Phase::During]);
    let a = series(
        "sr",
        &c,
        &[("2026-11-23T10:01:00Z", 1.0), ("2026-11-23T10:02:00Z", 2.0)],
    );
    let b = series(
        "sr",
        &c,
        &[("2026-11-23T10:02:00Z", 2.0), ("2026-11-23T10:00:00Z", 0.0)],
    );
    let m = merge(vec![a, b]);
    assert_eq!(m.len(), 1);
    let v: Vec<f64> = m[0].points.iter().map(|p| p.value).collect();
    assert_eq!(v, vec![0.0, 1.0, 2.0]);
}

proptest! {
    /// A condition holds exactly when every point in the window satisfies the comparison, and a
    /// breach's observed value is the worst point.
    #[test]
    fn a_breach_iff_some_point_fails(values in proptest::collection::vec(0.0f64..200.0, 1..30),
                                     threshold in 0.0f64..200.0, ge in any::<bool>()) {
        let comparison = if ge { Comparison::Ge } else { Comparison::Le };
        let c = cond("x", comparison, threshold, &[Phase::During]);
        let start = at("2026-11-23T10:00:00Z");
        let w = Window { phase: Phase::During, start, end: start + Duration::hours(1) };
        let pts: Vec<Point> = values.iter().enumerate()
            .map(|(i, v)| Point { at: start + Duration::minutes(i as i64), value: *v })
            .collect();
        let any_fails = values.iter().any(|v| !comparison.holds(*v, threshold));
        let b = check(&c, &w, &pts);
        prop_assert_eq!(b.is_some(), any_fails);
        if let Some(b) = b {
            let worst = if ge { values.iter().copied().fold(f64::MAX, f64::min) }
                        else { values.iter().copied().fold(f64::MIN, f64::max) };
            prop_assert_eq!(b.observed, Some(worst));
        }
    }

    /// The median lies between the minimum and the maximum, and the regression flag is
    /// exactly `ttr > factor * median`.
    #[test]
    fn regression_is_factor_times_median(prev in proptest::collection::vec(1i64..10_000, 3..10),
                                         ttr in 0i64..30_000) {
        let h = hyp(vec![]);
        let r = regression(&h, Some(ttr), &prev).unwrap();
        let used = &prev[..prev.len().min(5)];
        let lo = *used.iter().min().unwrap() as f64;
        let hi = *used.iter().max().unwrap() as f64;
        prop_assert!(r.median_s >= lo && r.median_s <= hi);
        prop_assert_eq!(r.slower, ttr as f64 > 1.5 * r.median_s);
    }
}

//! Recovery end to end on hand-made observations: pending, recovered with an authoritative or
//! only observed time to recover, timed out, and the messages that say so.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::record::{Record, RecordTarget};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-23T{s}Z"))
        .unwrap()
        .with_timezone(&Utc)
}

// Built from JSON, as the timer reads it, so fields added to `Record` later need no edit here.
fn rec(action: &str, alarms: &[&str]) -> Record {
    let action = match action {
        "agent" => serde_json::json!({"type": "agent", "fault": "latency", "duration_s": 300}),
        a => serde_json::json!({"type": a}),
    };
    serde_json::from_value(serde_json::json!({
        "v": 2, "id": "e1", "experiment": "web-terminate", "state": {"status": "open"},
        "started_at": "2026-11-23T10:00:00Z", "action": action,
        "groups": {"web-asg": {"desired": 3}},
        "targets": [{"id": "i-a", "group": "web-asg", "zone": "us-east-1a"}],
        "timeout_s": 1800, "alarms": alarms,
    }))
    .unwrap()
}

/// The same record with one standalone target, `i-s`, and no group.
fn standalone(mut r: Record) -> Record {
    r.groups.clear();
    r.targets = vec![RecordTarget {
        id: "i-s".into(),
        group: None,
        zone: None,
    }];
    r
}

fn obs(healthy: &[&str], alarm: Option<(&str, &str)>) -> Observation {
    let mut o = Observation::default();
    o.groups.insert(
        "web-asg".into(),
        GroupObs {
            healthy_in_service: healthy.iter().map(|s| s.to_string()).collect(),
        },
    );
    if let Some((state, at)) = alarm {
        o.alarms.insert(
            "web-5xx".into(),
            AlarmObs {
                state: state.into(),
                updated: Some(t(at)),
            },
        );
    }
    o
}

#[test]
fn pending_while_capacity_is_short_or_an_alarm_fires() {
    let r = rec("terminate", &["web-5xx"]);
    // The victim is still listed: it does not count.
    let o = obs(&["i-a", "i-b", "i-c"], Some(("OK", "09:00:00")));
    assert!(matches!(
        decide(&r, &o, t("10:01:00")),
        Decision::Pending { .. }
    ));
    let o = obs(&["i-b", "i-c", "i-d"], Some(("ALARM", "10:00:30")));
    let Decision::Pending { conditions, .. } = decide(&r, &o, t("10:01:00")) else {
        panic!()
    };
    assert_eq!(conditions.iter().filter(|c| !c.met).count(), 1);
    assert_eq!(conditions[1].detail, "state ALARM");
}

#[test]
fn ttr_is_the_latest_authoritative_timestamp_not_the_check_time() {
    let r = rec("terminate", &["web-5xx"]);
    let mut o = obs(&["i-b", "i-c", "i-d"], Some(("OK", "10:02:31")));
    o.launches.push(Launch {
        group: "web-asg".into(),
        instance: Some("i-d".into()),
        end_time: t("10:01:10"),
        source: "launch event",
    });
    let Decision::Close(c) = decide(&r, &o, t("10:07:00")) else {
        panic!()
    };
    assert_eq!(c.outcome, Outcome::Recovered);
    assert_eq!(c.ttr, Some(Duration::seconds(151)));
    assert!(!c.observed);
    let m = message(&r, &c);
    assert_eq!(m.subject, "[faultline] web-terminate recovered in 2m 31s");
    assert!(m.body.contains("10:01:10  web-asg back to 3 healthy InService instance(s) (launch event EndTime of i-d)"), "{}", m.body);
    assert!(m
        .body
        .contains("10:02:31  recovered: time to recover 2m 31s"));
    assert!(!m.body.contains('{'), "no JSON in an email body");
}

#[test]
fn a_launch_end_time_in_the_future_is_clamped_to_the_decision() {
    // A record decided 0.3 s after the injection must not close with a TTR of 94 s.
    let r = rec("terminate", &[]);
    let mut o = obs(&["i-b", "i-c", "i-d"], None);
    o.launches.push(Launch {
        group: "web-asg".into(),
        instance: Some("i-d".into()),
        end_time: t("10:01:34"),
        source: "launch event",
    });
    let now = t("10:00:00") + Duration::milliseconds(300);
    let Decision::Close(c) = decide(&r, &o, now) else {
        panic!()
    };
    assert_eq!(c.outcome, Outcome::Recovered);
    assert_eq!(c.recovered_at, Some(now));
    assert_eq!(c.ttr, Some(Duration::milliseconds(300)));
    assert_eq!(c.closed().ttr_s, Some(0));
    assert!(c.conditions[0].clamped(), "{:?}", c.conditions[0]);
    assert!(
        c.conditions[0]
            .detail
            .contains("2026-11-23T10:01:34.000Z in the future"),
        "{}",
        c.conditions[0].detail
    );
    // A time in the past is left as it is.
    let Decision::Close(c) = decide(&r, &o, t("10:05:00")) else {
        panic!()
    };
    assert_eq!(c.ttr, Some(Duration::seconds(94)));
    assert!(!c.conditions[0].clamped());
}

#[test]
fn a_launch_before_the_injection_is_no_evidence() {
    let r = rec("terminate", &[]);
    let mut o = obs(&["i-b", "i-c", "i-d"], None);
    o.launches.push(Launch {
        group: "web-asg".into(),
        instance: None,
        end_time: t("09:59:00"),
        source: "scaling activity",
    });
    let Decision::Close(c) = decide(&r, &o, t("10:05:00")) else {
        panic!()
    };
    // Only observed: the bound is the check time, and the message says so.
    assert!(c.observed);
    assert_eq!(c.ttr, Some(Duration::seconds(300)));
    let m = message(&r, &c);
    assert_eq!(
        m.subject,
        "[faultline] web-terminate recovered, observed within 5m"
    );
    assert!(m.body.contains("observed by 10:05:00"), "{}", m.body);
}

#[test]
fn timeout_closes_not_recovered_and_lists_what_was_missing() {
    let r = rec("terminate", &["web-5xx"]);
    let o = obs(&["i-b"], Some(("ALARM", "10:00:30")));
    assert!(matches!(
        decide(&r, &o, t("10:29:59")),
        Decision::Pending { .. }
    ));
    let Decision::Close(c) = decide(&r, &o, t("10:30:00")) else {
        panic!()
    };
    assert_eq!(c.outcome, Outcome::NotRecovered);
    assert_eq!(c.closed().ttr_s, None);
    let m = message(&r, &c);
    assert_eq!(
        m.subject,
        "[faultline] web-terminate NOT recovered after 30m"
    );
    assert!(
        m.body
            .contains("web-asg back to 3 healthy InService instance(s): 1 of 3 healthy InService"),
        "{}",
        m.body
    );
    assert!(m.body.contains("alarm web-5xx OK: state ALARM"));
}

#[test]
fn recovery_after_the_deadline_is_not_recovery() {
    let r = rec("terminate", &["web-5xx"]);
    let o = obs(&["i-b", "i-c", "i-d"], Some(("OK", "10:45:00")));
    let Decision::Close(c) = decide(&r, &o, t("10:50:00")) else {
        panic!()
    };
    assert_eq!(c.outcome, Outcome::NotRecovered);
}

#[test]
fn standalone_stop_waits_for_running_and_uses_launch_time() {
    let r = standalone(rec("stop", &[]));
    let mut o = Observation::default();
    o.instances.insert(
        "i-s".into(),
        InstanceObs {
            state: "stopped".into(),
            launch_time: Some(t("08:00:00")),
        },
    );
    assert!(matches!(
        decide(&r, &o, t("10:01:00")),
        Decision::Pending { .. }
    ));
    o.instances.get_mut("i-s").unwrap().state = "running".into();
    o.instances.get_mut("i-s").unwrap().launch_time = Some(t("10:00:45"));
    let Decision::Close(c) = decide(&r, &o, t("10:03:00")) else {
        panic!()
    };
    assert_eq!(c.ttr, Some(Duration::seconds(45)));
    // Standalone terminate has no condition: recovered at once.
    let r = standalone(rec("terminate", &[]));
    let Decision::Close(c) = decide(&r, &Observation::default(), t("10:00:05")) else {
        panic!()
    };
    assert_eq!(c.ttr, Some(Duration::zero()));
}

#[test]
fn agent_faults_recover_when_their_duration_has_passed() {
    let r = standalone(rec("agent", &[]));
    let o = Observation::default();
    assert!(matches!(
        decide(&r, &o, t("10:04:59")),
        Decision::Pending { .. }
    ));
    let Decision::Close(c) = decide(&r, &o, t("10:06:00")) else {
        panic!()
    };
    assert_eq!(c.ttr, Some(Duration::seconds(300)));
}

#[test]
fn a_reboot_in_a_group_may_count_its_victims() {
    let r = rec("reboot", &[]);
    let o = obs(&["i-a", "i-b", "i-c"], None);
    assert!(matches!(decide(&r, &o, t("10:01:00")), Decision::Close(_)));
}

/// A throttle of `orders` for 5 minutes from 10:00, restored at `restored` (if it was).
fn throttle(restored: Option<&str>) -> Record {
    serde_json::from_value(serde_json::json!({
        "v": 2, "id": "l1", "experiment": "orders-throttle", "state": {"status": "open"},
        "started_at": "2026-11-23T10:00:00Z",
        "action": {"type": "lambda", "change": "throttle", "duration_s": 300,
                   "restore": [{"what": "concurrency", "function": "orders", "previous": 5}],
                   "restored_at": restored.map(|s| format!("2026-11-23T{s}Z"))},
        "targets": [{"id": "orders"}], "timeout_s": 1800, "alarms": ["web-5xx"],
    }))
    .unwrap()
}

#[test]
fn a_lambda_change_recovers_from_its_restore_to_the_alarms_ok() {
    // Not restored yet: pending, whatever the alarms say.
    let o = obs(&[], Some(("OK", "09:00:00")));
    match decide(&throttle(None), &o, t("10:06:00")) {
        Decision::Pending { conditions, .. } => {
            let c = conditions.iter().find(|c| !c.met).unwrap();
            assert!(c.what.contains("restored after 5m"), "{c:?}");
        }
        other => panic!("{other:?}"),
    }
    // Restored at 10:05:10, the backlog alarm OK again at 10:07:40: TTR 2m 30s from the restore.
    let o = obs(&[], Some(("OK", "10:07:40")));
    let Decision::Close(c) = decide(&throttle(Some("10:05:10")), &o, t("10:08:00")) else {
        panic!("should close");
    };
    assert_eq!(c.outcome, Outcome::Recovered);
    assert_eq!(c.ttr, Some(Duration::seconds(150)));
    assert!(!c.observed);
    // An alarm OK since before the restore: recovered at the restore, TTR 0.
    let o = obs(&[], Some(("OK", "09:00:00")));
    let Decision::Close(c) = decide(&throttle(Some("10:05:10")), &o, t("10:06:00")) else {
        panic!("should close");
    };
    assert_eq!(c.ttr, Some(Duration::zero()));
    assert_eq!(c.recovered_at, Some(t("10:05:10")));
}

/// A recovered record whose hypothesis has an `after` condition stays pending until the
/// after-window ends, with a condition saying so; the TTR is unchanged when it closes.
#[test]
fn the_after_window_keeps_a_recovered_record_pending() {
    let mut r = rec("terminate", &[]);
    r.hypothesis = Some(crate::spec::Hypothesis {
        max_ttr_s: None,
        conditions: vec![crate::spec::SteadyState {
            name: "sr".into(),
            namespace: "app".into(),
            metric: "SuccessRate".into(),
            dimensions: Default::default(),
            statistic: "Average".into(),
            comparison: crate::spec::Comparison::Ge,
            threshold: 99.0,
            when: vec![crate::spec::Phase::After],
            period_s: 60,
        }],
        before_s: 300,
        after_s: 300,
        regression_runs: 5,
        regression_factor: 1.5,
    });
    let mut o = obs(&["i-b", "i-c", "i-d"], None);
    o.launches.push(Launch {
        group: "web-asg".into(),
        instance: Some("i-d".into()),
        end_time: t("10:02:00"),
        source: "scaling activity",
    });
    match decide(&r, &o, t("10:04:00")) {
        Decision::Pending {
            conditions,
            deadline,
        } => {
            assert_eq!(deadline, t("10:07:00"));
            let c = conditions.last().unwrap();
            assert_eq!(c.what, "hypothesis after-window");
            assert!(!c.met);
            assert!(c.detail.contains("2026-11-23T10:07:00Z"), "{}", c.detail);
        }
        d => panic!("{d:?}"),
    }
    match decide(&r, &o, t("10:07:00")) {
        Decision::Close(c) => {
            assert_eq!(c.outcome, Outcome::Recovered);
            assert_eq!(c.ttr, Some(Duration::minutes(2)));
        }
        d => panic!("{d:?}"),
    }
}

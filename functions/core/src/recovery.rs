//! Recovery: deciding, from what AWS reports, whether an experiment has recovered, how long it
//! took (from authoritative timestamps, never from when we happened to look, unless nothing
//! better exists), and the message that says so. Pure: the recovery timer gathers an
//! [`Observation`] through the adapters and hands it here with the current time.
//!
//! A record is **recovered** when every [`Condition`] holds:
//! - each affected group has at least its desired capacity (as recorded at injection) of
//!   healthy `InService` instances, none of them a victim (for terminate and stop);
//! - stopped or rebooted standalone instances are `running` again (terminate: no condition);
//! - an agent fault's duration has passed;
//! - every recovery alarm is `OK`.
//!
//! Time-to-recover runs from the injection to the latest authoritative timestamp among the
//! conditions (a launch's `EndTime`, an alarm's `StateUpdatedTimestamp`, an instance's
//! `LaunchTime`, the fault's end). A condition without one is reported as "observed by" the
//! check that saw it met; when no condition has one, the TTR itself is such a bound.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::message::{subject_line, Message};
use crate::record::Record;

/// A record as the timer stores it: the monkey's record plus, once closed, how it closed.
/// Unknown fields are ignored, so records written by newer or older code still parse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// The monkey's record.
    #[serde(flatten)]
    pub record: Record,
    /// Set when the timer closed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<Closed>,
}

/// How a record was closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Closed {
    /// When the timer closed it.
    pub at: DateTime<Utc>,
    /// When recovery happened (absent when not recovered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_at: Option<DateTime<Utc>>,
    /// Time to recover in whole seconds (absent when not recovered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttr_s: Option<i64>,
    /// The TTR is an upper bound observed by the check, not an authoritative timestamp.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observed: bool,
}

/// A group as the timer sees it now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupObs {
    /// Ids of healthy `InService` members.
    pub healthy_in_service: Vec<String>,
}

/// A standalone victim as the timer sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceObs {
    /// EC2 state name (`running`, `stopped`, ...).
    pub state: String,
    /// `LaunchTime`, which EC2 moves forward when a stopped instance starts.
    pub launch_time: Option<DateTime<Utc>>,
}

/// An alarm as the timer sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmObs {
    /// `OK`, `ALARM`, `INSUFFICIENT_DATA`.
    pub state: String,
    /// `StateUpdatedTimestamp`.
    pub updated: Option<DateTime<Utc>>,
}

/// A successful launch into a group: from the EventBridge event or the scaling activity.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The group.
    pub group: String,
    /// The instance launched, when known.
    pub instance: Option<String>,
    /// The activity's `EndTime`.
    pub end_time: DateTime<Utc>,
    /// Where it came from (`launch event`, `scaling activity`).
    pub source: &'static str,
}

/// Everything the timer found out, for all open records at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// Groups by name; a group missing here does not exist.
    pub groups: BTreeMap<String, GroupObs>,
    /// Standalone instances by id; missing means gone.
    pub instances: BTreeMap<String, InstanceObs>,
    /// Alarms by name; missing means CloudWatch does not know it.
    pub alarms: BTreeMap<String, AlarmObs>,
    /// Successful launches (evidence for group conditions).
    pub launches: Vec<Launch>,
}

/// One thing that must hold for recovery.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// What, for people: `web-asg back to 3 healthy InService`.
    pub what: String,
    /// Holds now.
    pub met: bool,
    /// When it became true, from an authoritative source; `None` when only observed.
    pub at: Option<DateTime<Utc>>,
    /// Where `at` comes from, or why it is not met.
    pub detail: String,
}

/// How a record closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every condition held before the timeout.
    Recovered,
    /// The timeout passed first.
    NotRecovered,
}

impl Outcome {
    /// `recovered` / `not_recovered` (the record's outcome and the SNS `outcome` attribute).
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Recovered => "recovered",
            Outcome::NotRecovered => "not_recovered",
        }
    }

    /// `recovered` / `not-recovered` (the SNS `event` attribute).
    pub fn event(&self) -> &'static str {
        match self {
            Outcome::Recovered => "recovered",
            Outcome::NotRecovered => "not-recovered",
        }
    }
}

/// A closing decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Closing {
    /// Recovered or not.
    pub outcome: Outcome,
    /// The check's time.
    pub now: DateTime<Utc>,
    /// When recovery happened (recovered only).
    pub recovered_at: Option<DateTime<Utc>>,
    /// Time to recover (recovered only).
    pub ttr: Option<Duration>,
    /// No condition had an authoritative timestamp: the TTR is a bound observed by this check.
    pub observed: bool,
    /// Every condition, as evaluated.
    pub conditions: Vec<Condition>,
}

impl Closing {
    /// What is stored in the record.
    pub fn closed(&self) -> Closed {
        Closed {
            at: self.now,
            recovered_at: self.recovered_at,
            ttr_s: self.ttr.map(|d| d.num_seconds()),
            observed: self.observed,
        }
    }
}

/// What to do with an open record.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Not yet: these conditions do not hold, and the timeout has not passed.
    Pending {
        /// Every condition, as evaluated.
        conditions: Vec<Condition>,
        /// When the record times out.
        deadline: DateTime<Utc>,
    },
    /// Close it.
    Close(Closing),
}

fn is_victim_excluding(action: &str) -> bool {
    matches!(action, "terminate" | "stop")
}

/// The members of a group that count toward `rec`'s recovery: healthy `InService`, minus the
/// record's victims when its action takes them out of service (terminate, stop).
pub fn counted_healthy<'a>(rec: &Record, seen: &'a GroupObs) -> Vec<&'a String> {
    let victims: std::collections::BTreeSet<&str> = if is_victim_excluding(&rec.action) {
        rec.victims().collect()
    } else {
        Default::default()
    };
    seen.healthy_in_service
        .iter()
        .filter(|id| !victims.contains(id.as_str()))
        .collect()
}

/// The conditions of `rec` against `obs` at `now`. `duration_s` is an agent fault's duration,
/// when the record carries one.
pub fn conditions(
    rec: &Record,
    obs: &Observation,
    duration_s: Option<u64>,
    now: DateTime<Utc>,
) -> Vec<Condition> {
    let mut out = Vec::new();
    let start = rec.started_at;
    for (name, g) in &rec.groups {
        let what = format!("{name} back to {} healthy InService instance(s)", g.desired);
        let Some(seen) = obs.groups.get(name) else {
            out.push(Condition {
                what,
                met: false,
                at: None,
                detail: "the group no longer exists".to_owned(),
            });
            continue;
        };
        let healthy = counted_healthy(rec, seen);
        let met = healthy.len() >= g.desired as usize;
        // The launch that restored capacity is the latest successful one since the injection.
        let launch = obs
            .launches
            .iter()
            .filter(|l| &l.group == name && l.end_time >= start)
            .max_by_key(|l| l.end_time);
        let (at, detail) = match (met, launch) {
            (false, _) => (
                None,
                format!("{} of {} healthy InService", healthy.len(), g.desired),
            ),
            (true, Some(l)) => (
                Some(l.end_time),
                format!(
                    "{} EndTime{}",
                    l.source,
                    l.instance
                        .as_deref()
                        .map(|i| format!(" of {i}"))
                        .unwrap_or_default()
                ),
            ),
            (true, None) => (None, "no launch timestamp".to_owned()),
        };
        out.push(Condition {
            what,
            met,
            at,
            detail,
        });
    }
    if matches!(rec.action.as_str(), "stop" | "reboot") {
        for id in &rec.standalone {
            let what = format!("{id} running again");
            let c = match obs.instances.get(id) {
                None => Condition {
                    what,
                    met: false,
                    at: None,
                    detail: "the instance no longer exists".to_owned(),
                },
                Some(i) if i.state != "running" => Condition {
                    what,
                    met: false,
                    at: None,
                    detail: format!("state {}", i.state),
                },
                Some(i) => match i.launch_time.filter(|t| *t >= start) {
                    Some(t) => Condition {
                        what,
                        met: true,
                        at: Some(t),
                        detail: "instance LaunchTime".to_owned(),
                    },
                    None => Condition {
                        what,
                        met: true,
                        at: None,
                        detail: "no start timestamp".to_owned(),
                    },
                },
            };
            out.push(c);
        }
    }
    if let Some(d) = duration_s {
        let end = start + Duration::seconds(d as i64);
        out.push(Condition {
            what: format!("the fault's {} ended", short_duration(d as i64)),
            met: end <= now,
            at: Some(end),
            detail: "fault duration".to_owned(),
        });
    }
    for name in &rec.alarms {
        let what = format!("alarm {name} OK");
        let c = match obs.alarms.get(name) {
            None => Condition {
                what,
                met: false,
                at: None,
                detail: "CloudWatch does not know this alarm".to_owned(),
            },
            Some(a) if a.state != "OK" => Condition {
                what,
                met: false,
                at: None,
                detail: format!("state {}", a.state),
            },
            Some(a) => Condition {
                what,
                met: true,
                // OK since before the injection counts as OK from the start.
                at: Some(a.updated.map_or(start, |u| u.max(start))),
                detail: "alarm StateUpdatedTimestamp".to_owned(),
            },
        };
        out.push(c);
    }
    out
}

/// Decides what to do with an open record at `now`.
pub fn decide(
    rec: &Record,
    obs: &Observation,
    duration_s: Option<u64>,
    now: DateTime<Utc>,
) -> Decision {
    let conds = conditions(rec, obs, duration_s, now);
    let deadline = rec.started_at + Duration::seconds(rec.timeout_s as i64);
    let all_met = conds.iter().all(|c| c.met);
    if all_met {
        let latest = conds.iter().filter_map(|c| c.at).max();
        let any_observed = conds.iter().any(|c| c.at.is_none());
        let (recovered_at, observed) = match latest {
            Some(t) => (t, false),
            None if any_observed => (now, true),
            // No conditions at all (e.g. standalone terminate, no alarms): recovered at once.
            None => (rec.started_at, false),
        };
        if recovered_at <= deadline {
            return Decision::Close(Closing {
                outcome: Outcome::Recovered,
                now,
                recovered_at: Some(recovered_at),
                ttr: Some(recovered_at - rec.started_at),
                observed,
                conditions: conds,
            });
        }
    }
    if now >= deadline {
        return Decision::Close(Closing {
            outcome: Outcome::NotRecovered,
            now,
            recovered_at: None,
            ttr: None,
            observed: false,
            conditions: conds,
        });
    }
    Decision::Pending {
        conditions: conds,
        deadline,
    }
}

/// `2m 31s`, `45s`, `1h 5s`, `30m`: whole seconds, zero parts left out.
pub fn short_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s}s"));
    }
    parts.join(" ")
}

fn hms(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// The SNS message for a closing.
pub fn message(rec: &Record, c: &Closing) -> Message {
    let timeout = short_duration(rec.timeout_s as i64);
    let ttr = c.ttr.map(|d| short_duration(d.num_seconds()));
    let subject = match (c.outcome, &ttr) {
        (Outcome::Recovered, Some(t)) if c.observed => {
            format!(
                "[faultline] {} recovered, observed within {t}",
                rec.experiment
            )
        }
        (Outcome::Recovered, Some(t)) => format!("[faultline] {} recovered in {t}", rec.experiment),
        _ => format!(
            "[faultline] {} NOT recovered after {timeout}",
            rec.experiment
        ),
    };
    let mut b = String::new();
    let _ = match (c.outcome, &ttr) {
        (Outcome::Recovered, Some(t)) if c.observed => writeln!(
            b,
            "faultline experiment \"{}\" recovered; this check observed it {t} after the injection \
             (no authoritative timestamp: it happened at or before then).",
            rec.experiment
        ),
        (Outcome::Recovered, Some(t)) => writeln!(
            b,
            "faultline experiment \"{}\" recovered in {t}.",
            rec.experiment
        ),
        _ => writeln!(
            b,
            "faultline experiment \"{}\" did NOT recover within its {timeout} timeout.",
            rec.experiment
        ),
    };
    let _ = writeln!(b);
    let _ = writeln!(b, "Experiment:       {} (id {})", rec.experiment, rec.id);
    let _ = writeln!(b, "Action:           {}", rec.action);
    let _ = writeln!(
        b,
        "Injected:         {}",
        rec.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    match (&ttr, c.recovered_at) {
        (Some(t), Some(at)) => {
            let _ = writeln!(
                b,
                "Time to recover:  {t} ({} s){}",
                c.ttr.map(|d| d.num_seconds()).unwrap_or(0),
                if c.observed {
                    format!(", observed by {}", hms(at))
                } else {
                    String::new()
                }
            );
        }
        _ => {
            let _ = writeln!(b, "Time to recover:  none: not recovered after {timeout}");
        }
    }

    let victims: Vec<(&str, &str)> = rec
        .groups
        .iter()
        .flat_map(|(g, rg)| rg.targets.iter().map(move |t| (t.as_str(), g.as_str())))
        .chain(rec.standalone.iter().map(|t| (t.as_str(), "(standalone)")))
        .collect();
    if !victims.is_empty() {
        let _ = writeln!(b);
        let _ = writeln!(b, "Targets:");
        for (id, g) in victims {
            let _ = writeln!(b, "  {id:<20} {g}");
        }
    }

    let _ = writeln!(b);
    let _ = writeln!(b, "Timeline (UTC):");
    let _ = writeln!(
        b,
        "  {}  injected: {} {} instance(s)",
        hms(rec.started_at),
        rec.action,
        rec.victims().count()
    );
    let mut met: Vec<&Condition> = c.conditions.iter().filter(|x| x.met).collect();
    met.sort_by_key(|x| x.at.unwrap_or(c.now));
    for x in met {
        match x.at {
            Some(t) => {
                let _ = writeln!(b, "  {}  {} ({})", hms(t), x.what, x.detail);
            }
            None => {
                let _ = writeln!(
                    b,
                    "  {}  {} (observed by this check; {}: at or before then)",
                    hms(c.now),
                    x.what,
                    x.detail
                );
            }
        }
    }
    match (c.outcome, c.recovered_at, &ttr) {
        (Outcome::Recovered, Some(at), Some(t)) => {
            let _ = writeln!(b, "  {}  recovered: time to recover {t}", hms(at));
        }
        _ => {
            let _ = writeln!(
                b,
                "  {}  timed out: not recovered after {timeout}",
                hms(rec.started_at + Duration::seconds(rec.timeout_s as i64))
            );
            let unmet: Vec<&Condition> = c.conditions.iter().filter(|x| !x.met).collect();
            if !unmet.is_empty() {
                let _ = writeln!(b);
                let _ = writeln!(b, "Still not met at {}:", hms(c.now));
                for x in unmet {
                    let _ = writeln!(b, "  {}: {}", x.what, x.detail);
                }
            }
        }
    }
    Message {
        subject: subject_line(&subject),
        body: b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-11-23T{s}Z"))
            .unwrap()
            .with_timezone(&Utc)
    }

    // Built from JSON, as the timer reads it, so fields added to `Record` later need no edit here.
    fn rec(action: &str, alarms: &[&str]) -> Record {
        serde_json::from_value(serde_json::json!({
            "v": 1, "id": "e1", "experiment": "web-terminate", "status": "open",
            "started_at": "2026-11-23T10:00:00Z", "action": action,
            "groups": {"web-asg": {"desired": 3, "targets": ["i-a"]}},
            "timeout_s": 1800, "alarms": alarms,
        }))
        .unwrap()
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
            decide(&r, &o, None, t("10:01:00")),
            Decision::Pending { .. }
        ));
        let o = obs(&["i-b", "i-c", "i-d"], Some(("ALARM", "10:00:30")));
        let Decision::Pending { conditions, .. } = decide(&r, &o, None, t("10:01:00")) else {
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
        let Decision::Close(c) = decide(&r, &o, None, t("10:07:00")) else {
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
    fn a_launch_before_the_injection_is_no_evidence() {
        let r = rec("terminate", &[]);
        let mut o = obs(&["i-b", "i-c", "i-d"], None);
        o.launches.push(Launch {
            group: "web-asg".into(),
            instance: None,
            end_time: t("09:59:00"),
            source: "scaling activity",
        });
        let Decision::Close(c) = decide(&r, &o, None, t("10:05:00")) else {
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
            decide(&r, &o, None, t("10:29:59")),
            Decision::Pending { .. }
        ));
        let Decision::Close(c) = decide(&r, &o, None, t("10:30:00")) else {
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
            m.body.contains(
                "web-asg back to 3 healthy InService instance(s): 1 of 3 healthy InService"
            ),
            "{}",
            m.body
        );
        assert!(m.body.contains("alarm web-5xx OK: state ALARM"));
    }

    #[test]
    fn recovery_after_the_deadline_is_not_recovery() {
        let r = rec("terminate", &["web-5xx"]);
        let o = obs(&["i-b", "i-c", "i-d"], Some(("OK", "10:45:00")));
        let Decision::Close(c) = decide(&r, &o, None, t("10:50:00")) else {
            panic!()
        };
        assert_eq!(c.outcome, Outcome::NotRecovered);
    }

    #[test]
    fn standalone_stop_waits_for_running_and_uses_launch_time() {
        let mut r = rec("stop", &[]);
        r.groups.clear();
        r.standalone = vec!["i-s".into()];
        let mut o = Observation::default();
        o.instances.insert(
            "i-s".into(),
            InstanceObs {
                state: "stopped".into(),
                launch_time: Some(t("08:00:00")),
            },
        );
        assert!(matches!(
            decide(&r, &o, None, t("10:01:00")),
            Decision::Pending { .. }
        ));
        o.instances.get_mut("i-s").unwrap().state = "running".into();
        o.instances.get_mut("i-s").unwrap().launch_time = Some(t("10:00:45"));
        let Decision::Close(c) = decide(&r, &o, None, t("10:03:00")) else {
            panic!()
        };
        assert_eq!(c.ttr, Some(Duration::seconds(45)));
        // Standalone terminate has no condition: recovered at once.
        let mut r = rec("terminate", &[]);
        r.groups.clear();
        r.standalone = vec!["i-s".into()];
        let Decision::Close(c) = decide(&r, &Observation::default(), None, t("10:00:05")) else {
            panic!()
        };
        assert_eq!(c.ttr, Some(Duration::zero()));
    }

    #[test]
    fn agent_faults_recover_when_their_duration_has_passed() {
        let mut r = rec("agent", &[]);
        r.groups.clear();
        r.standalone = vec!["i-s".into()];
        let o = Observation::default();
        assert!(matches!(
            decide(&r, &o, Some(300), t("10:04:59")),
            Decision::Pending { .. }
        ));
        let Decision::Close(c) = decide(&r, &o, Some(300), t("10:06:00")) else {
            panic!()
        };
        assert_eq!(c.ttr, Some(Duration::seconds(300)));
    }

    #[test]
    fn a_reboot_in_a_group_may_count_its_victims() {
        let r = rec("reboot", &[]);
        let o = obs(&["i-a", "i-b", "i-c"], None);
        assert!(matches!(
            decide(&r, &o, None, t("10:01:00")),
            Decision::Close(_)
        ));
    }

    #[test]
    fn stored_records_round_trip_and_old_records_parse() {
        let r = rec("terminate", &[]);
        let json = serde_json::to_string(&r).unwrap();
        let s: Stored = serde_json::from_str(&json).unwrap();
        assert_eq!(s.closed, None);
        let closed = Stored {
            record: r.clone(),
            closed: Some(Closed {
                at: t("10:05:00"),
                recovered_at: Some(t("10:02:31")),
                ttr_s: Some(151),
                observed: false,
            }),
        };
        let json = serde_json::to_string(&closed).unwrap();
        let back: Record = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r, "the monkey's Record still parses a closed record");
        assert_eq!(serde_json::from_str::<Stored>(&json).unwrap(), closed);
    }

    #[test]
    fn short_durations() {
        assert_eq!(short_duration(0), "0s");
        assert_eq!(short_duration(45), "45s");
        assert_eq!(short_duration(151), "2m 31s");
        assert_eq!(short_duration(1800), "30m");
        assert_eq!(short_duration(3605), "1h 5s");
    }
}

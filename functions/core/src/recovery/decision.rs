//! The pure decision: each [`Condition`] of a record against an [`Observation`], and whether
//! the record stays open ([`Decision::Pending`]) or closes, recovered or not ([`Closing`]).

use chrono::{DateTime, Duration, Utc};

use crate::record::{Closed, Outcome, Record, RecordAction};
use crate::recovery::duration::short_duration;
use crate::recovery::observation::{GroupObs, Observation};

/// Where a met alarm condition's time comes from.
pub const ALARM_DETAIL: &str = "alarm state-change timestamp";

/// Appended to a condition's detail when its authoritative time lay after the decision (a
/// launch event's `EndTime` in the future, a skewed clock): the time is clamped to the decision.
pub const CLAMPED: &str = "clamped to the decision time";

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
            outcome: self.outcome,
            at: self.now,
            recovered_at: self.recovered_at,
            ttr_s: self.ttr.map(|d| d.num_seconds()),
            observed: self.observed,
            verdict: None,
            regression: None,
            report: None,
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

/// The members of a group that count toward `rec`'s recovery: healthy `InService`, minus the
/// record's victims when its action takes them out of service (terminate, stop).
pub fn counted_healthy<'a>(rec: &Record, seen: &'a GroupObs) -> Vec<&'a String> {
    let victims: std::collections::BTreeSet<&str> = if rec.action.takes_out_of_service() {
        rec.victims().collect()
    } else {
        Default::default()
    };
    seen.healthy_in_service
        .iter()
        .filter(|id| !victims.contains(id.as_str()))
        .collect()
}

/// The conditions of `rec` against `obs` at `now`.
pub fn conditions(rec: &Record, obs: &Observation, now: DateTime<Utc>) -> Vec<Condition> {
    let mut out = Vec::new();
    let start = rec.started_at;
    let base = ttr_base(rec);
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
    if rec.action.standalone_must_run() {
        for id in rec.standalone() {
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
    if let RecordAction::Lambda {
        duration_s,
        restored_at,
        ..
    } = &rec.action
    {
        let due = start + Duration::seconds(*duration_s as i64);
        out.push(Condition {
            what: format!(
                "the functions restored after {}",
                short_duration(*duration_s as i64)
            ),
            met: restored_at.is_some(),
            at: *restored_at,
            detail: match restored_at {
                Some(_) => "restored by faultline".to_owned(),
                None => format!(
                    "due at {}",
                    due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            },
        });
    }
    if let Some(d) = rec.action.fault_duration_s() {
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
                // OK since before the injection (a Lambda restore) counts as OK from then.
                at: Some(a.updated.map_or(base, |u| u.max(base))),
                detail: ALARM_DETAIL.to_owned(),
            },
        };
        out.push(c);
    }
    // No recovery is dated after the decision that observes it: a timestamp in the future (a
    // launch event's EndTime, a skewed clock) is clamped to `now`, and says so.
    for c in out.iter_mut().filter(|c| c.met) {
        if let Some(at) = c.at.filter(|at| *at > now) {
            c.detail = format!(
                "{}, {} in the future: {CLAMPED}",
                c.detail,
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            );
            c.at = Some(now);
        }
    }
    out
}

impl Condition {
    /// Whether its time was clamped to the decision ([`CLAMPED`]).
    pub fn clamped(&self) -> bool {
        self.detail.ends_with(CLAMPED)
    }
}

/// Where time-to-recover counts from: the restore of a Lambda change (the system recovers from
/// the end of the fault), the injection otherwise.
pub fn ttr_base(rec: &Record) -> DateTime<Utc> {
    match &rec.action {
        RecordAction::Lambda {
            restored_at: Some(t),
            ..
        } => *t,
        RecordAction::Lambda { .. }
        | RecordAction::AzOutage { .. }
        | RecordAction::Terminate { .. }
        | RecordAction::Stop { .. }
        | RecordAction::Reboot
        | RecordAction::Agent { .. } => rec.started_at,
    }
}

/// When the hypothesis' `after` window ends for a recovery at `recovered_at`; `None` when it
/// has no condition checked `after`.
pub fn after_window_end(rec: &Record, recovered_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let h = rec.hypothesis.as_ref()?;
    h.in_phase(crate::spec::Phase::After)
        .next()
        .map(|_| recovered_at + Duration::seconds(h.after_s as i64))
}

/// Decides what to do with an open record at `now`.
pub fn decide(rec: &Record, obs: &Observation, now: DateTime<Utc>) -> Decision {
    let conds = conditions(rec, obs, now);
    let deadline = rec.started_at + Duration::seconds(rec.timeout_s as i64);
    // A change still to be restored (a Lambda change, a zone outage) keeps the record open, even
    // past its timeout: closing it would leave nothing to restore it. The timer retries.
    if rec.action.restore_due(rec.started_at).is_some() {
        return Decision::Pending {
            conditions: conds,
            deadline,
        };
    }
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
        let base = ttr_base(rec);
        if recovered_at <= deadline {
            // The hypothesis' `after` conditions are watched for `after_s` from recovery: the
            // record closes (with its verdict) only then; the TTR does not change. An observed
            // recovery has no fixed time to wait from, and closes at once.
            if let Some(until) = after_window_end(rec, recovered_at).filter(|_| !observed) {
                if now < until {
                    let mut conditions = conds;
                    conditions.push(Condition {
                        what: "hypothesis after-window".to_owned(),
                        met: false,
                        at: None,
                        detail: format!(
                            "recovered at {}; the after conditions are watched until {}",
                            recovered_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                    });
                    return Decision::Pending {
                        conditions,
                        deadline: until,
                    };
                }
            }
            return Decision::Close(Closing {
                outcome: Outcome::Recovered,
                now,
                recovered_at: Some(recovered_at),
                ttr: Some(recovered_at - base),
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

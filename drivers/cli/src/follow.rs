//! `run`'s live view of the recovery: re-reads the experiment record, observes what the recovery
//! timer observes ([`observe::observe`]) and decides with the timer's own
//! [`recovery::decide`], every `--poll`, until recovered or the timeout passes.
//!
//! Read-only on purpose: closing the record, publishing to SNS and putting the metrics stay the
//! recovery timer's job, so following never races the timer into a second message. When the
//! timer closes the record first, its verdict is the one reported.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use chrono::{DateTime, Utc};
use faultline_core::aws::records::Records;
use faultline_core::aws::Aws;
use faultline_core::observe;
use faultline_core::outcome::RoundResult;
use faultline_core::record::{Outcome, Record, Verdict as CoreVerdict};
use faultline_core::recovery::{
    self, counted_healthy, short_duration, Condition, Decision, Observation,
};
use faultline_core::settings::RecordStore;
use serde::Serialize;

use crate::Output;

/// Used only when the record cannot be read at all, so its recovery timeout is unknown.
const FALLBACK_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// `--wait` waits this long beyond the record's recovery timeout and hypothesis window for the
/// recovery timer to close it (the timer runs on events and a backstop schedule).
pub const WAIT_MARGIN: Duration = Duration::from_secs(5 * 60);

/// How to follow.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Stop after this long from the injection; `None`: the record's recovery timeout. Never
    /// longer than that timeout: recovery after it is not recovery for the timer either.
    pub timeout: Option<Duration>,
    /// Time between observations.
    pub poll: Duration,
    /// `--wait`: do not decide here; wait until the recovery timer closes (or an abort ends)
    /// the record, for its verdict. `timeout` then replaces the default wait (the record's
    /// timeout + the hypothesis' `after` + [`WAIT_MARGIN`]).
    pub wait: bool,
}

/// How following ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every recovery condition held before the timeout.
    Recovered,
    /// The timeout passed with conditions still unmet.
    NotRecovered,
    /// The timeout passed without one successful observation (`error` says why).
    Unobserved,
    /// The experiment was aborted (a stop alarm, `faultline abort`, `faultline halt`) and
    /// rolled back (`aborted` says how).
    Aborted,
}

/// One recovery condition as last evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConditionDoc {
    /// What must hold.
    pub what: String,
    /// Whether it holds.
    pub met: bool,
    /// When it became true, from an authoritative timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// Where `at` comes from, or why it is not met.
    pub detail: String,
}

impl From<&Condition> for ConditionDoc {
    fn from(c: &Condition) -> Self {
        Self {
            what: c.what.clone(),
            met: c.met,
            at: c.at,
            detail: c.detail.clone(),
        }
    }
}

/// The outcome of following: `recovery` in `run --output json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Recovered, not recovered, or never observed.
    pub outcome: Verdict,
    /// `faultline run` (this process decided), `recovery timer` (it closed the record first)
    /// or `abort` (the record was aborted).
    pub decided_by: &'static str,
    /// The record's id (the execution id) in the records table.
    pub record: String,
    /// The injection time, from the record: the TTR starts here.
    pub injected_at: DateTime<Utc>,
    /// When recovery happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered_at: Option<DateTime<Utc>>,
    /// Time to recover, whole seconds (recovered only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttr_s: Option<i64>,
    /// The TTR is an upper bound seen by a check, not an authoritative timestamp.
    pub observed: bool,
    /// How long this run followed at most, seconds from the injection.
    pub timeout_s: u64,
    /// The record's own recovery timeout, seconds (the recovery timer's deadline).
    pub record_timeout_s: u64,
    /// The conditions as last evaluated (empty when the timer decided).
    pub conditions: Vec<ConditionDoc>,
    /// The last observation error, if observing failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Aborted: why, and the rollback (`web-5xx in ALARM; rolled back on 4 of 4 targets in
    /// 3.2 s`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    /// The recovery timer's verdict on the hypothesis (`passed`, `failed`, `aborted`); none
    /// when it has not judged (no hypothesis, or not closed by it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<&'static str>,
    /// What did not hold (failed verdicts), for people.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub breaches: Vec<String>,
    /// Where the report is (`s3://bucket/key/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// Still open when waiting ended (`--wait` only): the timer had not closed it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub still_open: bool,
}

impl Report {
    /// The closing line: `recovered in 1m 5s`, `NOT recovered within 15m`.
    pub fn headline(&self) -> String {
        let by_timer = if self.decided_by == "recovery timer" {
            " (closed by the recovery timer)"
        } else {
            ""
        };
        let within = short_duration(self.timeout_s as i64);
        match (self.outcome, self.ttr_s) {
            (Verdict::Recovered, Some(t)) if self.observed => format!(
                "recovered in at most {} (observed by a check; no authoritative timestamp){by_timer}",
                short_duration(t)
            ),
            (Verdict::Recovered, Some(t)) => {
                format!("recovered in {}{by_timer}", short_duration(t))
            }
            (Verdict::Recovered, None) => format!("recovered{by_timer}"),
            (Verdict::NotRecovered, _) => format!("NOT recovered within {within}{by_timer}"),
            (Verdict::Unobserved, _) => format!(
                "NOT recovered within {within}: could not observe ({})",
                self.error.as_deref().unwrap_or("unknown error")
            ),
            (Verdict::Aborted, _) => {
                format!("ABORTED: {}", self.aborted.as_deref().unwrap_or("rolled back"))
            }
        }
    }

    fn text(&self) -> String {
        let mut s = self.headline();
        if self.still_open {
            s.push_str(
                "\nthe recovery timer has not closed the record yet: no verdict \
                 (`faultline history` shows it once closed)",
            );
        }
        if let Some(v) = self.verdict {
            s.push_str(&format!("\nverdict: {v}"));
        } else if self.decided_by == "recovery timer" {
            s.push_str("\nverdict: none (no hypothesis to judge)");
        }
        for b in &self.breaches {
            s.push_str(&format!("\n  breach: {b}"));
        }
        if let Some(r) = &self.report {
            s.push_str(&format!(
                "\nreport: {r} (`faultline report {}`)",
                self.record
            ));
        }
        if matches!(self.outcome, Verdict::NotRecovered | Verdict::Unobserved) {
            for c in self.conditions.iter().filter(|c| !c.met) {
                s.push_str(&format!("\n  still not met: {}: {}", c.what, c.detail));
            }
            if self.decided_by != "recovery timer" && self.timeout_s < self.record_timeout_s {
                let deadline =
                    self.injected_at + chrono::Duration::seconds(self.record_timeout_s as i64);
                s.push_str(&format!(
                    "\nthe record stays open: the recovery timer keeps watching until {} \
                     (`faultline status`, then `faultline history`)",
                    deadline.format("%H:%M:%S UTC")
                ));
            }
        }
        s
    }
}

/// Where progress goes.
enum Progress {
    /// One line rewritten in place on a terminal (stdout for text, stderr for JSON).
    Live { stderr: bool },
    /// A plain line whenever the state changes (not a terminal).
    Lines,
    /// Nothing (JSON without a terminal on stderr).
    Quiet,
}

impl Progress {
    fn for_output(out: Output) -> Self {
        match out {
            Output::Text if std::io::stdout().is_terminal() => Progress::Live { stderr: false },
            Output::Text => Progress::Lines,
            Output::Json if std::io::stderr().is_terminal() => Progress::Live { stderr: true },
            Output::Json => Progress::Quiet,
        }
    }

    fn write(&self, s: &str) {
        let Progress::Live { stderr } = self else {
            return;
        };
        // Erase the line, then write it again: `\r` plus "erase in line".
        if *stderr {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K{s}");
            let _ = e.flush();
        } else {
            let mut o = std::io::stdout().lock();
            let _ = write!(o, "\r\x1b[2K{s}");
            let _ = o.flush();
        }
    }

    fn clear(&self) {
        if matches!(self, Progress::Live { .. }) {
            self.write("");
        }
    }
}

/// The record as read back, and what was decided about it at `now`.
enum Step {
    /// The recovery timer closed it already.
    Closed(Box<Record>),
    /// Still open: what AWS shows and what `decide` makes of it.
    Open {
        record: Box<Record>,
        obs: Observation,
        decision: Decision,
    },
}

async fn step(
    aws: &Aws,
    store: &RecordStore,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Step, String> {
    let record = Records::new(&aws.dynamodb, store)
        .get(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("the record {id} no longer exists"))?
        .map_err(|m| format!("{id} is not a record: {}", m.reason))?;
    if !record.is_open() {
        return Ok(Step::Closed(Box::new(record)));
    }
    let obs = observe::observe(aws, &[&record])
        .await
        .map_err(|e| e.to_string())?;
    let decision = recovery::decide(&record, &obs, now);
    Ok(Step::Open {
        record: Box::new(record),
        obs,
        decision,
    })
}

/// Follows the recovery of the round `result` (which acted and wrote `record`) and prints
/// progress and, in text, the closing lines. Observation errors are retried until the timeout:
/// the action has happened, so giving up early would only hide the outcome.
pub async fn follow(
    aws: &Aws,
    store: &RecordStore,
    record: &str,
    result: &RoundResult,
    opts: Options,
    out: Output,
) -> Report {
    let progress = Progress::for_output(out);
    let mut injected_at = result.started_at;
    let mut record_timeout = opts.timeout.unwrap_or(FALLBACK_TIMEOUT);
    let mut record_timeout_s = record_timeout.as_secs();
    let mut known = false;
    let mut conditions: Vec<ConditionDoc> = Vec::new();
    let mut error: Option<String> = None;
    let mut last_state = String::new();
    loop {
        let now = Utc::now();
        match step(aws, store, record, now).await {
            Ok(Step::Closed(r)) => {
                progress.clear();
                let closed = r.closed();
                let aborted = r.aborted().map(|a| {
                    format!(
                        "{}; rolled back on {} of {} targets in {:.1} s",
                        a.trigger.describe(),
                        a.ok(),
                        a.rolled_back.len(),
                        a.time_to_safe_ms as f64 / 1000.0
                    )
                });
                let report = Report {
                    outcome: match (closed.map(|c| c.outcome), &aborted) {
                        (_, Some(_)) => Verdict::Aborted,
                        (Some(Outcome::Recovered), None) => Verdict::Recovered,
                        (Some(Outcome::NotRecovered | Outcome::Failed) | None, None) => {
                            Verdict::NotRecovered
                        }
                    },
                    decided_by: if aborted.is_some() {
                        "abort"
                    } else {
                        "recovery timer"
                    },
                    aborted,
                    record: record.to_owned(),
                    injected_at: r.started_at,
                    recovered_at: closed.and_then(|c| c.recovered_at),
                    ttr_s: closed.and_then(|c| c.ttr_s),
                    observed: closed.is_some_and(|c| c.observed),
                    timeout_s: limit(opts, &r).as_secs(),
                    record_timeout_s: r.timeout_s,
                    conditions: vec![],
                    error: None,
                    verdict: closed
                        .and_then(|c| c.verdict.as_ref())
                        .map(CoreVerdict::name)
                        .or(r.aborted().map(|_| "aborted")),
                    breaches: closed
                        .and_then(|c| c.verdict.as_ref())
                        .map(breach_lines)
                        .unwrap_or_default(),
                    report: closed
                        .and_then(|c| c.report.clone())
                        .or_else(|| r.aborted().and_then(|a| a.report.clone())),
                    still_open: false,
                };
                return finish(report, out);
            }
            Ok(Step::Open {
                record: rec,
                obs,
                decision,
            }) => {
                injected_at = rec.started_at;
                record_timeout = limit(opts, &rec);
                record_timeout_s = rec.timeout_s;
                known = true;
                error = None;
                let timeout = limit(opts, &rec);
                match decision {
                    Decision::Close(c) if opts.wait => {
                        // Recovered or not by this view: the timer closes it with the verdict.
                        let seen = match c.outcome {
                            Outcome::Recovered => "recovered",
                            Outcome::NotRecovered | Outcome::Failed => "not recovered",
                        };
                        let state = format!("{seen}; waiting for the recovery timer's verdict");
                        match progress {
                            Progress::Lines if state != last_state => {
                                println!("{}  {state}", now.format("%H:%M:%S"));
                            }
                            _ => progress.write(&state),
                        }
                        last_state = state;
                    }
                    Decision::Close(c) => {
                        progress.clear();
                        let report = Report {
                            outcome: match c.outcome {
                                Outcome::Recovered => Verdict::Recovered,
                                Outcome::NotRecovered | Outcome::Failed => Verdict::NotRecovered,
                            },
                            decided_by: "faultline run",
                            record: record.to_owned(),
                            injected_at,
                            recovered_at: c.recovered_at,
                            ttr_s: c.ttr.map(|d| d.num_seconds()),
                            observed: c.observed,
                            timeout_s: timeout.as_secs(),
                            record_timeout_s: rec.timeout_s,
                            conditions: c.conditions.iter().map(ConditionDoc::from).collect(),
                            error: None,
                            aborted: None,
                            verdict: None,
                            breaches: vec![],
                            report: None,
                            still_open: false,
                        };
                        return finish(report, out);
                    }
                    Decision::Pending { conditions: cs, .. } => {
                        conditions = cs.iter().map(ConditionDoc::from).collect();
                        let state = state_line(&rec, &obs, &cs);
                        let elapsed = short_duration((now - injected_at).num_seconds());
                        let of = short_duration(timeout.as_secs() as i64);
                        match progress {
                            Progress::Lines if state != last_state => {
                                println!("{}  waiting: {state}", now.format("%H:%M:%S"));
                            }
                            _ => progress.write(&format!("{state} · {elapsed} of {of}")),
                        }
                        last_state = state;
                    }
                }
            }
            Err(e) => {
                let line = format!("cannot observe ({e}); retrying");
                match progress {
                    Progress::Lines if error.as_deref() != Some(e.as_str()) => {
                        println!("{}  {line}", now.format("%H:%M:%S"));
                    }
                    _ => progress.write(&line),
                }
                error = Some(e);
            }
        }
        let timeout = record_timeout;
        let deadline = injected_at + chrono::Duration::from_std(timeout).unwrap_or_default();
        let now = Utc::now();
        if now >= deadline {
            progress.clear();
            let report = Report {
                outcome: if known {
                    Verdict::NotRecovered
                } else {
                    Verdict::Unobserved
                },
                decided_by: "faultline run",
                record: record.to_owned(),
                injected_at,
                recovered_at: None,
                ttr_s: None,
                observed: false,
                timeout_s: timeout.as_secs(),
                record_timeout_s,
                conditions,
                error,
                aborted: None,
                verdict: None,
                breaches: vec![],
                report: None,
                still_open: opts.wait && known,
            };
            return finish(report, out);
        }
        let left = (deadline - now).to_std().unwrap_or_default();
        tokio::time::sleep(opts.poll.min(left)).await;
    }
}

/// How long to follow `rec` from its injection: [`effective`], or with `--wait` the flag, else
/// the record's timeout plus the hypothesis' `after` window plus [`WAIT_MARGIN`].
fn limit(opts: Options, rec: &Record) -> Duration {
    if !opts.wait {
        return effective(opts.timeout, rec.timeout_s);
    }
    opts.timeout.unwrap_or_else(|| {
        let after = rec.hypothesis.as_ref().map_or(0, |h| h.after_s);
        Duration::from_secs(rec.timeout_s + after) + WAIT_MARGIN
    })
}

/// A verdict's breaches, for people.
fn breach_lines(v: &CoreVerdict) -> Vec<String> {
    match v {
        CoreVerdict::Failed { breaches } => breaches.iter().map(|b| b.detail.clone()).collect(),
        CoreVerdict::Passed | CoreVerdict::Aborted => vec![],
    }
}

/// The follow timeout: the flag, never beyond the record's own timeout.
fn effective(flag: Option<Duration>, record_timeout_s: u64) -> Duration {
    let record = Duration::from_secs(record_timeout_s);
    flag.map_or(record, |f| f.min(record))
}

fn finish(report: Report, out: Output) -> Report {
    if out == Output::Text {
        println!("{}", report.text());
    }
    report
}

/// `web-asg 3/4 healthy · alarm web-5xx ALARM · i-0abc stopped`: the state of what the
/// recovery waits for, without the time (a plain line is printed only when this changes).
fn state_line(rec: &Record, obs: &Observation, conditions: &[Condition]) -> String {
    let mut parts = Vec::new();
    for (name, g) in &rec.groups {
        parts.push(match obs.groups.get(name) {
            Some(seen) => format!(
                "{name} {}/{} healthy",
                counted_healthy(rec, seen).len(),
                g.desired
            ),
            None => format!("{name} gone"),
        });
    }
    if rec.action.standalone_must_run() {
        for id in rec.standalone() {
            parts.push(match obs.instances.get(id) {
                Some(i) => format!("{id} {}", i.state),
                None => format!("{id} gone"),
            });
        }
    }
    for name in &rec.alarms {
        let state = obs.alarms.get(name).map_or("unknown", |a| a.state.as_str());
        parts.push(format!("alarm {name} {state}"));
    }
    let met = conditions.iter().filter(|c| c.met).count();
    parts.push(format!("{met}/{} conditions met", conditions.len()));
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_core::recovery::{AlarmObs, GroupObs};

    fn rec() -> Record {
        serde_json::from_value(serde_json::json!({
            "v": 2, "id": "e1", "experiment": "web", "state": {"status": "open"},
            "started_at": "2026-11-23T10:00:00Z", "action": {"type": "terminate"},
            "groups": {"web-asg": {"desired": 4}},
            "targets": [{"id": "i-a", "group": "web-asg"}],
            "timeout_s": 1800, "alarms": ["web-5xx"],
        }))
        .unwrap()
    }

    fn report(outcome: Verdict, ttr_s: Option<i64>, observed: bool) -> Report {
        Report {
            outcome,
            decided_by: "faultline run",
            record: "e1".into(),
            injected_at: rec().started_at,
            recovered_at: None,
            ttr_s,
            observed,
            timeout_s: 900,
            record_timeout_s: 1800,
            conditions: vec![ConditionDoc {
                what: "web-asg back to 4 healthy InService instance(s)".into(),
                met: false,
                at: None,
                detail: "3 of 4 healthy InService".into(),
            }],
            error: None,
            aborted: None,
            verdict: None,
            breaches: vec![],
            report: None,
            still_open: false,
        }
    }

    #[test]
    fn an_aborted_experiment_says_so() {
        let mut r = report(Verdict::Aborted, None, false);
        r.decided_by = "abort";
        r.aborted = Some("web-5xx in ALARM; rolled back on 4 of 4 targets in 3.2 s".into());
        assert_eq!(
            r.headline(),
            "ABORTED: web-5xx in ALARM; rolled back on 4 of 4 targets in 3.2 s"
        );
        assert_eq!(
            r.text(),
            r.headline(),
            "no \"the record stays open\" once aborted"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["outcome"], "aborted");
    }

    #[test]
    fn the_state_line_counts_what_the_timer_counts() {
        let r = rec();
        let mut obs = Observation::default();
        // The victim is still listed InService: it does not count, as for the timer.
        obs.groups.insert(
            "web-asg".into(),
            GroupObs {
                healthy_in_service: vec!["i-a".into(), "i-b".into(), "i-c".into(), "i-d".into()],
            },
        );
        obs.alarms.insert(
            "web-5xx".into(),
            AlarmObs {
                state: "ALARM".into(),
                updated: None,
            },
        );
        let now = r.started_at + chrono::Duration::seconds(5);
        let conds = recovery::conditions(&r, &obs, now);
        assert_eq!(
            state_line(&r, &obs, &conds),
            "web-asg 3/4 healthy · alarm web-5xx ALARM · 0/2 conditions met"
        );
    }

    #[test]
    fn headlines() {
        assert_eq!(
            report(Verdict::Recovered, Some(65), false).headline(),
            "recovered in 1m 5s"
        );
        assert!(report(Verdict::Recovered, Some(3), true)
            .headline()
            .starts_with("recovered in at most 3s"));
        let not = report(Verdict::NotRecovered, None, false);
        assert_eq!(not.headline(), "NOT recovered within 15m");
        let text = not.text();
        assert!(
            text.contains("still not met: web-asg back to 4 healthy InService instance(s): 3 of 4"),
            "{text}"
        );
        assert!(text.contains("keeps watching until 10:30:00 UTC"), "{text}");
    }

    #[test]
    fn the_flag_never_outlasts_the_record() {
        assert_eq!(effective(None, 1800), Duration::from_secs(1800));
        assert_eq!(
            effective(Some(Duration::from_secs(60)), 1800),
            Duration::from_secs(60)
        );
        assert_eq!(
            effective(Some(Duration::from_secs(3600)), 1800),
            Duration::from_secs(1800)
        );
    }
}

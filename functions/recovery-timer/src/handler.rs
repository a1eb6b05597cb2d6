//! One run of the recovery timer: load the records, observe once for all open ones, decide,
//! close each decided record exactly once, prune old closed records.
//!
//! Exactly once: before publishing, a run creates `<record>/closed` with `Overwrite=false`.
//! Only the run that creates it publishes and closes; a concurrent run (an event and the
//! backstop at the same moment) finds it there and leaves the record alone. Records are read
//! with `Recursive=false`, so these markers never look like records.

use aws_sdk_cloudwatch::types::StandardUnit;
use chrono::{DateTime, Utc};
use faultline_core::aws::cloudwatch::{self, Datum};
use faultline_core::aws::{sns, ssm, Aws, AwsError};
use faultline_core::clock::{Clock, SystemClock};
use faultline_core::observe;
use faultline_core::record::{Record, Status, ADVANCED_LIMIT, STANDARD_LIMIT};
use faultline_core::recovery::{
    self, Closed, Closing, Decision, Launch, Observation, Outcome, Stored,
};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info, warn};

use crate::config::TimerConfig;
use crate::event::{self, Trigger};

/// Why a run failed as a whole (nothing could be decided). Per-record problems are not errors
/// of the run: they are logged and reported, and the other records are still processed.
#[derive(Debug, thiserror::Error)]
pub enum TimerError {
    /// Reading the records or observing AWS failed.
    #[error("{0}; no record was changed. Check the function's IAM permissions and the service's health; the next trigger retries")]
    Aws(#[from] AwsError),
}

impl From<TimerError> for Diagnostic {
    fn from(e: TimerError) -> Diagnostic {
        let error_type = match e {
            TimerError::Aws(_) => "AwsError",
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// One record closed by this run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClosedReport {
    /// Execution id.
    pub id: String,
    /// Experiment name.
    pub experiment: String,
    /// `recovered` / `not_recovered`.
    pub outcome: &'static str,
    /// Time to recover, whole seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttr_s: Option<i64>,
    /// The TTR is a bound observed by this run.
    pub observed: bool,
    /// The SNS message id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// What a run did: the function's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunReport {
    /// `launch`, `terminate`, `alarm`, `backstop`.
    pub trigger: &'static str,
    /// Why the event could not be read (the run still evaluated every record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_error: Option<String>,
    /// Open records found.
    pub open: usize,
    /// Records this run closed.
    pub closed: Vec<ClosedReport>,
    /// Ids still waiting.
    pub pending: Vec<String>,
    /// Ids another run is closing or has closed.
    pub closed_elsewhere: Vec<String>,
    /// Parameters that are not valid records.
    pub malformed: Vec<String>,
    /// Per-record failures (`id: what`).
    pub errors: Vec<String>,
    /// Old closed records deleted.
    pub pruned: usize,
}

/// The timer: its clients and settings, built once per container.
pub struct Timer {
    aws: Aws,
    settings: TimerConfig,
    clock: Box<dyn Clock>,
}

struct Open {
    name: String,
    stored: Stored,
    duration_s: Option<u64>,
}

/// The marker whose creation is the right to close a record.
pub fn lock_name(record_param: &str) -> String {
    format!("{record_param}/closed")
}

impl Timer {
    /// A timer on the system clock.
    pub fn new(aws: Aws, settings: TimerConfig) -> Self {
        Self {
            aws,
            settings,
            clock: Box::new(SystemClock),
        }
    }

    /// Warms the clients during init (billed at full CPU, not to the first invocation):
    /// resolves credentials and opens the TLS connection with one cheap read under the record
    /// prefix. A failure only warns: the first invocation retries.
    pub async fn warm(&self) {
        let probe = format!("{}/warm-up", self.settings.record_prefix);
        if let Err(e) = ssm::get(&self.aws.ssm, &probe).await {
            warn!(error = %e, "warm-up read failed; the first invocation will retry");
        }
    }

    /// The same with another clock (tests).
    pub fn with_clock(mut self, clock: Box<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Handles one invocation.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<RunReport, TimerError> {
        self.run(&event.payload).await
    }

    /// One run for `payload`.
    pub async fn run(&self, payload: &Value) -> Result<RunReport, TimerError> {
        let mut report = RunReport::default();
        let trigger = match event::parse(payload) {
            Ok(t) => t,
            Err(e) => {
                error!(error = %e, decision = "malformed_event",
                       "cannot read the triggering event; re-evaluating every open record anyway");
                report.event_error = Some(e);
                Trigger::Backstop
            }
        };
        report.trigger = trigger.kind();
        info!(trigger = trigger.kind(), event = ?trigger, "recovery timer run");

        let prefix = &self.settings.record_prefix;
        let params = ssm::list_under(&self.aws.ssm, prefix).await?;
        let mut open = Vec::new();
        let mut closed: Vec<(String, DateTime<Utc>)> = Vec::new();
        for (name, value) in params {
            match parse_record(&value) {
                Ok((stored, duration_s)) => match stored.record.status {
                    Status::Open => open.push(Open {
                        name,
                        stored,
                        duration_s,
                    }),
                    Status::Closed => closed.push((name, stored.record.started_at)),
                },
                Err(e) => {
                    error!(record = %name, error = %e, decision = "malformed_record",
                           "not a valid experiment record; skipped. Fix or delete the parameter");
                    report.malformed.push(name);
                }
            }
        }
        report.open = open.len();
        if !open.is_empty() {
            let now = self.clock.now();
            let obs = self.observe(&open, &trigger).await?;
            for rec in &open {
                self.evaluate(rec, &obs, now, &mut report, &mut closed)
                    .await;
            }
        }
        self.prune(closed, &mut report).await;
        info!(
            trigger = report.trigger,
            open = report.open,
            closed = report.closed.len(),
            pending = report.pending.len(),
            malformed = report.malformed.len(),
            errors = report.errors.len(),
            decision = "done",
            "recovery timer run finished"
        );
        Ok(report)
    }

    /// What [`observe::observe`] sees for the open records, plus the launch this run was
    /// triggered by (its `EndTime` is evidence the scaling activities may not show yet).
    async fn observe(&self, open: &[Open], trigger: &Trigger) -> Result<Observation, AwsError> {
        let records: Vec<&Record> = open.iter().map(|o| &o.stored.record).collect();
        let mut obs = observe::observe(&self.aws, &records).await?;
        if let Trigger::Launch {
            group,
            instance,
            end_time,
        } = trigger
        {
            obs.launches.push(Launch {
                group: group.clone(),
                instance: instance.clone(),
                end_time: *end_time,
                source: "launch event",
            });
        }
        Ok(obs)
    }

    async fn evaluate(
        &self,
        rec: &Open,
        obs: &Observation,
        now: DateTime<Utc>,
        report: &mut RunReport,
        closed: &mut Vec<(String, DateTime<Utc>)>,
    ) {
        let r = &rec.stored.record;
        let decision = recovery::decide(r, obs, rec.duration_s, now);
        let conditions = match &decision {
            Decision::Pending { conditions, .. } => conditions,
            Decision::Close(c) => &c.conditions,
        };
        for c in conditions.iter().filter(|c| c.clamped()) {
            warn!(experiment = %r.experiment, id = %r.id, condition = %c.what, detail = %c.detail,
                  decision = "clamped", "a recovery time lay after the decision: clamped to it");
        }
        match decision {
            Decision::Pending {
                conditions,
                deadline,
            } => {
                let unmet: Vec<String> = conditions
                    .iter()
                    .filter(|c| !c.met)
                    .map(|c| format!("{}: {}", c.what, c.detail))
                    .collect();
                info!(experiment = %r.experiment, id = %r.id, unmet = ?unmet, deadline = %deadline,
                      decision = "pending", "not recovered yet");
                report.pending.push(r.id.clone());
            }
            Decision::Close(c) => match self.close(rec, &c).await {
                Ok(Some(done)) => {
                    closed.push((rec.name.clone(), r.started_at));
                    report.closed.push(done);
                }
                Ok(None) => report.closed_elsewhere.push(r.id.clone()),
                Err(e) => {
                    error!(experiment = %r.experiment, id = %r.id, error = %e, "closing failed; the next run retries");
                    report.errors.push(format!("{}: {e}", r.id));
                }
            },
        }
    }

    /// Closes one record: lock, publish, metrics, record. `None` when another run holds the
    /// lock.
    async fn close(&self, rec: &Open, c: &Closing) -> Result<Option<ClosedReport>, AwsError> {
        let r = &rec.stored.record;
        let summary = c.closed();
        let lock = lock_name(&rec.name);
        let lock_value =
            serde_json::json!({"outcome": c.outcome.name(), "closed": summary}).to_string();
        if ssm::put(&self.aws.ssm, &lock, &lock_value, false, false).await?
            == ssm::Created::AlreadyExists
        {
            self.finish_stale(rec, &lock, c.now).await?;
            return Ok(None);
        }
        let msg = recovery::message(r, c);
        let ttr_s = summary.ttr_s.map(|s| s.to_string());
        let mut message_id = None;
        match &self.settings.topic_arn {
            Some(topic) => {
                let mut attrs = vec![
                    ("event", c.outcome.event()),
                    ("experiment", r.experiment.as_str()),
                    ("outcome", c.outcome.name()),
                ];
                if let Some(t) = &ttr_s {
                    attrs.push(("ttr_seconds", t.as_str()));
                }
                match sns::publish(&self.aws.sns, topic, &msg.subject, &msg.body, &attrs).await {
                    Ok(id) => message_id = Some(id),
                    Err(e) => {
                        // Give the close back, so the next run publishes it.
                        if let Err(e2) =
                            ssm::delete(&self.aws.ssm, std::slice::from_ref(&lock)).await
                        {
                            error!(id = %r.id, error = %e2, "cannot release the close marker; delete it by hand to retry");
                        }
                        return Err(e);
                    }
                }
            }
            None => {
                warn!(experiment = %r.experiment, "FAULTLINE_TOPIC_ARN is not set: nothing published")
            }
        }
        let dims = vec![("Experiment", r.experiment.clone())];
        let mut data = vec![Datum {
            name: match c.outcome {
                Outcome::Recovered => "Recovered",
                Outcome::NotRecovered => "NotRecovered",
            },
            value: 1.0,
            unit: StandardUnit::Count,
            dimensions: dims.clone(),
        }];
        if let Some(s) = summary.ttr_s {
            data.push(Datum {
                name: "TimeToRecover",
                value: s as f64,
                unit: StandardUnit::Seconds,
                dimensions: dims,
            });
        }
        if let Err(e) =
            cloudwatch::put_metrics(&self.aws.cloudwatch, &self.settings.namespace, &data).await
        {
            error!(experiment = %r.experiment, error = %e, "the message went out but the metrics did not");
        }
        self.write_closed(rec, c.outcome.name(), summary.clone())
            .await?;
        info!(experiment = %r.experiment, id = %r.id, outcome = c.outcome.name(),
              ttr_s = summary.ttr_s, observed = summary.observed,
              message_id = message_id.as_deref().unwrap_or(""), decision = "closed", "{}", msg.subject);
        Ok(Some(ClosedReport {
            id: r.id.clone(),
            experiment: r.experiment.clone(),
            outcome: c.outcome.name(),
            ttr_s: summary.ttr_s,
            observed: summary.observed,
            message_id,
        }))
    }

    async fn write_closed(
        &self,
        rec: &Open,
        outcome: &str,
        closed: Closed,
    ) -> Result<(), AwsError> {
        let mut stored = rec.stored.clone();
        stored.record.status = Status::Closed;
        stored.record.outcome = Some(outcome.to_owned());
        stored.closed = Some(closed);
        let json = serde_json::to_string(&stored).expect("a record always serialises");
        if json.len() > ADVANCED_LIMIT {
            warn!(id = %rec.stored.record.id, bytes = json.len(),
                  "closed record too large to rewrite; the close marker stands");
            return Ok(());
        }
        ssm::put(
            &self.aws.ssm,
            &rec.name,
            &json,
            json.len() > STANDARD_LIMIT,
            true,
        )
        .await?;
        Ok(())
    }

    /// Another run holds the close marker. Normally it is finishing right now; but a marker
    /// older than [`STALE_MARKER`] on a record still open means that run died after claiming
    /// the close (its message may or may not have gone out). Finish the close from the marker
    /// without publishing again: at most one message, and the record does not stay open forever.
    async fn finish_stale(
        &self,
        rec: &Open,
        lock: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        let r = &rec.stored.record;
        let marker = ssm::get(&self.aws.ssm, lock)
            .await?
            .and_then(|v| serde_json::from_str::<Marker>(&v).ok());
        match marker {
            Some(m) if now - m.closed.at > STALE_MARKER => {
                warn!(experiment = %r.experiment, id = %r.id, outcome = %m.outcome, marked_at = %m.closed.at,
                      decision = "finished_stale_close",
                      "a run claimed this close and did not finish; closing the record from its marker without publishing again");
                self.write_closed(rec, &m.outcome, m.closed).await
            }
            _ => {
                info!(experiment = %r.experiment, id = %r.id, decision = "closed_elsewhere",
                      "another run is closing this record; left alone");
                Ok(())
            }
        }
    }

    /// Keeps the newest `retain_closed` closed records; deletes the rest and their markers.
    async fn prune(&self, mut closed: Vec<(String, DateTime<Utc>)>, report: &mut RunReport) {
        if closed.len() <= self.settings.retain_closed {
            return;
        }
        closed.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        let old: Vec<String> = closed
            .split_off(self.settings.retain_closed)
            .into_iter()
            .flat_map(|(n, _)| [lock_name(&n), n])
            .collect();
        match ssm::delete(&self.aws.ssm, &old).await {
            Ok(()) => {
                report.pruned = old.len() / 2;
                info!(
                    pruned = report.pruned,
                    retain = self.settings.retain_closed,
                    "old closed records deleted"
                );
            }
            Err(e) => warn!(error = %e, "cannot delete old closed records"),
        }
    }
}

/// How long a close marker may sit on an open record before it counts as abandoned.
pub const STALE_MARKER: chrono::Duration = chrono::Duration::minutes(5);

/// The close marker's value.
#[derive(Debug, serde::Deserialize)]
struct Marker {
    outcome: String,
    closed: Closed,
}

/// A record and, for agent faults, the fault's duration.
fn parse_record(value: &str) -> Result<(Stored, Option<u64>), String> {
    let stored = Stored::parse(value).map_err(|e| match e.starts_with("not JSON") {
        true => e,
        false => format!("not a record: {e}"),
    })?;
    let duration_s = stored.record.duration_s;
    Ok((stored, duration_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_records_say_why() {
        assert!(parse_record("{").unwrap_err().starts_with("not JSON"));
        let e = parse_record(r#"{"v":1,"id":"x"}"#).unwrap_err();
        assert!(e.contains("missing field"), "{e}");
        // A bad value names its field, through the flattened record too.
        let e = parse_record(r#"{"v":"x","id":"x"}"#).unwrap_err();
        assert!(e.starts_with("not a record: v: invalid type"), "{e}");
    }

    #[test]
    fn locks_sit_below_their_record() {
        assert_eq!(
            lock_name("/faultline/experiments/e1"),
            "/faultline/experiments/e1/closed"
        );
    }

    #[test]
    fn lambda_errors_have_stable_types() {
        let d: Diagnostic = TimerError::Aws(AwsError {
            operation: "GetParametersByPath",
            detail: "boom".into(),
        })
        .into();
        assert_eq!(d.error_type, "AwsError");
    }
}

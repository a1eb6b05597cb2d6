//! One run of the recovery timer: read the open records (one query of the sparse open index),
//! observe once for all of them, abort each whose stop alarm is in `ALARM` (`core::abort`:
//! rolled back, `aborted` once, one message), decide the others, and close each decided record
//! exactly once.
//!
//! Exactly once: closing is a conditional update of the record from `open` to `closed`. Only
//! the run whose update succeeds publishes; a concurrent run (an event and the backstop at the
//! same moment) finds the state changed and leaves the record alone. If publishing fails, the
//! record is opened again (conditionally), so the next run publishes it. Closed records carry
//! `expires_at`; DynamoDB's TTL deletes them after the retention period.

use aws_sdk_cloudwatch::types::StandardUnit;
use chrono::{DateTime, Utc};
use faultline_core::abort::{self, Abort, AbortConfig};
use faultline_core::aws::cloudwatch::{self, Datum, MetricQuery};
use faultline_core::aws::records::Records;
use faultline_core::aws::{ec2, sns, Aws, AwsError};
use faultline_core::clock::{Clock, SystemClock};
use faultline_core::lambda;
use faultline_core::observe;
use faultline_core::record::{AbortTrigger, Closed, Record, RecordAction, State, Verdict};
use faultline_core::recovery::{self, Closing, Decision, Launch, Observation, Outcome};
use faultline_core::verdict::{self, Series};
use faultline_core::zone;
use faultline_report::store;
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
    /// `passed` / `failed` (`none` for a record closed without a verdict).
    pub verdict: &'static str,
    /// The SNS message id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// One record this run aborted because a stop alarm was in `ALARM`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AbortedReport {
    /// Execution id.
    pub id: String,
    /// Experiment name.
    pub experiment: String,
    /// The stop alarm.
    pub alarm: String,
    /// Targets confirmed rolled back (or with nothing to undo), of `targets`.
    pub rolled_back: usize,
    /// Targets.
    pub targets: usize,
    /// From the alarm's state change to the last rollback confirmation, milliseconds.
    pub time_to_safe_ms: i64,
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
    /// Records this run aborted (a stop alarm in `ALARM`).
    pub aborted: Vec<AbortedReport>,
    /// Ids of stop experiments whose instances this run started again (`restart_after`).
    pub restarted: Vec<String>,
    /// Ids of Lambda experiments and zone outages this run restored (end of the duration).
    pub restored: Vec<String>,
    /// Ids still waiting.
    pub pending: Vec<String>,
    /// Ids another run is closing or has closed.
    pub closed_elsewhere: Vec<String>,
    /// Ids of items that are not valid records.
    pub malformed: Vec<String>,
    /// Per-record failures (`id: what`).
    pub errors: Vec<String>,
}

/// The timer: its clients and settings, built once per container.
pub struct Timer {
    aws: Aws,
    settings: TimerConfig,
    clock: Box<dyn Clock>,
    /// Writes reports when `FAULTLINE_REPORTS_BUCKET` is set.
    s3: Option<aws_sdk_s3::Client>,
}

impl Timer {
    /// A timer on the system clock.
    pub fn new(aws: Aws, settings: TimerConfig) -> Self {
        Self {
            aws,
            settings,
            clock: Box::new(SystemClock),
            s3: None,
        }
    }

    /// Warms the clients during init (billed at full CPU, not to the first invocation):
    /// resolves credentials and opens the TLS connection with one cheap read of the records
    /// table. A failure only warns: the first invocation retries.
    pub async fn warm(&self) {
        if let Err(e) = self.records().get("warm-up").await {
            warn!(error = %e, "warm-up read failed; the first invocation will retry");
        }
    }

    fn records(&self) -> Records<'_> {
        Records::new(&self.aws.dynamodb, &self.settings.records)
    }

    /// The same with another clock (tests).
    pub fn with_clock(mut self, clock: Box<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same, writing each closing experiment's report with `s3` (into
    /// `FAULTLINE_REPORTS_BUCKET`, when set).
    pub fn with_reports(mut self, s3: aws_sdk_s3::Client) -> Self {
        self.s3 = Some(s3);
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

        let page = self.records().open().await?;
        for m in page.malformed {
            error!(record = %m.id, error = %m.reason, decision = "malformed_record",
                   "not a valid experiment record; skipped. Fix or delete the item");
            report.malformed.push(m.id);
        }
        let open: Vec<Record> = page.records.into_iter().filter(Record::is_open).collect();
        report.open = open.len();
        if !open.is_empty() {
            let now = self.clock.now();
            let obs = self.observe(&open, &trigger).await?;
            for rec in &open {
                match firing_stop_alarm(rec, &obs) {
                    Some((alarm, at)) => {
                        self.abort(rec, alarm, at.unwrap_or(now), &mut report).await
                    }
                    None => {
                        let rec = self.restart_if_due(rec, now, &mut report).await;
                        let rec = self.restore_if_due(&rec, now, &mut report).await;
                        self.evaluate(&rec, &obs, now, &mut report).await
                    }
                }
            }
        }
        info!(
            trigger = report.trigger,
            open = report.open,
            closed = report.closed.len(),
            aborted = report.aborted.len(),
            pending = report.pending.len(),
            malformed = report.malformed.len(),
            errors = report.errors.len(),
            decision = "done",
            "recovery timer run finished"
        );
        Ok(report)
    }

    /// A stop with `restart_after` that is due: start its instances, and record when (once:
    /// the update is conditional on the record still being open). Returns the record as it now
    /// stands; on a failure the record is unchanged and the next run tries again.
    async fn restart_if_due(
        &self,
        r: &Record,
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) -> Record {
        let due = match r.action.restart_due(r.started_at) {
            Some(due) if due <= now => due,
            Some(_) | None => return r.clone(),
        };
        let ids: Vec<String> = r.victims().map(str::to_owned).collect();
        let failed: Vec<String> = ec2::start(&self.aws.ec2, &ids)
            .await
            .into_iter()
            .filter_map(|(id, res)| res.err().map(|e| format!("{id}: {e}")))
            .collect();
        if !failed.is_empty() {
            error!(experiment = %r.experiment, id = %r.id, failed = ?failed, decision = "restart_failed",
                   "could not start every stopped instance again; the next run retries");
            report
                .errors
                .push(format!("{}: restart: {}", r.id, failed.join("; ")));
            return r.clone();
        }
        let mut restarted = r.clone();
        if let RecordAction::Stop { restarted_at, .. } = &mut restarted.action {
            *restarted_at = Some(now);
        }
        match self
            .records()
            .update(&restarted, restarted.json(), &State::Open)
            .await
        {
            Ok(true) => {
                info!(experiment = %r.experiment, id = %r.id, due = %due, instances = ids.len(),
                      decision = "restarted", "restart_after passed: the stopped instances are started again");
                report.restarted.push(r.id.clone());
                restarted
            }
            Ok(false) => r.clone(),
            Err(e) => {
                error!(id = %r.id, error = %e, "started the instances but could not record it; the next run starts them again (harmless)");
                report.errors.push(format!("{}: {e}", r.id));
                r.clone()
            }
        }
    }

    /// A Lambda change or a zone outage whose duration has passed: restore everything as the
    /// record says it was, and record when (once: the update is conditional on the record still being open).
    /// On a failure the record is unchanged and the next run tries again (restoring twice is
    /// harmless).
    async fn restore_if_due(
        &self,
        r: &Record,
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) -> Record {
        let due = match r.action.restore_due(r.started_at) {
            Some(due) if due <= now => due,
            Some(_) | None => return r.clone(),
        };
        let results = match &r.action {
            RecordAction::Lambda { restore, .. } => lambda::restore(&self.aws, restore).await,
            RecordAction::AzOutage {
                groups,
                acls,
                terminate,
                ..
            } => {
                let stopped: Vec<String> = if *terminate {
                    vec![]
                } else {
                    r.victims().map(str::to_owned).collect()
                };
                zone::restore(&self.aws, groups, acls, &stopped).await
            }
            RecordAction::Terminate { .. }
            | RecordAction::Stop { .. }
            | RecordAction::Reboot
            | RecordAction::Agent { .. } => return r.clone(),
        };
        let failed: Vec<String> = results
            .iter()
            .filter(|x| !x.ok)
            .map(|x| format!("{}: {}", x.id, x.detail))
            .collect();
        if !failed.is_empty() {
            error!(experiment = %r.experiment, id = %r.id, failed = ?failed, decision = "restore_failed",
                   "could not restore every function; the next run retries");
            report
                .errors
                .push(format!("{}: restore: {}", r.id, failed.join("; ")));
            return r.clone();
        }
        let restored_at = self.clock.now();
        let mut restored = r.clone();
        match &mut restored.action {
            RecordAction::Lambda {
                restored_at: at, ..
            } => *at = Some(restored_at),
            RecordAction::AzOutage {
                restored_at: at,
                restored: what,
                ..
            } => {
                *at = Some(restored_at);
                what.clone_from(&results);
            }
            RecordAction::Terminate { .. }
            | RecordAction::Stop { .. }
            | RecordAction::Reboot
            | RecordAction::Agent { .. } => {}
        }
        match self
            .records()
            .update_unchanged(&restored, restored.json(), r)
            .await
        {
            Ok(true) => {
                for x in &results {
                    info!(experiment = %r.experiment, id = %r.id, function = %x.id, detail = %x.detail,
                          decision = "restored", "function restored");
                }
                info!(experiment = %r.experiment, id = %r.id, due = %due, functions = results.len(),
                      decision = "restored", "the change's duration passed: everything is restored");
                report.restored.push(r.id.clone());
                restored
            }
            Ok(false) => r.clone(),
            Err(e) => {
                error!(id = %r.id, error = %e, "restored the functions but could not record it; the next run restores again (harmless)");
                report.errors.push(format!("{}: {e}", r.id));
                r.clone()
            }
        }
    }

    fn abort_config(&self) -> AbortConfig {
        AbortConfig {
            records: self.settings.records.clone(),
            agent_document: self.settings.agent_document.clone(),
            topic_arn: self.settings.topic_arn.clone(),
            namespace: self.settings.namespace.clone(),
            ..AbortConfig::default()
        }
    }

    /// Aborts `r`, whose stop alarm `alarm` went to `ALARM` at `at`.
    async fn abort(&self, r: &Record, alarm: &str, at: DateTime<Utc>, report: &mut RunReport) {
        warn!(experiment = %r.experiment, id = %r.id, alarm = %alarm, since = %at,
              decision = "stop_alarm", "a stop alarm is in ALARM: aborting the experiment");
        let trigger = AbortTrigger::StopAlarm {
            alarm: alarm.to_owned(),
        };
        match abort::abort(&self.aws, &self.abort_config(), r, trigger, at).await {
            Ok(Abort::Aborted(done)) => {
                let a = done.aborted();
                report.aborted.push(AbortedReport {
                    id: r.id.clone(),
                    experiment: r.experiment.clone(),
                    alarm: alarm.to_owned(),
                    rolled_back: a.ok(),
                    targets: a.rolled_back.len(),
                    time_to_safe_ms: a.time_to_safe_ms,
                    message_id: done.message_id.clone(),
                });
                if let Some(e) = &done.publish_error {
                    report.errors.push(format!("{}: aborted, but {e}", r.id));
                }
            }
            Ok(Abort::NotOpen { id }) => report.closed_elsewhere.push(id),
            Err(e) => {
                error!(experiment = %r.experiment, id = %r.id, error = %e, "aborting failed; the next run retries");
                report.errors.push(format!("{}: {e}", r.id));
            }
        }
    }

    /// What [`observe::observe`] sees for the open records, plus the launch this run was
    /// triggered by (its `EndTime` is evidence the scaling activities may not show yet).
    async fn observe(&self, open: &[Record], trigger: &Trigger) -> Result<Observation, AwsError> {
        let records: Vec<&Record> = open.iter().collect();
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
        r: &Record,
        obs: &Observation,
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) {
        let decision = recovery::decide(r, obs, now);
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
            Decision::Close(c) => match self.close(r, &c).await {
                Ok(Some(done)) => report.closed.push(done),
                Ok(None) => report.closed_elsewhere.push(r.id.clone()),
                Err(e) => {
                    error!(experiment = %r.experiment, id = %r.id, error = %e, "closing failed; the next run retries");
                    report.errors.push(format!("{}: {e}", r.id));
                }
            },
        }
    }

    /// The record's closed state with its verdict and regression, and the metric series they
    /// were judged on (one `GetMetricData` per window: the hypothesis' conditions of that
    /// phase and each recorded group's `GroupInServiceInstances`), for a report writer. A
    /// failed metric read fails the close (the next run retries); a failed read of the
    /// previous runs only skips the regression check.
    pub async fn judge(&self, r: &Record, c: &Closing) -> Result<(Closed, Vec<Series>), AwsError> {
        let mut summary = c.closed();
        let h = r.hypothesis.as_ref();
        let windows = h
            .map(|h| verdict::windows(r, h, c.recovered_at, c.now))
            .unwrap_or_default();
        let mut parts = Vec::new();
        for w in &windows {
            let mut queries: Vec<MetricQuery> = h
                .into_iter()
                .flat_map(|h| h.in_phase(w.phase))
                .map(MetricQuery::condition)
                .collect();
            queries.extend(
                r.groups
                    .iter()
                    .map(|(g, rg)| MetricQuery::capacity(g, rg.desired)),
            );
            parts.extend(
                cloudwatch::metric_data(&self.aws.cloudwatch, &queries, w.start, w.end).await?,
            );
        }
        let series = verdict::merge(parts);
        summary.verdict = Some(verdict::judge(
            h,
            c.outcome,
            summary.ttr_s,
            r.timeout_s,
            &windows,
            &series,
        ));
        if let Some(h) = h.filter(|h| h.regression_runs > 0 && summary.ttr_s.is_some()) {
            match self
                .records()
                .previous(&r.experiment, r.started_at, h.regression_runs as usize)
                .await
            {
                Ok(page) => {
                    let ttrs = verdict::previous_ttrs(&page.records);
                    summary.regression = verdict::regression(h, summary.ttr_s, &ttrs);
                }
                Err(e) => {
                    warn!(experiment = %r.experiment, id = %r.id, error = %e,
                          "cannot read the previous runs: no regression check");
                }
            }
        }
        Ok((summary, series))
    }

    /// Writes the report of `closed` (the record as it will be stored, verdict included) with
    /// the series it was judged on: `report.json` and `report.html` in the reports bucket.
    /// Returns the location for the record and a pre-signed link to the HTML for the message.
    /// A report that cannot be written is logged and left out: the verdict still closes the
    /// record and goes out (the CLI rebuilds a report from the record).
    async fn write_report(
        &self,
        closed: &Record,
        c: &Closing,
        series: Vec<Series>,
    ) -> Option<(String, Option<String>)> {
        let (Some(s3), Some(bucket)) = (&self.s3, &self.settings.reports_bucket) else {
            return None;
        };
        let report = faultline_report::Report::build(closed, series, self.clock.now())
            .with_conditions(&c.conditions);
        let location = match store::put(s3, bucket, store::DEFAULT_PREFIX, &report).await {
            Ok(l) => l,
            Err(e) => {
                error!(experiment = %closed.experiment, id = %closed.id, error = %e,
                       decision = "report_failed", "cannot write the report; closing without it");
                return None;
            }
        };
        let key = store::Location::of(bucket, store::DEFAULT_PREFIX, &closed.id).key(store::HTML);
        let link = match store::presign(s3, bucket, &key, self.settings.report_link_ttl).await {
            Ok(u) => Some(u),
            Err(e) => {
                warn!(id = %closed.id, error = %e, "cannot sign a link to the report; the message names its location");
                None
            }
        };
        info!(experiment = %closed.experiment, id = %closed.id, location = %location,
              decision = "report_written", "report written");
        Some((location, link))
    }

    /// Closes one record: its verdict ([`Timer::judge`]), the conditional update (the right
    /// to publish), then the message and the metrics. `None` when another run closed it first.
    async fn close(&self, r: &Record, c: &Closing) -> Result<Option<ClosedReport>, AwsError> {
        let (mut summary, series) = self.judge(r, c).await?;
        let mut closed = r.clone();
        closed.state = State::Closed(summary.clone());
        let link = match self.write_report(&closed, c, series).await {
            Some((location, link)) => {
                summary.report = Some(location);
                closed.state = State::Closed(summary.clone());
                link
            }
            None => None,
        };
        if !self
            .records()
            .update(&closed, closed.json(), &State::Open)
            .await?
        {
            info!(experiment = %r.experiment, id = %r.id, decision = "closed_elsewhere",
                  "another run closed this record; left alone");
            return Ok(None);
        }
        let msg = recovery::verdict_message(r, c, &summary);
        let ttr_s = summary.ttr_s.map(|s| s.to_string());
        let verdict_name = summary.verdict.as_ref().map_or("none", Verdict::name);
        let targets = r.targets.len().to_string();
        let mut message_id = None;
        match &self.settings.topic_arn {
            Some(topic) => {
                let mut attrs = vec![
                    ("event", c.outcome.event()),
                    ("experiment", r.experiment.as_str()),
                    ("outcome", c.outcome.name()),
                    ("verdict", verdict_name),
                    ("action", r.action.name()),
                    ("targets", targets.as_str()),
                ];
                if let Some(t) = &ttr_s {
                    attrs.push(("ttr_seconds", t.as_str()));
                }
                if let Some(url) = link.as_deref().or(summary.report.as_deref()) {
                    attrs.push(("report_url", url));
                }
                match sns::publish(&self.aws.sns, topic, &msg.subject, &msg.body, &attrs).await {
                    Ok(id) => message_id = Some(id),
                    Err(e) => {
                        // Give the close back, so the next run publishes it.
                        match self.records().update(r, r.json(), &closed.state).await {
                            Ok(true) => {}
                            Ok(false) => {
                                error!(id = %r.id, "the record changed since it was closed; not reopened")
                            }
                            Err(e2) => error!(id = %r.id, error = %e2,
                                              "cannot reopen the record; its message was not sent"),
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
        let count = |name: &'static str, value: f64| Datum {
            name,
            value,
            unit: StandardUnit::Count,
            dimensions: dims.clone(),
        };
        let mut data = vec![count(
            match c.outcome {
                Outcome::Recovered => "Recovered",
                Outcome::NotRecovered => "NotRecovered",
                Outcome::Failed => "Failed",
            },
            1.0,
        )];
        match &summary.verdict {
            Some(Verdict::Passed) => data.push(count("VerdictPassed", 1.0)),
            Some(Verdict::Failed { .. }) => data.push(count("VerdictFailed", 1.0)),
            Some(Verdict::Aborted) | None => {}
        }
        if let Some(reg) = &summary.regression {
            data.push(count("Regression", if reg.slower { 1.0 } else { 0.0 }));
        }
        if let Some(s) = summary.ttr_s {
            data.push(Datum {
                name: "TimeToRecover",
                value: s as f64,
                unit: StandardUnit::Seconds,
                dimensions: dims.clone(),
            });
        }
        if let Err(e) =
            cloudwatch::put_metrics(&self.aws.cloudwatch, &self.settings.namespace, &data).await
        {
            error!(experiment = %r.experiment, error = %e, "the message went out but the metrics did not");
        }
        info!(experiment = %r.experiment, id = %r.id, outcome = c.outcome.name(), verdict = verdict_name,
              slower = summary.regression.as_ref().is_some_and(|x| x.slower),
              ttr_s = summary.ttr_s, observed = summary.observed,
              message_id = message_id.as_deref().unwrap_or(""), decision = "closed", "{}", msg.subject);
        Ok(Some(ClosedReport {
            id: r.id.clone(),
            experiment: r.experiment.clone(),
            outcome: c.outcome.name(),
            ttr_s: summary.ttr_s,
            observed: summary.observed,
            verdict: verdict_name,
            message_id,
        }))
    }
}

/// The first of `r`'s stop alarms in `ALARM`, with when it changed state.
fn firing_stop_alarm<'a>(
    r: &'a Record,
    obs: &Observation,
) -> Option<(&'a str, Option<DateTime<Utc>>)> {
    r.stop_alarms.iter().find_map(|name| {
        obs.alarms
            .get(name)
            .filter(|a| a.state == "ALARM")
            .map(|a| (name.as_str(), a.updated))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_errors_have_stable_types() {
        let d: Diagnostic = TimerError::Aws(AwsError {
            operation: "Query",
            detail: "boom".into(),
        })
        .into();
        assert_eq!(d.error_type, "AwsError");
    }
}

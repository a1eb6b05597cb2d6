//! Aborting an open experiment: undo what it did, now, on exactly the recorded targets; then
//! mark the record `aborted` (once) and say so (once).
//!
//! Per action: `agent` sends the faultline document with `Mode=rollback` (the agent's
//! `rollback --all`) to the recorded instances, in batches of 50, and waits (within
//! [`AbortConfig::wait`]) for each host's result; `stop` starts the recorded instances;
//! `terminate` and `reboot` leave nothing to undo, and say so per target; a Lambda action
//! restores each function as the record says it was (`lambda::restore`).
//!
//! Exactly once: the rollback comes first, then the conditional update from `open` to
//! `aborted`. Only the caller whose update wins publishes (SNS `event=aborted`) and puts the
//! `TimeToSafe` metric; a second abort, or one racing the recovery timer's close, finds the
//! record no longer open and does nothing more. Rolling back twice is harmless: the agent's
//! rollback and `StartInstances` are idempotent.
//!
//! Time to safe runs from the trigger (a stop alarm's state change, or the call) to the last
//! rollback confirmation.

use std::fmt::Write;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::StandardUnit;
use chrono::{DateTime, Utc};
use tracing::{error, info, warn};

use crate::aws::cloudwatch::{self, Datum};
use crate::aws::records::Records;
use crate::aws::ssm::{self, Invocation};
use crate::aws::{ec2, sns, Aws, AwsError};
use crate::lambda;
use crate::message::{subject_line, Message};
use crate::record::{AbortTrigger, Aborted, Record, RecordAction, RolledBack, State, MAX_BYTES};
use crate::settings::RecordStore;
use crate::zone;

/// What an abort needs of its deployment (the recovery timer and the CLI build it).
#[derive(Debug, Clone, PartialEq)]
pub struct AbortConfig {
    /// The records table.
    pub records: RecordStore,
    /// The faultline SSM document (`FAULTLINE_AGENT_DOCUMENT`).
    pub agent_document: String,
    /// SNS topic; without it nothing is published.
    pub topic_arn: Option<String>,
    /// Metric namespace of `TimeToSafe`.
    pub namespace: String,
    /// How long to wait for the hosts to confirm an agent rollback.
    pub wait: Duration,
    /// How often to ask SSM meanwhile.
    pub poll: Duration,
}

impl Default for AbortConfig {
    fn default() -> Self {
        Self {
            records: RecordStore::default(),
            agent_document: "faultline-agent".to_owned(),
            topic_arn: None,
            namespace: "faultline".to_owned(),
            wait: Duration::from_secs(30),
            poll: Duration::from_secs(1),
        }
    }
}

/// Why an abort could not mark the record (the rollback itself reports per target).
#[derive(Debug, thiserror::Error)]
pub enum AbortError {
    /// The conditional update failed: the record is still open.
    #[error("{error}; the rollback was sent but the record {id} is still open: check the table's permissions and run `faultline abort {id}` again (rolling back twice is harmless)")]
    Record {
        /// The record.
        id: String,
        /// The failed call.
        error: AwsError,
    },
}

/// What one abort did.
#[derive(Debug, Clone, PartialEq)]
pub enum Abort {
    /// This call aborted the record (and published, unless [`AbortReport::publish_error`]).
    Aborted(Box<AbortReport>),
    /// The record was not open (closed or aborted before, or by a concurrent run): nothing
    /// done.
    NotOpen {
        /// The record.
        id: String,
    },
}

/// A record this call aborted.
#[derive(Debug, Clone, PartialEq)]
pub struct AbortReport {
    /// The record as stored, `aborted`.
    pub record: Record,
    /// The message sent.
    pub message: Message,
    /// The SNS message id.
    pub message_id: Option<String>,
    /// Why the message did not go out (the record stays aborted: the rollback happened).
    pub publish_error: Option<String>,
}

impl AbortReport {
    /// The aborted state.
    pub fn aborted(&self) -> &Aborted {
        self.record
            .aborted()
            .expect("an abort report holds an aborted record")
    }
}

/// Aborts `rec` (read as open): rolls back, marks it aborted if still open, publishes once.
/// `triggered_at`: the stop alarm's state change, or the time of the call.
pub async fn abort(
    aws: &Aws,
    cfg: &AbortConfig,
    rec: &Record,
    trigger: AbortTrigger,
    triggered_at: DateTime<Utc>,
) -> Result<Abort, AbortError> {
    if !rec.is_open() {
        info!(experiment = %rec.experiment, id = %rec.id, state = rec.state.name(),
              decision = "not_open", "not open: nothing to abort");
        return Ok(Abort::NotOpen { id: rec.id.clone() });
    }
    info!(experiment = %rec.experiment, id = %rec.id, action = rec.action.name(),
          trigger = trigger.name(), targets = rec.targets.len(), decision = "aborting",
          "aborting: {}", trigger.describe());
    let (rolled_back, safe_at) = roll_back(aws, cfg, rec).await;
    let time_to_safe_ms = (safe_at - triggered_at).num_milliseconds().max(0);
    let mut aborted = rec.clone();
    let state = Aborted {
        trigger,
        at: Utc::now(),
        rolled_back,
        time_to_safe_ms,
        report: None,
    };
    let message = message(rec, &state);
    aborted.state = State::Aborted(state);
    let json = fit(&mut aborted);
    let records = Records::new(&aws.dynamodb, &cfg.records);
    match records.update(&aborted, json, &State::Open).await {
        Ok(true) => {}
        Ok(false) => {
            info!(experiment = %rec.experiment, id = %rec.id, decision = "ended_elsewhere",
                  "the record was closed or aborted meanwhile; nothing published");
            return Ok(Abort::NotOpen { id: rec.id.clone() });
        }
        Err(error) => {
            return Err(AbortError::Record {
                id: rec.id.clone(),
                error,
            })
        }
    }
    let mut report = AbortReport {
        record: aborted,
        message,
        message_id: None,
        publish_error: None,
    };
    publish(aws, cfg, &mut report).await;
    Ok(Abort::Aborted(Box::new(report)))
}

/// Undoes the action on every recorded target; returns per target what happened and when the
/// last confirmation came.
async fn roll_back(aws: &Aws, cfg: &AbortConfig, rec: &Record) -> (Vec<RolledBack>, DateTime<Utc>) {
    let ids: Vec<String> = rec.victims().map(str::to_owned).collect();
    match &rec.action {
        RecordAction::Agent { .. } => agent_rollback(aws, cfg, rec, &ids).await,
        RecordAction::Stop { .. } => {
            let started = ec2::start(&aws.ec2, &ids).await;
            let at = Utc::now();
            let out = started
                .into_iter()
                .map(|(id, res)| match res {
                    Ok(state) => RolledBack {
                        id,
                        ok: true,
                        detail: format!("started ({})", state.as_deref().unwrap_or("pending")),
                    },
                    Err(e) => RolledBack {
                        id,
                        ok: false,
                        detail: format!("StartInstances failed: {e}"),
                    },
                })
                .collect();
            (out, at)
        }
        RecordAction::Lambda { restore, .. } => {
            let out = lambda::restore(aws, restore).await;
            (out, Utc::now())
        }
        RecordAction::AzOutage {
            groups,
            acls,
            terminate,
            ..
        } => {
            let stopped = if *terminate { vec![] } else { ids };
            let out = zone::restore(aws, groups, acls, &stopped).await;
            (out, Utc::now())
        }
        RecordAction::Terminate { .. } => nothing_to_undo(ids, "terminated"),
        RecordAction::Reboot => nothing_to_undo(ids, "rebooted"),
    }
}

fn nothing_to_undo(ids: Vec<String>, done: &str) -> (Vec<RolledBack>, DateTime<Utc>) {
    let out = ids
        .into_iter()
        .map(|id| RolledBack {
            id,
            ok: true,
            detail: format!("nothing to undo: {done}"),
        })
        .collect();
    (out, Utc::now())
}

/// `Mode=rollback` of the faultline document to exactly `ids` (batches of 50), then each host's
/// result, asked until every host answered or [`AbortConfig::wait`] passed.
async fn agent_rollback(
    aws: &Aws,
    cfg: &AbortConfig,
    rec: &Record,
    ids: &[String],
) -> (Vec<RolledBack>, DateTime<Utc>) {
    // Mode only: every other parameter of the document has a default, and `rollback` with an
    // empty FaultId rolls back every active fault (`faultline-agent rollback --all`).
    let params = [("Mode", "rollback".to_owned())];
    let comment = format!("faultline abort {} {}", rec.experiment, rec.id);
    let mut done: std::collections::HashMap<String, RolledBack> = Default::default();
    // (command, instance, last status seen)
    let mut pending: Vec<(String, String, String)> = Vec::new();
    for batch in ids.chunks(ssm::SEND_COMMAND_MAX_TARGETS) {
        match ssm::send_command(&aws.ssm, &cfg.agent_document, batch, &params, &comment).await {
            Ok(command) => {
                info!(experiment = %rec.experiment, id = %rec.id, command = %command,
                      targets = batch.len(), decision = "rollback_sent", "SendCommand Mode=rollback");
                pending.extend(
                    batch
                        .iter()
                        .map(|i| (command.clone(), i.clone(), "sent".to_owned())),
                );
            }
            Err(e) => {
                error!(experiment = %rec.experiment, id = %rec.id, error = %e, targets = batch.len(),
                       "the rollback command could not be sent");
                for i in batch {
                    done.insert(
                        i.clone(),
                        RolledBack {
                            id: i.clone(),
                            ok: false,
                            detail: format!(
                                "{e}; run `sudo faultline-agent rollback --all` on the host"
                            ),
                        },
                    );
                }
            }
        }
    }
    let mut last = Utc::now();
    let deadline = Instant::now() + cfg.wait;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for (command, instance, _) in pending {
            match ssm::command_invocation(&aws.ssm, &command, &instance).await {
                Ok(Invocation::Done { success, detail }) => {
                    last = Utc::now();
                    done.insert(
                        instance.clone(),
                        RolledBack {
                            id: instance,
                            ok: success,
                            detail,
                        },
                    );
                }
                Ok(Invocation::Pending(status)) => still.push((command, instance, status)),
                Err(e) => still.push((command, instance, e.to_string())),
            }
        }
        pending = still;
        if pending.is_empty() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(cfg.poll).await;
    }
    for (command, instance, status) in pending {
        warn!(experiment = %rec.experiment, id = %rec.id, instance = %instance, command = %command,
              status = %status, "no rollback confirmation in time");
        done.insert(
            instance.clone(),
            RolledBack {
                detail: format!(
                    "no confirmation within {}s (last: {status}): see `aws ssm get-command-invocation --command-id {command} --instance-id {instance}`",
                    cfg.wait.as_secs()
                ),
                id: instance,
                ok: false,
            },
        );
    }
    let out = ids.iter().filter_map(|i| done.remove(i)).collect();
    (out, last)
}

/// The record's JSON; if the per-target results make it too large for one item, the confirmed
/// ones are dropped (the failed ones, what an operator must act on, are kept).
fn fit(rec: &mut Record) -> String {
    let json = rec.json();
    if json.len() <= MAX_BYTES {
        return json;
    }
    if let State::Aborted(a) = &mut rec.state {
        let before = a.rolled_back.len();
        a.rolled_back.retain(|r| !r.ok);
        warn!(id = %rec.id, dropped = before - a.rolled_back.len(),
              "the record would be too large with every rollback result: kept the failed ones");
    }
    rec.json()
}

/// `[faultline] web-latency ABORTED: web-5xx in ALARM; rolled back on 4 of 4 hosts in 3.2 s`
/// and a body listing every target.
pub fn message(rec: &Record, a: &Aborted) -> Message {
    let n = a.rolled_back.len();
    let secs = a.time_to_safe_ms as f64 / 1000.0;
    let what = match &rec.action {
        RecordAction::Agent { .. } | RecordAction::Stop { .. } => {
            format!("rolled back on {} of {n} hosts in {secs:.1} s", a.ok())
        }
        RecordAction::Lambda { .. } | RecordAction::AzOutage { .. } => {
            format!("restored {} of {n} in {secs:.1} s", a.ok())
        }
        RecordAction::Terminate { .. } | RecordAction::Reboot => {
            format!("nothing to undo on {n} hosts ({})", rec.action.name())
        }
    };
    let subject = format!(
        "[faultline] {} ABORTED: {}; {what}",
        rec.experiment,
        a.trigger.describe()
    );
    let mut body = String::new();
    let _ = writeln!(
        body,
        "Experiment {} ({}, {}) was aborted: {}.",
        rec.experiment,
        rec.action.name(),
        rec.id,
        a.trigger.describe()
    );
    let _ = writeln!(
        body,
        "Time to safe: {secs:.1} s (from the trigger to the last rollback confirmation)."
    );
    let _ = writeln!(body);
    for r in &a.rolled_back {
        let _ = writeln!(
            body,
            "  {:<20} {} {}",
            r.id,
            if r.ok { "ok    " } else { "FAILED" },
            r.detail
        );
    }
    let failed = n - a.ok();
    if failed > 0 {
        let _ = writeln!(body);
        let _ = writeln!(
            body,
            "{failed} host(s) did not confirm: {}",
            match &rec.action {
                RecordAction::Agent { .. } =>
                    "run `sudo faultline-agent rollback --all` there (the fault also ends by itself at its deadline)",
                RecordAction::Stop { .. } => "start them (`aws ec2 start-instances --instance-ids ...`)",
                RecordAction::AzOutage { .. } => "restore them by hand from the record (`faultline status --output json` shows each group's subnets and each subnet's ACL before)",
                RecordAction::Lambda { .. } => "restore them by hand from the record (`faultline status --output json` shows each previous value)",
                RecordAction::Terminate { .. } | RecordAction::Reboot => "nothing to do",
            }
        );
    }
    Message {
        subject: subject_line(&subject),
        body,
    }
}

async fn publish(aws: &Aws, cfg: &AbortConfig, report: &mut AbortReport) {
    let rec = &report.record;
    let a = rec
        .aborted()
        .expect("an abort report holds an aborted record");
    let tts = format!("{:.3}", a.time_to_safe_ms as f64 / 1000.0);
    match &cfg.topic_arn {
        Some(topic) => {
            let attrs = [
                ("event", "aborted"),
                ("verdict", "aborted"),
                ("experiment", rec.experiment.as_str()),
                ("trigger", a.trigger.name()),
                ("time_to_safe_seconds", tts.as_str()),
            ];
            match sns::publish(
                &aws.sns,
                topic,
                &report.message.subject,
                &report.message.body,
                &attrs,
            )
            .await
            {
                Ok(id) => report.message_id = Some(id),
                Err(e) => {
                    error!(experiment = %rec.experiment, id = %rec.id, error = %e,
                           "the abort message did not go out; the record is aborted all the same");
                    report.publish_error = Some(e.to_string());
                }
            }
        }
        None => {
            warn!(experiment = %rec.experiment, "FAULTLINE_TOPIC_ARN is not set: nothing published")
        }
    }
    let data = [Datum {
        name: "TimeToSafe",
        value: a.time_to_safe_ms as f64 / 1000.0,
        unit: StandardUnit::Seconds,
        dimensions: vec![("Experiment", rec.experiment.clone())],
    }];
    if let Err(e) = cloudwatch::put_metrics(&aws.cloudwatch, &cfg.namespace, &data).await {
        error!(experiment = %rec.experiment, error = %e, "TimeToSafe was not put");
    }
    info!(experiment = %rec.experiment, id = %rec.id, trigger = a.trigger.name(),
          time_to_safe_ms = a.time_to_safe_ms, rolled_back = a.ok(), targets = a.rolled_back.len(),
          message_id = report.message_id.as_deref().unwrap_or(""), decision = "aborted",
          "{}", report.message.subject);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(action: serde_json::Value) -> Record {
        serde_json::from_value(serde_json::json!({
            "v": 2, "id": "e1", "experiment": "web-latency", "state": {"status": "open"},
            "started_at": "2026-11-23T10:00:00Z", "action": action,
            "targets": [{"id": "i-a"}, {"id": "i-b"}, {"id": "i-c"}, {"id": "i-d"}],
            "timeout_s": 1800,
        }))
        .unwrap()
    }

    fn aborted(ok: usize) -> Aborted {
        Aborted {
            trigger: AbortTrigger::StopAlarm {
                alarm: "web-5xx".into(),
            },
            at: Utc::now(),
            rolled_back: ["i-a", "i-b", "i-c", "i-d"]
                .iter()
                .enumerate()
                .map(|(n, id)| RolledBack {
                    id: (*id).into(),
                    ok: n < ok,
                    detail: if n < ok { "Success" } else { "Failed" }.into(),
                })
                .collect(),
            time_to_safe_ms: 3_240,
            report: None,
        }
    }

    #[test]
    fn the_subject_says_what_why_and_how_fast() {
        let r = rec(serde_json::json!({"type": "agent", "fault": "latency", "duration_s": 300}));
        let m = message(&r, &aborted(4));
        assert_eq!(
            m.subject,
            "[faultline] web-latency ABORTED: web-5xx in ALARM; rolled back on 4 of 4 hosts in 3.2 s"
        );
        assert!(!m.body.contains("did not confirm"), "{}", m.body);
        let m = message(&r, &aborted(3));
        assert!(m.subject.contains("rolled back on 3 of 4 hosts"));
        assert!(
            m.body
                .contains("1 host(s) did not confirm: run `sudo faultline-agent rollback --all`"),
            "{}",
            m.body
        );
        let m = message(&rec(serde_json::json!({"type": "terminate"})), &aborted(4));
        assert!(
            m.subject
                .ends_with("nothing to undo on 4 hosts (terminate)"),
            "{}",
            m.subject
        );
    }

    #[test]
    fn results_too_large_for_the_item_keep_the_failures() {
        let mut r = rec(serde_json::json!({"type": "stop"}));
        let mut a = aborted(3);
        a.rolled_back[0].detail = "x".repeat(MAX_BYTES);
        r.state = State::Aborted(a);
        let json = fit(&mut r);
        assert!(json.len() <= MAX_BYTES);
        let kept = &r.aborted().unwrap().rolled_back;
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].id, "i-d");
    }
}

//! `faultline migrate-records`: moves the experiment records that faultline before 0.3 kept as
//! SSM parameters (`<prefix>/<id>`, format 1, with a `<prefix>/<id>/closed` marker once closed)
//! into the records table, converted to the typed record, then deletes the parameters.
//!
//! Safe to repeat: a record already in the table is not written again (the conditional create),
//! and a parameter is deleted only once its record is in the table. An open record keeps being
//! watched by the recovery timer from the table, so upgrading with experiments in flight loses
//! none of them.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};
use faultline_core::aws::records::{Created, Records};
use faultline_core::aws::ssm;
use faultline_core::record::{
    Closed, Outcome, Record, RecordAction, RecordGroup, RecordTarget, State, VERSION,
};
use serde::Deserialize;

use crate::commands::{aws, settings};
use crate::Output;

/// A format-1 record as the SSM parameter held it.
#[derive(Debug, Deserialize)]
struct V1 {
    id: String,
    experiment: String,
    status: String,
    started_at: DateTime<Utc>,
    action: String,
    #[serde(default)]
    via_asg: bool,
    #[serde(default)]
    groups: BTreeMap<String, V1Group>,
    #[serde(default)]
    standalone: Vec<String>,
    timeout_s: u64,
    #[serde(default)]
    alarms: Vec<String>,
    #[serde(default)]
    failed: Vec<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    commands: Vec<String>,
    #[serde(default)]
    duration_s: Option<u64>,
    #[serde(default)]
    closed: Option<V1Closed>,
}

#[derive(Debug, Deserialize)]
struct V1Group {
    desired: u32,
    targets: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct V1Closed {
    at: DateTime<Utc>,
    #[serde(default)]
    recovered_at: Option<DateTime<Utc>>,
    #[serde(default)]
    ttr_s: Option<i64>,
    #[serde(default)]
    observed: bool,
}

/// The close marker of format 1: written by the run that claimed the close.
#[derive(Debug, Deserialize)]
struct V1Marker {
    outcome: String,
    closed: V1Closed,
}

fn outcome(name: &str) -> Result<Outcome, String> {
    match name {
        "recovered" => Ok(Outcome::Recovered),
        "not_recovered" => Ok(Outcome::NotRecovered),
        "failed" => Ok(Outcome::Failed),
        other => Err(format!("outcome: unknown value {other:?}")),
    }
}

/// Converts a format-1 record (and its close marker, if any) to the typed record.
fn convert(old: V1, marker: Option<V1Marker>) -> Result<Record, String> {
    let action = match old.action.as_str() {
        "terminate" => RecordAction::Terminate {
            via_asg: old.via_asg,
        },
        "stop" => RecordAction::Stop {
            restart_after_s: None,
            restarted_at: None,
        },
        "reboot" => RecordAction::Reboot,
        "agent" => RecordAction::Agent {
            fault: "(not recorded before 0.3)".to_owned(),
            duration_s: old
                .duration_s
                .ok_or("duration_s: an agent record needs it")?,
            commands: old.commands,
        },
        other => return Err(format!("action: unknown value {other:?}")),
    };
    let closed = |outcome: Outcome, c: Option<V1Closed>| {
        let c = c.unwrap_or(V1Closed {
            at: old.started_at,
            recovered_at: None,
            ttr_s: None,
            observed: false,
        });
        State::Closed(Closed {
            outcome,
            at: c.at,
            recovered_at: c.recovered_at,
            ttr_s: c.ttr_s,
            observed: c.observed,
            verdict: None,
            regression: None,
            report: None,
        })
    };
    let state = match (old.status.as_str(), old.outcome.as_deref(), marker) {
        ("closed", Some(o), _) => closed(outcome(o)?, old.closed.clone()),
        ("closed", None, Some(m)) => closed(outcome(&m.outcome)?, Some(m.closed)),
        ("closed", None, None) => return Err("outcome: a closed record needs it".to_owned()),
        // Claimed by a run that did not finish: its message may have gone out; close it from the
        // marker, as the old timer did, rather than publish twice.
        ("open", _, Some(m)) => closed(outcome(&m.outcome)?, Some(m.closed)),
        ("open", _, None) => State::Open,
        (other, _, _) => return Err(format!("status: unknown value {other:?}")),
    };
    let mut targets = Vec::new();
    let mut groups = BTreeMap::new();
    for (name, g) in old.groups {
        groups.insert(name.clone(), RecordGroup { desired: g.desired });
        targets.extend(g.targets.into_iter().map(|id| RecordTarget {
            id,
            group: Some(name.clone()),
            zone: None,
        }));
    }
    targets.extend(old.standalone.into_iter().map(|id| RecordTarget {
        id,
        group: None,
        zone: None,
    }));
    Ok(Record {
        v: VERSION,
        id: old.id,
        experiment: old.experiment,
        started_at: old.started_at,
        action,
        groups,
        targets,
        zones: vec![],
        failed: old.failed,
        timeout_s: old.timeout_s,
        alarms: old.alarms,
        stop_alarms: vec![],
        hypothesis: None,
        context: None,
        state,
    })
}

/// What one migration did.
#[derive(Debug, Default, serde::Serialize)]
struct Report {
    migrated: Vec<String>,
    already_there: Vec<String>,
    errors: Vec<String>,
}

/// Runs the migration of every record under `prefix`.
pub async fn run(prefix: &str, out: Output) -> Result<ExitCode> {
    let settings = settings()?;
    if !prefix.starts_with('/') {
        return Ok(crate::commands::fail(
            out,
            crate::commands::INVALID,
            &format!(
                "--prefix {prefix:?}: an SSM path starts with '/', e.g. /faultline/experiments"
            ),
            None,
        ));
    }
    let aws = aws().await;
    let records = Records::new(&aws.dynamodb, &settings.records);
    let mut report = Report::default();
    for (name, value) in ssm::list_under(&aws.ssm, prefix).await? {
        let marker_name = format!("{name}/closed");
        let marker = match ssm::get(&aws.ssm, &marker_name).await? {
            Some(text) => match serde_json::from_str::<V1Marker>(&text) {
                Ok(m) => Some(m),
                Err(e) => {
                    report
                        .errors
                        .push(format!("{marker_name}: not a close marker: {e}"));
                    continue;
                }
            },
            None => None,
        };
        let rec = match serde_json::from_str::<V1>(&value)
            .map_err(|e| e.to_string())
            .and_then(|old| convert(old, marker))
        {
            Ok(r) => r,
            Err(e) => {
                report
                    .errors
                    .push(format!("{name}: not a format-1 record: {e}; left in place"));
                continue;
            }
        };
        match records.create(&rec, rec.json()).await? {
            Created::New => report.migrated.push(rec.id.clone()),
            Created::AlreadyExists => report.already_there.push(rec.id.clone()),
        }
        ssm::delete(&aws.ssm, &[name, marker_name]).await?;
    }
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Output::Text => {
            println!(
                "migrated {} record(s) from {prefix} into {} ({} were there already)",
                report.migrated.len(),
                records.table(),
                report.already_there.len()
            );
            for e in &report.errors {
                eprintln!("faultline: {e}");
            }
        }
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(json: serde_json::Value) -> V1 {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn an_open_format_1_record_becomes_an_open_typed_record() {
        let old = v1(serde_json::json!({
            "v": 1, "id": "e1", "experiment": "web", "status": "open",
            "started_at": "2026-11-23T10:00:00Z", "action": "terminate", "via_asg": true,
            "groups": {"web-asg": {"desired": 3, "targets": ["i-a", "i-b"]}},
            "standalone": ["i-s"], "timeout_s": 900, "alarms": ["web-5xx"],
        }));
        let r = convert(old, None).unwrap();
        assert_eq!(r.action, RecordAction::Terminate { via_asg: true });
        assert_eq!(r.state, State::Open);
        assert_eq!(r.targets_in("web-asg").collect::<Vec<_>>(), ["i-a", "i-b"]);
        assert_eq!(r.standalone().collect::<Vec<_>>(), ["i-s"]);
        assert_eq!(r.groups["web-asg"].desired, 3);
        assert_eq!(Record::parse(&r.json()).unwrap(), r);
    }

    #[test]
    fn closed_records_and_abandoned_closes_keep_their_outcome() {
        let json = serde_json::json!({
            "v": 1, "id": "e2", "experiment": "web", "status": "closed", "outcome": "recovered",
            "started_at": "2026-11-23T10:00:00Z", "action": "agent", "duration_s": 60,
            "commands": ["c-1"], "standalone": ["i-s"], "timeout_s": 900,
            "closed": {"at": "2026-11-23T10:05:00Z", "recovered_at": "2026-11-23T10:01:00Z", "ttr_s": 60},
        });
        let r = convert(v1(json), None).unwrap();
        let c = r.closed().unwrap();
        assert_eq!((c.outcome, c.ttr_s), (Outcome::Recovered, Some(60)));
        assert_eq!(r.action.fault_duration_s(), Some(60));
        // Open, but a run claimed the close and died: closed from its marker.
        let json = serde_json::json!({
            "v": 1, "id": "e3", "experiment": "web", "status": "open",
            "started_at": "2026-11-23T10:00:00Z", "action": "stop", "standalone": ["i-s"],
            "timeout_s": 900,
        });
        let marker: V1Marker = serde_json::from_value(serde_json::json!({
            "outcome": "not_recovered", "closed": {"at": "2026-11-23T10:15:00Z"}
        }))
        .unwrap();
        let r = convert(v1(json), Some(marker)).unwrap();
        assert_eq!(r.closed().unwrap().outcome, Outcome::NotRecovered);
    }

    #[test]
    fn unknown_values_name_their_field() {
        let json = serde_json::json!({
            "v": 1, "id": "e4", "experiment": "web", "status": "open",
            "started_at": "2026-11-23T10:00:00Z", "action": "explode", "timeout_s": 900,
        });
        assert!(convert(v1(json), None).unwrap_err().starts_with("action:"));
    }
}

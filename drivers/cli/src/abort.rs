//! `abort <id>` / `abort --all`, and the abort that `halt` does after turning the kill switch
//! off: each open record through `faultline_core::abort` (rolled back on exactly its recorded
//! targets, `aborted` once, one message). A record that is not open is left alone, so aborting
//! twice aborts once.

use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};
use faultline_core::abort::{self, Abort, AbortConfig};
use faultline_core::aws::records::Records;
use faultline_core::aws::Aws;
use faultline_core::record::{AbortTrigger, Record};
use faultline_core::settings::Settings;
use serde::Serialize;

use crate::commands::{aws, fail, settings};
use crate::Output;

/// Exit code: nothing was aborted (the record is not open, or does not exist).
const NOTHING_DONE: u8 = 1;
/// Exit code: aborted, but some targets did not confirm their rollback.
const ROLLBACK_FAILED: u8 = 4;

/// Which records to abort.
#[derive(Debug, Clone)]
pub enum Which {
    /// One, by execution id.
    One(String),
    /// Every open record.
    All,
}

/// One aborted record, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct AbortedDoc {
    /// Execution id.
    pub id: String,
    /// Experiment.
    pub experiment: String,
    /// The message's subject (what was done, in one line).
    pub summary: String,
    /// Targets confirmed rolled back (or with nothing to undo).
    pub rolled_back: usize,
    /// Targets.
    pub targets: usize,
    /// Per target: ok, and the confirmation or the error.
    pub results: Vec<faultline_core::record::RolledBack>,
    /// From the call to the last rollback confirmation, milliseconds.
    pub time_to_safe_ms: i64,
    /// The SNS message id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// What one abort call did over its records.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Records aborted by this call.
    pub aborted: Vec<AbortedDoc>,
    /// Records that were not open (ended before, or by a concurrent abort or the timer).
    pub not_open: Vec<String>,
    /// Per-record errors (`id: what`).
    pub errors: Vec<String>,
}

impl Summary {
    fn rollback_failures(&self) -> usize {
        self.aborted.iter().map(|a| a.targets - a.rolled_back).sum()
    }

    /// Text lines: one per record aborted, with each target that did not confirm.
    pub fn print_text(&self) {
        for a in &self.aborted {
            println!("{}  ({})", a.summary, a.id);
            for r in a.results.iter().filter(|r| !r.ok) {
                println!("  {:<20} FAILED: {}", r.id, r.detail);
            }
        }
        for id in &self.not_open {
            println!("{id}: not open (closed or aborted already); nothing done");
        }
        for e in &self.errors {
            eprintln!("faultline: {e}");
        }
    }
}

fn config(settings: &Settings) -> AbortConfig {
    AbortConfig {
        records: settings.records.clone(),
        agent_document: settings.agent_document.clone(),
        topic_arn: settings.topic_arn.clone(),
        namespace: std::env::var("FAULTLINE_METRIC_NAMESPACE")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "faultline".to_owned()),
        ..AbortConfig::default()
    }
}

/// Aborts `records` one after the other, each with `trigger` at `at`.
pub async fn abort_records(
    aws: &Aws,
    settings: &Settings,
    records: &[Record],
    trigger: &AbortTrigger,
    at: DateTime<Utc>,
) -> Summary {
    let cfg = config(settings);
    let mut out = Summary::default();
    for rec in records {
        match abort::abort(aws, &cfg, rec, trigger.clone(), at).await {
            Ok(Abort::Aborted(done)) => {
                let a = done.aborted();
                if let Some(e) = &done.publish_error {
                    out.errors.push(format!(
                        "{}: aborted, but the message was not sent: {e}",
                        rec.id
                    ));
                }
                out.aborted.push(AbortedDoc {
                    id: rec.id.clone(),
                    experiment: rec.experiment.clone(),
                    summary: done.message.subject.clone(),
                    rolled_back: a.ok(),
                    targets: a.rolled_back.len(),
                    results: a.rolled_back.clone(),
                    time_to_safe_ms: a.time_to_safe_ms,
                    message_id: done.message_id.clone(),
                });
            }
            Ok(Abort::NotOpen { id }) => out.not_open.push(id),
            Err(e) => out.errors.push(format!("{}: {e}", rec.id)),
        }
    }
    out
}

/// Every open record (one query of the open index); unreadable items are reported on stderr.
pub async fn open_records(aws: &Aws, settings: &Settings) -> Result<Vec<Record>> {
    let page = Records::new(&aws.dynamodb, &settings.records)
        .open()
        .await?;
    for m in &page.malformed {
        eprintln!(
            "faultline: skipping {}: not an experiment record ({}); fix or delete the item",
            m.id, m.reason
        );
    }
    Ok(page.records.into_iter().filter(Record::is_open).collect())
}

/// `abort <id>` / `abort --all`.
pub async fn run(which: Which, out: Output) -> Result<ExitCode> {
    let at = Utc::now();
    let settings = settings()?;
    let aws = aws().await;
    let records = match &which {
        Which::All => open_records(&aws, &settings).await?,
        Which::One(id) => match Records::new(&aws.dynamodb, &settings.records)
            .get(id)
            .await?
        {
            Some(Ok(r)) => vec![r],
            Some(Err(m)) => {
                return Ok(fail(
                    out,
                    3,
                    &format!("{id} is not an experiment record ({}); nothing done", m.reason),
                    None,
                ))
            }
            None => {
                return Ok(fail(
                    out,
                    NOTHING_DONE,
                    &format!(
                        "no experiment {id} in {}; nothing done (`faultline status` lists the open ones)",
                        settings.records.table
                    ),
                    None,
                ))
            }
        },
    };
    let summary = abort_records(&aws, &settings, &records, &AbortTrigger::Abort, at).await;
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
        Output::Text => {
            if records.is_empty() {
                println!(
                    "no open experiments in {}; nothing done",
                    settings.records.table
                );
            }
            summary.print_text();
        }
    }
    Ok(ExitCode::from(exit_code(&which, &summary)))
}

/// 3 on an error, 4 when a target did not confirm its rollback, 1 when `<id>` was not aborted
/// (not open), else 0 (`--all` with nothing open included).
pub fn exit_code(which: &Which, s: &Summary) -> u8 {
    if !s.errors.is_empty() {
        3
    } else if s.rollback_failures() > 0 {
        ROLLBACK_FAILED
    } else if matches!(which, Which::One(_)) && s.aborted.is_empty() {
        NOTHING_DONE
    } else {
        0
    }
}

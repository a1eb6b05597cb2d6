//! `report <id> [--html PATH]`: an experiment's report. Read from S3 (`report.json`) when the
//! record says where it is (`closed.report` / `aborted.report`) or, without that, under
//! `s3://$FAULTLINE_REPORTS_BUCKET/<prefix>/<id>/`; else built from the record alone (no metric
//! series). Prints text, or the report's JSON with `--output json`; `--html PATH` writes the
//! self-contained page and prints its path. Read-only.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use chrono::Utc;
use faultline_core::aws::records::Records;
use faultline_core::aws::Aws;
use faultline_core::record::State;
use faultline_report::store::{self, Location, StoreError};
use faultline_report::Report;

use crate::commands::{fail, settings};
use crate::Output;

/// Exit code: there is no such record.
const NO_RECORD: u8 = 1;
/// Exit code: an AWS or other error.
const ERROR: u8 = 3;

/// The bucket reports are read from when a record does not say where its report is.
pub const BUCKET_ENV: &str = "FAULTLINE_REPORTS_BUCKET";
/// The key prefix under that bucket (default [`store::DEFAULT_PREFIX`]).
pub const PREFIX_ENV: &str = "FAULTLINE_REPORTS_PREFIX";

/// Shows the report of experiment `id`.
pub async fn run(id: &str, html_path: Option<&Path>, out: Output) -> Result<ExitCode> {
    let settings = settings()?;
    let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let aws = Aws::new(&conf);
    let record = match Records::new(&aws.dynamodb, &settings.records).get(id).await {
        Ok(Some(Ok(r))) => r,
        Ok(Some(Err(m))) => {
            return Ok(fail(
                out,
                ERROR,
                &format!("{} is not an experiment record: {}", m.id, m.reason),
                None,
            ))
        }
        Ok(None) => {
            return Ok(fail(
                out,
                NO_RECORD,
                &format!(
                "no experiment {id} in {}: `faultline history` and `faultline status` list them",
                settings.records.table
            ),
                None,
            ))
        }
        Err(e) => return Ok(fail(out, ERROR, &e.to_string(), None)),
    };
    let recorded = match &record.state {
        State::Closed(c) => c.report.clone(),
        State::Aborted(a) => a.report.clone(),
        State::Open => None,
    };
    let location = recorded.clone().or_else(|| {
        let bucket = std::env::var(BUCKET_ENV).ok().filter(|b| !b.is_empty())?;
        let prefix = std::env::var(PREFIX_ENV).unwrap_or_else(|_| store::DEFAULT_PREFIX.to_owned());
        Some(Location::of(&bucket, &prefix, id).url())
    });
    let s3 = store::client(&conf);
    let (report, from) = match location {
        Some(at) => {
            match store::get(&s3, &at).await {
                Ok(r) => (r, Some(at)),
                Err(StoreError::Missing { .. }) if recorded.is_none() => {
                    (Report::build(&record, vec![], Utc::now()), None)
                }
                Err(e @ StoreError::Missing { .. }) => {
                    eprintln!("faultline: {e}; showing the report built from the record (no metric series)");
                    (Report::build(&record, vec![], Utc::now()), None)
                }
                Err(e) => return Ok(fail(out, ERROR, &e.to_string(), None)),
            }
        }
        None => (Report::build(&record, vec![], Utc::now()), None),
    };
    if let Some(path) = html_path {
        if let Err(e) = std::fs::write(path, faultline_report::html(&report)) {
            return Ok(fail(
                out,
                ERROR,
                &format!("cannot write {}: {e}", path.display()),
                None,
            ));
        }
        match out {
            Output::Json => println!("{}", serde_json::json!({"html": path, "id": report.id})),
            Output::Text => println!("{}", path.display()),
        }
        return Ok(ExitCode::SUCCESS);
    }
    match out {
        Output::Json => println!("{}", faultline_report::json(&report)),
        Output::Text => {
            print!("{}", faultline_report::text(&report));
            match from {
                Some(at) => println!("  report      {at}"),
                None => println!("  report      built from the record (no metric series)"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `faultline report <id>` against a private moto: a closed record whose report is stored in S3
//! (text, `--output json`, `--html`), a record without a stored report (built from the record),
//! a missing record (exit 1) and an unreadable report location (exit 3). Also the store's round
//! trip, content types and presigned URL.

use std::process::Output;
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use faultline_core::record::Record;
use faultline_core::spec::Comparison;
use faultline_core::verdict::{Measure, Point, Series};
use faultline_e2e::{Fleet, Moto};
use faultline_report::store;
use faultline_report::Report;
use serde_json::{json, Value};

const BUCKET: &str = "faultline-reports";

async fn faultline(moto: &Moto, args: &[&str]) -> Result<Output> {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .envs(moto.env())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(120), child)
        .await
        .map_err(|_| anyhow::anyhow!("faultline {args:?} did not finish within 120s"))?
        .map_err(Into::into)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A closed record as the recovery timer leaves it: failed verdict, a report location.
fn closed(id: &str, report: Option<&str>) -> Value {
    let mut state = json!({"status": "closed", "outcome": "recovered", "at": "2026-11-20T10:09:00Z",
        "recovered_at": "2026-11-20T10:02:31Z", "ttr_s": 151,
        "verdict": {"verdict": "failed", "breaches": [{"condition": "success rate", "phase": "during",
            "observed": 91.2, "comparison": ">=", "threshold": 99.0, "by": 7.8,
            "at": "2026-11-20T10:01:00Z",
            "detail": "SuccessRate Average during: 91.2 < 99 (by 7.8) at 10:01:00"}]}});
    if let Some(at) = report {
        state["report"] = json!(at);
    }
    json!({"v": 2, "id": id, "experiment": "web-terminate", "started_at": "2026-11-20T10:00:00Z",
        "action": {"type": "terminate", "via_asg": true},
        "groups": {"web-asg": {"desired": 3}},
        "targets": [{"id": "i-1", "group": "web-asg", "zone": "us-east-1a"}], "timeout_s": 1800,
        "context": {"spec": {"name": "web-terminate"}, "guards": ["kill_switch", "window"],
                    "spared": [{"id": "i-2", "reason": "not chosen"}], "spared_total": 1},
        "state": state})
}

fn series() -> Vec<Series> {
    let at = |m: i64| {
        "2026-11-20T10:00:00Z"
            .parse::<chrono::DateTime<Utc>>()
            .unwrap()
            + chrono::Duration::minutes(m)
    };
    vec![Series {
        measure: Measure::Condition {
            name: "success rate".into(),
            comparison: Comparison::Ge,
            threshold: 99.0,
            when: vec![faultline_core::spec::Phase::During],
        },
        label: "faultline/traffic/SuccessRate Average".into(),
        points: vec![
            Point {
                at: at(0),
                value: 99.9,
            },
            Point {
                at: at(1),
                value: 91.2,
            },
            Point {
                at: at(2),
                value: 99.7,
            },
        ],
    }]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_shows_the_stored_report_or_builds_one_from_the_record() -> Result<()> {
    let moto = Moto::start().await?;
    let conf = moto.sdk_config().await;
    let fleet = Fleet::new(&conf).await?;
    let s3 = store::client(&conf);
    s3.create_bucket().bucket(BUCKET).send().await?;

    // The timer's side: build, store, record where.
    let record = Record::parse(&closed("e-rep-1", None).to_string()).map_err(anyhow::Error::msg)?;
    let report = Report::build(&record, series(), Utc::now());
    let at = store::put(&s3, BUCKET, "reports", &report).await?;
    assert_eq!(at, "s3://faultline-reports/reports/e-rep-1/");
    assert_eq!(store::get(&s3, &at).await?, report);
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("reports/e-rep-1/report.html")
        .send()
        .await?;
    assert_eq!(head.content_type(), Some("text/html; charset=utf-8"));
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("reports/e-rep-1/report.json")
        .send()
        .await?;
    assert_eq!(head.content_type(), Some("application/json"));
    let url = store::presign(
        &s3,
        BUCKET,
        "reports/e-rep-1/report.html",
        Duration::from_secs(900),
    )
    .await?;
    assert!(
        url.starts_with(&format!(
            "{}/{BUCKET}/reports/e-rep-1/report.html?",
            moto.endpoint
        )) && url.contains("X-Amz-Signature=")
            && url.contains("X-Amz-Expires=900"),
        "{url}"
    );
    fleet
        .put_record_text("e-rep-1", &closed("e-rep-1", Some(&at)).to_string())
        .await?;

    // Text: from S3 (the series exists only in the stored report).
    let o = faultline(&moto, &["report", "e-rep-1"]).await?;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    for want in [
        "web-terminate  (e-rep-1)  FAILED",
        "recovered at 2026-11-20 10:02:31 UTC (TTR 2m 31s)",
        "SuccessRate Average during: 91.2 < 99 (by 7.8) at 10:01:00",
        "series      success rate: 3 point(s)",
        "i-2                   not chosen",
        "report      s3://faultline-reports/reports/e-rep-1/",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }

    // JSON: the stored report, one document.
    let o = faultline(&moto, &["report", "e-rep-1", "--output", "json"]).await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(v["verdict"]["verdict"], "failed", "{v:#}");
    assert_eq!(v["series"][0]["points"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["guards"], json!(["kill_switch", "window"]));

    // --html: the page, and its path printed.
    let path =
        std::env::temp_dir().join(format!("faultline-report-cli-{}.html", std::process::id()));
    let o = faultline(
        &moto,
        &["report", "e-rep-1", "--html", path.to_str().unwrap()],
    )
    .await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        path.to_str().unwrap()
    );
    let page = std::fs::read_to_string(&path)?;
    assert!(page.contains(r#"data-condition="success rate""#) && page.contains(r#"id="timeline""#));
    let _ = std::fs::remove_file(&path);

    // A record without a stored report: built from the record.
    fleet
        .put_record_text("e-rep-2", &closed("e-rep-2", None).to_string())
        .await?;
    let o = faultline(&moto, &["report", "e-rep-2"]).await?;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("built from the record (no metric series)") && out.contains("FAILED"),
        "{out}"
    );
    assert!(!out.contains("series "), "{out}");

    // No such record: 1, with the JSON error document.
    let o = faultline(&moto, &["report", "e-nope", "--output", "json"]).await?;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout)?;
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .contains("no experiment e-nope"),
        "{v}"
    );

    // A report location in a bucket that does not exist: an AWS error, 3.
    fleet
        .put_record_text(
            "e-rep-3",
            &closed("e-rep-3", Some("s3://no-such-bucket/reports/e-rep-3/")).to_string(),
        )
        .await?;
    let o = faultline(&moto, &["report", "e-rep-3"]).await?;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(
        out.contains("GetObject s3://no-such-bucket/reports/e-rep-3/report.json failed"),
        "{out}"
    );
    Ok(())
}

//! Hypotheses and verdicts against a real local AWS (a private moto_server per test): metric
//! data PUT by the test with explicit timestamps around the injection, the real monkey and
//! recovery timer driven with fixed clocks, and the verdict read back from the record and the
//! SNS message. A hypothesis that holds passes; one broken during the experiment fails naming
//! the condition and the value; a system not steady before is not touched (`steady_state`); a
//! TTR much slower than the previous runs' is flagged as a regression.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use chrono::{DateTime, Duration, DurationRound, Utc};
use faultline_core::aws::records::Records;
use faultline_core::aws::Aws;
use faultline_core::clock::FixedClock;
use faultline_core::guards::Guard;
use faultline_core::monkey::Monkey;
use faultline_core::outcome::RoundOutcome;
use faultline_core::record::{Closed, Outcome, Record, RecordAction, RecordGroup, State, VERSION};
use faultline_core::settings::{RecordStore, Settings as MonkeySettings};
use faultline_e2e::{Fleet, Moto, OPT_IN};
use faultline_recovery_timer::config::TimerConfig;
use faultline_recovery_timer::handler::{RunReport, Timer};
use faultline_report::store;
use serde_json::{json, Value};

const EXPERIMENT: &str = "web-hyp";
/// The reports bucket (the module creates it; here the test does).
const REPORTS: &str = "faultline-reports";

struct Env {
    moto: Moto,
    fleet: Fleet,
    conf: aws_config::SdkConfig,
    topic: String,
}

async fn env() -> Result<Env> {
    let moto = Moto::start().await?;
    let conf = moto.sdk_config().await;
    let fleet = Fleet::new(&conf).await?;
    let topic = fleet.topic("faultline").await?;
    fleet.group("web-asg", 1, 3, 6, &[OPT_IN]).await?;
    store::client(&conf)
        .create_bucket()
        .bucket(REPORTS)
        .send()
        .await?;
    Ok(Env {
        moto,
        fleet,
        conf,
        topic,
    })
}

/// The injection time: whole minutes, ten minutes ago (the TTR reads like a real one).
fn injection() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::minutes(1)).unwrap() - Duration::minutes(10)
}

fn experiment(id: &str) -> Value {
    json!({"execution_id": id, "experiment": {
        "name": EXPERIMENT,
        "targets": {"resource": "asg-instance", "asg_names": ["web-asg"]},
        "selection": {"mode": "count", "value": 1},
        "action": {"type": "terminate", "via_asg": true},
        "recovery": {"timeout": "30m"},
        "hypothesis": {
            "max_ttr": "20m", "before": "5m", "after": "2m",
            "steady_state": [{"namespace": "app", "metric": "SuccessRate",
                              "dimensions": {"Target": "web"}, "statistic": "Average",
                              "comparison": ">=", "threshold": 99,
                              "when": ["before", "during", "after"]}]}}})
}

impl Env {
    fn aws(&self) -> Aws {
        Aws::new(&self.conf)
    }

    fn timer(&self, at: DateTime<Utc>) -> Timer {
        Timer::new(
            self.aws(),
            TimerConfig {
                topic_arn: Some(self.topic.clone()),
                reports_bucket: Some(REPORTS.to_owned()),
                ..TimerConfig::default()
            },
        )
        .with_clock(Box::new(FixedClock(at)))
        .with_reports(store::client(&self.conf))
    }

    async fn round(
        &self,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<faultline_core::outcome::RoundResult> {
        let monkey = Monkey::new(
            self.aws(),
            MonkeySettings {
                topic_arn: Some(self.topic.clone()),
                ..MonkeySettings::default()
            },
        )
        .with_clock_and_seed(Box::new(FixedClock(at)), 7);
        Ok(monkey.handle(experiment(id)).await?)
    }

    /// `SuccessRate` (Target=web) once a minute from `from` to `to`, `value(t)` each.
    async fn success_rate(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        value: impl Fn(DateTime<Utc>) -> f64,
    ) -> Result<()> {
        let mut data = Vec::new();
        let mut t = from;
        while t <= to {
            data.push(
                MetricDatum::builder()
                    .metric_name("SuccessRate")
                    .dimensions(Dimension::builder().name("Target").value("web").build())
                    .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                        t.timestamp(),
                    ))
                    .value(value(t))
                    .build(),
            );
            t += Duration::minutes(1);
        }
        for chunk in data.chunks(500) {
            self.fleet
                .cw
                .put_metric_data()
                .namespace("app")
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await?;
        }
        Ok(())
    }

    async fn record(&self, id: &str) -> Result<Value> {
        self.fleet
            .record(id)
            .await?
            .ok_or_else(|| anyhow!("no record {id}"))
    }

    /// Runs the timer (first just after now, then past the after-window) until it closes
    /// `id`; returns the closing run.
    async fn close(&self, id: &str) -> Result<RunReport> {
        for later in [10, 60, 300, 600] {
            let r = self
                .timer(Utc::now() + Duration::seconds(later))
                .run(&json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}))
                .await?;
            assert!(r.errors.is_empty(), "{r:#?}");
            if r.closed.iter().any(|c| c.id == id) {
                return Ok(r);
            }
            assert_eq!(self.record(id).await?["state"]["status"], "open");
        }
        Err(anyhow!("{id} never closed"))
    }

    /// The sum of a `faultline` metric for the experiment over the last and next hour.
    async fn metric_sum(&self, name: &str) -> Result<f64> {
        let now = Utc::now();
        let t =
            |d: DateTime<Utc>| aws_sdk_cloudwatch::primitives::DateTime::from_secs(d.timestamp());
        let out = self
            .fleet
            .cw
            .get_metric_statistics()
            .namespace("faultline")
            .metric_name(name)
            .dimensions(
                Dimension::builder()
                    .name("Experiment")
                    .value(EXPERIMENT)
                    .build(),
            )
            .start_time(t(now - Duration::hours(1)))
            .end_time(t(now + Duration::hours(1)))
            .period(60)
            .statistics(aws_sdk_cloudwatch::types::Statistic::Sum)
            .send()
            .await?;
        Ok(out.datapoints().iter().filter_map(|d| d.sum()).sum())
    }

    async fn message(&self, event: &str) -> Result<faultline_e2e::SnsMessage> {
        self.moto
            .sns_messages(&self.topic)
            .await?
            .into_iter()
            .find(|m| m.attributes.get("event").map(String::as_str) == Some(event))
            .ok_or_else(|| anyhow!("no {event} message"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hypothesis_that_holds_passes() -> Result<()> {
    let e = env().await?;
    let t0 = injection();
    e.success_rate(
        t0 - Duration::minutes(10),
        Utc::now() + Duration::minutes(30),
        |_| 99.9,
    )
    .await?;
    let r = e.round("pass-1", t0).await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    let rec = e.record("pass-1").await?;
    assert_eq!(
        rec["context"]["guards"].as_array().unwrap().last().unwrap(),
        "steady_state",
        "{rec:#}"
    );

    // The two eligible instances not chosen are spared, and say why.
    assert_eq!(rec["context"]["spared_total"], 2, "{rec:#}");
    assert_eq!(rec["context"]["spared"][0]["id"], "2 instance(s)");
    assert_eq!(
        rec["context"]["spared"][0]["reason"],
        "eligible, not chosen"
    );

    let run = e.close("pass-1").await?;
    assert_eq!(run.closed[0].verdict, "passed", "{run:#?}");
    let rec = e.record("pass-1").await?;
    assert_eq!(rec["state"]["outcome"], "recovered", "{rec:#}");
    assert_eq!(rec["state"]["verdict"]["verdict"], "passed", "{rec:#}");
    let m = e.message("recovered").await?;
    assert!(
        m.subject
            .starts_with("[faultline] web-hyp PASSED: recovered"),
        "{}",
        m.subject
    );
    assert_eq!(m.attributes["verdict"], "passed");
    assert_eq!(m.attributes["action"], "terminate");
    assert_eq!(m.attributes["targets"], "1");
    assert!(m.body.contains("Verdict:          PASSED"), "{}", m.body);
    assert_eq!(e.metric_sum("VerdictPassed").await?, 1.0);
    assert_eq!(e.metric_sum("VerdictFailed").await?, 0.0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hypothesis_broken_during_the_experiment_fails_naming_the_condition_and_value(
) -> Result<()> {
    let e = env().await?;
    let t0 = injection();
    let dip = t0 + Duration::minutes(2);
    e.success_rate(
        t0 - Duration::minutes(10),
        Utc::now() + Duration::minutes(30),
        |t| {
            if t == dip {
                91.2
            } else {
                99.9
            }
        },
    )
    .await?;
    let r = e.round("fail-1", t0).await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");

    let run = e.close("fail-1").await?;
    assert_eq!(run.closed[0].verdict, "failed", "{run:#?}");
    let rec = e.record("fail-1").await?;
    let v = &rec["state"]["verdict"];
    assert_eq!(v["verdict"], "failed", "{rec:#}");
    let b = &v["breaches"][0];
    assert_eq!(b["condition"], "SuccessRate Average", "{rec:#}");
    assert_eq!(b["phase"], "during");
    assert_eq!(b["observed"], 91.2);
    assert_eq!(b["threshold"], 99.0);
    assert_eq!(v["breaches"].as_array().unwrap().len(), 1, "{rec:#}");
    let m = e.message("recovered").await?;
    assert_eq!(
        m.subject,
        "[faultline] web-hyp FAILED: SuccessRate Average during 91.2 < 99"
    );
    assert_eq!(m.attributes["verdict"], "failed");
    assert_eq!(e.metric_sum("VerdictFailed").await?, 1.0);
    assert!(
        m.body
            .contains("SuccessRate Average during: 91.2 < 99 (by 7.8)"),
        "{}",
        m.body
    );

    // The report: written when it closed, where the record says, with the verdict and the
    // series it was judged on; the message links it (a pre-signed URL of report.html).
    let location = rec["state"]["report"].as_str().unwrap();
    assert_eq!(location, format!("s3://{REPORTS}/reports/fail-1/"));
    let report = store::get(&store::client(&e.conf), location).await?;
    assert_eq!(report.id, "fail-1");
    let json = serde_json::to_value(&report)?;
    assert!(json.to_string().contains("91.2"), "{json:#}");
    let html = faultline_report::html(&report);
    assert!(
        html.contains("data-condition=\"SuccessRate Average\""),
        "no chart of the condition"
    );
    let link = &m.attributes["report_url"];
    assert!(
        link.contains("/faultline-reports/reports/fail-1/report.html")
            && link.contains("X-Amz-Expires=604800"),
        "{link}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_not_steady_before_is_not_touched() -> Result<()> {
    let e = env().await?;
    let t0 = injection();
    let members = e.fleet.group_members("web-asg").await?;
    e.success_rate(t0 - Duration::minutes(10), t0 + Duration::minutes(5), |t| {
        if t == t0 - Duration::minutes(2) {
            93.1
        } else {
            99.9
        }
    })
    .await?;
    let r = e.round("unsteady-1", t0).await?;
    assert_eq!(r.outcome, RoundOutcome::Refused, "{r:#?}");
    assert_eq!(r.refusals[0].guard, Guard::SteadyState);
    assert_eq!(r.refusals[0].guard.name(), "steady_state");
    assert!(
        r.refusals[0]
            .reason
            .starts_with("not steady: SuccessRate Average before: 93.1 < 99"),
        "{}",
        r.refusals[0].reason
    );
    assert!(r.results.is_empty());
    assert!(
        e.fleet.record("unsteady-1").await?.is_none(),
        "nothing recorded"
    );
    assert_eq!(
        e.fleet.group_members("web-asg").await?,
        members,
        "nothing terminated"
    );
    Ok(())
}

/// A closed, recovered earlier run of the experiment with `ttr_s`.
fn previous(id: &str, started: DateTime<Utc>, ttr_s: i64) -> Record {
    Record {
        v: VERSION,
        id: id.to_owned(),
        experiment: EXPERIMENT.to_owned(),
        started_at: started,
        action: RecordAction::Terminate { via_asg: true },
        groups: BTreeMap::from([("web-asg".to_owned(), RecordGroup { desired: 3 })]),
        targets: vec![],
        zones: vec![],
        failed: vec![],
        timeout_s: 1800,
        alarms: vec![],
        stop_alarms: vec![],
        hypothesis: None,
        context: None,
        state: State::Closed(Closed {
            outcome: Outcome::Recovered,
            at: started + Duration::seconds(ttr_s),
            recovered_at: Some(started + Duration::seconds(ttr_s)),
            ttr_s: Some(ttr_s),
            observed: false,
            verdict: None,
            regression: None,
            report: None,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttr_slower_than_the_previous_runs_is_a_regression() -> Result<()> {
    let e = env().await?;
    let t0 = injection();
    let store = RecordStore::default();
    let records = Records::new(&e.fleet.ddb, &store);
    for (i, ttr) in [40, 60, 50].into_iter().enumerate() {
        let rec = previous(&format!("prev-{i}"), t0 - Duration::days(i as i64 + 1), ttr);
        records.create(&rec, rec.json()).await?;
    }
    e.success_rate(
        t0 - Duration::minutes(10),
        Utc::now() + Duration::minutes(30),
        |_| 99.9,
    )
    .await?;
    let r = e.round("slow-1", t0).await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    e.close("slow-1").await?;
    let rec = e.record("slow-1").await?;
    let reg = &rec["state"]["regression"];
    assert_eq!(reg["runs"], 3, "{rec:#}");
    assert_eq!(reg["median_s"], 50.0);
    assert_eq!(reg["slower"], true);
    assert!(reg["ttr_s"].as_i64().unwrap() > 75);
    let m = e.message("recovered").await?;
    assert!(m.subject.ends_with("(slower than usual)"), "{}", m.subject);
    assert!(m.body.contains("SLOWER"), "{}", m.body);
    assert_eq!(e.metric_sum("Regression").await?, 1.0);
    Ok(())
}

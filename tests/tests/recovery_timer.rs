//! The recovery timer against a real local AWS (a private moto_server per test): the monkey
//! injects, the test holds the system unrecovered and then recovers it at a known time, and
//! the timer's SNS message, CloudWatch metric and closed record are read back. One test runs
//! the built `recovery-timer` binary under the Lambda emulator with its logs captured.
//!
//! Long by design: seven timer scenarios share one Env; a split would only add test binaries.

use std::time::Duration;

use anyhow::{anyhow, Result};
use aws_sdk_cloudwatch::types::{Dimension, StateValue, Statistic};
use chrono::{DateTime, Utc};
use faultline_core::aws::Aws;
use faultline_core::clock::FixedClock;
use faultline_core::monkey::Monkey;
use faultline_core::outcome::RoundOutcome;
use faultline_core::recovery::short_duration;
use faultline_core::settings::Settings as MonkeySettings;
use faultline_e2e::{Emulator, Fleet, Moto, OPT_IN};
use faultline_recovery_timer::config::TimerConfig;
use faultline_recovery_timer::handler::{RunReport, Timer};
use serde_json::{json, Value};

/// An open record in the table's format, as the monkey writes it: `web-asg` back to
/// `desired`, the alarms OK.
fn open_record(id: &str, started: DateTime<Utc>, desired: u32, alarms: &[&str]) -> Value {
    json!({"v": 2, "id": id, "experiment": "web-terminate", "state": {"status": "open"},
           "started_at": started, "action": {"type": "terminate"},
           "groups": {"web-asg": {"desired": desired}},
           "targets": [{"id": "i-00000000000000000", "group": "web-asg", "zone": "us-east-1a"}],
           "timeout_s": 1800, "alarms": alarms})
}

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
    Ok(Env {
        moto,
        fleet,
        conf,
        topic,
    })
}

impl Env {
    fn settings(&self) -> TimerConfig {
        TimerConfig {
            topic_arn: Some(self.topic.clone()),
            ..TimerConfig::default()
        }
    }

    fn timer(&self) -> Timer {
        Timer::new(Aws::new(&self.conf), self.settings())
    }

    /// The monkey, injecting as if at `at`: terminates `count` instance(s) of `group`.
    async fn inject(
        &self,
        id: &str,
        group: &str,
        count: u32,
        alarms: &[&str],
        at: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let monkey = Monkey::new(
            Aws::new(&self.conf),
            MonkeySettings {
                topic_arn: Some(self.topic.clone()),
                ..MonkeySettings::default()
            },
        )
        .with_clock_and_seed(Box::new(FixedClock(at)), 11);
        let payload = json!({"execution_id": id, "experiment": {
            "name": "web-terminate",
            "targets": {"resource": "asg-instance", "asg_names": [group]},
            "selection": {"mode": "count", "value": count},
            "action": {"type": "terminate", "via_asg": true},
            "recovery": {"timeout": "30m", "alarms": alarms}}});
        let r = monkey.handle(payload).await?;
        assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
        Ok(r.plan.chosen.into_iter().map(|t| t.instance_id).collect())
    }

    async fn record(&self, id: &str) -> Result<Value> {
        self.fleet
            .record(id)
            .await?
            .ok_or_else(|| anyhow!("no record {id}"))
    }

    /// Messages with `event` attribute `event`.
    async fn messages(&self, event: &str) -> Result<Vec<faultline_e2e::SnsMessage>> {
        Ok(self
            .moto
            .sns_messages(&self.topic)
            .await?
            .into_iter()
            .filter(|m| m.attributes.get("event").map(String::as_str) == Some(event))
            .collect())
    }

    /// A statistic of a metric in namespace `faultline` for experiment `web-terminate`.
    /// One value per period; a test's points may straddle a minute, so sums are summed.
    async fn metric(&self, name: &str, stat: Statistic) -> Result<Vec<f64>> {
        let now = Utc::now();
        let out = self
            .fleet
            .cw
            .get_metric_statistics()
            .namespace("faultline")
            .metric_name(name)
            .dimensions(
                Dimension::builder()
                    .name("Experiment")
                    .value("web-terminate")
                    .build(),
            )
            .start_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                (now - chrono::Duration::hours(1)).timestamp(),
            ))
            .end_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                (now + chrono::Duration::hours(1)).timestamp(),
            ))
            .period(60)
            .statistics(stat.clone())
            .send()
            .await?;
        Ok(out
            .datapoints()
            .iter()
            .filter_map(|d| match stat {
                Statistic::Maximum => d.maximum(),
                Statistic::Sum => d.sum(),
                _ => d.sample_count(),
            })
            .collect())
    }

    /// Writes a record as the monkey would.
    async fn put_record(&self, id: &str, record: Value) -> Result<()> {
        self.fleet.put_record_text(id, &record.to_string()).await
    }

    async fn set_health(&self, id: &str, healthy: bool) -> Result<()> {
        self.fleet
            .asg
            .set_instance_health()
            .instance_id(id)
            .health_status(if healthy { "Healthy" } else { "Unhealthy" })
            .send()
            .await?;
        Ok(())
    }

    async fn alarm_updated(&self, name: &str) -> Result<DateTime<Utc>> {
        let out = self
            .fleet
            .cw
            .describe_alarms()
            .alarm_names(name)
            .send()
            .await?;
        let t = out
            .metric_alarms()
            .first()
            .and_then(|a| a.state_updated_timestamp())
            .ok_or_else(|| anyhow!("alarm {name} has no StateUpdatedTimestamp"))?;
        DateTime::from_timestamp(t.secs(), t.subsec_nanos()).ok_or_else(|| anyhow!("bad time"))
    }
}

fn total(v: Vec<f64>) -> f64 {
    v.iter().sum()
}

fn started_at(record: &Value) -> DateTime<Utc> {
    record["started_at"].as_str().unwrap().parse().unwrap()
}

fn backstop() -> Value {
    json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}})
}

/// The real EventBridge shape of an Auto Scaling launch success.
fn launch_event(group: &str, instance: &str, end: &str) -> Value {
    json!({
        "version": "0", "id": "3e3c153a-8339-4e30-8c35-687ebef853fe",
        "detail-type": "EC2 Instance Launch Successful", "source": "aws.autoscaling",
        "account": "123456789012", "time": end, "region": "us-east-1",
        "resources": [format!("arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b:autoScalingGroupName/{group}"),
                      format!("arn:aws:ec2:us-east-1:123456789012:instance/{instance}")],
        "detail": {"StatusCode": "InProgress", "AutoScalingGroupName": group,
                   "ActivityId": "9cabb81f-42de-417d-8aa7-ce16bf026590",
                   "Details": {"Availability Zone": "us-east-1b", "Subnet ID": "subnet-95bfcebe"},
                   "RequestId": "9cabb81f-42de-417d-8aa7-ce16bf026590",
                   "EndTime": end, "EC2InstanceId": instance, "StartTime": end,
                   "Cause": "an instance was taken out of service in response to a user request"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asg_recovery_is_reported_with_the_ttr_of_the_alarm_going_ok_and_the_metric_is_put(
) -> Result<()> {
    let e = env().await?;
    let before = e.fleet.group("web-asg", 1, 3, 6, &[OPT_IN]).await?;
    e.fleet.alarm("web-5xx").await?;
    // Injected two and a half minutes ago, so the TTR reads like a real one.
    let injected_at = Utc::now() - chrono::Duration::seconds(150);
    let victims = e
        .inject("asg-1", "web-asg", 1, &["web-5xx"], injected_at)
        .await?;
    let record = e.record("asg-1").await?;
    assert_eq!(record["state"]["status"], "open");

    // Hold the system unrecovered: the replacement is unhealthy and the alarm fires.
    let members = e.fleet.group_members("web-asg").await?;
    let replacement = members
        .iter()
        .find(|m| !before.contains(m))
        .ok_or_else(|| anyhow!("moto launched no replacement: {members:?}"))?
        .clone();
    assert!(!members.contains(&victims[0]));
    e.set_health(&replacement, false).await?;
    e.fleet.set_alarm("web-5xx", StateValue::Alarm).await?;

    let r = e.timer().run(&backstop()).await?;
    assert_eq!(r.pending, ["asg-1"], "{r:#?}");
    assert!(r.closed.is_empty());
    assert!(e.messages("recovered").await?.is_empty());
    assert_eq!(e.record("asg-1").await?["state"]["status"], "open");

    // Recover at a known time: the alarm's StateUpdatedTimestamp, read back (moto returns no
    // StateTransitionedTimestamp, which the timer prefers where AWS returns it).
    e.set_health(&replacement, true).await?;
    let asked = Utc::now();
    e.fleet.set_alarm("web-5xx", StateValue::Ok).await?;
    let ok_at = e.alarm_updated("web-5xx").await?;
    assert!((ok_at - asked).num_milliseconds().abs() < 2000);
    let want = (ok_at - started_at(&record)).num_seconds();
    assert!((150..160).contains(&want), "{want}");

    // Looking later must not change the TTR.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = e.timer().run(&backstop()).await?;
    assert_eq!(r.closed.len(), 1, "{r:#?}");
    assert_eq!(r.closed[0].ttr_s, Some(want));
    assert!(!r.closed[0].observed);

    let msgs = e.messages("recovered").await?;
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(
        m.subject,
        format!(
            "[faultline] web-terminate recovered in {}",
            short_duration(want)
        )
    );
    assert_eq!(m.attributes["experiment"], "web-terminate");
    assert_eq!(m.attributes["outcome"], "recovered");
    assert_eq!(m.attributes["ttr_seconds"], want.to_string());
    assert!(
        m.body.contains(&format!(
            "Time to recover:  {} ({want} s)",
            short_duration(want)
        )),
        "{}",
        m.body
    );
    assert!(m
        .body
        .contains("alarm web-5xx OK (alarm state-change timestamp)"));
    assert!(m.body.contains(&victims[0]), "the body lists the targets");
    assert!(
        !m.body.trim_start().starts_with('{'),
        "plain text, not JSON"
    );

    // The metric, read back.
    assert_eq!(
        e.metric("TimeToRecover", Statistic::Maximum).await?,
        [want as f64]
    );
    assert_eq!(total(e.metric("Recovered", Statistic::Sum).await?), 1.0);

    // The record is closed with its outcome and TTR, and stays closed.
    let closed = e.record("asg-1").await?;
    assert_eq!(closed["state"]["status"], "closed");
    assert_eq!(closed["state"]["outcome"], "recovered");
    assert_eq!(closed["state"]["ttr_s"], want);
    assert_eq!(closed["targets"][0]["id"], victims[0].as_str());
    assert_eq!(closed["targets"][0]["group"], "web-asg");
    assert!(closed["targets"][0]["zone"].is_string(), "{closed:#}");
    // Out of the open index; expires after the retention (90 days by default).
    assert!(closed["_item"]["open"].is_null(), "{closed:#}");
    let closed_at: DateTime<Utc> = closed["state"]["at"].as_str().unwrap().parse()?;
    assert_eq!(
        closed["_item"]["expires_at"],
        (closed_at + chrono::Duration::days(90)).timestamp()
    );
    let r = e.timer().run(&backstop()).await?;
    assert_eq!((r.open, r.closed.len()), (0, 0));
    assert!(r.malformed.is_empty(), "{r:#?}");
    assert_eq!(e.messages("recovered").await?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_event_gives_the_ttr_from_its_end_time_not_from_the_run() -> Result<()> {
    let e = env().await?;
    let before = e.fleet.group("web-asg", 1, 2, 4, &[OPT_IN]).await?;
    let injected_at: DateTime<Utc> = "2026-11-23T10:00:00Z".parse()?;
    e.inject("launch-1", "web-asg", 1, &[], injected_at).await?;
    let members = e.fleet.group_members("web-asg").await?;
    let replacement = members.iter().find(|m| !before.contains(m)).unwrap();

    // The binary under the Lambda emulator, as EventBridge would invoke it.
    let mut env = e.moto.env();
    env.push(("FAULTLINE_TOPIC_ARN".into(), e.topic.clone()));
    let (mut lambda, logs) = Emulator::start_capturing(
        "recovery-timer",
        "functions/recovery-timer/Cargo.toml",
        &env,
    )
    .await?;
    let event = launch_event("web-asg", replacement, "2026-11-23T10:01:37.208Z");
    let (status, resp) = lambda.invoke_raw(&event.to_string()).await?;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["trigger"], "launch");
    assert_eq!(resp["closed"][0]["id"], "launch-1", "{resp:#}");
    assert_eq!(resp["closed"][0]["ttr_s"], 97, "from EndTime, not from now");
    assert_eq!(resp["closed"][0]["observed"], false);

    let msgs = e.messages("recovered").await?;
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        msgs[0].subject,
        "[faultline] web-terminate recovered in 1m 37s"
    );
    assert!(
        msgs[0].body.contains(&format!(
            "10:01:37  web-asg back to 2 healthy InService instance(s) (launch event EndTime of {replacement})"
        )),
        "{}",
        msgs[0].body
    );
    assert_eq!(e.metric("TimeToRecover", Statistic::Maximum).await?, [97.0]);
    logs.wait_for(
        &["\"decision\":\"closed\"", "launch-1"],
        Duration::from_secs(10),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_end_time_in_the_future_is_clamped_to_the_decision_and_logged() -> Result<()> {
    let e = env().await?;
    let before = e.fleet.group("web-asg", 1, 2, 4, &[OPT_IN]).await?;
    let injected_at = Utc::now();
    e.inject("future-1", "web-asg", 1, &[], injected_at).await?;
    let members = e.fleet.group_members("web-asg").await?;
    let replacement = members.iter().find(|m| !before.contains(m)).unwrap();

    let mut env = e.moto.env();
    env.push(("FAULTLINE_TOPIC_ARN".into(), e.topic.clone()));
    let (mut lambda, logs) = Emulator::start_capturing(
        "recovery-timer",
        "functions/recovery-timer/Cargo.toml",
        &env,
    )
    .await?;
    // An EndTime 94 s after the injection, delivered (and decided) long before then.
    let end = (injected_at + chrono::Duration::seconds(94))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let event = launch_event("web-asg", replacement, &end);
    let (status, resp) = lambda.invoke_raw(&event.to_string()).await?;
    let decided = Utc::now();
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["closed"][0]["id"], "future-1", "{resp:#}");
    let ttr = resp["closed"][0]["ttr_s"].as_i64().unwrap();
    let bound = (decided - started_at(&e.record("future-1").await?)).num_seconds();
    assert!(
        ttr <= bound && ttr < 94,
        "the TTR is clamped to the decision ({bound} s at most), not {ttr} s"
    );
    let closed = e.record("future-1").await?;
    assert_eq!(closed["state"]["status"], "closed");
    assert_eq!(closed["state"]["ttr_s"], ttr, "{closed:#}");
    let msgs = e.messages("recovered").await?;
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0]
            .body
            .contains("in the future: clamped to the decision time"),
        "{}",
        msgs[0].body
    );
    logs.wait_for(
        &["\"decision\":\"clamped\"", "future-1", &end],
        Duration::from_secs(10),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_past_its_timeout_publishes_not_recovered_once_and_closes() -> Result<()> {
    let e = env().await?;
    let members = e.fleet.group("web-asg", 1, 3, 6, &[OPT_IN]).await?;
    e.fleet.alarm("web-5xx").await?;
    e.fleet.set_alarm("web-5xx", StateValue::Alarm).await?;
    let started = Utc::now() - chrono::Duration::minutes(31);
    e.put_record("late-1", open_record("late-1", started, 3, &["web-5xx"]))
        .await?;
    assert_eq!(
        members.len(),
        3,
        "capacity is back; only the alarm keeps it unrecovered"
    );

    for _ in 0..2 {
        e.timer().run(&backstop()).await?;
    }
    let msgs = e.messages("not-recovered").await?;
    assert_eq!(msgs.len(), 1, "published once");
    assert_eq!(
        msgs[0].subject,
        "[faultline] web-terminate NOT recovered after 30m"
    );
    assert_eq!(msgs[0].attributes["outcome"], "not_recovered");
    assert!(
        msgs[0].body.contains("alarm web-5xx OK: state ALARM"),
        "{}",
        msgs[0].body
    );
    let rec = e.record("late-1").await?;
    assert_eq!(
        (
            rec["state"]["status"].as_str(),
            rec["state"]["outcome"].as_str()
        ),
        (Some("closed"), Some("not_recovered"))
    );
    assert_eq!(total(e.metric("NotRecovered", Statistic::Sum).await?), 1.0);
    assert!(e
        .metric("TimeToRecover", Statistic::Maximum)
        .await?
        .is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_at_once_close_each_record_once_without_duplicate_messages() -> Result<()> {
    let e = env().await?;
    let members = e.fleet.group("web-asg", 1, 3, 6, &[OPT_IN]).await?;
    let started = Utc::now() - chrono::Duration::minutes(2);
    for i in 0..3 {
        let id = format!("race-{i}");
        e.put_record(&id, open_record(&id, started, 3, &[])).await?;
    }
    // A launch event and the backstop (and two more) at the same moment, each its own client.
    let end = (started + chrono::Duration::seconds(61)).to_rfc3339();
    let launch = launch_event("web-asg", &members[0], &end);
    let backstop = backstop();
    let timers: Vec<Timer> = (0..4).map(|_| e.timer()).collect();
    let (a, b, c, d) = tokio::join!(
        timers[0].run(&launch),
        timers[1].run(&backstop),
        timers[2].run(&backstop),
        timers[3].run(&launch),
    );
    let reports: Vec<RunReport> = vec![a?, b?, c?, d?];
    let closed: Vec<&str> = reports
        .iter()
        .flat_map(|r| r.closed.iter().map(|c| c.id.as_str()))
        .collect();
    let mut sorted = closed.clone();
    sorted.sort();
    assert_eq!(sorted, ["race-0", "race-1", "race-2"], "{reports:#?}");
    assert_eq!(e.messages("recovered").await?.len(), 3, "no duplicates");
    assert_eq!(total(e.metric("Recovered", Statistic::Sum).await?), 3.0);
    for i in 0..3 {
        assert_eq!(
            e.record(&format!("race-{i}")).await?["state"]["status"],
            "closed"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_and_events_are_logged_and_the_others_still_processed() -> Result<()> {
    let e = env().await?;
    e.fleet.group("web-asg", 1, 2, 4, &[OPT_IN]).await?;
    e.fleet.put_record_text("bad-json", "{not json").await?;
    e.fleet
        .put_record_text("bad-shape", r#"{"v":2,"id":"bad-shape"}"#)
        .await?;
    let started = Utc::now() - chrono::Duration::minutes(1);
    e.put_record("good-1", open_record("good-1", started, 2, &[]))
        .await?;

    let mut env = e.moto.env();
    env.push(("FAULTLINE_TOPIC_ARN".into(), e.topic.clone()));
    let (mut lambda, logs) = Emulator::start_capturing(
        "recovery-timer",
        "functions/recovery-timer/Cargo.toml",
        &env,
    )
    .await?;
    // A launch event without its EndTime.
    let mut event = launch_event("web-asg", "i-0123", "2026-11-23T10:00:00Z");
    event["detail"].as_object_mut().unwrap().remove("EndTime");
    let (status, resp) = lambda.invoke_raw(&event.to_string()).await?;
    assert_eq!(status, 200, "{resp}");
    assert!(
        resp["event_error"]
            .as_str()
            .unwrap_or_default()
            .contains("detail.EndTime"),
        "{resp:#}"
    );
    let mut malformed: Vec<&str> = resp["malformed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    malformed.sort();
    assert_eq!(malformed, ["bad-json", "bad-shape"]);
    assert_eq!(resp["closed"][0]["id"], "good-1", "{resp:#}");
    assert_eq!(
        resp["closed"][0]["observed"], true,
        "no timestamp: observed"
    );
    let msgs = e.messages("recovered").await?;
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0]
            .subject
            .starts_with("[faultline] web-terminate recovered, observed within "),
        "{}",
        msgs[0].subject
    );

    // One clear line per problem.
    let line = logs
        .wait_for(
            &["malformed_event", "detail.EndTime"],
            Duration::from_secs(10),
        )
        .await?;
    assert!(line.contains("\"level\":\"ERROR\""), "{line}");
    logs.wait_for(
        &["malformed_record", "bad-json", "not JSON"],
        Duration::from_secs(10),
    )
    .await?;
    logs.wait_for(
        &["malformed_record", "bad-shape", "missing field"],
        Duration::from_secs(10),
    )
    .await?;
    assert!(lambda.function_alive());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_open_experiments_are_read_with_one_query_and_each_closed_once() -> Result<()> {
    let e = env().await?;
    let started = Utc::now() - chrono::Duration::minutes(3);
    // Standalone terminates: no condition to wait for, so every record closes on this run.
    for i in 0..100 {
        let id = format!("many-{i:03}");
        e.put_record(
            &id,
            json!({"v": 2, "id": id, "experiment": "web-terminate", "state": {"status": "open"},
                   "started_at": started + chrono::Duration::seconds(i),
                   "action": {"type": "terminate"}, "targets": [{"id": format!("i-{i:017}")}],
                   "timeout_s": 1800}),
        )
        .await?;
    }
    // Two runs at once, each with its own clients and request counter.
    let (aws_a, aws_b) = (Aws::new(&e.conf), Aws::new(&e.conf));
    let (ta, tb) = (
        Timer::new(aws_a.clone(), e.settings()),
        Timer::new(aws_b.clone(), e.settings()),
    );
    let event = backstop();
    let (a, b) = tokio::join!(ta.run(&event), tb.run(&event));
    let (a, b) = (a?, b?);
    assert_eq!(
        a.closed.len() + b.closed.len(),
        100,
        "each closed exactly once between the two runs"
    );
    assert_eq!(
        e.messages("recovered").await?.len(),
        100,
        "one message each"
    );
    for aws in [&aws_a, &aws_b] {
        assert_eq!(aws.calls.of("Query"), 1, "{:?}", aws.calls.by_operation());
        assert_eq!(aws.calls.of("GetItem") + aws.calls.of("Scan"), 0);
    }
    // Closed records leave the open index: the next run reads nothing.
    let aws = Aws::new(&e.conf);
    let r = Timer::new(aws.clone(), e.settings())
        .run(&backstop())
        .await?;
    assert_eq!((r.open, r.closed.len()), (0, 0));
    assert_eq!(aws.calls.get(), 1, "{:?}", aws.calls.by_operation());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_reopens_the_record_and_the_next_run_publishes_once() -> Result<()> {
    let e = env().await?;
    e.fleet.group("web-asg", 1, 2, 4, &[OPT_IN]).await?;
    let started = Utc::now() - chrono::Duration::minutes(2);
    e.put_record("retry-1", open_record("retry-1", started, 2, &[]))
        .await?;
    let gone = TimerConfig {
        topic_arn: Some(format!("{}-deleted", e.topic)),
        ..e.settings()
    };
    let r = Timer::new(Aws::new(&e.conf), gone).run(&backstop()).await?;
    assert!(r.closed.is_empty(), "{r:#?}");
    assert_eq!(r.errors.len(), 1, "{r:#?}");
    let rec = e.record("retry-1").await?;
    assert_eq!(rec["state"]["status"], "open", "given back: {rec:#}");
    assert_eq!(rec["_item"]["open"], "open", "back in the open index");
    let r = e.timer().run(&backstop()).await?;
    assert_eq!(r.closed.len(), 1, "{r:#?}");
    assert_eq!(e.messages("recovered").await?.len(), 1);
    assert_eq!(e.record("retry-1").await?["state"]["status"], "closed");
    Ok(())
}

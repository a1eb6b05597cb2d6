//! Aborting experiments against a private moto: the monkey injects (an agent fault, a stop), then
//! `core::abort` (called directly, or by the recovery timer when a stop alarm fires) rolls back on exactly the recorded instances (the faultline document with
//! `Mode=rollback`, read back from moto's `ListCommands`; `StartInstances`), the record turns
//! `aborted` once, one SNS message says so (`event=aborted`) and `TimeToSafe` is put.
//!
//! moto's Run Command reports `Success` for every invocation at once, and lists every instance
//! of the region as a command's targets whatever `InstanceIds` said (notes/local-aws.md): the
//! confirmations here are immediate, the document and parameters are read from `ListCommands`,
//! and the instance ids from the `SendCommand` requests the SDK sent (captured).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{anyhow, Result};
use aws_sdk_cloudwatch::types::{Dimension, StateValue, Statistic};
use chrono::Utc;
use faultline_core::abort::{self, Abort, AbortConfig};
use faultline_core::aws::records::Records;
use faultline_core::aws::Aws;
use faultline_core::clock::SystemClock;
use faultline_core::monkey::Monkey;
use faultline_core::outcome::RoundOutcome;
use faultline_core::record::{AbortTrigger, Record};
use faultline_core::settings::Settings;
use faultline_e2e::{workspace_root, Fleet, Moto, SentCommands, OPT_IN};
use faultline_recovery_timer::config::TimerConfig;
use faultline_recovery_timer::handler::Timer;
use serde_json::{json, Value};

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
    // The real document, as Terraform creates it.
    let doc =
        std::fs::read_to_string(workspace_root().join("terraform/documents/faultline-agent.json"))?;
    fleet
        .ssm
        .create_document()
        .name("faultline-agent")
        .content(doc)
        .document_type(aws_sdk_ssm::types::DocumentType::Command)
        .document_format(aws_sdk_ssm::types::DocumentFormat::Json)
        .send()
        .await?;
    fleet.alarm("web-5xx").await?;
    Ok(Env {
        moto,
        fleet,
        conf,
        topic,
    })
}

impl Env {
    /// Clients whose SendCommand requests `sent` records.
    fn aws(&self, sent: &SentCommands) -> Aws {
        let mut aws = Aws::new(&self.conf);
        aws.ssm = aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&self.conf)
                .interceptor(aws.calls.clone())
                .interceptor(sent.clone())
                .build(),
        );
        aws
    }

    fn config(&self) -> AbortConfig {
        AbortConfig {
            topic_arn: Some(self.topic.clone()),
            wait: Duration::from_secs(10),
            poll: Duration::from_millis(200),
            ..AbortConfig::default()
        }
    }

    /// The monkey hits `count` of the opted-in `app=web` instances with `action`; returns the
    /// chosen instance ids.
    async fn inject(&self, id: &str, action: Value, count: u32) -> Result<Vec<String>> {
        let monkey = Monkey::new(
            Aws::new(&self.conf),
            Settings {
                topic_arn: Some(self.topic.clone()),
                ..Settings::default()
            },
        )
        .with_clock_and_seed(Box::new(SystemClock), 5);
        let r = monkey
            .handle(json!({"execution_id": id, "experiment": {
                "name": "web-latency",
                "targets": {"resource": "ec2-instance", "tags": {"app": "web"}},
                "selection": {"mode": "count", "value": count},
                "action": action,
                "guards": {"stop_alarms": ["web-5xx"]}}}))
            .await?;
        assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
        Ok(r.plan.chosen.into_iter().map(|t| t.instance_id).collect())
    }

    async fn stored(&self, id: &str) -> Result<Record> {
        let aws = Aws::new(&self.conf);
        let store = self.config().records;
        Records::new(&aws.dynamodb, &store)
            .get(id)
            .await?
            .ok_or_else(|| anyhow!("no record {id}"))?
            .map_err(|m| anyhow!("malformed {}: {}", m.id, m.reason))
    }

    async fn aborted_messages(&self) -> Result<Vec<faultline_e2e::SnsMessage>> {
        Ok(self
            .moto
            .sns_messages(&self.topic)
            .await?
            .into_iter()
            .filter(|m| m.attributes.get("event").map(String::as_str) == Some("aborted"))
            .collect())
    }

    /// The `TimeToSafe` data points' sample count for experiment `web-latency`.
    async fn time_to_safe_samples(&self) -> Result<f64> {
        let now = Utc::now();
        let out = self
            .fleet
            .cw
            .get_metric_statistics()
            .namespace("faultline")
            .metric_name("TimeToSafe")
            .dimensions(
                Dimension::builder()
                    .name("Experiment")
                    .value("web-latency")
                    .build(),
            )
            .start_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                (now - chrono::Duration::hours(1)).timestamp(),
            ))
            .end_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                (now + chrono::Duration::hours(1)).timestamp(),
            ))
            .period(60)
            .statistics(Statistic::SampleCount)
            .send()
            .await?;
        Ok(out
            .datapoints()
            .iter()
            .filter_map(|d| d.sample_count())
            .sum())
    }

    /// The rollback commands moto lists: (instance ids moto lists, parameters) per command of
    /// the faultline document with `Mode=rollback`.
    async fn rollback_commands(&self) -> Result<Vec<(BTreeSet<String>, Value)>> {
        let listed = self.fleet.ssm.list_commands().send().await?;
        Ok(listed
            .commands()
            .iter()
            .filter(|c| c.document_name() == Some("faultline-agent"))
            .filter(|c| {
                c.parameters()
                    .and_then(|p| p.get("Mode"))
                    .is_some_and(|m| m == &["rollback".to_owned()])
            })
            .map(|c| {
                (
                    c.instance_ids().iter().cloned().collect(),
                    json!(c.parameters()),
                )
            })
            .collect())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_agent_fault_is_rolled_back_on_exactly_its_hosts_once() -> Result<()> {
    let e = env().await?;
    e.fleet.instances(6, &[OPT_IN, ("app", "web")]).await?;
    let chosen = e
        .inject(
            "agent-1",
            json!({"type": "agent", "fault": "latency", "args": {"delay_ms": 200}, "duration": "10m"}),
            4,
        )
        .await?;
    let rec = e.stored("agent-1").await?;
    assert!(rec.is_open());
    assert_eq!(
        rec.stop_alarms,
        ["web-5xx"],
        "the spec's stop alarms are recorded"
    );
    assert!(e.rollback_commands().await?.is_empty());

    let sent = SentCommands::default();
    let aws = e.aws(&sent);
    let t0 = Utc::now();
    let Abort::Aborted(report) =
        abort::abort(&aws, &e.config(), &rec, AbortTrigger::Abort, t0).await?
    else {
        panic!("the first abort aborts");
    };
    let a = report.aborted();
    assert_eq!(a.trigger, AbortTrigger::Abort);
    assert_eq!(a.ok(), 4, "{a:#?}");
    let ids: BTreeSet<String> = a.rolled_back.iter().map(|r| r.id.clone()).collect();
    let want: BTreeSet<String> = chosen.iter().cloned().collect();
    assert_eq!(ids, want);
    assert!(
        a.time_to_safe_ms >= 0 && a.time_to_safe_ms < 10_000,
        "{a:#?}"
    );

    // One command: the document, Mode=rollback only, sent to exactly the recorded instances.
    let cmds = e.rollback_commands().await?;
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert_eq!(cmds[0].1, json!({"Mode": ["rollback"]}));
    assert!(cmds[0].0.is_superset(&want), "{cmds:?}");
    let requests = sent.0.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].document_name(), Some("faultline-agent"));
    let to: BTreeSet<String> = requests[0].instance_ids().iter().cloned().collect();
    assert_eq!(to, want, "exactly the recorded instances");

    // The record: aborted, out of the open index, expiring.
    let item = e.fleet.record("agent-1").await?.expect("the record");
    assert_eq!(item["_item"]["state"], "aborted", "{item:#}");
    assert!(item["_item"]["open"].is_null(), "{item:#}");
    assert!(item["_item"]["expires_at"].is_i64(), "{item:#}");
    assert_eq!(item["state"]["status"], "aborted");
    assert_eq!(item["state"]["trigger"]["by"], "abort");
    assert!(Records::new(&aws.dynamodb, &e.config().records)
        .open()
        .await?
        .records
        .is_empty());

    let msgs = e.aborted_messages().await?;
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].subject.starts_with(
            "[faultline] web-latency ABORTED: faultline abort; rolled back on 4 of 4 hosts in "
        ),
        "{}",
        msgs[0].subject
    );
    assert_eq!(msgs[0].attributes["trigger"], "abort");
    assert_eq!(e.time_to_safe_samples().await?, 1.0);

    // A second abort (even of the stale open copy) does nothing more.
    let again = abort::abort(&aws, &e.config(), &rec, AbortTrigger::Abort, Utc::now()).await?;
    assert_eq!(
        again,
        Abort::NotOpen {
            id: "agent-1".into()
        }
    );
    let fresh = e.stored("agent-1").await?;
    let again = abort::abort(&aws, &e.config(), &fresh, AbortTrigger::Abort, Utc::now()).await?;
    assert!(matches!(again, Abort::NotOpen { .. }));
    assert_eq!(
        e.aborted_messages().await?.len(),
        1,
        "one abort, one message"
    );
    assert_eq!(e.time_to_safe_samples().await?, 1.0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_stop_starts_its_instances_at_once() -> Result<()> {
    let e = env().await?;
    let all = e.fleet.instances(5, &[OPT_IN, ("app", "web")]).await?;
    let chosen = e.inject("stop-1", json!({"type": "stop"}), 3).await?;
    assert!(e.fleet.in_state(&chosen, "running").await?.is_empty());

    let aws = Aws::new(&e.conf);
    let rec = e.stored("stop-1").await?;
    let Abort::Aborted(report) =
        abort::abort(&aws, &e.config(), &rec, AbortTrigger::Halt, Utc::now()).await?
    else {
        panic!("the first abort aborts");
    };
    assert_eq!(report.aborted().ok(), 3, "{report:#?}");
    assert_eq!(e.fleet.in_state(&chosen, "running").await?.len(), 3);
    assert_eq!(e.fleet.in_state(&all, "running").await?.len(), 5);
    assert!(e.rollback_commands().await?.is_empty(), "no agent command");
    let msgs = e.aborted_messages().await?;
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0]
            .subject
            .contains("ABORTED: faultline halt; rolled back on 3 of 3 hosts"),
        "{}",
        msgs[0].subject
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recovery_timer_aborts_an_experiment_whose_stop_alarm_fires() -> Result<()> {
    let e = env().await?;
    e.fleet.instances(6, &[OPT_IN, ("app", "web")]).await?;
    let chosen = e
        .inject(
            "agent-2",
            json!({"type": "agent", "fault": "latency", "args": {"delay_ms": 200}, "duration": "10m"}),
            4,
        )
        .await?;
    let want: BTreeSet<String> = chosen.iter().cloned().collect();
    let sent = SentCommands::default();
    let timer = Timer::new(
        e.aws(&sent),
        TimerConfig {
            topic_arn: Some(e.topic.clone()),
            ..TimerConfig::default()
        },
    );

    // The stop alarm is OK: the timer only watches.
    let r = timer.run(&json!({})).await?;
    assert!(r.aborted.is_empty(), "{r:#?}");
    assert_eq!(r.pending, ["agent-2"]);
    assert!(sent.0.lock().unwrap().is_empty());

    let fired = Utc::now();
    e.fleet.set_alarm("web-5xx", StateValue::Alarm).await?;
    let r = timer.run(&json!({})).await?;
    assert_eq!(r.aborted.len(), 1, "{r:#?}");
    let a = &r.aborted[0];
    assert_eq!((a.id.as_str(), a.alarm.as_str()), ("agent-2", "web-5xx"));
    assert_eq!((a.rolled_back, a.targets), (4, 4));
    assert!(r.closed.is_empty() && r.pending.is_empty(), "{r:#?}");

    // The rollback: the faultline document, Mode=rollback, exactly the recorded instances.
    let requests = sent.0.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].document_name(), Some("faultline-agent"));
    let to: BTreeSet<String> = requests[0].instance_ids().iter().cloned().collect();
    assert_eq!(to, want);
    let cmds = e.rollback_commands().await?;
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert_eq!(cmds[0].1, json!({"Mode": ["rollback"]}));

    let rec = e.stored("agent-2").await?;
    let ab = rec.aborted().expect("aborted");
    assert_eq!(
        ab.trigger,
        AbortTrigger::StopAlarm {
            alarm: "web-5xx".into()
        }
    );
    // From the alarm's state change (moto: StateUpdatedTimestamp, whole seconds) to the last
    // confirmation.
    assert!(
        ab.time_to_safe_ms >= 0
            && ab.time_to_safe_ms <= (Utc::now() - fired).num_milliseconds() + 1_000,
        "{ab:#?}"
    );
    let msgs = e.aborted_messages().await?;
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].subject.starts_with(
            "[faultline] web-latency ABORTED: web-5xx in ALARM; rolled back on 4 of 4 hosts in "
        ),
        "{}",
        msgs[0].subject
    );
    assert_eq!(msgs[0].attributes["trigger"], "stop_alarm");
    assert_eq!(e.time_to_safe_samples().await?, 1.0);

    // The next run finds nothing open: no second rollback, no second message.
    let r = timer.run(&json!({})).await?;
    assert_eq!((r.open, r.aborted.len()), (0, 0), "{r:#?}");
    assert_eq!(sent.0.lock().unwrap().len(), 1);
    assert_eq!(e.aborted_messages().await?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_restart_after_is_started_again_by_the_timer_at_that_time_once() -> Result<()> {
    let e = env().await?;
    e.fleet.instances(4, &[OPT_IN, ("app", "web")]).await?;
    let chosen = e
        .inject("stop-2", json!({"type": "stop", "restart_after": "10m"}), 2)
        .await?;
    assert!(e.fleet.in_state(&chosen, "running").await?.is_empty());
    let injected = e.stored("stop-2").await?.started_at;
    let timer_at = |minutes: i64| {
        Timer::new(
            Aws::new(&e.conf),
            TimerConfig {
                topic_arn: Some(e.topic.clone()),
                ..TimerConfig::default()
            },
        )
        .with_clock(Box::new(faultline_core::clock::FixedClock(
            injected + chrono::Duration::minutes(minutes),
        )))
    };

    // Not yet: the instances stay stopped.
    let r = timer_at(9).run(&json!({})).await?;
    assert!(r.restarted.is_empty(), "{r:#?}");
    assert!(e.fleet.in_state(&chosen, "running").await?.is_empty());

    // Past restart_after: started again, and the record says when.
    let r = timer_at(10).run(&json!({})).await?;
    assert_eq!(r.restarted, ["stop-2"], "{r:#?}");
    assert_eq!(e.fleet.in_state(&chosen, "running").await?.len(), 2);
    let rec = e.stored("stop-2").await?;
    match rec.action {
        faultline_core::record::RecordAction::Stop {
            restart_after_s,
            restarted_at,
        } => {
            assert_eq!(restart_after_s, Some(600));
            assert_eq!(restarted_at, Some(injected + chrono::Duration::minutes(10)));
        }
        other => panic!("a stop record, not {other:?}"),
    }
    // Once: a later run does not start them again.
    let r = timer_at(11).run(&json!({})).await?;
    assert!(r.restarted.is_empty(), "{r:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_alarm_is_not_checked_before_acting_but_aborts_while_open() -> Result<()> {
    let e = env().await?;
    e.fleet.instances(3, &[OPT_IN, ("app", "web")]).await?;
    e.fleet.alarm("checkout-errors").await?;
    let monkey = Monkey::new(
        Aws::new(&e.conf),
        Settings {
            topic_arn: Some(e.topic.clone()),
            ..Settings::default()
        },
    )
    .with_clock_and_seed(Box::new(SystemClock), 5);
    let r = monkey
        .handle(json!({"execution_id": "abort-alarm-1", "experiment": {
            "name": "web-latency",
            "targets": {"resource": "ec2-instance", "tags": {"app": "web"}},
            "selection": {"mode": "count", "value": 1},
            "action": {"type": "stop"},
            "guards": {"abort_alarms": ["checkout-errors"]}}}))
        .await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    assert_eq!(
        e.stored("abort-alarm-1").await?.stop_alarms,
        ["checkout-errors"]
    );
    e.fleet
        .set_alarm("checkout-errors", StateValue::Alarm)
        .await?;
    let timer = Timer::new(
        Aws::new(&e.conf),
        TimerConfig {
            topic_arn: Some(e.topic.clone()),
            ..TimerConfig::default()
        },
    );
    let r = timer.run(&json!({})).await?;
    assert_eq!(r.aborted.len(), 1, "{r:#?}");
    assert_eq!(r.aborted[0].alarm, "checkout-errors");
    Ok(())
}

//! The monkey's handler in-process against a real local AWS (a private moto_server per test):
//! selection over large fleets, blast radius, every guard, dry run, idempotency, malformed
//! input, partial failure and each action. Outcomes are read back from moto.
//!
//! Long by design: ten round scenarios share one Env; a split would only add test binaries.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use aws_sdk_cloudwatch::types::StateValue;
use chrono::{DateTime, Utc};
use faultline_core::aws::Aws;
use faultline_core::clock::{FixedClock, SystemClock};
use faultline_core::monkey::{Monkey, MonkeyError};
use faultline_core::outcome::{RoundOutcome as Outcome, RoundResult};
use faultline_core::settings::Settings;
use faultline_e2e::{Fleet, Moto, OPT_IN};
use serde_json::{json, Value};

struct Env {
    moto: Moto,
    fleet: Fleet,
    monkey: Monkey,
    topic: String,
}

async fn env_with_clock(clock: Option<DateTime<Utc>>) -> Result<Env> {
    let moto = Moto::start().await?;
    let conf = moto.sdk_config().await;
    let fleet = Fleet::new(&conf).await?;
    let topic = fleet.topic("faultline").await?;
    let settings = Settings {
        topic_arn: Some(topic.clone()),
        ..Settings::default()
    };
    let monkey = match clock {
        Some(t) => {
            Monkey::new(Aws::new(&conf), settings).with_clock_and_seed(Box::new(FixedClock(t)), 7)
        }
        None => {
            Monkey::new(Aws::new(&conf), settings).with_clock_and_seed(Box::new(SystemClock), 7)
        }
    };
    Ok(Env {
        moto,
        fleet,
        monkey,
        topic,
    })
}

async fn env() -> Result<Env> {
    env_with_clock(None).await
}

impl Env {
    async fn invoke(&self, payload: Value) -> Result<RoundResult, MonkeyError> {
        self.monkey.handle(payload).await
    }

    async fn sns_count(&self) -> Result<usize> {
        Ok(self.moto.sns_messages(&self.topic).await?.len())
    }
}

fn envelope(id: &str, experiment: Value) -> Value {
    json!({"execution_id": id, "scheduled_time": "2026-11-23T10:00:00Z", "experiment": experiment})
}

fn chosen_ids(r: &RoundResult) -> Vec<String> {
    r.plan
        .chosen
        .iter()
        .map(|t| t.instance_id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_of_300_with_100_opted_in_percent_30_hits_exactly_30_opted_in() -> Result<()> {
    let e = env().await?;
    let f = &e.fleet;
    // 100 opted in: two groups of 30 and 40 standalone.
    let mut opted: Vec<String> = Vec::new();
    opted.extend(
        f.group("in-a", 0, 30, 40, &[OPT_IN, ("app", "web")])
            .await?,
    );
    opted.extend(
        f.group("in-b", 0, 30, 40, &[OPT_IN, ("app", "web")])
            .await?,
    );
    opted.extend(f.instances(40, &[OPT_IN, ("app", "web")]).await?);
    // 200 others: a group without the tag, standalone with a false or missing opt-in, or
    // opted in but for another app.
    let mut others: Vec<String> = Vec::new();
    others.extend(f.group("out", 0, 50, 60, &[("app", "web")]).await?);
    others.extend(
        f.instances(50, &[("faultline:enabled", "false"), ("app", "web")])
            .await?,
    );
    others.extend(f.instances(50, &[("app", "web")]).await?);
    others.extend(f.instances(50, &[OPT_IN, ("app", "api")]).await?);
    assert_eq!((opted.len(), others.len()), (100, 200));
    let before = f.states().await?;

    let r = e
        .invoke(envelope(
            "fleet-300",
            json!({"name": "web-terminate",
                   "targets": {"resource": "ec2-instance", "tags": {"app": "web"}},
                   "selection": {"mode": "percent", "value": 30},
                   "action": {"type": "terminate"},
                   "guards": {"max_targets": 30}}),
        ))
        .await?;

    assert_eq!(r.outcome, Outcome::Acted, "{r:#?}");
    assert_eq!(
        (r.plan.eligible, r.plan.requested, r.plan.chosen.len()),
        (100, 30, 30)
    );
    let after = f.states().await?;
    let terminated: Vec<&String> = opted
        .iter()
        .filter(|id| after[*id] == "terminated")
        .collect();
    assert_eq!(terminated.len(), 30);
    let mut chosen = chosen_ids(&r);
    chosen.sort();
    let mut t: Vec<String> = terminated.into_iter().cloned().collect();
    t.sort();
    assert_eq!(chosen, t, "the instances reported are the ones terminated");
    for id in &others {
        assert_eq!(
            after[id], before[id],
            "{id} is not opted in and must be untouched"
        );
    }
    // Untouched opted-in instances are still running.
    assert_eq!(
        opted.iter().filter(|id| after[*id] == "running").count(),
        70
    );
    // One message on SNS, with filterable attributes.
    let msgs = e.moto.sns_messages(&e.topic).await?;
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0]
            .subject
            .starts_with("[faultline] web-terminate: terminated 30 of 100 instances"),
        "{}",
        msgs[0].subject
    );
    assert_eq!(
        msgs[0].attributes.get("event").map(String::as_str),
        Some("injected")
    );
    assert_eq!(
        msgs[0].attributes.get("outcome").map(String::as_str),
        Some("acted")
    );
    assert_eq!(
        msgs[0].attributes.get("experiment").map(String::as_str),
        Some("web-terminate")
    );
    // The record holds what the recovery timer needs.
    let rec = f.record("fleet-300").await?.expect("a record");
    assert_eq!(rec["state"]["status"], "open");
    assert_eq!(rec["_item"]["open"], "open", "in the open index");
    assert_eq!(rec["action"]["type"], "terminate");
    assert_eq!(rec["groups"]["in-a"]["desired"], 30);
    let mut recorded: Vec<String> = rec["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    recorded.sort();
    assert_eq!(recorded, chosen, "the record holds exactly the targets hit");
    assert!(r.api_calls >= 5, "api calls counted: {}", r.api_calls);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_of_400_targets_acts_records_every_one_and_acts_once_when_redelivered() -> Result<()>
{
    // Over the ~300 targets an SSM-parameter record could hold (8 KB).
    let e = env().await?;
    let opted = e.fleet.instances(500, &[OPT_IN, ("app", "big")]).await?;
    let payload = envelope(
        "big-400",
        json!({"name": "big-terminate",
               "targets": {"resource": "ec2-instance", "tags": {"app": "big"}},
               "selection": {"mode": "count", "value": 400},
               "action": {"type": "terminate"},
               "guards": {"max_targets": 400}}),
    );
    let r = e.invoke(payload.clone()).await?;
    assert_eq!(r.outcome, Outcome::Acted, "{:?}", r.refusals);
    let mut chosen = chosen_ids(&r);
    chosen.sort();
    assert_eq!(chosen.len(), 400);
    let mut terminated = e.fleet.in_state(&opted, "terminated").await?;
    terminated.sort();
    assert_eq!(terminated, chosen, "exactly the chosen 400 are terminated");
    let rec = e.fleet.record("big-400").await?.expect("a record");
    let mut recorded: Vec<String> = rec["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    recorded.sort();
    assert_eq!(recorded, chosen, "the record holds every target");
    assert!(rec["targets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["zone"].is_string()));

    let again = e.invoke(payload).await?;
    assert_eq!(again.outcome, Outcome::Duplicate, "{again:#?}");
    assert_eq!(
        e.fleet.in_state(&opted, "terminated").await?.len(),
        400,
        "the redelivery acted on nothing"
    );
    assert_eq!(e.sns_count().await?, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asg_with_min_size_2_desired_3_at_percent_100_loses_at_most_one() -> Result<()> {
    let e = env().await?;
    let members = e.fleet.group("web-asg", 2, 3, 3, &[OPT_IN]).await?;
    let r = e
        .invoke(json!({"name": "web-all",
                       "targets": {"resource": "asg-instance", "asg_names": ["web-asg"]},
                       "selection": {"mode": "percent", "value": 100},
                       "action": {"type": "terminate"},
                       "guards": {"max_targets": 3}}))
        .await?;
    assert_eq!(r.outcome, Outcome::Acted);
    assert_eq!(r.plan.requested, 3);
    assert_eq!(r.plan.chosen.len(), 1, "{r:#?}");
    assert_eq!(e.fleet.in_state(&members, "terminated").await?.len(), 1);
    assert_eq!(e.fleet.in_state(&members, "running").await?.len(), 2);
    assert!(
        r.plan.capped_by.iter().any(|c| c.contains("web-asg")),
        "{:?}",
        r.plan.capped_by
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_group_is_spared_and_min_healthy_is_honoured() -> Result<()> {
    let e = env().await?;
    let degraded = e.fleet.group("degraded", 0, 4, 4, &[OPT_IN]).await?;
    e.fleet
        .asg
        .set_instance_health()
        .instance_id(&degraded[0])
        .health_status("Unhealthy")
        .send()
        .await?;
    let healthy = e.fleet.group("healthy", 1, 5, 5, &[OPT_IN]).await?;
    let r = e
        .invoke(json!({"name": "both",
                       "targets": {"resource": "asg-instance"},
                       "selection": {"mode": "all"},
                       "action": {"type": "terminate"},
                       "guards": {"min_healthy": 3, "max_targets": 10}}))
        .await?;
    assert_eq!(r.outcome, Outcome::Acted, "{r:#?}");
    assert_eq!(
        e.fleet.in_state(&degraded, "terminated").await?,
        Vec::<String>::new()
    );
    assert_eq!(e.fleet.in_state(&healthy, "terminated").await?.len(), 2);
    let g = r.plan.groups.iter().find(|g| g.name == "degraded").unwrap();
    assert!(
        g.spared.as_deref().unwrap().starts_with("degraded"),
        "{g:?}"
    );
    Ok(())
}

/// Every round-level guard refuses on its own, and a refusal changes nothing in AWS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_guard_refuses_and_nothing_changes() -> Result<()> {
    // A Sunday noon: outside a MON-FRI window.
    let sunday = DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")?.with_timezone(&Utc);
    let e = env_with_clock(Some(sunday)).await?;
    e.fleet.group("web-asg", 0, 4, 4, &[OPT_IN]).await?;
    e.fleet.instances(4, &[OPT_IN]).await?;
    e.fleet.alarm("web-5xx").await?;
    let before = e.fleet.states().await?;
    let base = json!({"name": "web",
                      "targets": {"resource": "asg-instance"},
                      "selection": {"mode": "all"},
                      "action": {"type": "terminate"},
                      "guards": {"max_targets": 10},
                      "notify_refusals": true});
    let with = |guards: Value| {
        let mut x = base.clone();
        x["guards"] = guards;
        x["guards"]["max_targets"] = json!(10);
        x
    };

    // The guards pass on their own, in dry run (proves each case below is refused by its guard).
    let mut ok = with(json!({"stop_alarms": ["web-5xx"]}));
    ok["dry_run"] = json!(true);
    assert_eq!(e.invoke(ok).await?.outcome, Outcome::DryRun);

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "stop_alarm",
            with(json!({"stop_alarms": ["web-5xx"]})),
            "web-5xx is ALARM",
        ),
        (
            "stop_alarm",
            with(json!({"stop_alarms": ["no-such-alarm"]})),
            "no-such-alarm does not exist",
        ),
        (
            "window",
            with(
                json!({"windows": [{"days": "MON-FRI", "start": "09:00", "end": "17:00", "tz": "Europe/London"}]}),
            ),
            "outside every window",
        ),
        (
            "probability",
            with(json!({"probability": 0.0})),
            "probability 0",
        ),
        (
            "disabled",
            {
                let mut x = base.clone();
                x["enabled"] = json!(false);
                x
            },
            "enabled",
        ),
        ("kill_switch", base.clone(), "/faultline/enabled is false"),
    ];
    e.fleet.set_alarm("web-5xx", StateValue::Alarm).await?;
    for (i, (guard, spec, reason)) in cases.into_iter().enumerate() {
        if guard == "kill_switch" {
            e.fleet.set_alarm("web-5xx", StateValue::Ok).await?;
            e.fleet.put_param("/faultline/enabled", "false").await?;
        }
        let r = e.invoke(envelope(&format!("refused-{i}"), spec)).await?;
        assert_eq!(r.outcome, Outcome::Refused, "{guard}: {r:#?}");
        assert_eq!(r.refusals.len(), 1);
        assert_eq!(serde_json::to_value(r.refusals[0].guard)?, json!(guard));
        assert!(
            r.refusals[0].reason.contains(reason),
            "{guard}: {}",
            r.refusals[0].reason
        );
        assert!(r.results.is_empty() && r.record.is_none());
    }
    assert_eq!(
        e.fleet.states().await?,
        before,
        "a refusal must change nothing"
    );
    assert!(
        e.fleet.records().await?.is_empty(),
        "a refusal records nothing"
    );
    // notify_refusals: each refusal was published, marked as such.
    let msgs = e.moto.sns_messages(&e.topic).await?;
    assert_eq!(msgs.len(), 6);
    assert!(msgs
        .iter()
        .all(|m| m.attributes["event"] == "refused" && m.subject.contains("refused by")));
    assert!(
        msgs[5].subject.contains("refused by kill_switch"),
        "{}",
        msgs[5].subject
    );

    // Deleting the kill switch during a halt does not resume chaos: missing refuses too.
    e.fleet
        .ssm
        .delete_parameter()
        .name("/faultline/enabled")
        .send()
        .await?;
    let r = e.invoke(envelope("refused-missing", base.clone())).await?;
    assert_eq!(r.outcome, Outcome::Refused, "{r:#?}");
    assert_eq!(
        r.refusals[0].guard,
        faultline_core::guards::Guard::KillSwitch
    );
    assert!(
        r.refusals[0]
            .reason
            .contains("/faultline/enabled does not exist"),
        "{}",
        r.refusals[0].reason
    );
    assert!(r.results.is_empty() && r.record.is_none());
    assert_eq!(e.fleet.states().await?, before);

    // The kill switch back on: the same spec acts.
    e.fleet.put_param("/faultline/enabled", "true").await?;
    assert_eq!(e.invoke(base).await?.outcome, Outcome::Acted);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_returns_the_plan_and_changes_nothing() -> Result<()> {
    let e = env().await?;
    let ids = e.fleet.instances(10, &[OPT_IN, ("app", "web")]).await?;
    let before = e.fleet.states().await?;
    let r = e
        .invoke(envelope(
            "dry",
            json!({"name": "plan-only",
                   "targets": {"resource": "ec2-instance", "tags": {"app": "web"}},
                   "selection": {"mode": "count", "value": 3},
                   "action": {"type": "stop"},
                   "dry_run": true}),
        ))
        .await?;
    assert_eq!(r.outcome, Outcome::DryRun);
    assert_eq!(r.plan.chosen.len(), 3);
    assert!(r.plan.chosen.iter().all(|t| ids.contains(&t.instance_id)));
    assert_eq!(e.fleet.states().await?, before);
    assert!(e.fleet.records().await?.is_empty());
    assert_eq!(e.sns_count().await?, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_execution_id_twice_acts_once() -> Result<()> {
    let e = env().await?;
    let ids = e.fleet.instances(6, &[OPT_IN]).await?;
    let payload = envelope(
        "delivered-twice",
        json!({"name": "once",
               "targets": {"resource": "ec2-instance"},
               "selection": {"mode": "count", "value": 2},
               "action": {"type": "terminate"}}),
    );
    let first = e.invoke(payload.clone()).await?;
    assert_eq!(first.outcome, Outcome::Acted);
    let second = e.invoke(payload).await?;
    assert_eq!(second.outcome, Outcome::Duplicate, "{second:#?}");
    assert!(second.results.is_empty() && second.plan.chosen.is_empty());
    assert_eq!(second.record.as_deref(), Some("delivered-twice"));
    assert_eq!(e.fleet.in_state(&ids, "terminated").await?.len(), 2);
    assert_eq!(e.sns_count().await?, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_rejected_with_the_problem_named_and_nothing_changes() -> Result<()> {
    let e = env().await?;
    e.fleet.instances(3, &[OPT_IN]).await?;
    let before = e.fleet.states().await?;
    let good = json!({"name": "x", "targets": {"resource": "ec2-instance"},
                      "selection": {"mode": "all"}, "action": {"type": "terminate"},
                      "guards": {"max_targets": 3}});
    let patch = |k: &str, v: Value| {
        let mut x = good.clone();
        x[k] = v;
        x
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            patch("action", json!({"type": "explode"})),
            "unknown variant `explode`",
        ),
        (
            patch("selection", json!({"mode": "percent", "value": 150})),
            "selection.value: a percentage must be between 0 and 100, got 150",
        ),
        (
            patch("targets", json!({})),
            "targets: missing field `resource`",
        ),
        (
            patch(
                "guards",
                json!({"windows": [{"days": "MON", "start": "09:00", "end": "25:00"}]}),
            ),
            "guards.windows[0].end: \"25:00\" is not a time of day",
        ),
        (patch("surprise", json!(1)), "unknown field `surprise`"),
        (json!("terminate everything"), "expected a JSON object"),
        (json!(null), "expected a JSON object"),
    ];
    for (payload, want) in cases {
        let err = e
            .invoke(payload.clone())
            .await
            .expect_err("must be rejected");
        assert_eq!(err.error_type(), "InvalidSpec");
        let message = err.to_string();
        assert!(message.contains(want), "{payload}: {message}");
        assert!(message.contains("nothing was changed"));
    }
    assert_eq!(e.fleet.states().await?, before);
    assert!(e.fleet.records().await?.is_empty());
    assert_eq!(e.sns_count().await?, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_termination_protected_target_fails_alone_and_the_rest_are_terminated() -> Result<()> {
    let e = env().await?;
    let ids = e.fleet.instances(4, &[OPT_IN]).await?;
    e.fleet.protect(&ids[1]).await?;
    let r = e
        .invoke(envelope(
            "protected",
            json!({"name": "all-four", "targets": {"resource": "ec2-instance"},
                   "selection": {"mode": "all"}, "action": {"type": "terminate"},
                   "guards": {"max_targets": 4}}),
        ))
        .await?;
    assert_eq!(r.outcome, Outcome::Partial, "{r:#?}");
    let failed: Vec<_> = r.results.iter().filter(|t| t.outcome == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].instance_id, ids[1]);
    assert!(
        failed[0]
            .error
            .as_deref()
            .unwrap()
            .contains("OperationNotPermitted"),
        "{failed:?}"
    );
    let states = e.fleet.states().await?;
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            states[id],
            if i == 1 { "running" } else { "terminated" },
            "{id}"
        );
    }
    // The record no longer counts the protected instance as a victim.
    let rec = e.fleet.record("protected").await?.expect("a record");
    assert_eq!(rec["failed"], json!([ids[1]]));
    assert_eq!(rec["targets"].as_array().unwrap().len(), 3);
    assert!(rec["targets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["id"] != ids[1].as_str() && t.get("group").is_none()));
    let msgs = e.moto.sns_messages(&e.topic).await?;
    assert!(
        msgs[0]
            .subject
            .contains("terminated 3 of 4 instances (1 failed)"),
        "{}",
        msgs[0].subject
    );
    assert!(
        msgs[0].body.contains("FAILED: OperationNotPermitted"),
        "{}",
        msgs[0].body
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_reboot_and_terminate_via_asg_do_what_they_say() -> Result<()> {
    let e = env().await?;
    let solo = e.fleet.instances(2, &[OPT_IN, ("role", "solo")]).await?;
    let group = e.fleet.group("web-asg", 1, 3, 3, &[OPT_IN]).await?;
    let one = |action: Value, resource: &str, tags: Value| {
        json!({"name": "act", "targets": {"resource": resource, "tags": tags},
               "selection": {"mode": "count", "value": 1}, "action": action})
    };

    let r = e
        .invoke(one(
            json!({"type": "stop"}),
            "ec2-instance",
            json!({"role": "solo"}),
        ))
        .await?;
    assert_eq!(r.outcome, Outcome::Acted);
    let stopped = &r.results[0].instance_id;
    assert_eq!(r.results[0].outcome, "stopped");
    assert_eq!(
        e.fleet.in_state(&solo, "stopped").await?,
        vec![stopped.clone()]
    );

    let r = e
        .invoke(one(
            json!({"type": "reboot"}),
            "ec2-instance",
            json!({"role": "solo"}),
        ))
        .await?;
    assert_eq!(r.results[0].outcome, "rebooted");
    assert_ne!(
        &r.results[0].instance_id, stopped,
        "a stopped instance is not eligible"
    );
    assert_eq!(e.fleet.in_state(&solo, "running").await?.len(), 1);

    let r = e
        .invoke(one(
            json!({"type": "terminate", "via_asg": true}),
            "asg-instance",
            json!({}),
        ))
        .await?;
    assert_eq!(r.outcome, Outcome::Acted, "{r:#?}");
    let victim = &r.results[0].instance_id;
    assert!(group.contains(victim));
    assert_eq!(
        e.fleet.in_state(&group, "terminated").await?,
        vec![victim.clone()]
    );
    // The group replaced it at once and kept its desired capacity.
    let members: HashSet<String> = e
        .fleet
        .group_members("web-asg")
        .await?
        .into_iter()
        .collect();
    assert_eq!(members.len(), 3);
    assert!(!members.contains(victim));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_eligible_target_is_a_refusal_that_says_why() -> Result<()> {
    let e = env().await?;
    e.fleet.instances(3, &[("app", "web")]).await?;
    let r = e
        .invoke(json!({"name": "nothing", "targets": {"resource": "ec2-instance", "tags": {"app": "web"}},
                       "selection": {"mode": "all"}, "action": {"type": "terminate"},
                       "guards": {"max_targets": 3}}))
        .await?;
    assert_eq!(r.outcome, Outcome::Refused);
    assert!(
        r.refusals[0].reason.contains("faultline:enabled=true"),
        "{}",
        r.refusals[0].reason
    );
    let running: HashMap<String, String> = e.fleet.states().await?;
    assert!(running.values().all(|s| s == "running"));
    Ok(())
}

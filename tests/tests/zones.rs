//! Availability Zone outages against a private moto: a VPC over three zones (a subnet each, a
//! fourth zone holding only capacity that is not opted in), two opted-in groups spread over
//! the three zones and one group not opted in. An `az-outage` of `us-east-1b` takes out only
//! the opted-in instances there, removes only that zone's subnet from only the opted-in
//! groups, swaps only the opted-in subnet's network ACL, and the recovery timer (at the end of
//! the duration, by its clock) or an abort (at once) puts every group's `VPCZoneIdentifier`
//! and every ACL association back exactly as the snapshot taken before. Also: `"random"` draws
//! only zones with opted-in capacity and says which, the single-zone guard, redelivery and two
//! concurrent timers restoring once, and `toward_zones` resolved into the zones' CIDRs.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use aws_sdk_ec2::types::{Filter, Tag};
use chrono::{DateTime, Utc};
use faultline_core::abort::{self, Abort, AbortConfig};
use faultline_core::aws::Aws;
use faultline_core::clock::FixedClock;
use faultline_core::monkey::Monkey;
use faultline_core::outcome::{RoundOutcome, RoundResult};
use faultline_core::record::{AbortTrigger, Record};
use faultline_core::settings::Settings;
use faultline_e2e::{Fleet, Moto, SentCommands, OPT_IN};
use faultline_recovery_timer::config::TimerConfig;
use faultline_recovery_timer::handler::Timer;
use serde_json::{json, Value};

const ZONES: [&str; 4] = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"];

struct Env {
    moto: Moto,
    fleet: Fleet,
    conf: aws_config::SdkConfig,
    topic: String,
    /// Subnet id per zone.
    subnets: BTreeMap<&'static str, String>,
}

/// What must come back exactly: each group's subnets, each subnet's network ACL.
#[derive(Debug, PartialEq)]
struct Snapshot {
    groups: BTreeMap<String, String>,
    acls: BTreeMap<String, String>,
}

/// A VPC `<net>.0.0/16` with one subnet per zone (`<net>.<n>.0/24`, n from 1): zone -> subnet.
async fn vpc(
    fleet: &Fleet,
    net: &str,
    zones: &[&'static str],
) -> Result<BTreeMap<&'static str, String>> {
    let vpc = fleet
        .ec2
        .create_vpc()
        .cidr_block(format!("{net}.0.0/16"))
        .send()
        .await?
        .vpc
        .and_then(|v| v.vpc_id)
        .ok_or_else(|| anyhow!("no vpc"))?;
    let mut subnets = BTreeMap::new();
    for (i, z) in zones.iter().enumerate() {
        let id = fleet
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("{net}.{}.0/24", i + 1))
            .availability_zone(*z)
            .send()
            .await?
            .subnet
            .and_then(|s| s.subnet_id)
            .ok_or_else(|| anyhow!("no subnet"))?;
        subnets.insert(*z, id);
    }
    Ok(subnets)
}

async fn env() -> Result<Env> {
    let moto = Moto::start().await?;
    let conf = moto.sdk_config().await;
    let fleet = Fleet::new(&conf).await?;
    let topic = fleet.topic("faultline").await?;
    let subnets = vpc(&fleet, "10.20", &ZONES).await?;
    let e = Env {
        moto,
        fleet,
        conf,
        topic,
        subnets,
    };
    // The zone's subnet and its current network ACL are opted in (the ACL so the restore may
    // associate it again); the other subnets are not.
    e.tag(&e.subnets["us-east-1b"]).await?;
    let acl = e.acl_of(&e.subnets["us-east-1b"]).await?;
    e.tag(&acl).await?;
    let web = [OPT_IN, ("app", "web")];
    let (a, b, c, d) = (
        e.subnets["us-east-1a"].as_str(),
        e.subnets["us-east-1b"].as_str(),
        e.subnets["us-east-1c"].as_str(),
        e.subnets["us-east-1d"].as_str(),
    );
    e.fleet.group_in_subnets("web-1", &[a, b, c], &web).await?;
    e.fleet.group_in_subnets("web-2", &[c, b, a], &web).await?;
    e.fleet
        .group_in_subnets("batch", &[a, b, c, d], &[("app", "web")])
        .await?;
    Ok(e)
}

impl Env {
    async fn tag(&self, id: &str) -> Result<()> {
        self.fleet
            .ec2
            .create_tags()
            .resources(id)
            .tags(Tag::builder().key(OPT_IN.0).value(OPT_IN.1).build())
            .send()
            .await?;
        Ok(())
    }

    async fn acl_of(&self, subnet: &str) -> Result<String> {
        let out = self
            .fleet
            .ec2
            .describe_network_acls()
            .filters(
                Filter::builder()
                    .name("association.subnet-id")
                    .values(subnet)
                    .build(),
            )
            .send()
            .await?;
        out.network_acls()
            .iter()
            .find(|a| {
                a.associations()
                    .iter()
                    .any(|x| x.subnet_id() == Some(subnet))
            })
            .and_then(|a| a.network_acl_id())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{subnet} has no ACL"))
    }

    async fn acl_count(&self) -> Result<usize> {
        Ok(self
            .fleet
            .ec2
            .describe_network_acls()
            .send()
            .await?
            .network_acls()
            .len())
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        let mut groups = BTreeMap::new();
        for g in self
            .fleet
            .asg
            .describe_auto_scaling_groups()
            .send()
            .await?
            .auto_scaling_groups()
        {
            groups.insert(
                g.auto_scaling_group_name().unwrap_or_default().to_owned(),
                g.vpc_zone_identifier().unwrap_or_default().to_owned(),
            );
        }
        let mut acls = BTreeMap::new();
        for s in self.subnets.values() {
            acls.insert(s.clone(), self.acl_of(s).await?);
        }
        Ok(Snapshot { groups, acls })
    }

    /// Instance id -> (zone, group, state).
    async fn instances(&self) -> Result<BTreeMap<String, (String, String, String)>> {
        let mut out = BTreeMap::new();
        let pages = self.fleet.ec2.describe_instances().send().await?;
        for r in pages.reservations() {
            for i in r.instances() {
                let group = i
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some("aws:autoscaling:groupName"))
                    .and_then(|t| t.value())
                    .unwrap_or_default();
                out.insert(
                    i.instance_id().unwrap_or_default().to_owned(),
                    (
                        i.placement()
                            .and_then(|p| p.availability_zone())
                            .unwrap_or_default()
                            .to_owned(),
                        group.to_owned(),
                        i.state()
                            .and_then(|s| s.name())
                            .map(|n| n.as_str().to_owned())
                            .unwrap_or_default(),
                    ),
                );
            }
        }
        Ok(out)
    }

    fn monkey(&self, at: DateTime<Utc>, seed: u64) -> Monkey {
        Monkey::new(
            Aws::new(&self.conf),
            Settings {
                topic_arn: Some(self.topic.clone()),
                ..Settings::default()
            },
        )
        .with_clock_and_seed(Box::new(FixedClock(at)), seed)
    }

    fn timer(&self, at: DateTime<Utc>) -> Timer {
        Timer::new(
            Aws::new(&self.conf),
            TimerConfig {
                topic_arn: Some(self.topic.clone()),
                ..TimerConfig::default()
            },
        )
        .with_clock(Box::new(FixedClock(at)))
    }

    async fn record(&self, id: &str) -> Result<Record> {
        let v = self
            .fleet
            .record(id)
            .await?
            .ok_or_else(|| anyhow!("no record {id}"))?;
        Record::parse(&v.to_string()).map_err(|e| anyhow!("{e}: {v}"))
    }
}

fn outage(zones: Value, extra: Value) -> Value {
    let mut e = json!({
        "name": "web-zone-outage",
        "targets": {"resource": "asg-instance", "tags": {"app": "web"}, "availability_zones": zones},
        "selection": {"mode": "all"},
        "action": {"type": "az-outage", "mode": "stop", "network": true, "duration": "15m"},
        "guards": {"max_targets": 10},
        "recovery": {"timeout": "1h"},
    });
    if let (Some(e), Some(x)) = (e.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            e.insert(k.clone(), v.clone());
        }
    }
    e
}

fn chosen(r: &RoundResult) -> Vec<String> {
    let mut ids: Vec<String> = r
        .plan
        .chosen
        .iter()
        .map(|t| t.instance_id.clone())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_one_zone_takes_out_only_opted_in_capacity_there_and_is_restored_exactly(
) -> Result<()> {
    let e = env().await?;
    let before = e.snapshot().await?;
    let acls_before = e.acl_count().await?;
    let fleet = e.instances().await?;
    let expected: Vec<String> = fleet
        .iter()
        .filter(|(_, (zone, group, _))| zone == "us-east-1b" && group.starts_with("web-"))
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(
        expected.len(),
        2,
        "one web instance per group in us-east-1b: {fleet:?}"
    );

    // Injected (by the clock the monkey is given) 16 minutes ago; the duration is 15.
    let t0: DateTime<Utc> = Utc::now() - chrono::Duration::minutes(16);
    let payload =
        json!({"execution_id": "az-1", "experiment": outage(json!(["us-east-1b"]), json!({}))});
    let r = e.monkey(t0, 5).handle(payload.clone()).await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    assert_eq!(chosen(&r), expected);

    // Only the opted-in instances in the zone are stopped.
    for (id, (zone, group, state)) in e.instances().await? {
        let hit = expected.contains(&id);
        assert_eq!(
            state == "stopped",
            hit,
            "{id} in {zone} of {group}: {state}"
        );
    }
    // Only that zone's subnet leaves only the opted-in groups, order kept.
    let during = e.snapshot().await?;
    let (a, b, c) = (
        &e.subnets["us-east-1a"],
        &e.subnets["us-east-1b"],
        &e.subnets["us-east-1c"],
    );
    assert_eq!(during.groups["web-1"], format!("{a},{c}"));
    assert_eq!(during.groups["web-2"], format!("{c},{a}"));
    assert_eq!(during.groups["batch"], before.groups["batch"]);
    // Only the opted-in subnet's ACL is swapped, for a new deny-all one.
    for (s, acl) in &during.acls {
        assert_eq!(acl != &before.acls[s], s == b, "{s}: {acl}");
    }
    let rec = e.record("az-1").await?;
    assert_eq!(rec.zones, ["us-east-1b"]);
    assert!(
        rec.json().contains(&before.groups["web-1"]),
        "{}",
        rec.json()
    );

    // A redelivery changes nothing and leaves no extra ACL behind.
    let again = e.monkey(t0, 5).handle(payload).await?;
    assert_eq!(again.outcome, RoundOutcome::Duplicate, "{again:#?}");
    assert_eq!(e.snapshot().await?, during);
    assert_eq!(e.acl_count().await?, acls_before + 1);

    // Before the end of the duration nothing is restored.
    let r = e
        .timer(t0 + chrono::Duration::minutes(10))
        .run(&json!({}))
        .await?;
    assert!(r.restored.is_empty(), "{r:#?}");
    assert_eq!(e.snapshot().await?, during);

    // The groups rebalance into the surviving zones (moto does not replace stopped instances:
    // one more each, launched in the first remaining subnet's zone).
    for g in ["web-1", "web-2"] {
        e.fleet
            .asg
            .set_desired_capacity()
            .auto_scaling_group_name(g)
            .desired_capacity(4)
            .send()
            .await?;
    }
    for (id, (zone, group, _)) in e.instances().await? {
        assert!(
            expected.contains(&id) || zone != "us-east-1b" || group == "batch",
            "{id} of {group} launched in the dead zone {zone}"
        );
    }

    // After the duration, two timers at once: restored once, exactly as before.
    let at = Utc::now() + chrono::Duration::seconds(1);
    let (t1, t2) = (e.timer(at), e.timer(at));
    let backstop = json!({});
    let (r1, r2) = tokio::join!(t1.run(&backstop), t2.run(&backstop));
    let (r1, r2) = (r1?, r2?);
    assert_eq!(
        r1.restored.len() + r2.restored.len(),
        1,
        "recorded as restored once: {r1:#?} {r2:#?}"
    );
    assert_eq!(e.snapshot().await?, before);
    assert_eq!(
        e.acl_count().await?,
        acls_before,
        "the deny-all ACL is gone"
    );
    for (id, (_, _, state)) in e.instances().await? {
        assert!(
            state == "running" || state == "pending",
            "{id} started again: {state}"
        );
    }
    // Closed once, recovered: capacity back to desired in the surviving zones; the message
    // lists what was restored.
    let rec = e.record("az-1").await?;
    assert!(rec.json().contains("subnets back"), "{}", rec.json());
    let closed = rec
        .closed()
        .ok_or_else(|| anyhow!("not closed: {}", rec.json()))?;
    let ttr = closed
        .ttr_s
        .ok_or_else(|| anyhow!("no TTR: {closed:?} {}\n{r1:#?}\n{r2:#?}", rec.json()))?;
    assert!(
        (15 * 60..=17 * 60).contains(&ttr),
        "TTR {ttr} s from the launches"
    );
    // moto records no scaling activity for a desired-capacity change, so the time is the one
    // observed by this check (the launch EndTime path is covered by recovery_timer.rs).
    assert!(
        closed.outcome == faultline_core::record::Outcome::Recovered,
        "{closed:?}"
    );
    let msgs = e.moto.sns_messages(&e.topic).await?;
    let m = msgs
        .iter()
        .find(|m| m.attributes.get("event").map(String::as_str) == Some("recovered"))
        .ok_or_else(|| anyhow!("no recovered message"))?;
    assert!(
        m.body.contains("Restored after the outage of us-east-1b"),
        "{}",
        m.body
    );
    assert!(m.body.contains("subnets back"), "{}", m.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_restores_the_zone_at_once() -> Result<()> {
    let e = env().await?;
    let before = e.snapshot().await?;
    let t0 = Utc::now();
    let payload =
        json!({"execution_id": "az-abort", "experiment": outage(json!(["us-east-1b"]), json!({}))});
    let r = e.monkey(t0, 5).handle(payload).await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    assert_ne!(e.snapshot().await?, before);
    let rec = e.record("az-abort").await?;
    let cfg = AbortConfig {
        topic_arn: Some(e.topic.clone()),
        ..AbortConfig::default()
    };
    let done = abort::abort(
        &Aws::new(&e.conf),
        &cfg,
        &rec,
        AbortTrigger::Abort,
        Utc::now(),
    )
    .await?;
    let Abort::Aborted(report) = done else {
        return Err(anyhow!("not aborted: {done:?}"));
    };
    assert!(
        report.aborted().rolled_back.iter().all(|b| b.ok),
        "{report:#?}"
    );
    assert_eq!(e.snapshot().await?, before);
    // The timer then has nothing left to restore.
    let r = e
        .timer(t0 + chrono::Duration::hours(1))
        .run(&json!({}))
        .await?;
    assert!(r.restored.is_empty() && r.open == 0, "{r:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_draws_only_zones_with_opted_in_capacity_and_says_which() -> Result<()> {
    let e = env().await?;
    let held = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let mut drawn = std::collections::BTreeSet::new();
    for seed in 0..12 {
        let exp = outage(json!("random"), json!({"dry_run": true}));
        let r = e
            .monkey(Utc::now(), seed)
            .handle(json!({"execution_id": format!("rand-{seed}"), "experiment": exp}))
            .await?;
        assert_eq!(r.outcome, RoundOutcome::DryRun, "{r:#?}");
        let [zone] = r.plan.zones.as_slice() else {
            return Err(anyhow!("one zone drawn: {:?}", r.plan.zones));
        };
        assert!(
            held.contains(&zone.as_str()),
            "{zone}: no opted-in capacity there"
        );
        assert!(r
            .plan
            .chosen
            .iter()
            .all(|t| t.zone.as_deref() == Some(zone)));
        drawn.insert(zone.clone());
    }
    assert!(drawn.len() > 1, "the draw varies with the seed: {drawn:?}");

    // A real round: the record and the message name the zone drawn.
    let exp = outage(json!("random"), json!({}));
    let r = e
        .monkey(Utc::now(), 1)
        .handle(json!({"execution_id": "rand-real", "experiment": exp}))
        .await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    let zone = r.plan.zones[0].clone();
    assert_eq!(
        e.record("rand-real").await?.zones,
        std::slice::from_ref(&zone)
    );
    let msgs = e.moto.sns_messages(&e.topic).await?;
    let m = msgs
        .iter()
        .find(|m| m.attributes.get("event").map(String::as_str) == Some("injected"))
        .ok_or_else(|| anyhow!("no injected message"))?;
    assert!(m.subject.contains(&zone), "{}", m.subject);
    assert!(m.body.contains(&zone), "{}", m.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_living_in_the_zone_only_is_refused_with_the_reason() -> Result<()> {
    let e = env().await?;
    let b = e.subnets["us-east-1b"].clone();
    e.fleet
        .group_in_subnets("solo", &[&b], &[OPT_IN, ("app", "solo")])
        .await?;
    let before = e.snapshot().await?;
    let exp = |allow: bool| {
        let mut x = outage(
            json!(["us-east-1b"]),
            json!({"targets": {"resource": "asg-instance", "asg_names": ["solo"],
                               "availability_zones": ["us-east-1b"]}}),
        );
        x["guards"]["allow_single_az"] = json!(allow);
        x["action"]["network"] = json!(false);
        x
    };
    let r = e
        .monkey(Utc::now(), 1)
        .handle(json!({"execution_id": "solo-1", "experiment": exp(false)}))
        .await?;
    assert_eq!(r.outcome, RoundOutcome::Refused, "{r:#?}");
    assert_eq!(r.refusals[0].guard.name(), "zone");
    assert!(
        r.refusals[0]
            .reason
            .contains("solo lives in us-east-1b only"),
        "{}",
        r.refusals[0].reason
    );
    assert_eq!(e.snapshot().await?, before, "nothing changed");
    assert!(e.fleet.record("solo-1").await?.is_none());
    // With the guard lifted, it runs (the group keeps its only subnet).
    let r = e
        .monkey(Utc::now(), 1)
        .handle(json!({"execution_id": "solo-2", "experiment": exp(true)}))
        .await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    assert_eq!(e.snapshot().await?.groups["solo"], b);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toward_zones_limits_an_agent_fault_to_the_other_zones_cidrs() -> Result<()> {
    let moto = Moto::start().await?;
    let sent = SentCommands::default();
    let conf = moto.sdk_config().await;
    let e = Env {
        fleet: Fleet::new(&conf).await?,
        conf,
        topic: String::new(),
        subnets: BTreeMap::new(),
        moto,
    };
    let subnets: Vec<String> = vpc(&e.fleet, "10.30", &ZONES[..3])
        .await?
        .into_values()
        .collect();
    let ids = e
        .fleet
        .group_in_subnets(
            "web",
            &[&subnets[0], &subnets[1]],
            &[OPT_IN, ("app", "web")],
        )
        .await?;
    assert_eq!(ids.len(), 2);
    let exp = json!({
        "name": "web-gray",
        "targets": {"resource": "asg-instance", "asg_names": ["web"]},
        "selection": {"mode": "count", "value": 2},
        "action": {"type": "agent", "fault": "latency", "args": {"delay_ms": 100},
                   "duration": "5m", "toward_zones": ["other"]},
    });
    let mut aws = Aws::new(&e.conf);
    aws.ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(&e.conf)
            .interceptor(aws.calls.clone())
            .interceptor(sent.clone())
            .build(),
    );
    let r = Monkey::new(aws, Settings::default())
        .handle(json!({"execution_id": "gray-1", "experiment": exp}))
        .await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    // One command per zone, each toward the other zones' subnets only (every subnet in the
    // region: the default VPC's too).
    let commands = sent.0.lock().unwrap().clone();
    assert_eq!(commands.len(), 2, "{commands:#?}");
    for c in &commands {
        let args = c
            .parameters()
            .and_then(|p| p.get("Args"))
            .map(|v| v.join(" "))
            .unwrap_or_default();
        let own = if args.contains("10.30.1.0/24") {
            "10.30.2.0/24"
        } else {
            "10.30.1.0/24"
        };
        assert!(!args.contains(own), "{args}: toward its own zone");
        assert!(args.contains("10.30.3.0/24"), "{args}");
        assert!(args.contains("--to"), "{args}");
    }
    Ok(())
}

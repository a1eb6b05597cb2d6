//! The monkey's `agent` action against moto: SendCommand carries the faultline document, exactly
//! the chosen instance ids (batches of at most 50) and the validated parameters. moto targets
//! every instance when given `InstanceIds` (notes/local-aws.md), so the test captures the
//! requests the SDK sent with an interceptor and asserts on those.

use std::collections::HashSet;

use anyhow::Result;
use faultline_core::aws::Aws;
use faultline_core::clock::SystemClock;
use faultline_core::monkey::{Monkey, MonkeyError};
use faultline_core::outcome::RoundOutcome as Outcome;
use faultline_core::settings::Settings;
use faultline_e2e::{workspace_root, Fleet, Moto, SentCommands, OPT_IN};
use serde_json::{json, Value};

struct Env {
    _moto: Moto,
    fleet: Fleet,
    monkey: Monkey,
    sent: SentCommands,
    calls: faultline_core::aws::CallCounter,
}

async fn env() -> Result<Env> {
    let moto = Moto::start().await?;
    let conf = moto.sdk_config().await;
    let fleet = Fleet::new(&conf).await?;
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
    let sent = SentCommands::default();
    let mut aws = Aws::new(&conf);
    aws.ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(&conf)
            .interceptor(aws.calls.clone())
            .interceptor(sent.clone())
            .build(),
    );
    let calls = aws.calls.clone();
    let monkey =
        Monkey::new(aws, Settings::default()).with_clock_and_seed(Box::new(SystemClock), 3);
    Ok(Env {
        _moto: moto,
        fleet,
        monkey,
        sent,
        calls,
    })
}

fn experiment(action: Value) -> Value {
    json!({"execution_id": "agent-1", "experiment": {
        "name": "web-latency",
        "targets": {"resource": "ec2-instance", "tags": {"app": "web"}},
        "selection": {"mode": "count", "value": 120},
        "action": action,
        "guards": {"max_targets": 120}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_action_sends_the_document_to_exactly_the_chosen_instances_in_batches_of_50(
) -> Result<()> {
    let e = env().await?;
    let opted = e.fleet.instances(130, &[OPT_IN, ("app", "web")]).await?;
    let others = e.fleet.instances(20, &[("app", "web")]).await?;
    let r = e
        .monkey
        .handle(experiment(json!({"type": "agent", "fault": "latency",
                              "args": {"delay_ms": 200, "jitter_ms": 20}, "duration": "5m"})))
        .await?;
    assert_eq!(r.outcome, Outcome::Acted, "{r:#?}");
    assert_eq!(r.action, "agent");
    assert_eq!(r.plan.chosen.len(), 120);

    let sent = e.sent.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 3, "120 targets → 50 + 50 + 20");
    let mut all: Vec<String> = Vec::new();
    for s in &sent {
        assert_eq!(s.document_name(), Some("faultline-agent"));
        let ids = s.instance_ids();
        assert!(!ids.is_empty() && ids.len() <= 50, "batch of {}", ids.len());
        let p = s.parameters().unwrap();
        assert_eq!(p["Fault"], ["latency"]);
        assert_eq!(p["Args"], ["--delay-ms 200 --jitter-ms 20"]);
        assert_eq!(p["Duration"], ["300s"]);
        // Where the agent comes from is fixed in the document (with its SHA-256), never sent.
        assert!(!p.contains_key("AgentS3Uri"), "{p:?}");
        assert_eq!(p.len(), 3, "{p:?}");
        // No DocumentVersion: SSM runs $DEFAULT, the version Terraform last rendered.
        assert_eq!(s.document_version(), None);
        all.extend(ids.iter().cloned());
    }
    let chosen: HashSet<String> = r
        .plan
        .chosen
        .iter()
        .map(|t| t.instance_id.clone())
        .collect();
    let sent_to: HashSet<String> = all.iter().cloned().collect();
    assert_eq!(all.len(), sent_to.len(), "no instance is sent twice");
    assert_eq!(sent_to, chosen, "exactly the chosen instances");
    assert!(sent_to.iter().all(|id| opted.contains(id)));
    assert!(others.iter().all(|id| !sent_to.contains(id)));
    // Nothing was terminated or stopped.
    assert_eq!(e.fleet.in_state(&opted, "running").await?.len(), 130);

    // Command ids are reported, one per batch, and recorded for the recovery timer.
    assert_eq!(r.commands.len(), 3);
    assert!(r
        .results
        .iter()
        .all(|t| t.outcome == "sent" && r.commands.contains(t.state.as_ref().unwrap())));
    let rec = e.fleet.record("agent-1").await?.expect("a record");
    assert_eq!(rec["action"]["type"], "agent");
    assert_eq!(rec["action"]["commands"], json!(r.commands));
    // The recovery timer waits for the fault's duration (5m) before it can call it recovered.
    assert_eq!(rec["action"]["duration_s"], 300);
    let listed = e.fleet.ssm.list_commands().send().await?;
    let listed: HashSet<&str> = listed
        .commands()
        .iter()
        .filter_map(|c| c.command_id())
        .collect();
    assert!(r.commands.iter().all(|c| listed.contains(c.as_str())));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_agent_argument_is_refused_before_any_call() -> Result<()> {
    let e = env().await?;
    e.fleet.instances(3, &[OPT_IN, ("app", "web")]).await?;
    let before = e.calls.get();
    for (action, path) in [
        (
            json!({"type": "agent", "fault": "latency", "args": {"delay_ms": -5}, "duration": "5m"}),
            "experiment.action.args.delay_ms",
        ),
        (
            json!({"type": "agent", "fault": "loss", "args": {"percent": 101}, "duration": "5m"}),
            "experiment.action.args.percent",
        ),
        (
            json!({"type": "agent", "fault": "explode", "duration": "5m"}),
            "experiment.action.fault",
        ),
        (
            json!({"type": "agent", "fault": "blackhole", "args": {"to": ["10.0.0.0/99"]}, "duration": "5m"}),
            "experiment.action.args.to",
        ),
    ] {
        let err = e
            .monkey
            .handle(experiment(action.clone()))
            .await
            .expect_err("must be refused");
        let MonkeyError::InvalidSpec(spec) = err else {
            panic!("{action}: {err}");
        };
        assert_eq!(spec.path, path, "{action}: {spec}");
    }
    assert_eq!(e.calls.get(), before, "no AWS call at all");
    assert!(e.sent.0.lock().unwrap().is_empty());
    Ok(())
}

//! `make demo`: faultline on the local embedded default. Starts a private local AWS (moto),
//! seeds a demo fleet (an opted-in group, a group that is not opted in, standalone instances),
//! runs the real `monkey` binary under the Lambda Runtime API emulator with the payload
//! EventBridge Scheduler would send, and prints what was hit, what was spared and why, and the
//! SNS message as an email reader sees it. Then shows the safety rails: a redelivered event
//! does nothing, and the kill switch halts the next round. Stops everything it started.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use faultline_e2e::{Emulator, Fleet, Moto, OPT_IN};
use serde_json::{json, Value};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn step(n: u32, what: &str) {
    println!("\n\x1b[1m{n}. {what}\x1b[0m");
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   | {l}\n")).collect()
}

#[tokio::main]
async fn run() -> Result<()> {
    let started = Instant::now();
    println!("faultline demo: one scheduled monkey round against a local AWS (moto), through the");
    println!("real monkey binary under the Lambda Runtime API emulator.");

    step(1, "Local AWS");
    let moto = Moto::start()
        .await
        .context("starting moto (run `scripts/local-aws install`)")?;
    println!("   moto_server at {}", moto.endpoint);
    let fleet = Fleet::new(&moto.sdk_config().await).await?;

    step(2, "Demo fleet");
    let web = fleet
        .group("web-asg", 2, 6, 8, &[OPT_IN, ("app", "web")])
        .await?;
    let payments = fleet
        .group("payments-asg", 2, 4, 6, &[("app", "web")])
        .await?;
    let solo = fleet.instances(3, &[OPT_IN, ("app", "web")]).await?;
    let topic = fleet.topic("faultline-events").await?;
    fleet.alarm("web-5xx").await?;
    println!("   web-asg       6 instances, MinSize 2, tagged faultline:enabled=true  (opted in)");
    println!(
        "   payments-asg  4 instances, MinSize 2, no opt-in tag                  (must be spared)"
    );
    println!("   standalone    3 instances, tagged faultline:enabled=true             (opted in)");
    println!("   stop alarm    web-5xx (OK)");

    step(3, "The monkey function under the Lambda emulator");
    let mut env = moto.env();
    env.push(("FAULTLINE_TOPIC_ARN".into(), topic.clone()));
    env.push(("RUST_LOG".into(), "warn".into()));
    let mut lambda = Emulator::start("monkey", "functions/monkey/Cargo.toml", &env).await?;
    println!("   started; invoking with the payload EventBridge Scheduler sends:");
    let payload = json!({
        "execution_id": "demo-2026-11-23T10-00",
        "scheduled_time": "2026-11-23T10:00:00Z",
        "experiment": {
            "name": "web-terminate",
            "targets": {"resource": "ec2-instance", "tags": {"app": "web"}},
            "selection": {"mode": "percent", "value": 50},
            "action": {"type": "terminate"},
            "guards": {"stop_alarms": ["web-5xx"], "min_healthy": 3, "max_targets": 10},
            "recovery": {"timeout": "30m", "alarms": ["web-5xx"]}
        }
    });
    print!("{}", indent(&serde_json::to_string_pretty(&payload)?));
    let (_, result) = lambda.invoke_raw(&payload.to_string()).await?;
    if result.get("outcome").is_none() {
        anyhow::bail!("the monkey returned an error: {result}");
    }

    step(4, "What was hit");
    println!(
        "   outcome {}: {} eligible, {} requested, {} chosen, {} AWS requests, {} ms",
        result["outcome"].as_str().unwrap_or("?"),
        result["eligible"],
        result["requested"],
        result["chosen"].as_array().map(Vec::len).unwrap_or(0),
        result["api_calls"],
        result["timings"]["total_ms"]
    );
    for r in result["results"].as_array().cloned().unwrap_or_default() {
        println!(
            "   {:<20} {:<14} {} ({})",
            r["instance_id"].as_str().unwrap_or(""),
            r["asg"].as_str().unwrap_or("standalone"),
            r["outcome"].as_str().unwrap_or(""),
            r["state"].as_str().unwrap_or("")
        );
    }

    step(5, "What was spared, and why");
    for g in result["groups"].as_array().cloned().unwrap_or_default() {
        println!(
            "   {:<14} {} healthy, floor {} (max of MinSize and min_healthy) -> may lose {}, lost {}{}",
            g["name"].as_str().unwrap_or(""),
            g["healthy_in_service"],
            g["floor"],
            g["budget"],
            g["chosen"],
            g["spared"].as_str().map(|s| format!("; spared: {s}")).unwrap_or_default()
        );
    }
    for c in result["capped_by"].as_array().cloned().unwrap_or_default() {
        println!("   capped by {}", c.as_str().unwrap_or(""));
    }
    let states = fleet.states().await?;
    let untouched = payments
        .iter()
        .filter(|id| states[*id] == "running")
        .count();
    println!(
        "   payments-asg: {untouched} of {} still running: it never carried faultline:enabled=true, \
         so it was never even listed",
        payments.len()
    );
    let gone = |ids: &[String]| ids.iter().filter(|id| states[*id] == "terminated").count();
    println!(
        "   checked in AWS: web-asg lost {}, standalone lost {}, payments-asg lost {}",
        gone(&web),
        gone(&solo),
        gone(&payments)
    );

    step(6, "The SNS message, as an email reader sees it");
    let msgs = moto.sns_messages(&topic).await?;
    for m in &msgs {
        println!("   Subject: {}", m.subject);
        println!("   Attributes: {:?}", m.attributes);
        print!("{}", indent(&m.body));
    }

    step(7, "Safety rails");
    let (_, again) = lambda.invoke_raw(&payload.to_string()).await?;
    println!(
        "   the same event delivered again -> {} (record {} exists; nothing done)",
        again["outcome"].as_str().unwrap_or("?"),
        again["record"].as_str().unwrap_or("?")
    );
    fleet.put_param("/faultline/enabled", "false").await?;
    let mut next = payload.clone();
    next["execution_id"] = json!("demo-2026-11-23T11-00");
    let (_, halted) = lambda.invoke_raw(&next.to_string()).await?;
    let reason = halted["refusals"][0]["reason"].as_str().unwrap_or("?");
    println!(
        "   kill switch set to false, next round -> {}: {reason}",
        halted["outcome"].as_str().unwrap_or("?")
    );
    let record: Value = serde_json::from_str(
        fleet
            .params_under("/faultline/experiments")
            .await?
            .values()
            .next()
            .map(String::as_str)
            .unwrap_or("{}"),
    )?;
    println!("   experiment record for the recovery timer: {record}");

    drop(lambda);
    drop(moto);
    println!(
        "\nDone in {:.1} s; the emulator, the function and moto are stopped.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

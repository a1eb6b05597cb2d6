//! `make demo`: faultline on the local embedded default, end to end.
//!
//! Starts a private local AWS (moto), deploys faultline into it with `terraform apply` of the
//! root module (or, where terraform or its provider mirror is missing, sets up the same pieces
//! with the SDK and says so), seeds a demo fleet (an opted-in group and one that is not), drives
//! steady-state traffic at a local HTTP service with `faultline-traffic`, fires the scheduled
//! round exactly as EventBridge Scheduler would (the schedule's stored input, placeholders
//! filled) through the real `monkey` binary under the Lambda Runtime API emulator, runs the real
//! `recovery-timer` until the experiment closes, feeds the SNS messages to the real `notifier`,
//! and prints the timeline. Stops everything it started; every run starts from nothing.
//!
//! Long by design: `make demo` is one script, read top to bottom, step by step as it prints.

use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use faultline_e2e::terraform::{local_artifacts, stage, Scratch, Terraform};
use faultline_e2e::{built_binary, Emulator, Fleet, Moto, SlackServer, OPT_IN};
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

/// Bold headings only on a terminal, and never when `NO_COLOR` is set (no-color.org): a pipe
/// or a file gets plain text.
fn bold() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

fn step(n: u32, what: &str, started: Instant) {
    let (on, off) = if bold() {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("", "")
    };
    println!(
        "\n{on}{n}. {what}{off}  (+{:.1} s)",
        started.elapsed().as_secs_f64()
    );
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   | {l}\n")).collect()
}

/// The experiment the demo schedules.
fn experiment() -> Value {
    json!({
        "targets": {"resource": "asg-instance", "tags": {"app": "web"}},
        "selection": {"mode": "percent", "value": 50},
        "action": {"type": "terminate", "via_asg": true},
        "guards": {"stop_alarms": ["web-outage"], "min_healthy": 3, "max_targets": 10},
        "recovery": {"timeout": "30m", "alarms": ["web-5xx"]},
        "hypothesis": {
            "max_ttr": "5m", "after": "10s",
            "steady_state": [{"name": "checkout success", "namespace": "faultline/traffic",
                              "metric": "SuccessRate", "dimensions": {"Target": "web"},
                              "statistic": "Average", "comparison": ">=", "threshold": 99,
                              "when": ["before", "during", "after"]}]}
    })
}

const SLACK_PARAM: &str = "/faultline/demo/slack-webhook";

/// The reports bucket of the SDK fall-back (the module makes its own).
const SDK_REPORTS_BUCKET: &str = "faultline-demo-reports";

/// What the deployment gives the functions and where the schedule's input is.
struct Deployed {
    env: std::collections::BTreeMap<String, Vec<(String, String)>>,
    topic: String,
    /// The scheduler input with its placeholders, as stored.
    schedule_input: String,
    /// Keeps the Terraform working directory and artifacts alive until the end.
    _keep: Vec<Scratch>,
}

async fn deploy_with_terraform(tf: &Terraform, moto: &Moto) -> Result<Deployed> {
    let art = Scratch::new("demo-artifacts")?;
    local_artifacts(art.path())?;
    let dir = Scratch::new("demo-terraform")?;
    stage("", dir.path(), Some(&moto.endpoint))?;
    let vars = json!({
        "architecture": "x86_64",
        "artifacts_dir": art.path(),
        "experiments": {"web-terminate": {
            "schedule": "cron(0 10 ? * MON-FRI *)", "timezone": "Europe/London",
            "experiment": experiment().to_string()}},
        "notification_emails": ["oncall@example.com"],
        "slack_webhook_parameter": SLACK_PARAM,
        "log_level": "warn",
        // moto 5.2.5 has no Lambda advanced logging controls (it does not store LoggingConfig):
        // the functions get RUST_LOG only. Real deployments keep the default, true.
        "advanced_logging": false,
    });
    std::fs::write(dir.path().join("demo.tfvars.json"), vars.to_string())?;
    println!("   terraform init + apply of terraform/ (the root module) against moto ...");
    tf.ok(dir.path(), &["init", "-input=false", "-backend=false"])
        .await?;
    let t = Instant::now();
    let out = tf
        .ok(
            dir.path(),
            &[
                "apply",
                "-auto-approve",
                "-input=false",
                "-var-file=demo.tfvars.json",
            ],
        )
        .await?;
    let summary = out
        .lines()
        .find(|l| l.starts_with("Apply complete!"))
        .unwrap_or("applied");
    println!("   {summary} ({:.0} s)", t.elapsed().as_secs_f64());
    let outputs: Value = serde_json::from_str(&tf.ok(dir.path(), &["output", "-json"]).await?)?;
    let mut env = std::collections::BTreeMap::new();
    for (f, vars) in outputs["function_environments"]["value"]
        .as_object()
        .context("function_environments output")?
    {
        let mut e = moto.env();
        for (k, v) in vars.as_object().into_iter().flatten() {
            e.push((k.clone(), v.as_str().unwrap_or_default().to_owned()));
        }
        env.insert(f.clone(), e);
    }
    for key in [
        "topic_arn",
        "kill_switch_parameter",
        "agent_document_name",
        "layer_arn",
        "dashboard_name",
    ] {
        println!(
            "   {key:<22} {}",
            outputs[key]["value"].as_str().unwrap_or("-")
        );
    }
    let topic = outputs["topic_arn"]["value"]
        .as_str()
        .context("topic_arn")?
        .to_owned();
    // The reports bucket denies every request not made over TLS. moto enforces bucket policies
    // but speaks plain HTTP here, so the demo lifts that one policy (in AWS the SDK always uses
    // TLS, and the policy stays).
    let reports = outputs["reports_bucket"]["value"]
        .as_str()
        .context("reports_bucket")?;
    faultline_report::store::client(&moto.sdk_config().await)
        .delete_bucket_policy()
        .bucket(reports)
        .send()
        .await?;
    println!(
        "   reports_bucket         {reports} (its TLS-only policy lifted: the local AWS speaks \
         plain HTTP)"
    );
    let schedule = moto.schedule("faultline", "web-terminate").await?;
    println!(
        "   schedule web-terminate: {} ({}), target {}",
        schedule["ScheduleExpression"].as_str().unwrap_or("?"),
        schedule["ScheduleExpressionTimezone"]
            .as_str()
            .unwrap_or("?"),
        schedule["Target"]["Arn"].as_str().unwrap_or("?")
    );
    let schedule_input = schedule["Target"]["Input"]
        .as_str()
        .context("the schedule has no input")?
        .to_owned();
    Ok(Deployed {
        env,
        topic,
        schedule_input,
        _keep: vec![art, dir],
    })
}

/// Without terraform: the same pieces the module creates that the round needs (topic, kill
/// switch, records table), through the SDK.
async fn deploy_with_sdk(moto: &Moto, fleet: &Fleet) -> Result<Deployed> {
    let topic = fleet.topic("faultline").await?;
    fleet.put_param("/faultline/enabled", "true").await?;
    fleet
        .create_records_table(faultline_e2e::fleet::RECORDS_TABLE)
        .await?;
    let mut env = std::collections::BTreeMap::new();
    let with = |extra: &[(&str, &str)]| {
        let mut e = moto.env();
        e.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        e.push(("RUST_LOG".into(), "warn".into()));
        e
    };
    env.insert(
        "monkey".to_owned(),
        with(&[("FAULTLINE_TOPIC_ARN", &topic)]),
    );
    faultline_report::store::client(&moto.sdk_config().await)
        .create_bucket()
        .bucket(SDK_REPORTS_BUCKET)
        .send()
        .await?;
    env.insert(
        "recovery_timer".to_owned(),
        with(&[
            ("FAULTLINE_TOPIC_ARN", &topic),
            ("FAULTLINE_REPORTS_BUCKET", SDK_REPORTS_BUCKET),
        ]),
    );
    env.insert(
        "notifier".to_owned(),
        with(&[("FAULTLINE_SLACK_WEBHOOK_PARAM", SLACK_PARAM)]),
    );
    let mut exp = experiment();
    exp["name"] = json!("web-terminate");
    let schedule_input = json!({"execution_id": "<aws.scheduler.execution-id>",
                                "scheduled_time": "<aws.scheduler.scheduled-time>",
                                "experiment": exp})
    .to_string();
    Ok(Deployed {
        env,
        topic,
        schedule_input,
        _keep: vec![],
    })
}

/// The notifications the mailbox (an http subscription on the topic) received, in order.
fn notifications(mailbox: &SlackServer) -> Vec<Value> {
    mailbox
        .requests()
        .iter()
        .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
        .filter(|v| v["Type"] == "Notification")
        .collect()
}

#[tokio::main]
async fn run() -> Result<()> {
    let started = Instant::now();
    println!(
        "faultline demo: deploy, break, measure. A local AWS (moto), the real Lambda binaries"
    );
    println!("under the Lambda Runtime API emulator, the Terraform module, a traffic driver.");

    step(1, "Local AWS", started);
    let moto = Moto::start()
        .await
        .context("starting moto (run `scripts/local-aws install`)")?;
    println!("   moto_server at {}", moto.endpoint);
    let conf = moto.sdk_config().await;
    // Terraform creates the kill switch; the SDK fall-back below creates it too.
    let fleet = Fleet::without_kill_switch(&conf).await?;
    let slack = SlackServer::start(vec![]).await?;
    let ssm = aws_sdk_ssm::Client::new(&conf);
    ssm.put_parameter()
        .name(SLACK_PARAM)
        .value(format!("{}/services/T000/B000/demo-secret", slack.base))
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await?;

    step(2, "Deploy faultline", started);
    let deployed = match Terraform::locate() {
        Ok(tf) => deploy_with_terraform(&tf, &moto).await?,
        Err(e) => {
            println!("   terraform is not usable here: {e:#}");
            println!(
                "   falling back to an SDK set-up: the topic, the kill switch and the functions' \
                 environment, as the module would make them"
            );
            deploy_with_sdk(&moto, &fleet).await?
        }
    };
    // A mailbox: an http subscription shows what every email subscriber receives.
    let mailbox = SlackServer::start(vec![]).await?;
    aws_sdk_sns::Client::new(&conf)
        .subscribe()
        .topic_arn(&deployed.topic)
        .protocol("http")
        .endpoint(format!("{}/mailbox", mailbox.base))
        .send()
        .await?;

    step(3, "Demo fleet", started);
    let web = fleet
        .group("web-asg", 2, 6, 8, &[OPT_IN, ("app", "web")])
        .await?;
    let batch = fleet.group("batch-asg", 2, 4, 6, &[("app", "web")]).await?;
    fleet.alarm("web-5xx").await?;
    fleet.alarm("web-outage").await?;
    println!("   web-asg    6 instances, MinSize 2, tagged faultline:enabled=true  (opted in)");
    println!(
        "   batch-asg  4 instances, MinSize 2, no opt-in tag                  (must be spared)"
    );
    println!(
        "   alarm      web-outage (OK): the stop condition (in ALARM, the experiment is aborted)"
    );
    println!("   alarm      web-5xx (OK): the recovery signal (expected to fire, then clear)");

    step(4, "Steady-state traffic", started);
    let service = SlackServer::start(vec![]).await?;
    let traffic_bin = built_binary("faultline-traffic")?;
    let traffic = tokio::process::Command::new(&traffic_bin)
        .args([
            "--url",
            &format!("{}/checkout", service.base),
            "--rate",
            "25",
            "--concurrency",
            "8",
            "--duration",
            "40s",
            "--period",
            "4s",
            "--name",
            "web",
            "--output",
            "json",
        ])
        .envs(moto.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", traffic_bin.display()))?;
    println!(
        "   faultline-traffic: 25 req/s at {}/checkout for 40 s, metrics to CloudWatch every 4 s",
        service.base
    );
    // The hypothesis' `before` is a guard: the round needs the steady state on record first.
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // As the monkey will read it: the window before now, one data point a minute.
        let now = Utc::now();
        let query = aws_sdk_cloudwatch::types::MetricDataQuery::builder()
            .id("m0")
            .metric_stat(
                aws_sdk_cloudwatch::types::MetricStat::builder()
                    .metric(
                        aws_sdk_cloudwatch::types::Metric::builder()
                            .namespace("faultline/traffic")
                            .metric_name("SuccessRate")
                            .dimensions(
                                aws_sdk_cloudwatch::types::Dimension::builder()
                                    .name("Target")
                                    .value("web")
                                    .build(),
                            )
                            .build(),
                    )
                    .period(60)
                    .stat("Average")
                    .build(),
            )
            .build();
        let data = cw
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                now.timestamp() - 300,
            ))
            .end_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                now.timestamp() - 1,
            ))
            .send()
            .await?;
        if data
            .metric_data_results()
            .iter()
            .any(|r| !r.values().is_empty())
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the traffic driver published no SuccessRate within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("   SuccessRate is in CloudWatch: the hypothesis' steady state can be checked");

    step(
        5,
        "The scheduled round: the monkey under the Lambda emulator",
        started,
    );
    let now = Utc::now();
    let execution_id = format!("demo-{}", now.format("%Y%m%dT%H%M%S"));
    let payload = deployed
        .schedule_input
        .replace("<aws.scheduler.execution-id>", &execution_id)
        .replace(
            "<aws.scheduler.scheduled-time>",
            &now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
    println!("   the schedule's input, placeholders filled in as EventBridge Scheduler does:");
    let pretty: Value = serde_json::from_str(&payload)?;
    print!("{}", indent(&serde_json::to_string_pretty(&pretty)?));
    let mut monkey = Emulator::start(
        "monkey",
        "functions/monkey/Cargo.toml",
        &deployed.env["monkey"],
    )
    .await?;
    let (_, result) = monkey.invoke_raw(&payload).await?;
    let acted = Instant::now();
    if result.get("outcome").is_none() {
        bail!("the monkey returned an error: {result}");
    }
    if result["outcome"] != "acted" {
        bail!("the round did not act: {result}");
    }

    // Capacity dropped: the checkout's 5xx alarm fires (moto does not evaluate alarms; the
    // demo plays CloudWatch's part). The recovery timer waits for it to be OK again.
    fleet
        .set_alarm("web-5xx", aws_sdk_cloudwatch::types::StateValue::Alarm)
        .await?;

    step(6, "What was hit", started);
    println!(
        "   outcome {}: {} eligible, {} requested, {} chosen",
        result["outcome"].as_str().unwrap_or("?"),
        result["eligible"],
        result["requested"],
        result["chosen"].as_array().map(Vec::len).unwrap_or(0),
    );
    for r in result["results"].as_array().cloned().unwrap_or_default() {
        println!(
            "   {:<20} {:<10} {} ({})",
            r["instance_id"].as_str().unwrap_or(""),
            r["asg"].as_str().unwrap_or("standalone"),
            r["outcome"].as_str().unwrap_or(""),
            r["state"].as_str().unwrap_or("")
        );
    }

    step(7, "What was spared, and why", started);
    for g in result["groups"].as_array().cloned().unwrap_or_default() {
        println!(
            "   {:<10} {} healthy, floor {} (max of MinSize and min_healthy) -> may lose {}, lost {}{}",
            g["name"].as_str().unwrap_or(""),
            g["healthy_in_service"],
            g["floor"],
            g["budget"],
            g["chosen"],
            g["spared"].as_str().map(|s| format!("; spared: {s}")).unwrap_or_default()
        );
    }
    let states = fleet.states().await?;
    let running = |ids: &[String]| ids.iter().filter(|id| states[*id] == "running").count();
    println!(
        "   batch-asg  {} of {} still running: no faultline:enabled=true tag, so never listed \
         (and the monkey's IAM policy could not touch it)",
        running(&batch),
        batch.len()
    );
    println!(
        "   checked in AWS: web-asg {} of {} original instances running",
        running(&web),
        web.len()
    );

    step(
        8,
        "Recovery: the recovery timer under the Lambda emulator",
        started,
    );
    let mut timer = Emulator::start(
        "recovery-timer",
        "functions/recovery-timer/Cargo.toml",
        &deployed.env["recovery_timer"],
    )
    .await?;
    let backstop = json!({"version": "0", "id": "demo", "detail-type": "Scheduled Event",
        "source": "aws.events", "time": Utc::now().to_rfc3339(), "region": "us-east-1",
        "resources": [], "detail": {}});
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut polls = 0;
    let closed = loop {
        let (_, report) = timer.invoke_raw(&backstop.to_string()).await?;
        if let Some(c) = report["closed"].as_array().and_then(|c| c.first()) {
            break c.clone();
        }
        if Instant::now() > deadline {
            bail!("the experiment did not close within 40 s: {report}");
        }
        polls += 1;
        println!(
            "   {:>4.1} s  {} open, waiting: {} ({})",
            acted.elapsed().as_secs_f64(),
            report["open"],
            if polls <= 2 {
                "web-5xx is in ALARM"
            } else {
                "recovered; the hypothesis is watched for its 10 s after recovery"
            },
            report["pending"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        if polls == 2 {
            fleet
                .set_alarm("web-5xx", aws_sdk_cloudwatch::types::StateValue::Ok)
                .await?;
            println!(
                "   {:>4.1} s  web-5xx back to OK: the replacements took the load",
                acted.elapsed().as_secs_f64()
            );
        }
    };
    println!(
        "   closed {}: {}, verdict {}",
        closed["id"].as_str().unwrap_or("?"),
        closed["outcome"].as_str().unwrap_or("?"),
        closed["verdict"].as_str().unwrap_or("?")
    );

    step(9, "The SNS messages, as an email reader sees them", started);
    let deadline = Instant::now() + Duration::from_secs(10);
    while notifications(&mailbox).len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let notes = notifications(&mailbox);
    for n in &notes {
        println!("   From: faultline <no-reply@sns.amazonaws.com>");
        println!("   Subject: {}", n["Subject"].as_str().unwrap_or(""));
        print!("{}", indent(n["Message"].as_str().unwrap_or("")));
        println!();
    }

    step(
        10,
        "The Slack payload: the notifier under the Lambda emulator",
        started,
    );
    // The demo's Slack listens on 127.0.0.1: a loopback webhook is refused without this
    // test-only setting (a deployment allows only hooks.slack.com).
    let mut notifier_env = deployed.env["notifier"].clone();
    notifier_env.push(("FAULTLINE_ALLOW_LOOPBACK_WEBHOOK".into(), "true".into()));
    let mut notifier =
        Emulator::start("notifier", "functions/notifier/Cargo.toml", &notifier_env).await?;
    for n in &notes {
        let event = json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
            "EventSubscriptionArn": format!("{}:demo", deployed.topic), "Sns": n}]});
        let (_, r) = notifier.invoke_raw(&event.to_string()).await?;
        if r.get("errorMessage").is_some() {
            bail!("the notifier failed: {r}");
        }
    }
    println!(
        "   (moto's http delivery leaves out MessageAttributes, so *Event* reads \"message\" and \
         the colour is grey; from real SNS it is injected / recovered, coloured)"
    );
    for req in slack.requests() {
        println!("   POST /services/… (the webhook's secret path; never logged)");
        let pretty = serde_json::from_str::<Value>(&req.body)
            .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
            .unwrap_or(req.body.clone());
        print!("{}", indent(&pretty));
    }

    step(11, "Time to recover", started);
    match closed["ttr_s"].as_i64() {
        Some(s) => println!(
            "   {}: recovered in {s} s, from the injection to the last recovery condition (here \
             web-5xx back to OK; moto replaced the capacity at once); published to SNS and as the \
             CloudWatch metric faultline/TimeToRecover",
            closed["experiment"].as_str().unwrap_or("?"),
        ),
        None => println!(
            "   {}: {}",
            closed["experiment"].as_str().unwrap_or("?"),
            closed["outcome"].as_str().unwrap_or("?")
        ),
    }
    let out = traffic.wait_with_output().await?;
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    println!(
        "   steady state during the round: {} requests, success {}%, p50 {} ms, p99 {} ms \
         (SuccessRate and Latency p50/p99 in CloudWatch namespace faultline/traffic)",
        summary["requests"], summary["success_rate"], summary["p50_ms"], summary["p99_ms"]
    );

    step(12, "Safety rails", started);
    let (_, again) = monkey.invoke_raw(&payload).await?;
    println!(
        "   the same scheduled event delivered again -> {} (record {} exists; nothing done)",
        again["outcome"].as_str().unwrap_or("?"),
        again["record"].as_str().unwrap_or("?")
    );
    let halt = tokio::process::Command::new(built_binary("faultline")?)
        .arg("halt")
        .envs(moto.env())
        .output()
        .await?;
    if !halt.status.success() {
        bail!(
            "faultline halt failed: {}",
            String::from_utf8_lossy(&halt.stderr)
        );
    }
    println!("   $ faultline halt");
    print!(
        "{}",
        indent(String::from_utf8_lossy(&halt.stdout).trim_end())
    );
    let next = payload.replace(&execution_id, &format!("{execution_id}-next"));
    let (_, halted) = monkey.invoke_raw(&next).await?;
    println!(
        "   next round -> {}: {}",
        halted["outcome"].as_str().unwrap_or("?"),
        halted["refusals"][0]["reason"].as_str().unwrap_or("?")
    );

    step(13, "Verdict and report", started);
    let id = closed["id"].as_str().unwrap_or("?");
    let html = faultline_e2e::paths::workspace_root()
        .join("target")
        .join("faultline-demo")
        .join(format!("report-{id}.html"));
    if let Some(dir) = html.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let report = tokio::process::Command::new(built_binary("faultline")?)
        .args(["report", id, "--html"])
        .arg(&html)
        .envs(moto.env())
        .output()
        .await?;
    if !report.status.success() || !html.is_file() {
        bail!(
            "faultline report failed: {}",
            String::from_utf8_lossy(&report.stderr)
        );
    }
    println!("   $ faultline report {id} --html {}", html.display());
    println!(
        "   the recovery timer wrote report.json and report.html to the reports bucket when it \
         closed the experiment; the message linked it"
    );
    println!(
        "   Verdict: {} (hypothesis: checkout success >= 99 % before, during and after; back \
         within 5m)",
        closed["verdict"].as_str().unwrap_or("none").to_uppercase()
    );
    println!("   Report:  {}", html.display());

    drop((monkey, timer, notifier, slack, mailbox, service));
    drop(deployed);
    drop(moto);
    println!(
        "\nDone in {:.1} s; the emulators, the functions, the traffic driver and moto are stopped.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

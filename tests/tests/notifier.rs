//! The built `notifier` binary under the Lambda emulator, with its logs captured: a real
//! recovery message (published by the recovery timer into a private moto_server) arrives in
//! the SNS event shape, and is posted as Block Kit to a local stand-in for Slack on 127.0.0.1.

use std::time::Duration;

use anyhow::Result;
use aws_sdk_ssm::types::ParameterType;
use faultline_core::aws::Aws;
use faultline_e2e::{Emulator, Fleet, Logs, Moto, Reply, SlackServer, SnsMessage, OPT_IN};
use faultline_recovery_timer::config::TimerConfig;
use faultline_recovery_timer::handler::Timer;
use serde_json::{json, Value};

const PARAM: &str = "/faultline/slack-webhook";
const SECRET: &str = "s3cr3t-w3bh00k-t0k3n";

struct Env {
    _moto: Moto,
    slack: SlackServer,
    lambda: Emulator,
    logs: Logs,
    webhook: String,
    message: SnsMessage,
    topic: String,
}

/// moto with a SecureString webhook pointing at a local Slack that answers `script`, a real
/// "recovered" message on the topic, and the notifier running.
async fn env(script: Vec<Reply>, extra: &[(&str, &str)]) -> Result<Env> {
    let moto = Moto::start().await?;
    let conf = moto.sdk_config().await;
    let fleet = Fleet::new(&conf).await?;
    let topic = fleet.topic("faultline").await?;
    let members = fleet.group("web-asg", 1, 2, 4, &[OPT_IN]).await?;

    // The recovery timer closes a record from a launch event: a real message on the topic.
    fleet
        .put_record_text(
            "n-1",
            &json!({"v": 2, "id": "n-1", "experiment": "web-terminate",
                    "state": {"status": "open"}, "started_at": "2026-11-23T10:00:00Z",
                    "action": {"type": "terminate"}, "groups": {"web-asg": {"desired": 2}},
                    "targets": [{"id": "i-0dead0000000beef0", "group": "web-asg"}],
                    "timeout_s": 1800})
            .to_string(),
        )
        .await?;
    let timer = Timer::new(
        Aws::new(&conf),
        TimerConfig {
            topic_arn: Some(topic.clone()),
            ..TimerConfig::default()
        },
    );
    timer
        .run(
            &json!({"source": "aws.autoscaling", "detail-type": "EC2 Instance Launch Successful",
                     "detail": {"AutoScalingGroupName": "web-asg", "EC2InstanceId": members[0],
                                "EndTime": "2026-11-23T10:01:37.208Z"}}),
        )
        .await?;
    let message = moto.sns_messages(&topic).await?.remove(0);
    assert_eq!(message.attributes["event"], "recovered");

    let slack = SlackServer::start(script).await?;
    let webhook = format!("{}/services/T0FAULT/B0LINE/{SECRET}", slack.base);
    fleet
        .ssm
        .put_parameter()
        .name(PARAM)
        .value(&webhook)
        .r#type(ParameterType::SecureString)
        .send()
        .await?;

    let mut env = moto.env();
    env.push(("FAULTLINE_SLACK_WEBHOOK_PARAM".into(), PARAM.into()));
    // The local Slack listens on 127.0.0.1: only this test setting lets the notifier post there.
    env.push(("FAULTLINE_ALLOW_LOOPBACK_WEBHOOK".into(), "true".into()));
    for (k, v) in extra {
        env.push((k.to_string(), v.to_string()));
    }
    let (lambda, logs) =
        Emulator::start_capturing("notifier", "functions/notifier/Cargo.toml", &env).await?;
    Ok(Env {
        _moto: moto,
        slack,
        lambda,
        logs,
        webhook,
        message,
        topic,
    })
}

/// The event Lambda receives from an SNS subscription, around a message as moto holds it.
fn sns_event(topic: &str, m: &SnsMessage) -> Value {
    let attrs: serde_json::Map<String, Value> = m
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), json!({"Type": "String", "Value": v})))
        .collect();
    json!({"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": format!("{topic}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"),
        "Sns": {"Type": "Notification", "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                "TopicArn": topic, "Subject": m.subject, "Message": m.body,
                "Timestamp": "2026-11-23T10:05:00.000Z", "SignatureVersion": "1",
                "Signature": "EXAMPLE", "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/x.pem",
                "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                "MessageAttributes": attrs}}]})
}

impl Env {
    /// No log line names the webhook.
    fn assert_no_secret_in_logs(&self) {
        let lines = self.logs.lines();
        assert!(!lines.is_empty(), "logs were captured");
        for l in &lines {
            assert!(
                !l.contains(SECRET)
                    && !l.contains(&self.webhook)
                    && !l.contains("/services/T0FAULT"),
                "the webhook URL leaked into a log line: {l}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_block_kit_retries_a_429_after_retry_after_and_never_logs_the_url() -> Result<()> {
    let mut e = env(
        vec![Reply::status(429, "rate_limited").header("Retry-After", "1")],
        &[],
    )
    .await?;
    let event = sns_event(&e.topic, &e.message);
    let (status, resp) = e.lambda.invoke_raw(&event.to_string()).await?;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp[0]["attempts"], 2, "{resp}");
    assert_eq!(resp[0]["event"], "recovered");

    let reqs = e.slack.requests();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_secs(1) && gap < Duration::from_secs(3),
        "retried after Retry-After: 1, not {gap:?}"
    );
    assert_eq!(reqs[1].path, format!("/services/T0FAULT/B0LINE/{SECRET}"));
    assert!(reqs[1]
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "application/json"));
    let got: Value = serde_json::from_str(&reqs[1].body)?;
    assert_eq!(reqs[0].body, reqs[1].body);

    let m = &e.message;
    assert_eq!(m.subject, "[faultline] web-terminate recovered in 1m 37s");
    // Facts as fields (the timer's attributes: action, targets, verdict), the summary as a
    // context line; no code block of the body (the email has it).
    let summary = m
        .body
        .trim()
        .split("\n\n")
        .next()
        .unwrap()
        .replace('\n', " ");
    let want = json!({
        "text": m.subject,
        "attachments": [{
            "color": "#2eb67d",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": m.subject, "emoji": false}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": "*Experiment*\nweb-terminate"},
                    {"type": "mrkdwn", "text": "*Action*\nterminate"},
                    {"type": "mrkdwn", "text": "*Targets*\n1"},
                    {"type": "mrkdwn", "text": "*Time to recover*\n1m 37s"},
                    {"type": "mrkdwn", "text": "*Verdict*\nPassed"},
                ]},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": summary}]},
            ]
        }]
    });
    assert_eq!(got, want);

    e.logs
        .wait_for(
            &["\"decision\":\"retry\"", "\"status\":429"],
            Duration::from_secs(10),
        )
        .await?;
    e.logs
        .wait_for(
            &["posted to Slack", "\"attempts\":2"],
            Duration::from_secs(10),
        )
        .await?;
    e.logs
        .wait_for(&["webhook loaded from SSM", PARAM], Duration::from_secs(10))
        .await?;
    e.assert_no_secret_in_logs();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_fails_the_invocation_so_sns_keeps_the_message() -> Result<()> {
    let mut e = env(
        vec![
            Reply::status(404, "no_service"),
            Reply::status(500, "oops"),
            Reply::status(502, "oops"),
            Reply::status(503, "oops"),
            Reply::status(500, "oops"),
        ],
        &[("FAULTLINE_SLACK_RETRY_BUDGET", "2s")],
    )
    .await?;
    let event = sns_event(&e.topic, &e.message).to_string();

    // A 4xx other than 429 is permanent: one attempt, the invocation fails.
    let (_, resp) = e.lambda.invoke_raw(&event).await?;
    assert_eq!(resp["errorType"], "SlackFailed", "{resp}");
    assert!(
        resp["errorMessage"].as_str().unwrap().contains("404"),
        "{resp}"
    );
    assert_eq!(e.slack.requests().len(), 1);

    // 5xx is retried with backoff (0.5 s, 1 s) until the 2 s budget would be exceeded.
    let (_, resp) = e.lambda.invoke_raw(&event).await?;
    assert_eq!(resp["errorType"], "SlackFailed", "{resp}");
    assert!(
        resp["errorMessage"].as_str().unwrap().contains("503"),
        "{resp}"
    );
    let reqs = e.slack.requests();
    assert_eq!(reqs.len(), 4, "1 + 3 attempts");
    assert!(reqs[2].at - reqs[1].at >= Duration::from_millis(500));
    assert!(reqs[3].at - reqs[2].at >= Duration::from_millis(1000));

    // Not an SNS event: a clear error, nothing posted.
    let (_, resp) = e.lambda.invoke_raw(r#"{"hello": "world"}"#).await?;
    assert_eq!(resp["errorType"], "InvalidEvent", "{resp}");
    assert_eq!(e.slack.requests().len(), 4);
    assert!(e.lambda.function_alive());

    e.logs
        .wait_for(
            &["\"decision\":\"failed\"", "\"status\":503"],
            Duration::from_secs(10),
        )
        .await?;
    e.logs
        .wait_for(&["invalid_event"], Duration::from_secs(10))
        .await?;
    e.assert_no_secret_in_logs();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_off_the_allow_list_fails_the_invocation_and_posts_nothing() -> Result<()> {
    // Without the test setting, the local Slack on 127.0.0.1 is a loopback host: refused.
    let mut e = env(vec![], &[("FAULTLINE_ALLOW_LOOPBACK_WEBHOOK", "false")]).await?;
    let event = sns_event(&e.topic, &e.message).to_string();
    let (_, resp) = e.lambda.invoke_raw(&event).await?;
    assert_eq!(resp["errorType"], "WebhookConfig", "{resp}");
    let msg = resp["errorMessage"].as_str().unwrap();
    assert!(msg.contains("127.0.0.1"), "names the host: {msg}");
    assert!(msg.contains("FAULTLINE_ALLOW_LOOPBACK_WEBHOOK"), "{msg}");
    assert!(!msg.contains(SECRET), "{msg}");
    assert!(e.slack.requests().is_empty(), "nothing was posted");
    assert!(e.lambda.function_alive());
    e.assert_no_secret_in_logs();
    Ok(())
}

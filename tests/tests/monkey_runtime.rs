//! End to end through the Lambda runtime: the built `monkey` binary under
//! `cargo lambda watch --only-lambda-apis`, invoked over HTTP with the scheduler's payload,
//! against a private moto_server.

use anyhow::Result;
use faultline_e2e::{Emulator, Fleet, Moto, OPT_IN};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monkey_binary_terminates_the_right_instances_and_publishes() -> Result<()> {
    let moto = Moto::start().await?;
    let fleet = Fleet::new(&moto.sdk_config().await).await?;
    let web = fleet
        .group("web-asg", 1, 4, 6, &[OPT_IN, ("app", "web")])
        .await?;
    let api = fleet.group("api-asg", 1, 4, 6, &[("app", "api")]).await?;
    let topic = fleet.topic("faultline-events").await?;

    let mut env = moto.env();
    env.push(("FAULTLINE_TOPIC_ARN".into(), topic.clone()));
    let mut lambda = Emulator::start("monkey", "functions/monkey/Cargo.toml", &env).await?;

    // Malformed input first: an error response naming the problem, no crash, nothing changed.
    // (Real Lambda refuses a non-JSON payload before the function; the emulator passes it on and
    // lambda_runtime answers with its own deserialization error.)
    let (_, resp) = lambda.invoke_raw("this is not json").await?;
    assert!(
        resp["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("failed to deserialize"),
        "{resp}"
    );
    let (_, resp) = lambda
        .invoke_raw(
            &json!({"name": "x", "targets": {"resource": "asg-instance"},
                            "selection": {"mode": "percent", "value": 150},
                            "action": {"type": "terminate"}})
            .to_string(),
        )
        .await?;
    assert_eq!(resp["errorType"], "InvalidSpec", "{resp}");
    assert!(
        resp["errorMessage"]
            .as_str()
            .unwrap()
            .contains("selection.value"),
        "{resp}"
    );
    assert!(
        lambda.function_alive(),
        "a bad payload must not kill the function"
    );
    assert_eq!(fleet.in_state(&web, "running").await?.len(), 4);

    // The scheduler's payload.
    let payload = json!({
        "execution_id": "3f1c2b9e-5c1d-4a53-9c39-0c1f2a7e9b10",
        "scheduled_time": "2026-11-23T10:00:00Z",
        "experiment": {
            "name": "web-terminate",
            "targets": {"resource": "asg-instance", "tags": {"app": "web"}},
            "selection": {"mode": "count", "value": 2},
            "action": {"type": "terminate"},
            "guards": {"min_healthy": 1, "max_targets": 10},
            "recovery": {"timeout": "30m"}
        }
    });
    let (status, resp) = lambda.invoke_raw(&payload.to_string()).await?;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["outcome"], "acted", "{resp:#}");
    assert_eq!(resp["eligible"], 4);
    let hit: Vec<String> = resp["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["outcome"], "terminated");
            r["instance_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(hit.len(), 2);
    assert!(
        hit.iter().all(|id| web.contains(id)),
        "only web-asg members: {hit:?}"
    );
    assert!(resp["api_calls"].as_u64().unwrap() >= 5);

    let mut terminated = fleet.in_state(&web, "terminated").await?;
    terminated.sort();
    let mut want = hit.clone();
    want.sort();
    assert_eq!(terminated, want);
    assert_eq!(
        fleet.in_state(&api, "running").await?.len(),
        4,
        "api-asg is not opted in"
    );

    let msgs = moto.sns_messages(&topic).await?;
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        msgs[0].subject,
        "[faultline] web-terminate: terminated 2 of 4 instances in web-asg"
    );
    assert!(
        msgs[0].body.contains(&hit[0]) && msgs[0].body.contains("Recovery:"),
        "{}",
        msgs[0].body
    );
    assert_eq!(msgs[0].attributes["event"], "injected");

    // Redelivery of the same event: nothing more happens.
    let (_, again) = lambda.invoke_raw(&payload.to_string()).await?;
    assert_eq!(again["outcome"], "duplicate", "{again:#}");
    assert_eq!(fleet.in_state(&web, "terminated").await?.len(), 2);
    assert_eq!(moto.sns_messages(&topic).await?.len(), 1);
    Ok(())
}

//! Lambda experiments against a private moto (functions, layers, event source mappings,
//! parameters) with the monkey and the recovery timer in-process: `throttle`,
//! `disable-event-source` and `lambda-fault` hit only opted-in functions, record what restores
//! them, and are restored exactly at the end of the duration (by the timer's clock, no sleep)
//! and at once on abort. Then the chain emulator -> faultline layer -> function, configured by
//! the parameter the monkey wrote, whose fault ends by itself at `expires_at`.

// The layer's own chain harness; this file does not use all of it.
#[allow(unused_imports)]
#[path = "../../layer/extension/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, LayerVersionContentInput, Runtime};
use chrono::{DateTime, Utc};
use faultline_core::abort::{self, Abort, AbortConfig};
use faultline_core::aws::Aws;
use faultline_core::clock::{FixedClock, SystemClock};
use faultline_core::monkey::Monkey;
use faultline_core::outcome::{RoundOutcome, RoundResult};
use faultline_core::record::{AbortTrigger, Record};
use faultline_core::settings::Settings;
use faultline_e2e::{Fleet, Moto, OPT_IN};
use faultline_recovery_timer::config::TimerConfig;
use faultline_recovery_timer::handler::Timer;
use serde_json::{json, Value};

const ROLE: &str = "arn:aws:iam::123456789012:role/faultline-test-fn";
const WRAPPER: &str = "/opt/faultline-wrapper";

/// An environment variable of a test function.
type Var<'a> = (&'a str, &'a str);

/// An empty zip archive (its end-of-central-directory record alone).
fn empty_zip() -> Vec<u8> {
    let mut z = b"PK\x05\x06".to_vec();
    z.extend([0u8; 18]);
    z
}

struct Env {
    moto: Moto,
    fleet: Fleet,
    conf: aws_config::SdkConfig,
    lambda: aws_sdk_lambda::Client,
    topic: String,
    layer_arn: String,
}

async fn env() -> Result<Env> {
    let moto = Moto::start().await?;
    let conf = moto.sdk_config().await;
    let fleet = Fleet::new(&conf).await?;
    let topic = fleet.topic("faultline").await?;
    // moto's CreateFunction wants a role that exists: IAM's query API, by hand (the tests need
    // no IAM client otherwise).
    let form = [
        ("Action", "CreateRole"),
        ("Version", "2010-05-08"),
        ("RoleName", "faultline-test-fn"),
        (
            "AssumeRolePolicyDocument",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        ),
    ];
    let status = reqwest::Client::new()
        .post(&moto.endpoint)
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .form(&form)
        .send()
        .await?
        .status();
    anyhow::ensure!(status.is_success(), "CreateRole: {status}");
    let lambda = aws_sdk_lambda::Client::new(&conf);
    let layer_arn = lambda
        .publish_layer_version()
        .layer_name("faultline-layer")
        .content(
            LayerVersionContentInput::builder()
                .zip_file(Blob::new(empty_zip()))
                .build(),
        )
        .send()
        .await?
        .layer_version_arn()
        .ok_or_else(|| anyhow!("no layer version ARN"))?
        .to_owned();
    Ok(Env {
        moto,
        fleet,
        conf,
        lambda,
        topic,
        layer_arn,
    })
}

/// A function as a team deploys one: tags, layers, environment.
struct Fn<'a> {
    name: &'a str,
    opted_in: bool,
    layer: bool,
    env: &'a [(&'a str, &'a str)],
}

impl Env {
    async fn function(&self, f: Fn<'_>) -> Result<()> {
        let mut req = self
            .lambda
            .create_function()
            .function_name(f.name)
            .runtime(Runtime::Python312)
            .role(ROLE)
            .handler("app.handler")
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(empty_zip()))
                    .build(),
            )
            .tags("team", "orders");
        if f.opted_in {
            req = req.tags(OPT_IN.0, OPT_IN.1);
        }
        if f.layer {
            req = req.layers(&self.layer_arn);
        }
        let vars: std::collections::HashMap<String, String> = f
            .env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        req.environment(Environment::builder().set_variables(Some(vars)).build())
            .send()
            .await?;
        Ok(())
    }

    fn monkey(&self, at: Option<DateTime<Utc>>) -> Monkey {
        let m = Monkey::new(
            Aws::new(&self.conf),
            Settings {
                topic_arn: Some(self.topic.clone()),
                ..Settings::default()
            },
        );
        match at {
            Some(t) => m.with_clock_and_seed(Box::new(FixedClock(t)), 3),
            None => m.with_clock_and_seed(Box::new(SystemClock), 3),
        }
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

    async fn concurrency(&self, name: &str) -> Result<Option<i32>> {
        Ok(self
            .lambda
            .get_function_concurrency()
            .function_name(name)
            .send()
            .await?
            .reserved_concurrent_executions())
    }

    async fn reserve(&self, name: &str, n: i32) -> Result<()> {
        self.lambda
            .put_function_concurrency()
            .function_name(name)
            .reserved_concurrent_executions(n)
            .send()
            .await?;
        Ok(())
    }

    async fn record(&self, id: &str) -> Result<Record> {
        let v = self
            .fleet
            .record(id)
            .await?
            .ok_or_else(|| anyhow!("no record {id}"))?;
        Record::parse(&v.to_string()).map_err(|e| anyhow!("{e}: {v}"))
    }

    async fn param(&self, name: &str) -> Result<Option<(String, i64)>> {
        let ssm = aws_sdk_ssm::Client::new(&self.conf);
        match ssm.get_parameter().name(name).send().await {
            Ok(o) => {
                let p = o.parameter.ok_or_else(|| anyhow!("no parameter"))?;
                Ok(Some((p.value.unwrap_or_default(), p.version)))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_parameter_not_found()) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn experiment(name: &str, action: Value) -> Value {
    json!({
        "name": name,
        "targets": {"resource": "lambda-function", "tags": {"team": "orders"}},
        "selection": {"mode": "all"},
        "guards": {"max_targets": 10},
        "action": action,
        "recovery": {"timeout": "30m"},
    })
}

fn envelope(id: &str, exp: Value) -> Value {
    json!({"execution_id": id, "experiment": exp})
}

fn chosen(r: &RoundResult) -> Vec<String> {
    r.plan
        .chosen
        .iter()
        .map(|t| t.instance_id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_hits_only_opted_in_functions_and_restores_the_exact_concurrency_at_the_end_and_on_abort(
) -> Result<()> {
    let e = env().await?;
    for (name, opted_in) in [("pay", true), ("cart", true), ("ledger", false)] {
        e.function(Fn {
            name,
            opted_in,
            layer: false,
            env: &[],
        })
        .await?;
    }
    e.reserve("pay", 5).await?;
    e.reserve("ledger", 3).await?;
    let t0: DateTime<Utc> = "2026-12-01T10:00:00Z".parse()?;
    let exp = experiment(
        "orders-throttle",
        json!({"type": "throttle", "duration": "5m"}),
    );

    let monkey = e.monkey(Some(t0));
    let r = monkey.handle(envelope("thr-1", exp.clone())).await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    assert_eq!(chosen(&r), ["cart", "pay"]);
    // Selection cost: one GetResources page for the opted-in functions, no call per function.
    assert_eq!(
        r.api_calls,
        1 + 1 + 1 + 2 + 2 + 1,
        "kill switch, GetResources, PutItem, 2 x GetFunctionConcurrency, 2 x Put..., SNS: {r:#?}"
    );
    assert_eq!(e.concurrency("pay").await?, Some(0));
    assert_eq!(e.concurrency("cart").await?, Some(0));
    assert_eq!(
        e.concurrency("ledger").await?,
        Some(3),
        "not opted in: untouched"
    );
    let rec = e.record("thr-1").await?;
    assert!(rec.is_open());

    // Before the end of the duration the timer restores nothing.
    let report = e
        .timer(t0 + chrono::Duration::minutes(4))
        .run(&json!({}))
        .await?;
    assert!(report.restored.is_empty(), "{report:#?}");
    assert_eq!(e.concurrency("pay").await?, Some(0));

    // After it: exactly as before, "none" included; closed once, TTR from the restore.
    let t_end = t0 + chrono::Duration::minutes(5) + chrono::Duration::seconds(30);
    let report = e.timer(t_end).run(&json!({})).await?;
    assert_eq!(report.restored, ["thr-1"], "{report:#?}");
    assert_eq!(report.closed.len(), 1, "{report:#?}");
    assert!(
        report.closed[0].message_id.is_some(),
        "published: {report:#?}"
    );
    assert_eq!(e.concurrency("pay").await?, Some(5));
    assert_eq!(e.concurrency("cart").await?, None);
    assert_eq!(e.concurrency("ledger").await?, Some(3));
    let rec = e.record("thr-1").await?;
    let closed = rec.closed().ok_or_else(|| anyhow!("not closed: {rec:?}"))?;
    assert_eq!(closed.ttr_s, Some(0), "no alarms: recovered at the restore");
    assert_eq!(closed.recovered_at, Some(t_end));
    let again = e
        .timer(t_end + chrono::Duration::minutes(1))
        .run(&json!({}))
        .await?;
    assert!(
        again.restored.is_empty() && again.closed.is_empty() && again.open == 0,
        "restored and closed once: {again:#?}"
    );

    // A second round, aborted at once: the same exact restore.
    e.reserve("cart", 2).await?;
    let r = e.monkey(Some(t0)).handle(envelope("thr-2", exp)).await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    assert_eq!(e.concurrency("cart").await?, Some(0));
    let rec = e.record("thr-2").await?;
    let aws = Aws::new(&e.conf);
    let cfg = AbortConfig {
        topic_arn: Some(e.topic.clone()),
        ..AbortConfig::default()
    };
    let done = abort::abort(&aws, &cfg, &rec, AbortTrigger::Abort, Utc::now()).await?;
    let Abort::Aborted(report) = done else {
        return Err(anyhow!("not aborted: {done:?}"));
    };
    assert!(
        report.aborted().rolled_back.iter().all(|b| b.ok),
        "{report:#?}"
    );
    assert_eq!(e.concurrency("pay").await?, Some(5));
    assert_eq!(e.concurrency("cart").await?, Some(2));
    assert_eq!(e.concurrency("ledger").await?, Some(3));
    assert!(
        report.message.subject.contains("restored 2 of 2"),
        "{}",
        report.message.subject
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_event_source_re_enables_exactly_the_mappings_that_were_enabled() -> Result<()> {
    let e = env().await?;
    for (name, opted_in) in [("ingest", true), ("idle", true), ("audit", false)] {
        e.function(Fn {
            name,
            opted_in,
            layer: false,
            env: &[],
        })
        .await?;
    }
    // Three DynamoDB streams to map from (moto maps streams without invoking anything).
    let ddb = aws_sdk_dynamodb::Client::new(&e.conf);
    let mut streams = Vec::new();
    for t in ["s1", "s2", "s3"] {
        use aws_sdk_dynamodb::types::*;
        let out = ddb
            .create_table()
            .table_name(t)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("k")
                    .key_type(KeyType::Hash)
                    .build()?,
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("k")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()?,
            )
            .send()
            .await?;
        streams.push(
            out.table_description()
                .and_then(|d| d.latest_stream_arn())
                .ok_or_else(|| anyhow!("no stream"))?
                .to_owned(),
        );
    }
    let map = |function: &'static str, stream: String, enabled: bool| {
        let lambda = e.lambda.clone();
        async move {
            lambda
                .create_event_source_mapping()
                .function_name(function)
                .event_source_arn(stream)
                .starting_position(aws_sdk_lambda::types::EventSourcePosition::Latest)
                .enabled(enabled)
                .send()
                .await
                .map(|o| o.uuid().unwrap_or_default().to_owned())
        }
    };
    let on = map("ingest", streams[0].clone(), true).await?;
    let off = map("ingest", streams[1].clone(), false).await?;
    let other = map("audit", streams[2].clone(), true).await?;
    let state = |uuid: String| {
        let lambda = e.lambda.clone();
        async move {
            Ok::<_, anyhow::Error>(
                lambda
                    .get_event_source_mapping()
                    .uuid(uuid)
                    .send()
                    .await?
                    .state()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
    };

    let t0: DateTime<Utc> = "2026-12-01T10:00:00Z".parse()?;
    let exp = experiment(
        "orders-cut-off",
        json!({"type": "disable-event-source", "duration": "10m"}),
    );
    let r = e.monkey(Some(t0)).handle(envelope("esm-1", exp)).await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    assert_eq!(chosen(&r), ["ingest"]);
    assert_eq!(
        r.plan
            .excluded
            .get("function idle: has no event source mapping"),
        Some(&1),
        "the plan names the function left out and why: {:?}",
        r.plan.excluded
    );
    assert_eq!(state(on.clone()).await?, "Disabled");
    assert_eq!(state(off.clone()).await?, "Disabled");
    assert_eq!(
        state(other.clone()).await?,
        "Enabled",
        "not opted in: untouched"
    );
    let rec = e.record("esm-1").await?;
    let json = rec.json();
    assert!(json.contains(&on) && !json.contains(&off), "{json}");

    let report = e
        .timer(t0 + chrono::Duration::minutes(11))
        .run(&json!({}))
        .await?;
    assert_eq!(report.restored, ["esm-1"], "{report:#?}");
    assert_eq!(state(on).await?, "Enabled");
    assert_eq!(
        state(off).await?,
        "Disabled",
        "it was disabled before: it stays so"
    );
    assert_eq!(state(other).await?, "Enabled");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_fault_writes_the_parameter_with_expires_at_and_restores_the_previous_value(
) -> Result<()> {
    let e = env().await?;
    let with_layer = |param: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![
            ("AWS_LAMBDA_EXEC_WRAPPER", WRAPPER),
            ("FAILURE_INJECTION_PARAM", param),
        ]
    };
    let checkout = with_layer("/faultline/layer/checkout");
    let search = with_layer("/faultline/layer/search");
    let elsewhere = with_layer("/team/faults/pricing");
    let fns: [(&str, bool, &[Var]); 5] = [
        ("checkout", true, &checkout),
        ("search", true, &search),
        (
            "legacy",
            false,
            &[("FAILURE_INJECTION_PARAM", "/faultline/layer/legacy")],
        ),
        (
            "nowrap",
            true,
            &[("FAILURE_INJECTION_PARAM", "/faultline/layer/nowrap")],
        ),
        ("pricing", true, &elsewhere),
    ];
    for (name, layer, env) in fns {
        e.function(Fn {
            name,
            opted_in: true,
            layer,
            env,
        })
        .await?;
    }
    let before = r#"{"latency": {"enabled": false, "min_latency": 100, "max_latency": 200}}"#;
    e.fleet
        .put_param("/faultline/layer/checkout", before)
        .await?;

    let t0: DateTime<Utc> = "2026-12-01T10:00:00Z".parse()?;
    let faults =
        json!({"exception": {"enabled": true, "percentage": 100, "exception_msg": "chaos"}});
    let exp = experiment(
        "orders-errors",
        json!({"type": "lambda-fault", "faults": faults, "duration": "10m"}),
    );
    let r = e.monkey(Some(t0)).handle(envelope("lf-1", exp)).await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    assert_eq!(chosen(&r), ["checkout", "search"]);
    let why = |f: &str| {
        r.plan
            .excluded
            .keys()
            .find(|k| k.starts_with(&format!("function {f}: ")))
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        why("legacy").contains("does not carry the faultline layer"),
        "{:?}",
        r.plan.excluded
    );
    assert!(
        why("nowrap").contains("AWS_LAMBDA_EXEC_WRAPPER=/opt/faultline-wrapper"),
        "{:?}",
        r.plan.excluded
    );
    assert!(
        why("pricing").contains("outside /faultline/layer/"),
        "{:?}",
        r.plan.excluded
    );
    // GetResources once, then one configuration per tagged function to decide who carries the
    // layer, once more for the chosen before writing, and one GetParameters for all of them.
    assert!(
        r.api_calls <= 1 + 1 + 5 + 2 + 1 + 1 + 2 + 1,
        "{}",
        r.api_calls
    );

    let expected = {
        let mut d = faults.as_object().unwrap().clone();
        d.insert("expires_at".into(), json!("2026-12-01T10:10:00Z"));
        Value::Object(d)
    };
    for f in ["checkout", "search"] {
        let (v, _) = e
            .param(&format!("/faultline/layer/{f}"))
            .await?
            .ok_or_else(|| anyhow!("{f}: not written"))?;
        assert_eq!(serde_json::from_str::<Value>(&v)?, expected, "{f}");
    }
    assert_eq!(e.param("/faultline/layer/legacy").await?, None);

    let report = e
        .timer(t0 + chrono::Duration::minutes(10))
        .run(&json!({}))
        .await?;
    assert_eq!(report.restored, ["lf-1"], "{report:#?}");
    assert_eq!(
        e.param("/faultline/layer/checkout")
            .await?
            .map(|p| p.0)
            .as_deref(),
        Some(before),
        "the previous value is back"
    );
    assert_eq!(
        e.param("/faultline/layer/search").await?,
        None,
        "there was none: deleted"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lambda_fault_the_monkey_wrote_is_active_in_the_layer_then_ends_by_itself_at_expires_at(
) -> Result<()> {
    let e = env().await?;
    let param = "/faultline/layer/orders";
    e.function(Fn {
        name: "orders",
        opted_in: true,
        layer: true,
        env: &[
            ("AWS_LAMBDA_EXEC_WRAPPER", WRAPPER),
            ("FAILURE_INJECTION_PARAM", param),
        ],
    })
    .await?;
    let exp = experiment(
        "orders-chain",
        json!({"type": "lambda-fault", "duration": "8s",
               "faults": {"exception": {"enabled": true, "exception_msg": "from the monkey"}}}),
    );
    let r = e.monkey(None).handle(envelope("chain-1", exp)).await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    let (doc, version) = e
        .param(param)
        .await?
        .ok_or_else(|| anyhow!("not written"))?;
    let expires: DateTime<Utc> = serde_json::from_str::<Value>(&doc)?["expires_at"]
        .as_str()
        .ok_or_else(|| anyhow!("no expires_at in {doc}"))?
        .parse()?;

    // The layer reads the parameter the monkey wrote (the monkey's moto, the default kill switch).
    let mut chain = common::Chain::start(common::Opts::proxied(
        common::Func::Rust,
        common::ext_env(e.moto.env(), param, 1),
    ))
    .await?;
    let (_, v) = chain.invoke(&json!({})).await?;
    assert_eq!(v["errorType"], "FaultlineInjectedException", "{v}");
    assert_eq!(v["errorMessage"], "from the monkey", "{v}");

    // Then it ends by itself: poll until an invocation passes, within a bound after expires_at.
    let deadline = Instant::now() + Duration::from_secs(30);
    let ended_at = loop {
        let (_, v) = chain.invoke(&json!({})).await?;
        if v.get("errorType").is_none() {
            break Utc::now();
        }
        anyhow::ensure!(Instant::now() < deadline, "the fault did not end: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        ended_at >= expires - chrono::Duration::milliseconds(1000),
        "ended at {ended_at}, before expires_at {expires}"
    );
    assert!(
        ended_at <= expires + chrono::Duration::seconds(5),
        "ended at {ended_at}, long after expires_at {expires}"
    );
    // With no further write: the parameter is as the monkey left it.
    assert_eq!(e.param(param).await?, Some((doc, version)));
    let records: BTreeMap<String, Value> = e.fleet.records().await?;
    assert!(records.contains_key("chain-1"));
    Ok(())
}

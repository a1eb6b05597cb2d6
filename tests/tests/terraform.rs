//! The Terraform module: `fmt`, `validate`, variable validation, checkov, and a real `apply` of
//! `examples/complete` against moto, after which the monkey binary, run under the Lambda
//! emulator with the environment Terraform gave its function, acts on the fleet Terraform made;
//! `plan` then shows no changes and `destroy` removes everything.
//!
//! Terraform and its offline provider mirror are part of this kind of machine: when either is
//! missing these tests fail saying so (see `faultline_e2e::terraform::Terraform::locate`).
//!
//! Long by design: each test is one Terraform scenario sharing the plan / apply helpers above
//! them; a split would only add test binaries that each start terraform again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use faultline_core::spec::Invocation;
use faultline_e2e::iam;
use faultline_e2e::terraform::{local_artifacts, module_dir, stage, Scratch, Terraform};
use faultline_e2e::{instance_ids, poll, venv, Emulator, Moto, AMI};
use serde_json::{json, Value};

const EXAMPLES: &[&str] = &[
    "examples/basic",
    "examples/lambda-faults",
    "examples/complete",
];

/// Collapses whitespace and the diagnostic box drawing: terraform wraps its messages at 78
/// columns inside a `│` margin.
fn flat(s: &str) -> String {
    s.replace(['│', '╷', '╵', '─', '├'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The end of a long output, for assertion messages.
fn end(s: &str) -> &str {
    &s[s.len().saturating_sub(1500)..]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fmt_is_clean_and_every_root_validates() -> Result<()> {
    let tf = Terraform::locate()?;
    tf.ok(&module_dir(), &["fmt", "-check", "-recursive", "-diff"])
        .await
        .context("terraform fmt -check -recursive: run `terraform fmt -recursive terraform`")?;
    for rel in std::iter::once("").chain(EXAMPLES.iter().copied()) {
        let dir = Scratch::new("tf-validate")?;
        stage(rel, dir.path(), None)?;
        tf.ok(dir.path(), &["init", "-backend=false", "-input=false"])
            .await?;
        let out = tf.ok(dir.path(), &["validate", "-json"]).await?;
        let v: Value = serde_json::from_str(&out)?;
        assert_eq!(v["valid"], true, "{rel}: {out}");
        assert_eq!(v["warning_count"], 0, "{rel}: {out}");
    }
    Ok(())
}

/// The root module, staged and initialised once, planned against moto with several tfvars.
struct RootPlan {
    dir: Scratch,
    n: usize,
}

impl RootPlan {
    async fn new(tf: &Terraform, moto: &Moto) -> Result<RootPlan> {
        let dir = Scratch::new("tf-plan")?;
        stage("", dir.path(), Some(&moto.endpoint))?;
        tf.ok(dir.path(), &["init", "-backend=false", "-input=false"])
            .await?;
        Ok(RootPlan { dir, n: 0 })
    }

    /// Exit code and the flattened output of `plan` with `vars`.
    async fn plan(&mut self, tf: &Terraform, vars: Value) -> Result<(i32, String)> {
        self.n += 1;
        let file = format!("case{}.tfvars.json", self.n);
        std::fs::write(self.dir.path().join(&file), vars.to_string())?;
        let arg = format!("-var-file={file}");
        let r = tf
            .run(
                self.dir.path(),
                &[
                    "plan",
                    "-input=false",
                    "-lock=false",
                    "-refresh=false",
                    &arg,
                ],
            )
            .await?;
        Ok((r.code, flat(&format!("{}\n{}", r.stdout, r.stderr))))
    }

    /// `plan -out` with `vars`, then `show -json` of that plan: what would be created.
    async fn planned(&mut self, tf: &Terraform, vars: Value) -> Result<Value> {
        self.n += 1;
        let file = format!("case{}.tfvars.json", self.n);
        let out = format!("case{}.tfplan", self.n);
        std::fs::write(self.dir.path().join(&file), vars.to_string())?;
        let var_arg = format!("-var-file={file}");
        let out_arg = format!("-out={out}");
        tf.ok(
            self.dir.path(),
            &[
                "plan",
                "-input=false",
                "-lock=false",
                "-refresh=false",
                &var_arg,
                &out_arg,
            ],
        )
        .await?;
        let json = tf.ok(self.dir.path(), &["show", "-json", &out]).await?;
        Ok(serde_json::from_str(&json)?)
    }
}

fn experiment(selection: Value, action: Value, schedule: &str) -> Value {
    json!({"web": {"schedule": schedule, "experiment": json!({
        "targets": {"resource": "asg-instance", "tags": {"app": "web"}},
        "selection": selection, "action": action, "guards": {"max_targets": 5}}).to_string()}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_variables_and_missing_artifacts_fail_plan_with_their_message() -> Result<()> {
    let tf = Terraform::locate()?;
    let moto = Moto::start().await?;
    let art = Scratch::new("tf-artifacts")?;
    local_artifacts(art.path())?;
    let good = || {
        json!({
            "architecture": "x86_64",
            "artifacts_dir": art.path(),
            "experiments": experiment(json!({"mode": "percent", "value": 30}),
                                      json!({"type": "terminate"}), "rate(1 hour)"),
            "notification_emails": ["sre@example.com"],
        })
    };
    // The control: the same plan with good values succeeds, so each failure below is the
    // bad value's own.
    let mut root = RootPlan::new(&tf, &moto).await?;
    let (code, out) = root.plan(&tf, good()).await?;
    assert_eq!(code, 0, "a good plan must pass: {}", end(&out));

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "percent 150",
            json!({"experiments": experiment(json!({"mode": "percent", "value": 150}),
                                             json!({"type": "terminate"}), "rate(1 hour)")}),
            "a percent selection's value must be a number between 0 and 100",
        ),
        (
            "percent without max_targets",
            json!({"experiments": {"web": {"schedule": "rate(1 hour)", "experiment": json!({
                "targets": {"resource": "asg-instance", "tags": {"app": "web"}},
                "selection": {"mode": "percent", "value": 30},
                "action": {"type": "terminate"}}).to_string()}}}),
            "guards.max_targets is required when the selection can exceed 10 targets",
        ),
        (
            "unknown action",
            json!({"experiments": experiment(json!({"mode": "count", "value": 1}),
                                             json!({"type": "explode"}), "rate(1 hour)")}),
            "action.type must be one of: terminate, stop, reboot, agent, lambda-fault, throttle,",
        ),
        (
            "malformed schedule",
            json!({"experiments": experiment(json!({"mode": "all"}),
                                             json!({"type": "stop"}), "every 5 minutes")}),
            "schedule must be rate(N minutes|hours|days)",
        ),
        (
            "cron with five fields",
            json!({"experiments": experiment(json!({"mode": "all"}),
                                             json!({"type": "stop"}), "cron(0 10 * * MON)")}),
            "schedule must be rate(N minutes|hours|days)",
        ),
        (
            "empty email",
            json!({"notification_emails": [""]}),
            "each entry must be an email address",
        ),
        (
            "architecture",
            json!({"architecture": "sparc"}),
            "architecture must be one of: arm64, x86_64",
        ),
        (
            "layer configs above the kill switch",
            json!({"layer_config_prefix": "/faultline"}),
            "must not overlap (none equal to or a path prefix of another)",
        ),
        (
            "kill switch under the layer configs",
            json!({"kill_switch_parameter": "/faultline/layer/enabled"}),
            "must not overlap (none equal to or a path prefix of another)",
        ),
        (
            "kill switch equal to the layer prefix",
            json!({"kill_switch_parameter": "/faultline/layer"}),
            "must not overlap (none equal to or a path prefix of another)",
        ),
        (
            "webhook under the layer configs",
            json!({"slack_webhook_parameter": "/faultline/layer/slack"}),
            "must not overlap (none equal to or a path prefix of another)",
        ),
        (
            "record_retention_days 0",
            json!({"record_retention_days": 0}),
            "record_retention_days must be a whole number of days from 1 to 3650",
        ),
        (
            "record_retention_days 3651",
            json!({"record_retention_days": 3651}),
            "record_retention_days must be a whole number of days from 1 to 3650",
        ),
        (
            "record_retention_days 1.5",
            json!({"record_retention_days": 1.5}),
            "record_retention_days must be a whole number of days from 1 to 3650",
        ),
        (
            "report_retention_days 0",
            json!({"report_retention_days": 0}),
            "report_retention_days must be a whole number of days from 1 to 3650",
        ),
        (
            "report_link_ttl 59",
            json!({"report_link_ttl": 59}),
            "report_link_ttl must be a whole number of seconds from 60 to 604800",
        ),
        (
            "report_link_ttl 8 days",
            json!({"report_link_ttl": 691200}),
            "report_link_ttl must be a whole number of seconds from 60 to 604800",
        ),
        (
            "calendar_parameter without a slash",
            json!({"calendar_parameter": "calendar"}),
            "calendar_parameter must be an SSM parameter path starting with '/'",
        ),
        (
            "missing artifact",
            json!({"artifacts_dir": "/nonexistent/dist"}),
            "is missing: run `make package ARCH=x86_64`",
        ),
    ];
    for (what, overrides, message) in cases {
        let mut vars = good();
        for (k, v) in overrides.as_object().unwrap() {
            vars[k] = v.clone();
        }
        let (code, out) = root.plan(&tf, vars).await?;
        assert_eq!(code, 1, "{what}: plan must fail: {}", end(&out));
        assert!(
            out.contains(message),
            "{what}: expected {message:?} in: {}",
            end(&out)
        );
    }
    Ok(())
}

/// The planned `aws_lambda_function.this` instances: function key -> planned values.
fn planned_functions(plan: &Value) -> BTreeMap<String, Value> {
    plan["resource_changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["type"] == "aws_lambda_function" && r["name"] == "this")
        .map(|r| {
            (
                r["index"].as_str().unwrap_or_default().to_owned(),
                r["change"]["after"].clone(),
            )
        })
        .collect()
}

/// With the defaults, as on real AWS, every function carries Lambda's advanced logging
/// controls: JSON, the application level from `log_level` upper-cased, the system level WARN,
/// its own log group. `advanced_logging = false` (for moto, which does not store LoggingConfig)
/// drops the block. (The environment, RUST_LOG included, is unknown until apply: the complete
/// example's apply checks RUST_LOG.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_log_through_lambda_advanced_logging_controls_by_default() -> Result<()> {
    let tf = Terraform::locate()?;
    let moto = Moto::start().await?;
    let art = Scratch::new("tf-artifacts")?;
    local_artifacts(art.path())?;
    let mut root = RootPlan::new(&tf, &moto).await?;
    let base = || {
        json!({
            "name": "logs",
            "architecture": "x86_64",
            "artifacts_dir": art.path(),
            "slack_webhook_parameter": "/faultline/slack-webhook",
        })
    };
    let with = |k: &str, v: Value| {
        let mut vars = base();
        vars[k] = v;
        vars
    };
    let all = ["monkey", "notifier", "recovery_timer"];
    for (what, vars, level) in [
        ("defaults", base(), "info"),
        ("log_level warn", with("log_level", json!("warn")), "warn"),
        (
            "log_level trace",
            with("log_level", json!("trace")),
            "trace",
        ),
    ] {
        let functions = planned_functions(&root.planned(&tf, vars).await?);
        assert_eq!(
            functions.keys().map(String::as_str).collect::<Vec<_>>(),
            all,
            "{what}"
        );
        for (key, f) in &functions {
            let name = f["function_name"].as_str().unwrap_or_default();
            assert_eq!(
                f["logging_config"],
                json!([{
                    "log_format": "JSON",
                    "application_log_level": level.to_ascii_uppercase(),
                    "system_log_level": "WARN",
                    "log_group": format!("/aws/lambda/{name}"),
                }]),
                "{what}: {key}"
            );
        }
    }

    let functions = planned_functions(
        &root
            .planned(&tf, with("advanced_logging", json!(false)))
            .await?,
    );
    assert_eq!(
        functions.keys().map(String::as_str).collect::<Vec<_>>(),
        all
    );
    for (key, f) in &functions {
        assert!(
            f["logging_config"].as_array().is_none_or(|a| a.is_empty()),
            "advanced_logging = false: {key}: {}",
            f["logging_config"]
        );
    }
    Ok(())
}

fn sha256_of(path: &std::path::Path) -> Result<String> {
    let out = std::process::Command::new("sha256sum").arg(path).output()?;
    let text = String::from_utf8(out.stdout)?;
    Ok(text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// The agent's supply chain: Terraform renders the SSM document with the SHA-256 of the staged
/// artifact and its S3 location fixed (no `AgentS3Uri` parameter any more), the bucket policy
/// denies writes to everyone but the deploying principal, and the rendered install script, run
/// with sh against local files (a fake `aws` on PATH), refuses a download with another hash,
/// installs one with the right hash and replaces an installed binary whose hash differs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_document_pins_the_artifacts_sha256_and_location_and_the_script_checks_it(
) -> Result<()> {
    let tf = Terraform::locate()?;
    let moto = Moto::start().await?;
    let art = Scratch::new("tf-artifacts")?;
    local_artifacts(art.path())?;
    let artifact = art.path().join("x86_64/faultline-agent");
    let sha = sha256_of(&artifact)?;
    assert_eq!(sha.len(), 64, "{sha}");
    let mut root = RootPlan::new(&tf, &moto).await?;
    let plan = root
        .planned(
            &tf,
            json!({
                "architecture": "x86_64",
                "agent_architecture": "x86_64",
                "artifacts_dir": art.path(),
                "agent_bucket": "faultline-agent-test",
            }),
        )
        .await?;
    let change = |ty: &str, name: &str| -> Result<Value> {
        plan["resource_changes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["type"] == ty && r["name"] == name)
            .map(|r| r["change"]["after"].clone())
            .with_context(|| format!("no {ty}.{name} in the plan"))
    };
    let content = change("aws_ssm_document", "agent")?["content"]
        .as_str()
        .context("the document's content is unknown at plan")?
        .to_owned();
    let doc: Value = serde_json::from_str(&content)?;
    let params = doc["parameters"].as_object().unwrap();
    assert!(
        !params.contains_key("AgentS3Uri"),
        "no caller-chosen location: {:?}",
        params.keys()
    );
    assert_eq!(
        params.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from([
            "Args",
            "Duration",
            "ExecutionTimeout",
            "Fault",
            "FaultId",
            "Mode"
        ])
    );
    let lines: Vec<String> = doc["mainSteps"][0]["inputs"]["runCommand"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    let uri = "s3://faultline-agent-test/faultline-agent/x86_64/faultline-agent";
    assert!(lines.contains(&format!("want='{sha}'")), "{content}");
    assert!(lines.contains(&format!("uri='{uri}'")), "{content}");
    assert!(!content.contains("${"), "everything rendered: {content}");

    // The bucket is the caller's here (agent_bucket), so no bucket policy: the module's own
    // bucket gets one; its document denies writes to every principal but the deployer.
    let plan2 = root
        .planned(
            &tf,
            json!({"architecture": "x86_64", "artifacts_dir": art.path()}),
        )
        .await?;
    let policy = plan2["resource_changes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["type"] == "aws_s3_bucket_policy" && r["name"] == "agent")
        .context("the module's agent bucket has a bucket policy")?;
    assert_eq!(policy["change"]["actions"], json!(["create"]));
    let text = std::fs::read_to_string(module_dir().join("agent.tf"))?;
    assert!(
        text.contains("\"ArnNotEquals\"")
            && text.contains("aws:PrincipalArn")
            && text.contains("data.aws_iam_session_context.deployer.issuer_arn")
            && text.contains("effect    = \"Deny\""),
        "the agent bucket policy denies PutObject to all but the deployer"
    );

    // The script, run with sh: the agent path and the final exec swapped for test ones.
    let dir = Scratch::new("agent-install")?;
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin)?;
    let fake_aws = bin.join("aws");
    std::fs::write(
        &fake_aws,
        "#!/bin/sh\n# aws s3 cp --only-show-errors URI DEST\necho \"$4\" >> \"$FAKE_LOG\"\ncp \"$FAKE_SRC\" \"$5\"\n",
    )?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake_aws, std::fs::Permissions::from_mode(0o755))?;
    let installed = dir.path().join("faultline-agent");
    let script: String = lines
        .iter()
        .map(|l| {
            if l == "agent=/usr/local/bin/faultline-agent" {
                format!("agent={}", installed.display())
            } else if l.starts_with("exec ") {
                "echo ran".to_owned()
            } else {
                l.replace("{{ Args }}", "--delay-ms 1")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(script.contains("sha256sum"), "{script}");
    let wrong = dir.path().join("planted");
    std::fs::write(&wrong, b"#!/bin/sh\necho planted\n")?;
    let log = dir.path().join("downloads.log");
    let run = |src: &std::path::Path| {
        let _ = std::fs::remove_file(&log);
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        std::process::Command::new("sh")
            .args(["-c", &script])
            .env("PATH", path)
            .env("FAKE_SRC", src)
            .env("FAKE_LOG", &log)
            .output()
    };
    let downloads = || std::fs::read_to_string(&log).unwrap_or_default();

    // Nothing installed, the download has another hash: refused, nothing installed.
    let out = run(&wrong)?;
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refusing to install it"),
        "{out:?}"
    );
    assert!(!installed.exists());
    assert_eq!(downloads().trim(), uri, "from the fixed location");

    // The right bytes: installed 0755, then run.
    let out = run(&artifact)?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ran");
    assert_eq!(sha256_of(&installed)?, sha);
    assert_eq!(
        std::fs::metadata(&installed)?.permissions().mode() & 0o777,
        0o755
    );

    // Installed with the right hash: no download at all.
    let out = run(&wrong)?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(downloads(), "", "nothing downloaded");

    // A stale or planted binary (another hash) is replaced by the right one...
    std::fs::copy(&wrong, &installed)?;
    let out = run(&artifact)?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(sha256_of(&installed)?, sha);
    // ...and never by a download with the wrong hash.
    std::fs::copy(&wrong, &installed)?;
    let out = run(&wrong)?;
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert_eq!(std::fs::read(&installed)?, std::fs::read(&wrong)?);
    Ok(())
}

#[test]
fn checkov_finds_no_failed_check_and_every_skip_has_a_reason() -> Result<()> {
    let checkov = std::env::var_os("FAULTLINE_CHECKOV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| venv().with_file_name("checkov").join("bin/checkov"));
    if !checkov.exists() {
        bail!(
            "checkov not found at {}: run `scripts/local-aws install-checkov` (`make test` does; \
             it installs checkov in its own venv) or set FAULTLINE_CHECKOV",
            checkov.display()
        );
    }
    let out = std::process::Command::new(&checkov)
        .args(["-d"])
        .arg(module_dir())
        .args([
            "--framework",
            "terraform",
            "-o",
            "json",
            "--skip-download",
            "--quiet",
        ])
        .output()
        .context("running checkov")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "checkov printed no JSON: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let reports: Vec<&Value> = match &v {
        Value::Array(a) => a.iter().collect(),
        o => vec![o],
    };
    let mut failed = Vec::new();
    let mut skipped = 0;
    for r in &reports {
        for f in r["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            failed.push(format!(
                "{} {} {}:{}",
                f["check_id"].as_str().unwrap_or(""),
                f["check_name"].as_str().unwrap_or(""),
                f["file_path"].as_str().unwrap_or(""),
                f["resource"].as_str().unwrap_or("")
            ));
        }
        for s in r["results"]["skipped_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            skipped += 1;
            let reason = s["check_result"]["suppress_comment"].as_str().unwrap_or("");
            assert!(
                reason.trim().len() >= 10,
                "{} on {} is skipped without a reason",
                s["check_id"],
                s["resource"]
            );
        }
    }
    assert!(
        failed.is_empty(),
        "checkov failed checks:\n{}",
        failed.join("\n")
    );
    assert!(out.status.success(), "checkov exited {}", out.status);
    eprintln!("checkov: 0 failed, {skipped} skipped with reasons");
    Ok(())
}

/// What the module's outputs and state say after apply.
struct Applied {
    outputs: Value,
    state: Value,
}

async fn outputs_and_state(tf: &Terraform, dir: &std::path::Path) -> Result<Applied> {
    let outputs: Value = serde_json::from_str(&tf.ok(dir, &["output", "-json"]).await?)?;
    let state: Value = serde_json::from_str(&tf.ok(dir, &["show", "-json"]).await?)?;
    Ok(Applied { outputs, state })
}

/// Every resource in `terraform show -json` state, child modules included.
fn resources(state: &Value) -> Vec<&Value> {
    fn walk<'a>(m: &'a Value, out: &mut Vec<&'a Value>) {
        out.extend(m["resources"].as_array().into_iter().flatten());
        for c in m["child_modules"].as_array().into_iter().flatten() {
            walk(c, out);
        }
    }
    let mut out = Vec::new();
    walk(&state["values"]["root_module"], &mut out);
    out
}

/// One DynamoDB (JSON protocol) call to moto, unsigned as moto accepts it: `op`'s response.
async fn dynamodb(endpoint: &str, op: &str, body: Value) -> Result<Value> {
    let r = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("X-Amz-Target", format!("DynamoDB_20120810.{op}"))
        .header("Content-Type", "application/x-amz-json-1.0")
        .header(
            "Authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=testing/20261123/{}/dynamodb/aws4_request, \
                 SignedHeaders=host, Signature=0",
                faultline_e2e::REGION
            ),
        )
        .body(body.to_string())
        .send()
        .await?;
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() {
        bail!("DynamoDB {op}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

/// `[{"AttributeName": a, "KeyType": t}, ...]` as `[(a, t)]`.
fn key_schema(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap_or_default().to_owned(),
                k["KeyType"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The records table as issue 12 has it: hash key `id`; GSIs `open` (open, started_at) and
/// `history` (kind, started_at), projecting everything; on demand; encrypted with the module's
/// key; TTL on `expires_at`; point-in-time recovery; deletion protection as `protected`.
async fn check_records_table(
    endpoint: &str,
    table: &str,
    key_arn: &str,
    protected: bool,
) -> Result<()> {
    let name = json!({ "TableName": table });
    let t = dynamodb(endpoint, "DescribeTable", name.clone()).await?["Table"].clone();
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(key_schema(&t["KeySchema"]), [pair("id", "HASH")], "{t}");
    let attributes: BTreeSet<(String, String)> = t["AttributeDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            pair(
                a["AttributeName"].as_str().unwrap(),
                a["AttributeType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attributes,
        BTreeSet::from([
            pair("id", "S"),
            pair("experiment", "S"),
            pair("open", "S"),
            pair("kind", "S"),
            pair("started_at", "S")
        ]),
        "{t}"
    );
    let indexes: BTreeMap<String, (Vec<(String, String)>, Value)> = t["GlobalSecondaryIndexes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["IndexName"].as_str().unwrap_or_default().to_owned(),
                (
                    key_schema(&i["KeySchema"]),
                    i["Projection"]["ProjectionType"].clone(),
                ),
            )
        })
        .collect();
    assert_eq!(
        indexes,
        BTreeMap::from([
            (
                "experiment".to_owned(),
                (
                    vec![pair("experiment", "HASH"), pair("started_at", "RANGE")],
                    json!("ALL")
                )
            ),
            (
                "history".to_owned(),
                (
                    vec![pair("kind", "HASH"), pair("started_at", "RANGE")],
                    json!("ALL")
                )
            ),
            (
                "open".to_owned(),
                (
                    vec![pair("open", "HASH"), pair("started_at", "RANGE")],
                    json!("ALL")
                )
            ),
        ]),
        "{t}"
    );
    assert_eq!(
        t["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST",
        "{t}"
    );
    assert_eq!(t["SSEDescription"]["Status"], "ENABLED", "{t}");
    assert_eq!(t["SSEDescription"]["SSEType"], "KMS", "{t}");
    assert_eq!(t["SSEDescription"]["KMSMasterKeyArn"], key_arn, "{t}");
    assert_eq!(t["DeletionProtectionEnabled"], protected, "{t}");
    let ttl = dynamodb(endpoint, "DescribeTimeToLive", name.clone()).await?;
    assert_eq!(
        ttl["TimeToLiveDescription"],
        json!({"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}),
        "{ttl}"
    );
    let backups = dynamodb(endpoint, "DescribeContinuousBackups", name).await?;
    assert_eq!(
        backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
            ["PointInTimeRecoveryStatus"],
        "ENABLED",
        "{backups}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_example_applies_against_moto_and_its_monkey_acts() -> Result<()> {
    let tf = Terraform::locate()?;
    let moto = Moto::start_with(&[("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")]).await?;
    let conf = moto.sdk_config().await;
    let ssm = aws_sdk_ssm::Client::new(&conf);
    // The Slack webhook parameter the operator creates before applying.
    ssm.put_parameter()
        .name("/faultline/slack-webhook")
        .value("http://127.0.0.1:9/hook")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await?;

    let art = Scratch::new("tf-artifacts")?;
    local_artifacts(art.path())?;
    let dir = Scratch::new("tf-complete")?;
    stage("examples/complete", dir.path(), Some(&moto.endpoint))?;
    let art_var = format!("artifacts_dir={}", art.path().display());
    let ami_var = format!("ami_id={AMI}");
    // moto 5.2.5 does not store a function's LoggingConfig, so with Lambda's advanced logging
    // controls on, the plan after apply (step 4) would always show logging_config as a change.
    // functions_log_through_lambda_advanced_logging_controls_by_default plans the default.
    let vars = [
        "-var",
        "architecture=x86_64",
        "-var",
        &art_var,
        "-var",
        &ami_var,
        "-var",
        "advanced_logging=false",
    ];
    tf.ok(dir.path(), &["init", "-input=false"]).await?;
    let mut apply = vec!["apply", "-auto-approve", "-input=false"];
    apply.extend(vars);
    tf.ok(dir.path(), &apply).await?;
    let Applied { outputs, state } = outputs_and_state(&tf, dir.path()).await?;

    // 1. The schedule's stored input (read back from moto) is the monkey's payload, with the
    //    scheduler's placeholders intact for it to fill in.
    let schedule = moto.schedule("faultline", "web-terminate").await?;
    let input = schedule["Target"]["Input"]
        .as_str()
        .with_context(|| format!("no Target.Input in {schedule}"))?;
    assert!(
        input.contains("\"<aws.scheduler.execution-id>\""),
        "{input}"
    );
    assert!(
        input.contains("\"<aws.scheduler.scheduled-time>\""),
        "{input}"
    );
    assert_eq!(schedule["ScheduleExpressionTimezone"], "Europe/London");
    let now = Utc::now();
    let payload = input
        .replace("<aws.scheduler.execution-id>", "tf-apply-1")
        .replace(
            "<aws.scheduler.scheduled-time>",
            &now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
    let inv = Invocation::from_json_str(&payload, now, 1).map_err(|e| {
        anyhow::anyhow!("the scheduled input does not parse as the monkey's payload: {e}")
    })?;
    assert_eq!(inv.execution_id.as_str(), "tf-apply-1");
    assert_eq!(inv.experiment.name, "web-terminate");

    // 2. The deployed policies are the ones the IAM consistency test checks, and every
    //    destructive statement is conditioned on the opt-in tag.
    let hcl = std::fs::read_to_string(module_dir().join("iam.tf"))?;
    let docs = iam::policy_documents(&hcl)?;
    let deployed: BTreeMap<String, Value> = resources(&state)
        .into_iter()
        .filter(|r| r["type"] == "aws_iam_role_policy" && r["name"] == "function")
        .map(|r| {
            let key = r["index"].as_str().unwrap_or_default().to_owned();
            let doc: Value = serde_json::from_str(r["values"]["policy"].as_str().unwrap()).unwrap();
            (key, doc)
        })
        .collect();
    assert_eq!(
        deployed.keys().map(String::as_str).collect::<Vec<_>>(),
        ["monkey", "notifier", "recovery_timer"]
    );
    let destructive = [
        "ec2:TerminateInstances",
        "ec2:StopInstances",
        "ec2:RebootInstances",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    ];
    for (name, doc) in &deployed {
        let mut actions = BTreeSet::new();
        for s in doc["Statement"].as_array().unwrap() {
            let list: Vec<String> = match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
                other => bail!("{name}: unexpected Action {other}"),
            };
            let resources: Vec<&str> = match &s["Resource"] {
                Value::String(r) => vec![r.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let on_instances = list.iter().any(|a| a == "ssm:SendCommand")
                && resources.iter().any(|r| r.contains(":instance/"));
            if list.iter().any(|a| destructive.contains(&a.as_str())) || on_instances {
                assert_eq!(
                    s["Condition"]["StringEquals"]["aws:ResourceTag/faultline:enabled"], "true",
                    "{name}: {s} is not conditioned on the opt-in tag"
                );
            }
            assert!(
                !(resources.contains(&"*")
                    && list.iter().any(|a| destructive.contains(&a.as_str()))),
                "{name}: destructive actions on *: {s}"
            );
            actions.extend(list);
        }
        let expected: BTreeSet<String> = docs[name.as_str()]
            .iter()
            .flat_map(|s| s.actions.iter().cloned())
            .collect();
        assert_eq!(
            actions, expected,
            "{name}: deployed policy differs from iam.tf"
        );
    }

    // 2b. KMS: the notifier decrypts only through SSM and only the webhook parameter; agent
    //     hosts decrypt only through S3 and only the agent's bucket / object.
    let region = faultline_e2e::REGION;
    let kms_statement = |doc: &Value, sid: &str| -> Value {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .cloned()
            .unwrap_or_else(|| panic!("no {sid} in {doc}"))
    };
    let notifier = kms_statement(&deployed["notifier"], "RuntimeDecryptTheWebhookParameter");
    assert_eq!(
        notifier["Condition"]["StringEquals"]["kms:ViaService"],
        format!("ssm.{region}.amazonaws.com"),
        "{notifier}"
    );
    assert!(
        notifier["Condition"]["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"]
            .as_str()
            .is_some_and(|a| a.ends_with(":parameter/faultline/slack-webhook")),
        "{notifier}"
    );
    let agent_policy: Value = resources(&state)
        .into_iter()
        .find(|r| r["type"] == "aws_iam_policy" && r["name"] == "agent_instance")
        .map(|r| serde_json::from_str(r["values"]["policy"].as_str().unwrap()).unwrap())
        .context("no agent_instance policy in state")?;
    let decrypt = kms_statement(&agent_policy, "DecryptTheAgent");
    assert_eq!(
        decrypt["Condition"]["StringEquals"]["kms:ViaService"],
        format!("s3.{region}.amazonaws.com"),
        "{decrypt}"
    );
    let contexts = decrypt["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:s3:arn"].clone();
    assert!(
        contexts.as_array().is_some_and(|a| a.len() == 2
            && a.iter().all(|c| c
                .as_str()
                .unwrap()
                .starts_with("arn:aws:s3:::faultline-agent-"))),
        "{decrypt}"
    );
    assert!(!decrypt["Resource"].to_string().contains('*'), "{decrypt}");

    // 2c. The records table (issue 12): as declared, encrypted with the module's key, whose
    //     policy lets DynamoDB describe it; each function reaches exactly the table and index
    //     its code uses, and decrypts the table's key only through DynamoDB, only for it.
    let table = outputs["records_table_name"]["value"]
        .as_str()
        .context("no records_table_name output")?
        .to_owned();
    assert_eq!(table, "faultline-experiments");
    let key = resources(&state)
        .into_iter()
        .find(|r| r["type"] == "aws_kms_key" && r["name"] == "this")
        .context("no module KMS key in state")?;
    let key_arn = key["values"]["arn"].as_str().unwrap().to_owned();
    check_records_table(&moto.endpoint, &table, &key_arn, true).await?;
    let key_policy: Value = serde_json::from_str(key["values"]["policy"].as_str().unwrap())?;
    let describe = kms_statement(&key_policy, "DynamoDbDescribesTheKey");
    assert_eq!(
        describe["Principal"]["Service"], "dynamodb.amazonaws.com",
        "{describe}"
    );
    let table_arn = outputs["records_table_arn"]["value"]
        .as_str()
        .context("no records_table_arn output")?
        .to_owned();
    assert!(
        table_arn.starts_with(&format!("arn:aws:dynamodb:{region}:"))
            && table_arn.ends_with(&format!(":table/{table}")),
        "{table_arn}"
    );
    let open_index = format!("{table_arn}/index/open");
    let history_index = format!("{table_arn}/index/history");
    let experiment_index = format!("{table_arn}/index/experiment");
    // The monkey reads the rounds since now - min_interval (history index); the timer finds
    // the open records (open index) and an experiment's previous runs (experiment index).
    for (name, expected) in [
        (
            "monkey",
            BTreeMap::from([
                ("dynamodb:PutItem", vec![table_arn.as_str()]),
                ("dynamodb:UpdateItem", vec![table_arn.as_str()]),
                ("dynamodb:Query", vec![history_index.as_str()]),
            ]),
        ),
        (
            "recovery_timer",
            BTreeMap::from([
                (
                    "dynamodb:Query",
                    vec![open_index.as_str(), experiment_index.as_str()],
                ),
                ("dynamodb:GetItem", vec![table_arn.as_str()]),
                ("dynamodb:UpdateItem", vec![table_arn.as_str()]),
            ]),
        ),
        ("notifier", BTreeMap::new()),
    ] {
        let mut granted: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in deployed[name]["Statement"].as_array().unwrap() {
            let actions: Vec<String> = match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
                _ => vec![],
            };
            let resources: Vec<String> = match &s["Resource"] {
                Value::String(r) => vec![r.clone()],
                Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
                _ => vec![],
            };
            for a in actions.iter().filter(|a| a.starts_with("dynamodb:")) {
                granted
                    .entry(a.clone())
                    .or_default()
                    .extend(resources.iter().cloned());
            }
        }
        let expected: BTreeMap<String, Vec<String>> = expected
            .into_iter()
            .map(|(a, r)| (a.to_owned(), r.iter().map(|x| (*x).to_owned()).collect()))
            .collect();
        assert_eq!(
            granted, expected,
            "{name}: DynamoDB actions and their resources"
        );
        if name == "notifier" {
            continue;
        }
        let via = kms_statement(&deployed[name], "RuntimeEncryptedRecordsTable");
        assert_eq!(via["Action"], "kms:Decrypt", "{name}: {via}");
        assert_eq!(via["Resource"], key_arn.as_str(), "{name}: {via}");
        assert_eq!(
            via["Condition"]["StringEquals"]["kms:ViaService"],
            format!("dynamodb.{region}.amazonaws.com"),
            "{name}: {via}"
        );
        assert_eq!(
            via["Condition"]["StringEquals"]["kms:EncryptionContext:aws:dynamodb:tableName"],
            table.as_str(),
            "{name}: {via}"
        );
        // The functions find the table (and no SSM record prefix any more).
        let env = &outputs["function_environments"]["value"][name];
        assert_eq!(
            env["FAULTLINE_RECORDS_TABLE"],
            table.as_str(),
            "{name}: {env}"
        );
        assert_eq!(
            env["FAULTLINE_RECORD_RETENTION_DAYS"], "90",
            "{name}: {env}"
        );
        assert!(
            env.get("FAULTLINE_RECORD_PREFIX").is_none(),
            "{name}: {env}"
        );
    }

    // 2d. The reports bucket (issue 17): private, the module's key with a bucket key, TLS
    //     only, versioned, expiring; the timer writes (and links) only under reports/ and uses
    //     the key only through S3 for that bucket; it knows the bucket and the links' lifetime.
    let bucket = resources(&state)
        .into_iter()
        .find(|r| r["type"] == "aws_s3_bucket" && r["name"] == "reports")
        .and_then(|r| r["values"]["id"].as_str())
        .context("no reports bucket in state")?
        .to_owned();
    assert!(bucket.starts_with("faultline-reports-"), "{bucket}");
    let of = |ty: &str| -> Result<Value> {
        resources(&state)
            .into_iter()
            .find(|r| r["type"] == ty && r["name"] == "reports")
            .map(|r| r["values"].clone())
            .with_context(|| format!("no {ty}.reports in state"))
    };
    let block = of("aws_s3_bucket_public_access_block")?;
    for k in [
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ] {
        assert_eq!(block[k], true, "{k}: {block}");
    }
    let owner = of("aws_s3_bucket_ownership_controls")?;
    assert_eq!(
        owner["rule"][0]["object_ownership"], "BucketOwnerEnforced",
        "{owner}"
    );
    let sse = of("aws_s3_bucket_server_side_encryption_configuration")?;
    let rule = &sse["rule"][0];
    assert_eq!(rule["bucket_key_enabled"], true, "{sse}");
    let default = &rule["apply_server_side_encryption_by_default"][0];
    assert_eq!(default["sse_algorithm"], "aws:kms", "{sse}");
    assert_eq!(default["kms_master_key_id"], key_arn.as_str(), "{sse}");
    let versioning = of("aws_s3_bucket_versioning")?;
    assert_eq!(
        versioning["versioning_configuration"][0]["status"], "Enabled",
        "{versioning}"
    );
    let lifecycle = of("aws_s3_bucket_lifecycle_configuration")?;
    let rule = &lifecycle["rule"][0];
    assert_eq!(rule["expiration"][0]["days"], 90, "{lifecycle}");
    assert_eq!(
        rule["noncurrent_version_expiration"][0]["noncurrent_days"], 90,
        "{lifecycle}"
    );
    assert_eq!(
        rule["abort_incomplete_multipart_upload"][0]["days_after_initiation"], 1,
        "{lifecycle}"
    );
    let bucket_policy: Value = serde_json::from_str(
        of("aws_s3_bucket_policy")?["policy"]
            .as_str()
            .context("bucket policy")?,
    )?;
    let tls = kms_statement(&bucket_policy, "TlsOnly");
    assert_eq!(tls["Effect"], "Deny", "{tls}");
    assert_eq!(
        tls["Condition"]["Bool"]["aws:SecureTransport"], "false",
        "{tls}"
    );
    let write = kms_statement(&deployed["recovery_timer"], "WriteAndLinkReports");
    assert_eq!(
        write["Resource"],
        format!("arn:aws:s3:::{bucket}/reports/*"),
        "{write}"
    );
    let via_s3 = kms_statement(&deployed["recovery_timer"], "RuntimeEncryptedReports");
    assert_eq!(via_s3["Resource"], key_arn.as_str(), "{via_s3}");
    assert_eq!(
        via_s3["Condition"]["StringEquals"]["kms:ViaService"],
        format!("s3.{region}.amazonaws.com"),
        "{via_s3}"
    );
    let timer_env = &outputs["function_environments"]["value"]["recovery_timer"];
    assert_eq!(
        timer_env["FAULTLINE_REPORTS_BUCKET"],
        bucket.as_str(),
        "{timer_env}"
    );
    assert_eq!(
        timer_env["FAULTLINE_REPORT_URL_TTL"], "604800",
        "{timer_env}"
    );
    // One-off start schedules only in the module's group, and the scheduler role passed only
    // to the scheduler.
    let schedules = kms_statement(&deployed["monkey"], "OneOffStartSchedules");
    assert!(
        schedules["Resource"].as_str().is_some_and(
            |r| r.starts_with("arn:aws:scheduler:") && r.ends_with(":schedule/faultline/*")
        ),
        "{schedules}"
    );
    let pass = kms_statement(
        &deployed["monkey"],
        "PassTheSchedulerRoleToTheSchedulerOnly",
    );
    assert_eq!(
        pass["Condition"]["StringEquals"]["iam:PassedToService"], "scheduler.amazonaws.com",
        "{pass}"
    );
    assert!(
        pass["Resource"]
            .as_str()
            .is_some_and(|r| r.ends_with(":role/faultline-scheduler")),
        "{pass}"
    );

    // 3. The monkey binary, under the emulator with the environment Terraform set on the
    //    function, acts on the fleet Terraform made: one of web-asg's three, never batch-asg.
    let env_vars = &outputs["function_environments"]["value"]["monkey"];
    // Where the agent comes from is the document's, fixed with its hash: no setting of the monkey.
    assert!(
        env_vars.get("FAULTLINE_AGENT_S3_URI").is_none(),
        "{env_vars}"
    );
    // RUST_LOG carries log_level for where Lambda's advanced logging controls are off (here:
    // advanced_logging = false for moto).
    assert_eq!(env_vars["RUST_LOG"], "info", "{env_vars}");
    let mut env = moto.env();
    for (k, v) in env_vars.as_object().context("monkey environment")? {
        env.push((k.clone(), v.as_str().unwrap_or_default().to_owned()));
    }
    let asg = aws_sdk_autoscaling::Client::new(&conf);
    let members = |name: &'static str| {
        let asg = asg.clone();
        async move {
            let out = asg
                .describe_auto_scaling_groups()
                .auto_scaling_group_names(name)
                .send()
                .await?;
            let ids: Vec<String> = out.auto_scaling_groups()[0]
                .instances()
                .iter()
                .filter_map(|i| i.instance_id().map(str::to_owned))
                .collect();
            anyhow::Ok(ids)
        }
    };
    let web_before = members("web-asg").await?;
    let batch_before = members("batch-asg").await?;
    assert_eq!((web_before.len(), batch_before.len()), (3, 2));

    let mut lambda = Emulator::start("monkey", "functions/monkey/Cargo.toml", &env).await?;
    let (_, r) = lambda.invoke_raw(&payload).await?;
    assert_eq!(r["outcome"], "acted", "{r}");
    let chosen = instance_ids(&r["chosen"]);
    assert_eq!(chosen.len(), 1, "34 % of 3, floor 2 healthy: {r}");
    assert!(web_before.contains(&chosen[0]), "{r}");
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let state_of = |id: String| {
        let ec2 = ec2.clone();
        async move {
            let out = ec2.describe_instances().instance_ids(&id).send().await?;
            let s = out.reservations()[0].instances()[0]
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default();
            anyhow::Ok(s)
        }
    };
    poll(
        "the chosen instance to terminate",
        Duration::from_secs(30),
        || {
            let f = state_of(chosen[0].clone());
            async move { Ok(Some(f.await?).filter(|s| s == "terminated" || s == "shutting-down")) }
        },
    )
    .await?;
    for id in &batch_before {
        assert_eq!(
            state_of(id.clone()).await?,
            "running",
            "batch-asg is not opted in"
        );
    }
    // The round was published to the topic Terraform made, and recorded for the timer.
    // (moto's data.json, which the other tests read SNS from, fails once Lambda zips are stored.)
    assert!(
        r["notified"].as_str().is_some_and(|id| !id.is_empty()),
        "{r}"
    );
    assert!(r["notify_error"].is_null(), "{r}");
    // Recorded in the table Terraform made, and findable through the sparse open index.
    {
        let item = dynamodb(
            &moto.endpoint,
            "GetItem",
            json!({"TableName": table, "Key": {"id": {"S": "tf-apply-1"}}, "ConsistentRead": true}),
        )
        .await?;
        let item = &item["Item"];
        assert_eq!(item["kind"]["S"], "experiment", "{item}");
        assert_eq!(
            item["open"]["S"], "open",
            "open until the timer closes it: {item}"
        );
        assert!(item["started_at"]["S"].is_string(), "{item}");
        // The timer finds it through the sparse open index.
        let open = dynamodb(
            &moto.endpoint,
            "Query",
            json!({"TableName": table, "IndexName": "open",
                   "KeyConditionExpression": "#o = :o",
                   "ExpressionAttributeNames": {"#o": "open"},
                   "ExpressionAttributeValues": {":o": {"S": "open"}}}),
        )
        .await?;
        let ids: Vec<&str> = open["Items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["id"]["S"].as_str())
            .collect();
        assert_eq!(ids, ["tf-apply-1"], "{open}");
    }

    // 4. Nothing drifts: plan shows no changes.
    let mut plan = vec!["plan", "-detailed-exitcode", "-input=false"];
    plan.extend(vars);
    let r = tf.run(dir.path(), &plan).await?;
    assert_eq!(
        r.code, 0,
        "plan after apply must show no changes:\n{}\n{}",
        r.stdout, r.stderr
    );

    // 5. The records table is protected from deletion: lifting that is an apply, after which
    //    destroy removes everything.
    let lift = ["-var", "records_deletion_protection=false"];
    let mut apply = vec!["apply", "-auto-approve", "-input=false"];
    apply.extend(vars);
    apply.extend(lift);
    tf.ok(dir.path(), &apply).await?;
    check_records_table(&moto.endpoint, &table, &key_arn, false).await?;
    let mut destroy = vec!["destroy", "-auto-approve", "-input=false"];
    destroy.extend(vars);
    destroy.extend(lift);
    tf.ok(dir.path(), &destroy).await?;
    let left = tf.ok(dir.path(), &["state", "list"]).await?;
    assert!(left.trim().is_empty(), "left in state: {left}");
    let tables = dynamodb(&moto.endpoint, "ListTables", json!({})).await?;
    assert_eq!(tables["TableNames"], json!([]), "{tables}");
    let sns = aws_sdk_sns::Client::new(&conf);
    assert!(sns.list_topics().send().await?.topics().is_empty());
    assert!(ssm
        .get_parameter()
        .name("/faultline/enabled")
        .send()
        .await
        .is_err());
    let groups = asg.describe_auto_scaling_groups().send().await?;
    assert!(groups.auto_scaling_groups().is_empty());
    Ok(())
}

//! Test harness for the end-to-end tests: a private `moto_server` per test (so cases never see
//! each other's resources), fleet seeding through the real AWS SDK, what SNS received, and the
//! Lambda Runtime API emulator running the real function binaries.
//!
//! # Layout
//!
//! - [`Moto`]: starts and stops a `moto_server` on a free port; SDK config pointing at it.
//! - [`Fleet`]: seeds launch templates, groups, instances, alarms and topics; reads state back.
//! - [`Emulator`]: `cargo lambda watch --only-lambda-apis` plus a function binary started with
//!   the runtime API pointing at it; invokes over HTTP.
//!
//! Binaries and tools are found, never built or installed here: `make test` builds and
//! `scripts/local-aws install` installs; a missing piece fails with a message saying which
//! command provides it.

pub mod iam;
pub mod terraform;

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, Tag as AsgTag};
use aws_sdk_ec2::types::{Filter, RequestLaunchTemplateData, ResourceType, Tag, TagSpecification};
use serde_json::Value;
use tokio::process::{Child, Command};

/// The region every test uses (each test has its own moto, so there is no sharing).
pub const REGION: &str = "us-east-1";
/// One of moto's built-in AMIs.
pub const AMI: &str = "ami-03cf127a";
/// The default opt-in tag.
pub const OPT_IN: (&str, &str) = ("faultline:enabled", "true");

/// The `instance_id`s of a list in a round result (`chosen`, `results`), sorted.
pub fn instance_ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["instance_id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The project venv holding moto and cargo-lambda (see `scripts/local-aws`).
pub fn venv() -> PathBuf {
    std::env::var_os("FAULTLINE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/faultline/venv")
        })
}

fn tool(name: &str) -> Result<PathBuf> {
    let p = venv().join("bin").join(name);
    if p.exists() {
        Ok(p)
    } else {
        bail!(
            "{} not found: run `scripts/local-aws install` (or `make test`, which does) to create \
             the venv, or point FAULTLINE_VENV at one that has it",
            p.display()
        )
    }
}

/// A built binary of this workspace, in the same target profile directory as this executable.
pub fn built_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // Test executables live in target/<profile>/deps/, other binaries in target/<profile>/.
    let dir = exe
        .parent()
        .map(|d| {
            if d.ends_with("deps") {
                d.parent().unwrap_or(d)
            } else {
                d
            }
        })
        .ok_or_else(|| anyhow!("cannot locate the target directory from {}", exe.display()))?;
    let p = dir.join(name);
    if p.exists() {
        Ok(p)
    } else {
        bail!(
            "{} not found: build the binaries first (`cargo build --workspace --bins`; `make test` does)",
            p.display()
        )
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

async fn wait_for_port(port: u16, what: &str, child: &mut Child, deadline: Duration) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited with {status} before listening on port {port}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{what} did not listen on port {port} within {deadline:?}")
}

/// Polls `f` until it returns `Some`, or fails after `deadline`.
pub async fn poll<T, F, Fut>(what: &str, deadline: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if start.elapsed() > deadline {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A private moto_server, stopped on drop.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    child: Child,
    http: reqwest::Client,
}

impl Moto {
    /// Starts moto_server on a free port and waits until it answers.
    pub async fn start() -> Result<Moto> {
        Self::start_with(&[]).await
    }

    /// Starts moto_server with extra environment, e.g. `MOTO_IAM_LOAD_MANAGED_POLICIES=true`
    /// so that AWS managed policies exist (Terraform examples attach them).
    pub async fn start_with(env: &[(&str, &str)]) -> Result<Moto> {
        let bin = tool("moto_server")?;
        let port = free_port();
        let mut child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        wait_for_port(port, "moto_server", &mut child, Duration::from_secs(60)).await?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        // The port opens a moment before the app answers.
        let url = format!("{endpoint}/moto-api/data.json");
        poll("moto to answer", Duration::from_secs(30), || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                Ok(http
                    .get(&url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ()))
            }
        })
        .await?;
        Ok(Moto {
            endpoint,
            child,
            http,
        })
    }

    /// An SDK config pointing at this moto with static test credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "faultline-tests",
            ))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .read_timeout(Duration::from_secs(300))
                    .build(),
            )
            .load()
            .await
    }

    /// Writes (overwrites) a String parameter.
    pub async fn put_param(&self, name: &str, value: &str) -> Result<()> {
        aws_sdk_ssm::Client::new(&self.sdk_config().await)
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await?;
        Ok(())
    }

    /// The environment a function process needs to reach this moto.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// An EventBridge Scheduler schedule as moto stores it (`GetSchedule`'s JSON). moto routes
    /// REST APIs by the service in the signature's credential scope, so the request names it.
    pub async fn schedule(&self, group: &str, name: &str) -> Result<Value> {
        let v: Value = self
            .http
            .get(format!(
                "{}/schedules/{name}?groupName={group}",
                self.endpoint
            ))
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20261123/us-east-1/scheduler/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(v)
    }

    /// Everything moto holds (`GET /moto-api/data.json`).
    pub async fn data(&self) -> Result<Value> {
        Ok(self
            .http
            .get(format!("{}/moto-api/data.json", self.endpoint))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// The messages SNS accepted for `topic_arn`, oldest first.
    pub async fn sns_messages(&self, topic_arn: &str) -> Result<Vec<SnsMessage>> {
        let data = self.data().await?;
        let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
        let Some(topic) = topics.iter().find(|t| t["arn"] == topic_arn) else {
            bail!("moto has no topic {topic_arn}");
        };
        Ok(topic["sent_notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|n| SnsMessage {
                body: n[1].as_str().unwrap_or_default().to_owned(),
                subject: n[2].as_str().unwrap_or_default().to_owned(),
                attributes: n[3]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    v["Value"].as_str().unwrap_or_default().to_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// One message as SNS received it.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsMessage {
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// String message attributes.
    pub attributes: BTreeMap<String, String>,
}

/// Seeds and reads a fleet through the real SDK.
pub struct Fleet {
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// Auto Scaling.
    pub asg: aws_sdk_autoscaling::Client,
    /// SSM.
    pub ssm: aws_sdk_ssm::Client,
    /// SNS.
    pub sns: aws_sdk_sns::Client,
    /// CloudWatch.
    pub cw: aws_sdk_cloudwatch::Client,
    template: String,
}

fn tags_of(pairs: &[(&str, &str)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect()
}

impl Fleet {
    /// Clients on `conf` and a launch template to build groups from.
    pub async fn new(conf: &SdkConfig) -> Result<Fleet> {
        let fleet = Fleet {
            ec2: aws_sdk_ec2::Client::new(conf),
            asg: aws_sdk_autoscaling::Client::new(conf),
            ssm: aws_sdk_ssm::Client::new(conf),
            sns: aws_sdk_sns::Client::new(conf),
            cw: aws_sdk_cloudwatch::Client::new(conf),
            template: "faultline-test-lt".to_owned(),
        };
        fleet
            .ec2
            .create_launch_template()
            .launch_template_name(&fleet.template)
            .launch_template_data(
                RequestLaunchTemplateData::builder()
                    .image_id(AMI)
                    .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                    .build(),
            )
            .send()
            .await?;
        Ok(fleet)
    }

    /// Launches `n` standalone instances with `tags`; returns their ids.
    pub async fn instances(&self, n: i32, tags: &[(&str, &str)]) -> Result<Vec<String>> {
        let mut req = self
            .ec2
            .run_instances()
            .image_id(AMI)
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .min_count(n)
            .max_count(n);
        if !tags.is_empty() {
            req = req.tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .set_tags(Some(tags_of(tags)))
                    .build(),
            );
        }
        let out = req.send().await?;
        Ok(out
            .instances()
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect())
    }

    /// Creates a group from the launch template; `tags` propagate to its instances. Returns
    /// its instance ids.
    pub async fn group(
        &self,
        name: &str,
        min: i32,
        desired: i32,
        max: i32,
        tags: &[(&str, &str)],
    ) -> Result<Vec<String>> {
        let asg_tags: Vec<AsgTag> = tags
            .iter()
            .map(|(k, v)| {
                AsgTag::builder()
                    .key(*k)
                    .value(*v)
                    .propagate_at_launch(true)
                    .resource_id(name)
                    .resource_type("auto-scaling-group")
                    .build()
            })
            .collect();
        self.asg
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_name(&self.template)
                    .build(),
            )
            .min_size(min)
            .max_size(max)
            .desired_capacity(desired)
            .availability_zones("us-east-1a")
            .availability_zones("us-east-1b")
            .set_tags(Some(asg_tags))
            .send()
            .await?;
        self.group_members(name).await
    }

    /// A group's current member ids.
    pub async fn group_members(&self, name: &str) -> Result<Vec<String>> {
        let out = self
            .asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await?;
        let g = out
            .auto_scaling_groups()
            .first()
            .ok_or_else(|| anyhow!("no group {name}"))?;
        Ok(g.instances()
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect())
    }

    /// Every instance's state, by id.
    pub async fn states(&self) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        let mut pages = self.ec2.describe_instances().into_paginator().send();
        while let Some(page) = pages.next().await {
            for r in page?.reservations() {
                for i in r.instances() {
                    if let (Some(id), Some(s)) = (i.instance_id(), i.state().and_then(|s| s.name()))
                    {
                        out.insert(id.to_owned(), s.as_str().to_owned());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Ids of instances in `state` among `ids`.
    pub async fn in_state(&self, ids: &[String], state: &str) -> Result<Vec<String>> {
        let states = self.states().await?;
        Ok(ids
            .iter()
            .filter(|id| states.get(*id).map(String::as_str) == Some(state))
            .cloned()
            .collect())
    }

    /// Instances of `state` carrying tag `k=v`.
    pub async fn count_tagged(&self, k: &str, v: &str, state: &str) -> Result<usize> {
        let mut n = 0;
        let mut pages = self
            .ec2
            .describe_instances()
            .filters(Filter::builder().name(format!("tag:{k}")).values(v).build())
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values(state)
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            n += page?
                .reservations()
                .iter()
                .map(|r| r.instances().len())
                .sum::<usize>();
        }
        Ok(n)
    }

    /// Creates an SNS topic; returns its ARN.
    pub async fn topic(&self, name: &str) -> Result<String> {
        Ok(self
            .sns
            .create_topic()
            .name(name)
            .send()
            .await?
            .topic_arn
            .unwrap_or_default())
    }

    /// Creates a metric alarm (moto starts it in `OK`).
    pub async fn alarm(&self, name: &str) -> Result<()> {
        self.cw
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("faultline-tests")
            .metric_name("Errors")
            .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(
                aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold,
            )
            .send()
            .await?;
        Ok(())
    }

    /// Forces an alarm's state.
    pub async fn set_alarm(
        &self,
        name: &str,
        state: aws_sdk_cloudwatch::types::StateValue,
    ) -> Result<()> {
        self.cw
            .set_alarm_state()
            .alarm_name(name)
            .state_value(state)
            .state_reason("set by a test")
            .send()
            .await?;
        Ok(())
    }

    /// Writes a String parameter.
    pub async fn put_param(&self, name: &str, value: &str) -> Result<()> {
        self.ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await?;
        Ok(())
    }

    /// Every parameter under `path` (recursive), name → value.
    pub async fn params_under(&self, path: &str) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let mut pages = self
            .ssm
            .get_parameters_by_path()
            .path(path)
            .recursive(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for p in page?.parameters() {
                out.insert(
                    p.name().unwrap_or_default().to_owned(),
                    p.value().unwrap_or_default().to_owned(),
                );
            }
        }
        Ok(out)
    }

    /// Turns on termination protection for an instance.
    pub async fn protect(&self, id: &str) -> Result<()> {
        self.ec2
            .modify_instance_attribute()
            .instance_id(id)
            .disable_api_termination(
                aws_sdk_ec2::types::AttributeBooleanValue::builder()
                    .value(true)
                    .build(),
            )
            .send()
            .await?;
        Ok(())
    }
}

/// The Lambda Runtime API emulator (`cargo lambda watch --only-lambda-apis`) with one function
/// binary attached to it. Both stop on drop.
pub struct Emulator {
    port: u16,
    watch: Child,
    function: Child,
    http: reqwest::Client,
}

impl Emulator {
    /// Starts the emulator and the built binary `bin` with `env` (plus the variables
    /// lambda_runtime needs). The function's stderr goes to this process's stderr.
    pub async fn start(bin: &str, manifest: &str, env: &[(String, String)]) -> Result<Emulator> {
        Self::launch(bin, manifest, env, false).await
    }

    /// Starts the emulator and the built binary `bin` with `env` (plus the variables
    /// lambda_runtime needs); the function's output is inherited, or piped when `capture`.
    async fn launch(
        bin: &str,
        manifest: &str,
        env: &[(String, String)],
        capture: bool,
    ) -> Result<Emulator> {
        let output = || {
            if capture {
                Stdio::piped()
            } else {
                Stdio::inherit()
            }
        };
        let cargo_lambda = tool("cargo-lambda")?;
        let binary = built_binary(bin)?;
        let port = free_port();
        let path = format!(
            "{}:{}",
            cargo_lambda.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut watch = Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-P",
                &port.to_string(),
                "--manifest-path",
            ])
            .arg(workspace_root().join(manifest))
            .env("PATH", &path)
            .current_dir(workspace_root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting `cargo lambda watch`")?;
        wait_for_port(
            port,
            "cargo lambda watch",
            &mut watch,
            Duration::from_secs(60),
        )
        .await?;
        let function = Command::new(&binary)
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .stdout(output())
            .stderr(output())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Emulator {
            port,
            watch,
            function,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()?,
        })
    }

    /// Invokes the function with a raw body; returns the HTTP status and the response JSON
    /// (the result, or the error object `{errorType, errorMessage}`).
    pub async fn invoke_raw(&mut self, body: &str) -> Result<(u16, Value)> {
        if let Some(status) = self.function.try_wait()? {
            bail!("the function process exited with {status}");
        }
        let resp = self
            .http
            .post(format!(
                "http://127.0.0.1:{}/2015-03-31/functions/_/invocations",
                self.port
            ))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .context("invoking through the emulator")?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, json))
    }

    /// Whether the function process is still running.
    pub fn function_alive(&mut self) -> bool {
        matches!(self.function.try_wait(), Ok(None))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.function.start_kill();
        let _ = self.watch.start_kill();
    }
}

// ---------------------------------------------------------------------------------------------
// Recovery timer and notifier helpers: a local Slack webhook server, and the emulator with the
// function's log lines captured.

/// One request the local webhook server received.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Request path (the secret part of a Slack webhook URL).
    pub path: String,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

/// A scripted reply of the local webhook server.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl Reply {
    /// `200 ok`, what Slack answers.
    pub fn ok() -> Reply {
        Reply::status(200, "ok")
    }

    /// A status with a body.
    pub fn status(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: body.to_owned(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
}

/// A local stand-in for Slack's incoming-webhook endpoint on 127.0.0.1: captures each POST and
/// answers from a script (then `200 ok`). Stopped on drop.
pub struct SlackServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<Captured>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SlackServer {
    /// Starts the server with `script` replies for the first requests.
    pub async fn start(script: Vec<Reply>) -> Result<SlackServer> {
        use std::sync::{Arc, Mutex};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let requests: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let script = Arc::new(Mutex::new(std::collections::VecDeque::from(script)));
        let reqs = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (reqs, script) = (reqs.clone(), script.clone());
                tokio::spawn(async move {
                    let _ = serve_one(sock, reqs, script).await;
                });
            }
        });
        Ok(SlackServer {
            base,
            requests,
            task,
        })
    }

    /// What it received so far.
    pub fn requests(&self) -> Vec<Captured> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for SlackServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_one(
    mut sock: tokio::net::TcpStream,
    reqs: std::sync::Arc<std::sync::Mutex<Vec<Captured>>>,
    script: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<Reply>>>,
) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let at = Instant::now();
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_default()
        .to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..(head_end + len).min(buf.len())]).to_string();
    reqs.lock().unwrap().push(Captured {
        path,
        headers,
        body,
        at,
    });
    let reply = script.lock().unwrap().pop_front().unwrap_or_else(Reply::ok);
    let mut out = format!(
        "HTTP/1.1 {} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&reply.body);
    sock.write_all(out.as_bytes()).await?;
    sock.shutdown().await?;
    Ok(())
}

/// Log lines a function process wrote (stdout and stderr), also echoed to this process's
/// stderr.
#[derive(Debug, Clone, Default)]
pub struct Logs(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Logs {
    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Waits until a line contains every one of `needles`; returns it.
    pub async fn wait_for(&self, needles: &[&str], deadline: Duration) -> Result<String> {
        poll(&format!("a log line with {needles:?}"), deadline, || {
            let found = self
                .lines()
                .into_iter()
                .find(|l| needles.iter().all(|n| l.contains(n)));
            async move { Ok(found) }
        })
        .await
    }

    fn follow<R: tokio::io::AsyncRead + Unpin + Send + 'static>(&self, r: R) {
        use tokio::io::AsyncBufReadExt;
        let lines = self.0.clone();
        tokio::spawn(async move {
            let mut r = tokio::io::BufReader::new(r).lines();
            while let Ok(Some(l)) = r.next_line().await {
                eprintln!("{l}");
                lines.lock().unwrap().push(l);
            }
        });
    }
}

impl Emulator {
    /// As [`Emulator::start`], with the function's stdout and stderr captured into [`Logs`].
    pub async fn start_capturing(
        bin: &str,
        manifest: &str,
        env: &[(String, String)],
    ) -> Result<(Emulator, Logs)> {
        let mut emulator = Self::launch(bin, manifest, env, true).await?;
        let logs = Logs::default();
        logs.follow(emulator.function.stdout.take().expect("piped"));
        logs.follow(emulator.function.stderr.take().expect("piped"));
        Ok((emulator, logs))
    }
}

//! A private `moto_server` per test, so cases never see each other's resources: starting and
//! stopping it, an SDK config pointing at it, and reading back what it holds (parameters,
//! schedules, the messages SNS accepted).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::paths::tool;
use crate::wait::{free_port, poll, wait_for_port};

/// The region every test uses (each test has its own moto, so there is no sharing).
pub const REGION: &str = "us-east-1";

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
        // moto_server with DynamoDB's conditional writes made atomic, as in AWS (moto checks
        // and writes without a lock on its request threads): scripts/moto-server.py.
        let bin = tool("python")?;
        let script = crate::paths::workspace_root().join("scripts/moto-server.py");
        let port = free_port();
        let mut child = Command::new(&bin)
            .arg(&script)
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
        put_string_param(
            &aws_sdk_ssm::Client::new(&self.sdk_config().await),
            name,
            value,
        )
        .await
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

/// Writes (overwrites) the String parameter `name` through `ssm`.
pub(crate) async fn put_string_param(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    value: &str,
) -> Result<()> {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await?;
    Ok(())
}

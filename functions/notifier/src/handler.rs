//! The notifier's handler: fetch the webhook URL once, post each SNS message to Slack with
//! retries, and fail the invocation when Slack cannot take it, so SNS retries and, in the end,
//! its dead-letter queue keeps the message.

use std::time::{Duration, Instant};

use faultline_core::aws::{ssm, AwsError};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::OnceCell;
use tracing::{error, info, warn};

use crate::config::NotifierConfig;
use crate::slack::{self, Next, SnsEvent};

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    /// The payload is not an SNS event.
    #[error("not an SNS event: {0}. Subscribe this function to the faultline topic")]
    InvalidEvent(String),
    /// The webhook parameter is missing or does not hold a usable URL.
    #[error("{0}")]
    WebhookConfig(String),
    /// Reading the parameter failed.
    #[error("{0}. Check the function's ssm:GetParameter and kms:Decrypt permissions")]
    Aws(#[from] AwsError),
    /// Slack did not take the message.
    #[error("{0}")]
    SlackFailed(String),
}

impl From<NotifierError> for Diagnostic {
    fn from(e: NotifierError) -> Diagnostic {
        let error_type = match e {
            NotifierError::InvalidEvent(_) => "InvalidEvent",
            NotifierError::WebhookConfig(_) => "WebhookConfig",
            NotifierError::Aws(_) => "AwsError",
            NotifierError::SlackFailed(_) => "SlackFailed",
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// The webhook URL. Its `Debug` is redacted so it cannot leak through a log of a struct.
#[derive(Clone)]
pub struct Webhook(hyper::Uri);

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Webhook(<redacted>)")
    }
}

impl Webhook {
    /// Validates a webhook URL: https, or http to a loopback address (local tests). Errors never
    /// contain the URL.
    pub fn parse(s: &str) -> Result<Webhook, String> {
        let url: hyper::Uri = s
            .trim()
            .parse()
            .map_err(|e| format!("the webhook parameter does not hold a URL ({e})"))?;
        let loopback = matches!(url.host(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match url.scheme_str() {
            Some("https") if url.host().is_some() => Ok(Webhook(url)),
            Some("http") if loopback => Ok(Webhook(url)),
            other => Err(format!(
                "the webhook parameter holds a {} URL; Slack webhooks are https://hooks.slack.com/services/...",
                other.unwrap_or("relative")
            )),
        }
    }
}

/// One message delivered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivered {
    /// SNS message id.
    pub message_id: String,
    /// The `event` attribute.
    pub event: String,
    /// Attempts it took.
    pub attempts: u32,
}

/// The notifier: SSM client, settings, one HTTP client, and the webhook once fetched.
pub struct Notifier {
    ssm: aws_sdk_ssm::Client,
    settings: NotifierConfig,
    http: Https,
    webhook: OnceCell<Webhook>,
}

type Https = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<bytes::Bytes>,
>;

/// One HTTPS client with the system's roots (an empty store, and a warning, without them).
fn https_client() -> Https {
    // The provider the AWS SDK builds (aws-lc-rs), named explicitly: no process-wide default.
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = match hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider.clone())
    {
        Ok(b) => b,
        Err(e) => {
            warn!(error = %e, "no CA certificates found: posts to https webhooks will fail");
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .expect("aws-lc-rs supports the default TLS versions")
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
        }
    };
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(3)));
    let https = builder.https_or_http().enable_http1().wrap_connector(http);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https)
}

impl Notifier {
    /// A notifier reading its webhook through `ssm`.
    pub fn new(ssm: aws_sdk_ssm::Client, settings: NotifierConfig) -> anyhow::Result<Self> {
        // The TLS stack is built during init, not on the first message.
        Ok(Self {
            ssm,
            settings,
            http: https_client(),
            webhook: OnceCell::new(),
        })
    }

    /// Warms up during init (billed at full CPU, not to the first message): resolves
    /// credentials, opens the connection to SSM and reads the webhook once. A failure only
    /// warns: the first message retries the read and fails, so SNS keeps it.
    pub async fn warm(&self) {
        if let Err(e) = self.webhook().await {
            warn!(error = %e, "warm-up read of the webhook failed; the first message will retry");
        }
    }

    async fn webhook(&self) -> Result<&Webhook, NotifierError> {
        self.webhook
            .get_or_try_init(|| async {
                let name = &self.settings.webhook_param;
                let value = ssm::get_decrypted(&self.ssm, name).await?.ok_or_else(|| {
                    NotifierError::WebhookConfig(format!(
                        "the SSM parameter {name} does not exist: create it as a SecureString \
                         holding the Slack incoming-webhook URL"
                    ))
                })?;
                let hook = Webhook::parse(&value)
                    .map_err(|e| NotifierError::WebhookConfig(format!("{e} (parameter {name})")))?;
                info!(parameter = %name, "webhook loaded from SSM");
                Ok(hook)
            })
            .await
    }

    /// Handles one invocation: every record in the SNS event.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Vec<Delivered>, NotifierError> {
        // The real deadline caps the retry budget; an unset or past one (local emulators) does not.
        let left = event
            .context
            .deadline()
            .duration_since(std::time::SystemTime::now())
            .ok()
            .map(|d| d.saturating_sub(Duration::from_secs(1)))
            .filter(|d| !d.is_zero())
            .map_or(self.settings.retry_budget, |d| {
                d.min(self.settings.retry_budget)
            });
        let ev: SnsEvent = serde_json::from_value(event.payload).map_err(|e| {
            error!(error = %e, decision = "invalid_event", "not an SNS event");
            NotifierError::InvalidEvent(e.to_string())
        })?;
        let hook = self
            .webhook()
            .await
            .inspect_err(|e| error!(error = %e, "no webhook"))?;
        let mut out = Vec::new();
        for r in ev.records {
            out.push(self.post(hook, &r.sns, left).await?);
        }
        Ok(out)
    }

    async fn post(
        &self,
        hook: &Webhook,
        m: &slack::SnsMessage,
        budget: Duration,
    ) -> Result<Delivered, NotifierError> {
        let body = bytes::Bytes::from(slack::payload(m).to_string());
        let start = Instant::now();
        let experiment = m
            .attributes
            .get("experiment")
            .map(|a| a.value.clone())
            .unwrap_or_default();
        for attempt in 1u32.. {
            let req = hyper::Request::post(hook.0.clone())
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(http_body_util::Full::new(body.clone()))
                .map_err(|e| NotifierError::SlackFailed(format!("building the request: {e}")))?;
            let sent = tokio::time::timeout(Duration::from_secs(5), self.http.request(req)).await;
            let (status, retry_after) = match sent {
                Ok(Ok(resp)) => {
                    let ra = resp
                        .headers()
                        .get(hyper::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    (Some(resp.status().as_u16()), ra)
                }
                Ok(Err(e)) => {
                    // Only the top-level message, never the request or its URL.
                    warn!(error = %e, connect = e.is_connect(), attempt, "posting to Slack failed");
                    (None, None)
                }
                Err(_) => {
                    warn!(attempt, "posting to Slack timed out after 5 s");
                    (None, None)
                }
            };
            let left = budget.saturating_sub(start.elapsed());
            match slack::next(status, retry_after.as_deref(), attempt, left) {
                Next::Done => {
                    info!(message_id = %m.message_id, experiment = %experiment, event = m.event(),
                          status, attempts = attempt, decision = "posted", "posted to Slack");
                    return Ok(Delivered {
                        message_id: m.message_id.clone(),
                        event: m.event().to_owned(),
                        attempts: attempt,
                    });
                }
                Next::Retry(wait) => {
                    warn!(message_id = %m.message_id, status, retry_after = retry_after.as_deref().unwrap_or(""),
                          wait_ms = wait.as_millis() as u64, attempt, decision = "retry", "Slack did not take the message; retrying");
                    tokio::time::sleep(wait).await;
                }
                Next::Fail(why) => {
                    error!(message_id = %m.message_id, experiment = %experiment, status, attempts = attempt,
                           error = %why, decision = "failed", "Slack did not take the message; failing so SNS keeps it");
                    return Err(NotifierError::SlackFailed(why));
                }
            }
        }
        unreachable!("the loop returns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_are_https_or_loopback_and_never_printed() {
        let h = Webhook::parse("https://hooks.slack.com/services/T0/B0/secret").unwrap();
        assert!(!format!("{h:?}").contains("secret"));
        assert!(Webhook::parse("http://127.0.0.1:9/services/x").is_ok());
        let e = Webhook::parse("http://hooks.slack.com/services/T0/B0/secret").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        let e = Webhook::parse("not a url secret").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }
}

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
    /// Validates a webhook URL: https to a host in `settings.slack_hosts`; a loopback address
    /// (http or https) only when `settings.allow_loopback` (local tests). Errors name the host,
    /// never the URL (its path is the secret).
    pub fn parse(s: &str, settings: &NotifierConfig) -> Result<Webhook, String> {
        let url: hyper::Uri = s
            .trim()
            .parse()
            .map_err(|e| format!("the webhook parameter does not hold a URL ({e})"))?;
        let Some(host) = url.host().map(str::to_ascii_lowercase) else {
            return Err(format!(
                "the webhook parameter holds a URL with no host; Slack webhooks are \
                 https://{}/services/...",
                crate::config::DEFAULT_SLACK_HOST
            ));
        };
        let loopback = is_loopback(&host);
        let scheme = url.scheme_str();
        if loopback {
            return match scheme {
                Some("http" | "https") if settings.allow_loopback => Ok(Webhook(url)),
                _ => Err(format!(
                    "the webhook parameter points at the loopback host {host}: refused unless {}=true \
                     (local tests only)",
                    crate::config::vars::ALLOW_LOOPBACK
                )),
            };
        }
        if scheme != Some("https") {
            return Err(format!(
                "the webhook parameter holds a {} URL to {host}; Slack webhooks are \
                 https://{}/services/...",
                scheme.unwrap_or("relative"),
                crate::config::DEFAULT_SLACK_HOST
            ));
        }
        if !settings.slack_hosts.contains(&host) {
            return Err(format!(
                "the webhook parameter points at {host}, which is not an allowed Slack host ({}); \
                 add it to {} if it really is your Slack",
                settings.slack_hosts.join(", "),
                crate::config::vars::SLACK_HOSTS
            ));
        }
        Ok(Webhook(url))
    }
}

/// Whether `host` (lower case, as in a URI: IPv6 in brackets) is a loopback address.
fn is_loopback(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback() || ip.is_unspecified())
        .unwrap_or(false)
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
                let hook = Webhook::parse(&value, &self.settings)
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
        let ev = SnsEvent::parse(event.payload).map_err(|e| {
            error!(error = %e, decision = "invalid_event", "not an SNS event");
            NotifierError::InvalidEvent(e)
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
    fn webhooks_are_https_to_slack_or_loopback_when_allowed_and_never_printed() {
        let prod = NotifierConfig::default();
        let test = NotifierConfig {
            allow_loopback: true,
            ..NotifierConfig::default()
        };
        let h = Webhook::parse("https://hooks.slack.com/services/T0/B0/secret", &prod).unwrap();
        assert!(!format!("{h:?}").contains("secret"));
        assert!(Webhook::parse("https://HOOKS.slack.com/services/T0/B0/secret", &prod).is_ok());
        // Any other https host is refused, naming the host and never the path.
        for url in [
            "https://evil.example.com/services/T0/B0/secret",
            "https://hooks.slack.com.evil.example/services/T0/B0/secret",
            "https://slack.com/services/T0/B0/secret",
        ] {
            let e = Webhook::parse(url, &prod).unwrap_err();
            let host = url
                .trim_start_matches("https://")
                .split('/')
                .next()
                .unwrap();
            assert!(e.contains(host), "{e}");
            assert!(e.contains("FAULTLINE_SLACK_HOSTS"), "{e}");
            assert!(!e.contains("secret"), "{e}");
        }
        // Loopback, http or https, only under the explicit test setting.
        for url in [
            "http://127.0.0.1:9/services/x",
            "https://127.0.0.1:9/services/x",
            "http://localhost:9/services/x",
            "http://[::1]:9/services/x",
            "http://127.1.2.3:9/services/x",
        ] {
            let e = Webhook::parse(url, &prod).unwrap_err();
            assert!(e.contains("loopback"), "{e}");
            assert!(e.contains("FAULTLINE_ALLOW_LOOPBACK_WEBHOOK"), "{e}");
            assert!(Webhook::parse(url, &test).is_ok(), "{url}");
        }
        // The loopback setting does not open other hosts.
        assert!(Webhook::parse("https://evil.example.com/services/x", &test).is_err());
        let allowed = NotifierConfig {
            slack_hosts: vec!["hooks.example.org".to_owned()],
            ..NotifierConfig::default()
        };
        assert!(Webhook::parse("https://hooks.example.org/services/x", &allowed).is_ok());
        assert!(Webhook::parse("https://hooks.slack.com/services/x", &allowed).is_err());
        let e = Webhook::parse("http://hooks.slack.com/services/T0/B0/secret", &prod).unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        let e = Webhook::parse("not a url secret", &prod).unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }
}

//! The HTTP client: one pooled hyper client for the whole run (http, and https through rustls
//! with the system's roots), and [`Client::send`], which turns one request into an
//! [`RequestOutcome`] and never fails.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use tracing::{debug, warn};

use crate::config::{Config, OkStatus};
use crate::stats::RequestOutcome;

type Inner =
    hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Sends the run's request; cheap to clone (one shared connection pool).
#[derive(Clone)]
pub struct Client {
    inner: Inner,
    uri: hyper::Uri,
    method: hyper::Method,
    timeout: Duration,
    ok: Arc<OkStatus>,
    warned: Arc<AtomicBool>,
}

const USER_AGENT: &str = concat!("faultline-traffic/", env!("CARGO_PKG_VERSION"));

impl Client {
    /// A client for `cfg`'s target, keeping up to `--concurrency` idle connections.
    pub fn new(cfg: &Config) -> Self {
        // The provider the AWS SDK builds (aws-lc-rs), named explicitly: no process default.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = match hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider.clone())
        {
            Ok(b) => b,
            Err(e) => {
                if cfg.target.tls {
                    warn!(error = %e, "no CA certificates found: https requests will fail");
                }
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                    rustls::ClientConfig::builder_with_provider(provider)
                        .with_safe_default_protocol_versions()
                        .expect("aws-lc-rs supports the default TLS versions")
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                )
            }
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(cfg.timeout));
        let connector = builder.https_or_http().enable_http1().wrap_connector(http);
        let inner =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_max_idle_per_host(cfg.concurrency)
                .build(connector);
        Self {
            inner,
            uri: cfg.target.uri.clone(),
            method: cfg.method.clone(),
            timeout: cfg.timeout,
            ok: Arc::new(cfg.ok_status.clone()),
            warned: Arc::default(),
        }
    }

    /// Sends one request and reads the whole body, within the timeout.
    pub async fn send(&self) -> RequestOutcome {
        let start = Instant::now();
        let req = match hyper::Request::builder()
            .method(self.method.clone())
            .uri(self.uri.clone())
            .header(hyper::header::USER_AGENT, USER_AGENT)
            .body(Empty::<Bytes>::new())
        {
            Ok(r) => r,
            Err(e) => {
                debug!(error = %e, "cannot build the request");
                return RequestOutcome::Error;
            }
        };
        let exchange = async {
            let resp = self.inner.request(req).await?;
            let code = resp.status().as_u16();
            // Drain the body: the latency is to its end, and the connection goes back to the pool.
            let mut body = resp.into_body();
            while let Some(frame) = body.frame().await {
                frame?;
            }
            Ok::<u16, Box<dyn std::error::Error + Send + Sync>>(code)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(code)) => RequestOutcome::Status {
                code,
                ok: self.ok.accepts(code),
                latency: start.elapsed(),
            },
            Ok(Err(e)) => {
                if self.warned.swap(true, Ordering::Relaxed) {
                    debug!(error = %error_chain(&*e), "request failed");
                } else {
                    warn!(error = %error_chain(&*e), "request failed (more at RUST_LOG=debug)");
                }
                RequestOutcome::Error
            }
            Err(_) => RequestOutcome::Timeout(self.timeout),
        }
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

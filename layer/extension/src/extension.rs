//! The Extensions API side: register (for `SHUTDOWN` only, so no invocation waits on us) and
//! wait for the shutdown event. The first `event/next` call is what tells Lambda the extension
//! is ready, so the proxy listener is bound before [`register`] is called.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};

use crate::HttpClient;

/// The Extensions API version prefix.
pub const EXTENSION_PREFIX: &str = "/2020-01-01/extension";

/// Registers as `name` (the file name under `/opt/extensions`); returns the identifier.
pub async fn register(client: &HttpClient, base: &str, name: &str) -> Result<String, String> {
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("{base}{EXTENSION_PREFIX}/register"))
        .header("lambda-extension-name", name)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"events":["SHUTDOWN"]}"#)))
        .map_err(|e| e.to_string())?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| format!("register: {e}"))?;
    let status = resp.status();
    let id = resp
        .headers()
        .get("lambda-extension-identifier")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match id {
        Some(id) if status.is_success() => Ok(id),
        _ => Err(format!("register: status {status}, no identifier")),
    }
}

/// Waits for events until `SHUTDOWN` (returns `Ok`) or an error.
pub async fn run_until_shutdown(client: &HttpClient, base: &str, id: &str) -> Result<(), String> {
    // A pooled connection the other side has just closed fails the next request at once
    // (hyper's SendRequest error); a few quick retries ride that out instead of letting the
    // extension exit, which Lambda would count against the customer's function.
    const ATTEMPTS: u32 = 3;
    let mut failures = 0;
    loop {
        let req = Request::builder()
            .method(Method::GET)
            .uri(format!("{base}{EXTENSION_PREFIX}/event/next"))
            .header("lambda-extension-identifier", id)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let resp = match client.request(req).await {
            Ok(r) => {
                failures = 0;
                r
            }
            Err(e) => {
                failures += 1;
                if failures >= ATTEMPTS {
                    return Err(format!("event/next: {e} ({failures} attempts)"));
                }
                tracing::warn!(error = %e, attempt = failures, "event/next failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(failures)))
                    .await;
                continue;
            }
        };
        if !resp.status().is_success() {
            return Err(format!("event/next: status {}", resp.status()));
        }
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("event/next body: {e}"))?
            .to_bytes();
        let ev: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if ev["eventType"] == "SHUTDOWN" {
            return Ok(());
        }
    }
}

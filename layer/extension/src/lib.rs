//! The faultline extension: a Runtime API proxy between a Lambda function's runtime and the
//! real Runtime API, injecting faults on the way.
//!
//! # Layout
//!
//! - [`Proxy`]: forwards every runtime call (`/invocation/next`, `/response`, `/error`,
//!   `/init/error`, anything else) to the original `AWS_LAMBDA_RUNTIME_API` (keeping its base
//!   path) with all headers and bodies; on `next` it runs the fault engine and either hands
//!   the event to the runtime, or answers the invocation itself (status code, exception) and
//!   waits for the next one; on `response` it applies corruption.
//! - [`serve`]: the accept loop, taking its listener and a shutdown future (mini-redis style),
//!   so tests bind port 0 and run it in-process.
//! - [`extension`]: registration with the Extensions API and its event loop.
//!
//! The proxy never panics on upstream trouble: a failed upstream call becomes a 502 to the
//! runtime (after one retry on a fresh connection), so the function sees the same kind of
//! error it would see without the layer.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use faultline_layer_engine::effects::{self, INJECTED_ERROR_TYPE};
use faultline_layer_engine::{Engine, EventRef, Injection};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tracing::{debug, warn};

pub mod extension;

/// The Runtime API version prefix the runtime calls.
pub const RUNTIME_PREFIX: &str = "/2018-06-01/runtime";
/// Largest body the proxy carries (Lambda's limits are 6 MB buffered, 20 MB streamed).
pub const MAX_BODY: usize = 32 << 20;
/// The request-id header.
pub const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
/// The deadline header.
pub const DEADLINE: &str = "lambda-runtime-deadline-ms";

/// The HTTP client type the proxy and the extension loop share.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client for the local Runtime API: plain HTTP/1, pooled, no idle connections kept long.
pub fn http_client() -> HttpClient {
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(conn)
}

/// `AWS_LAMBDA_RUNTIME_API` as a base URL: `http://` added when missing (real Lambda gives
/// `host:port`), any base path kept (local emulators use one), no trailing slash.
pub fn upstream_base(runtime_api: &str) -> String {
    let s = runtime_api.trim().trim_end_matches('/');
    if s.starts_with("http://") || s.starts_with("https://") {
        s.to_owned()
    } else {
        format!("http://{s}")
    }
}

/// A buffered upstream answer.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (k, v) in from {
        if !hop_by_hop(k) {
            to.append(k.clone(), v.clone());
        }
    }
}

fn bad_gateway(msg: String) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"errorType": "FaultlineProxyError", "errorMessage": msg});
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r
}

/// The Runtime API proxy.
pub struct Proxy {
    engine: Arc<Engine>,
    base: String,
    client: HttpClient,
    /// Corruption to apply to the response of each request id.
    pending: Mutex<HashMap<String, Option<String>>>,
}

impl Proxy {
    /// A proxy to `base` (see [`upstream_base`]) driving `engine`.
    pub fn new(engine: Arc<Engine>, base: String) -> Proxy {
        Proxy {
            engine,
            base,
            client: http_client(),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Sends one request upstream; retries once on a fresh connection when the first attempt
    /// fails in transport (an upstream that closed a pooled connection).
    async fn forward(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Answer, String> {
        let uri = format!("{}{}", self.base, path_and_query);
        let mut last_err = String::new();
        for attempt in 0..2 {
            let mut req = Request::builder()
                .method(method.clone())
                .uri(&uri)
                .body(Full::new(body.clone()))
                .map_err(|e| format!("bad upstream request {uri}: {e}"))?;
            copy_headers(headers, req.headers_mut());
            match self.client.request(req).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    let body = Limited::new(body, MAX_BODY)
                        .collect()
                        .await
                        .map_err(|e| format!("reading upstream {uri}: {e}"))?
                        .to_bytes();
                    return Ok(Answer {
                        status: parts.status,
                        headers: parts.headers,
                        body,
                    });
                }
                Err(e) => {
                    debug!(attempt, error = %e, uri, "upstream call failed");
                    last_err = format!("upstream {uri}: {e:?}");
                }
            }
        }
        Err(last_err)
    }

    fn respond(a: Answer) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(a.body));
        *r.status_mut() = a.status;
        copy_headers(&a.headers, r.headers_mut());
        r
    }

    /// Serves one request from the runtime.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return bad_gateway(format!("reading the runtime's request: {e}")),
        };
        let pq = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_owned();
        let path = parts.uri.path();
        let result =
            if parts.method == Method::GET && path == format!("{RUNTIME_PREFIX}/invocation/next") {
                self.next(&parts.method, &pq, &parts.headers).await
            } else {
                let body = match result_id(path) {
                    Some((id, kind)) if parts.method == Method::POST => {
                        // The invocation ends here, either way: drop its pending corruption.
                        let c = self
                            .pending
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(id);
                        match c {
                            Some(replacement) if kind == ResultKind::Response => {
                                tracing::info!(source = "faultline", mode = "corruption", "inject");
                                Bytes::from(effects::corrupt(&body, replacement.as_deref()))
                            }
                            _ => body,
                        }
                    }
                    _ => body,
                };
                self.forward(&parts.method, &pq, &parts.headers, body)
                    .await
                    .map(Self::respond)
            };
        result.unwrap_or_else(|e| {
            warn!(source = "faultline", error = %e, "upstream Runtime API call failed");
            bad_gateway(e)
        })
    }

    /// How many invocations still have a corruption waiting for their response.
    pub fn pending_corruptions(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// `GET /invocation/next`: fetch the event, run the engine, and either hand the event to
    /// the runtime or answer the invocation here and fetch the next one.
    async fn next(
        &self,
        method: &Method,
        pq: &str,
        headers: &HeaderMap,
    ) -> Result<Response<Full<Bytes>>, String> {
        loop {
            let mut a = self.forward(method, pq, headers, Bytes::new()).await?;
            // Real Lambda always labels the event; the cargo-lambda emulator does not, and
            // awslambdaric's C++ client dies with SIGSEGV on an unlabelled event.
            if a.status == StatusCode::OK && !a.headers.contains_key(hyper::header::CONTENT_TYPE) {
                a.headers.insert(
                    hyper::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            if a.status != StatusCode::OK {
                return Ok(Self::respond(a));
            }
            let Some(id) = a
                .headers
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
            else {
                return Ok(Self::respond(a));
            };
            let arrived = self.engine.now();
            let deadline = a
                .headers
                .get(DEADLINE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map(|ms| effects::deadline_from_header(ms, arrived))
                .unwrap_or(arrived + Duration::from_secs(900));
            match self.engine.before(EventRef::Raw(&a.body), deadline).await {
                Injection::Run { corruption } => {
                    if let Some(c) = corruption {
                        self.pending
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(id, c);
                    }
                    return Ok(Self::respond(a));
                }
                Injection::Respond(v) => {
                    self.post_result(&id, "response", None, v).await?;
                }
                Injection::Fail(msg) => {
                    let err = effects::exception_error(&msg);
                    self.post_result(&id, "error", Some(INJECTED_ERROR_TYPE), err)
                        .await?;
                }
            }
        }
    }

    /// Answers invocation `id` on the runtime's behalf.
    async fn post_result(
        &self,
        id: &str,
        kind: &str,
        error_type: Option<&str>,
        body: serde_json::Value,
    ) -> Result<(), String> {
        let mut h = HeaderMap::new();
        h.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(t) = error_type.and_then(|t| HeaderValue::from_str(t).ok()) {
            h.insert("lambda-runtime-function-error-type", t);
        }
        let path = format!("{RUNTIME_PREFIX}/invocation/{id}/{kind}");
        let a = self
            .forward(&Method::POST, &path, &h, Bytes::from(body.to_string()))
            .await?;
        if !a.status.is_success() {
            warn!(source = "faultline", status = %a.status, request_id = id, "injected {kind} refused upstream");
        }
        Ok(())
    }
}

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResultKind {
    Response,
    Error,
}

/// The request id and outcome in `/2018-06-01/runtime/invocation/{id}/response` or
/// `.../{id}/error`.
fn result_id(path: &str) -> Option<(&str, ResultKind)> {
    let rest = path
        .strip_prefix(RUNTIME_PREFIX)?
        .strip_prefix("/invocation/")?;
    let (id, kind) = if let Some(id) = rest.strip_suffix("/response") {
        (id, ResultKind::Response)
    } else {
        (rest.strip_suffix("/error")?, ResultKind::Error)
    };
    (!id.is_empty() && !id.contains('/')).then_some((id, kind))
}

/// Accepts connections on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        warn!(source = "faultline", error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let proxy = proxy.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let proxy = proxy.clone();
                        async move { Ok::<_, Infallible>(proxy.handle(req).await) }
                    });
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await
                    {
                        debug!(error = %e, "runtime connection ended");
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_and_paths() {
        assert_eq!(upstream_base("127.0.0.1:9001"), "http://127.0.0.1:9001");
        assert_eq!(
            upstream_base("http://127.0.0.1:9001/.rt/"),
            "http://127.0.0.1:9001/.rt"
        );
        assert_eq!(
            result_id("/2018-06-01/runtime/invocation/abc-1/response"),
            Some(("abc-1", ResultKind::Response))
        );
        assert_eq!(
            result_id("/2018-06-01/runtime/invocation/abc/error"),
            Some(("abc", ResultKind::Error))
        );
        assert_eq!(result_id("/2018-06-01/runtime/invocation//response"), None);
        assert_eq!(result_id("/2018-06-01/runtime/invocation/a/b/error"), None);
        assert_eq!(result_id("/2018-06-01/runtime/init/error"), None);
    }
}

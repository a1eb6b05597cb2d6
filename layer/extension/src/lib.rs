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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use faultline_layer_engine::effects::{self, INJECTED_ERROR_TYPE};
use faultline_layer_engine::{Engine, EventRef, Injection};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tracing::{debug, warn, Level};
use tracing_subscriber::filter::Targets;

pub mod extension;

/// The Runtime API version prefix the runtime calls.
pub const RUNTIME_PREFIX: &str = "/2018-06-01/runtime";
/// Largest body the proxy carries (Lambda's limits are 6 MB buffered, 20 MB streamed).
pub const MAX_BODY: usize = 32 << 20;
/// Events at least this large (and at most [`MAX_BODY`], with a `Content-Length`) are streamed
/// to the runtime as they arrive instead of buffered first, when no fault needs to read the
/// event (no `match`): the runtime then receives the event while the proxy is still reading it,
/// instead of after (1.1 MB: see `layer/README.md`). Smaller events are buffered, so they leave
/// in one write.
pub const STREAM_FROM: usize = 64 << 10;
/// The request-id header.
pub const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
/// The deadline header.
pub const DEADLINE: &str = "lambda-runtime-deadline-ms";

/// What the proxy answers the runtime with: a buffered body, or an event streamed from upstream
/// (see [`STREAM_FROM`]).
pub type ProxyBody = Either<Full<Bytes>, Incoming>;

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

/// The extension's log filter from `RUST_LOG`: a level (`info`) or `target=level,...`, by
/// target and level only (span and field filters would bring the regex engines into the binary).
/// Empty means `info`; anything else that does not parse also means `info`, with the reason to
/// print.
pub fn log_filter(rust_log: &str) -> (Targets, Option<String>) {
    let info = || Targets::new().with_default(Level::INFO);
    if rust_log.trim().is_empty() {
        return (info(), None);
    }
    match rust_log.trim().parse::<Targets>() {
        Ok(t) => (t, None),
        Err(e) => (
            info(),
            Some(format!(
                "RUST_LOG={rust_log:?} is not `level` or `target=level,...` ({e}); logging at info"
            )),
        ),
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

fn bad_gateway(msg: String) -> Response<ProxyBody> {
    let body = serde_json::json!({"errorType": "FaultlineProxyError", "errorMessage": msg});
    let mut r = Response::new(Either::Left(Full::new(Bytes::from(body.to_string()))));
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
    /// Whether an invocation has been through the engine: from then on the configuration it
    /// uses is the one already loaded (or none), so it can be read here without waiting.
    warmed: AtomicBool,
}

impl Proxy {
    /// A proxy to `base` (see [`upstream_base`]) driving `engine`.
    pub fn new(engine: Arc<Engine>, base: String) -> Proxy {
        Proxy {
            engine,
            base,
            client: http_client(),
            pending: Mutex::new(HashMap::new()),
            warmed: AtomicBool::new(false),
        }
    }

    /// Sends one request upstream and reads the whole answer.
    async fn forward(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Answer, String> {
        let resp = self.send(method, path_and_query, headers, body).await?;
        let (parts, body) = resp.into_parts();
        let body = read_body(body, &self.base, path_and_query).await?;
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// Sends one request upstream and returns the answer's head (its body still to read);
    /// retries once on a fresh connection when the first attempt fails in transport (an
    /// upstream that closed a pooled connection).
    async fn send(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>, String> {
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
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    debug!(attempt, error = %e, uri, "upstream call failed");
                    last_err = format!("upstream {uri}: {e:?}");
                }
            }
        }
        Err(last_err)
    }

    fn respond(a: Answer) -> Response<ProxyBody> {
        Self::respond_with(a.status, &a.headers, Either::Left(Full::new(a.body)))
    }

    fn respond_with(
        status: StatusCode,
        headers: &HeaderMap,
        body: ProxyBody,
    ) -> Response<ProxyBody> {
        let mut r = Response::new(body);
        *r.status_mut() = status;
        copy_headers(headers, r.headers_mut());
        r
    }

    /// Serves one request from the runtime.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<ProxyBody> {
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
    ) -> Result<Response<ProxyBody>, String> {
        loop {
            let (mut parts, body) = self
                .send(method, pq, headers, Bytes::new())
                .await?
                .into_parts();
            // Real Lambda always labels the event; the cargo-lambda emulator does not, and
            // awslambdaric's C++ client dies with SIGSEGV on an unlabelled event.
            if parts.status == StatusCode::OK
                && !parts.headers.contains_key(hyper::header::CONTENT_TYPE)
            {
                parts.headers.insert(
                    hyper::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            let id = (parts.status == StatusCode::OK)
                .then(|| parts.headers.get(REQUEST_ID))
                .flatten()
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let Some(id) = id else {
                let body = read_body(body, &self.base, pq).await?;
                return Ok(Self::respond_with(
                    parts.status,
                    &parts.headers,
                    Either::Left(Full::new(body)),
                ));
            };
            // A large event goes through as it arrives unless a fault may read it; then the
            // engine sees no event (it reads none without a `match`).
            let stream = content_length(&parts.headers)
                .is_some_and(|n| (STREAM_FROM..=MAX_BODY).contains(&n))
                && self.warmed.load(Ordering::Acquire)
                && !self.engine.live().updates().current().needs_event();
            let (event, body) = if stream {
                (Bytes::new(), Some(body))
            } else {
                (read_body(body, &self.base, pq).await?, None)
            };
            let arrived = self.engine.now();
            let deadline = parts
                .headers
                .get(DEADLINE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map(|ms| effects::deadline_from_header(ms, arrived))
                .unwrap_or(arrived + Duration::from_secs(900));
            let injection = self.engine.before(EventRef::Raw(&event), deadline).await;
            self.warmed.store(true, Ordering::Release);
            let result = match injection {
                Injection::Run { corruption } => {
                    if let Some(c) = corruption {
                        self.pending
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(id, c);
                    }
                    let body = match body {
                        Some(incoming) => Either::Right(incoming),
                        None => Either::Left(Full::new(event)),
                    };
                    return Ok(Self::respond_with(parts.status, &parts.headers, body));
                }
                Injection::Respond(v) => (id, "response", None, v),
                Injection::Fail(msg) => (
                    id,
                    "error",
                    Some(INJECTED_ERROR_TYPE),
                    effects::exception_error(&msg),
                ),
            };
            if let Some(b) = body {
                // Read (and drop) the event the handler will not see, so its connection is
                // reused.
                read_body(b, &self.base, pq).await?;
            }
            let (id, kind, error_type, answer) = result;
            self.post_result(&id, kind, error_type, answer).await?;
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

/// Reads a whole upstream body (at most [`MAX_BODY`]).
async fn read_body(body: Incoming, base: &str, pq: &str) -> Result<Bytes, String> {
    Ok(Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("reading upstream {base}{pq}: {e}"))?
        .to_bytes())
}

/// The `Content-Length` of an answer, when it has one.
fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(hyper::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
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

    #[test]
    fn rust_log_by_level_and_target_and_info_otherwise() {
        use tracing::level_filters::LevelFilter;
        let (f, p) = log_filter("");
        assert!(p.is_none() && f.default_level() == Some(LevelFilter::INFO));
        let (f, p) = log_filter("debug");
        assert!(p.is_none() && f.default_level() == Some(LevelFilter::DEBUG));
        let (f, p) = log_filter("faultline_extension=debug,warn");
        assert!(p.is_none());
        assert!(f.would_enable("faultline_extension", &Level::DEBUG));
        assert!(!f.would_enable("hyper", &Level::INFO));
        // `EnvFilter`'s span and field syntax is not read: info, and a reason naming the variable.
        let (f, p) = log_filter("[request{id=1}]=trace");
        assert!(f.default_level() == Some(LevelFilter::INFO));
        assert!(p.is_some_and(|p| p.contains("RUST_LOG")), "no reason given");
    }

    /// A Runtime API whose every `next` is `event` (request id `big-N`, a `Content-Length`, no
    /// `Content-Type`, as the cargo-lambda emulator sends it); anything else gets 202.
    async fn upstream(event: Bytes) -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let (event, n) = (event.clone(), n.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (event, n) = (event.clone(), n.clone());
                        async move {
                            let mut r = Response::new(Full::new(Bytes::new()));
                            if req.uri().path().ends_with("/invocation/next") {
                                let i = n.fetch_add(1, Ordering::Relaxed);
                                *r.body_mut() = Full::new(event);
                                r.headers_mut().insert(
                                    REQUEST_ID,
                                    HeaderValue::from_str(&format!("big-{i}")).unwrap(),
                                );
                                r.headers_mut()
                                    .insert(DEADLINE, HeaderValue::from_static("600000"));
                            } else {
                                *r.status_mut() = StatusCode::ACCEPTED;
                            }
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        base
    }

    /// Large events reach the runtime byte for byte, labelled and with their length, whether
    /// buffered (the first, and any a `match` may read) or streamed (the rest).
    #[tokio::test]
    async fn large_events_arrive_whole_streamed_or_buffered() {
        use faultline_layer_engine::{Cadence, LiveConfig, MemorySource, SystemEngineClock};
        let event: Bytes = (0..(STREAM_FROM * 5 + 7))
            .map(|i| b"abcdefghijklmnopqrstuvwxyz"[i % 26])
            .collect::<Vec<u8>>()
            .into();
        for config in [
            r#"{"latency": {"enabled": true, "percentage": 0, "min_latency": 1, "max_latency": 2}}"#,
            r#"{"latency": {"enabled": true, "percentage": 0, "min_latency": 1, "max_latency": 2,
                "match": [{"path": "a", "value": "b"}]}}"#,
        ] {
            let base = upstream(event.clone()).await;
            let live = LiveConfig::new(
                Box::new(MemorySource::armed(Some(config))),
                Cadence {
                    idle: Duration::from_secs(60),
                    active: Duration::from_secs(5),
                    first_wait: Duration::from_secs(1),
                },
            );
            let tmp = std::env::temp_dir().join(format!("faultline-stream-{}", std::process::id()));
            let engine = Arc::new(Engine::new(live, Arc::new(SystemEngineClock), 1, tmp));
            let proxy = Arc::new(Proxy::new(engine, base));
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            tokio::spawn(serve(l, proxy, std::future::pending()));
            let http = reqwest::Client::new();
            for i in 0..3 {
                let r = http
                    .get(format!("http://{addr}{RUNTIME_PREFIX}/invocation/next"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                assert_eq!(r.headers()[REQUEST_ID], format!("big-{i}").as_str());
                assert_eq!(r.headers()["content-type"], "application/json");
                assert_eq!(r.content_length(), Some(event.len() as u64));
                assert!(
                    r.bytes().await.unwrap() == event,
                    "event {i} changed ({config})"
                );
            }
        }
    }
}

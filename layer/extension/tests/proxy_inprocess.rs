//! The proxy in-process against a hand-written Runtime API that records what it receives and
//! closes every connection after one response (without saying `Connection: close`, the rude
//! way), so each call after the first finds its pooled connection dead.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use faultline_extension::{serve, Proxy};
use faultline_layer_engine::{Cadence, Engine, LiveConfig, MemorySource, SystemEngineClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request the fake Runtime API received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

const NEXT_HEADERS: [(&str, &str); 7] = [
    ("Lambda-Runtime-Aws-Request-Id", "req-1"),
    ("Lambda-Runtime-Deadline-Ms", "1900000000000"),
    (
        "Lambda-Runtime-Invoked-Function-Arn",
        "arn:aws:lambda:us-east-1:123456789012:function:f",
    ),
    (
        "Lambda-Runtime-Trace-Id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    ),
    (
        "Lambda-Runtime-Client-Context",
        r#"{"client":{"app_title":"t"},"custom":{},"env":{}}"#,
    ),
    (
        "Lambda-Runtime-Cognito-Identity",
        r#"{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}"#,
    ),
    ("Content-Type", "application/json"),
];

async fn read_request(s: &mut TcpStream) -> Result<Option<Seen>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().context("request line")?.split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Seen {
        method,
        path,
        headers,
        body,
    }))
}

/// Serves: `next` → `event` with [`NEXT_HEADERS`]; extension `register` → id `ext-1`; `event/next`
/// → INVOKE, then SHUTDOWN; anything else → 202. Records every request,
/// then closes the connection.
async fn fake_runtime_api(event: Vec<u8>) -> Result<(String, Arc<Mutex<Vec<Seen>>>)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/.rt", l.local_addr()?);
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let rec = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let rec = rec.clone();
            let event = event.clone();
            tokio::spawn(async move {
                let Ok(Some(req)) = read_request(&mut s).await else {
                    return;
                };
                let ext_events = rec
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|r| r.path.ends_with("/extension/event/next"))
                    .count();
                let resp = if req.path.ends_with("/extension/register") {
                    b"HTTP/1.1 200 OK\r\nLambda-Extension-Identifier: ext-1\r\nContent-Length: 2\r\n\r\n{}".to_vec()
                } else if req.path.ends_with("/extension/event/next") {
                    let body = if ext_events == 0 {
                        r#"{"eventType":"INVOKE","requestId":"r","deadlineMs":1}"#
                    } else {
                        r#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":1}"#
                    };
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .into_bytes()
                } else if req.path.ends_with("/invocation/next") {
                    let mut head = String::from("HTTP/1.1 200 OK\r\n");
                    for (k, v) in NEXT_HEADERS {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    head.push_str(&format!("Content-Length: {}\r\n\r\n", event.len()));
                    let mut r = head.into_bytes();
                    r.extend_from_slice(&event);
                    r
                } else {
                    b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n".to_vec()
                };
                rec.lock().unwrap().push(req);
                let _ = s.write_all(&resp).await;
                let _ = s.shutdown().await;
                // Dropped here: the connection is closed after one response.
            });
        }
    });
    Ok((base, seen))
}

async fn proxy_to(base: String) -> Result<(String, tokio::sync::oneshot::Sender<()>)> {
    let (addr, stop, _) = proxy_with(base, "{}").await?;
    Ok((addr, stop))
}

async fn proxy_with(
    base: String,
    config: &str,
) -> Result<(String, tokio::sync::oneshot::Sender<()>, Arc<Proxy>)> {
    let live = LiveConfig::new(
        Box::new(MemorySource::armed(Some(config))),
        Cadence {
            idle: Duration::from_secs(60),
            active: Duration::from_secs(5),
            first_wait: Duration::from_secs(1),
        },
    );
    let engine = Arc::new(Engine::new(
        live,
        Arc::new(SystemEngineClock),
        1,
        std::env::temp_dir(),
    ));
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = format!("http://{}", l.local_addr()?);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let proxy = Arc::new(Proxy::new(engine, base));
    tokio::spawn(serve(l, proxy.clone(), async move {
        let _ = rx.await;
    }));
    Ok((addr, tx, proxy))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_ending_in_error_leaves_no_pending_corruption() -> Result<()> {
    let (base, seen) = fake_runtime_api(br#"{"path": "/x"}"#.to_vec()).await?;
    let (addr, _stop, proxy) = proxy_with(
        base,
        r#"{"corruption": {"enabled": true, "body": "{\"error\": \"corrupted\"}"}}"#,
    )
    .await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let error = r#"{"errorType":"TestError","errorMessage":"m"}"#;
    for round in 0..3 {
        let r = http
            .get(format!("{addr}/2018-06-01/runtime/invocation/next"))
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        r.bytes().await?;
        assert_eq!(
            proxy.pending_corruptions(),
            1,
            "round {round}: corruption armed"
        );
        let r = http
            .post(format!("{addr}/2018-06-01/runtime/invocation/req-1/error"))
            .header("Content-Type", "application/json")
            .body(error)
            .send()
            .await?;
        assert_eq!(r.status(), 202);
        assert_eq!(
            proxy.pending_corruptions(),
            0,
            "round {round}: entry leaked"
        );
    }
    let seen = seen.lock().unwrap().clone();
    let errors: Vec<&Seen> = seen.iter().filter(|s| s.path.ends_with("/error")).collect();
    assert_eq!(errors.len(), 3);
    assert!(
        errors.iter().all(|e| e.body == error.as_bytes()),
        "an error report is forwarded as is, never corrupted"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_every_header_both_ways_and_survives_upstream_closing_connections() -> Result<()> {
    let event = br#"{"path": "/x", "body": "{\"a\": 1}"}"#.to_vec();
    let (base, seen) = fake_runtime_api(event.clone()).await?;
    let (proxy, _stop) = proxy_to(base).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    for round in 0..5 {
        let r = http
            .get(format!("{proxy}/2018-06-01/runtime/invocation/next"))
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        for (k, v) in NEXT_HEADERS {
            assert_eq!(
                r.headers().get(k).and_then(|h| h.to_str().ok()),
                Some(v),
                "round {round}: header {k}"
            );
        }
        assert_eq!(r.bytes().await?.as_ref(), &event[..]);

        let r = http
            .post(format!("{proxy}/2018-06-01/runtime/invocation/req-1/error"))
            .header("Lambda-Runtime-Function-Error-Type", "Runtime.TestError")
            .header("Content-Type", "application/json")
            .body(r#"{"errorType":"TestError","errorMessage":"m"}"#)
            .send()
            .await?;
        assert_eq!(r.status(), 202, "round {round}");
        assert_eq!(r.text().await?, "{\"status\":\"OK\"}\n");
        let r = http
            .post(format!("{proxy}/2018-06-01/runtime/init/error"))
            .header("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
            .body("{}")
            .send()
            .await?;
        assert_eq!(r.status(), 202);
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 15, "every call arrived exactly once");
    let errors: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path == "/.rt/2018-06-01/runtime/invocation/req-1/error")
        .collect();
    assert_eq!(errors.len(), 5);
    for e in errors {
        assert_eq!(e.method, "POST");
        assert_eq!(
            e.header("Lambda-Runtime-Function-Error-Type"),
            Some("Runtime.TestError")
        );
        assert_eq!(e.body, br#"{"errorType":"TestError","errorMessage":"m"}"#);
    }
    assert!(seen
        .iter()
        .any(|s| s.path == "/.rt/2018-06-01/runtime/init/error"
            && s.header("Lambda-Runtime-Function-Error-Type") == Some("Runtime.InitError")));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carries_a_6_mb_event_and_a_6_mb_response_byte_for_byte() -> Result<()> {
    let six_mb: Vec<u8> = (0..6 * 1024 * 1024)
        .map(|i: usize| b"abcdefghijklmnopqrstuvwxyz0123456789"[i % 36])
        .collect();
    let mut event = b"\"".to_vec();
    event.extend_from_slice(&six_mb);
    event.push(b'"');
    let (base, seen) = fake_runtime_api(event.clone()).await?;
    let (proxy, _stop) = proxy_to(base).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let got = http
        .get(format!("{proxy}/2018-06-01/runtime/invocation/next"))
        .send()
        .await?
        .bytes()
        .await?;
    assert!(got.as_ref() == &event[..], "the 6 MB event changed");
    let r = http
        .post(format!(
            "{proxy}/2018-06-01/runtime/invocation/req-1/response"
        ))
        .body(event.clone())
        .send()
        .await?;
    assert_eq!(r.status(), 202);
    let seen = seen.lock().unwrap().clone();
    let resp = seen
        .iter()
        .find(|s| s.path.ends_with("/req-1/response"))
        .context("the response reached the Runtime API")?;
    assert!(resp.body == event, "the 6 MB response changed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_for_shutdown_only_and_returns_on_shutdown() -> Result<()> {
    let (base, seen) = fake_runtime_api(b"{}".to_vec()).await?;
    let client = faultline_extension::http_client();
    let id = faultline_extension::extension::register(&client, &base, "faultline")
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(id, "ext-1");
    tokio::time::timeout(
        Duration::from_secs(10),
        faultline_extension::extension::run_until_shutdown(&client, &base, &id),
    )
    .await?
    .map_err(anyhow::Error::msg)?;
    let seen = seen.lock().unwrap().clone();
    let reg = &seen[0];
    assert_eq!(reg.path, "/.rt/2020-01-01/extension/register");
    assert_eq!(reg.header("Lambda-Extension-Name"), Some("faultline"));
    assert_eq!(reg.body, br#"{"events":["SHUTDOWN"]}"#);
    let nexts: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path == "/.rt/2020-01-01/extension/event/next")
        .collect();
    assert_eq!(nexts.len(), 2, "INVOKE, then SHUTDOWN ends the loop");
    assert!(nexts
        .iter()
        .all(|s| s.header("Lambda-Extension-Identifier") == Some("ext-1")));
    Ok(())
}

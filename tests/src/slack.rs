//! A local stand-in for Slack's incoming-webhook endpoint, for the recovery timer's and the
//! notifier's tests: it captures each request and answers from a script.

use std::time::Instant;

use anyhow::Result;

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

//! The real `faultline-traffic` binary against a local HTTP server that fails a known fraction
//! of requests deterministically (a global counter decides each answer), and against moto's
//! CloudWatch for the metrics.
//!
//! Long by design: seven runs share one fake server; a split would only add test binaries.

use std::collections::HashMap;
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_sdk_cloudwatch::types::{Dimension, DimensionFilter, Statistic};
use faultline_e2e::Moto;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_faultline-traffic");

/// The answer for the n-th request (0-based): status and delay before answering.
type Policy = Arc<dyn Fn(u64) -> (u16, Duration) + Send + Sync>;

/// A keep-alive HTTP/1.1 server on 127.0.0.1 answering by [`Policy`], counting what it sent.
struct Server {
    url: String,
    authority: String,
    seen: Arc<AtomicU64>,
    statuses: Arc<Mutex<HashMap<u16, u64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(policy: Policy) -> Result<Server> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let authority = listener.local_addr()?.to_string();
        let seen = Arc::new(AtomicU64::new(0));
        let statuses: Arc<Mutex<HashMap<u16, u64>>> = Arc::default();
        let (s, st) = (seen.clone(), statuses.clone());
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (policy, s, st) = (policy.clone(), s.clone(), st.clone());
                tokio::spawn(async move {
                    let _ = serve(sock, policy, s, st).await;
                });
            }
        });
        Ok(Server {
            url: format!("http://{authority}/health"),
            authority,
            seen,
            statuses,
            task,
        })
    }

    /// Requests received.
    fn seen(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }

    /// Answers sent with `status`.
    fn answered(&self, status: u16) -> u64 {
        self.statuses
            .lock()
            .unwrap()
            .get(&status)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    sock: tokio::net::TcpStream,
    policy: Policy,
    seen: Arc<AtomicU64>,
    statuses: Arc<Mutex<HashMap<u16, u64>>>,
) -> Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    loop {
        // Request head: the driver sends no body.
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).await? == 0 || h == "\r\n" {
                break;
            }
        }
        let n = seen.fetch_add(1, Ordering::SeqCst);
        let (status, delay) = policy(n);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        w.write_all(
            format!(
                "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"
            )
            .as_bytes(),
        )
        .await?;
        *statuses.lock().unwrap().entry(status).or_default() += 1;
    }
}

/// Every `k`-th request (the k-1-th, 2k-1-th, ...) answers 500.
fn fail_every(k: u64) -> Policy {
    Arc::new(move |n| (if n % k == k - 1 { 500 } else { 200 }, Duration::ZERO))
}

/// Runs the binary to completion (bounded by a deadline) with `env` added.
async fn run(args: &[&str], env: &[(String, String)]) -> Result<Output> {
    let child = Command::new(BIN)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "info")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .context("faultline-traffic did not finish within 60s")?
        .context("running faultline-traffic")
}

fn summary(out: &Output) -> Result<Value> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "exit {:?}\nstdout: {stdout}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_str(&stdout).with_context(|| format!("summary is not JSON: {stdout}"))
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64()
        .unwrap_or_else(|| panic!("{k} is not a number in {v}"))
}

/// Environment for a run that must not touch AWS at all.
fn no_aws() -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]
}

#[tokio::test]
async fn every_fourth_request_failing_reads_as_75_percent_and_lands_in_cloudwatch() -> Result<()> {
    let moto = Moto::start().await?;
    let server = Server::start(fail_every(4)).await?;
    let out = run(
        &[
            "--url",
            &server.url,
            "--rate",
            "40",
            "--concurrency",
            "4",
            "--duration",
            "3s",
            "--period",
            "1s",
            "--timeout",
            "2s",
            "--output",
            "json",
        ],
        &moto.env(),
    )
    .await?;
    let s = summary(&out)?;
    let stderr = String::from_utf8_lossy(&out.stderr);

    // The driver's counts are the server's counts, and the fraction is the policy's.
    assert_eq!(num(&s, "requests") as u64, server.seen(), "{s}");
    assert_eq!(num(&s, "ok") as u64, server.answered(200), "{s}");
    assert_eq!(num(&s, "failed") as u64, server.answered(500), "{s}");
    assert!(server.seen() >= 40, "{s}");
    let rate = num(&s, "success_rate");
    assert!((rate - 75.0).abs() <= 2.0, "success_rate {rate}: {s}");
    let (p50, p99) = (num(&s, "p50_ms"), num(&s, "p99_ms"));
    assert!(p50 > 0.0 && p50 <= p99 && p99 < 2000.0, "{s}");
    assert!(num(&s, "achieved_rate") > 0.0, "{s}");
    let published = num(&s, "metrics_published") as i32;
    assert!(published >= 2, "{s}\n{stderr}");
    assert_eq!(num(&s, "metrics_failed"), 0.0, "{s}\n{stderr}");
    // Not a terminal: one line per period.
    assert!(
        stderr.contains("period 0 ·") && stderr.contains("period 1 ·"),
        "{stderr}"
    );

    // CloudWatch holds the three metrics with the Target (and Percentile) dimensions.
    let cw = aws_sdk_cloudwatch::Client::new(&moto.sdk_config().await);
    let listed = cw
        .list_metrics()
        .namespace("faultline/traffic")
        .dimensions(
            DimensionFilter::builder()
                .name("Target")
                .value(&server.authority)
                .build(),
        )
        .send()
        .await?;
    let mut names: Vec<(String, Vec<String>)> = listed
        .metrics()
        .iter()
        .map(|m| {
            (
                m.metric_name().unwrap_or_default().to_owned(),
                m.dimensions()
                    .iter()
                    .map(|d| format!("{}={}", d.name().unwrap_or(""), d.value().unwrap_or("")))
                    .collect(),
            )
        })
        .collect();
    names.sort();
    names.dedup();
    let target = format!("Target={}", server.authority);
    for (metric, extra) in [
        ("Latency", Some("Percentile=p50")),
        ("Latency", Some("Percentile=p99")),
        ("Requests", None),
        ("SuccessRate", None),
    ] {
        assert!(
            names.iter().any(|(n, d)| n == metric
                && d.contains(&target)
                && extra.map_or(d.len() == 1, |e| d.contains(&e.to_owned()))),
            "{metric} {extra:?} in {names:?}"
        );
    }

    let now = std::time::SystemTime::now();
    let stats = |metric: &'static str, percentile: Option<&'static str>| {
        let cw = cw.clone();
        let authority = server.authority.clone();
        async move {
            let mut req = cw
                .get_metric_statistics()
                .namespace("faultline/traffic")
                .metric_name(metric)
                .dimensions(Dimension::builder().name("Target").value(authority).build())
                .start_time((now - Duration::from_secs(1800)).into())
                .end_time((now + Duration::from_secs(1800)).into())
                .period(3600)
                .statistics(Statistic::Average)
                .statistics(Statistic::Minimum)
                .statistics(Statistic::Maximum)
                .statistics(Statistic::SampleCount)
                .statistics(Statistic::Sum);
            if let Some(p) = percentile {
                req = req.dimensions(Dimension::builder().name("Percentile").value(p).build());
            }
            let out = req.send().await?;
            let points = out.datapoints();
            if points.len() != 1 {
                bail!("{metric} {percentile:?}: one datapoint expected, got {points:?}");
            }
            Ok::<_, anyhow::Error>(points[0].clone())
        }
    };
    let success = stats("SuccessRate", None).await?;
    assert_eq!(
        success.sample_count(),
        Some(published as f64),
        "{success:?}"
    );
    let avg = success.average().unwrap_or_default();
    assert!((avg - 75.0).abs() <= 5.0, "{success:?}");
    assert_eq!(
        success.unit(),
        Some(&aws_sdk_cloudwatch::types::StandardUnit::Percent)
    );
    let requests = stats("Requests", None).await?;
    assert_eq!(requests.sum(), Some(server.seen() as f64), "{requests:?}");
    let p50 = stats("Latency", Some("p50")).await?;
    let p99 = stats("Latency", Some("p99")).await?;
    let (p50_avg, p99_max) = (
        p50.average().unwrap_or_default(),
        p99.maximum().unwrap_or_default(),
    );
    assert!(p50_avg > 0.0 && p50_avg < 2000.0, "{p50:?}");
    assert!(
        p99_max >= p50.minimum().unwrap_or_default(),
        "{p50:?} {p99:?}"
    );
    assert_eq!(
        p99.unit(),
        Some(&aws_sdk_cloudwatch::types::StandardUnit::Milliseconds)
    );
    Ok(())
}

#[tokio::test]
async fn ten_percent_failures_read_as_90_percent_without_metrics() -> Result<()> {
    let server = Server::start(fail_every(10)).await?;
    let out = run(
        &[
            "--url",
            &server.url,
            "--rate",
            "50",
            "--concurrency",
            "5",
            "--duration",
            "2s",
            "--no-metrics",
            "--output",
            "json",
        ],
        &no_aws(),
    )
    .await?;
    let s = summary(&out)?;
    assert_eq!(num(&s, "requests") as u64, server.seen(), "{s}");
    assert!(server.seen() >= 50, "{s}");
    let rate = num(&s, "success_rate");
    assert!((rate - 90.0).abs() <= 2.0, "success_rate {rate}: {s}");
    assert_eq!(num(&s, "metrics_published"), 0.0);
    // Duration shorter than the 60s default period: still one line, for the partial period.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("period 0 ·"), "{stderr}");
    Ok(())
}

#[tokio::test]
async fn slow_answers_time_out_count_as_failures_and_set_p99() -> Result<()> {
    // Every 5th request hangs for 3s; the driver gives up after 300ms.
    let server = Server::start(Arc::new(|n| {
        if n % 5 == 4 {
            (200, Duration::from_secs(3))
        } else {
            (200, Duration::ZERO)
        }
    }))
    .await?;
    let out = run(
        &[
            "--url",
            &server.url,
            "--rate",
            "20",
            "--concurrency",
            "20",
            "--duration",
            "2s",
            "--timeout",
            "300ms",
            "--no-metrics",
            "--output",
            "json",
        ],
        &no_aws(),
    )
    .await?;
    let s = summary(&out)?;
    let (requests, timeouts) = (num(&s, "requests"), num(&s, "timeouts"));
    assert!(requests >= 20.0, "{s}");
    assert!(
        (timeouts / requests - 0.2).abs() <= 0.02,
        "timeouts {timeouts} of {requests}: {s}"
    );
    assert!((num(&s, "success_rate") - 80.0).abs() <= 2.0, "{s}");
    assert_eq!(num(&s, "p99_ms").round(), 300.0, "{s}");
    assert!(num(&s, "p50_ms") < 300.0, "{s}");
    Ok(())
}

#[tokio::test]
async fn bad_arguments_exit_2_name_the_flag_and_send_nothing() -> Result<()> {
    let server = Server::start(fail_every(4)).await?;
    let url = server.url.clone();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--url", &url, "--rate", "0"], "--rate"),
        (vec!["--url", &url, "--rate", "-3"], "--rate"),
        (vec!["--url", &url, "--rate", "fast"], "--rate"),
        (vec!["--url", "ftp://127.0.0.1/x"], "--url"),
        (vec!["--url", "127.0.0.1:8080"], "--url"),
        (vec!["--url", "http://"], "--url"),
        (vec!["--url", &url, "--duration", "5 parsecs"], "--duration"),
        (vec!["--url", &url, "--duration", "0s"], "--duration"),
        (vec!["--url", &url, "--period", "100ms"], "--period"),
        (vec!["--url", &url, "--concurrency", "0"], "--concurrency"),
        (vec!["--url", &url, "--output", "yaml"], "--output"),
        (vec!["--url", &url, "--ok-status", "2x"], "--ok-status"),
        (vec!["--rate", "5"], "--url"),
    ];
    for (args, flag) in cases {
        let out = run(&args, &no_aws()).await?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag),
            "{args:?} should name {flag}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(server.seen(), 0, "a rejected run sent requests");

    let help = run(&["--help"], &no_aws()).await?;
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success());
    for flag in [
        "--url",
        "--rate",
        "--concurrency",
        "--duration",
        "--period",
        "--timeout",
        "--method",
        "--namespace",
        "--name",
        "--no-metrics",
        "--output",
        "--ok-status",
    ] {
        assert!(text.contains(flag), "{flag} in --help:\n{text}");
    }
    Ok(())
}

#[tokio::test]
async fn without_aws_credentials_it_refuses_before_sending() -> Result<()> {
    let server = Server::start(fail_every(4)).await?;
    let out = Command::new(BIN)
        .args(["--url", &server.url, "--duration", "1s", "--rate", "5"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env("AWS_CONFIG_FILE", "/nonexistent/faultline/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/faultline/credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out).await??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("--no-metrics"), "{stderr}");
    assert_eq!(server.seen(), 0);
    Ok(())
}

#[tokio::test]
async fn metrics_that_cannot_be_published_are_reported_and_exit_3() -> Result<()> {
    // Credentials resolve (static), but CloudWatch is a closed port: the run still completes
    // and prints its summary, then says the metrics are missing.
    let server = Server::start(fail_every(4)).await?;
    let closed = faultline_e2e::free_port();
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}")),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_MAX_ATTEMPTS", "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let out = run(
        &[
            "--url",
            &server.url,
            "--rate",
            "10",
            "--duration",
            "1s",
            "--output",
            "json",
        ],
        &env,
    )
    .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let s: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(num(&s, "metrics_failed"), 1.0, "{s}");
    assert_eq!(num(&s, "requests") as u64, server.seen(), "{s}");
    assert!(
        stderr.contains("metrics not published") && stderr.contains("PutMetricData"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 of 1 periods' metrics were not published"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test]
async fn https_urls_go_through_tls() -> Result<()> {
    // A plain-HTTP server behind an https:// URL: no TLS handshake completes (the server waits
    // for a request line inside the ClientHello), so nothing succeeds and nothing panics for
    // want of a crypto provider.
    let server = Server::start(fail_every(4)).await?;
    let url = format!("https://{}/", server.authority);
    let out = run(
        &[
            "--url",
            &url,
            "--rate",
            "10",
            "--duration",
            "1s",
            "--timeout",
            "1s",
            "--no-metrics",
            "--output",
            "json",
        ],
        &no_aws(),
    )
    .await?;
    let s = summary(&out)?;
    assert!(num(&s, "requests") >= 5.0, "{s}");
    assert_eq!(
        num(&s, "errors") + num(&s, "timeouts"),
        num(&s, "requests"),
        "{s}"
    );
    assert_eq!(num(&s, "success_rate"), 0.0, "{s}");
    assert_eq!(server.seen(), 0, "{s}");
    Ok(())
}

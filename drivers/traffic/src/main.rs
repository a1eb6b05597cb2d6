//! `faultline-traffic`: steady HTTP load with live success rate and latency, published to
//! CloudWatch. Uses the user's normal AWS credentials, profile and region (and
//! `AWS_ENDPOINT_URL` when set).
//!
//! Exit codes: 0 the run completed (whatever the target answered); 2 bad arguments, nothing
//! sent; 3 could not run (no AWS credentials or region, runtime error) or some period's
//! metrics could not be published.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use aws_sdk_cloudwatch::config::ProvideCredentials;
use clap::Parser;
use faultline_traffic::client::Client;
use faultline_traffic::config::{Args, Config, Output};
use faultline_traffic::driver::{Driver, Event};
use faultline_traffic::live::{line, Live};
use faultline_traffic::metrics;
use faultline_traffic::stats::Summary;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// How often a terminal's live line is redrawn.
const REDRAW: Duration = Duration::from_millis(500);
/// How long to wait, after the run, for the last PutMetricData calls.
const PUBLISH_GRACE: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match Config::try_from(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("faultline-traffic: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("faultline-traffic: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match rt.block_on(run(cfg)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("faultline-traffic: {e:#}");
            ExitCode::from(3)
        }
    }
}

/// The CloudWatch client, after checking there is a region and credentials to sign with, so
/// a misconfigured run fails before it sends any traffic.
async fn cloudwatch() -> anyhow::Result<aws_sdk_cloudwatch::Client> {
    let conf = aws_config::load_from_env().await;
    if conf.region().is_none() {
        bail!("no AWS region for the metrics: set AWS_REGION (or a profile's region), or pass --no-metrics");
    }
    let creds = conf
        .credentials_provider()
        .context("no AWS credentials provider: configure credentials as for the AWS CLI, or pass --no-metrics")?;
    tokio::time::timeout(Duration::from_secs(30), creds.provide_credentials())
        .await
        .context("resolving AWS credentials took over 30s; pass --no-metrics to run without them")?
        .context("no AWS credentials for the metrics: configure them as for the AWS CLI (AWS_PROFILE, environment, SSO...), or pass --no-metrics")?;
    Ok(aws_sdk_cloudwatch::Client::new(&conf))
}

async fn run(cfg: Config) -> anyhow::Result<ExitCode> {
    let cw = if cfg.metrics {
        Some(cloudwatch().await?)
    } else {
        None
    };
    let client = Client::new(&cfg);
    let mut live = Live::new(std::io::stderr().is_terminal());
    let driver = Driver {
        rate: cfg.rate,
        concurrency: cfg.concurrency,
        duration: cfg.duration,
        period: cfg.period,
        refresh: live.redraws().then_some(REDRAW),
    };
    info!(url = %cfg.target.uri, rate = cfg.rate, concurrency = cfg.concurrency, duration = ?cfg.duration, "starting");
    let started = tokio::time::Instant::now();
    let mut publishes = JoinSet::new();
    let run = driver
        .run(
            move || {
                let c = client.clone();
                async move { c.send().await }
            },
            |event| match event {
                Event::Progress {
                    index,
                    period,
                    period_elapsed,
                    total,
                    elapsed,
                } => {
                    live.progress(&line(elapsed, index, period, period_elapsed, total));
                }
                Event::Period {
                    index,
                    window,
                    length,
                    total,
                } => {
                    live.period(&line(started.elapsed(), index, &window, length, total));
                    if let Some(cw) = &cw {
                        let (cw, ns, name) = (cw.clone(), cfg.namespace.clone(), cfg.name.clone());
                        publishes.spawn(async move {
                            match metrics::publish(&cw, &ns, &name, &window).await {
                                Ok(()) => {
                                    info!(
                                        period = index,
                                        requests = window.requests,
                                        "metrics published"
                                    );
                                    true
                                }
                                Err(e) => {
                                    warn!(period = index, error = %e, "metrics not published");
                                    false
                                }
                            }
                        });
                    }
                }
            },
        )
        .await;
    live.finish();

    let (mut published, mut failed) = (0, 0);
    let waited = tokio::time::timeout(PUBLISH_GRACE, async {
        while let Some(r) = publishes.join_next().await {
            if matches!(r, Ok(true)) {
                published += 1;
            } else {
                failed += 1;
            }
        }
    })
    .await;
    if waited.is_err() {
        failed += publishes.len() as u64;
        warn!(
            pending = publishes.len(),
            "gave up waiting for PutMetricData"
        );
    }

    let t = &run.total;
    let summary = Summary {
        target: cfg.name.clone(),
        url: cfg.target.uri.to_string(),
        requests: t.requests,
        ok: t.ok,
        failed: t.failed(),
        bad_status: t.bad_status,
        timeouts: t.timeouts,
        errors: t.errors,
        success_rate: t.success_rate(),
        p50_ms: t.p50_ms(),
        p99_ms: t.p99_ms(),
        target_rate: cfg.rate,
        achieved_rate: run.sent as f64 / run.sending.as_secs_f64().max(f64::EPSILON),
        skipped: run.skipped,
        elapsed_s: run.elapsed.as_secs_f64(),
        metrics_published: published,
        metrics_failed: failed,
    }
    .rounded();
    match cfg.output {
        Output::Text => print!("{}", summary.text()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
    }
    if failed > 0 {
        eprintln!(
            "faultline-traffic: {failed} of {} periods' metrics were not published (see the warnings above)",
            failed + published
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

//! The proxy benchmark (an example, so the test run never includes it; `layer/bench` runs it): a no-op function invoked
//! 2,000 times directly and 2,000 times through the proxy (faults configured but all disabled,
//! config in moto's SSM), interleaved, both under the cargo-lambda emulator. Prints p50 / p99
//! of each and of the difference, the proxy's RSS, and how long the proxy takes to start
//! listening (what it adds to a cold start). No assertion on speed: it reports.
//!
//! `FAULTLINE_BENCH_EXTENSION` picks the extension binary (`layer/bench` points it at the
//! release build inside the layer); otherwise the workspace's debug build is measured.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use common::{ext_env, free_port, Chain, Func, Moto, Opts};
use tokio::process::Command;

const N: usize = 2_000;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let ext_bin = std::env::var_os("FAULTLINE_BENCH_EXTENSION").map(std::path::PathBuf::from);
    let moto = Moto::start().await?;
    moto.put_param(
        "/faultline/bench",
        r#"{"latency": {"enabled": false}, "exception": {"enabled": false}}"#,
    )
    .await?;
    // The kill switch as Terraform creates it, so the proxy runs its usual path (config
    // loaded, no fault enabled) rather than the halted one.
    moto.put_param("/faultline/enabled", "true").await?;
    let env = ext_env(moto.env(), "/faultline/bench", 60);
    let mut direct = Chain::start(Opts {
        func: Func::Noop,
        proxied: false,
        ext_env: vec![],
        ext_bin: None,
    })
    .await?;
    let mut proxied = Chain::start(Opts {
        ext_bin: ext_bin.clone(),
        ..Opts::proxied(Func::Noop, env.clone())
    })
    .await?;

    // Warm both up.
    for _ in 0..50 {
        direct.invoke_raw("{}").await?;
        proxied.invoke_raw("{}").await?;
    }
    let mut d = Vec::with_capacity(N);
    let mut p = Vec::with_capacity(N);
    for i in 0..N {
        // Alternate which goes first so neither always runs on a warmer machine.
        let (first, second) = if i % 2 == 0 {
            (&mut direct, &mut proxied)
        } else {
            (&mut proxied, &mut direct)
        };
        let t = Instant::now();
        let (s1, _) = first.invoke_raw("{}").await?;
        let t1 = t.elapsed();
        let t = Instant::now();
        let (s2, _) = second.invoke_raw("{}").await?;
        let t2 = t.elapsed();
        assert_eq!((s1, s2), (200, 200));
        if i % 2 == 0 {
            d.push(t1);
            p.push(t2);
        } else {
            p.push(t1);
            d.push(t2);
        }
    }
    let mut diffs: Vec<f64> = d.iter().zip(&p).map(|(a, b)| ms(*b) - ms(*a)).collect();
    diffs.sort_by(|a, b| a.total_cmp(b));
    d.sort();
    p.sort();
    let rss_kb = proxied
        .ext
        .as_ref()
        .and_then(|e| e.id())
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
        })
        .unwrap_or(0);

    // Start-up: spawn → listening, five times, against a dead upstream (it only binds).
    let bin = match &ext_bin {
        Some(b) => b.clone(),
        None => common::built_binary("faultline-extension")?,
    };
    let mut starts = Vec::new();
    for _ in 0..5 {
        let port = free_port();
        let t = Instant::now();
        let mut child = Command::new(&bin)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("127.0.0.1:{}", free_port()),
            )
            .env("FAULTLINE_PROXY_PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        starts.push(t.elapsed());
        let _ = child.start_kill();
    }
    starts.sort();

    println!("faultline proxy benchmark: {N} invocations each, interleaved, no-op function under the cargo-lambda emulator");
    println!(
        "extension binary: {}",
        ext_bin
            .map(|b| b.display().to_string())
            .unwrap_or_else(|| "workspace debug build".into())
    );
    println!(
        "direct   p50 {:.3} ms  p99 {:.3} ms",
        ms(pct(&d, 0.5)),
        ms(pct(&d, 0.99))
    );
    println!(
        "proxied  p50 {:.3} ms  p99 {:.3} ms",
        ms(pct(&p, 0.5)),
        ms(pct(&p, 0.99))
    );
    let i50 = ((diffs.len() - 1) as f64 * 0.5).round() as usize;
    let i99 = ((diffs.len() - 1) as f64 * 0.99).round() as usize;
    println!(
        "added latency: p50 {:.3} ms  p99 {:.3} ms (per-pair difference); p50 ratio proxied/direct {:.2}x, p99 ratio {:.2}x",
        diffs[i50],
        diffs[i99],
        ms(pct(&p, 0.5)) / ms(pct(&d, 0.5)),
        ms(pct(&p, 0.99)) / ms(pct(&d, 0.99)),
    );
    println!(
        "difference of the distributions: p50 {:+.3} ms, p99 {:+.3} ms (proxied minus direct)",
        ms(pct(&p, 0.5)) - ms(pct(&d, 0.5)),
        ms(pct(&p, 0.99)) - ms(pct(&d, 0.99)),
    );
    println!("proxy RSS after the run: {:.1} MiB", rss_kb as f64 / 1024.0);
    println!(
        "proxy start-up (spawn → listening): median {:.1} ms, max {:.1} ms",
        ms(starts[starts.len() / 2]),
        ms(starts[starts.len() - 1])
    );
    Ok(())
}

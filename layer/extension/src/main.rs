//! `/opt/extensions/faultline`: binds the proxy port, registers with the Extensions API (while
//! the AWS config loads), and serves the runtime until Lambda shuts the environment down. It
//! tells Lambda it is ready (its first `event/next`) only once the proxy serves. Every problem short of "cannot
//! bind the port" is logged and the proxy keeps forwarding: the function must never lose its
//! Runtime API because of the chaos layer.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use faultline_extension::{extension, http_client, log_filter, serve, upstream_base, Proxy};
use faultline_layer_engine::{Engine, EngineSettings};
use tokio::net::TcpListener;
use tracing::{error, info, warn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The proxy port variable (the wrappers point the runtime at it).
const PROXY_PORT: &str = "FAULTLINE_PROXY_PORT";

fn main() -> ExitCode {
    let (filter, problem) = log_filter(&std::env::var("RUST_LOG").unwrap_or_default());
    if let Some(p) = problem {
        eprintln!("faultline: {p}");
    }
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .with_span_list(false)
                .with_target(false),
        )
        .with(filter)
        .init();
    // One thread: every runtime call crosses the proxy twice in sequence, so a second worker
    // only adds cross-thread wake-ups (and their tail) to each hop. Blocking work (`diskspace`)
    // goes to tokio's blocking pool.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("faultline: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(source = "faultline", "{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let runtime_api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .context("AWS_LAMBDA_RUNTIME_API is not set: run this as a Lambda extension")?;
    let base = upstream_base(&runtime_api);
    let port: u16 = match std::env::var(PROXY_PORT) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .with_context(|| format!("{PROXY_PORT}={v:?} is not a port number"))?,
        _ => 9009,
    };
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding the proxy on 127.0.0.1:{port} (set {PROXY_PORT})"))?;

    let client = http_client();
    let name = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "faultline".into());
    // Register while the AWS config loads; the first `event/next` (ready) waits for the proxy.
    let registration = tokio::spawn({
        let (client, base, name) = (client.clone(), base.clone(), name.clone());
        async move { extension::register(&client, &base, &name).await }
    });

    let settings = EngineSettings::from_lookup(|k| std::env::var(k).ok()).unwrap_or_else(|e| {
        warn!(source = "faultline", "fail open: no faults injected: {e}");
        EngineSettings::default()
    });
    let ssm = match settings.param {
        Some(_) => {
            // The default credential chain (Lambda gives the extension the function's
            // credentials in the environment), over rustls with ring.
            let https = aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https();
            let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(https)
                .load()
                .await;
            Some(aws_sdk_ssm::Client::new(&conf))
        }
        None => None,
    };
    let engine = Arc::new(Engine::from_settings(&settings, ssm.as_ref()));
    let proxy = Arc::new(Proxy::new(engine, base.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, proxy, async move {
        let _ = stopped.await;
    }));
    info!(source = "faultline", port, upstream = %base, "proxy listening");

    let registered = registration
        .await
        .unwrap_or_else(|e| Err(format!("register: {e}")));
    let outcome = match registered {
        Ok(id) => {
            info!(source = "faultline", extension = %name, "registered");
            extension::run_until_shutdown(&client, &base, &id).await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => {
            info!(source = "faultline", "shutdown");
            let _ = stop.send(());
            let _ = server.await;
        }
        Err(e) => {
            // Keep proxying: the runtime depends on us even if the Extensions API does not.
            warn!(source = "faultline", error = %e, "extensions API unavailable; proxy keeps running");
            let _ = server.await;
        }
    }
    Ok(())
}

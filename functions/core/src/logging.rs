//! Logging for the Lambda functions: one JSON object per line (CloudWatch Logs parses the
//! fields), level from `RUST_LOG` (default `info`), no span noise. Called first in every
//! function's `main`.

/// Installs the JSON subscriber for this process.
pub fn init_json() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .init();
}

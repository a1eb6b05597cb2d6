//! Logging for the Lambda functions, one setup for all of them, following Lambda's advanced
//! logging controls: the format from `AWS_LAMBDA_LOG_FORMAT` (`JSON`: one JSON object per line,
//! which CloudWatch Logs parses and filters by level; `Text`: plain lines; unset: JSON) and the
//! level from `AWS_LAMBDA_LOG_LEVEL` (`TRACE` .. `FATAL`), else `RUST_LOG`, else `info`. Never
//! ANSI colours (CloudWatch shows them as garbage). Called first in every function's `main`.

use tracing_subscriber::EnvFilter;

/// The log format a function was configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Plain text lines.
    Text,
}

/// The format and filter directive for these variables (`lookup` is `std::env::var` in the
/// functions, a map in tests).
pub fn lambda_log_config(lookup: impl Fn(&str) -> Option<String>) -> (LogFormat, String) {
    let format = match lookup("AWS_LAMBDA_LOG_FORMAT").as_deref().map(str::trim) {
        Some(f) if f.eq_ignore_ascii_case("text") => LogFormat::Text,
        _ => LogFormat::Json,
    };
    let level = match lookup("AWS_LAMBDA_LOG_LEVEL")
        .map(|l| l.trim().to_ascii_lowercase())
        .as_deref()
    {
        // tracing has no level above error: FATAL maps to it.
        Some("fatal") => Some("error".to_owned()),
        Some(l @ ("trace" | "debug" | "info" | "warn" | "error")) => Some(l.to_owned()),
        _ => None,
    };
    let directive = level
        .or_else(|| lookup("RUST_LOG").filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "info".to_owned());
    (format, directive)
}

/// Installs the subscriber for this Lambda function's process.
pub fn init_lambda() {
    let (format, directive) = lambda_log_config(|k| std::env::var(k).ok());
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let base = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false);
    match format {
        LogFormat::Json => base
            .json()
            .with_current_span(false)
            .with_span_list(false)
            .init(),
        LogFormat::Text => base.without_time().init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> (LogFormat, String) {
        let m: HashMap<&str, &str> = pairs.iter().copied().collect();
        lambda_log_config(|k| m.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn follows_lambdas_advanced_logging_controls() {
        assert_eq!(config(&[]), (LogFormat::Json, "info".to_owned()));
        assert_eq!(
            config(&[("AWS_LAMBDA_LOG_FORMAT", "Text")]).0,
            LogFormat::Text
        );
        assert_eq!(
            config(&[
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
            ]),
            (LogFormat::Json, "debug".to_owned())
        );
        assert_eq!(config(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]).1, "error");
        // The Lambda setting wins over RUST_LOG; RUST_LOG serves when it is absent.
        assert_eq!(
            config(&[("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("RUST_LOG", "debug")]).1,
            "warn"
        );
        assert_eq!(config(&[("RUST_LOG", "debug")]).1, "debug");
        assert_eq!(config(&[("AWS_LAMBDA_LOG_LEVEL", "loud")]).1, "info");
    }
}

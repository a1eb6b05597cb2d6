//! The timer's deployment settings, read once from the environment at init.

use faultline_core::settings::{ssm_path, topic_arn};

/// Names of the environment variables the timer reads.
pub mod vars {
    /// The prefix under which experiment records are kept (the monkey's too).
    pub const RECORD_PREFIX: &str = "FAULTLINE_RECORD_PREFIX";
    /// The SNS topic to publish to.
    pub const TOPIC_ARN: &str = "FAULTLINE_TOPIC_ARN";
    /// How many closed records to keep under the prefix (the newest).
    pub const RETAIN_CLOSED: &str = "FAULTLINE_RETAIN_CLOSED";
    /// The CloudWatch namespace of `TimeToRecover`, `Recovered` and `NotRecovered`.
    pub const METRIC_NAMESPACE: &str = "FAULTLINE_METRIC_NAMESPACE";
}

/// What the timer needs to know about its deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerConfig {
    /// Record prefix (default `/faultline/experiments`).
    pub record_prefix: String,
    /// SNS topic; without it nothing is published (metrics still are).
    pub topic_arn: Option<String>,
    /// Closed records kept for history (default 100).
    pub retain_closed: usize,
    /// Metric namespace (default `faultline`).
    pub namespace: String,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            record_prefix: "/faultline/experiments".to_owned(),
            topic_arn: None,
            retain_closed: 100,
            namespace: "faultline".to_owned(),
        }
    }
}

/// Builds [`TimerConfig`] from a variable lookup (`std::env::var` in the binary, a map in tests),
/// rejecting values that would misbehave later.
pub fn settings_from(lookup: impl Fn(&str) -> Option<String>) -> Result<TimerConfig, String> {
    let mut s = TimerConfig::default();
    let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    if let Some(v) = get(vars::RECORD_PREFIX) {
        s.record_prefix = ssm_path(vars::RECORD_PREFIX, v)?
            .trim_end_matches('/')
            .to_owned();
    }
    if let Some(arn) = get(vars::TOPIC_ARN) {
        s.topic_arn = Some(topic_arn(vars::TOPIC_ARN, arn)?);
    }
    if let Some(v) = get(vars::RETAIN_CLOSED) {
        s.retain_closed = v.trim().parse().map_err(|_| {
            format!(
                "{}={v:?}: expected a whole number of closed records to keep, e.g. 100",
                vars::RETAIN_CLOSED
            )
        })?;
    }
    if let Some(v) = get(vars::METRIC_NAMESPACE) {
        if v.starts_with(':') || v.starts_with("AWS/") || v.len() > 255 {
            return Err(format!(
                "{}={v:?}: a custom namespace must not start with \"AWS/\" or ':' and has at most 255 characters",
                vars::METRIC_NAMESPACE
            ));
        }
        s.namespace = v;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<TimerConfig, String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        settings_from(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(from(&[]).unwrap(), TimerConfig::default());
        let s = from(&[
            (vars::RECORD_PREFIX, "/x/records/"),
            (vars::RETAIN_CLOSED, "5"),
            (vars::TOPIC_ARN, "arn:aws:sns:us-east-1:123456789012:t"),
        ])
        .unwrap();
        assert_eq!(s.record_prefix, "/x/records");
        assert_eq!(s.retain_closed, 5);
        assert!(s.topic_arn.is_some());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(from(&[(vars::RETAIN_CLOSED, "many")])
            .unwrap_err()
            .contains("whole number"));
        assert!(from(&[(vars::RECORD_PREFIX, "x")])
            .unwrap_err()
            .contains("must start with '/'"));
        assert!(from(&[(vars::METRIC_NAMESPACE, "AWS/EC2")])
            .unwrap_err()
            .contains("AWS/"));
    }
}

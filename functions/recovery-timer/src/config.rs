//! The timer's deployment settings, read once from the environment at init.

use faultline_core::settings::{record_store, topic_arn, RecordStore};

/// Names of the environment variables the timer reads.
pub mod vars {
    pub use faultline_core::settings::vars::{RECORDS_TABLE, RECORD_RETENTION_DAYS};
    /// The SNS topic to publish to.
    pub const TOPIC_ARN: &str = "FAULTLINE_TOPIC_ARN";
    /// The CloudWatch namespace of `TimeToRecover`, `Recovered` and `NotRecovered`.
    pub const METRIC_NAMESPACE: &str = "FAULTLINE_METRIC_NAMESPACE";
}

/// What the timer needs to know about its deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerConfig {
    /// The records table (the monkey's too) and how long closed records are kept.
    pub records: RecordStore,
    /// SNS topic; without it nothing is published (metrics still are).
    pub topic_arn: Option<String>,
    /// Metric namespace (default `faultline`).
    pub namespace: String,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            records: RecordStore::default(),
            topic_arn: None,
            namespace: "faultline".to_owned(),
        }
    }
}

/// Builds [`TimerConfig`] from a variable lookup (`std::env::var` in the binary, a map in tests),
/// rejecting values that would misbehave later.
pub fn settings_from(lookup: impl Fn(&str) -> Option<String>) -> Result<TimerConfig, String> {
    let mut s = TimerConfig::default();
    let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    s.records = record_store(&get)?;
    if let Some(arn) = get(vars::TOPIC_ARN) {
        s.topic_arn = Some(topic_arn(vars::TOPIC_ARN, arn)?);
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
            (vars::RECORDS_TABLE, "chaos-records"),
            (vars::RECORD_RETENTION_DAYS, "7"),
            (vars::TOPIC_ARN, "arn:aws:sns:us-east-1:123456789012:t"),
        ])
        .unwrap();
        assert_eq!(s.records.table, "chaos-records");
        assert_eq!(s.records.retention_days, 7);
        assert!(s.topic_arn.is_some());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(from(&[(vars::RECORD_RETENTION_DAYS, "many")])
            .unwrap_err()
            .contains("whole number"));
        assert!(from(&[(vars::RECORDS_TABLE, "x")])
            .unwrap_err()
            .contains("not a DynamoDB table"));
        assert!(from(&[(vars::METRIC_NAMESPACE, "AWS/EC2")])
            .unwrap_err()
            .contains("AWS/"));
    }
}

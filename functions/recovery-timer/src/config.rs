//! The timer's deployment settings, read once from the environment at init.

use faultline_core::settings::{agent_document, record_store, topic_arn, RecordStore};

/// Names of the environment variables the timer reads.
pub mod vars {
    pub use faultline_core::settings::vars::{
        AGENT_DOCUMENT, RECORDS_TABLE, RECORD_RETENTION_DAYS,
    };
    /// The SNS topic to publish to.
    pub const TOPIC_ARN: &str = "FAULTLINE_TOPIC_ARN";
    /// The CloudWatch namespace of `TimeToRecover`, `Recovered` and `NotRecovered`.
    pub const METRIC_NAMESPACE: &str = "FAULTLINE_METRIC_NAMESPACE";
    /// The S3 bucket the experiments' reports are written to (none: no report is written).
    pub const REPORTS_BUCKET: &str = "FAULTLINE_REPORTS_BUCKET";
    /// How long the report link in a message works, seconds (60 to 604800).
    pub const REPORT_URL_TTL: &str = "FAULTLINE_REPORT_URL_TTL";
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
    /// The faultline SSM document (`FAULTLINE_AGENT_DOCUMENT`, default `faultline-agent`): an
    /// agent experiment whose stop alarm fires is rolled back with it (`Mode=rollback`).
    pub agent_document: String,
    /// Where reports go (`FAULTLINE_REPORTS_BUCKET`); none: no report is written.
    pub reports_bucket: Option<String>,
    /// How long a message's report link works (`FAULTLINE_REPORT_URL_TTL`, default 7 days, the
    /// longest a pre-signed URL may live).
    pub report_link_ttl: std::time::Duration,
}

/// The longest a pre-signed URL may live: 7 days.
pub const MAX_LINK_TTL_S: u64 = 604_800;

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            records: RecordStore::default(),
            topic_arn: None,
            namespace: "faultline".to_owned(),
            agent_document: "faultline-agent".to_owned(),
            reports_bucket: None,
            report_link_ttl: std::time::Duration::from_secs(MAX_LINK_TTL_S),
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
    if let Some(doc) = get(vars::AGENT_DOCUMENT) {
        s.agent_document = agent_document(doc)?;
    }
    if let Some(b) = get(vars::REPORTS_BUCKET) {
        let ok = (3..=63).contains(&b.len())
            && b.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !ok {
            return Err(format!(
                "{}={b:?} is not an S3 bucket name (3 to 63 of a-z 0-9 . -)",
                vars::REPORTS_BUCKET
            ));
        }
        s.reports_bucket = Some(b);
    }
    if let Some(t) = get(vars::REPORT_URL_TTL) {
        match t.parse::<u64>() {
            Ok(n) if (60..=MAX_LINK_TTL_S).contains(&n) => {
                s.report_link_ttl = std::time::Duration::from_secs(n)
            }
            _ => {
                return Err(format!(
                    "{}={t:?}: use whole seconds from 60 to {MAX_LINK_TTL_S} (7 days, the longest a pre-signed URL lives)",
                    vars::REPORT_URL_TTL
                ))
            }
        }
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
            (vars::AGENT_DOCUMENT, "faultline-agent-prod"),
        ])
        .unwrap();
        assert_eq!(s.agent_document, "faultline-agent-prod");
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
        assert!(from(&[(vars::AGENT_DOCUMENT, "x")])
            .unwrap_err()
            .contains("not an SSM document"));
        assert!(from(&[(vars::METRIC_NAMESPACE, "AWS/EC2")])
            .unwrap_err()
            .contains("AWS/"));
        assert!(from(&[(vars::REPORTS_BUCKET, "Reports_Bucket")])
            .unwrap_err()
            .contains(vars::REPORTS_BUCKET));
        assert!(from(&[(vars::REPORT_URL_TTL, "604801")])
            .unwrap_err()
            .contains("7 days"));
        let s = from(&[
            (vars::REPORTS_BUCKET, "faultline-reports-123"),
            (vars::REPORT_URL_TTL, "3600"),
        ])
        .unwrap();
        assert_eq!(s.reports_bucket.as_deref(), Some("faultline-reports-123"));
        assert_eq!(s.report_link_ttl.as_secs(), 3600);
    }
}

//! The monkey's deployment settings (environment variables of the function), and
//! [`settings_from`], the one parser of them: the Lambda, the CLI and the tests read
//! `FAULTLINE_*` through it, so all three agree.

use crate::select::OptIn;

/// Deployment settings of the monkey (environment variables of the function).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The opt-in tag (`FAULTLINE_OPT_IN_TAG`, default `faultline:enabled`).
    pub opt_in: OptIn,
    /// Kill-switch parameter (`FAULTLINE_KILL_SWITCH_PARAM`, default `/faultline/enabled`).
    pub kill_switch_param: String,
    /// Where experiment records live.
    pub records: RecordStore,
    /// SNS topic (`FAULTLINE_TOPIC_ARN`); without it nothing is published.
    pub topic_arn: Option<String>,
    /// The faultline SSM document that runs faultline-agent (`agent` actions); default
    /// `faultline-agent`. Where the agent comes from is not a setting: Terraform renders the
    /// document with the agent's S3 location and SHA-256 fixed.
    pub agent_document: String,
    /// Where `lambda-fault` may write layer parameters, and which layer it looks for.
    pub layer: LayerSettings,
    /// The shared freeze calendar and where random starts are scheduled.
    pub calendar: CalendarSettings,
}

/// The deployment's calendar: the shared freeze dates and the one-shot schedules of
/// experiments with `"start": "random"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CalendarSettings {
    /// The SSM parameter holding the shared freeze dates, a JSON list of `guards.freeze`
    /// entries (`FAULTLINE_CALENDAR_PARAMETER`); none = no shared calendar.
    pub parameter: Option<String>,
    /// The EventBridge Scheduler group random starts are created in
    /// (`FAULTLINE_SCHEDULE_GROUP`).
    pub schedule_group: Option<String>,
    /// The role EventBridge Scheduler assumes to invoke the monkey
    /// (`FAULTLINE_SCHEDULER_ROLE_ARN`).
    pub scheduler_role_arn: Option<String>,
}

/// What the monkey knows of the faultline layer, for `lambda-fault`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSettings {
    /// The SSM path under which layer parameters live (`FAULTLINE_LAYER_PREFIX`, default
    /// `/faultline/layer`): a function whose parameter lies elsewhere is not a target, since
    /// the monkey may write only there.
    pub prefix: String,
    /// The layer's name (`FAULTLINE_LAYER_NAME`, default `faultline-layer`): a function must
    /// carry a version of it.
    pub name: String,
}

impl Default for LayerSettings {
    fn default() -> Self {
        Self {
            prefix: "/faultline/layer".to_owned(),
            name: "faultline-layer".to_owned(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            opt_in: OptIn::default(),
            kill_switch_param: "/faultline/enabled".to_owned(),
            records: RecordStore::default(),
            topic_arn: None,
            agent_document: "faultline-agent".to_owned(),
            layer: LayerSettings::default(),
            calendar: CalendarSettings::default(),
        }
    }
}

/// Names of the environment variables the monkey reads.
pub mod vars {
    /// The opt-in tag key (value must be `true`).
    pub const OPT_IN_TAG: &str = "FAULTLINE_OPT_IN_TAG";
    /// The kill-switch parameter name.
    pub const KILL_SWITCH_PARAM: &str = "FAULTLINE_KILL_SWITCH_PARAM";
    /// The DynamoDB table of experiment records.
    pub const RECORDS_TABLE: &str = "FAULTLINE_RECORDS_TABLE";
    /// Days a closed record is kept before DynamoDB's TTL deletes it.
    pub const RECORD_RETENTION_DAYS: &str = "FAULTLINE_RECORD_RETENTION_DAYS";
    /// The SNS topic to publish to.
    pub const TOPIC_ARN: &str = "FAULTLINE_TOPIC_ARN";
    /// The SSM document that runs faultline-agent (`agent` actions).
    pub const AGENT_DOCUMENT: &str = "FAULTLINE_AGENT_DOCUMENT";
    /// The SSM path of the layer's parameters (`lambda-fault` writes under it).
    pub const LAYER_PREFIX: &str = "FAULTLINE_LAYER_PREFIX";
    /// The faultline layer's name.
    pub const LAYER_NAME: &str = "FAULTLINE_LAYER_NAME";
    /// The SSM parameter of the shared freeze calendar.
    pub const CALENDAR_PARAMETER: &str = "FAULTLINE_CALENDAR_PARAMETER";
    /// The EventBridge Scheduler group of random starts.
    pub const SCHEDULE_GROUP: &str = "FAULTLINE_SCHEDULE_GROUP";
    /// The role EventBridge Scheduler assumes to invoke the monkey.
    pub const SCHEDULER_ROLE_ARN: &str = "FAULTLINE_SCHEDULER_ROLE_ARN";
}

/// Builds [`Settings`] from a variable lookup (`std::env::var` in the binary, a map in tests),
/// rejecting values that would misbehave later.
pub fn settings_from(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
    let mut s = Settings::default();
    let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    if let Some(key) = get(vars::OPT_IN_TAG) {
        if key.chars().count() > 128 {
            return Err(format!(
                "{}: a tag key is at most 128 characters",
                vars::OPT_IN_TAG
            ));
        }
        s.opt_in = OptIn { key };
    }
    if let Some(v) = get(vars::KILL_SWITCH_PARAM) {
        s.kill_switch_param = ssm_path(vars::KILL_SWITCH_PARAM, v)?;
    }
    s.records = record_store(&get)?;
    if let Some(arn) = get(vars::TOPIC_ARN) {
        s.topic_arn = Some(topic_arn(vars::TOPIC_ARN, arn)?);
    }
    if let Some(doc) = get(vars::AGENT_DOCUMENT) {
        s.agent_document = agent_document(doc)?;
    }
    if let Some(p) = get(vars::LAYER_PREFIX) {
        let p = ssm_path(vars::LAYER_PREFIX, p)?;
        if p.ends_with('/') || p.contains("//") {
            return Err(format!(
                "{}={p:?}: an SSM path like /faultline/layer (no trailing '/')",
                vars::LAYER_PREFIX
            ));
        }
        s.layer.prefix = p;
    }
    if let Some(n) = get(vars::LAYER_NAME) {
        if n.is_empty()
            || n.len() > 140
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        {
            return Err(format!(
                "{}={n:?} is not a Lambda layer name (letters, digits, '-', '_')",
                vars::LAYER_NAME
            ));
        }
        s.layer.name = n;
    }
    if let Some(p) = get(vars::CALENDAR_PARAMETER) {
        s.calendar.parameter = Some(ssm_path(vars::CALENDAR_PARAMETER, p)?);
    }
    if let Some(g) = get(vars::SCHEDULE_GROUP) {
        if g.len() > 64
            || !g
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(format!(
                "{}={g:?} is not a schedule group name (1 to 64 of letters, digits, '-', '_', '.')",
                vars::SCHEDULE_GROUP
            ));
        }
        s.calendar.schedule_group = Some(g);
    }
    if let Some(arn) = get(vars::SCHEDULER_ROLE_ARN) {
        if !(arn.starts_with("arn:") && arn.contains(":iam::") && arn.contains(":role/")) {
            return Err(format!(
                "{}={arn:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                vars::SCHEDULER_ROLE_ARN
            ));
        }
        s.calendar.scheduler_role_arn = Some(arn);
    }
    Ok(s)
}

/// Checks `FAULTLINE_AGENT_DOCUMENT` (the monkey's and the recovery timer's): an SSM document
/// name or ARN.
pub fn agent_document(doc: String) -> Result<String, String> {
    aws_name(vars::AGENT_DOCUMENT, doc, "an SSM document")
}

/// Checks the value of `var` is the name (or ARN) of `what`: SSM document and DynamoDB table
/// names are both 3 or more of letters, digits, '_', '-', '.'.
fn aws_name(var: &str, v: String, what: &str) -> Result<String, String> {
    let name = v.rsplit('/').next().unwrap_or(&v);
    if name.len() < 3
        || v.len() > 1024
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!("{var}={v:?} is not {what} name or ARN"));
    }
    Ok(v)
}

/// Where the experiment records live: the DynamoDB table and how long closed records are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordStore {
    /// Table name (`FAULTLINE_RECORDS_TABLE`, default `faultline-experiments`).
    pub table: String,
    /// Days a closed record is kept (`FAULTLINE_RECORD_RETENTION_DAYS`, default 90): its
    /// `expires_at`, which DynamoDB's TTL acts on.
    pub retention_days: u32,
}

impl Default for RecordStore {
    fn default() -> Self {
        Self {
            table: "faultline-experiments".to_owned(),
            retention_days: 90,
        }
    }
}

/// Reads [`RecordStore`] from a variable lookup; shared by every function that reads or
/// writes records.
pub fn record_store(get: &impl Fn(&str) -> Option<String>) -> Result<RecordStore, String> {
    let mut r = RecordStore::default();
    if let Some(t) = get(vars::RECORDS_TABLE) {
        r.table = aws_name(vars::RECORDS_TABLE, t, "a DynamoDB table")?;
    }
    if let Some(v) = get(vars::RECORD_RETENTION_DAYS) {
        r.retention_days = v
            .trim()
            .parse()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .ok_or_else(|| {
                format!(
                    "{}={v:?}: expected a whole number of days from 1 to 3650, e.g. 90",
                    vars::RECORD_RETENTION_DAYS
                )
            })?;
    }
    Ok(r)
}

/// Checks the value of `var` is an SSM parameter path (starts with '/'); shared by every
/// function's settings.
pub fn ssm_path(var: &str, v: String) -> Result<String, String> {
    if v.starts_with('/') {
        Ok(v)
    } else {
        Err(format!(
            "{var}={v:?}: an SSM parameter path must start with '/'"
        ))
    }
}

/// Checks the value of `var` is an SNS topic ARN; shared by every function's settings.
pub fn topic_arn(var: &str, arn: String) -> Result<String, String> {
    if arn.starts_with("arn:") && arn.split(':').count() == 6 {
        Ok(arn)
    } else {
        Err(format!(
            "{var}={arn:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        settings_from(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_and_overrides() {
        let s = from(&[]).unwrap();
        assert_eq!(s, Settings::default());
        let s = from(&[
            (vars::OPT_IN_TAG, "chaos"),
            (vars::KILL_SWITCH_PARAM, "/x/enabled"),
            (
                vars::TOPIC_ARN,
                "arn:aws:sns:us-east-1:123456789012:faultline",
            ),
        ])
        .unwrap();
        assert_eq!(s.opt_in.key, "chaos");
        assert_eq!(s.kill_switch_param, "/x/enabled");
        assert!(s.topic_arn.is_some());
        let s = from(&[
            (vars::RECORDS_TABLE, "chaos-experiments"),
            (vars::RECORD_RETENTION_DAYS, "30"),
        ])
        .unwrap();
        assert_eq!(
            s.records,
            RecordStore {
                table: "chaos-experiments".into(),
                retention_days: 30
            }
        );
        let s = from(&[(vars::AGENT_DOCUMENT, "faultline-agent-prod")]).unwrap();
        assert_eq!(s.agent_document, "faultline-agent-prod");
        // The agent's location is no setting any more: an old deployment's variable is ignored,
        // never passed on to the document.
        let s = from(&[("FAULTLINE_AGENT_S3_URI", "s3://elsewhere/faultline-agent")]).unwrap();
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn calendar_settings() {
        let s = from(&[
            (vars::CALENDAR_PARAMETER, "/faultline/calendar"),
            (vars::SCHEDULE_GROUP, "faultline"),
            (
                vars::SCHEDULER_ROLE_ARN,
                "arn:aws:iam::123456789012:role/faultline-scheduler",
            ),
        ])
        .unwrap();
        assert_eq!(
            s.calendar,
            CalendarSettings {
                parameter: Some("/faultline/calendar".into()),
                schedule_group: Some("faultline".into()),
                scheduler_role_arn: Some(
                    "arn:aws:iam::123456789012:role/faultline-scheduler".into()
                ),
            }
        );
        let e = from(&[(vars::CALENDAR_PARAMETER, "calendar")]).unwrap_err();
        assert!(e.starts_with("FAULTLINE_CALENDAR_PARAMETER="), "{e}");
        let e = from(&[(vars::SCHEDULE_GROUP, "a b")]).unwrap_err();
        assert!(e.starts_with("FAULTLINE_SCHEDULE_GROUP="), "{e}");
        let e = from(&[(vars::SCHEDULER_ROLE_ARN, "faultline-scheduler")]).unwrap_err();
        assert!(e.contains("not an IAM role ARN"), "{e}");
    }

    #[test]
    fn the_opt_in_tag_key_is_counted_in_characters_as_aws_does() {
        let key = "é".repeat(128);
        assert_eq!(from(&[(vars::OPT_IN_TAG, &key)]).unwrap().opt_in.key, key);
        let e = from(&[(vars::OPT_IN_TAG, &"é".repeat(129))]).unwrap_err();
        assert!(e.contains("at most 128 characters"), "{e}");
    }

    #[test]
    fn rejects_bad_values() {
        assert!(from(&[(vars::KILL_SWITCH_PARAM, "faultline")])
            .unwrap_err()
            .contains("must start with '/'"));
        assert!(from(&[(vars::RECORDS_TABLE, "a b")])
            .unwrap_err()
            .starts_with("FAULTLINE_RECORDS_TABLE="));
        for days in ["0", "3651", "ninety", "-1"] {
            let e = from(&[(vars::RECORD_RETENTION_DAYS, days)]).unwrap_err();
            assert!(e.starts_with("FAULTLINE_RECORD_RETENTION_DAYS="), "{e}");
        }
        assert!(from(&[(vars::TOPIC_ARN, "faultline-topic")])
            .unwrap_err()
            .contains("not an SNS topic ARN"));
        assert!(from(&[(vars::AGENT_DOCUMENT, "a b")])
            .unwrap_err()
            .contains("not an SSM document"));
    }
}

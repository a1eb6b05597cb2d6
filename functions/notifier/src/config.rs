//! The notifier's deployment settings, read once from the environment at init.

use std::time::Duration;

/// Names of the environment variables the notifier reads.
pub mod vars {
    /// The SSM `SecureString` parameter holding the Slack webhook URL (the name, never the URL).
    pub const WEBHOOK_PARAM: &str = "FAULTLINE_SLACK_WEBHOOK_PARAM";
    /// The most time to spend retrying one message (humantime, default `20s`; the function's
    /// remaining time caps it).
    pub const RETRY_BUDGET: &str = "FAULTLINE_SLACK_RETRY_BUDGET";
}

/// What the notifier needs to know about its deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierConfig {
    /// SSM parameter name of the webhook URL.
    pub webhook_param: String,
    /// Retry budget per message.
    pub retry_budget: Duration,
}

/// Builds [`NotifierConfig`] from a variable lookup, rejecting what would misbehave later. A URL
/// where a parameter name belongs is refused without echoing it.
pub fn settings_from(lookup: impl Fn(&str) -> Option<String>) -> Result<NotifierConfig, String> {
    let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    let webhook_param = get(vars::WEBHOOK_PARAM).ok_or_else(|| {
        format!(
            "{} is not set: name the SSM SecureString parameter that holds the Slack webhook URL",
            vars::WEBHOOK_PARAM
        )
    })?;
    if webhook_param.contains("://") {
        return Err(format!(
            "{} holds a URL: put the webhook URL in an SSM SecureString parameter and set this \
             variable to the parameter's name",
            vars::WEBHOOK_PARAM
        ));
    }
    if !webhook_param.starts_with('/') && webhook_param.contains('/') {
        return Err(format!(
            "{}={webhook_param:?}: a hierarchical parameter name must start with '/'",
            vars::WEBHOOK_PARAM
        ));
    }
    let retry_budget = match get(vars::RETRY_BUDGET) {
        None => Duration::from_secs(20),
        Some(v) => humantime::parse_duration(v.trim()).map_err(|e| {
            format!(
                "{}={v:?}: {e}; use a duration such as 20s",
                vars::RETRY_BUDGET
            )
        })?,
    };
    Ok(NotifierConfig {
        webhook_param,
        retry_budget,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<NotifierConfig, String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        settings_from(|k| m.get(k).cloned())
    }

    #[test]
    fn needs_a_parameter_name_not_a_url() {
        assert!(from(&[]).unwrap_err().contains("is not set"));
        let e = from(&[(
            vars::WEBHOOK_PARAM,
            "https://hooks.slack.com/services/T/B/secret",
        )])
        .unwrap_err();
        assert!(!e.contains("secret"), "the URL is not echoed: {e}");
        let s = from(&[
            (vars::WEBHOOK_PARAM, "/faultline/slack-webhook"),
            (vars::RETRY_BUDGET, "5s"),
        ])
        .unwrap();
        assert_eq!(s.retry_budget, Duration::from_secs(5));
        assert!(from(&[(vars::WEBHOOK_PARAM, "/x"), (vars::RETRY_BUDGET, "soon")]).is_err());
    }
}

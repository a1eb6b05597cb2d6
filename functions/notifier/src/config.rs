//! The notifier's deployment settings, read once from the environment at init.

use std::time::Duration;

/// Names of the environment variables the notifier reads.
pub mod vars {
    /// The SSM `SecureString` parameter holding the Slack webhook URL (the name, never the URL).
    pub const WEBHOOK_PARAM: &str = "FAULTLINE_SLACK_WEBHOOK_PARAM";
    /// The most time to spend retrying one message (humantime, default `20s`; the function's
    /// remaining time caps it).
    pub const RETRY_BUDGET: &str = "FAULTLINE_SLACK_RETRY_BUDGET";
    /// The hosts the webhook may point at, comma-separated (default `hooks.slack.com`).
    pub const SLACK_HOSTS: &str = "FAULTLINE_SLACK_HOSTS";
    /// `true` lets the webhook point at a loopback address over http or https: local tests
    /// only (a local Slack on 127.0.0.1). Default `false`.
    pub const ALLOW_LOOPBACK: &str = "FAULTLINE_ALLOW_LOOPBACK_WEBHOOK";
}

/// The default allow-list of webhook hosts.
pub const DEFAULT_SLACK_HOST: &str = "hooks.slack.com";

/// What the notifier needs to know about its deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierConfig {
    /// SSM parameter name of the webhook URL.
    pub webhook_param: String,
    /// Retry budget per message.
    pub retry_budget: Duration,
    /// The hosts (lower case) an https webhook may point at.
    pub slack_hosts: Vec<String>,
    /// Whether a loopback webhook (http or https) is allowed: local tests only.
    pub allow_loopback: bool,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            webhook_param: String::new(),
            retry_budget: Duration::from_secs(20),
            slack_hosts: vec![DEFAULT_SLACK_HOST.to_owned()],
            allow_loopback: false,
        }
    }
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
    let slack_hosts = match get(vars::SLACK_HOSTS) {
        None => vec![DEFAULT_SLACK_HOST.to_owned()],
        Some(v) => {
            let hosts: Vec<String> = v
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect();
            if let Some(bad) = hosts
                .iter()
                .find(|h| h.contains("://") || h.contains('/') || h.contains('*'))
            {
                return Err(format!(
                    "{}: {bad:?} is not a host name; list host names such as {DEFAULT_SLACK_HOST}, \
                     comma-separated",
                    vars::SLACK_HOSTS
                ));
            }
            if hosts.is_empty() {
                return Err(format!(
                    "{}={v:?} lists no host; unset it for {DEFAULT_SLACK_HOST}",
                    vars::SLACK_HOSTS
                ));
            }
            hosts
        }
    };
    let allow_loopback = match get(vars::ALLOW_LOOPBACK).map(|v| v.trim().to_ascii_lowercase()) {
        None => false,
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        Some(v) => {
            return Err(format!(
                "{}={v:?}: use true (local tests only) or false",
                vars::ALLOW_LOOPBACK
            ))
        }
    };
    Ok(NotifierConfig {
        webhook_param,
        retry_budget,
        slack_hosts,
        allow_loopback,
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
        assert_eq!(s.slack_hosts, vec!["hooks.slack.com".to_owned()]);
        assert!(!s.allow_loopback);
    }

    #[test]
    fn host_allow_list_and_loopback_setting() {
        let s = from(&[
            (vars::WEBHOOK_PARAM, "/x"),
            (vars::SLACK_HOSTS, " Hooks.Slack.com, hooks.example.org ,"),
            (vars::ALLOW_LOOPBACK, "true"),
        ])
        .unwrap();
        assert_eq!(s.slack_hosts, vec!["hooks.slack.com", "hooks.example.org"]);
        assert!(s.allow_loopback);
        let e = from(&[
            (vars::WEBHOOK_PARAM, "/x"),
            (vars::SLACK_HOSTS, "https://x.org"),
        ])
        .unwrap_err();
        assert!(e.contains(vars::SLACK_HOSTS), "{e}");
        let e = from(&[(vars::WEBHOOK_PARAM, "/x"), (vars::SLACK_HOSTS, " , ")]).unwrap_err();
        assert!(e.contains("no host"), "{e}");
        let e = from(&[(vars::WEBHOOK_PARAM, "/x"), (vars::ALLOW_LOOPBACK, "yes")]).unwrap_err();
        assert!(e.contains(vars::ALLOW_LOOPBACK), "{e}");
    }
}

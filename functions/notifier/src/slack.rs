//! Pure parts of the notifier: the SNS event, the Block Kit payload, and the retry policy.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

/// The Lambda event SNS delivers.
#[derive(Debug, Clone, Deserialize)]
pub struct SnsEvent {
    /// Usually one.
    #[serde(rename = "Records")]
    pub records: Vec<SnsRecord>,
}

/// One record of an [`SnsEvent`].
#[derive(Debug, Clone, Deserialize)]
pub struct SnsRecord {
    /// The notification.
    #[serde(rename = "Sns")]
    pub sns: SnsMessage,
}

/// The notification inside a record.
#[derive(Debug, Clone, Deserialize)]
pub struct SnsMessage {
    /// SNS message id.
    #[serde(rename = "MessageId", default)]
    pub message_id: String,
    /// Subject (absent when the publisher set none).
    #[serde(rename = "Subject", default)]
    pub subject: Option<String>,
    /// The plain-text body.
    #[serde(rename = "Message")]
    pub message: String,
    /// `{name: {Type, Value}}`.
    #[serde(rename = "MessageAttributes", default)]
    pub attributes: std::collections::BTreeMap<String, Attribute>,
}

/// One message attribute.
#[derive(Debug, Clone, Deserialize)]
pub struct Attribute {
    /// `String`, `Number`, ...
    #[serde(rename = "Type", default)]
    pub kind: String,
    /// The value.
    #[serde(rename = "Value", default)]
    pub value: String,
}

impl SnsEvent {
    /// Parses the event Lambda hands the notifier, naming the member of a bad value
    /// (`Records[0].Sns.Message: invalid type: integer ...`).
    pub fn parse(payload: Value) -> Result<SnsEvent, String> {
        if !payload.is_object() {
            return Err(".: expected a JSON object (an SNS event with Records)".to_owned());
        }
        serde_path_to_error::deserialize(payload).map_err(|e| {
            let path = e.path().to_string();
            format!("{path}: {}", e.into_inner())
        })
    }
}

impl SnsMessage {
    fn attr(&self, k: &str) -> Option<&str> {
        self.attributes.get(k).map(|a| a.value.as_str())
    }

    /// The `event` attribute: `injected`, `refused`, `recovered`, `not-recovered`, `aborted`.
    pub fn event(&self) -> &str {
        self.attr("event").unwrap_or("message")
    }
}

/// Slack attachment colour for an event.
pub fn colour(event: &str) -> &'static str {
    match event {
        "injected" => "#439FE0",
        "recovered" => "#2EB67D",
        "not-recovered" | "aborted" => "#E01E5A",
        "refused" => "#ECB22E",
        _ => "#9E9E9E",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The instance ids listed under `Targets:` in a faultline body.
pub fn targets(body: &str) -> Vec<String> {
    body.lines()
        .skip_while(|l| l.trim_end() != "Targets:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|id| id.starts_with("i-"))
        .map(str::to_owned)
        .collect()
}

/// The `Time to recover:` of a faultline body, without the seconds in brackets.
pub fn ttr(body: &str) -> Option<String> {
    body.lines()
        .find_map(|l| l.strip_prefix("Time to recover:"))
        .map(|rest| {
            rest.trim()
                .split(" (")
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .filter(|s| !s.is_empty())
}

/// The Block Kit payload for one message: a fallback `text`, then an attachment coloured by
/// event with a header, the facts as fields, and the body as preformatted text.
pub fn payload(m: &SnsMessage) -> Value {
    let event = m.event();
    let subject = m
        .subject
        .clone()
        .unwrap_or_else(|| format!("[faultline] {event}"));
    let mut fields = Vec::new();
    if let Some(x) = m.attr("experiment") {
        fields.push(json!({"type": "mrkdwn", "text": format!("*Experiment*\n{}", escape(x))}));
    }
    fields.push(json!({"type": "mrkdwn", "text": format!("*Event*\n{}", escape(event))}));
    if let Some(t) = ttr(&m.message) {
        fields
            .push(json!({"type": "mrkdwn", "text": format!("*Time to recover*\n{}", escape(&t))}));
    }
    let ids = targets(&m.message);
    if !ids.is_empty() {
        let shown: Vec<&str> = ids.iter().take(10).map(String::as_str).collect();
        let more = if ids.len() > shown.len() {
            format!(" and {} more", ids.len() - shown.len())
        } else {
            String::new()
        };
        fields.push(json!({"type": "mrkdwn",
                           "text": format!("*Targets ({})*\n{}{more}", ids.len(), shown.join(", "))}));
    }
    json!({
        "text": subject,
        "attachments": [{
            "color": colour(event),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": truncate(&subject, 150), "emoji": false}},
                {"type": "section", "fields": fields},
                {"type": "section", "text": {"type": "mrkdwn",
                    "text": format!("```{}```", escape(&truncate(m.message.trim_end(), 2900)))}},
            ]
        }]
    })
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Delivered.
    Done,
    /// Try again after this long.
    Retry(Duration),
    /// Give up: the reason (no URL in it).
    Fail(String),
}

/// The policy for one attempt's `status` (or transport failure when `None`), its
/// `Retry-After`, the attempt number (1-based) and the budget left.
pub fn next(status: Option<u16>, retry_after: Option<&str>, attempt: u32, left: Duration) -> Next {
    let backoff = Duration::from_millis(500 * 2u64.pow(attempt.saturating_sub(1).min(6)));
    let (wait, why) = match status {
        Some(s) if (200..300).contains(&s) => return Next::Done,
        Some(429) => {
            let secs = retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1);
            (Duration::from_secs(secs), "429 rate limited".to_owned())
        }
        Some(s) if s >= 500 => (backoff, format!("{s} from Slack")),
        Some(s) => {
            return Next::Fail(format!(
            "Slack refused the message with {s}: the webhook is revoked, its channel archived or \
                 the payload invalid; check the webhook in the SSM parameter"
        ))
        }
        None => (backoff, "no response from Slack".to_owned()),
    };
    if wait > left {
        Next::Fail(format!(
            "{why}; retrying after {wait:?} would exceed the {left:?} left (attempt {attempt})"
        ))
    } else {
        Next::Retry(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "faultline experiment \"web\" recovered in 2m 31s.\n\nExperiment:       web (id e1)\nTime to recover:  2m 31s (151 s)\n\nTargets:\n  i-0a                 web-asg\n  i-0b                 web-asg\n\nTimeline (UTC):\n  10:00:00  injected\n";

    fn msg(event: &str) -> SnsMessage {
        serde_json::from_value(json!({
            "MessageId": "m1", "Subject": "[faultline] web recovered in 2m 31s", "Message": BODY,
            "MessageAttributes": {"event": {"Type": "String", "Value": event},
                                  "experiment": {"Type": "String", "Value": "web"}}
        }))
        .unwrap()
    }

    #[test]
    fn block_kit_has_colour_facts_and_body() {
        let p = payload(&msg("recovered"));
        assert_eq!(p["attachments"][0]["color"], "#2EB67D");
        let blocks = &p["attachments"][0]["blocks"];
        assert_eq!(
            blocks[0]["text"]["text"],
            "[faultline] web recovered in 2m 31s"
        );
        let fields: Vec<&str> = blocks[1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "*Experiment*\nweb",
                "*Event*\nrecovered",
                "*Time to recover*\n2m 31s",
                "*Targets (2)*\ni-0a, i-0b"
            ]
        );
        assert!(blocks[2]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("```faultline"));
        assert_eq!(
            payload(&msg("not-recovered"))["attachments"][0]["color"],
            "#E01E5A"
        );
        assert_eq!(
            payload(&msg("aborted"))["attachments"][0]["color"],
            "#E01E5A"
        );
        assert_eq!(
            payload(&msg("refused"))["attachments"][0]["color"],
            "#ECB22E"
        );
        assert_eq!(
            payload(&msg("injected"))["attachments"][0]["color"],
            "#439FE0"
        );
    }

    #[test]
    fn retry_policy() {
        let left = Duration::from_secs(20);
        assert_eq!(next(Some(200), None, 1, left), Next::Done);
        assert_eq!(
            next(Some(429), Some("1"), 1, left),
            Next::Retry(Duration::from_secs(1))
        );
        assert_eq!(
            next(Some(503), None, 1, left),
            Next::Retry(Duration::from_millis(500))
        );
        assert_eq!(
            next(Some(503), None, 3, left),
            Next::Retry(Duration::from_secs(2))
        );
        assert!(matches!(next(Some(404), None, 1, left), Next::Fail(_)));
        assert!(matches!(
            next(Some(429), Some("60"), 1, left),
            Next::Fail(_)
        ));
        assert_eq!(
            next(None, None, 2, left),
            Next::Retry(Duration::from_secs(1))
        );
    }

    #[test]
    fn escapes_mrkdwn() {
        assert_eq!(escape("<a&b>"), "&lt;a&amp;b&gt;");
    }
}

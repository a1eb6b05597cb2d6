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

/// Slack attachment colour for an event (messages without a verdict).
pub fn colour(event: &str) -> &'static str {
    match event {
        "injected" => "#439FE0",
        "recovered" => "#2EB67D",
        "not-recovered" | "aborted" => "#E01E5A",
        "refused" => "#ECB22E",
        _ => "#9E9E9E",
    }
}

/// Slack's own colours for a verdict (`passed`, `failed`, `aborted`): good, danger, warning;
/// `None` for anything else, so the event decides.
pub fn verdict_colour(verdict: &str) -> Option<&'static str> {
    match verdict {
        "passed" => Some("#2eb67d"),
        "failed" => Some("#e01e5a"),
        "aborted" => Some("#ecb22e"),
        _ => None,
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

/// The breach lines of a faultline body: the indented lines under `Breaches:`, or lines
/// starting with `Breach:` (at most [`MAX_BREACHES`]).
pub fn breaches(body: &str) -> Vec<String> {
    let under: Vec<String> = body
        .lines()
        .skip_while(|l| l.trim_end() != "Breaches:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            l.trim()
                .trim_start_matches(['-', '•', '*'])
                .trim()
                .to_owned()
        })
        .filter(|l| !l.is_empty())
        .collect();
    let lines = if under.is_empty() {
        body.lines()
            .filter_map(|l| l.trim().strip_prefix("Breach:"))
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    } else {
        under
    };
    lines.into_iter().take(MAX_BREACHES).collect()
}

/// Breach lines shown in a message; the report holds them all.
pub const MAX_BREACHES: usize = 5;

/// `97` -> `1m 37s`, `3725` -> `1h 2m 5s`, `4.2` -> `4s`; `None` for a value that is not a
/// non-negative number of seconds.
pub fn duration(seconds: &str) -> Option<String> {
    let s = seconds.trim().parse::<f64>().ok()?;
    if !s.is_finite() || !(0.0..=1e9).contains(&s) {
        return None;
    }
    let s = s.round() as u64;
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    Some(match (h, m) {
        (0, 0) => format!("{sec}s"),
        (0, _) => format!("{m}m {sec}s"),
        _ => format!("{h}h {m}m {sec}s"),
    })
}

/// The first paragraph of a body (its summary sentence), for the context line.
fn summary(body: &str) -> String {
    body.trim()
        .split("\n\n")
        .next()
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Slack rejects a button whose URL is longer.
const MAX_URL: usize = 3000;

fn field(title: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": format!("*{title}*\n{}", truncate(&escape(value), 1900))})
}

/// The Block Kit payload for one message: a fallback `text`, then an attachment coloured by
/// verdict (by event when there is none) with a header, the facts as fields (from the message
/// attributes, the body for older publishers), the breaches, an "Open report" button when the
/// message links a report, and the body's summary as a context line (the full text is the
/// email's and the report's).
pub fn payload(m: &SnsMessage) -> Value {
    let event = m.event();
    let verdict = m.attr("verdict").filter(|v| !v.trim().is_empty());
    let subject = m
        .subject
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| format!("[faultline] {event}"));
    let color = verdict.and_then(verdict_colour).unwrap_or(colour(event));

    let mut fields = Vec::new();
    if let Some(x) = m.attr("experiment") {
        fields.push(field("Experiment", x));
    }
    if let Some(x) = m.attr("action") {
        fields.push(field("Action", x));
    }
    match m.attr("targets").filter(|t| !t.trim().is_empty()) {
        Some(t) => fields.push(field("Targets", t)),
        None => {
            let ids = targets(&m.message);
            if !ids.is_empty() {
                let shown: Vec<&str> = ids.iter().take(10).map(String::as_str).collect();
                let more = if ids.len() > shown.len() {
                    format!(" and {} more", ids.len() - shown.len())
                } else {
                    String::new()
                };
                fields.push(field(
                    &format!("Targets ({})", ids.len()),
                    &format!("{}{more}", shown.join(", ")),
                ));
            }
        }
    }
    let time = m
        .attr("ttr_seconds")
        .and_then(duration)
        .or_else(|| ttr(&m.message));
    if let Some(t) = time {
        fields.push(field("Time to recover", &t));
    }
    match verdict {
        Some(v) => fields.push(field("Verdict", &verdict_label(v))),
        None => fields.push(field(
            "Event",
            &match m.attr("outcome").filter(|o| *o != event && !o.is_empty()) {
                Some(o) => format!("{event} ({o})"),
                None => event.to_owned(),
            },
        )),
    }

    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&subject, 150), "emoji": false}}),
        json!({"type": "section", "fields": fields}),
    ];
    let breach = breaches(&m.message);
    if !breach.is_empty() {
        let lines: Vec<String> = breach
            .iter()
            .map(|b| format!("• {}", escape(&truncate(b, 400))))
            .collect();
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn",
            "text": format!("*Breaches*\n{}", lines.join("\n"))}}));
    }
    if let Some(url) = m
        .attr("report_url")
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        if (url.starts_with("https://") || url.starts_with("http://")) && url.len() <= MAX_URL {
            blocks.push(json!({"type": "actions", "elements": [{
                "type": "button", "action_id": "open_report",
                "text": {"type": "plain_text", "text": "Open report", "emoji": false},
                "url": url,
            }]}));
        } else {
            blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
                "text": "The report link does not fit in a Slack button; the email carries it."}]}));
        }
    }
    let line = summary(&m.message);
    if !line.is_empty() {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
            "text": escape(&truncate(&line, 2900))}]}));
    }
    json!({
        "text": subject,
        "attachments": [{"color": color, "blocks": blocks}]
    })
}

/// `passed` -> `Passed`; an unknown verdict as sent.
fn verdict_label(v: &str) -> String {
    match v {
        "passed" => "Passed".to_owned(),
        "failed" => "Failed".to_owned(),
        "aborted" => "Aborted".to_owned(),
        other => other.to_owned(),
    }
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
    fn block_kit_has_colour_facts_and_summary_without_the_body() {
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
                "*Targets (2)*\ni-0a, i-0b",
                "*Time to recover*\n2m 31s",
                "*Event*\nrecovered",
            ]
        );
        assert_eq!(blocks[2]["type"], "context");
        assert_eq!(
            blocks[2]["elements"][0]["text"],
            "faultline experiment \"web\" recovered in 2m 31s."
        );
        assert_eq!(blocks.as_array().unwrap().len(), 3, "no code block: {p}");
        assert!(!p.to_string().contains("```"), "{p}");
        for (event, colour) in [
            ("not-recovered", "#E01E5A"),
            ("aborted", "#E01E5A"),
            ("refused", "#ECB22E"),
            ("injected", "#439FE0"),
        ] {
            assert_eq!(payload(&msg(event))["attachments"][0]["color"], colour);
        }
    }

    fn with(event: &str, attrs: &[(&str, &str)], body: &str) -> SnsMessage {
        let mut m = msg(event);
        m.message = body.to_owned();
        for (k, v) in attrs {
            m.attributes.insert(
                (*k).to_owned(),
                Attribute {
                    kind: "String".to_owned(),
                    value: (*v).to_owned(),
                },
            );
        }
        m
    }

    #[test]
    fn a_verdict_colours_the_bar_and_the_attributes_fill_the_fields() {
        let body = "faultline experiment \"web\" failed its hypothesis.\n\nBreaches:\n  - SuccessRate Average during: 91.2 < 99 (by 7.8) at 10:03:00\n  - max_ttr: 151 s > 120 s\n\nTargets:\n  i-0a   web-asg\n";
        let url = "https://faultline-reports-1.s3.amazonaws.com/reports/e1/report.html?X-Amz-Signature=abc&X-Amz-Expires=604800";
        let m = with(
            "recovered",
            &[
                ("verdict", "failed"),
                ("action", "terminate"),
                ("targets", "i-0a"),
                ("ttr_seconds", "151"),
                ("outcome", "recovered"),
                ("report_url", url),
            ],
            body,
        );
        let p = payload(&m);
        assert_eq!(p["attachments"][0]["color"], "#e01e5a");
        let blocks = p["attachments"][0]["blocks"].as_array().unwrap();
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
                "*Action*\nterminate",
                "*Targets*\ni-0a",
                "*Time to recover*\n2m 31s",
                "*Verdict*\nFailed",
            ]
        );
        assert_eq!(
            blocks[2]["text"]["text"],
            "*Breaches*\n• SuccessRate Average during: 91.2 &lt; 99 (by 7.8) at 10:03:00\n• max_ttr: 151 s &gt; 120 s"
        );
        assert_eq!(blocks[3]["type"], "actions");
        assert_eq!(blocks[3]["elements"][0]["text"]["text"], "Open report");
        assert_eq!(blocks[3]["elements"][0]["url"], url);
        assert_eq!(blocks[4]["type"], "context");

        for (verdict, colour) in [("passed", "#2eb67d"), ("aborted", "#ecb22e")] {
            let p = payload(&with("recovered", &[("verdict", verdict)], body));
            assert_eq!(p["attachments"][0]["color"], colour);
        }
        // An unknown verdict: the event's colour, the verdict shown as sent.
        let p = payload(&with("recovered", &[("verdict", "maybe")], body));
        assert_eq!(p["attachments"][0]["color"], "#2EB67D");
        // A link too long for a button, or not a URL: no button.
        let long = format!("https://x/{}", "a".repeat(3000));
        let p = payload(&with("recovered", &[("report_url", &long)], body));
        assert!(!p.to_string().contains("\"actions\""), "{p}");
        let p = payload(&with("recovered", &[("report_url", "s3://b/k")], body));
        assert!(!p.to_string().contains("\"actions\""), "{p}");
    }

    #[test]
    fn a_refusal_keeps_its_reason_in_the_summary() {
        let m = with(
            "refused",
            &[("outcome", "refused")],
            "faultline experiment \"web\" refused: the kill switch is off\n(/faultline/enabled = false).\n\nNothing was changed.\n",
        );
        let p = payload(&m);
        let blocks = p["attachments"][0]["blocks"].as_array().unwrap();
        assert_eq!(
            blocks.last().unwrap()["elements"][0]["text"],
            "faultline experiment \"web\" refused: the kill switch is off (/faultline/enabled = false)."
        );
        assert_eq!(blocks[1]["fields"][1]["text"], "*Event*\nrefused");
    }

    #[test]
    fn durations_and_breach_lines() {
        assert_eq!(duration("97").as_deref(), Some("1m 37s"));
        assert_eq!(duration("4.2").as_deref(), Some("4s"));
        assert_eq!(duration("3725").as_deref(), Some("1h 2m 5s"));
        assert_eq!(duration("-1"), None);
        assert_eq!(duration("NaN"), None);
        assert_eq!(duration("soon"), None);
        assert_eq!(breaches("x\nBreach: p99 > 800\nBreach:  \n"), ["p99 > 800"]);
        let many: String = (0..9).map(|i| format!("  - b{i}\n")).collect();
        assert_eq!(breaches(&format!("Breaches:\n{many}")).len(), MAX_BREACHES);
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

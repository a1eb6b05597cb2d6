//! Fuzzing (issue 14): the notifier's SNS event parser over arbitrary JSON and bytes and over a
//! real SNS event with a field replaced, removed or added, and the Slack payload of whatever
//! parses: no panic, and every rejection names the field or says what kind of value was wrong.
//!
//! 256 cases per property; `FAULTLINE_FUZZ_CASES=N` runs N.

use std::collections::BTreeMap;

use faultline_fuzz::{arb_bytes, arb_json, arb_text, config, near_valid};
use faultline_notifier::slack::{
    payload, targets, ttr, Attribute, SnsEvent, SnsMessage, SnsRecord,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const WORDS: &[&str] = &[
    "",
    "x",
    "Records",
    "Sns",
    "Message",
    "Subject",
    "MessageId",
    "MessageAttributes",
    "Type",
    "Value",
    "String",
    "event",
    "experiment",
    "injected",
    "refused",
    "recovered",
    "not-recovered",
    "verdict",
    "passed",
    "failed",
    "aborted",
    "action",
    "targets",
    "ttr_seconds",
    "report_url",
    "https://r.example/x",
    "Breaches:",
    "  - p99 > 800",
    "Breach: p99 > 800",
    "97",
    "1e300",
    "-1",
    "i-0123456789abcdef0",
    "Time to recover: 94s",
    "targets: i-1, i-2",
    "```",
    "<!channel>",
    "&",
    "\u{0}",
    "é",
    "✓",
    "👩‍🚀",
];

/// The attributes faultline's publishers set.
const ATTRIBUTES: &[&str] = &[
    "event",
    "experiment",
    "outcome",
    "verdict",
    "action",
    "targets",
    "ttr_seconds",
    "report_url",
];

fn sns_events() -> Vec<Value> {
    let ev = json!({"Records": [{"EventSource": "aws:sns", "Sns": {
        "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "Subject": "[faultline] web-terminate: injected",
        "Message": "Experiment web-terminate (e1) terminated 2 instances: i-0123456789abcdef0, i-0fedcba9876543210\nTime to recover: 94s\n",
        "MessageAttributes": {"event": {"Type": "String", "Value": "recovered"},
                              "experiment": {"Type": "String", "Value": "web-terminate"}}}}]});
    let bare = json!({"Records": [{"Sns": {"Message": "hello"}}]});
    for e in [&ev, &bare] {
        serde_json::from_value::<SnsEvent>(e.clone()).expect("seed SNS events are valid");
    }
    vec![ev, bare]
}

/// A rejection of `SnsEvent::parse` (what the handler uses) names the member: its message
/// starts with a path (`Records[0].Sns.Message: invalid type ...`), or, for the top level,
/// names the missing member in backticks or says it wants an object.
fn names_the_field(m: &str) -> Result<(), TestCaseError> {
    prop_assert!(!m.trim().is_empty());
    let (path, inner) = m.split_once(": ").unwrap_or((".", m));
    prop_assert!(
        path != "." || inner.contains('`') || inner.starts_with("expected a JSON object"),
        "a rejection that names no member: {m}"
    );
    Ok(())
}

/// Everything the handler does with a parsed message before posting it.
fn render_all(ev: &SnsEvent) -> Result<(), TestCaseError> {
    for r in &ev.records {
        let p = payload(&r.sns);
        prop_assert!(p["text"].is_string());
        let _ = serde_json::to_vec(&p).expect("a payload serialises");
        let _ = targets(&r.sns.message);
        let _ = ttr(&r.sns.message);
    }
    Ok(())
}

/// Messages with any attributes, the new ones (`verdict`, `report_url`, `ttr_seconds`, ...)
/// among the words, and bodies long enough to cross every limit.
fn arb_message() -> impl Strategy<Value = SnsMessage> {
    let body = prop_oneof![
        arb_text(WORDS),
        // Long bodies and subjects cross the truncation limits (150, 2900) mid-character.
        (
            arb_text(WORDS),
            0usize..3100,
            prop::sample::select(vec!["é", "👩‍🚀", "a", "`", "i-0123abc "])
        )
            .prop_map(|(s, n, c)| format!("{s}{}", c.repeat(n / c.len().max(1)))),
        prop::collection::vec(prop_oneof![arb_text(WORDS), "i-[0-9a-f]{1,17}"], 0..40)
            .prop_map(|v| v.join(" ")),
    ];
    (
        arb_text(WORDS),
        prop::option::of(body.clone()),
        body,
        prop::collection::btree_map(
            prop_oneof![
                prop::sample::select(ATTRIBUTES.to_vec()).prop_map(str::to_owned),
                arb_text(WORDS)
            ],
            (arb_text(WORDS), arb_text(WORDS)),
            0..8,
        ),
    )
        .prop_map(|(id, subject, message, attrs)| SnsMessage {
            message_id: id,
            subject,
            message,
            attributes: attrs
                .into_iter()
                .map(|(k, (kind, value))| (k, Attribute { kind, value }))
                .collect::<BTreeMap<_, _>>(),
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_json_never_panics_and_rejections_name_the_field(v in arb_json(WORDS)) {
        match SnsEvent::parse(v) {
            Ok(ev) => render_all(&ev)?,
            Err(e) => names_the_field(&e)?,
        }
    }

    #[test]
    fn near_valid_events_are_rejected_by_field(v in near_valid(sns_events(), WORDS)) {
        match SnsEvent::parse(v) {
            Ok(ev) => render_all(&ev)?,
            Err(e) => names_the_field(&e)?,
        }
    }

    #[test]
    fn event_bytes_never_panic(bytes in arb_bytes(sns_events())) {
        if let Ok(ev) = serde_json::from_slice::<SnsEvent>(&bytes) {
            render_all(&ev)?;
        }
    }

    #[test]
    fn any_message_renders(m in arb_message()) {
        let p = payload(&m);
        let header = p["attachments"][0]["blocks"][0]["text"]["text"].as_str().unwrap_or_default();
        prop_assert!(header.chars().count() <= 150, "header over Slack's 150: {}", header.len());
        // Within Slack's limits: field texts 2000, section and context texts 3000, button
        // URLs 3000; at most 10 fields; never the body pasted in a code block.
        for b in p["attachments"][0]["blocks"].as_array().unwrap() {
            for f in b["fields"].as_array().into_iter().flatten() {
                prop_assert!(f["text"].as_str().unwrap().chars().count() <= 2000, "{f}");
            }
            prop_assert!(b["fields"].as_array().map_or(0, Vec::len) <= 10);
            if let Some(t) = b["text"]["text"].as_str() {
                prop_assert!(t.chars().count() <= 3000, "{b}");
            }
            for e in b["elements"].as_array().into_iter().flatten() {
                prop_assert!(e["text"].as_str().map_or(0, |t| t.chars().count()) <= 3000, "{e}");
                prop_assert!(e["url"].as_str().map_or(0, str::len) <= 3000, "{e}");
            }
        }
        prop_assert!(p["attachments"][0]["color"].as_str().is_some_and(|c| c.starts_with('#')));
        render_all(&SnsEvent { records: vec![SnsRecord { sns: m }] })?;
    }
}

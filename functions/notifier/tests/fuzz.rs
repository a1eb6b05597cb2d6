//! Fuzzing (issue 14): the notifier's SNS event parser over arbitrary JSON and bytes and over a
//! real SNS event with a field replaced, removed or added, and the Slack payload of whatever
//! parses: no panic, and every rejection names the field or says what kind of value was wrong.
//!
//! 256 cases per property; `FAULTLINE_FUZZ_CASES=N` runs N.

use std::collections::BTreeMap;

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

fn arb_message() -> impl Strategy<Value = SnsMessage> {
    let body = prop_oneof![
        arb_text(),
        // Long bodies and subjects cross the truncation limits (150, 2900) mid-character.
        (
            arb_text(),
            0usize..3100,
            prop::sample::select(vec!["é", "👩‍🚀", "a", "`", "i-0123abc "])
        )
            .prop_map(|(s, n, c)| format!("{s}{}", c.repeat(n / c.len().max(1)))),
        prop::collection::vec(prop_oneof![arb_text(), "i-[0-9a-f]{1,17}"], 0..40)
            .prop_map(|v| v.join(" ")),
    ];
    (
        arb_text(),
        prop::option::of(body.clone()),
        body,
        prop::collection::btree_map(arb_text(), (arb_text(), arb_text()), 0..4),
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
    fn arbitrary_json_never_panics_and_rejections_name_the_field(v in arb_json()) {
        match SnsEvent::parse(v) {
            Ok(ev) => render_all(&ev)?,
            Err(e) => names_the_field(&e)?,
        }
    }

    #[test]
    fn near_valid_events_are_rejected_by_field(v in near_valid(sns_events())) {
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
        render_all(&SnsEvent { records: vec![SnsRecord { sns: m }] })?;
    }
}

// ---- shared fuzz helpers (each fuzz.rs carries its own copy: test targets share no module) ----

/// 256 cases per property (proptest's default) for `make test`; `FAULTLINE_FUZZ_CASES=N` for a
/// longer run. No regression files are written into the source tree.
fn config() -> ProptestConfig {
    let cases = std::env::var("FAULTLINE_FUZZ_CASES")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

/// Short strings that are often meaningful to the parsers, plus arbitrary ones.
fn arb_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<String>(),
        2 => prop::sample::select(WORDS).prop_map(str::to_owned),
        1 => "[a-z0-9 ._:/-]{0,12}",
    ]
    .boxed()
}

/// Any JSON value, a few levels deep, with numbers at the edges (negative, huge, fractional).
fn arb_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1000i64..1000).prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop::sample::select(vec![0.5, -0.5, 1e300, -1e300, 1e-300, 100.0, 101.0])
            .prop_map(|f| json!(f)),
        arb_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(arb_text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Every place in `v` (the root, each object member, each array element), as key/index paths.
fn places(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                here.push(Step::Key(k.clone()));
                places(c, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                here.push(Step::Index(i));
                places(c, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn at<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(v, |v, s| match s {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

/// One mutation of a valid document.
#[derive(Clone, Debug)]
enum Mutation {
    /// A random place gets a random value.
    Replace(prop::sample::Index, Value),
    /// A random object member is removed.
    Remove(prop::sample::Index),
    /// A random object gets an extra member.
    Add(prop::sample::Index, String, Value),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<prop::sample::Index>(), arb_json()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => any::<prop::sample::Index>().prop_map(Mutation::Remove),
        1 => (any::<prop::sample::Index>(), arb_text(), arb_json())
            .prop_map(|(i, k, v)| Mutation::Add(i, k, v)),
    ]
}

fn get<'a>(v: &'a Value, path: &[Step]) -> &'a Value {
    path.iter().fold(v, |v, s| match s {
        Step::Key(k) => &v[k.as_str()],
        Step::Index(i) => &v[*i],
    })
}

fn mutate(mut doc: Value, m: &Mutation) -> Value {
    let mut all: Vec<Vec<Step>> = Vec::new();
    places(&doc, &mut Vec::new(), &mut all);
    match m {
        Mutation::Replace(i, v) => {
            let p = all[i.index(all.len())].clone();
            *at(&mut doc, &p) = v.clone();
        }
        Mutation::Remove(i) => {
            let members: Vec<&Vec<Step>> = all
                .iter()
                .filter(|p| matches!(p.last(), Some(Step::Key(_))))
                .collect();
            if !members.is_empty() {
                let p = members[i.index(members.len())].clone();
                let (last, parent) = p.split_last().unwrap();
                if let (Step::Key(k), Value::Object(o)) = (last, at(&mut doc, parent)) {
                    o.remove(k);
                }
            }
        }
        Mutation::Add(i, k, v) => {
            let objects: Vec<&Vec<Step>> =
                all.iter().filter(|p| get(&doc, p).is_object()).collect();
            if !objects.is_empty() {
                let p = objects[i.index(objects.len())].clone();
                if let Value::Object(o) = at(&mut doc, &p) {
                    o.insert(k.clone(), v.clone());
                }
            }
        }
    }
    doc
}

/// A valid document with one to three mutations.
fn near_valid(docs: Vec<Value>) -> impl Strategy<Value = Value> {
    (
        prop::sample::select(docs),
        prop::collection::vec(arb_mutation(), 1..4),
    )
        .prop_map(|(doc, ms)| ms.iter().fold(doc, mutate))
}

/// Arbitrary bytes, and valid documents' text cut short or with one byte changed.
fn arb_bytes(docs: Vec<Value>) -> impl Strategy<Value = Vec<u8>> {
    let texts: Vec<Vec<u8>> = docs.iter().map(|d| d.to_string().into_bytes()).collect();
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        (
            prop::sample::select(texts.clone()),
            any::<prop::sample::Index>()
        )
            .prop_map(|(t, i)| t[..i.index(t.len() + 1)].to_vec()),
        (
            prop::sample::select(texts),
            any::<prop::sample::Index>(),
            any::<u8>()
        )
            .prop_map(|(mut t, i, b)| {
                let n = t.len();
                t[i.index(n)] = b;
                t
            }),
    ]
}

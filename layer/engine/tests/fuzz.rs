//! Fuzzing (issue 14): the layer's fault configuration parser (both failure-lambda formats)
//! over arbitrary text and over valid documents with a field replaced, removed or added: no
//! panic, and every rejection names the field (or the unknown mode, or says the whole document
//! is not a JSON object).
//!
//! 256 cases per property; `FAULTLINE_FUZZ_CASES=N` runs N.

use faultline_layer_engine::config::{ConfigError, FaultConfig};
use proptest::prelude::*;
use serde_json::{json, Value};

const WORDS: &[&str] = &[
    "",
    "x",
    "enabled",
    "percentage",
    "rate",
    "match",
    "path",
    "operator",
    "value",
    "min_latency",
    "max_latency",
    "exception_msg",
    "status_code",
    "disk_space",
    "deny_list",
    "timeout_buffer_ms",
    "body",
    "latency",
    "exception",
    "statuscode",
    "diskspace",
    "denylist",
    "timeout",
    "corruption",
    "expires_at",
    "isEnabled",
    "failureMode",
    "minLatency",
    "maxLatency",
    "exceptionMsg",
    "statusCode",
    "diskSpace",
    "eq",
    "exists",
    "startsWith",
    "regex",
    "s3.*.amazonaws.com",
    "[a-z0-9-]{1,32767}",
    "(",
    "a{64}",
    "^dynamodb\\.",
    "2026-11-23T10:00:00Z",
    "body.user.id",
    "\u{0}",
    "é",
];

fn configs() -> Vec<Value> {
    let v1 = json!({
        "exception": {"enabled": true, "percentage": 10, "exception_msg": "boom"},
        "latency": {"enabled": true, "percentage": 50, "min_latency": 100, "max_latency": 400,
                    "match": [{"path": "body.user", "operator": "eq", "value": "x"}]},
        "statuscode": {"enabled": false, "status_code": 404},
        "diskspace": {"enabled": true, "disk_space": 5},
        "denylist": {"enabled": true, "deny_list": ["s3.*.amazonaws.com", "^dynamodb\\."]},
        "timeout": {"enabled": true, "timeout_buffer_ms": 500},
        "corruption": {"enabled": true, "body": "{\"error\": \"corrupted\"}"},
        "expires_at": "2026-11-23T10:00:00Z"});
    let v0 = json!({"isEnabled": true, "failureMode": "latency", "rate": 0.5,
                    "minLatency": 100, "maxLatency": 400});
    let v0_deny = json!({"isEnabled": true, "failureMode": "denylist", "rate": 1,
                         "denylist": ["s3.*.amazonaws.com"]});
    for c in [&v1, &v0, &v0_deny] {
        FaultConfig::parse(&c.to_string()).expect("seed configs are valid");
    }
    vec![v1, v0, v0_deny]
}

/// A rejection names the field, or the unknown mode, or rejects the document as a whole only
/// when it is not a JSON object.
fn names_the_field(text: &str, e: &ConfigError) -> Result<(), TestCaseError> {
    let doc = serde_json::from_str::<Value>(text).ok();
    let obj = doc.as_ref().and_then(Value::as_object);
    let legacy = obj.is_some_and(|o| o.contains_key("failureMode") || o.contains_key("isEnabled"));
    match e {
        ConfigError::Invalid { field, reason } => {
            prop_assert!(!field.is_empty(), "no field: {e:?}");
            prop_assert!(!reason.trim().is_empty(), "no reason: {e:?}");
        }
        ConfigError::UnknownMode(mode) => {
            let o = obj.expect("an unknown mode comes from an object");
            prop_assert!(
                o.contains_key(mode.as_str()) || legacy,
                "unknown mode {mode:?} is no key of {text}"
            );
        }
        ConfigError::Malformed(m) => {
            // Only what is not a JSON object is malformed; a 0.x document with a value of the
            // wrong type names its field (`isEnabled`) like a 1.x one.
            prop_assert!(
                obj.is_none(),
                "a JSON object rejected as a whole: {m} for {text}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(bytes in arb_bytes(configs())) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = FaultConfig::parse(&text) {
            names_the_field(&text, &e)?;
        }
    }

    #[test]
    fn arbitrary_json_is_rejected_by_field(v in arb_json()) {
        let text = v.to_string();
        if let Err(e) = FaultConfig::parse(&text) {
            names_the_field(&text, &e)?;
        }
    }

    #[test]
    fn arbitrary_modes_are_rejected_by_field(
        mode in prop::sample::select(&WORDS[17..24]),
        flag in arb_json(),
    ) {
        let text = json!({ mode: flag }).to_string();
        if let Err(e) = FaultConfig::parse(&text) {
            names_the_field(&text, &e)?;
        }
    }

    #[test]
    fn near_valid_configs_are_rejected_by_field(v in near_valid(configs())) {
        let text = v.to_string();
        match FaultConfig::parse(&text) {
            Ok(c) => {
                let _ = (c.is_empty(), c.needs_event(), c.mode_names());
            }
            Err(e) => names_the_field(&text, &e)?,
        }
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

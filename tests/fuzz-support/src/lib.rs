//! faultline-fuzz: the generators the fuzz tests share (issue 14's fuzzing): arbitrary JSON
//! and text seeded with words that mean something to the parser under test, valid documents
//! with one to three mutations (a member replaced, removed or added), and valid documents' bytes
//! cut short or with one byte changed; and the case count, `FAULTLINE_FUZZ_CASES` (256 by
//! default, proptest's own), with no regression files written into the source tree.
//!
//! A dev-dependency only; it depends on nothing of faultline's, so every crate may use it.

use proptest::prelude::*;
use serde_json::{json, Value};

/// 256 cases per property (proptest's default) for `make test`; `FAULTLINE_FUZZ_CASES=N` for a
/// longer run. No regression files are written into the source tree.
pub fn config() -> ProptestConfig {
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
pub fn arb_text(words: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<String>(),
        2 => prop::sample::select(words).prop_map(str::to_owned),
        1 => "[a-z0-9 ._:/-]{0,12}",
    ]
    .boxed()
}

/// Any JSON value, a few levels deep, with numbers at the edges (negative, huge, fractional).
pub fn arb_json(words: &'static [&'static str]) -> BoxedStrategy<Value> {
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
        arb_text(words).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(arb_text(words), inner, 0..4)
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

fn arb_mutation(words: &'static [&'static str]) -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<prop::sample::Index>(), arb_json(words)).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => any::<prop::sample::Index>().prop_map(Mutation::Remove),
        1 => (any::<prop::sample::Index>(), arb_text(words), arb_json(words))
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
pub fn near_valid(
    docs: Vec<Value>,
    words: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    (
        prop::sample::select(docs),
        prop::collection::vec(arb_mutation(words), 1..4),
    )
        .prop_map(|(doc, ms)| ms.iter().fold(doc, mutate))
}

/// Arbitrary bytes, and valid documents' text cut short or with one byte changed.
pub fn arb_bytes(docs: Vec<Value>) -> impl Strategy<Value = Vec<u8>> {
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

//! Fuzzing (issue 14): the recovery timer's event parser over arbitrary JSON and over real
//! EventBridge events with a field replaced, removed or added: no panic, and every rejection
//! names the field it could not use.
//!
//! 256 cases per property; `FAULTLINE_FUZZ_CASES=N` runs N.

use faultline_recovery_timer::event::{parse, timestamp, Trigger};
use proptest::prelude::*;
use serde_json::{json, Value};

const WORDS: &[&str] = &[
    "",
    "x",
    "source",
    "detail-type",
    "detail",
    "aws.autoscaling",
    "aws.cloudwatch",
    "aws.scheduler",
    "EC2 Instance Launch Successful",
    "EC2 Instance Terminate Successful",
    "EC2 Instance Launch Unsuccessful",
    "CloudWatch Alarm State Change",
    "AutoScalingGroupName",
    "EndTime",
    "EC2InstanceId",
    "alarmName",
    "state",
    "value",
    "OK",
    "ALARM",
    "2015-11-11T21:31:47.208Z",
    "2019-10-02T17:04:40.985+0000",
    "2019-10-02T17:04:40",
    "+275760-09-13T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "yesterday",
    "\u{0}",
    "é",
];

fn events() -> Vec<Value> {
    let launch = json!({"version": "0", "detail-type": "EC2 Instance Launch Successful",
        "source": "aws.autoscaling", "time": "2015-11-11T21:31:47Z",
        "detail": {"StatusCode": "InProgress", "AutoScalingGroupName": "web-asg",
                   "EndTime": "2015-11-11T21:31:47.208Z", "EC2InstanceId": "i-b188560f",
                   "StartTime": "2015-11-11T21:31:13.671Z"}});
    let terminate = json!({"detail-type": "EC2 Instance Terminate Successful",
        "source": "aws.autoscaling", "detail": {"AutoScalingGroupName": "web-asg",
                                                "EC2InstanceId": "i-b188560f"}});
    let alarm = json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
        "time": "2019-10-02T17:04:40Z",
        "detail": {"alarmName": "web-5xx", "state": {"value": "OK", "reason": "r",
                   "timestamp": "2019-10-02T17:04:40.985+0000"}}});
    let backstop =
        json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}});
    for e in [&launch, &terminate, &alarm] {
        assert!(
            !matches!(parse(e), Ok(Trigger::Backstop) | Err(_)),
            "seed {e} must parse"
        );
    }
    vec![launch, terminate, alarm, backstop]
}

const FIELDS: &[&str] = &[
    "detail.AutoScalingGroupName",
    "detail.EndTime",
    "detail.alarmName",
    "detail.state.value",
    "detail-type",
];

/// A rejection names the field it needed (`detail.EndTime`, ...).
fn names_the_field(v: &Value, e: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        FIELDS.iter().any(|f| e.contains(f)),
        "a rejection that names no field: {e:?} for {v}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_events_never_panic_and_rejections_name_the_field(v in arb_json()) {
        if let Err(e) = parse(&v) {
            names_the_field(&v, &e)?;
        }
    }

    #[test]
    fn arbitrary_details_never_panic(
        which in prop::sample::select(events()),
        detail in arb_json(),
    ) {
        let mut v = which;
        v["detail"] = detail;
        if let Err(e) = parse(&v) {
            names_the_field(&v, &e)?;
        }
    }

    #[test]
    fn near_valid_events_are_rejected_by_field(v in near_valid(events())) {
        match parse(&v) {
            Err(e) => names_the_field(&v, &e)?,
            Ok(Trigger::Launch { end_time, .. }) => {
                // What was accepted came from an EndTime the timestamp parser reads.
                let end = v["detail"]["EndTime"].as_str().unwrap_or_default();
                prop_assert_eq!(timestamp(end), Some(end_time));
            }
            Ok(_) => {}
        }
    }

    #[test]
    fn event_text_never_panics(bytes in arb_bytes(events())) {
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            if let Err(e) = parse(&v) {
                names_the_field(&v, &e)?;
            }
        }
    }

    #[test]
    fn timestamps_never_panic(s in arb_text()) {
        let _ = timestamp(&s);
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

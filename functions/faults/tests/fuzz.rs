//! Fuzzing (issue 14): the agent's arguments, validated by [`Fault::from_raw`] for every kind
//! (and for names that are no kind) over arbitrary [`RawArgs`], near-valid spec `args` objects
//! and arbitrary durations: no panic, and every rejection names the argument.
//!
//! 256 cases per property; `FAULTLINE_FUZZ_CASES=N` runs N.

use faultline_faults::{parse_rate, Fault, FaultDuration, FaultError, RawArgs, ALL_KINDS};
use proptest::prelude::*;
use serde_json::{json, Value};

const WORDS: &[&str] = &[
    "",
    "x",
    "eth0",
    "lo",
    "ens5",
    "a-very-long-interface-name",
    "10.0.0.0/8",
    "10.0.0.1",
    "0.0.0.0/0",
    "::1",
    "example.com",
    "169.254.169.254",
    "10.0.0.0/33",
    "10mbit",
    "1gbit",
    "0kbit",
    "99999999999tbit",
    "nginx",
    "sshd",
    "systemd",
    "amazon-ssm-agent",
    "init",
    ".",
    ".*",
    "(",
    "^nginx: master",
    "/run/nginx.pid",
    "/tmp",
    "/dev/shm",
    "/run",
    "/",
    "../etc",
    "TERM",
    "SIGKILL",
    "9",
    "INT",
    "QUIT",
    "0",
    "-1",
    "30s",
    "5m",
    "1h 30m",
    "25h",
    "0s",
    "\u{0}",
    "é",
];

/// The argument names a rejection may carry: the spec's `args` members, the fault's kind and
/// its duration.
const FIELDS: &[&str] = &[
    "interface",
    "to",
    "port",
    "delay_ms",
    "jitter_ms",
    "percent",
    "rate",
    "name",
    "pattern",
    "pidfile",
    "signal",
    "count",
    "repeat_every",
    "wait_restart",
    "allow_vital",
    "workers",
    "load_percent",
    "mb",
    "path",
    "fault",
    "duration",
];

fn names_the_field(e: &FaultError) -> Result<(), TestCaseError> {
    prop_assert!(FIELDS.contains(&e.field.as_str()), "unknown field in {e:?}");
    prop_assert!(!e.message.trim().is_empty(), "no message in {e:?}");
    prop_assert!(e.flag().len() > 2, "no flag for {e:?}");
    Ok(())
}

fn arb_kind() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(ALL_KINDS.to_vec()).prop_map(|k| k.name().to_owned()),
        1 => arb_text(),
    ]
}

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -10i64..10,
        0i64..2000,
        prop::sample::select(vec![
            i64::MIN,
            i64::MAX,
            u32::MAX as i64,
            65535,
            65536,
            100,
            101
        ]),
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        -10.0f64..110.0,
        prop::sample::select(vec![
            0.0,
            -0.0,
            100.0,
            100.000001,
            1e300,
            f64::NAN,
            f64::INFINITY
        ]),
    ]
}

fn arb_raw() -> impl Strategy<Value = RawArgs> {
    let s = || prop::option::weighted(0.3, arb_text());
    let i = || prop::option::weighted(0.3, int());
    let f = || prop::option::weighted(0.3, float());
    (
        (
            s(),
            prop::collection::vec(arb_text(), 0..3),
            i(),
            i(),
            i(),
            f(),
            s(),
        ),
        (
            s(),
            s(),
            s(),
            s(),
            i(),
            f(),
            f(),
            prop::option::weighted(0.3, any::<bool>()),
        ),
        (i(), i(), i(), s()),
    )
        .prop_map(
            |(
                (interface, to, port, delay_ms, jitter_ms, percent, rate),
                (name, pattern, pidfile, signal, count, repeat_every, wait_restart, allow_vital),
                (workers, load_percent, mb, path),
            )| RawArgs {
                interface,
                to,
                port,
                delay_ms,
                jitter_ms,
                percent,
                rate,
                name,
                pattern,
                pidfile,
                signal,
                count,
                repeat_every,
                wait_restart,
                allow_vital,
                workers,
                load_percent,
                mb,
                path,
            },
        )
}

/// Valid `(kind, args)` pairs as a spec carries them.
fn valid_args() -> Vec<Value> {
    let docs = vec![
        json!({"fault": "latency", "args": {"delay_ms": 200, "jitter_ms": 20, "to": ["10.0.0.0/8"], "port": 443}}),
        json!({"fault": "loss", "args": {"percent": 10, "interface": "eth0"}}),
        json!({"fault": "bandwidth", "args": {"rate": "10mbit"}}),
        json!({"fault": "blackhole", "args": {"to": ["10.1.2.3"]}}),
        json!({"fault": "kill", "args": {"name": "nginx", "signal": "TERM", "count": 1}}),
        json!({"fault": "kill", "args": {"pattern": "^nginx: worker", "repeat_every": 10}}),
        json!({"fault": "cpu", "args": {"workers": 2, "load_percent": 80}}),
        json!({"fault": "memory", "args": {"mb": 256}}),
        json!({"fault": "disk", "args": {"path": "/tmp", "percent": 50}}),
        json!({"fault": "io", "args": {"workers": 1, "path": "/tmp"}}),
    ];
    for d in &docs {
        let raw: RawArgs = serde_json::from_value(d["args"].clone()).expect("seed args parse");
        if let Err(e) = Fault::from_raw(d["fault"].as_str().unwrap(), &raw) {
            panic!("seed {d} must be valid: {e}");
        }
    }
    docs
}

/// What the monkey and the agent do with an accepted fault must not panic either.
fn use_it(f: &Fault) {
    let _ = f.kind();
    let _ = f.to_args();
    if let Err(e) = f.ssm_args() {
        assert!(
            !e.field.is_empty(),
            "ssm_args rejection without a field: {e:?}"
        );
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_args_are_rejected_by_field(kind in arb_kind(), raw in arb_raw()) {
        match Fault::from_raw(&kind, &raw) {
            Ok(f) => use_it(&f),
            Err(e) => names_the_field(&e)?,
        }
    }

    #[test]
    fn near_valid_spec_args_are_rejected_by_field(v in near_valid(valid_args())) {
        let kind = v.get("fault").and_then(Value::as_str).unwrap_or_default().to_owned();
        let args = v.get("args").cloned().unwrap_or(Value::Null);
        // The spec reads `args` with serde first (unknown members refused by name); what
        // passes is validated.
        if let Ok(raw) = serde_json::from_value::<RawArgs>(args) {
            match Fault::from_raw(&kind, &raw) {
                Ok(f) => use_it(&f),
                Err(e) => names_the_field(&e)?,
            }
        }
    }

    #[test]
    fn args_bytes_never_panic(
        kind in arb_kind(),
        bytes in arb_bytes(valid_args().into_iter().map(|d| d["args"].clone()).collect()),
    ) {
        if let Ok(raw) = serde_json::from_slice::<RawArgs>(&bytes) {
            match Fault::from_raw(&kind, &raw) {
                Ok(f) => use_it(&f),
                Err(e) => names_the_field(&e)?,
            }
        }
    }

    #[test]
    fn durations_and_rates_never_panic(s in arb_text()) {
        if let Err(e) = FaultDuration::parse(&s) {
            names_the_field(&e)?;
            prop_assert_eq!(e.field.as_str(), "duration");
        }
        let _ = parse_rate(&s);
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

//! Fuzzing (issue 14): the agent's arguments, validated by [`Fault::from_raw`] for every kind
//! (and for names that are no kind) over arbitrary [`RawArgs`], near-valid spec `args` objects
//! and arbitrary durations: no panic, and every rejection names the argument.
//!
//! 256 cases per property; `FAULTLINE_FUZZ_CASES=N` runs N.

use faultline_faults::{parse_rate, Fault, FaultDuration, FaultError, RawArgs, ALL_KINDS};
use faultline_fuzz::{arb_bytes, arb_text, config, near_valid};
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
        1 => arb_text(WORDS),
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
    let s = || prop::option::weighted(0.3, arb_text(WORDS));
    let i = || prop::option::weighted(0.3, int());
    let f = || prop::option::weighted(0.3, float());
    (
        (
            s(),
            prop::collection::vec(arb_text(WORDS), 0..3),
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
    fn near_valid_spec_args_are_rejected_by_field(v in near_valid(valid_args(), WORDS)) {
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
    fn durations_and_rates_never_panic(s in arb_text(WORDS)) {
        if let Err(e) = FaultDuration::parse(&s) {
            names_the_field(&e)?;
            prop_assert_eq!(e.field.as_str(), "duration");
        }
        let _ = parse_rate(&s);
    }
}

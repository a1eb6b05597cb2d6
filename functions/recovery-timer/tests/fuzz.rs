//! Fuzzing (issue 14): the recovery timer's event parser over arbitrary JSON and over real
//! EventBridge events with a field replaced, removed or added: no panic, and every rejection
//! names the field it could not use.
//!
//! 256 cases per property; `FAULTLINE_FUZZ_CASES=N` runs N.

use faultline_fuzz::{arb_bytes, arb_json, arb_text, config, near_valid};
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
    fn arbitrary_events_never_panic_and_rejections_name_the_field(v in arb_json(WORDS)) {
        if let Err(e) = parse(&v) {
            names_the_field(&v, &e)?;
        }
    }

    #[test]
    fn arbitrary_details_never_panic(
        which in prop::sample::select(events()),
        detail in arb_json(WORDS),
    ) {
        let mut v = which;
        v["detail"] = detail;
        if let Err(e) = parse(&v) {
            names_the_field(&v, &e)?;
        }
    }

    #[test]
    fn near_valid_events_are_rejected_by_field(v in near_valid(events(), WORDS)) {
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
    fn timestamps_never_panic(s in arb_text(WORDS)) {
        let _ = timestamp(&s);
    }
}

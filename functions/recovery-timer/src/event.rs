//! What triggered a run: an Auto Scaling lifecycle event, an alarm state change or the
//! backstop schedule, from the EventBridge event shapes. Whatever the trigger, every open
//! record is re-evaluated; an event only adds evidence (a launch's `EndTime`).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

/// The trigger of one run.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// `EC2 Instance Launch Successful`.
    Launch {
        /// `detail.AutoScalingGroupName`.
        group: String,
        /// `detail.EC2InstanceId`.
        instance: Option<String>,
        /// `detail.EndTime`: when the launch activity ended.
        end_time: DateTime<Utc>,
    },
    /// `EC2 Instance Terminate Successful`.
    Terminate {
        /// `detail.AutoScalingGroupName`.
        group: String,
    },
    /// `CloudWatch Alarm State Change`.
    Alarm {
        /// `detail.alarmName`.
        name: String,
        /// `detail.state.value`.
        state: String,
    },
    /// The schedule, or any other payload: just look.
    Backstop,
}

impl Trigger {
    /// A short name for logs and the run report.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Launch { .. } => "launch",
            Trigger::Terminate { .. } => "terminate",
            Trigger::Alarm { .. } => "alarm",
            Trigger::Backstop => "backstop",
        }
    }
}

/// Parses EventBridge timestamps: RFC 3339 (`2026-11-23T10:01:10.208Z`) and CloudWatch's
/// `2026-11-23T10:01:10.208+0000`.
pub fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Reads the trigger. An event that claims to be a lifecycle or alarm event but lacks what the
/// timer needs is an error (the caller logs it and still re-evaluates every record).
pub fn parse(v: &Value) -> Result<Trigger, String> {
    let source = v.get("source").and_then(Value::as_str).unwrap_or_default();
    let kind = v
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match (source, kind) {
        ("aws.autoscaling", "EC2 Instance Launch Successful") => {
            let group = text(v, &["detail", "AutoScalingGroupName"])
                .ok_or("launch event without detail.AutoScalingGroupName")?;
            let end = text(v, &["detail", "EndTime"])
                .ok_or("launch event without detail.EndTime")?;
            let end_time = timestamp(end).ok_or_else(|| {
                format!("launch event detail.EndTime {end:?} is not an ISO 8601 time")
            })?;
            Ok(Trigger::Launch {
                group: group.to_owned(),
                instance: text(v, &["detail", "EC2InstanceId"]).map(str::to_owned),
                end_time,
            })
        }
        ("aws.autoscaling", "EC2 Instance Terminate Successful") => Ok(Trigger::Terminate {
            group: text(v, &["detail", "AutoScalingGroupName"])
                .ok_or("terminate event without detail.AutoScalingGroupName")?
                .to_owned(),
        }),
        ("aws.autoscaling", other) => Err(format!(
            "detail-type: unexpected Auto Scaling event {other:?}: the rule should send only launch and terminate successes"
        )),
        ("aws.cloudwatch", "CloudWatch Alarm State Change") => Ok(Trigger::Alarm {
            name: text(v, &["detail", "alarmName"])
                .ok_or("alarm event without detail.alarmName")?
                .to_owned(),
            state: text(v, &["detail", "state", "value"])
                .ok_or("alarm event without detail.state.value")?
                .to_owned(),
        }),
        _ => Ok(Trigger::Backstop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_real_eventbridge_shapes() {
        // From the Auto Scaling user guide, "EC2 Instance Launch Successful".
        let launch = json!({
            "version": "0", "id": "3e3c153a-8339-4e30-8c35-687ebef853fe",
            "detail-type": "EC2 Instance Launch Successful", "source": "aws.autoscaling",
            "account": "123456789012", "time": "2015-11-11T21:31:47Z", "region": "us-east-1",
            "resources": ["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/sampleLuanchSucASG",
                          "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"],
            "detail": {"StatusCode": "InProgress", "AutoScalingGroupName": "sampleLuanchSucASG",
                       "ActivityId": "9cabb81f-42de-417d-8aa7-ce16bf026590",
                       "Details": {"Availability Zone": "us-east-1b", "Subnet ID": "subnet-95bfcebe"},
                       "RequestId": "9cabb81f-42de-417d-8aa7-ce16bf026590",
                       "EndTime": "2015-11-11T21:31:47.208Z", "EC2InstanceId": "i-b188560f",
                       "StartTime": "2015-11-11T21:31:13.671Z",
                       "Cause": "At 2015-11-11T21:31:10Z a user request created an AutoScalingGroup..."}});
        assert_eq!(
            parse(&launch).unwrap(),
            Trigger::Launch {
                group: "sampleLuanchSucASG".into(),
                instance: Some("i-b188560f".into()),
                end_time: timestamp("2015-11-11T21:31:47.208Z").unwrap(),
            }
        );
        let alarm = json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
            "time": "2019-10-02T17:04:40Z",
            "detail": {"alarmName": "web-5xx", "state": {"value": "OK", "reason": "r",
                       "timestamp": "2019-10-02T17:04:40.985+0000"}}});
        assert_eq!(
            parse(&alarm).unwrap(),
            Trigger::Alarm {
                name: "web-5xx".into(),
                state: "OK".into()
            }
        );
        assert_eq!(parse(&json!({})).unwrap(), Trigger::Backstop);
        assert_eq!(
            parse(&json!({"source": "aws.scheduler"})).unwrap(),
            Trigger::Backstop
        );
    }

    #[test]
    fn malformed_events_say_what_is_missing() {
        let e = parse(
            &json!({"source": "aws.autoscaling", "detail-type": "EC2 Instance Launch Successful",
                              "detail": {"AutoScalingGroupName": "g"}}),
        )
        .unwrap_err();
        assert!(e.contains("detail.EndTime"), "{e}");
        let e = parse(
            &json!({"source": "aws.autoscaling", "detail-type": "EC2 Instance Launch Successful",
                              "detail": {"AutoScalingGroupName": "g", "EndTime": "yesterday"}}),
        )
        .unwrap_err();
        assert!(e.contains("not an ISO 8601 time"), "{e}");
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            timestamp("2019-10-02T17:04:40.985+0000"),
            timestamp("2019-10-02T17:04:40.985Z")
        );
        assert!(timestamp("2019-10-02T17:04:40").is_some());
        assert!(timestamp("nope").is_none());
    }
}

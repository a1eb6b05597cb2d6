//! CloudWatch alarms: the state of each stop alarm.

use std::collections::HashMap;

use super::AwsError;

/// The state of each named alarm (metric or composite), `None` for names CloudWatch does not
/// know. Order follows `names`.
pub async fn alarm_states(
    client: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<Vec<(String, Option<String>)>, AwsError> {
    use aws_sdk_cloudwatch::types::AlarmType;
    let mut found: HashMap<String, String> = HashMap::new();
    // DescribeAlarms takes at most 100 names per call.
    for chunk in names.chunks(100) {
        let mut pages = client
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::new("DescribeAlarms", e))?;
            let metric = page
                .metric_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.state_value()));
            let composite = page
                .composite_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.state_value()));
            for (name, state) in metric.chain(composite) {
                if let (Some(n), Some(s)) = (name, state) {
                    found.insert(n.to_owned(), s.as_str().to_owned());
                }
            }
        }
    }
    Ok(names
        .iter()
        .map(|n| (n.clone(), found.get(n).cloned()))
        .collect())
}

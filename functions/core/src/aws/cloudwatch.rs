//! CloudWatch: the state of stop and recovery alarms, and the recovery metrics.

use std::collections::HashMap;

use super::AwsError;

/// The state of each named alarm (metric or composite), `None` for names CloudWatch does not
/// know. Order follows `names`.
pub async fn alarm_states(
    client: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<Vec<(String, Option<String>)>, AwsError> {
    let found = alarm_details(client, names).await?;
    Ok(names
        .iter()
        .map(|n| (n.clone(), found.get(n).map(|(state, _)| state.clone())))
        .collect())
}

/// When an alarm's state changed: `StateTransitionedTimestamp` where AWS returns it, else
/// `StateUpdatedTimestamp` (which also moves on updates that keep the state, e.g. a composite
/// alarm's reason; moto returns only this one).
fn state_changed_at(
    transitioned: Option<&aws_smithy_types::DateTime>,
    updated: Option<&aws_smithy_types::DateTime>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    transitioned
        .or(updated)
        .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

/// State and state-change time ([`state_changed_at`]: `StateTransitionedTimestamp`, else
/// `StateUpdatedTimestamp`) of each named alarm CloudWatch knows (metric or composite); unknown
/// names are absent.
pub async fn alarm_details(
    client: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<HashMap<String, (String, Option<chrono::DateTime<chrono::Utc>>)>, AwsError> {
    use aws_sdk_cloudwatch::types::AlarmType;
    let mut found = HashMap::new();
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
            let metric = page.metric_alarms().iter().map(|a| {
                (
                    a.alarm_name(),
                    a.state_value(),
                    state_changed_at(
                        a.state_transitioned_timestamp(),
                        a.state_updated_timestamp(),
                    ),
                )
            });
            let composite = page.composite_alarms().iter().map(|a| {
                (
                    a.alarm_name(),
                    a.state_value(),
                    state_changed_at(
                        a.state_transitioned_timestamp(),
                        a.state_updated_timestamp(),
                    ),
                )
            });
            for (name, state, at) in metric.chain(composite) {
                if let (Some(n), Some(s)) = (name, state) {
                    found.insert(n.to_owned(), (s.as_str().to_owned(), at));
                }
            }
        }
    }
    Ok(found)
}

/// One data point for [`put_metrics`].
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    /// Metric name.
    pub name: &'static str,
    /// Value.
    pub value: f64,
    /// `Seconds` or `Count`.
    pub unit: aws_sdk_cloudwatch::types::StandardUnit,
    /// Dimensions, name → value.
    pub dimensions: Vec<(&'static str, String)>,
}

/// `PutMetricData` of `data` into `namespace` (at most 1,000 per call).
pub async fn put_metrics(
    client: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    data: &[Datum],
) -> Result<(), AwsError> {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    for chunk in data.chunks(1000) {
        let data = chunk
            .iter()
            .map(|d| {
                MetricDatum::builder()
                    .metric_name(d.name)
                    .value(d.value)
                    .unit(d.unit.clone())
                    .set_dimensions(Some(
                        d.dimensions
                            .iter()
                            .map(|(k, v)| Dimension::builder().name(*k).value(v).build())
                            .collect(),
                    ))
                    .build()
            })
            .collect();
        client
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(data))
            .send()
            .await
            .map_err(|e| AwsError::new("PutMetricData", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::DateTime;

    #[test]
    fn the_state_change_time_prefers_state_transitioned_timestamp() {
        let transitioned = DateTime::from_secs(1_700_000_000);
        let updated = DateTime::from_secs(1_700_000_300);
        let at = |t| chrono::DateTime::from_timestamp(t, 0);
        assert_eq!(
            state_changed_at(Some(&transitioned), Some(&updated)),
            at(1_700_000_000)
        );
        // moto returns only StateUpdatedTimestamp: the fall-back.
        assert_eq!(state_changed_at(None, Some(&updated)), at(1_700_000_300));
        assert_eq!(state_changed_at(None, None), None);
    }
}

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

/// State and `StateUpdatedTimestamp` of each named alarm CloudWatch knows (metric or
/// composite); unknown names are absent.
pub async fn alarm_details(
    client: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<HashMap<String, (String, Option<chrono::DateTime<chrono::Utc>>)>, AwsError> {
    use aws_sdk_cloudwatch::types::AlarmType;
    let mut found = HashMap::new();
    let ts = |t: Option<&aws_smithy_types::DateTime>| {
        t.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
    };
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
                    ts(a.state_updated_timestamp()),
                )
            });
            let composite = page.composite_alarms().iter().map(|a| {
                (
                    a.alarm_name(),
                    a.state_value(),
                    ts(a.state_updated_timestamp()),
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

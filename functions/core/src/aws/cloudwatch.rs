//! CloudWatch: the state of stop and recovery alarms, the recovery metrics, and the metric
//! series a hypothesis is judged on ([`metric_data`]).

use std::collections::{BTreeMap, HashMap};

use super::AwsError;
use crate::spec::SteadyState;
use crate::verdict::{self, Measure, Point, Series};

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

/// One metric series to read with [`metric_data`].
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    /// What it measures (carried into the [`Series`]).
    pub measure: Measure,
    /// Namespace (`faultline/traffic`, `AWS/AutoScaling`).
    pub namespace: String,
    /// Metric name.
    pub metric: String,
    /// Dimensions, exactly.
    pub dimensions: BTreeMap<String, String>,
    /// `Average`, `Minimum`, `p99`, ...
    pub statistic: String,
    /// Seconds per data point.
    pub period_s: u32,
}

impl MetricQuery {
    /// A hypothesis condition's metric.
    pub fn condition(c: &SteadyState) -> Self {
        Self {
            measure: verdict::condition_measure(c),
            namespace: c.namespace.clone(),
            metric: c.metric.clone(),
            dimensions: c.dimensions.clone(),
            statistic: c.statistic.clone(),
            period_s: c.period_s,
        }
    }

    /// An Auto Scaling group's healthy capacity: `AWS/AutoScaling` `GroupInServiceInstances`
    /// `Minimum` per minute (group metrics collection must be enabled on the group).
    pub fn capacity(group: &str, desired: u32) -> Self {
        Self {
            measure: Measure::Capacity {
                group: group.to_owned(),
                desired,
            },
            namespace: "AWS/AutoScaling".to_owned(),
            metric: "GroupInServiceInstances".to_owned(),
            dimensions: BTreeMap::from([("AutoScalingGroupName".to_owned(), group.to_owned())]),
            statistic: "Minimum".to_owned(),
            period_s: 60,
        }
    }

    /// `namespace/metric statistic`.
    pub fn label(&self) -> String {
        format!("{}/{} {}", self.namespace, self.metric, self.statistic)
    }
}

/// The most queries one `GetMetricData` call takes.
pub const MAX_QUERIES: usize = 500;

fn smithy_time(t: chrono::DateTime<chrono::Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_millis(t.timestamp_millis())
}

/// Every series of `queries` over `[start, end)`: ONE `GetMetricData` call (per 500 queries,
/// following `NextToken`), query ids `m0`, `m1`, ... in the order given. Returns one [`Series`]
/// per query, same order, points oldest first (a query with no data has none).
pub async fn metric_data(
    client: &aws_sdk_cloudwatch::Client,
    queries: &[MetricQuery],
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Series>, AwsError> {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
    let mut out: Vec<Series> = queries
        .iter()
        .map(|q| Series {
            measure: q.measure.clone(),
            label: q.label(),
            points: vec![],
        })
        .collect();
    if queries.is_empty() || end <= start {
        return Ok(out);
    }
    for (chunk_no, chunk) in queries.chunks(MAX_QUERIES).enumerate() {
        let base = chunk_no * MAX_QUERIES;
        let data: Vec<MetricDataQuery> = chunk
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let metric = Metric::builder()
                    .namespace(&q.namespace)
                    .metric_name(&q.metric)
                    .set_dimensions(Some(
                        q.dimensions
                            .iter()
                            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                            .collect(),
                    ))
                    .build();
                MetricDataQuery::builder()
                    .id(format!("m{}", base + i))
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric)
                            .period(q.period_s as i32)
                            .stat(&q.statistic)
                            .build(),
                    )
                    .return_data(true)
                    .build()
            })
            .collect();
        let mut token: Option<String> = None;
        loop {
            let page = client
                .get_metric_data()
                .set_metric_data_queries(Some(data.clone()))
                .start_time(smithy_time(start))
                .end_time(smithy_time(end))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::new("GetMetricData", e))?;
            for r in page.metric_data_results() {
                let Some(n) = r
                    .id()
                    .and_then(|id| id.strip_prefix('m')?.parse::<usize>().ok())
                else {
                    continue;
                };
                let Some(series) = out.get_mut(n) else {
                    continue;
                };
                for (t, v) in r.timestamps().iter().zip(r.values()) {
                    if let Some(at) = chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()) {
                        series.points.push(Point { at, value: *v });
                    }
                }
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    for s in &mut out {
        s.points.sort_by_key(|p| p.at);
        s.points.dedup_by_key(|p| p.at);
    }
    Ok(out)
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

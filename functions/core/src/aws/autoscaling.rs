//! Auto Scaling: the group inventory and the graceful terminate-and-replace call.

use std::collections::BTreeMap;

use aws_sdk_autoscaling::types::Filter;

use super::{short, AwsError};
use crate::select::{Group, Member};

/// Which groups to describe.
#[derive(Debug, Clone)]
pub enum GroupQuery<'a> {
    /// These names (chunked: the API takes a bounded list).
    Names(&'a [String]),
    /// Groups carrying every one of these tags (server-side filter).
    Tags(&'a BTreeMap<String, String>),
}

/// Describes groups, all pages.
pub async fn groups(
    client: &aws_sdk_autoscaling::Client,
    query: GroupQuery<'_>,
) -> Result<Vec<Group>, AwsError> {
    let mut out = Vec::new();
    match query {
        GroupQuery::Names(names) => {
            for chunk in names.chunks(50) {
                let req = client
                    .describe_auto_scaling_groups()
                    .set_auto_scaling_group_names(Some(chunk.to_vec()));
                collect(req, &mut out).await?;
            }
        }
        GroupQuery::Tags(tags) => {
            let filters = tags
                .iter()
                .map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build())
                .collect();
            let req = client
                .describe_auto_scaling_groups()
                .set_filters(Some(filters));
            collect(req, &mut out).await?;
        }
    }
    Ok(out)
}

async fn collect(
    req: aws_sdk_autoscaling::operation::describe_auto_scaling_groups::builders::DescribeAutoScalingGroupsFluentBuilder,
    out: &mut Vec<Group>,
) -> Result<(), AwsError> {
    let mut pages = req.max_records(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("DescribeAutoScalingGroups", e))?;
        for g in page.auto_scaling_groups() {
            out.push(Group {
                name: g.auto_scaling_group_name().unwrap_or_default().to_owned(),
                min_size: g.min_size().unwrap_or(0).max(0) as u32,
                desired: g.desired_capacity().unwrap_or(0).max(0) as u32,
                subnets: g.vpc_zone_identifier().unwrap_or_default().to_owned(),
                tags: g
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                    .collect(),
                members: g
                    .instances()
                    .iter()
                    .filter_map(|i| {
                        Some(Member {
                            id: i.instance_id()?.to_owned(),
                            lifecycle: i.lifecycle_state()?.as_str().to_owned(),
                            healthy: i.health_status() == Some("Healthy"),
                            zone: i.availability_zone().map(str::to_owned),
                        })
                    })
                    .collect(),
            });
        }
    }
    Ok(())
}

/// `TerminateInstanceInAutoScalingGroup` with `ShouldDecrementDesiredCapacity=false`: the group
/// terminates the instance and launches a replacement. Returns the activity's status message.
/// Sets a group's subnets (`UpdateAutoScalingGroup` with `VPCZoneIdentifier`, comma-separated
/// in the order given).
pub async fn set_subnets(
    client: &aws_sdk_autoscaling::Client,
    group: &str,
    vpc_zone_identifier: &str,
) -> Result<(), AwsError> {
    client
        .update_auto_scaling_group()
        .auto_scaling_group_name(group)
        .vpc_zone_identifier(vpc_zone_identifier)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::new("UpdateAutoScalingGroup", e))
}

pub async fn terminate_and_replace(
    client: &aws_sdk_autoscaling::Client,
    instance_id: &str,
) -> Result<Option<String>, String> {
    client
        .terminate_instance_in_auto_scaling_group()
        .instance_id(instance_id)
        .should_decrement_desired_capacity(false)
        .send()
        .await
        .map(|o| {
            o.activity
                .and_then(|a| a.status_code)
                .map(|s| s.as_str().to_owned())
        })
        .map_err(|e| short(&e))
}

/// A successful launch into a group, from `DescribeScalingActivities`.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchActivity {
    /// The instance, parsed from the activity's description when present.
    pub instance_id: Option<String>,
    /// The activity's `EndTime`.
    pub end_time: chrono::DateTime<chrono::Utc>,
}

/// Successful launch activities of `group` that ended at or after `since`, newest first. The
/// API keeps six weeks of activities; the first page (newest) is enough for a recovery window.
pub async fn launches_since(
    client: &aws_sdk_autoscaling::Client,
    group: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<LaunchActivity>, AwsError> {
    use aws_sdk_autoscaling::types::ScalingActivityStatusCode;
    let out = client
        .describe_scaling_activities()
        .auto_scaling_group_name(group)
        .max_records(100)
        .send()
        .await
        .map_err(|e| AwsError::new("DescribeScalingActivities", e))?;
    Ok(out
        .activities()
        .iter()
        .filter(|a| a.status_code() == Some(&ScalingActivityStatusCode::Successful))
        .filter(|a| {
            a.description()
                .is_some_and(|d| d.starts_with("Launching a new EC2 instance"))
        })
        .filter_map(|a| {
            let end = a.end_time()?;
            let end = chrono::DateTime::from_timestamp(end.secs(), end.subsec_nanos())?;
            Some(LaunchActivity {
                instance_id: a
                    .description()
                    .and_then(|d| d.rsplit(' ').next())
                    .filter(|w| w.starts_with("i-"))
                    .map(str::to_owned),
                end_time: end,
            })
        })
        .filter(|l| l.end_time >= since)
        .collect())
}

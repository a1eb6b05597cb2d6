//! EC2 instance state by id, for the recovery timer (stopped / rebooted instances back up).

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;

use super::AwsError;

/// An instance's state and `LaunchTime` (which moves forward when a stopped instance starts).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceState {
    /// `running`, `stopped`, ...
    pub state: String,
    /// `LaunchTime`.
    pub launch_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// State of each of `ids` that EC2 still knows. Uses the `instance-id` filter, not
/// `InstanceIds`, so one id that is gone does not fail the whole call.
pub async fn states(
    client: &aws_sdk_ec2::Client,
    ids: &[String],
) -> Result<BTreeMap<String, InstanceState>, AwsError> {
    let mut out = BTreeMap::new();
    // A filter takes at most 200 values.
    for chunk in ids.chunks(200) {
        let mut pages = client
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("instance-id")
                    .set_values(Some(chunk.to_vec()))
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::new("DescribeInstances", e))?;
            for r in page.reservations() {
                for i in r.instances() {
                    let Some(id) = i.instance_id() else { continue };
                    out.insert(
                        id.to_owned(),
                        InstanceState {
                            state: i
                                .state()
                                .and_then(|s| s.name())
                                .map(|n| n.as_str().to_owned())
                                .unwrap_or_default(),
                            launch_time: i.launch_time().and_then(|t| {
                                chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
                            }),
                        },
                    );
                }
            }
        }
    }
    Ok(out)
}

//! What the recovery timer observes for open records, in one place, so the timer and the CLI's
//! `run` (which follows the recovery live, read-only) see exactly the same thing and hand it to
//! the same [`crate::recovery::decide`].

use std::collections::BTreeSet;

use tracing::warn;

use crate::aws::autoscaling::{self, GroupQuery};
use crate::aws::{cloudwatch, instances, Aws, AwsError};
use crate::record::Record;
use crate::recovery::{AlarmObs, GroupObs, InstanceObs, Launch, Observation};

/// Observes AWS once for all of `records`: the affected groups' healthy `InService` members and
/// their launch activities since the earliest injection, stopped / rebooted standalone
/// instances, and the recovery alarms. A launch from a triggering event is the caller's to add.
pub async fn observe(aws: &Aws, records: &[&Record]) -> Result<Observation, AwsError> {
    let mut obs = Observation::default();
    let groups: BTreeSet<String> = records
        .iter()
        .flat_map(|r| r.groups.keys().cloned())
        .collect();
    let standalone: BTreeSet<String> = records
        .iter()
        .filter(|r| r.action.standalone_must_run())
        .flat_map(|r| r.standalone().map(str::to_owned))
        .collect();
    let alarms: BTreeSet<String> = records
        .iter()
        .flat_map(|r| r.alarms.iter().cloned())
        .collect();
    if !groups.is_empty() {
        let names: Vec<String> = groups.iter().cloned().collect();
        for g in autoscaling::groups(&aws.autoscaling, GroupQuery::Names(&names)).await? {
            let healthy = g
                .members
                .iter()
                .filter(|m| m.lifecycle == "InService" && m.healthy)
                .map(|m| m.id.clone())
                .collect();
            obs.groups.insert(
                g.name,
                GroupObs {
                    healthy_in_service: healthy,
                },
            );
        }
        // Scaling activities carry the launch EndTime that restored capacity; a failure here
        // costs precision (the TTR becomes "observed by"), not the decision.
        for g in &groups {
            let since = records
                .iter()
                .filter(|r| r.groups.contains_key(g))
                .map(|r| r.started_at)
                .min()
                .unwrap_or_default();
            match autoscaling::launches_since(&aws.autoscaling, g, since).await {
                Ok(ls) => obs.launches.extend(ls.into_iter().map(|l| Launch {
                    group: g.clone(),
                    instance: l.instance_id,
                    end_time: l.end_time,
                    source: "scaling activity",
                })),
                Err(e) => warn!(asg = %g, error = %e, "cannot read scaling activities"),
            }
        }
    }
    if !standalone.is_empty() {
        let ids: Vec<String> = standalone.into_iter().collect();
        for (id, s) in instances::states(&aws.ec2, &ids).await? {
            obs.instances.insert(
                id,
                InstanceObs {
                    state: s.state,
                    launch_time: s.launch_time,
                },
            );
        }
    }
    if !alarms.is_empty() {
        let names: Vec<String> = alarms.into_iter().collect();
        for (name, (state, updated)) in cloudwatch::alarm_details(&aws.cloudwatch, &names).await? {
            obs.alarms.insert(name, AlarmObs { state, updated });
        }
    }
    Ok(obs)
}

//! EC2: the instance inventory and the terminate / stop / reboot calls.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ec2::types::Filter;

use super::{short, AwsError};
use crate::select::Instance;

/// The EC2 API accepts at most this many instance ids per call.
pub const BATCH: usize = 1000;

/// Running instances carrying every tag in `tags` (exact values), all pages.
pub async fn running_with_tags(
    client: &aws_sdk_ec2::Client,
    tags: &BTreeMap<String, String>,
) -> Result<Vec<Instance>, AwsError> {
    let mut filters = vec![Filter::builder()
        .name("instance-state-name")
        .values("running")
        .build()];
    for (k, v) in tags {
        filters.push(Filter::builder().name(format!("tag:{k}")).values(v).build());
    }
    let mut pages = client
        .describe_instances()
        .set_filters(Some(filters))
        .max_results(BATCH as i32)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("DescribeInstances", e))?;
        for r in page.reservations() {
            for i in r.instances() {
                let Some(id) = i.instance_id() else { continue };
                out.push(Instance {
                    id: id.to_owned(),
                    state: i
                        .state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_owned())
                        .unwrap_or_default(),
                    zone: i
                        .placement()
                        .and_then(|p| p.availability_zone())
                        .map(str::to_owned),
                    tags: i
                        .tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                        .collect(),
                });
            }
        }
    }
    Ok(out)
}

/// An EC2 state-changing action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ec2Action {
    /// TerminateInstances.
    Terminate,
    /// StopInstances.
    Stop,
    /// RebootInstances.
    Reboot,
}

/// Per instance: the state EC2 reported (or `None` for reboot, which reports nothing), or the
/// error that stopped it.
pub type Outcomes = Vec<(String, Result<Option<String>, String>)>;

/// Acts on `ids` in batches of [`BATCH`]. EC2 fails a whole batch for one bad id (termination
/// protection, already gone), so a failed batch is retried one id at a time to find the
/// culprits and let the rest proceed.
pub async fn act(client: &aws_sdk_ec2::Client, action: Ec2Action, ids: &[String]) -> Outcomes {
    let mut out = Vec::with_capacity(ids.len());
    for batch in ids.chunks(BATCH) {
        match call(client, action, batch).await {
            Ok(states) => out.extend(
                batch
                    .iter()
                    .map(|id| (id.clone(), Ok(states.get(id).cloned()))),
            ),
            Err(batch_err) if batch.len() == 1 => out.push((batch[0].clone(), Err(batch_err))),
            Err(batch_err) => {
                tracing::warn!(action = ?action, batch = batch.len(), error = %batch_err,
                    "batch failed; retrying one instance at a time");
                for id in batch {
                    let one = std::slice::from_ref(id);
                    out.push((
                        id.clone(),
                        call(client, action, one).await.map(|s| s.get(id).cloned()),
                    ));
                }
            }
        }
    }
    out
}

/// Starts `ids` (undoing a `stop`) in batches of [`BATCH`], like [`act`]: a failed batch is
/// retried one id at a time. Per instance: the state EC2 reported, or the error. A function of
/// its own (not an [`Ec2Action`]) so only what aborts experiments needs `ec2:StartInstances`.
pub async fn start(client: &aws_sdk_ec2::Client, ids: &[String]) -> Outcomes {
    let mut out = Vec::with_capacity(ids.len());
    for batch in ids.chunks(BATCH) {
        match start_batch(client, batch).await {
            Ok(states) => out.extend(
                batch
                    .iter()
                    .map(|id| (id.clone(), Ok(states.get(id).cloned()))),
            ),
            Err(batch_err) if batch.len() == 1 => out.push((batch[0].clone(), Err(batch_err))),
            Err(batch_err) => {
                tracing::warn!(batch = batch.len(), error = %batch_err,
                    "StartInstances batch failed; retrying one instance at a time");
                for id in batch {
                    let one = std::slice::from_ref(id);
                    out.push((
                        id.clone(),
                        start_batch(client, one).await.map(|s| s.get(id).cloned()),
                    ));
                }
            }
        }
    }
    out
}

async fn start_batch(
    client: &aws_sdk_ec2::Client,
    ids: &[String],
) -> Result<HashMap<String, String>, String> {
    let changes = client
        .start_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map(|o| o.starting_instances.unwrap_or_default())
        .map_err(|e| short(&e))?;
    Ok(changes
        .into_iter()
        .filter_map(|c| {
            let state = c.current_state()?.name()?.as_str().to_owned();
            Some((c.instance_id?, state))
        })
        .collect())
}

async fn call(
    client: &aws_sdk_ec2::Client,
    action: Ec2Action,
    ids: &[String],
) -> Result<HashMap<String, String>, String> {
    let ids = Some(ids.to_vec());
    let changes = match action {
        Ec2Action::Terminate => client
            .terminate_instances()
            .set_instance_ids(ids)
            .send()
            .await
            .map(|o| o.terminating_instances.unwrap_or_default())
            .map_err(|e| short(&e))?,
        Ec2Action::Stop => client
            .stop_instances()
            .set_instance_ids(ids)
            .send()
            .await
            .map(|o| o.stopping_instances.unwrap_or_default())
            .map_err(|e| short(&e))?,
        Ec2Action::Reboot => {
            client
                .reboot_instances()
                .set_instance_ids(ids)
                .send()
                .await
                .map_err(|e| short(&e))?;
            Vec::new()
        }
    };
    Ok(changes
        .into_iter()
        .filter_map(|c| {
            let state = c.current_state()?.name()?.as_str().to_owned();
            Some((c.instance_id?, state))
        })
        .collect())
}

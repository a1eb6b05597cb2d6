//! EC2: the instance inventory and the terminate / stop / reboot calls.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

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
    act_with(action, ids, |batch| call(client, action, batch)).await
}

/// The batching and the search for culprits of [`act`], apart from the calls (`call` sends one
/// batch), so that both can be tested without AWS.
async fn act_with<'a, F, Fut>(action: Ec2Action, ids: &'a [String], call: F) -> Outcomes
where
    F: Fn(&'a [String]) -> Fut,
    Fut: Future<Output = Result<HashMap<String, String>, String>>,
{
    let mut out = Vec::with_capacity(ids.len());
    for batch in ids.chunks(BATCH) {
        match call(batch).await {
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
                    out.push((id.clone(), call(one).await.map(|s| s.get(id).cloned())));
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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("i-{i:05}")).collect()
    }

    /// Runs `act_with` over `ids` against a fake EC2 that refuses any batch holding one of
    /// `bad`; returns the outcomes and the size of every call made.
    async fn run(ids: &[String], bad: &[&str]) -> (Outcomes, Vec<usize>) {
        let calls = RefCell::new(Vec::new());
        let out = act_with(Ec2Action::Terminate, ids, |batch: &[String]| {
            calls.borrow_mut().push(batch.len());
            let res = match batch.iter().find(|id| bad.contains(&id.as_str())) {
                Some(id) => Err(format!("OperationNotPermitted: {id}")),
                None => Ok(batch
                    .iter()
                    .map(|id| (id.clone(), "shutting-down".to_owned()))
                    .collect()),
            };
            async move { res }
        })
        .await;
        (out, calls.into_inner())
    }

    #[tokio::test]
    async fn ten_thousand_ids_go_in_batches_of_at_most_a_thousand() {
        let all = ids(10_000);
        let (out, calls) = run(&all[..2_500], &[]).await;
        assert_eq!(calls, vec![1000, 1000, 500]);
        assert_eq!(out.len(), 2_500);
        assert!(out
            .iter()
            .zip(&all)
            .all(|((id, r), want)| id == want
                && r.as_ref().unwrap().as_deref() == Some("shutting-down")));
        let (out, calls) = run(&all, &[]).await;
        assert_eq!(calls, vec![1000; 10]);
        assert_eq!(out.len(), 10_000);
    }

    #[tokio::test]
    async fn one_bad_id_fails_alone_and_the_rest_of_its_batch_proceeds() {
        let all = ids(1_500);
        let (out, calls) = run(&all, &["i-01200"]).await;
        // The first batch passes; the second fails whole and is retried one id at a time.
        assert_eq!(calls.len(), 2 + 500);
        assert!(calls.iter().all(|&n| n <= BATCH));
        assert_eq!(out.len(), 1_500);
        let failed: Vec<&str> = out
            .iter()
            .filter(|(_, r)| r.is_err())
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(failed, vec!["i-01200"]);
    }
}

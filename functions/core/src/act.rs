//! Acting on the chosen targets: the EC2 / Auto Scaling calls ([`act`]) and the agent's fault
//! sent through SSM Run Command ([`send_agent`]). Only the round calls these, after
//! every guard has passed and the record is written.

use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

use tracing::info;

use crate::aws::autoscaling;
use crate::aws::ec2::{self, Ec2Action};
use crate::aws::{ssm, Aws};
use crate::outcome::TargetResult;
use crate::select::Target;
use crate::settings::Settings;
use crate::spec::{Action, AgentAction, Invocation};

/// At most this many `TerminateInstanceInAutoScalingGroup` calls in flight at once: enough to
/// take a thousand targets in a few seconds, few enough to stay under Auto Scaling's request
/// rate (the SDK's standard retry absorbs any throttling).
pub const ASG_CONCURRENCY: usize = 10;

/// Terminates, stops or reboots `chosen` (the EC2 / Auto Scaling actions). An `agent` action
/// goes through [`send_agent`] instead and yields nothing here.
pub async fn act(aws: &Aws, action: Action, chosen: &[Target]) -> Vec<TargetResult> {
    let asg_of: BTreeMap<&str, Option<String>> = chosen
        .iter()
        .map(|t| (t.instance_id.as_str(), t.asg.clone()))
        .collect();
    let outcomes: ec2::Outcomes = match &action {
        Action::Terminate { via_asg: true } => {
            // One call per instance (the API takes one id): a bounded number in flight, each
            // with its own result, so one failure does not stop the others.
            let results = bounded(chosen, ASG_CONCURRENCY, |t| {
                autoscaling::terminate_and_replace(&aws.autoscaling, &t.instance_id)
            })
            .await;
            let failed = results.iter().filter(|r| r.is_err()).count();
            info!(
                targets = chosen.len(),
                failed,
                concurrency = ASG_CONCURRENCY,
                "TerminateInstanceInAutoScalingGroup"
            );
            chosen
                .iter()
                .map(|t| t.instance_id.clone())
                .zip(results)
                .collect()
        }
        other => {
            let ec2_action = match other {
                Action::Terminate { .. } => Ec2Action::Terminate,
                Action::Stop { .. } => Ec2Action::Stop,
                Action::Reboot => Ec2Action::Reboot,
                // Sent through SSM by `send_agent`, or changed by `lambda::inject` or
                // `zone::inject`, never here.
                Action::Agent(_) | Action::Lambda(_) | Action::AzOutage(_) => return vec![],
            };
            let ids: Vec<String> = chosen.iter().map(|t| t.instance_id.clone()).collect();
            ec2::act(&aws.ec2, ec2_action, &ids).await
        }
    };
    outcomes
        .into_iter()
        .map(|(id, res)| {
            let asg = asg_of.get(id.as_str()).cloned().flatten();
            match res {
                Ok(state) => TargetResult {
                    instance_id: id,
                    asg,
                    outcome: action.past_tense().to_owned(),
                    state,
                    error: None,
                },
                Err(e) => TargetResult {
                    instance_id: id,
                    asg,
                    outcome: "failed".to_owned(),
                    state: None,
                    error: Some(e),
                },
            }
        })
        .collect()
}

/// Sends the agent's fault to the chosen instances with the faultline SSM document, in batches
/// of at most 50 (SendCommand's limit). Returns per-target results (`sent`, with the command
/// id as `state`) and the command ids.
pub async fn send_agent(
    aws: &Aws,
    settings: &Settings,
    inv: &Invocation,
    agent: &AgentAction,
    chosen: &[Target],
) -> (Vec<TargetResult>, Vec<String>) {
    // Fault, Args, Duration only: the document fixes where the agent comes from and its hash.
    // No DocumentVersion either, so SSM runs the document's $DEFAULT version (the one Terraform
    // last rendered).
    let params = agent.ssm_parameters();
    let comment = format!("faultline {} {}", inv.experiment.name, inv.execution_id);
    let mut results = Vec::with_capacity(chosen.len());
    let mut commands = Vec::new();
    for batch in chosen.chunks(ssm::SEND_COMMAND_MAX_TARGETS) {
        let ids: Vec<String> = batch.iter().map(|t| t.instance_id.clone()).collect();
        let sent =
            ssm::send_command(&aws.ssm, &settings.agent_document, &ids, &params, &comment).await;
        info!(experiment = %inv.experiment.name, fault = agent.fault.kind().name(), targets = ids.len(),
              command = sent.as_ref().map(String::as_str).unwrap_or(""), decision = "agent_sent", "SendCommand");
        if let Ok(id) = &sent {
            commands.push(id.clone());
        }
        for t in batch {
            results.push(match &sent {
                Ok(id) => TargetResult {
                    instance_id: t.instance_id.clone(),
                    asg: t.asg.clone(),
                    outcome: "sent".to_owned(),
                    state: Some(id.clone()),
                    error: None,
                },
                Err(e) => TargetResult {
                    instance_id: t.instance_id.clone(),
                    asg: t.asg.clone(),
                    outcome: "failed".to_owned(),
                    state: None,
                    error: Some(e.to_string()),
                },
            });
        }
    }
    (results, commands)
}

/// Runs `f` on every item with at most `limit` futures in flight; the results come back in the
/// order of `items`, whatever the order in which they finish. Each future runs to its own end:
/// an `Err` in one does not cancel the others.
pub(crate) async fn bounded<'a, T, R, F, Fut>(items: &'a [T], limit: usize, f: F) -> Vec<R>
where
    F: Fn(&'a T) -> Fut,
    Fut: Future<Output = R>,
{
    let limit = limit.max(1);
    let mut done: Vec<Option<R>> = items.iter().map(|_| None).collect();
    let mut running: Vec<(usize, Pin<Box<Fut>>)> = Vec::with_capacity(limit);
    let mut next = 0;
    while next < items.len() || !running.is_empty() {
        while running.len() < limit && next < items.len() {
            running.push((next, Box::pin(f(&items[next]))));
            next += 1;
        }
        // Wait until at least one finishes; collect every one that has.
        poll_fn(|cx| {
            let before = running.len();
            let mut i = 0;
            while i < running.len() {
                match running[i].1.as_mut().poll(cx) {
                    Poll::Ready(r) => {
                        let (idx, _) = running.swap_remove(i);
                        done[idx] = Some(r);
                    }
                    Poll::Pending => i += 1,
                }
            }
            if running.len() < before {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
    // Every slot is filled: the loop ends only when all items were started and finished.
    done.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[tokio::test]
    async fn a_thousand_calls_run_with_bounded_concurrency_and_one_failure_aborts_nothing() {
        let items: Vec<usize> = (0..1000).collect();
        let in_flight = Cell::new(0usize);
        let peak = Cell::new(0usize);
        let results = bounded(&items, ASG_CONCURRENCY, |&i| {
            let (in_flight, peak) = (&in_flight, &peak);
            async move {
                in_flight.set(in_flight.get() + 1);
                peak.set(peak.get().max(in_flight.get()));
                // Each waits at least once, and they finish out of order.
                for _ in 0..1 + (1000 - i) % 7 {
                    tokio::task::yield_now().await;
                }
                in_flight.set(in_flight.get() - 1);
                if i == 500 {
                    Err(format!("ScalingActivityInProgress: {i}"))
                } else {
                    Ok(i)
                }
            }
        })
        .await;
        assert_eq!(peak.get(), ASG_CONCURRENCY);
        assert_eq!(results.len(), 1000);
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(*v, i, "results keep the order of the items"),
                Err(e) => assert_eq!((i, e.as_str()), (500, "ScalingActivityInProgress: 500")),
            }
        }
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    }

    #[tokio::test]
    async fn nothing_to_do_and_a_zero_limit_still_finish() {
        let none: Vec<u8> = vec![];
        assert!(bounded(&none, 4, |&x| async move { x }).await.is_empty());
        let some = [1u8, 2, 3];
        assert_eq!(
            bounded(&some, 0, |&x| async move { x * 2 }).await,
            vec![2, 4, 6]
        );
    }
}

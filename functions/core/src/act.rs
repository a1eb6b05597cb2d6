//! Acting on the chosen targets: the EC2 / Auto Scaling calls ([`act`]) and the agent's fault
//! sent through SSM Run Command ([`send_agent`]). Only the round calls these, after
//! every guard has passed and the record is written.

use std::collections::BTreeMap;

use tracing::info;

use crate::aws::autoscaling;
use crate::aws::ec2::{self, Ec2Action};
use crate::aws::{ssm, Aws};
use crate::outcome::TargetResult;
use crate::select::Target;
use crate::settings::Settings;
use crate::spec::{Action, AgentAction, Invocation};

/// Terminates, stops or reboots `chosen` (the EC2 / Auto Scaling actions). An `agent` action
/// goes through [`send_agent`] instead and yields nothing here.
pub async fn act(aws: &Aws, action: Action, chosen: &[Target]) -> Vec<TargetResult> {
    let asg_of: BTreeMap<&str, Option<String>> = chosen
        .iter()
        .map(|t| (t.instance_id.as_str(), t.asg.clone()))
        .collect();
    let outcomes: ec2::Outcomes = match &action {
        Action::Terminate { via_asg: true } => {
            let mut out = Vec::with_capacity(chosen.len());
            for t in chosen {
                out.push((
                    t.instance_id.clone(),
                    autoscaling::terminate_and_replace(&aws.autoscaling, &t.instance_id).await,
                ));
            }
            out
        }
        other => {
            let ec2_action = match other {
                Action::Terminate { .. } => Ec2Action::Terminate,
                Action::Stop => Ec2Action::Stop,
                Action::Reboot => Ec2Action::Reboot,
                // Sent through SSM by `send_agent`, never here.
                Action::Agent(_) => return vec![],
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

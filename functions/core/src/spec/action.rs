//! What is done to each chosen target: [`Action`], and [`AgentAction`] for faultline-agent
//! faults (validated with the agent's own types and turned into SSM document parameters).

use std::time::Duration;

use faultline_faults::{Fault, FaultDuration};

use crate::spec::lambda::LambdaAction;

/// What to do to each chosen instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Terminate. Through the EC2 API (the group has to notice by itself, as in a real failure)
    /// unless `via_asg`, which asks the group to terminate and replace it gracefully.
    Terminate {
        /// Use `TerminateInstanceInAutoScalingGroup` (ShouldDecrementDesiredCapacity=false).
        via_asg: bool,
    },
    /// Stop (the instance can be started again); with `restart_after`, the recovery timer
    /// starts the instances again that long after the injection (an abort starts them at once).
    Stop {
        /// When to start them again; `None`: never (recovery waits for something else to).
        restart_after: Option<Duration>,
    },
    /// Reboot.
    Reboot,
    /// Run a fault on the instance with faultline-agent, through SSM Run Command.
    Agent(AgentAction),
    /// Change each chosen Lambda function for a duration, then restore it exactly.
    Lambda(LambdaAction),
}

/// A fault for faultline-agent, validated with the agent's own types (crate `faultline-faults`).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentAction {
    /// The fault and its arguments.
    pub fault: Fault,
    /// How long it lasts; the agent rolls it back by itself afterwards.
    pub duration: Duration,
}

impl AgentAction {
    /// The parameters of the faultline SSM document: `Fault`, `Args` (checked against the
    /// document's `allowedPattern` during validation), `Duration`.
    pub fn ssm_parameters(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Fault", self.fault.kind().name().to_owned()),
            (
                "Args",
                self.fault
                    .ssm_args()
                    .expect("checked when the spec was validated"),
            ),
            ("Duration", FaultDuration(self.duration).to_arg()),
        ]
    }
}

impl Action {
    /// The action's name as in the spec.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Terminate { .. } => "terminate",
            Action::Stop { .. } => "stop",
            Action::Reboot => "reboot",
            Action::Agent(_) => "agent",
            Action::Lambda(l) => l.kind.name(),
        }
    }

    /// The past tense, for messages ("terminated 2 of 7 instances").
    pub fn past_tense(&self) -> &'static str {
        match self {
            Action::Terminate { .. } => "terminated",
            Action::Stop { .. } => "stopped",
            Action::Reboot => "rebooted",
            Action::Agent(_) => "sent",
            Action::Lambda(l) => match l.kind {
                crate::spec::LambdaKind::Fault(_) => "faulted",
                crate::spec::LambdaKind::Throttle => "throttled",
                crate::spec::LambdaKind::DisableEventSource => "cut off from their event sources",
            },
        }
    }
}

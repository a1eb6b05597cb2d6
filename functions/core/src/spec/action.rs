//! What is done to each chosen target: [`Action`], and [`AgentAction`] for faultline-agent
//! faults (validated with the agent's own types and turned into SSM document parameters).

use std::time::Duration;

use faultline_faults::{Fault, FaultDuration, FaultError, RawArgs};

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
    /// Take one Availability Zone out for a duration, then restore it exactly.
    AzOutage(AzOutage),
}

/// An Availability Zone outage: the opted-in instances in the zone stopped or terminated, the
/// zone's subnets removed from every opted-in group (and, with `network`, a deny-all network
/// ACL on the zone's opted-in subnets), all restored after `duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct AzOutage {
    /// Stop (started again at the restore) or terminate the zone's instances.
    pub mode: AzMode,
    /// Swap the network ACL of the zone's opted-in subnets for a deny-all one.
    pub network: bool,
    /// How long the zone is out.
    pub duration: Duration,
}

/// What an `az-outage` does to the zone's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AzMode {
    /// Stop them (the restore starts them again).
    Stop,
    /// Terminate them.
    Terminate,
}

/// A fault for faultline-agent, validated with the agent's own types (crate `faultline-faults`).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentAction {
    /// The fault and its arguments.
    pub fault: Fault,
    /// How long it lasts; the agent rolls it back by itself afterwards.
    pub duration: Duration,
    /// The arguments as written, to add destinations to (`toward_zones`).
    pub args: Box<RawArgs>,
    /// Limit a network fault to traffic toward these zones' subnets (`"other"`: every zone but
    /// the instance's own), resolved per instance when the round acts.
    pub toward_zones: Vec<String>,
}

impl AgentAction {
    /// The same fault limited to `cidrs` (with any destinations it already had).
    pub fn toward(&self, cidrs: &[String]) -> Result<AgentAction, FaultError> {
        let mut args = self.args.clone();
        args.to.extend(cidrs.iter().cloned());
        let fault = Fault::from_raw(self.fault.kind().name(), &args)?;
        fault.ssm_args()?;
        Ok(AgentAction {
            fault,
            args,
            duration: self.duration,
            toward_zones: vec![],
        })
    }

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
            Action::AzOutage(_) => "az-outage",
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
            Action::AzOutage(a) => match a.mode {
                AzMode::Stop => "took out (stopped)",
                AzMode::Terminate => "took out (terminated)",
            },
        }
    }
}

//! What the timer saw in AWS, for all open records at once: an [`Observation`] of groups,
//! standalone instances, alarms and launches, gathered by `observe`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// A group as the timer sees it now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupObs {
    /// Ids of healthy `InService` members.
    pub healthy_in_service: Vec<String>,
}

/// A standalone victim as the timer sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceObs {
    /// EC2 state name (`running`, `stopped`, ...).
    pub state: String,
    /// `LaunchTime`, which EC2 moves forward when a stopped instance starts.
    pub launch_time: Option<DateTime<Utc>>,
}

/// An alarm as the timer sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmObs {
    /// `OK`, `ALARM`, `INSUFFICIENT_DATA`.
    pub state: String,
    /// When the state changed: `StateTransitionedTimestamp` where AWS returns it, else
    /// `StateUpdatedTimestamp`.
    pub updated: Option<DateTime<Utc>>,
}

/// A successful launch into a group: from the EventBridge event or the scaling activity.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The group.
    pub group: String,
    /// The instance launched, when known.
    pub instance: Option<String>,
    /// The activity's `EndTime`.
    pub end_time: DateTime<Utc>,
    /// Where it came from (`launch event`, `scaling activity`).
    pub source: &'static str,
}

/// Everything the timer found out, for all open records at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// Groups by name; a group missing here does not exist.
    pub groups: BTreeMap<String, GroupObs>,
    /// Standalone instances by id; missing means gone.
    pub instances: BTreeMap<String, InstanceObs>,
    /// Alarms by name; missing means CloudWatch does not know it.
    pub alarms: BTreeMap<String, AlarmObs>,
    /// Successful launches (evidence for group conditions).
    pub launches: Vec<Launch>,
}

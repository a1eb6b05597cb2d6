//! Recovery: deciding, from what AWS reports, whether an experiment has recovered, how long it
//! took (from authoritative timestamps, never from when we happened to look, unless nothing
//! better exists), and the message that says so. Pure: the recovery timer gathers an
//! [`Observation`] through the adapters and hands it here with the current time.
//!
//! A record is **recovered** when every [`Condition`] holds:
//! - each affected group has at least its desired capacity (as recorded at injection) of
//!   healthy `InService` instances, none of them a victim (for terminate and stop);
//! - stopped or rebooted standalone instances are `running` again (terminate: no condition);
//! - an agent fault's duration has passed;
//! - every recovery alarm is `OK`.
//!
//! Time-to-recover runs from the injection to the latest authoritative timestamp among the
//! conditions (a launch's `EndTime`, an alarm's `StateTransitionedTimestamp`, else `StateUpdatedTimestamp`, an instance's
//! `LaunchTime`, the fault's end). A condition without one is reported as "observed by" the
//! check that saw it met; when no condition has one, the TTR itself is such a bound.
//!
//! # Layout
//!
//! Everything public is re-exported here (`recovery::decide`, `recovery::Closing`, ...). The
//! record, its state and its [`Outcome`] live in `crate::record`.
//!
//! - `observation.rs`: [`Observation`] and its parts, what the timer saw in AWS.
//! - `decision.rs`: [`conditions`] and [`decide`], the pure decision ([`Decision`], [`Closing`]).
//! - `report.rs`: [`message`], the closing SNS message.
//! - `duration.rs`: [`short_duration`], durations written for people.
//!
//! Imports run one way: `report` → `decision` → `observation`; both → `duration`.

mod decision;
mod duration;
mod observation;
mod report;

#[cfg(test)]
mod tests;

pub use self::decision::{
    after_window_end, conditions, counted_healthy, decide, Closing, Condition, Decision,
    ALARM_DETAIL, CLAMPED,
};
pub use self::duration::short_duration;
pub use self::observation::{AlarmObs, GroupObs, InstanceObs, Launch, Observation};
pub use self::report::{message, verdict_message};
pub use crate::record::{Closed, Outcome};

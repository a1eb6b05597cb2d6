//! The experiment spec: the JSON an EventBridge Scheduler schedule hands the monkey, parsed once
//! and validated into types that cannot hold an invalid state.
//!
//! Two shapes are accepted: the scheduler envelope
//! `{"execution_id": .., "scheduled_time": .., "experiment": {..}}` and, for manual runs, a bare
//! experiment object (then an id is generated). Parsing happens in two steps, like ripgrep's
//! LowArgs → HiArgs: serde reads the raw shape (rejecting unknown fields by name), then
//! validation turns it into [`Experiment`], naming the field of the first problem it finds.
//!
//! # Layout
//!
//! Everything public is re-exported here, so the paths are `spec::Action`, `spec::Invocation`,
//! and so on; the files are only where each part lives.
//!
//! - `invocation.rs`: [`Invocation`] (what one run was asked to do) and its [`ExecutionId`].
//! - `experiment.rs`: [`Experiment`], the validated whole.
//! - `targets.rs`: [`Resource`], [`Targets`], [`Selection`] (who may be hit, and how many).
//! - `action.rs`: [`Action`] and [`AgentAction`] (what is done to them).
//! - `lambda.rs`: [`LambdaAction`] and [`LambdaKind`] (what is done to a function), and the
//!   check of a `lambda-fault`'s failure-lambda flags.
//! - `guards.rs`: [`Guards`] and [`Recovery`] (the checks before, what is watched after).
//! - `hypothesis.rs`: [`Hypothesis`], its [`SteadyState`] conditions, their phases and
//!   [`Comparison`] (what must hold for the experiment to pass; kept in the record).
//! - `calendar.rs`: [`Freeze`] dates, [`Start`] (on the schedule or random) and the
//!   invocation's [`Purpose`] (run, or plan a random start).
//! - `error.rs`: [`SpecError`], with the dotted path of the offending field.
//! - `raw.rs`: the raw shape serde reads (private).
//! - `validate.rs`: raw to valid, field by field (private).
//! - `parse.rs`: the JSON entry points, [`Invocation::from_json_str`],
//!   [`Invocation::from_value`] and [`Experiment::from_json_str`].
//!
//! Imports run one way: `parse` → `validate` → `raw` and the typed parts; `invocation` →
//! `experiment` → `targets`, `action`, `guards`; `error` imports none of them.

mod action;
mod calendar;
mod error;
mod experiment;
mod guards;
mod hypothesis;
mod invocation;
mod lambda;
mod parse;
mod raw;
mod targets;
mod validate;

#[cfg(test)]
mod tests;

pub use self::action::{Action, AgentAction, AzMode, AzOutage};
pub use self::calendar::{Freeze, Purpose, Start};
pub use self::error::SpecError;
pub use self::experiment::Experiment;
pub use self::guards::{Guards, Recovery, DEFAULT_RECOVERY_TIMEOUT};
pub use self::hypothesis::{
    Comparison, Hypothesis, Phase, SteadyState, DEFAULT_AFTER_S, DEFAULT_BEFORE_S,
    DEFAULT_REGRESSION_FACTOR, DEFAULT_REGRESSION_RUNS,
};
pub use self::invocation::{ExecutionId, Invocation};
pub use self::lambda::{LambdaAction, LambdaKind};
pub use self::targets::{Resource, Selection, Targets, Zones, UNCAPPED_SELECTION_LIMIT};

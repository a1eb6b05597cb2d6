//! [`Experiment`]: one validated experiment, the parts of the spec put together.

use crate::spec::action::Action;
use crate::spec::calendar::Start;
use crate::spec::guards::{Guards, Recovery};
use crate::spec::hypothesis::Hypothesis;
use crate::spec::targets::{Selection, Targets};

/// A validated experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// Name used in messages, metrics and records: `[A-Za-z0-9_.-]{1,64}`.
    pub name: String,
    /// Off switch for this experiment alone (the kill switch stops all of them).
    pub enabled: bool,
    /// Which instances may be hit.
    pub targets: Targets,
    /// How many of the eligible instances to hit.
    pub selection: Selection,
    /// What to do to them.
    pub action: Action,
    /// Plan and report only: change nothing, record nothing.
    pub dry_run: bool,
    /// Guard rails beyond the opt-in tag.
    pub guards: Guards,
    /// What the recovery timer watches afterwards.
    pub recovery: Recovery,
    /// Publish refusals to SNS too (acting rounds are always published).
    pub notify_refusals: bool,
    /// What must hold for the experiment to pass.
    pub hypothesis: Option<Hypothesis>,
    /// When a scheduled round starts: on the schedule, or at a random minute in the windows.
    pub start: Start,
}

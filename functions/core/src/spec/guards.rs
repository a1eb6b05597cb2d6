//! The experiment's safety parts: the [`Guards`] checked before anything is touched, and the
//! [`Recovery`] the timer watches afterwards (with [`DEFAULT_RECOVERY_TIMEOUT`]).

use std::time::Duration;

use crate::spec::calendar::Freeze;
use crate::window::Window;

/// Guard rails checked before anything is touched.
#[derive(Debug, Clone, PartialEq)]
pub struct Guards {
    /// CloudWatch alarms that must all exist and be `OK` before acting; one going to `ALARM`
    /// while the experiment is open aborts it.
    pub stop_alarms: Vec<String>,
    /// Alarms that only abort an open experiment when they go to `ALARM` (they are not checked
    /// before acting: e.g. an alarm that is expected to fire briefly when the fault starts is
    /// not one of these, but a "customers are hurting" alarm is).
    pub abort_alarms: Vec<String>,
    /// Never leave a group with fewer healthy `InService` instances than
    /// max(its `MinSize`, this).
    pub min_healthy: u32,
    /// Never hit more than this many instances in one round.
    pub max_targets: Option<u32>,
    /// The round runs only inside one of these windows (none = any time).
    pub windows: Vec<Window>,
    /// Chance that a round runs at all, in `0.0..=1.0`.
    pub probability: f64,
    /// An `az-outage` may hit a group that lives in one zone only (it would go to zero there).
    pub allow_single_az: bool,
    /// Freeze dates and holidays: no round runs on them (with the shared ones of the
    /// deployment's calendar parameter).
    pub freeze: Vec<Freeze>,
    /// Never hit the same group (or standalone instance, or function) twice within this
    /// (read from the records).
    pub min_interval: Option<Duration>,
}

/// What the recovery timer watches.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    /// Give up and report "not recovered" after this long.
    pub timeout: Duration,
    /// Alarms that must be `OK` again for the system to count as recovered.
    pub alarms: Vec<String>,
}

/// Default time the recovery timer waits before reporting "not recovered".
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(30 * 60);

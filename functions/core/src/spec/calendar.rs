//! Calendar parts of the spec: freeze dates and holidays (`guards.freeze`), the least time
//! between two hits on one group (`guards.min_interval`), and when a round starts (`start`:
//! on the schedule, or at a random minute inside the experiment's windows).

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A named date range on which no round may run, in its own time zone (both ends included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    /// Its name, given in the refusal (`Christmas`, `Black Friday code freeze`).
    pub name: String,
    /// First day.
    pub from: NaiveDate,
    /// Last day (the same as `from` for one day).
    pub to: NaiveDate,
    /// The time zone the days are in (default UTC).
    #[serde(with = "tz_name")]
    pub tz: Tz,
}

/// When a scheduled round starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// When the schedule fires.
    #[default]
    Schedule,
    /// The schedule's invocation only plans: it picks a random minute inside the next
    /// occurrence of the experiment's `guards.windows` (within 24 hours) and creates a one-shot
    /// EventBridge Scheduler `at()` schedule that runs the round then.
    Random,
}

/// What one invocation of the monkey is for (the envelope's `"phase"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Purpose {
    /// Run the round (the default).
    #[default]
    Run,
    /// Pick the random start of an experiment with `"start": "random"` and schedule it.
    PlanStart,
}

mod tz_name {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse::<Tz>().map_err(serde::de::Error::custom)
    }
}

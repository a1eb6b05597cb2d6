//! The raw shape of a spec, as serde reads it: unknown fields rejected by name, defaults
//! filled in, nothing validated yet (that is `validate`'s job).

use std::collections::BTreeMap;

use faultline_faults::RawArgs;
use serde::Deserialize;

use crate::spec::targets::Resource;

/// The scheduler envelope: `{"execution_id", "scheduled_time", "experiment"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnvelope {
    #[serde(default)]
    pub(super) execution_id: Option<String>,
    #[serde(default)]
    pub(super) scheduled_time: Option<String>,
    /// `"run"` (default) or `"plan-start"`.
    #[serde(default)]
    pub(super) phase: Option<String>,
    pub(super) experiment: RawExperiment,
}

/// An experiment object, bare or inside the envelope.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExperiment {
    pub(super) name: String,
    #[serde(default = "yes")]
    pub(super) enabled: bool,
    pub(super) targets: RawTargets,
    pub(super) selection: RawSelection,
    pub(super) action: RawAction,
    #[serde(default)]
    pub(super) dry_run: bool,
    #[serde(default)]
    pub(super) guards: RawGuards,
    #[serde(default)]
    pub(super) recovery: RawRecovery,
    #[serde(default)]
    pub(super) notify_refusals: bool,
    #[serde(default)]
    pub(super) hypothesis: Option<RawHypothesis>,
    /// `"schedule"` (default) or `"random"`.
    #[serde(default)]
    pub(super) start: Option<String>,
}

fn yes() -> bool {
    true
}

/// `targets`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTargets {
    pub(super) resource: Resource,
    #[serde(default)]
    pub(super) tags: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) asg_names: Option<Vec<String>>,
    /// `"random"` or a list of zone names.
    #[serde(default)]
    pub(super) availability_zones: Option<serde_json::Value>,
}

/// `selection`, tagged by `mode`.
#[derive(Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub(super) enum RawSelection {
    Percent {
        value: f64,
        #[serde(default)]
        per_group: bool,
    },
    Count {
        value: u32,
    },
    // Empty struct variants, not unit variants: serde ignores unknown fields on unit variants
    // of an internally tagged enum even with deny_unknown_fields.
    All {},
}

/// `action`, tagged by `type`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub(super) enum RawAction {
    Terminate {
        #[serde(default)]
        via_asg: bool,
    },
    Stop {
        #[serde(default)]
        restart_after: Option<String>,
    },
    Reboot {},
    Agent {
        fault: String,
        #[serde(default)]
        args: Box<RawArgs>,
        duration: String,
        #[serde(default)]
        toward_zones: Option<Vec<String>>,
    },
    #[serde(rename = "az-outage")]
    AzOutage {
        duration: String,
        #[serde(default)]
        mode: Option<String>,
        #[serde(default)]
        network: bool,
    },
    #[serde(rename = "lambda-fault")]
    LambdaFault {
        faults: serde_json::Map<String, serde_json::Value>,
        duration: String,
    },
    Throttle {
        duration: String,
    },
    #[serde(rename = "disable-event-source")]
    DisableEventSource {
        duration: String,
    },
}

/// `guards`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGuards {
    #[serde(default)]
    pub(super) stop_alarms: Vec<String>,
    #[serde(default)]
    pub(super) abort_alarms: Vec<String>,
    #[serde(default)]
    pub(super) min_healthy: u32,
    #[serde(default)]
    pub(super) max_targets: Option<u32>,
    #[serde(default)]
    pub(super) windows: Vec<RawWindow>,
    #[serde(default = "one")]
    pub(super) probability: f64,
    #[serde(default)]
    pub(super) allow_single_az: bool,
    #[serde(default)]
    pub(super) freeze: Vec<RawFreeze>,
    #[serde(default)]
    pub(super) min_interval: Option<String>,
}

fn one() -> f64 {
    1.0
}

impl Default for RawGuards {
    fn default() -> Self {
        Self {
            stop_alarms: Vec::new(),
            abort_alarms: Vec::new(),
            min_healthy: 0,
            max_targets: None,
            windows: Vec::new(),
            probability: 1.0,
            allow_single_az: false,
            freeze: Vec::new(),
            min_interval: None,
        }
    }
}

/// One of `guards.windows`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWindow {
    pub(super) days: String,
    pub(super) start: String,
    pub(super) end: String,
    #[serde(default = "utc")]
    pub(super) tz: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// `recovery`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecovery {
    #[serde(default)]
    pub(super) timeout: Option<String>,
    #[serde(default)]
    pub(super) alarms: Vec<String>,
}

/// One of `guards.freeze`: `{"name", "date"}` or `{"name", "from", "to"}`, with `tz`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFreeze {
    pub(super) name: String,
    #[serde(default)]
    pub(super) date: Option<String>,
    #[serde(default)]
    pub(super) from: Option<String>,
    #[serde(default)]
    pub(super) to: Option<String>,
    #[serde(default = "utc")]
    pub(super) tz: String,
}

/// `hypothesis`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHypothesis {
    #[serde(default)]
    pub(super) max_ttr: Option<String>,
    #[serde(default)]
    pub(super) before: Option<String>,
    #[serde(default)]
    pub(super) after: Option<String>,
    #[serde(default)]
    pub(super) regression: Option<RawRegression>,
    #[serde(default)]
    pub(super) steady_state: Vec<RawSteadyState>,
}

/// `hypothesis.regression`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegression {
    #[serde(default)]
    pub(super) runs: Option<u32>,
    #[serde(default)]
    pub(super) factor: Option<f64>,
}

/// One of `hypothesis.steady_state`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSteadyState {
    #[serde(default)]
    pub(super) name: Option<String>,
    pub(super) namespace: String,
    pub(super) metric: String,
    #[serde(default)]
    pub(super) dimensions: BTreeMap<String, String>,
    pub(super) statistic: String,
    pub(super) comparison: String,
    pub(super) threshold: f64,
    pub(super) when: Vec<String>,
    #[serde(default)]
    pub(super) period: Option<String>,
}

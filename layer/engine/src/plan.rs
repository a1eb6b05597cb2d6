//! Which faults apply to one invocation: pure, with the clock reading and the RNG passed in.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::Value;

use crate::config::{FaultConfig, LayerFaultKind};

/// The faults chosen for one invocation, in injection order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvocationPlan {
    /// Sleep this long before the handler.
    pub latency: Option<Duration>,
    /// Sleep until this long before the deadline.
    pub timeout_buffer: Option<Duration>,
    /// Fill the temp directory by this many MiB.
    pub diskspace_mb: Option<u64>,
    /// Deny-list patterns active for this invocation, in the POSIX ERE the shim runs (`None`:
    /// resolution untouched).
    pub denylist: Option<Vec<String>>,
    /// Skip the handler; answer with this status code.
    pub statuscode: Option<u16>,
    /// Skip the handler; fail with this message.
    pub exception: Option<String>,
    /// Corrupt the response (`Some(None)`: mangle; `Some(Some(b))`: replace with `b`).
    pub corruption: Option<Option<String>>,
}

impl InvocationPlan {
    /// Whether the plan does nothing.
    pub fn is_empty(&self) -> bool {
        *self == InvocationPlan::default()
    }
}

impl FaultConfig {
    /// Rolls each enabled fault's percentage independently, after its `match` conditions.
    pub fn plan(&self, event: &Value, now: DateTime<Utc>, rng: &mut impl Rng) -> InvocationPlan {
        let mut plan = InvocationPlan::default();
        if self.expired(now) {
            return plan;
        }
        for f in &self.faults {
            if !f.matches.iter().all(|m| m.holds(event)) {
                continue;
            }
            if f.percentage < 100.0 && rng.gen_range(0.0..100.0) >= f.percentage {
                continue;
            }
            match &f.kind {
                LayerFaultKind::Latency { min, max } => {
                    let ms = rng.gen_range(min.as_millis() as u64..=max.as_millis() as u64);
                    plan.latency = Some(Duration::from_millis(ms));
                }
                LayerFaultKind::Timeout { buffer } => plan.timeout_buffer = Some(*buffer),
                LayerFaultKind::DiskSpace { mb } => plan.diskspace_mb = Some(*mb),
                LayerFaultKind::Denylist { ere, .. } => plan.denylist = Some(ere.clone()),
                LayerFaultKind::StatusCode { code } => plan.statuscode = Some(*code),
                LayerFaultKind::Exception { message } => plan.exception = Some(message.clone()),
                LayerFaultKind::Corruption { body } => plan.corruption = Some(body.clone()),
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-23T20:00:00Z".parse().unwrap()
    }

    #[test]
    fn percentage_30_hits_about_30_percent() {
        let c =
            FaultConfig::parse(r#"{"exception": {"enabled": true, "percentage": 30}}"#).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let hits = (0..10_000)
            .filter(|_| c.plan(&Value::Null, now(), &mut rng).exception.is_some())
            .count();
        assert!((2_800..=3_200).contains(&hits), "{hits}");
    }

    #[test]
    fn latency_stays_within_bounds() {
        let c = FaultConfig::parse(
            r#"{"latency": {"enabled": true, "min_latency": 100, "max_latency": 120}}"#,
        )
        .unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..1_000 {
            let d = c.plan(&Value::Null, now(), &mut rng).latency.unwrap();
            assert!((100..=120).contains(&(d.as_millis() as u64)), "{d:?}");
        }
    }

    #[test]
    fn match_selects_only_matching_events_and_expiry_disables() {
        let c = FaultConfig::parse(
            r#"{"expires_at": "2026-11-23T21:00:00Z",
                "statuscode": {"enabled": true, "status_code": 503,
                  "match": [{"path": "requestContext.stage", "value": "prod"}]}}"#,
        )
        .unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let prod = json!({"requestContext": {"stage": "prod"}});
        let dev = json!({"requestContext": {"stage": "dev"}});
        assert_eq!(c.plan(&prod, now(), &mut rng).statuscode, Some(503));
        assert!(c.plan(&dev, now(), &mut rng).is_empty());
        let later = now() + chrono::Duration::hours(2);
        assert!(c.plan(&prod, later, &mut rng).is_empty());
    }
}

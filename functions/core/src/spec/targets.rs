//! Who may be hit and how many: [`Resource`], [`Targets`] and [`Selection`] (with the
//! arithmetic of [`Selection::requested`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The kind of resource an experiment targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resource {
    /// Instances of opted-in Auto Scaling groups (the group carries the opt-in tag).
    AsgInstance,
    /// Opted-in EC2 instances (the instance carries the opt-in tag), standalone or in a group;
    /// group members still get the group's blast-radius protection.
    Ec2Instance,
    /// Opted-in Lambda functions (the function carries the opt-in tag), found through the
    /// Resource Groups Tagging API.
    LambdaFunction,
}

impl Resource {
    /// Whether the resource is an EC2 instance (the instance actions apply), not a function.
    pub fn is_instance(&self) -> bool {
        match self {
            Resource::AsgInstance | Resource::Ec2Instance => true,
            Resource::LambdaFunction => false,
        }
    }
}

/// Which instances may be hit, before the opt-in tag and health are checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// Resource kind.
    pub resource: Resource,
    /// Tags that must all match (on the group for `asg-instance`, on the instance otherwise),
    /// ANDed with the opt-in tag.
    pub tags: BTreeMap<String, String>,
    /// Only these groups (`asg-instance` only).
    pub asg_names: Option<Vec<String>>,
    /// Only instances in these Availability Zones.
    pub zones: Option<Zones>,
}

/// `targets.availability_zones`: which zones an instance experiment is restricted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zones {
    /// One zone drawn among those holding opted-in capacity (the record says which).
    Random,
    /// These zones.
    Named(Vec<String>),
}

/// How many of the N eligible targets to pick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Selection {
    /// floor(N × p / 100), at least 1 when N ≥ 1 and p > 0. `p` is in `0.0..=100.0`.
    Percent(f64),
    /// The same percentage of each group separately (`"per_group": true`); standalone
    /// instances count as one pool. Spreads the blast the way Chaos Monkey does.
    PercentEach(f64),
    /// min(n, N).
    Count(u32),
    /// All N.
    All,
}

/// The most targets a selection may request without `guards.max_targets`: a selection that can
/// exceed it (`all`, any `percent`, a `count` above it) must say how far it may go.
pub const UNCAPPED_SELECTION_LIMIT: u32 = 10;

impl Selection {
    /// The most targets this selection can request however large the fleet, or `None` when it
    /// grows with the fleet (`all`, `percent`).
    pub fn upper_bound(&self) -> Option<u32> {
        match *self {
            Selection::Count(n) => Some(n),
            Selection::All | Selection::Percent(_) | Selection::PercentEach(_) => None,
        }
    }

    /// The number requested of `eligible` targets, before the guards cap it (for
    /// [`Selection::PercentEach`], of one pool).
    pub fn requested(&self, eligible: usize) -> usize {
        match *self {
            Selection::All => eligible,
            Selection::Count(n) => (n as usize).min(eligible),
            Selection::Percent(p) | Selection::PercentEach(p) => {
                if eligible == 0 || p <= 0.0 {
                    return 0;
                }
                // Exact for integral percentages: compute in hundredths to dodge float error
                // (e.g. 100 * 0.29 = 28.999...).
                let hundredths = (p * 100.0).round() as u128;
                let n = (eligible as u128 * hundredths / 10_000) as usize;
                n.clamp(1, eligible)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_selection_rounds_down_but_takes_at_least_one() {
        let p = |v: f64, n| Selection::Percent(v).requested(n);
        assert_eq!(p(30.0, 100), 30);
        assert_eq!(p(30.0, 7), 2);
        assert_eq!(p(30.0, 3), 1);
        assert_eq!(p(1.0, 10), 1);
        assert_eq!(p(29.0, 100), 29);
        assert_eq!(p(100.0, 3), 3);
        assert_eq!(p(0.0, 10), 0);
        assert_eq!(p(50.0, 0), 0);
        assert_eq!(Selection::PercentEach(30.0).requested(10), 3);
        assert_eq!(Selection::Count(5).requested(3), 3);
        assert_eq!(Selection::All.requested(4), 4);
    }

    #[test]
    fn only_a_count_has_an_upper_bound() {
        assert_eq!(Selection::Count(7).upper_bound(), Some(7));
        assert_eq!(Selection::All.upper_bound(), None);
        assert_eq!(Selection::Percent(1.0).upper_bound(), None);
        assert_eq!(Selection::PercentEach(1.0).upper_bound(), None);
    }
}

//! The choice: [`plan`] draws the targets of one round within every cap into a [`Plan`], and
//! [`changes_since`] says what no longer holds of a confirmed plan in a fresh inventory.

use std::collections::{BTreeMap, HashMap};

use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

use crate::select::eligibility::{eligibility, Eligibility, GroupPlan, Target};
use crate::select::inventory::{Inventory, OptIn};
use crate::spec::{Experiment, Selection, Zones};

/// The outcome of selection.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Opted-in, running / healthy `InService` instances (N).
    pub eligible: usize,
    /// What the selection asked for, of N.
    pub requested: usize,
    /// What will be hit, sorted by instance id.
    pub chosen: Vec<Target>,
    /// Per group: floor, budget, chosen, or why it is spared.
    pub groups: Vec<GroupPlan>,
    /// Instances left out before selection, counted by reason.
    pub excluded: BTreeMap<String, usize>,
    /// Why fewer than `requested` were chosen, if so.
    pub capped_by: Vec<String>,
    /// The Availability Zones the round was restricted to (`targets.availability_zones`; for
    /// `"random"`, the zone drawn).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
}

/// Chooses the targets of one round.
pub fn plan(exp: &Experiment, opt_in: &OptIn, inv: &Inventory, rng: &mut impl Rng) -> Plan {
    let Eligibility {
        mut eligible,
        mut budgets,
        excluded,
    } = eligibility(exp, opt_in, inv);
    let mut out = Plan {
        excluded,
        ..Plan::default()
    };
    // Availability Zones: named ones, or one drawn among those holding eligible capacity.
    let zones: Option<Vec<String>> = match &exp.targets.zones {
        None => None,
        Some(Zones::Named(z)) => Some(z.clone()),
        Some(Zones::Random) => {
            let mut held: Vec<String> = eligible.iter().filter_map(|t| t.zone.clone()).collect();
            held.sort();
            held.dedup();
            Some(held.choose(rng).cloned().into_iter().collect())
        }
    };
    if let Some(zones) = zones {
        let before = eligible.len();
        eligible.retain(|t| t.zone.as_ref().is_some_and(|z| zones.contains(z)));
        let n = before - eligible.len();
        if n > 0 {
            *out.excluded
                .entry(format!("outside availability zone(s) {}", zones.join(", ")))
                .or_default() += n;
        }
        out.zones = zones;
    }

    out.eligible = eligible.len();
    // Per-pool quotas: for a per-group percentage each group (and the standalone pool) gets
    // its own share; otherwise one pool holds everything.
    let mut quota: HashMap<Option<String>, usize> = HashMap::new();
    match exp.selection {
        Selection::PercentEach(_) => {
            let mut sizes: HashMap<Option<String>, usize> = HashMap::new();
            for t in &eligible {
                *sizes.entry(t.asg.clone()).or_default() += 1;
            }
            for (pool, n) in sizes {
                quota.insert(pool, exp.selection.requested(n));
            }
            out.requested = quota.values().sum();
        }
        _ => out.requested = exp.selection.requested(eligible.len()),
    }
    let mut limit = out.requested;
    if let Some(max) = exp.guards.max_targets {
        if (max as usize) < limit {
            limit = max as usize;
            out.capped_by.push(format!(
                "max_targets {max} (of {} requested)",
                out.requested
            ));
        }
    }

    eligible.shuffle(rng);
    for t in eligible {
        if out.chosen.len() == limit {
            break;
        }
        if let Some(q) = quota.get_mut(&t.asg) {
            if *q == 0 {
                continue;
            }
        }
        if let Some(name) = t.asg.as_deref() {
            let g = budgets
                .get_mut(name)
                .expect("every eligible group has a budget");
            if g.chosen >= g.budget {
                continue;
            }
            g.chosen += 1;
        }
        if let Some(q) = quota.get_mut(&t.asg) {
            *q -= 1;
        }
        out.chosen.push(t);
    }
    if out.chosen.len() < limit {
        let names: Vec<String> = budgets
            .values()
            .filter(|g| g.chosen >= g.budget)
            .map(|g| format!("{} (floor {}, budget {})", g.name, g.floor, g.budget))
            .collect();
        out.capped_by.push(format!(
            "group floors: {} of {limit} chosen; {}",
            out.chosen.len(),
            names.join(", ")
        ));
    }
    out.chosen.sort();
    out.groups = budgets.into_values().collect();
    out
}

/// What no longer holds of a confirmed plan in a fresh inventory: each chosen target that is
/// no longer eligible (gone, stopped, unhealthy, no longer opted in), and each group that may
/// now lose fewer than the plan takes from it. Empty: the plan can be executed as confirmed.
pub fn changes_since(
    exp: &Experiment,
    opt_in: &OptIn,
    confirmed: &Plan,
    now: &Inventory,
) -> Vec<String> {
    let fresh = eligibility(exp, opt_in, now);
    let mut changes: Vec<String> = confirmed
        .chosen
        .iter()
        .filter(|t| !fresh.eligible.contains(t))
        .map(|t| format!("{} is no longer an eligible target (gone, not running / healthy InService, or no longer opted in)", t.instance_id))
        .collect();
    let mut taken: BTreeMap<&str, u32> = BTreeMap::new();
    for t in &confirmed.chosen {
        if let Some(g) = t.asg.as_deref() {
            *taken.entry(g).or_default() += 1;
        }
    }
    for (name, n) in taken {
        let budget = fresh.budgets.get(name).map_or(0, |g| g.budget);
        if n > budget {
            let why = fresh
                .budgets
                .get(name)
                .and_then(|g| g.spared.clone())
                .unwrap_or_else(|| format!("may now lose {budget}"));
            changes.push(format!("{name}: the plan takes {n}, but {why}"));
        }
    }
    changes
}

//! Who may be hit before any choice: the eligible [`Target`]s (opt-in, tags, running / healthy
//! `InService`), each group's blast-radius budget ([`GroupPlan`]), and what was left out and why.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::select::inventory::{Group, Inventory, OptIn};
use crate::spec::{Experiment, Resource};

/// An instance chosen (or eligible) to be hit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Target {
    /// Instance id (for `lambda-function`, the function's name).
    pub instance_id: String,
    /// Its Auto Scaling group, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asg: Option<String>,
    /// Its Availability Zone, when the inventory knew it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// The blast-radius view of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupPlan {
    /// Group name.
    pub name: String,
    /// `MinSize`.
    pub min_size: u32,
    /// `DesiredCapacity` at planning time.
    pub desired: u32,
    /// Healthy `InService` instances at planning time.
    pub healthy_in_service: u32,
    /// Never fewer healthy `InService` instances than this: max(`MinSize`, `min_healthy`).
    pub floor: u32,
    /// How many may go this round.
    pub budget: u32,
    /// How many were chosen.
    pub chosen: u32,
    /// Why the group is spared entirely, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spared: Option<String>,
}

fn tags_match(want: &BTreeMap<String, String>, have: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// Who may be hit before any choice: the eligible targets (opt-in, tags, running / healthy
/// `InService`), each group's blast-radius budget, and what was left out and why.
pub(super) struct Eligibility {
    pub(super) eligible: Vec<Target>,
    pub(super) budgets: BTreeMap<String, GroupPlan>,
    pub(super) excluded: BTreeMap<String, usize>,
}

pub(super) fn eligibility(exp: &Experiment, opt_in: &OptIn, inv: &Inventory) -> Eligibility {
    let mut excluded: BTreeMap<String, usize> = BTreeMap::new();
    let mut exclude = |reason: &str, n: usize| {
        if n > 0 {
            *excluded.entry(reason.to_owned()).or_default() += n;
        }
    };

    // Groups whose members may be hit, by name.
    let groups: HashMap<&str, &Group> = inv.groups.iter().map(|g| (g.name.as_str(), g)).collect();
    let mut eligible: Vec<Target> = Vec::new();

    match exp.targets.resource {
        Resource::AsgInstance => {
            for g in &inv.groups {
                if let Some(names) = &exp.targets.asg_names {
                    if !names.contains(&g.name) {
                        continue;
                    }
                }
                if !opt_in.allows(&g.tags) {
                    exclude(
                        &format!("group not opted in ({}=true missing)", opt_in.key),
                        g.members.len(),
                    );
                    continue;
                }
                if !tags_match(&exp.targets.tags, &g.tags) {
                    exclude("group tags do not match", g.members.len());
                    continue;
                }
                for m in &g.members {
                    if m.serving() {
                        eligible.push(Target {
                            instance_id: m.id.clone(),
                            asg: Some(g.name.clone()),
                            zone: m.zone.clone(),
                        });
                    } else {
                        exclude("not healthy and InService", 1);
                    }
                }
            }
        }
        Resource::LambdaFunction => {
            for f in &inv.functions {
                if !opt_in.allows(&f.tags) {
                    exclude(&format!("not opted in ({}=true missing)", opt_in.key), 1);
                } else if !tags_match(&exp.targets.tags, &f.tags) {
                    exclude("tags do not match", 1);
                } else if let Some(why) = &f.unfit {
                    // Per function: the plan names each one left out and why.
                    exclude(&format!("function {}: {why}", f.name), 1);
                } else {
                    eligible.push(Target {
                        instance_id: f.name.clone(),
                        asg: None,
                        zone: None,
                    });
                }
            }
        }
        Resource::Ec2Instance => {
            for i in &inv.instances {
                if !opt_in.allows(&i.tags) {
                    exclude(&format!("not opted in ({}=true missing)", opt_in.key), 1);
                    continue;
                }
                if !tags_match(&exp.targets.tags, &i.tags) {
                    exclude("tags do not match", 1);
                    continue;
                }
                if i.state != "running" {
                    exclude("not running", 1);
                    continue;
                }
                match i.asg() {
                    None => eligible.push(Target {
                        instance_id: i.id.clone(),
                        asg: None,
                        zone: i.zone.clone(),
                    }),
                    Some(name) => match groups.get(name) {
                        // A member whose group we could not see gets no protection: leave it.
                        None => exclude("its Auto Scaling group could not be read", 1),
                        Some(g) => {
                            if g.members.iter().any(|m| m.id == i.id && m.serving()) {
                                eligible.push(Target {
                                    instance_id: i.id.clone(),
                                    asg: Some(name.to_owned()),
                                    zone: i.zone.clone(),
                                });
                            } else {
                                exclude("not healthy and InService", 1);
                            }
                        }
                    },
                }
            }
        }
    }

    // Budgets of the groups that have eligible members.
    let mut budgets: BTreeMap<String, GroupPlan> = BTreeMap::new();
    for t in &eligible {
        let Some(name) = t.asg.as_deref() else {
            continue;
        };
        let g: &Group = groups[name];
        budgets.entry(g.name.clone()).or_insert_with(|| {
            let healthy = g.healthy_in_service();
            let floor = g.min_size.max(exp.guards.min_healthy);
            let (budget, spared) = if healthy < g.desired {
                (
                    0,
                    Some(format!(
                        "degraded: {healthy} healthy InService of desired {}; it is not hit \
                         until it has recovered",
                        g.desired
                    )),
                )
            } else if healthy <= floor {
                (
                    0,
                    Some(format!(
                        "at its floor: {healthy} healthy InService, never fewer than {floor} \
                         (max of MinSize {} and min_healthy {})",
                        g.min_size, exp.guards.min_healthy
                    )),
                )
            } else {
                (healthy - floor, None)
            };
            GroupPlan {
                name: name.to_owned(),
                min_size: g.min_size,
                desired: g.desired,
                healthy_in_service: healthy,
                floor,
                budget,
                chosen: 0,
                spared,
            }
        });
    }
    Eligibility {
        eligible,
        budgets,
        excluded,
    }
}

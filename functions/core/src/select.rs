//! Target selection: from what the inventory shows to the instances a round will hit.
//!
//! Pure: it takes the inventory and an RNG, so tests are deterministic and need no network.
//! The order follows the guard chain: opt-in tag → running / `InService` and `Healthy` only →
//! blast radius (selection, `max_targets`, never below a group's floor) → degraded groups are
//! spared.

use std::collections::{BTreeMap, HashMap};

use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

use crate::spec::{Experiment, Resource, Selection};

/// The tag that opts a resource in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptIn {
    /// Tag key, `faultline:enabled` by default.
    pub key: String,
}

impl OptIn {
    /// The value that opts in.
    pub const VALUE: &'static str = "true";

    /// Whether `tags` opt in.
    pub fn allows(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(&self.key).map(String::as_str) == Some(Self::VALUE)
    }
}

impl Default for OptIn {
    fn default() -> Self {
        Self {
            key: "faultline:enabled".to_owned(),
        }
    }
}

/// The tag AWS puts on every member of an Auto Scaling group.
pub const ASG_NAME_TAG: &str = "aws:autoscaling:groupName";

/// An EC2 instance as the inventory saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Instance id.
    pub id: String,
    /// `running`, `stopped`, ...
    pub state: String,
    /// All its tags.
    pub tags: BTreeMap<String, String>,
}

impl Instance {
    /// The group it belongs to, if any.
    pub fn asg(&self) -> Option<&str> {
        self.tags.get(ASG_NAME_TAG).map(String::as_str)
    }
}

/// An Auto Scaling group as the inventory saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// `MinSize`.
    pub min_size: u32,
    /// `DesiredCapacity`.
    pub desired: u32,
    /// The group's own tags.
    pub tags: BTreeMap<String, String>,
    /// Its instances.
    pub members: Vec<Member>,
}

/// An instance as its group sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Instance id.
    pub id: String,
    /// `LifecycleState`: `InService`, `Pending`, `Terminating`, ...
    pub lifecycle: String,
    /// `HealthStatus` is `Healthy`.
    pub healthy: bool,
}

impl Member {
    fn serving(&self) -> bool {
        self.lifecycle == "InService" && self.healthy
    }
}

impl Group {
    /// Healthy `InService` members.
    pub fn healthy_in_service(&self) -> u32 {
        self.members.iter().filter(|m| m.serving()).count() as u32
    }
}

/// What the inventory found: groups (for `asg-instance`, and the groups of any group members
/// among `ec2-instance` candidates) and instances (for `ec2-instance`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// Groups.
    pub groups: Vec<Group>,
    /// Instances.
    pub instances: Vec<Instance>,
}

/// An instance chosen (or eligible) to be hit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Target {
    /// Instance id.
    pub instance_id: String,
    /// Its Auto Scaling group, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asg: Option<String>,
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
}

fn tags_match(want: &BTreeMap<String, String>, have: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// Who may be hit before any choice: the eligible targets (opt-in, tags, running / healthy
/// `InService`), each group's blast-radius budget, and what was left out and why.
struct Eligibility {
    eligible: Vec<Target>,
    budgets: BTreeMap<String, GroupPlan>,
    excluded: BTreeMap<String, usize>,
}

fn eligibility(exp: &Experiment, opt_in: &OptIn, inv: &Inventory) -> Eligibility {
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
                        });
                    } else {
                        exclude("not healthy and InService", 1);
                    }
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
                    }),
                    Some(name) => match groups.get(name) {
                        // A member whose group we could not see gets no protection: leave it.
                        None => exclude("its Auto Scaling group could not be read", 1),
                        Some(g) => {
                            if g.members.iter().any(|m| m.id == i.id && m.serving()) {
                                eligible.push(Target {
                                    instance_id: i.id.clone(),
                                    asg: Some(name.to_owned()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Action, Guards, Recovery, Targets};
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::HashSet;
    use std::time::Duration;

    fn exp(
        resource: Resource,
        selection: Selection,
        min_healthy: u32,
        max: Option<u32>,
    ) -> Experiment {
        Experiment {
            name: "t".into(),
            enabled: true,
            targets: Targets {
                resource,
                tags: BTreeMap::from([("app".to_owned(), "web".to_owned())]),
                asg_names: None,
            },
            selection,
            action: Action::Terminate { via_asg: false },
            dry_run: false,
            guards: Guards {
                stop_alarms: vec![],
                min_healthy,
                max_targets: max,
                windows: vec![],
                probability: 1.0,
            },
            recovery: Recovery {
                timeout: Duration::from_secs(60),
                alarms: vec![],
            },
            notify_refusals: false,
        }
    }

    fn tags(opt_in: bool, app: &str, asg: Option<&str>) -> BTreeMap<String, String> {
        let mut t = BTreeMap::from([("app".to_owned(), app.to_owned())]);
        if opt_in {
            t.insert("faultline:enabled".into(), "true".into());
        }
        if let Some(a) = asg {
            t.insert(ASG_NAME_TAG.into(), a.into());
        }
        t
    }

    fn group(
        name: &str,
        min: u32,
        desired: u32,
        healthy: u32,
        unhealthy: u32,
        opt_in: bool,
    ) -> Group {
        let mut members = Vec::new();
        for i in 0..healthy + unhealthy {
            members.push(Member {
                id: format!("i-{name}-{i:03}"),
                lifecycle: "InService".into(),
                healthy: i < healthy,
            });
        }
        Group {
            name: name.into(),
            min_size: min,
            desired,
            tags: tags(opt_in, "web", None),
            members,
        }
    }

    fn rng(seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }

    #[test]
    fn asg_floor_min_size_two_desired_three_percent_100_takes_one() {
        let inv = Inventory {
            groups: vec![group("web", 2, 3, 3, 0, true)],
            instances: vec![],
        };
        let p = plan(
            &exp(Resource::AsgInstance, Selection::Percent(100.0), 0, None),
            &OptIn::default(),
            &inv,
            &mut rng(1),
        );
        assert_eq!(p.eligible, 3);
        assert_eq!(p.requested, 3);
        assert_eq!(p.chosen.len(), 1);
        assert_eq!(p.groups[0].floor, 2);
        assert!(p.capped_by[0].contains("group floors"), "{:?}", p.capped_by);
    }

    #[test]
    fn min_healthy_raises_the_floor() {
        let inv = Inventory {
            groups: vec![group("web", 1, 5, 5, 0, true)],
            instances: vec![],
        };
        let p = plan(
            &exp(Resource::AsgInstance, Selection::All, 4, None),
            &OptIn::default(),
            &inv,
            &mut rng(1),
        );
        assert_eq!(p.chosen.len(), 1);
        assert_eq!(p.groups[0].floor, 4);
    }

    #[test]
    fn degraded_groups_and_unopted_groups_are_spared() {
        let inv = Inventory {
            groups: vec![
                group("degraded", 0, 4, 3, 1, true),
                group("other", 0, 4, 4, 0, false),
                group("ok", 0, 4, 4, 0, true),
            ],
            instances: vec![],
        };
        let p = plan(
            &exp(Resource::AsgInstance, Selection::All, 0, None),
            &OptIn::default(),
            &inv,
            &mut rng(7),
        );
        assert!(p.chosen.iter().all(|t| t.asg.as_deref() == Some("ok")));
        assert_eq!(p.chosen.len(), 4);
        let degraded = p.groups.iter().find(|g| g.name == "degraded").unwrap();
        assert!(degraded.spared.as_deref().unwrap().starts_with("degraded"));
        assert_eq!(p.excluded.get("not healthy and InService"), Some(&1));
        assert_eq!(p.excluded.values().sum::<usize>(), 5);
    }

    #[test]
    fn ec2_members_of_groups_keep_their_groups_protection() {
        let g = group("web", 2, 3, 3, 0, false);
        let mut instances: Vec<Instance> = g
            .members
            .iter()
            .map(|m| Instance {
                id: m.id.clone(),
                state: "running".into(),
                tags: tags(true, "web", Some("web")),
            })
            .collect();
        instances.push(Instance {
            id: "i-solo".into(),
            state: "running".into(),
            tags: tags(true, "web", None),
        });
        instances.push(Instance {
            id: "i-stopped".into(),
            state: "stopped".into(),
            tags: tags(true, "web", None),
        });
        instances.push(Instance {
            id: "i-other-app".into(),
            state: "running".into(),
            tags: tags(true, "api", None),
        });
        let inv = Inventory {
            groups: vec![g],
            instances,
        };
        let p = plan(
            &exp(Resource::Ec2Instance, Selection::All, 0, None),
            &OptIn::default(),
            &inv,
            &mut rng(3),
        );
        assert_eq!(p.eligible, 4);
        assert_eq!(p.chosen.len(), 2, "{p:?}");
        assert!(p.chosen.iter().any(|t| t.instance_id == "i-solo"));
        assert_eq!(p.excluded.get("not running"), Some(&1));
        assert_eq!(p.excluded.get("tags do not match"), Some(&1));
    }

    #[test]
    fn per_group_percent_takes_the_share_of_each_group() {
        let inv = Inventory {
            groups: vec![
                group("a", 0, 10, 10, 0, true),
                group("b", 0, 20, 20, 0, true),
                group("c", 0, 3, 3, 0, true),
            ],
            instances: vec![],
        };
        let e = exp(Resource::AsgInstance, Selection::PercentEach(30.0), 0, None);
        let p = plan(&e, &OptIn::default(), &inv, &mut rng(5));
        let count = |g: &str| {
            p.chosen
                .iter()
                .filter(|t| t.asg.as_deref() == Some(g))
                .count()
        };
        assert_eq!((count("a"), count("b"), count("c")), (3, 6, 1));
        assert_eq!(p.requested, 10);
        assert!(p.capped_by.is_empty());
    }

    #[test]
    fn the_same_seed_picks_the_same_targets() {
        let inv = Inventory {
            groups: vec![group("web", 0, 50, 50, 0, true)],
            instances: vec![],
        };
        let e = exp(Resource::AsgInstance, Selection::Percent(30.0), 0, None);
        let a = plan(&e, &OptIn::default(), &inv, &mut rng(42));
        let b = plan(&e, &OptIn::default(), &inv, &mut rng(42));
        let c = plan(&e, &OptIn::default(), &inv, &mut rng(43));
        assert_eq!(a.chosen.len(), 15);
        assert_eq!(a, b);
        assert_ne!(a.chosen, c.chosen);
    }

    prop_compose! {
        fn arb_group(idx: usize)(min in 0u32..6, extra in 0u32..6, healthy in 0u32..12,
                                 unhealthy in 0u32..3, opt_in in proptest::bool::weighted(0.7))
                                -> Group {
            let desired = min + extra;
            group(&format!("g{idx}"), min, desired, healthy, unhealthy, opt_in)
        }
    }

    fn arb_inventory() -> impl Strategy<Value = Inventory> {
        (0usize..5)
            .prop_flat_map(|n| (0..n).map(arb_group).collect::<Vec<_>>())
            .prop_flat_map(|groups| {
                let solos = proptest::collection::vec(
                    (any::<bool>(), any::<bool>(), proptest::bool::weighted(0.8)),
                    0..20,
                );
                (Just(groups), solos)
            })
            .prop_map(|(groups, solos)| {
                let mut instances: Vec<Instance> = Vec::new();
                for g in &groups {
                    for m in &g.members {
                        instances.push(Instance {
                            id: m.id.clone(),
                            state: "running".into(),
                            tags: tags(
                                g.tags.contains_key("faultline:enabled"),
                                "web",
                                Some(&g.name),
                            ),
                        });
                    }
                }
                for (i, (opt_in, web, running)) in solos.into_iter().enumerate() {
                    instances.push(Instance {
                        id: format!("i-solo-{i:03}"),
                        state: if running { "running" } else { "stopped" }.into(),
                        tags: tags(opt_in, if web { "web" } else { "api" }, None),
                    });
                }
                Inventory { groups, instances }
            })
    }

    fn arb_selection() -> impl Strategy<Value = Selection> {
        prop_oneof![
            (0.0f64..=100.0).prop_map(Selection::Percent),
            (0.0f64..=100.0).prop_map(Selection::PercentEach),
            (1u32..30).prop_map(Selection::Count),
            Just(Selection::All),
        ]
    }

    proptest! {
        #[test]
        fn selection_never_exceeds_a_cap_nor_picks_an_ineligible_target(
            inv in arb_inventory(),
            selection in arb_selection(),
            ec2 in any::<bool>(),
            min_healthy in 0u32..5,
            max in proptest::option::of(1u32..20),
            seed in any::<u64>(),
        ) {
            let resource = if ec2 { Resource::Ec2Instance } else { Resource::AsgInstance };
            let e = exp(resource, selection, min_healthy, max);
            let opt = OptIn::default();
            let p = plan(&e, &opt, &inv, &mut rng(seed));

            prop_assert!(p.chosen.len() <= p.requested);
            prop_assert!(p.requested <= p.eligible);
            if let Some(m) = max { prop_assert!(p.chosen.len() <= m as usize); }
            let unique: HashSet<_> = p.chosen.iter().collect();
            prop_assert_eq!(unique.len(), p.chosen.len());

            let groups: HashMap<&str, &Group> = inv.groups.iter().map(|g| (g.name.as_str(), g)).collect();
            for t in &p.chosen {
                match &t.asg {
                    Some(name) => {
                        let g = groups[name.as_str()];
                        let m = g.members.iter().find(|m| m.id == t.instance_id).unwrap();
                        prop_assert!(m.serving());
                        prop_assert!(g.healthy_in_service() >= g.desired, "degraded group hit");
                        if !ec2 { prop_assert!(opt.allows(&g.tags)); }
                    }
                    None => prop_assert!(ec2),
                }
                if ec2 {
                    let i = inv.instances.iter().find(|i| i.id == t.instance_id).unwrap();
                    prop_assert!(opt.allows(&i.tags));
                    prop_assert_eq!(i.state.as_str(), "running");
                    prop_assert_eq!(i.tags.get("app").map(String::as_str), Some("web"));
                }
            }
            for g in &inv.groups {
                let hit = p.chosen.iter().filter(|t| t.asg.as_deref() == Some(g.name.as_str())).count() as u32;
                let floor = g.min_size.max(min_healthy);
                prop_assert!(hit == 0 || g.healthy_in_service() - hit >= floor,
                    "group {} left with {} of floor {}", g.name, g.healthy_in_service() - hit, floor);
            }
            if let Selection::PercentEach(pct) = selection {
                let mut pools: HashMap<Option<String>, (usize, usize)> = HashMap::new();
                for t in &p.chosen {
                    pools.entry(t.asg.clone()).or_default().0 += 1;
                }
                for (pool, (hit, _)) in &pools {
                    let n = match pool {
                        Some(g) => groups[g.as_str()].members.iter().filter(|m| m.serving()).count(),
                        None => inv.instances.len(),
                    };
                    prop_assert!(*hit <= Selection::PercentEach(pct).requested(n), "pool {pool:?} over its share");
                }
            }
            // Caps only ever reduce: with none binding, the request is met exactly.
            if p.capped_by.is_empty() {
                prop_assert_eq!(p.chosen.len(), p.requested);
            }
        }
    }
}

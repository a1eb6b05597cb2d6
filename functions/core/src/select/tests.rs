//! Selection on hand-made inventories: floors, `min_healthy`, degraded and unopted groups,
//! group members targeted as EC2 instances, per-group shares, seeds, and a property test that no
//! cap is ever exceeded and no ineligible target ever chosen.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::spec::{Action, Experiment, Guards, Recovery, Resource, Selection, Targets};

fn exp(resource: Resource, selection: Selection, min_healthy: u32, max: Option<u32>) -> Experiment {
    Experiment {
        name: "t".into(),
        enabled: true,
        targets: Targets {
            resource,
            tags: BTreeMap::from([("app".to_owned(), "web".to_owned())]),
            asg_names: None,
            zones: None,
        },
        selection,
        action: Action::Terminate { via_asg: false },
        dry_run: false,
        guards: Guards {
            stop_alarms: vec![],
            abort_alarms: vec![],
            min_healthy,
            max_targets: max,
            windows: vec![],
            probability: 1.0,
            allow_single_az: false,
            freeze: vec![],
            min_interval: None,
        },
        recovery: Recovery {
            timeout: Duration::from_secs(60),
            alarms: vec![],
        },
        notify_refusals: false,
        hypothesis: None,
        start: crate::spec::Start::Schedule,
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

fn group(name: &str, min: u32, desired: u32, healthy: u32, unhealthy: u32, opt_in: bool) -> Group {
    let mut members = Vec::new();
    for i in 0..healthy + unhealthy {
        members.push(Member {
            id: format!("i-{name}-{i:03}"),
            lifecycle: "InService".into(),
            healthy: i < healthy,
            zone: None,
        });
    }
    Group {
        name: name.into(),
        min_size: min,
        desired,
        subnets: String::new(),
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
        functions: vec![],
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
        functions: vec![],
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
        functions: vec![],
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
            zone: None,
            tags: tags(true, "web", Some("web")),
        })
        .collect();
    instances.push(Instance {
        id: "i-solo".into(),
        state: "running".into(),
        zone: None,
        tags: tags(true, "web", None),
    });
    instances.push(Instance {
        id: "i-stopped".into(),
        state: "stopped".into(),
        zone: None,
        tags: tags(true, "web", None),
    });
    instances.push(Instance {
        id: "i-other-app".into(),
        state: "running".into(),
        zone: None,
        tags: tags(true, "api", None),
    });
    let inv = Inventory {
        groups: vec![g],
        instances,
        functions: vec![],
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
        functions: vec![],
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
        functions: vec![],
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
                        zone: None,
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
                    zone: None,
                    tags: tags(opt_in, if web { "web" } else { "api" }, None),
                });
            }
            Inventory {
                groups,
                instances,
                functions: vec![],
            }
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

#[test]
fn functions_are_chosen_by_opt_in_and_tags_and_each_unfit_one_is_named_with_its_reason() {
    use crate::select::Function;
    let f = |name: &str, opted: bool, unfit: Option<&str>| Function {
        name: name.into(),
        tags: if opted {
            [
                ("faultline:enabled".to_owned(), "true".to_owned()),
                ("app".to_owned(), "web".to_owned()),
            ]
            .into()
        } else {
            [("app".to_owned(), "web".to_owned())].into()
        },
        unfit: unfit.map(str::to_owned),
    };
    let inv = Inventory {
        functions: vec![
            f("pay", true, None),
            f("cart", true, Some("does not carry the faultline layer")),
            f("ledger", false, None),
        ],
        ..Inventory::default()
    };
    let e = exp(Resource::LambdaFunction, Selection::All, 0, Some(10));
    let p = plan(&e, &OptIn::default(), &inv, &mut StdRng::seed_from_u64(1));
    assert_eq!(p.eligible, 1);
    assert_eq!(p.chosen.len(), 1);
    assert_eq!(p.chosen[0].instance_id, "pay");
    assert_eq!(
        p.excluded
            .get("function cart: does not carry the faultline layer")
            .copied(),
        Some(1),
        "{:?}",
        p.excluded
    );
    assert_eq!(
        p.excluded
            .get("not opted in (faultline:enabled=true missing)")
            .copied(),
        Some(1)
    );
}

//! Availability Zone outages (`az-outage`) and gray failure toward zones (`toward_zones`).
//!
//! An outage takes one zone out for a duration: the opted-in instances there are stopped or
//! terminated, the zone's subnets are removed from every opted-in Auto Scaling group (so the
//! groups rebalance into the surviving zones instead of relaunching into the dead one), and
//! with `"network": true` the zone's opted-in subnets get a deny-all network ACL. [`plan`]
//! checks it may (single-zone groups, opted-in ACLs) and says what it will change, [`prepare`]
//! creates the deny-all ACLs (nothing is associated yet), [`inject`] makes the changes, and
//! [`restore`] puts back exactly what was there: each group's `VPCZoneIdentifier` as it was
//! (order kept), each subnet's ACL, stopped instances started. The recovery timer restores at
//! the end of the duration, an abort at once; restoring twice is harmless.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use tracing::{info, warn};

use crate::aws::autoscaling;
use crate::aws::ec2::{self, Ec2Action};
use crate::aws::vpc::{self, Subnet};
use crate::aws::{Aws, AwsError};
use crate::guards::{Guard, Refusal};
use crate::outcome::TargetResult;
use crate::record::{AclSwap, RolledBack, ZoneGroup};
use crate::select::{Inventory, OptIn, Plan, Target};
use crate::spec::{AgentAction, AzOutage, Experiment};

/// What an outage will change, decided at planning time.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    /// The zone.
    pub zone: String,
    /// The opted-in groups with subnets in the zone: before and during.
    pub groups: Vec<ZoneGroup>,
    /// The zone's opted-in subnets whose ACL will be swapped: (subnet, its VPC, its ACL now).
    pub subnets: Vec<(String, String, String)>,
}

fn split(vpc_zone_identifier: &str) -> Vec<String> {
    vpc_zone_identifier
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Decides what an outage of the plan's zone changes, or refuses: a plan that does not take
/// every eligible instance in the zone (a group's floor counted in the surviving zones, or
/// `max_targets`), a group living in that zone only (unless `allow_single_az`), a subnet whose
/// current ACL is not opted in (the restore could not put it back).
pub async fn plan(
    aws: &Aws,
    exp: &Experiment,
    outage: &AzOutage,
    opt_in: &OptIn,
    inv: &Inventory,
    plan: &Plan,
) -> Result<Result<Outage, Refusal>, AwsError> {
    let refuse = |why: String| Ok(Err(Refusal::new(Guard::Zone, why)));
    let Some(zone) = plan.zones.first().cloned() else {
        return refuse("no zone holds opted-in capacity".to_owned());
    };
    if plan.chosen.len() < plan.eligible {
        let mut why: Vec<String> = plan.capped_by.clone();
        why.extend(
            plan.groups
                .iter()
                .filter_map(|g| g.spared.as_ref().map(|s| format!("{}: {s}", g.name))),
        );
        return refuse(format!(
            "an outage of {zone} takes all of its {} eligible instance(s), but only {} may go \
             (the surviving zones must keep each group's floor): {}",
            plan.eligible,
            plan.chosen.len(),
            if why.is_empty() {
                "see the groups' budgets".to_owned()
            } else {
                why.join("; ")
            }
        ));
    }
    // Every opted-in group of the experiment, whether or not it has an instance in the zone:
    // none may relaunch there.
    let groups: Vec<&crate::select::Group> = inv
        .groups
        .iter()
        .filter(|g| opt_in.allows(&g.tags))
        .filter(|g| {
            exp.targets
                .tags
                .iter()
                .all(|(k, v)| g.tags.get(k) == Some(v))
        })
        .filter(|g| {
            exp.targets
                .asg_names
                .as_ref()
                .is_none_or(|names| names.contains(&g.name))
        })
        .collect();
    let ids: BTreeSet<String> = groups.iter().flat_map(|g| split(&g.subnets)).collect();
    let known: BTreeMap<String, Subnet> = if ids.is_empty() {
        BTreeMap::new()
    } else {
        vpc::subnets(&aws.ec2, &ids.into_iter().collect::<Vec<_>>(), &[])
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect()
    };
    let mut out = Outage {
        zone: zone.clone(),
        groups: vec![],
        subnets: vec![],
    };
    for g in groups {
        let all = split(&g.subnets);
        let in_zone = |s: &String| known.get(s).is_some_and(|k| k.zone == zone);
        if !all.iter().any(in_zone) {
            continue;
        }
        let surviving: Vec<String> = all.iter().filter(|s| !in_zone(s)).cloned().collect();
        if surviving.is_empty() {
            if !exp.guards.allow_single_az {
                return refuse(format!(
                    "{} lives in {zone} only: an outage would take it to zero. Spread it over \
                     more zones, or set guards.allow_single_az to accept that",
                    g.name
                ));
            }
            // Nowhere else to go: its subnets stay; it loses its instances.
            continue;
        }
        out.groups.push(ZoneGroup {
            name: g.name.clone(),
            before: g.subnets.clone(),
            during: surviving.join(","),
        });
    }
    if outage.network {
        for s in vpc::subnets(&aws.ec2, &[], std::slice::from_ref(&zone)).await? {
            if !opt_in.allows(&s.tags) {
                continue;
            }
            let Some(assoc) = vpc::acl_of(&aws.ec2, &s.id).await? else {
                continue;
            };
            if !opt_in.allows(&assoc.acl_tags) {
                return refuse(format!(
                    "the network ACL {} of subnet {} is not opted in ({}=true): the restore \
                     could not associate it again; tag it, or drop \"network\"",
                    assoc.acl, s.id, opt_in.key
                ));
            }
            out.subnets.push((s.id, s.vpc, assoc.acl));
        }
    }
    Ok(Ok(out))
}

/// Creates one deny-all ACL per VPC for the subnets to cut off (associated with nothing yet).
pub async fn prepare(
    aws: &Aws,
    outage: &Outage,
    opt_in: &OptIn,
    experiment_id: &str,
) -> Result<Vec<AclSwap>, AwsError> {
    let tags: BTreeMap<String, String> = [
        (opt_in.key.clone(), OptIn::VALUE.to_owned()),
        ("faultline:experiment".to_owned(), experiment_id.to_owned()),
        (
            "Name".to_owned(),
            format!("faultline deny-all {}", outage.zone),
        ),
    ]
    .into();
    let mut deny: BTreeMap<&str, String> = BTreeMap::new();
    let mut out = Vec::new();
    for (subnet, vpc, original) in &outage.subnets {
        let acl = match deny.get(vpc.as_str()) {
            Some(a) => a.clone(),
            None => {
                let a = vpc::create_deny_acl(&aws.ec2, vpc, &tags).await?;
                deny.insert(vpc, a.clone());
                a
            }
        };
        out.push(AclSwap {
            subnet: subnet.clone(),
            original: original.clone(),
            deny: acl,
        });
    }
    Ok(out)
}

/// Deletes ACLs [`prepare`] created for a round that did not go ahead.
pub async fn discard(aws: &Aws, acls: &[AclSwap]) {
    let deny: BTreeSet<&str> = acls.iter().map(|a| a.deny.as_str()).collect();
    for acl in deny {
        if let Err(e) = vpc::delete_acl(&aws.ec2, acl).await {
            warn!(acl, error = %e, "could not delete an unused deny-all ACL");
        }
    }
}

/// Takes the zone out: groups' subnets first (so nothing relaunches there), then the ACLs,
/// then the instances. One result per group, subnet and instance.
pub async fn inject(
    aws: &Aws,
    outage: &AzOutage,
    groups: &[ZoneGroup],
    acls: &[AclSwap],
    chosen: &[Target],
) -> Vec<TargetResult> {
    let mut out = Vec::new();
    let result = |id: String, res: Result<String, String>| match res {
        Ok(done) => TargetResult {
            instance_id: id,
            asg: None,
            outcome: "changed".to_owned(),
            state: Some(done),
            error: None,
        },
        Err(e) => TargetResult {
            instance_id: id,
            asg: None,
            outcome: "failed".to_owned(),
            state: None,
            error: Some(e),
        },
    };
    for g in groups {
        let res = autoscaling::set_subnets(&aws.autoscaling, &g.name, &g.during)
            .await
            .map(|()| format!("subnets {}", g.during))
            .map_err(|e| e.to_string());
        info!(asg = %g.name, during = %g.during, ok = res.is_ok(), decision = "acted", "zone subnets removed");
        out.push(result(format!("group {}", g.name), res));
    }
    for a in acls {
        let res = match vpc::acl_of(&aws.ec2, &a.subnet).await {
            Ok(Some(assoc)) => vpc::replace_acl(&aws.ec2, &assoc.association, &a.deny)
                .await
                .map(|_| format!("network ACL {}", a.deny))
                .map_err(|e| e.to_string()),
            Ok(None) => Err("no network ACL association".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        out.push(result(format!("subnet {}", a.subnet), res));
    }
    let ids: Vec<String> = chosen.iter().map(|t| t.instance_id.clone()).collect();
    let action = match outage.mode {
        crate::spec::AzMode::Stop => Ec2Action::Stop,
        crate::spec::AzMode::Terminate => Ec2Action::Terminate,
    };
    let asg: BTreeMap<&str, Option<String>> = chosen
        .iter()
        .map(|t| (t.instance_id.as_str(), t.asg.clone()))
        .collect();
    for (id, res) in ec2::act(&aws.ec2, action, &ids).await {
        let group = asg.get(id.as_str()).cloned().flatten();
        out.push(match res {
            Ok(state) => TargetResult {
                asg: group,
                instance_id: id,
                outcome: match outage.mode {
                    crate::spec::AzMode::Stop => "stopped",
                    crate::spec::AzMode::Terminate => "terminated",
                }
                .to_owned(),
                state,
                error: None,
            },
            Err(e) => TargetResult {
                asg: group,
                instance_id: id,
                outcome: "failed".to_owned(),
                state: None,
                error: Some(e),
            },
        });
    }
    out
}

/// Puts the zone back: each group's subnets exactly as before, each subnet's ACL (only while
/// it still holds the deny-all one), the deny-all ACLs deleted, stopped instances started.
pub async fn restore(
    aws: &Aws,
    groups: &[ZoneGroup],
    acls: &[AclSwap],
    stopped: &[String],
) -> Vec<RolledBack> {
    let mut out = Vec::new();
    for g in groups {
        let res = autoscaling::set_subnets(&aws.autoscaling, &g.name, &g.before).await;
        out.push(RolledBack {
            id: g.name.clone(),
            ok: res.is_ok(),
            detail: match res {
                Ok(()) => format!("subnets back: {}", g.before),
                Err(e) => e.to_string(),
            },
        });
    }
    for a in acls {
        let (ok, detail) = match vpc::acl_of(&aws.ec2, &a.subnet).await {
            Ok(Some(assoc)) if assoc.acl == a.deny => {
                match vpc::replace_acl(&aws.ec2, &assoc.association, &a.original).await {
                    Ok(_) => (true, format!("network ACL {} back", a.original)),
                    Err(e) => (false, e.to_string()),
                }
            }
            Ok(Some(assoc)) if assoc.acl == a.original => {
                (true, format!("network ACL {} already back", a.original))
            }
            Ok(Some(assoc)) => (
                true,
                format!(
                    "left alone: its ACL is {} now, changed since the outage",
                    assoc.acl
                ),
            ),
            Ok(None) => (true, "left alone: it has no ACL association".to_owned()),
            Err(e) => (false, e.to_string()),
        };
        out.push(RolledBack {
            id: a.subnet.clone(),
            ok,
            detail,
        });
    }
    let deny: BTreeSet<&str> = acls.iter().map(|a| a.deny.as_str()).collect();
    for acl in deny {
        // Already gone after an earlier restore: nothing to do.
        if let Err(e) = vpc::delete_acl(&aws.ec2, acl).await {
            warn!(acl, error = %e, "the deny-all ACL was not deleted");
        }
    }
    if !stopped.is_empty() {
        for (id, res) in ec2::start(&aws.ec2, stopped).await {
            out.push(RolledBack {
                ok: res.is_ok(),
                detail: match res {
                    Ok(s) => format!("started ({})", s.as_deref().unwrap_or("pending")),
                    Err(e) => format!("StartInstances failed: {e}"),
                },
                id,
            });
        }
    }
    info!(restored = out.iter().filter(|r| r.ok).count(), of = out.len(), at = %Utc::now(), "zone restored");
    out
}

/// The subnets' CIDRs of the zones `toward` names, seen from an instance in `own` (`"other"`:
/// every zone but `own`), among `all`.
pub fn cidrs_toward(toward: &[String], own: Option<&str>, all: &[Subnet]) -> Vec<String> {
    let mut out: Vec<String> = all
        .iter()
        .filter(|s| {
            toward.iter().any(|z| {
                if z == "other" {
                    own.is_some_and(|own| s.zone != own)
                } else {
                    &s.zone == z
                }
            })
        })
        .filter_map(|s| s.cidr.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Splits an agent fault with `toward_zones` into one fault per zone of the chosen instances,
/// each limited to the CIDRs of the subnets toward which it applies (one `DescribeSubnets`).
pub async fn toward_zones(
    aws: &Aws,
    agent: &AgentAction,
    chosen: &[Target],
) -> Result<Vec<(AgentAction, Vec<Target>)>, String> {
    let all = vpc::subnets(&aws.ec2, &[], &[])
        .await
        .map_err(|e| e.to_string())?;
    let mut by_zone: BTreeMap<Option<String>, Vec<Target>> = BTreeMap::new();
    for t in chosen {
        by_zone.entry(t.zone.clone()).or_default().push(t.clone());
    }
    let mut out = Vec::new();
    for (zone, targets) in by_zone {
        let cidrs = cidrs_toward(&agent.toward_zones, zone.as_deref(), &all);
        if cidrs.is_empty() {
            return Err(format!(
                "toward_zones {:?} resolves to no subnet from {}: nothing to limit the fault to",
                agent.toward_zones,
                zone.as_deref().unwrap_or("an unknown zone")
            ));
        }
        let limited = agent.toward(&cidrs).map_err(|e| e.to_string())?;
        out.push((limited, targets));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(id: &str, zone: &str, cidr: &str) -> Subnet {
        Subnet {
            id: id.into(),
            zone: zone.into(),
            cidr: Some(cidr.into()),
            vpc: "vpc-1".into(),
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn other_means_every_zone_but_the_instances_own() {
        let all = [
            subnet("a", "us-east-1a", "10.0.1.0/24"),
            subnet("b", "us-east-1b", "10.0.2.0/24"),
            subnet("c", "us-east-1c", "10.0.3.0/24"),
        ];
        let other = ["other".to_owned()];
        assert_eq!(
            cidrs_toward(&other, Some("us-east-1a"), &all),
            ["10.0.2.0/24", "10.0.3.0/24"]
        );
        assert_eq!(
            cidrs_toward(&["us-east-1c".to_owned()], Some("us-east-1a"), &all),
            ["10.0.3.0/24"]
        );
        assert!(cidrs_toward(&other, None, &all).is_empty());
        assert_eq!(split(" a, b,,c "), ["a", "b", "c"]);
    }
}

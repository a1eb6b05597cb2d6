//! The VPC side of an Availability Zone outage (EC2 API): subnets with their zone and CIDR,
//! a subnet's network ACL association, and the deny-all ACL swapped in and out.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use super::AwsError;

/// A subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    /// `subnet-...`.
    pub id: String,
    /// Its Availability Zone.
    pub zone: String,
    /// Its IPv4 CIDR block.
    pub cidr: Option<String>,
    /// Its VPC.
    pub vpc: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// Subnets by id (`ids` given) or in the given zones; all pages.
pub async fn subnets(
    client: &aws_sdk_ec2::Client,
    ids: &[String],
    zones: &[String],
) -> Result<Vec<Subnet>, AwsError> {
    let mut req = client.describe_subnets();
    if !ids.is_empty() {
        req = req.set_subnet_ids(Some(ids.to_vec()));
    }
    if !zones.is_empty() {
        req = req.filters(
            Filter::builder()
                .name("availability-zone")
                .set_values(Some(zones.to_vec()))
                .build(),
        );
    }
    let mut pages = req.into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("DescribeSubnets", e))?;
        for s in page.subnets() {
            out.push(Subnet {
                id: s.subnet_id().unwrap_or_default().to_owned(),
                zone: s.availability_zone().unwrap_or_default().to_owned(),
                cidr: s.cidr_block().map(str::to_owned),
                vpc: s.vpc_id().unwrap_or_default().to_owned(),
                tags: s
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// A subnet's network ACL association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclAssociation {
    /// `aclassoc-...`.
    pub association: String,
    /// The ACL associated now.
    pub acl: String,
    /// The ACL's tags.
    pub acl_tags: BTreeMap<String, String>,
}

/// The network ACL associated with `subnet` now, if any.
pub async fn acl_of(
    client: &aws_sdk_ec2::Client,
    subnet: &str,
) -> Result<Option<AclAssociation>, AwsError> {
    let out = client
        .describe_network_acls()
        .filters(
            Filter::builder()
                .name("association.subnet-id")
                .values(subnet)
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::new("DescribeNetworkAcls", e))?;
    for acl in out.network_acls() {
        for a in acl.associations() {
            if a.subnet_id() == Some(subnet) {
                return Ok(Some(AclAssociation {
                    association: a
                        .network_acl_association_id()
                        .unwrap_or_default()
                        .to_owned(),
                    acl: acl.network_acl_id().unwrap_or_default().to_owned(),
                    acl_tags: acl
                        .tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                        .collect(),
                }));
            }
        }
    }
    Ok(None)
}

/// Creates a network ACL in `vpc` with `tags`: a new ACL has only the default deny rules, so
/// it lets nothing in or out.
pub async fn create_deny_acl(
    client: &aws_sdk_ec2::Client,
    vpc: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String, AwsError> {
    let spec = TagSpecification::builder()
        .resource_type(ResourceType::NetworkAcl)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build();
    let out = client
        .create_network_acl()
        .vpc_id(vpc)
        .tag_specifications(spec)
        .send()
        .await
        .map_err(|e| AwsError::new("CreateNetworkAcl", e))?;
    Ok(out
        .network_acl()
        .and_then(|a| a.network_acl_id())
        .unwrap_or_default()
        .to_owned())
}

/// Associates `acl` in place of the association `association`; returns the new association.
pub async fn replace_acl(
    client: &aws_sdk_ec2::Client,
    association: &str,
    acl: &str,
) -> Result<String, AwsError> {
    let out = client
        .replace_network_acl_association()
        .association_id(association)
        .network_acl_id(acl)
        .send()
        .await
        .map_err(|e| AwsError::new("ReplaceNetworkAclAssociation", e))?;
    Ok(out.new_association_id().unwrap_or_default().to_owned())
}

/// Deletes a network ACL (it must have no subnet left).
pub async fn delete_acl(client: &aws_sdk_ec2::Client, acl: &str) -> Result<(), AwsError> {
    client
        .delete_network_acl()
        .network_acl_id(acl)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::new("DeleteNetworkAcl", e))
}

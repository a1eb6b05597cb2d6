//! Seeding and reading a fleet through the real AWS SDK: launch templates, groups, standalone
//! instances, alarms, topics and parameters; instance states read back.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, Result};
use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, Tag as AsgTag};
use aws_sdk_ec2::types::{Filter, RequestLaunchTemplateData, ResourceType, Tag, TagSpecification};
use serde_json::Value;

/// One of moto's built-in AMIs.
pub const AMI: &str = "ami-03cf127a";
/// The default opt-in tag.
pub const OPT_IN: (&str, &str) = ("faultline:enabled", "true");

/// The `instance_id`s of a list in a round result (`chosen`, `results`), sorted.
pub fn instance_ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["instance_id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// The records table the tests' monkey and timer use (the default of `FAULTLINE_RECORDS_TABLE`).
pub const RECORDS_TABLE: &str = "faultline-experiments";

/// An item of the records table as JSON: the record (parsed, or `{"unparsed": text}`) plus the
/// item's `state`, `open` and `expires_at` attributes under `_item`.
fn item_json(item: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> Value {
    use aws_sdk_dynamodb::types::AttributeValue;
    let text = |k: &str| match item.get(k) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        Some(AttributeValue::N(n)) => Some(n.clone()),
        _ => None,
    };
    let mut v = text("record")
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .unwrap_or_else(|| serde_json::json!({"unparsed": text("record")}));
    v["_item"] = serde_json::json!({
        "id": text("id"),
        "state": text("state"),
        "open": text("open"),
        "expires_at": text("expires_at").and_then(|n| n.parse::<i64>().ok()),
    });
    if v.get("id").is_none() {
        v["id"] = serde_json::json!(text("id"));
    }
    v
}

/// Seeds and reads a fleet through the real SDK.
pub struct Fleet {
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// Auto Scaling.
    pub asg: aws_sdk_autoscaling::Client,
    /// SSM.
    pub ssm: aws_sdk_ssm::Client,
    /// SNS.
    pub sns: aws_sdk_sns::Client,
    /// CloudWatch.
    pub cw: aws_sdk_cloudwatch::Client,
    /// DynamoDB (the records table).
    pub ddb: aws_sdk_dynamodb::Client,
    template: String,
}

/// A group's tags, propagated to its instances.
fn asg_tags(group: &str, pairs: &[(&str, &str)]) -> Vec<AsgTag> {
    pairs
        .iter()
        .map(|(k, v)| {
            AsgTag::builder()
                .key(*k)
                .value(*v)
                .propagate_at_launch(true)
                .resource_id(group)
                .resource_type("auto-scaling-group")
                .build()
        })
        .collect()
}

fn tags_of(pairs: &[(&str, &str)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect()
}

impl Fleet {
    /// Clients on `conf`, a launch template to build groups from, the kill switch
    /// `/faultline/enabled = true` and the records table [`RECORDS_TABLE`], as Terraform
    /// creates them (a missing kill switch refuses every round).
    pub async fn new(conf: &SdkConfig) -> Result<Fleet> {
        let fleet = Fleet::without_kill_switch(conf).await?;
        fleet.put_param("/faultline/enabled", "true").await?;
        fleet.create_records_table(RECORDS_TABLE).await?;
        Ok(fleet)
    }

    /// Creates a records table as `terraform/records.tf` declares it: hash key `id`, the sparse
    /// `open` index, the `history` index and the `experiment` index (all ranged on
    /// `started_at`, projecting all).
    pub async fn create_records_table(&self, name: &str) -> Result<()> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
            Projection, ProjectionType, ScalarAttributeType,
        };
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
        };
        let index = |name: &str, hash: &str| -> Result<GlobalSecondaryIndex> {
            Ok(GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash)?)
                .key_schema(key("started_at", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?)
        };
        self.ddb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("id")?)
            .attribute_definitions(attr("open")?)
            .attribute_definitions(attr("kind")?)
            .attribute_definitions(attr("started_at")?)
            .attribute_definitions(attr("experiment")?)
            .key_schema(key("id", KeyType::Hash)?)
            .global_secondary_indexes(index("open", "open")?)
            .global_secondary_indexes(index("history", "kind")?)
            .global_secondary_indexes(index("experiment", "experiment")?)
            .send()
            .await?;
        Ok(())
    }

    /// The record `id` in [`RECORDS_TABLE`] as JSON, with the item's `state` and whether it
    /// carries the `open` index key and an `expires_at`; `None` when there is none.
    pub async fn record(&self, id: &str) -> Result<Option<Value>> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let out = self
            .ddb
            .get_item()
            .table_name(RECORDS_TABLE)
            .key("id", AttributeValue::S(id.to_owned()))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out.item.map(|item| item_json(&item)))
    }

    /// Every item of [`RECORDS_TABLE`], by id, as [`Fleet::record`] shows them.
    pub async fn records(&self) -> Result<BTreeMap<String, Value>> {
        let mut out = BTreeMap::new();
        let mut pages = self
            .ddb
            .scan()
            .table_name(RECORDS_TABLE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for item in page?.items() {
                let v = item_json(item);
                out.insert(v["id"].as_str().unwrap_or_default().to_owned(), v);
            }
        }
        Ok(out)
    }

    /// Writes an item into [`RECORDS_TABLE`] as the monkey would, from the record's JSON text
    /// (which may be deliberately broken): `state` from `record.state.status` (default
    /// `open`), the index keys and, once closed, an `expires_at`.
    pub async fn put_record_text(&self, id: &str, text: &str) -> Result<()> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let state = v["state"]["status"].as_str().unwrap_or("open").to_owned();
        let started = v["started_at"]
            .as_str()
            .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
            .map(faultline_core::aws::records::sort_key)
            .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned());
        let mut req = self
            .ddb
            .put_item()
            .table_name(RECORDS_TABLE)
            .item("id", AttributeValue::S(id.to_owned()))
            .item("record", AttributeValue::S(text.to_owned()))
            .item("state", AttributeValue::S(state.clone()))
            .item("kind", AttributeValue::S("experiment".to_owned()))
            .item("started_at", AttributeValue::S(started));
        req = if state == "open" {
            req.item("open", AttributeValue::S("open".to_owned()))
        } else {
            req.item("expires_at", AttributeValue::N("4102444800".to_owned()))
        };
        req.send().await?;
        Ok(())
    }

    /// As [`Fleet::new`] without the kill switch, for a deployment (Terraform) that creates it.
    pub async fn without_kill_switch(conf: &SdkConfig) -> Result<Fleet> {
        let fleet = Fleet {
            ec2: aws_sdk_ec2::Client::new(conf),
            asg: aws_sdk_autoscaling::Client::new(conf),
            ssm: aws_sdk_ssm::Client::new(conf),
            sns: aws_sdk_sns::Client::new(conf),
            cw: aws_sdk_cloudwatch::Client::new(conf),
            ddb: aws_sdk_dynamodb::Client::new(conf),
            template: "faultline-test-lt".to_owned(),
        };
        fleet
            .ec2
            .create_launch_template()
            .launch_template_name(&fleet.template)
            .launch_template_data(
                RequestLaunchTemplateData::builder()
                    .image_id(AMI)
                    .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                    .build(),
            )
            .send()
            .await?;
        Ok(fleet)
    }

    /// Launches `n` standalone instances with `tags`; returns their ids.
    pub async fn instances(&self, n: i32, tags: &[(&str, &str)]) -> Result<Vec<String>> {
        let mut req = self
            .ec2
            .run_instances()
            .image_id(AMI)
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .min_count(n)
            .max_count(n);
        if !tags.is_empty() {
            req = req.tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .set_tags(Some(tags_of(tags)))
                    .build(),
            );
        }
        let out = req.send().await?;
        Ok(out
            .instances()
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect())
    }

    /// Creates a group from the launch template; `tags` propagate to its instances. Returns
    /// its instance ids.
    pub async fn group(
        &self,
        name: &str,
        min: i32,
        desired: i32,
        max: i32,
        tags: &[(&str, &str)],
    ) -> Result<Vec<String>> {
        let asg_tags = asg_tags(name, tags);
        self.asg
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_name(&self.template)
                    .build(),
            )
            .min_size(min)
            .max_size(max)
            .desired_capacity(desired)
            .availability_zones("us-east-1a")
            .availability_zones("us-east-1b")
            .set_tags(Some(asg_tags))
            .send()
            .await?;
        self.group_members(name).await
    }

    /// Creates a group spread over `subnets`, one instance in each (moto launches every
    /// instance in the first listed subnet's zone, so the group is grown subnet by subnet), and
    /// leaves its `VPCZoneIdentifier` as `subnets` joined in order. Returns its instance ids.
    pub async fn group_in_subnets(
        &self,
        name: &str,
        subnets: &[&str],
        tags: &[(&str, &str)],
    ) -> Result<Vec<String>> {
        let asg_tags = asg_tags(name, tags);
        self.asg
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_name(&self.template)
                    .build(),
            )
            .min_size(0)
            .max_size(10)
            .desired_capacity(1)
            .vpc_zone_identifier(subnets[0])
            .set_tags(Some(asg_tags))
            .send()
            .await?;
        for n in 1..subnets.len() {
            // The new subnet first: moto launches there.
            let mut order = vec![subnets[n]];
            order.extend(&subnets[..n]);
            self.asg
                .update_auto_scaling_group()
                .auto_scaling_group_name(name)
                .vpc_zone_identifier(order.join(","))
                .desired_capacity(n as i32 + 1)
                .send()
                .await?;
        }
        self.asg
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .vpc_zone_identifier(subnets.join(","))
            .send()
            .await?;
        self.group_members(name).await
    }

    /// A group's current member ids.
    pub async fn group_members(&self, name: &str) -> Result<Vec<String>> {
        let out = self
            .asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await?;
        let g = out
            .auto_scaling_groups()
            .first()
            .ok_or_else(|| anyhow!("no group {name}"))?;
        Ok(g.instances()
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect())
    }

    /// Every instance's state, by id.
    pub async fn states(&self) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        let mut pages = self.ec2.describe_instances().into_paginator().send();
        while let Some(page) = pages.next().await {
            for r in page?.reservations() {
                for i in r.instances() {
                    if let (Some(id), Some(s)) = (i.instance_id(), i.state().and_then(|s| s.name()))
                    {
                        out.insert(id.to_owned(), s.as_str().to_owned());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Ids of instances in `state` among `ids`.
    pub async fn in_state(&self, ids: &[String], state: &str) -> Result<Vec<String>> {
        let states = self.states().await?;
        Ok(ids
            .iter()
            .filter(|id| states.get(*id).map(String::as_str) == Some(state))
            .cloned()
            .collect())
    }

    /// Instances of `state` carrying tag `k=v`.
    pub async fn count_tagged(&self, k: &str, v: &str, state: &str) -> Result<usize> {
        let mut n = 0;
        let mut pages = self
            .ec2
            .describe_instances()
            .filters(Filter::builder().name(format!("tag:{k}")).values(v).build())
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values(state)
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            n += page?
                .reservations()
                .iter()
                .map(|r| r.instances().len())
                .sum::<usize>();
        }
        Ok(n)
    }

    /// Creates an SNS topic; returns its ARN.
    pub async fn topic(&self, name: &str) -> Result<String> {
        Ok(self
            .sns
            .create_topic()
            .name(name)
            .send()
            .await?
            .topic_arn
            .unwrap_or_default())
    }

    /// Creates a metric alarm (moto starts it in `OK`).
    pub async fn alarm(&self, name: &str) -> Result<()> {
        self.cw
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("faultline-tests")
            .metric_name("Errors")
            .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(
                aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold,
            )
            .send()
            .await?;
        Ok(())
    }

    /// Forces an alarm's state.
    pub async fn set_alarm(
        &self,
        name: &str,
        state: aws_sdk_cloudwatch::types::StateValue,
    ) -> Result<()> {
        self.cw
            .set_alarm_state()
            .alarm_name(name)
            .state_value(state)
            .state_reason("set by a test")
            .send()
            .await?;
        Ok(())
    }

    /// Writes (overwrites) a String parameter.
    pub async fn put_param(&self, name: &str, value: &str) -> Result<()> {
        crate::moto::put_string_param(&self.ssm, name, value).await
    }

    /// Marks a group member `Unhealthy` (as a failed health check would): it no longer counts
    /// as healthy `InService`.
    pub async fn set_unhealthy(&self, id: &str) -> Result<()> {
        self.asg
            .set_instance_health()
            .instance_id(id)
            .health_status("Unhealthy")
            .send()
            .await?;
        Ok(())
    }

    /// Every parameter under `path` (recursive), name → value.
    pub async fn params_under(&self, path: &str) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let mut pages = self
            .ssm
            .get_parameters_by_path()
            .path(path)
            .recursive(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for p in page?.parameters() {
                out.insert(
                    p.name().unwrap_or_default().to_owned(),
                    p.value().unwrap_or_default().to_owned(),
                );
            }
        }
        Ok(out)
    }

    /// Turns on termination protection for an instance.
    pub async fn protect(&self, id: &str) -> Result<()> {
        self.ec2
            .modify_instance_attribute()
            .instance_id(id)
            .disable_api_termination(
                aws_sdk_ec2::types::AttributeBooleanValue::builder()
                    .value(true)
                    .build(),
            )
            .send()
            .await?;
        Ok(())
    }
}

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
    template: String,
}

fn tags_of(pairs: &[(&str, &str)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect()
}

impl Fleet {
    /// Clients on `conf`, a launch template to build groups from, and the kill switch
    /// `/faultline/enabled = true` as Terraform creates it (a missing one refuses every round).
    pub async fn new(conf: &SdkConfig) -> Result<Fleet> {
        let fleet = Fleet::without_kill_switch(conf).await?;
        fleet.put_param("/faultline/enabled", "true").await?;
        Ok(fleet)
    }

    /// As [`Fleet::new`] without the kill switch, for a deployment (Terraform) that creates it.
    pub async fn without_kill_switch(conf: &SdkConfig) -> Result<Fleet> {
        let fleet = Fleet {
            ec2: aws_sdk_ec2::Client::new(conf),
            asg: aws_sdk_autoscaling::Client::new(conf),
            ssm: aws_sdk_ssm::Client::new(conf),
            sns: aws_sdk_sns::Client::new(conf),
            cw: aws_sdk_cloudwatch::Client::new(conf),
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
        let asg_tags: Vec<AsgTag> = tags
            .iter()
            .map(|(k, v)| {
                AsgTag::builder()
                    .key(*k)
                    .value(*v)
                    .propagate_at_launch(true)
                    .resource_id(name)
                    .resource_type("auto-scaling-group")
                    .build()
            })
            .collect();
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

# faultline: the monkey, the recovery timer and the notifier, their schedules and triggers, the
# topic, the records table, the agent's SSM document and S3 object, the layer and a dashboard.
# One file per concern:
#   functions.tf      the three Lambda functions, log groups, dead-letter queue, invoke configs
#   iam.tf            least-privilege roles; destructive calls only on opted-in resources
#   schedules.tf      one EventBridge Scheduler schedule per experiment, the scheduler's role
#   triggers.tf       the recovery timer's Auto Scaling, alarm and backstop rules
#   notifications.tf  the KMS-encrypted topic, email and Slack (notifier) subscriptions
#   agent.tf          the SSM Command document and faultline-agent in S3
#   layer.tf          the failure-injection layer version
#   dashboard.tf      the CloudWatch dashboard
#   records.tf        the experiment records table (DynamoDB)
#   kms.tf            the customer-managed key (unless one is given)

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id

  artifacts_dir      = coalesce(var.artifacts_dir, "${path.module}/../dist")
  agent_architecture = var.agent_architecture
  artifacts = {
    monkey         = "${local.artifacts_dir}/${var.architecture}/monkey.zip"
    recovery_timer = "${local.artifacts_dir}/${var.architecture}/recovery-timer.zip"
    notifier       = "${local.artifacts_dir}/${var.architecture}/notifier.zip"
    layer          = "${local.artifacts_dir}/${var.architecture}/faultline-layer.zip"
    agent          = "${local.artifacts_dir}/${local.agent_architecture}/faultline-agent"
  }
  missing_hint = "run `make package ARCH=${var.architecture}` (it writes dist/<arch>/), or point artifacts_dir at a directory holding the built artifacts"

  slack_enabled = var.slack_webhook_parameter != null

  function_names = {
    monkey         = "${var.name}-monkey"
    recovery_timer = "${var.name}-recovery-timer"
    notifier       = "${var.name}-notifier"
  }

  # ARN building blocks (partition-aware).
  ssm_parameter_arn         = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter"
  instance_arns             = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*"
  asg_arns                  = "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"
  vpc_arns                  = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:vpc/*"
  network_acl_arns          = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-acl/*"
  function_arns             = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:*"
  event_source_mapping_arns = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:event-source-mapping:*"
  alarm_arns                = "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:*"
  log_group_arn             = { for k, n in local.function_names : k => "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${n}" }

  tags = merge({ "app" = "faultline" }, var.tags)
}

# The kill switch: `true` runs, `false` halts every experiment (`faultline halt` / `resume`).
resource "aws_ssm_parameter" "kill_switch" {
  #checkov:skip=CKV2_AWS_34:a true/false switch, not a secret; the monkey reads it without decryption on every round
  name        = var.kill_switch_parameter
  description = "faultline kill switch: true runs experiments, false halts them all (faultline halt / resume)"
  type        = "String"
  value       = "true"
  tags        = local.tags

  lifecycle {
    # Operators flip it with `faultline halt`; a later apply must not undo a halt.
    ignore_changes = [value]
  }
}

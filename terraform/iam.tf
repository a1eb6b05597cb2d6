# Least privilege, and the opt-in promise a second time: the monkey may terminate, stop,
# reboot, replace and run the agent only on resources carrying the opt-in tag (and the recovery
# timer, aborting, may roll the agent back and start stopped instances only there); parameters only
# under faultline's paths; experiment records only in the records table (the timer finds open
# ones only through its `open` index); publish only to its topic; reports only under the reports
# bucket's `reports/`; one-off schedules only in the module's group, run by its scheduler role.
#
# Each function's policy document lists exactly the AWS operations its code calls (statements
# without the "Runtime" Sid prefix); tests/tests/iam.rs collects those operations from the
# source and fails on any difference. "Runtime" statements are what Lambda and the services
# need on the function's behalf (logs, dead-letter queue, the KMS key of the encrypted topic
# and queue; kms:Decrypt of the records table's key, which DynamoDB calls as the caller when
# it reads the table key, only through DynamoDB and only for that table).

locals {
  schedule_arns = "arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule/${aws_scheduler_schedule_group.this.name}/*"
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "monkey" {
  statement {
    sid       = "Inventory"
    actions   = ["ec2:DescribeInstances", "autoscaling:DescribeAutoScalingGroups"]
    resources = ["*"] # these Describe calls support no resource-level permissions
  }

  statement {
    sid       = "ActOnOptedInInstancesOnly"
    actions   = ["ec2:TerminateInstances", "ec2:StopInstances", "ec2:RebootInstances"]
    resources = [local.instance_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.opt_in_tag_key}"
      values   = ["true"]
    }
  }

  statement {
    sid       = "ReplaceInOptedInGroupsOnly"
    actions   = ["autoscaling:TerminateInstanceInAutoScalingGroup"]
    resources = [local.asg_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.opt_in_tag_key}"
      values   = ["true"]
    }
  }

  statement {
    sid       = "RunTheAgentDocument"
    actions   = ["ssm:SendCommand"]
    resources = [local.agent_document_arn]
  }

  statement {
    sid       = "RunTheAgentOnOptedInInstancesOnly"
    actions   = ["ssm:SendCommand"]
    resources = [local.instance_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.opt_in_tag_key}"
      values   = ["true"]
    }
  }

  statement {
    sid       = "StopConditionAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = [local.alarm_arns]
  }

  statement {
    sid       = "KillSwitch"
    actions   = ["ssm:GetParameter"]
    resources = ["${local.ssm_parameter_arn}${var.kill_switch_parameter}"]
  }

  # Lambda experiments (lambda-fault, throttle, disable-event-source). Functions are found by
  # their opt-in tag (the tagging API has no resource-level permissions); read-only calls on
  # any function; changes only on functions carrying the opt-in tag, and layer parameters only
  # under layer_config_prefix.
  # Availability Zone outages: the zone's subnets out of opted-in groups, a deny-all network
  # ACL (created tagged, so only faultline's own ACLs and opted-in ones are ever associated).
  statement {
    sid       = "RemoveZoneSubnetsFromOptedInGroupsOnly"
    actions   = ["autoscaling:UpdateAutoScalingGroup"]
    resources = [local.asg_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.opt_in_tag_key}"
      values   = ["true"]
    }
  }

  statement {
    sid       = "ReadSubnetsAndNetworkAcls"
    actions   = ["ec2:DescribeSubnets", "ec2:DescribeNetworkAcls"]
    resources = ["*"] # these Describe calls support no resource-level permissions
  }

  statement {
    sid       = "CreateDenyAllNetworkAcls"
    actions   = ["ec2:CreateNetworkAcl"]
    resources = [local.vpc_arns, local.network_acl_arns]
  }

  statement {
    sid       = "TagDenyAllNetworkAclsOnCreateOnly"
    actions   = ["ec2:CreateTags"]
    resources = [local.network_acl_arns]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CreateNetworkAcl"]
    }
  }

  statement {
    sid       = "SwapOptedInNetworkAclsOnly"
    actions   = ["ec2:ReplaceNetworkAclAssociation", "ec2:DeleteNetworkAcl"]
    resources = [local.network_acl_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.opt_in_tag_key}"
      values   = ["true"]
    }
  }

  statement {
    sid       = "FindOptedInFunctions"
    actions   = ["tag:GetResources"]
    resources = ["*"] # GetResources supports no resource-level permissions
  }

  statement {
    sid       = "ReadFunctions"
    actions   = ["lambda:GetFunctionConfiguration", "lambda:GetFunctionConcurrency"]
    resources = [local.function_arns]
  }

  statement {
    sid       = "ReadEventSourceMappings"
    actions   = ["lambda:ListEventSourceMappings"]
    resources = ["*"] # ListEventSourceMappings supports no resource-level permissions
  }

  statement {
    sid       = "ThrottleOptedInFunctionsOnly"
    actions   = ["lambda:PutFunctionConcurrency"]
    resources = [local.function_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.opt_in_tag_key}"
      values   = ["true"]
    }
  }

  # A mapping's own tags, not its function's, are what IAM can test; the monkey only updates
  # mappings of functions it found by the opt-in tag, and the condition keeps the calls to
  # mappings of functions in this account and region.
  statement {
    sid       = "DisableEventSourceMappings"
    actions   = ["lambda:UpdateEventSourceMapping"]
    resources = [local.event_source_mapping_arns]
    condition {
      test     = "ArnLike"
      variable = "lambda:FunctionArn"
      values   = [local.function_arns]
    }
  }

  statement {
    sid       = "LayerParameters"
    actions   = ["ssm:GetParameters", "ssm:PutParameter"]
    resources = ["${local.ssm_parameter_arn}${var.layer_config_prefix}/*"]
  }

  statement {
    sid       = "ExperimentRecords"
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [local.records_table_arn]
  }

  # Hypotheses and calendars (issue 17): the steady-state guard reads metrics before acting,
  # min_interval reads the rounds since now - min_interval through the records' history index,
  # the shared freeze calendar is read with the kill switch in one GetParameters, and a random
  # `start` becomes a one-off schedule in the module's group that the scheduler role runs.
  statement {
    sid       = "SteadyStateMetrics"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"] # GetMetricData supports no resource-level permissions
  }

  statement {
    sid       = "RecentRoundsForMinInterval"
    actions   = ["dynamodb:Query"]
    resources = [local.records_history_index_arn]
  }

  statement {
    sid     = "ChangeCalendar"
    actions = ["ssm:GetParameters"]
    resources = [
      "${local.ssm_parameter_arn}${var.kill_switch_parameter}",
      aws_ssm_parameter.calendar.arn,
    ]
  }

  statement {
    sid       = "OneOffStartSchedules"
    actions   = ["scheduler:CreateSchedule"]
    resources = [local.schedule_arns]
  }

  statement {
    sid       = "PassTheSchedulerRoleToTheSchedulerOnly"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.scheduler.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["scheduler.amazonaws.com"]
    }
  }

  statement {
    sid       = "PublishToTheTopic"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.events.arn]
  }

  statement {
    sid       = "RuntimeLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn.monkey}:*"]
  }

  statement {
    sid       = "RuntimeDeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }

  statement {
    sid       = "RuntimeEncryptedTopicAndQueue"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
  }

  statement {
    sid       = "RuntimeEncryptedRecordsTable"
    actions   = ["kms:Decrypt"]
    resources = [local.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:dynamodb:tableName"
      values   = [aws_dynamodb_table.records.name]
    }
  }
}

data "aws_iam_policy_document" "recovery_timer" {
  statement {
    sid       = "ObserveGroupsAndInstances"
    actions   = ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeScalingActivities", "ec2:DescribeInstances"]
    resources = ["*"] # these Describe calls support no resource-level permissions
  }

  statement {
    sid       = "RecoveryAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = [local.alarm_arns]
  }

  statement {
    sid       = "TimeToRecoverMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource type; the namespace condition narrows it
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metric_namespace]
    }
  }

  # Aborting an experiment whose stop alarm fires: the same opt-in conditions as the monkey's
  # destructive statements, so the timer can undo only on opted-in instances.
  statement {
    sid       = "RollBackWithTheAgentDocument"
    actions   = ["ssm:SendCommand"]
    resources = [local.agent_document_arn]
  }

  statement {
    sid       = "RollBackOnOptedInInstancesOnly"
    actions   = ["ssm:SendCommand"]
    resources = [local.instance_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.opt_in_tag_key}"
      values   = ["true"]
    }
  }

  statement {
    sid       = "RollBackResults"
    actions   = ["ssm:GetCommandInvocation"]
    resources = ["*"] # GetCommandInvocation supports no resource-level permissions
  }

  statement {
    sid       = "StartStoppedOptedInInstancesOnly"
    actions   = ["ec2:StartInstances"]
    resources = [local.instance_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.opt_in_tag_key}"
      values   = ["true"]
    }
  }

  # Restoring Lambda experiments at the end of their duration or on abort: the same scope as
  # the monkey's changes.
  # Restoring a zone outage: subnets back in the groups, the original ACLs back (opted in, as
  # the monkey checked), the deny-all ACLs deleted.
  statement {
    sid       = "RestoreSubnetsOfOptedInGroupsOnly"
    actions   = ["autoscaling:UpdateAutoScalingGroup"]
    resources = [local.asg_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.opt_in_tag_key}"
      values   = ["true"]
    }
  }

  statement {
    sid       = "ReadNetworkAcls"
    actions   = ["ec2:DescribeNetworkAcls"]
    resources = ["*"] # DescribeNetworkAcls supports no resource-level permissions
  }

  statement {
    sid       = "RestoreOptedInNetworkAclsOnly"
    actions   = ["ec2:ReplaceNetworkAclAssociation", "ec2:DeleteNetworkAcl"]
    resources = [local.network_acl_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.opt_in_tag_key}"
      values   = ["true"]
    }
  }

  statement {
    sid       = "RestoreConcurrencyOfOptedInFunctionsOnly"
    actions   = ["lambda:GetFunctionConcurrency", "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency"]
    resources = [local.function_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.opt_in_tag_key}"
      values   = ["true"]
    }
  }

  statement {
    sid       = "ReEnableEventSourceMappings"
    actions   = ["lambda:UpdateEventSourceMapping"]
    resources = [local.event_source_mapping_arns]
    condition {
      test     = "ArnLike"
      variable = "lambda:FunctionArn"
      values   = [local.function_arns]
    }
  }

  statement {
    sid       = "RestoreLayerParameters"
    actions   = ["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameters"]
    resources = ["${local.ssm_parameter_arn}${var.layer_config_prefix}/*"]
  }

  statement {
    sid       = "OpenExperimentRecords"
    actions   = ["dynamodb:Query"]
    resources = [local.records_open_index_arn, local.records_experiment_index_arn]
  }

  statement {
    sid       = "ExperimentRecords"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [local.records_table_arn]
  }

  # Verdicts and reports (issue 17): the hypothesis' metrics over the experiment, the report
  # written under reports/ only, and read back only through the presigned links it signs (a
  # presigned GET acts with the signer's permissions).
  statement {
    sid       = "HypothesisMetrics"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"] # GetMetricData supports no resource-level permissions
  }

  statement {
    sid       = "WriteAndLinkReports"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = [local.reports_objects_arn]
  }

  statement {
    sid       = "PublishToTheTopic"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.events.arn]
  }

  # S3 encrypts and decrypts the reports with the module's key as the caller: only through S3
  # and only for the reports bucket (with an S3 Bucket Key the encryption context is the
  # bucket's ARN; without, the object's).
  statement {
    sid       = "RuntimeEncryptedReports"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [local.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [local.reports_bucket_arn, local.reports_objects_arn]
    }
  }

  statement {
    sid       = "RuntimeLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn.recovery_timer}:*"]
  }

  statement {
    sid       = "RuntimeDeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }

  statement {
    sid       = "RuntimeEncryptedTopicAndQueue"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
  }

  statement {
    sid       = "RuntimeEncryptedRecordsTable"
    actions   = ["kms:Decrypt"]
    resources = [local.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:dynamodb:tableName"
      values   = [aws_dynamodb_table.records.name]
    }
  }
}

data "aws_iam_policy_document" "notifier" {
  statement {
    sid       = "SlackWebhookParameter"
    actions   = ["ssm:GetParameter"]
    resources = ["${local.ssm_parameter_arn}${coalesce(var.slack_webhook_parameter, "/unset")}"]
  }

  # Only through SSM, only for the webhook parameter (SSM's encryption context names it), only
  # with its key when slack_webhook_kms_key_arn says which (the parameter may use aws/ssm).
  statement {
    sid       = "RuntimeDecryptTheWebhookParameter"
    actions   = ["kms:Decrypt"]
    resources = [coalesce(var.slack_webhook_kms_key_arn, "arn:${local.partition}:kms:${local.region}:${local.account_id}:key/*")]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = ["${local.ssm_parameter_arn}${coalesce(var.slack_webhook_parameter, "/unset")}"]
    }
  }

  statement {
    sid       = "RuntimeLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn.notifier}:*"]
  }

  statement {
    sid       = "RuntimeDeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }

  statement {
    sid       = "RuntimeEncryptedQueue"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
  }
}

locals {
  function_policies = {
    monkey         = data.aws_iam_policy_document.monkey.json
    recovery_timer = data.aws_iam_policy_document.recovery_timer.json
    notifier       = data.aws_iam_policy_document.notifier.json
  }
}

resource "aws_iam_role" "function" {
  for_each = local.functions

  name               = local.function_names[each.key]
  description        = "faultline ${each.key} (Lambda execution role)"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions

  name   = local.function_names[each.key]
  role   = aws_iam_role.function[each.key].id
  policy = local.function_policies[each.key]
}

# EventBridge Scheduler invokes the monkey with this role.
data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeTheMonkey"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.this["monkey"].arn]
  }

  statement {
    sid       = "DeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }

  statement {
    sid       = "EncryptedScheduleAndQueue"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-scheduler"
  description        = "faultline: EventBridge Scheduler invokes the monkey"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "${var.name}-scheduler"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

# For the callers' roles: instances that run the agent, functions that carry the layer.
data "aws_iam_policy_document" "agent_instance" {
  statement {
    sid       = "DownloadTheAgent"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${local.agent_bucket}/${local.agent_key}"]
  }

  # Only through S3, only for the agent's bucket or object (the encryption context S3 sets:
  # the bucket's ARN with an S3 Bucket Key, the object's without).
  statement {
    sid       = "DecryptTheAgent"
    actions   = ["kms:Decrypt"]
    resources = [local.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = ["arn:${local.partition}:s3:::${local.agent_bucket}", local.agent_object_arn]
    }
  }
}

resource "aws_iam_policy" "agent_instance" {
  name        = "${var.name}-agent-instance"
  description = "Attach to the instance role of hosts that may run faultline-agent: download it from S3"
  policy      = data.aws_iam_policy_document.agent_instance.json
  tags        = local.tags
}

data "aws_iam_policy_document" "layer_config" {
  # The layer reads a function's config and the kill switch together, in one GetParameters.
  statement {
    sid     = "ReadTheLayerConfigAndKillSwitch"
    actions = ["ssm:GetParameters"]
    resources = [
      "${local.ssm_parameter_arn}${var.layer_config_prefix}/*",
      "${local.ssm_parameter_arn}${var.kill_switch_parameter}",
    ]
  }
}

resource "aws_iam_policy" "layer_config" {
  name        = "${var.name}-layer-config"
  description = "Attach to the execution role of functions that carry the faultline layer: read their live fault config and the kill switch"
  policy      = data.aws_iam_policy_document.layer_config.json
  tags        = local.tags
}

output "monkey_function_name" {
  description = "Name of the monkey function (invoke it with an experiment spec for a manual round)."
  value       = aws_lambda_function.this["monkey"].function_name
}

output "monkey_function_arn" {
  description = "ARN of the monkey function."
  value       = aws_lambda_function.this["monkey"].arn
}

output "recovery_timer_function_name" {
  description = "Name of the recovery-timer function."
  value       = aws_lambda_function.this["recovery_timer"].function_name
}

output "notifier_function_name" {
  description = "Name of the notifier function, or null without a Slack webhook parameter."
  value       = local.slack_enabled ? aws_lambda_function.this["notifier"].function_name : null
}

output "function_environments" {
  description = "Environment variables of each function, by function (what the functions read at start)."
  value       = { for k, f in aws_lambda_function.this : k => f.environment[0].variables }
}

output "topic_arn" {
  description = "SNS topic of every faultline message (subscribe more endpoints to it)."
  value       = aws_sns_topic.events.arn
}

output "kill_switch_parameter" {
  description = "SSM parameter of the kill switch (`faultline halt` sets it to false)."
  value       = aws_ssm_parameter.kill_switch.name
}

output "records_table_name" {
  description = "DynamoDB table of the experiment records (FAULTLINE_RECORDS_TABLE of the functions and the CLI)."
  value       = aws_dynamodb_table.records.name
}

output "records_table_arn" {
  description = "ARN of the experiment records table."
  value       = aws_dynamodb_table.records.arn
}

output "schedule_arns" {
  description = "EventBridge Scheduler schedule ARN of each experiment."
  value       = { for k, s in aws_scheduler_schedule.experiment : k => s.arn }
}

output "agent_document_name" {
  description = "Name of the SSM Command document that runs faultline-agent."
  value       = aws_ssm_document.agent.name
}

output "agent_s3_uri" {
  description = "Where hosts download faultline-agent from, or null when upload_agent is false."
  value       = var.upload_agent ? local.agent_s3_uri : null
}

output "agent_instance_policy_arn" {
  description = "Attach to the instance role of hosts that may run the agent (downloads it from S3)."
  value       = aws_iam_policy.agent_instance.arn
}

output "layer_arn" {
  description = "ARN of the failure-injection layer version, or null when create_layer is false."
  value       = var.create_layer ? aws_lambda_layer_version.faultline[0].arn : null
}

output "layer_config_policy_arn" {
  description = "Attach to the execution role of functions carrying the layer (reads <layer_config_prefix>/*)."
  value       = aws_iam_policy.layer_config.arn
}

output "layer_config_prefix" {
  description = "SSM path of the layer's per-function configuration parameters."
  value       = var.layer_config_prefix
}

output "dead_letter_queue_url" {
  description = "SQS queue holding invocations that failed every attempt."
  value       = aws_sqs_queue.dead_letter.url
}

output "kms_key_arn" {
  description = "KMS key encrypting the topic, queue, logs, schedules, agent bucket and records table."
  value       = local.kms_key_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard name, or null when create_dashboard is false."
  value       = var.create_dashboard ? aws_cloudwatch_dashboard.this[0].dashboard_name : null
}

output "reports_bucket" {
  description = "S3 bucket of the experiment reports (objects under reports/, FAULTLINE_REPORTS_BUCKET of the recovery timer); private, KMS-encrypted, expired after report_retention_days."
  value       = aws_s3_bucket.reports.id
}

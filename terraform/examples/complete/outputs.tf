output "topic_arn" {
  description = "Where faultline publishes."
  value       = module.faultline.topic_arn
}

output "monkey_function_name" {
  description = "The monkey function."
  value       = module.faultline.monkey_function_name
}

output "function_environments" {
  description = "Environment of each faultline function."
  value       = module.faultline.function_environments
}

output "records_table_name" {
  description = "The experiment records table (DynamoDB)."
  value       = module.faultline.records_table_name
}

output "records_table_arn" {
  description = "ARN of the experiment records table."
  value       = module.faultline.records_table_arn
}

output "schedule_arns" {
  description = "The experiments' schedules."
  value       = module.faultline.schedule_arns
}

output "kill_switch_parameter" {
  description = "Set to false to halt every experiment (faultline halt)."
  value       = module.faultline.kill_switch_parameter
}

output "layer_arn" {
  description = "The failure-injection layer."
  value       = module.faultline.layer_arn
}

output "dashboard_name" {
  description = "The CloudWatch dashboard."
  value       = module.faultline.dashboard_name
}

output "groups" {
  description = "The fleet's Auto Scaling groups."
  value       = { for k, g in aws_autoscaling_group.fleet : k => g.name }
}

# One EventBridge Scheduler schedule per experiment. The input is the monkey's scheduler
# envelope; the scheduler replaces the two placeholders with the execution id (the round's
# idempotency key) and the scheduled time.

locals {
  # jsonencode writes "<" and ">" as \u003c / \u003e, which the scheduler would not recognise
  # as its placeholders: put them back.
  schedule_inputs = {
    for k, e in var.experiments : k => replace(replace(jsonencode({
      execution_id   = "<aws.scheduler.execution-id>"
      scheduled_time = "<aws.scheduler.scheduled-time>"
      experiment     = merge({ name = k }, jsondecode(e.experiment))
    }), "\\u003c", "<"), "\\u003e", ">")
  }
}

resource "aws_scheduler_schedule_group" "this" {
  name = var.name
  tags = local.tags
}

resource "aws_scheduler_schedule" "experiment" {
  for_each = var.experiments

  name                         = each.key
  group_name                   = aws_scheduler_schedule_group.this.name
  description                  = coalesce(each.value.description, "faultline experiment ${each.key}")
  schedule_expression          = each.value.schedule
  schedule_expression_timezone = each.value.timezone
  state                        = each.value.enabled ? "ENABLED" : "DISABLED"
  kms_key_arn                  = local.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.this["monkey"].arn
    role_arn = aws_iam_role.scheduler.arn
    input    = local.schedule_inputs[each.key]

    retry_policy {
      # Never retried: the execution id makes a retry a refused duplicate anyway.
      maximum_retry_attempts       = 0
      maximum_event_age_in_seconds = 3600
    }

    dead_letter_config {
      arn = aws_sqs_queue.dead_letter.arn
    }
  }
}

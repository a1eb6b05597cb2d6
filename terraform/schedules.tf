# One EventBridge Scheduler schedule per experiment. The input is the monkey's scheduler
# envelope; the scheduler replaces the two placeholders with the execution id (the round's
# idempotency key) and the scheduled time.

locals {
  # jsonencode writes "<" and ">" as \u003c / \u003e, which the scheduler would not recognise
  # as its placeholders: put them back.
  #
  # An experiment with "start": "random" (read from its JSON: the one source of truth) is
  # invoked with "phase": "plan-start": that invocation only draws a random minute inside the
  # experiment's windows within the next 24 hours and creates a one-shot at() schedule in this
  # group that runs the round then (and deletes itself). Run its planner once a day, e.g.
  # cron(0 0 * * ? *).
  random_start = {
    for k, e in var.experiments : k => try(jsondecode(e.experiment).start, "schedule") == "random"
  }
  schedule_inputs = {
    for k, e in var.experiments : k => replace(replace(jsonencode(merge({
      execution_id   = "<aws.scheduler.execution-id>"
      scheduled_time = "<aws.scheduler.scheduled-time>"
      experiment     = merge({ name = k }, jsondecode(e.experiment))
    }, local.random_start[k] ? { phase = "plan-start" } : {})), "\\u003c", "<"), "\\u003e", ">")
  }
}

# The deployment's shared freeze dates (holidays, code freezes): every experiment's rounds are
# refused on them, as on its own guards.freeze. A JSON list of the same entries.
resource "aws_ssm_parameter" "calendar" {
  #checkov:skip=CKV2_AWS_34:a list of public dates, not a secret; the monkey reads it with the kill switch on every round
  name        = var.calendar_parameter
  description = "faultline shared calendar: freeze dates on which no experiment runs (JSON list)"
  type        = "String"
  value       = jsonencode(var.freeze_dates)
  tags        = local.tags
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

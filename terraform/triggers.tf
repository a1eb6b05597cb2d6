# What wakes the recovery timer: Auto Scaling launch / terminate results, alarm state changes,
# and a backstop schedule that re-evaluates open experiments even when nothing happens.

locals {
  timer_rules = {
    autoscaling = {
      description = "faultline: Auto Scaling launches and terminations (replacement evidence)"
      pattern = jsonencode({
        source        = ["aws.autoscaling"]
        "detail-type" = ["EC2 Instance Launch Successful", "EC2 Instance Terminate Successful"]
      })
      schedule = null
    }
    alarms = {
      description = "faultline: alarm state changes (recovery alarms back to OK, stop alarms to ALARM: abort)"
      pattern = jsonencode({
        source        = ["aws.cloudwatch"]
        "detail-type" = ["CloudWatch Alarm State Change"]
      })
      schedule = null
    }
    backstop = {
      description = "faultline: re-evaluate open experiments"
      pattern     = null
      schedule    = var.recovery_backstop_schedule
    }
  }
}

resource "aws_cloudwatch_event_rule" "timer" {
  for_each = local.timer_rules

  name                = "${var.name}-timer-${each.key}"
  description         = each.value.description
  event_pattern       = each.value.pattern
  schedule_expression = each.value.schedule
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "timer" {
  for_each = local.timer_rules

  rule      = aws_cloudwatch_event_rule.timer[each.key].name
  target_id = "recovery-timer"
  arn       = aws_lambda_function.this["recovery_timer"].arn

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 3600
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}

resource "aws_lambda_permission" "timer" {
  for_each = local.timer_rules

  statement_id  = "events-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["recovery_timer"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.timer[each.key].arn
}

# EventBridge delivers failed events to the dead-letter queue with its own service principal.
data "aws_iam_policy_document" "dead_letter" {
  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for r in aws_cloudwatch_event_rule.timer : r.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id
  policy    = data.aws_iam_policy_document.dead_letter.json
}

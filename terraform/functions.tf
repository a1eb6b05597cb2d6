# The three functions (provided.al2023, one binary each), their log groups and the shared
# dead-letter queue: the on-failure destination of asynchronous invocations that failed every
# attempt (the monkey's are never retried).

locals {
  functions = merge(
    {
      monkey = {
        description = "faultline monkey: guards, then terminate / stop / reboot / agent faults on opted-in instances"
        timeout     = 300
        memory      = 256
        retries     = 0 # a chaos round is never retried: a retry would act twice as often as asked
        # No agent location: the SSM document carries it, fixed, with the agent's SHA-256.
        environment = {
          FAULTLINE_OPT_IN_TAG            = var.opt_in_tag_key
          FAULTLINE_KILL_SWITCH_PARAM     = var.kill_switch_parameter
          FAULTLINE_RECORDS_TABLE         = aws_dynamodb_table.records.name
          FAULTLINE_RECORD_RETENTION_DAYS = tostring(var.record_retention_days)
          FAULTLINE_TOPIC_ARN             = aws_sns_topic.events.arn
          FAULTLINE_AGENT_DOCUMENT        = aws_ssm_document.agent.name
          FAULTLINE_LAYER_PREFIX          = var.layer_config_prefix
          FAULTLINE_LAYER_NAME            = "${var.name}-layer"
          FAULTLINE_CALENDAR_PARAMETER    = aws_ssm_parameter.calendar.name
          FAULTLINE_SCHEDULE_GROUP        = aws_scheduler_schedule_group.this.name
          FAULTLINE_SCHEDULER_ROLE_ARN    = aws_iam_role.scheduler.arn
        }
      }
      recovery_timer = {
        description = "faultline recovery timer: closes experiments with their time to recover"
        timeout     = 120
        memory      = 256
        retries     = 2
        environment = {
          FAULTLINE_RECORDS_TABLE         = aws_dynamodb_table.records.name
          FAULTLINE_RECORD_RETENTION_DAYS = tostring(var.record_retention_days)
          FAULTLINE_TOPIC_ARN             = aws_sns_topic.events.arn
          FAULTLINE_METRIC_NAMESPACE      = var.metric_namespace
          FAULTLINE_AGENT_DOCUMENT        = aws_ssm_document.agent.name
          # Reports (reports.tf): where they go, and how long their presigned links last.
          FAULTLINE_REPORTS_BUCKET = local.reports_bucket
          FAULTLINE_REPORT_URL_TTL = tostring(var.report_link_ttl)
        }
      }
    },
    local.slack_enabled ? {
      notifier = {
        description = "faultline notifier: SNS messages to a Slack incoming webhook"
        timeout     = 30
        memory      = 128
        retries     = 2
        environment = {
          FAULTLINE_SLACK_WEBHOOK_PARAM = var.slack_webhook_parameter
        }
      }
    } : {},
  )
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = "/aws/lambda/${local.function_names[each.key]}"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = local.tags
}

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-dead-letter"
  kms_master_key_id         = local.kms_key_arn
  message_retention_seconds = 1209600

  kms_data_key_reuse_period_seconds = 300
  tags                              = local.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:the functions call only AWS APIs; a VPC would add NAT or endpoints and no isolation
  #checkov:skip=CKV_AWS_272:code signing needs a signing profile the caller owns; add aws_lambda_code_signing_config around this module if required
  #checkov:skip=CKV_AWS_116:failed asynchronous invocations go to the on-failure destination below (aws_lambda_function_event_invoke_config), which carries the error too
  #checkov:skip=CKV_AWS_173:the environment holds names and ARNs only; the Slack webhook stays in an SSM SecureString
  for_each = local.functions

  function_name    = local.function_names[each.key]
  description      = each.value.description
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  filename         = local.artifacts[each.key]
  source_code_hash = fileexists(local.artifacts[each.key]) ? filebase64sha256(local.artifacts[each.key]) : null
  timeout          = each.value.timeout
  memory_size      = each.value.memory

  reserved_concurrent_executions = var.reserved_concurrency[each.key]

  # RUST_LOG is the fallback of faultline_core::logging::init_lambda where Lambda's advanced
  # logging controls are off (advanced_logging = false); with them on, Lambda sets
  # AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL from logging_config and those win.
  environment {
    variables = merge(each.value.environment, { RUST_LOG = var.log_level })
  }

  # Lambda's advanced logging controls: JSON records, the application's level from log_level
  # (error -> ERROR, warn -> WARN, ...), the platform's own records at WARN and above, into the
  # log group above.
  dynamic "logging_config" {
    for_each = var.advanced_logging ? [1] : []
    content {
      log_format            = "JSON"
      application_log_level = upper(var.log_level)
      system_log_level      = "WARN"
      log_group             = aws_cloudwatch_log_group.function[each.key].name
    }
  }

  tracing_config {
    mode = "PassThrough"
  }

  tags = local.tags

  depends_on = [aws_cloudwatch_log_group.function, aws_iam_role_policy.function]

  lifecycle {
    precondition {
      condition     = fileexists(local.artifacts[each.key])
      error_message = "faultline: the ${each.key} artifact ${local.artifacts[each.key]} is missing: ${local.missing_hint}."
    }
  }
}

resource "aws_lambda_function_event_invoke_config" "this" {
  for_each = local.functions

  function_name                = aws_lambda_function.this[each.key].function_name
  maximum_retry_attempts       = each.value.retries
  maximum_event_age_in_seconds = 3600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dead_letter.arn
    }
  }
}

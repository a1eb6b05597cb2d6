# The topic every message goes to ("injected", "refused", "recovered in 2m31s", "NOT
# recovered"), email subscriptions, and the notifier (Slack) when a webhook parameter is given.

resource "aws_sns_topic" "events" {
  name              = var.name
  display_name      = "faultline"
  kms_master_key_id = local.kms_key_arn
  tags              = local.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.notification_emails)

  topic_arn = aws_sns_topic.events.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_sns_topic_subscription" "notifier" {
  count = local.slack_enabled ? 1 : 0

  topic_arn = aws_sns_topic.events.arn
  protocol  = "lambda"
  endpoint  = aws_lambda_function.this["notifier"].arn
}

resource "aws_lambda_permission" "notifier" {
  count = local.slack_enabled ? 1 : 0

  statement_id  = "sns"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["notifier"].function_name
  principal     = "sns.amazonaws.com"
  source_arn    = aws_sns_topic.events.arn
}

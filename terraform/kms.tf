# One customer-managed key for the topic, the dead-letter queue, the log groups, the schedules,
# the agent bucket and the experiment records table, unless the caller brings one
# (var.kms_key_arn).

locals {
  kms_key_arn = var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.this[0].arn
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:a key policy's "*" resource means this key; the account statement delegates to IAM
  #checkov:skip=CKV_AWS_111:a key policy's "*" resource means this key; the account statement delegates to IAM
  #checkov:skip=CKV_AWS_356:a key policy's "*" resource means this key
  statement {
    sid       = "AccountUsesIamPolicies"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsFaultlineLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${var.name}-*"]
    }
  }

  statement {
    sid       = "ServicesDeliverToTheTopicAndQueue"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "scheduler.amazonaws.com", "sns.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # The records table (records.tf) is encrypted with this key. DynamoDB itself only reads the
  # key's metadata (its documented key policy for a customer managed key). It generates the
  # table key and creates its grants as the principal that creates the table, and decrypts the
  # table key as the principal that reads or writes the table: the deployer through the account
  # statement above and its IAM permissions, the functions through their
  # RuntimeEncryptedRecordsTable statement (iam.tf), only via DynamoDB and only for that table.
  # A key brought with var.kms_key_arn needs this statement too.
  statement {
    sid       = "DynamoDbDescribesTheKey"
    actions   = ["kms:Describe*", "kms:Get*", "kms:List*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["dynamodb.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "this" {
  count = var.kms_key_arn == null ? 1 : 0

  description             = "faultline (${var.name}): topic, queue, logs, schedules, agent bucket, records table"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  count = var.kms_key_arn == null ? 1 : 0

  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this[0].key_id
}

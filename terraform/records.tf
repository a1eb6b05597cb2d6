# The experiment records: one item per round that acted (hash key `id`, the execution id). The
# monkey creates it (a conditional put: a redelivered event finds it and does nothing) and
# rewrites it after acting; the recovery timer finds the open ones through the sparse `open`
# index (only open records carry `open`) and closes each once; `faultline history` reads every
# record, newest first, through `history` (every record has `kind = "experiment"`); the recovery
# timer reads an experiment's previous runs (the regression check) through `experiment`. Records
# expire `record_retention_days` after they close (TTL on `expires_at`, which the functions set).
#
# Encrypted with the module's key (kms.tf allows DynamoDB to describe it; the functions may
# decrypt only through DynamoDB and only for this table, iam.tf), on-demand, with point-in-time
# recovery and deletion protection (records_deletion_protection).

resource "aws_dynamodb_table" "records" {
  name         = "${var.name}-experiments"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }
  attribute {
    name = "open"
    type = "S"
  }
  attribute {
    name = "kind"
    type = "S"
  }
  attribute {
    name = "started_at"
    type = "S"
  }
  attribute {
    name = "experiment"
    type = "S"
  }

  global_secondary_index {
    name            = "open"
    hash_key        = "open"
    range_key       = "started_at"
    projection_type = "ALL"
  }

  global_secondary_index {
    name            = "history"
    hash_key        = "kind"
    range_key       = "started_at"
    projection_type = "ALL"
  }

  global_secondary_index {
    name            = "experiment"
    hash_key        = "experiment"
    range_key       = "started_at"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.kms_key_arn
  }

  deletion_protection_enabled = var.records_deletion_protection

  tags = local.tags
}

locals {
  records_table_arn            = aws_dynamodb_table.records.arn
  records_open_index_arn       = "${aws_dynamodb_table.records.arn}/index/open"
  records_history_index_arn    = "${aws_dynamodb_table.records.arn}/index/history"
  records_experiment_index_arn = "${aws_dynamodb_table.records.arn}/index/experiment"
}

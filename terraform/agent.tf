# The SSM Command document that runs faultline-agent, and the agent binary in S3 for hosts that
# do not have it installed (the document downloads it from AgentS3Uri on first use).

locals {
  agent_bucket       = var.agent_bucket != null ? var.agent_bucket : aws_s3_bucket.agent[0].id
  agent_key          = "faultline-agent/${local.agent_architecture}/faultline-agent"
  agent_s3_uri       = "s3://${local.agent_bucket}/${local.agent_key}"
  agent_document_arn = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:document/${aws_ssm_document.agent.name}"
}

resource "aws_ssm_document" "agent" {
  name            = "${var.name}-agent"
  document_type   = "Command"
  document_format = "JSON"
  content         = file("${path.module}/documents/faultline-agent.json")
  tags            = local.tags
}

resource "aws_s3_bucket" "agent" {
  #checkov:skip=CKV_AWS_18:holds one binary written by Terraform; CloudTrail data events are the place for access logs if wanted
  #checkov:skip=CKV_AWS_144:a build artifact re-uploaded by every apply; cross-region replication adds nothing
  #checkov:skip=CKV2_AWS_62:nothing reacts to uploads of the agent
  #checkov:skip=CKV2_AWS_61:one small binary per architecture; earlier versions are kept on purpose, to roll an agent back
  count = var.agent_bucket == null ? 1 : 0

  bucket_prefix = "${lower(var.name)}-agent-"
  force_destroy = true
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "agent" {
  count = var.agent_bucket == null ? 1 : 0

  bucket                  = aws_s3_bucket.agent[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "agent" {
  count = var.agent_bucket == null ? 1 : 0

  bucket = aws_s3_bucket.agent[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "agent" {
  count = var.agent_bucket == null ? 1 : 0

  bucket = aws_s3_bucket.agent[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_object" "agent" {
  count = var.upload_agent ? 1 : 0

  bucket      = local.agent_bucket
  key         = local.agent_key
  source      = local.artifacts.agent
  source_hash = fileexists(local.artifacts.agent) ? filemd5(local.artifacts.agent) : null
  kms_key_id  = local.kms_key_arn
  tags        = local.tags

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.agent]

  lifecycle {
    precondition {
      condition     = fileexists(local.artifacts.agent)
      error_message = "faultline: the agent binary ${local.artifacts.agent} is missing: run `make package AGENT_ARCH=${local.agent_architecture}`, point artifacts_dir at the built artifacts, or set upload_agent = false if every host has /usr/local/bin/faultline-agent."
    }
  }
}

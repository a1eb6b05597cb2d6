# The SSM Command document that runs faultline-agent, and the agent binary in S3.
#
# Supply chain: Terraform renders the document with the artifact's SHA-256 (filesha256) and its
# S3 location fixed; no parameter lets a caller choose where the agent comes from. The script
# installs only a download with that hash, and replaces an installed binary whose hash differs
# (so a new build reaches every host on its next fault, and a planted one is overwritten). Only
# the principal that deploys may write the agent object (the bucket policy below).
#
# Old document versions: a new agent changes the document's content, and the provider then
# updates the document and makes the new version the default. The monkey's SendCommand names
# no DocumentVersion, so it always runs $DEFAULT. Older versions stay listable, but they carry
# the same fixed location (only the hash differs), and whenever the hash changes the document is
# replaced (destroyed and created again: replace_triggered_by below), which deletes every old
# version, so none that would install an older agent stays callable.

locals {
  agent_bucket       = var.agent_bucket != null ? var.agent_bucket : aws_s3_bucket.agent[0].id
  agent_key          = "faultline-agent/${local.agent_architecture}/faultline-agent"
  agent_s3_uri       = "s3://${local.agent_bucket}/${local.agent_key}"
  agent_object_arn   = "arn:${local.partition}:s3:::${local.agent_bucket}/${local.agent_key}"
  agent_sha256       = var.upload_agent ? try(filesha256(local.artifacts.agent), "") : ""
  agent_document_arn = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:document/${aws_ssm_document.agent.name}"
}

# Replaces the document (and so drops its old versions) whenever the agent's hash changes.
resource "terraform_data" "agent_sha256" {
  input = local.agent_sha256
}

resource "aws_ssm_document" "agent" {
  name            = "${var.name}-agent"
  document_type   = "Command"
  document_format = "JSON"
  content = templatefile("${path.module}/documents/faultline-agent.json", {
    agent_sha256 = local.agent_sha256
    agent_s3_uri = var.upload_agent ? local.agent_s3_uri : ""
  })
  tags = local.tags

  lifecycle {
    replace_triggered_by = [terraform_data.agent_sha256]
  }
}

# The principal that deploys (the role behind an assumed-role session, so the next apply from
# another session of the same role still may write).
data "aws_iam_session_context" "deployer" {
  arn = data.aws_caller_identity.current.arn
}

data "aws_iam_policy_document" "agent_bucket" {
  statement {
    sid       = "OnlyTheDeployerWritesTheAgent"
    effect    = "Deny"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"]
    resources = ["arn:${local.partition}:s3:::${local.agent_bucket}/*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [data.aws_iam_session_context.deployer.issuer_arn]
    }
  }
}

resource "aws_s3_bucket_policy" "agent" {
  count = var.agent_bucket == null ? 1 : 0

  bucket = aws_s3_bucket.agent[0].id
  policy = data.aws_iam_policy_document.agent_bucket.json

  # After the first upload (and so, on destroy, removed before the object): local emulators
  # such as moto apply a "*" Deny without its conditions, which would refuse the deployer too.
  depends_on = [aws_s3_bucket_public_access_block.agent, aws_s3_object.agent]
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

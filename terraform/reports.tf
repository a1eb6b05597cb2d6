# The experiment reports: one object per closed or aborted experiment, under `reports/`, written
# by the recovery timer (FAULTLINE_REPORTS_BUCKET) and shared as presigned links that last
# report_link_ttl seconds. Private (every public access blocked, ACLs off: the bucket owner owns
# every object), encrypted with the module's key (an S3 Bucket Key, so S3 asks KMS once per
# bucket and period, not once per object), TLS only, versioned, and expired
# report_retention_days after a report is written (noncurrent versions too; incomplete uploads
# aborted after a day).
#
# The timer may only put objects under `reports/` and use the key only through S3 (iam.tf).
# `terraform destroy` fails while reports remain (no force_destroy): they are the experiments'
# evidence; empty the bucket first to remove it.

resource "aws_s3_bucket" "reports" {
  #checkov:skip=CKV_AWS_18:reports are written by one function role and read through short-lived presigned links; CloudTrail data events are the place for access logs if wanted
  #checkov:skip=CKV_AWS_144:reports are derived from the records table and metrics, which stay in the region; cross-region replication would copy evidence the lifecycle rule expires anyway
  #checkov:skip=CKV2_AWS_62:nothing reacts to new reports; the topic's messages already carry each report's link
  bucket_prefix = "${lower(var.name)}-reports-"
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "reports" {
  bucket                  = aws_s3_bucket.reports.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "reports" {
  bucket = aws_s3_bucket.reports.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "reports" {
  bucket = aws_s3_bucket.reports.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "reports" {
  bucket = aws_s3_bucket.reports.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "reports" {
  bucket = aws_s3_bucket.reports.id

  rule {
    id     = "expire-reports"
    status = "Enabled"

    filter {}

    expiration {
      days = var.report_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.report_retention_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # A rule on an unversioned bucket would keep nothing of the noncurrent versions it names.
  depends_on = [aws_s3_bucket_versioning.reports]
}

data "aws_iam_policy_document" "reports_bucket" {
  statement {
    sid     = "TlsOnly"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.reports.arn,
      "${aws_s3_bucket.reports.arn}/*",
    ]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "reports" {
  bucket = aws_s3_bucket.reports.id
  policy = data.aws_iam_policy_document.reports_bucket.json

  # The public access block first: S3 refuses a policy call racing it.
  depends_on = [aws_s3_bucket_public_access_block.reports]
}

locals {
  reports_bucket      = aws_s3_bucket.reports.id
  reports_bucket_arn  = aws_s3_bucket.reports.arn
  reports_objects_arn = "${aws_s3_bucket.reports.arn}/reports/*"
}

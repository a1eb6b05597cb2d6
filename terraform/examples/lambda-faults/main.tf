# The failure-injection layer on an existing function's code: the function carries the layer,
# reads its fault config from <layer_config_prefix>/<function> and starts with 50 % of
# invocations delayed by 100-400 ms until the config expires; it is opted in, and a scheduled
# lambda-fault experiment hits it on weekday afternoons.

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-2"
}

variable "artifacts_dir" {
  description = "Where `make package` wrote the artifacts (default: the repository's dist/)."
  type        = string
  default     = null
}

variable "function_zip" {
  description = "Zip of the function to inject faults into (a Python handler `app.handler` by default)."
  type        = string
}

variable "handler" {
  description = "The function's handler."
  type        = string
  default     = "app.handler"
}

variable "runtime" {
  description = "The function's managed runtime (the layer's wrapper works with every managed runtime)."
  type        = string
  default     = "python3.12"
}

variable "faults_expire_at" {
  description = "RFC 3339 time after which the layer injects nothing (a forgotten experiment ends by itself)."
  type        = string
  default     = "2030-01-01T00:00:00Z"
}

module "faultline" {
  source = "../.."

  artifacts_dir = var.artifacts_dir
  upload_agent  = false # no host faults in this example

  # A scheduled Lambda experiment: on weekday afternoons, one opted-in function of the orders
  # team fails 20 % of its invocations for 10 minutes; the recovery timer restores its parameter
  # as it was and reports the time to recover. Throttling and cutting off event sources work the
  # same way ({ type = "throttle", duration = "10m" }, { type = "disable-event-source", ... }).
  experiments = {
    orders-errors = {
      schedule = "cron(0 14 ? * MON-FRI *)"
      timezone = "Europe/London"
      experiment = jsonencode({
        targets   = { resource = "lambda-function", tags = { team = "orders" } }
        selection = { mode = "count", value = 1 }
        action = {
          type     = "lambda-fault"
          duration = "10m"
          faults   = { exception = { enabled = true, percentage = 20, exception_msg = "faultline" } }
        }
        recovery = { timeout = "30m" }
      })
    }
  }
}

locals {
  function_name = "orders-api"
  config_param  = "${module.faultline.layer_config_prefix}/${local.function_name}"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "app" {
  name               = local.function_name
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy_attachment" "logs" {
  role       = aws_iam_role.app.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

# Lets the layer read this function's fault config (and nothing else).
resource "aws_iam_role_policy_attachment" "layer_config" {
  role       = aws_iam_role.app.name
  policy_arn = module.faultline.layer_config_policy_arn
}

# failure-lambda 1.x format plus expires_at; `faultline layer set orders-api ...` rewrites it
# live, `faultline layer clear orders-api` removes every fault.
resource "aws_ssm_parameter" "faults" {
  #checkov:skip=CKV2_AWS_34:fault configuration, not a secret; the layer reads it without decryption
  name = local.config_param
  type = "String"
  value = jsonencode({
    expires_at = var.faults_expire_at
    latency    = { enabled = true, percentage = 50, min_latency = 100, max_latency = 400 }
    exception  = { enabled = false }
    statuscode = { enabled = false, status_code = 503 }
  })

  lifecycle {
    ignore_changes = [value] # operators change it live with the CLI
  }
}

resource "aws_lambda_function" "app" {
  #checkov:skip=CKV_AWS_117:example function; put it in your VPC as your application needs
  #checkov:skip=CKV_AWS_272:example function; code signing is the application's choice
  #checkov:skip=CKV_AWS_116:example function invoked synchronously; no dead-letter queue
  #checkov:skip=CKV_AWS_115:example function; concurrency is the application's choice
  #checkov:skip=CKV_AWS_173:no secrets in this environment
  #checkov:skip=CKV_AWS_50:example function; X-Ray is the application's choice
  function_name    = local.function_name
  role             = aws_iam_role.app.arn
  runtime          = var.runtime
  handler          = var.handler
  filename         = var.function_zip
  source_code_hash = filebase64sha256(var.function_zip)
  layers           = [module.faultline.layer_arn]
  # Opted in: scheduled experiments may pick it (and IAM lets them change only opted-in functions).
  tags = { "faultline:enabled" = "true", team = "orders" }

  environment {
    variables = {
      AWS_LAMBDA_EXEC_WRAPPER = "/opt/faultline-wrapper"
      FAILURE_INJECTION_PARAM = local.config_param
      # `faultline halt` stops this function's faults too, within the layer's refresh (5 s).
      FAULTLINE_KILL_SWITCH_PARAM = module.faultline.kill_switch_parameter
    }
  }
}

output "layer_arn" {
  description = "The faultline layer version."
  value       = module.faultline.layer_arn
}

output "config_parameter" {
  description = "The function's live fault configuration."
  value       = aws_ssm_parameter.faults.name
}

# Everything: two Auto Scaling groups (one opted in, one not), a terminate experiment and an
# agent (network latency) experiment on the opted-in group, email and Slack notifications, the
# layer, the dashboard. The group that is not opted in is never touched: the monkey skips it
# and its IAM policy could not act on it anyway.

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

module "faultline" {
  source = "../.."

  name               = var.name
  architecture       = var.architecture
  agent_architecture = var.agent_architecture
  artifacts_dir      = var.artifacts_dir

  notification_emails     = var.emails
  slack_webhook_parameter = var.slack_webhook_parameter
  log_retention_days      = 365
  advanced_logging        = var.advanced_logging

  record_retention_days       = 90
  records_deletion_protection = var.records_deletion_protection

  experiments = {
    web-terminate = {
      schedule    = "cron(0 10 ? * MON-FRI *)"
      timezone    = "Europe/London"
      description = "weekday mornings: a third of web-asg goes away"
      experiment = jsonencode({
        targets   = { resource = "asg-instance", asg_names = [aws_autoscaling_group.fleet["web"].name] }
        selection = { mode = "percent", value = 34 }
        action    = { type = "terminate" }
        guards    = { min_healthy = 2, max_targets = 1 }
        recovery  = { timeout = "15m" }
      })
    }
    web-latency = {
      schedule = "cron(30 14 ? * TUE,THU *)"
      timezone = "Europe/London"
      experiment = jsonencode({
        targets   = { resource = "asg-instance", tags = { app = "web" } }
        selection = { mode = "count", value = 1 }
        action = {
          type     = "agent"
          fault    = "latency"
          args     = { delay_ms = 200, jitter_ms = 20 }
          duration = "5m"
        }
        guards = {
          windows = [{ days = "TUE,THU", start = "14:00", end = "16:00", tz = "Europe/London" }]
        }
        recovery = { timeout = "10m" }
      })
    }
    # Once a month: lose one zone (drawn among those holding opted-in web capacity) for 15
    # minutes. Its web instances stop, its subnets leave the opted-in groups so they rebalance
    # into the other zones, and everything is put back after; the message gives the time the
    # surviving zones took to carry the desired capacity again.
    web-zone-outage = {
      schedule = "cron(0 11 ? * 3#1 *)"
      timezone = "Europe/London"
      experiment = jsonencode({
        targets   = { resource = "asg-instance", tags = { app = "web" }, availability_zones = "random" }
        selection = { mode = "all" }
        action    = { type = "az-outage", mode = "stop", duration = "15m" }
        guards    = { max_targets = 10, min_healthy = 1 }
        recovery  = { timeout = "45m" }
      })
    }
  }

  tags = { team = "sre" }
}

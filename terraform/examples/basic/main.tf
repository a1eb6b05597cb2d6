# One opted-in Auto Scaling group and one experiment: every weekday at 10:00 (Europe/London),
# terminate 30 % of the group's instances, never below 2 healthy, and email the team.

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

variable "email" {
  description = "Who receives the experiment and recovery emails."
  type        = string
}

variable "artifacts_dir" {
  description = "Where `make package` wrote the artifacts (default: the repository's dist/)."
  type        = string
  default     = null
}

variable "ami_id" {
  description = "AMI of the fleet's instances. Default: the latest Amazon Linux 2023."
  type        = string
  default     = null
}

data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == null ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

data "aws_vpc" "default" {
  default = true
}

data "aws_subnets" "default" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default.id]
  }
}

resource "aws_launch_template" "web" {
  name_prefix   = "web-"
  image_id      = coalesce(var.ami_id, try(data.aws_ssm_parameter.al2023[0].value, null))
  instance_type = "t3.micro"

  metadata_options {
    http_tokens = "required"
  }
}

resource "aws_autoscaling_group" "web" {
  name                = "web-asg"
  min_size            = 2
  max_size            = 4
  desired_capacity    = 3
  vpc_zone_identifier = data.aws_subnets.default.ids

  launch_template {
    id      = aws_launch_template.web.id
    version = "$Latest"
  }

  # The opt-in: without this tag the monkey never touches the group, and its IAM policy
  # does not allow it to.
  tag {
    key                 = "faultline:enabled"
    value               = "true"
    propagate_at_launch = true
  }
  tag {
    key                 = "app"
    value               = "web"
    propagate_at_launch = true
  }
}

module "faultline" {
  source = "../.."

  artifacts_dir       = var.artifacts_dir
  notification_emails = [var.email]
  create_layer        = false
  upload_agent        = false # no agent experiment here

  experiments = {
    web-terminate = {
      schedule = "cron(0 10 ? * MON-FRI *)"
      timezone = "Europe/London"
      experiment = jsonencode({
        targets   = { resource = "asg-instance", asg_names = [aws_autoscaling_group.web.name] }
        selection = { mode = "percent", value = 30 }
        action    = { type = "terminate" }
        guards    = { min_healthy = 2, max_targets = 1 }
        recovery  = { timeout = "15m" }
      })
    }
  }
}

output "topic_arn" {
  description = "Where faultline publishes (the email subscription is pending until confirmed)."
  value       = module.faultline.topic_arn
}

output "kill_switch_parameter" {
  description = "Set to false to halt every experiment (faultline halt)."
  value       = module.faultline.kill_switch_parameter
}

# The demo fleet: web-asg opts in (faultline:enabled = true), batch-asg does not.

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

# Instances need the SSM agent's permissions and the right to download faultline-agent.
data "aws_iam_policy_document" "instance_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "instance" {
  name               = "${var.name}-fleet"
  assume_role_policy = data.aws_iam_policy_document.instance_assume.json
}

resource "aws_iam_role_policy_attachment" "ssm_core" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_role_policy_attachment" "agent" {
  role       = aws_iam_role.instance.name
  policy_arn = module.faultline.agent_instance_policy_arn
}

resource "aws_iam_instance_profile" "instance" {
  name = "${var.name}-fleet"
  role = aws_iam_role.instance.name
}

resource "aws_launch_template" "fleet" {
  name_prefix   = "${var.name}-fleet-"
  image_id      = coalesce(var.ami_id, try(data.aws_ssm_parameter.al2023[0].value, null))
  instance_type = var.instance_type

  iam_instance_profile {
    arn = aws_iam_instance_profile.instance.arn
  }

  metadata_options {
    http_tokens = "required"
  }
}

locals {
  groups = {
    web   = { opt_in = "true", size = 3 }
    batch = { opt_in = "false", size = 2 }
  }
}

resource "aws_autoscaling_group" "fleet" {
  for_each = local.groups

  name                = "${each.key}-asg"
  min_size            = 1
  max_size            = each.value.size + 1
  desired_capacity    = each.value.size
  vpc_zone_identifier = data.aws_subnets.default.ids

  launch_template {
    id      = aws_launch_template.fleet.id
    version = "$Latest"
  }

  tag {
    key                 = "faultline:enabled"
    value               = each.value.opt_in
    propagate_at_launch = true
  }
  tag {
    key                 = "app"
    value               = each.key
    propagate_at_launch = true
  }
}

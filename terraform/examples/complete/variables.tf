variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-2"
}

variable "name" {
  description = "Prefix of faultline's resource names."
  type        = string
  default     = "faultline"
}

variable "architecture" {
  description = "Lambda architecture (arm64 or x86_64); `make package ARCH=...` must match."
  type        = string
  default     = "arm64"
}

variable "agent_architecture" {
  description = "Architecture of the fleet's instances, for the agent binary."
  type        = string
  default     = "x86_64"
}

variable "artifacts_dir" {
  description = "Where `make package` wrote the artifacts (default: the repository's dist/)."
  type        = string
  default     = null
}

variable "emails" {
  description = "Email addresses that receive every faultline message."
  type        = list(string)
  default     = ["sre@example.com"]
}

variable "slack_webhook_parameter" {
  description = "Existing SSM SecureString parameter holding the Slack incoming-webhook URL."
  type        = string
  default     = "/faultline/slack-webhook"
}

variable "ami_id" {
  description = "AMI of the fleet's instances. Default: the latest Amazon Linux 2023 (x86_64)."
  type        = string
  default     = null
}

variable "instance_type" {
  description = "Instance type of the fleet."
  type        = string
  default     = "t3.micro"
}

variable "advanced_logging" {
  description = "Lambda's advanced logging controls on the functions (JSON, level from log_level). false only for local emulators without them, such as moto 5.2.5."
  type        = bool
  default     = true
}

variable "records_deletion_protection" {
  description = "Deletion protection on the experiment records table; set false and apply before `terraform destroy`."
  type        = bool
  default     = true
}

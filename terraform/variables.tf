variable "name" {
  description = "Prefix of every resource name (functions, roles, topic, queue, schedule group, dashboard)."
  type        = string
  default     = "faultline"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,31}$", var.name))
    error_message = "name must be 1 to 32 characters: a letter, then letters, digits or '-'."
  }
}

variable "architecture" {
  description = "Instruction set of the Lambda functions and the layer: arm64 (Graviton, cheaper) or x86_64. `make package ARCH=...` must have built the same one."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be one of: arm64, x86_64."
  }
}

variable "artifacts_dir" {
  description = "Directory holding `<architecture>/{monkey,recovery-timer,notifier,faultline-layer}.zip` and `<agent_architecture>/faultline-agent`, as `make package` writes them. Default: the repository's `dist/`."
  type        = string
  default     = null
}

variable "opt_in_tag_key" {
  description = "Tag key that opts an EC2 instance or Auto Scaling group in (value `true`). The monkey selects only opted-in resources, and its IAM policy only allows destructive calls on resources carrying this tag."
  type        = string
  default     = "faultline:enabled"

  validation {
    condition     = length(var.opt_in_tag_key) >= 1 && length(var.opt_in_tag_key) <= 128 && !startswith(var.opt_in_tag_key, "aws:")
    error_message = "opt_in_tag_key must be 1 to 128 characters and must not start with 'aws:'."
  }
}

variable "kill_switch_parameter" {
  description = "SSM parameter that halts every experiment when set to `false` (`faultline halt`). Created with `true`; Terraform ignores later changes to its value."
  type        = string
  default     = "/faultline/enabled"

  validation {
    condition     = can(regex("^/[A-Za-z0-9_./-]+$", var.kill_switch_parameter))
    error_message = "kill_switch_parameter must be an SSM parameter path starting with '/' (letters, digits, '_', '.', '-', '/')."
  }
}

variable "layer_config_prefix" {
  description = "SSM path of the layer's live configuration parameters (`faultline layer set <function>` writes `<prefix>/<function>`). The module outputs a policy that reads them."
  type        = string
  default     = "/faultline/layer"

  validation {
    condition     = can(regex("^/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.layer_config_prefix))
    error_message = "layer_config_prefix must be an SSM path like /faultline/layer (no trailing '/')."
  }
  validation {
    # `faultline layer set` writes under layer_config_prefix and every function carrying the
    # layer may read it (layer_config_policy_arn): it must not reach the kill switch or the Slack
    # webhook (nor they it). "Overlap": equal, or one a path prefix of another.
    condition = alltrue([
      for pair in setproduct(
        compact([var.kill_switch_parameter, var.layer_config_prefix, var.slack_webhook_parameter]),
        compact([var.kill_switch_parameter, var.layer_config_prefix, var.slack_webhook_parameter]),
      ) : pair[0] == pair[1] || !startswith(pair[1], "${pair[0]}/")
    ]) && length(distinct(compact([var.kill_switch_parameter, var.layer_config_prefix, var.slack_webhook_parameter]))) == length(compact([var.kill_switch_parameter, var.layer_config_prefix, var.slack_webhook_parameter]))
    error_message = "kill_switch_parameter, layer_config_prefix and slack_webhook_parameter must not overlap (none equal to or a path prefix of another): layer configs are written under layer_config_prefix and read by every function carrying the layer, which must not reach the kill switch or the webhook. E.g. kill_switch_parameter = \"/faultline/enabled\", layer_config_prefix = \"/faultline/layer\"."
  }
}

variable "experiments" {
  description = <<-EOT
    Scheduled experiments, by name. Each:
      schedule    - EventBridge Scheduler expression: rate(15 minutes), cron(0 10 ? * MON-FRI *) or at(2026-12-01T10:00:00)
      timezone    - IANA time zone of the cron expression (default UTC)
      enabled     - false keeps the schedule but pauses it (default true)
      experiment  - the experiment spec as JSON (jsonencode({...}) or file("web.json")); its name defaults to the map key
      description - shown on the schedule
    An experiment whose JSON has "start": "random" (and guards.windows) is planned, not run, by
    its schedule: run that planner once a day, e.g. cron(0 0 * * ? *) or rate(1 day); each day it
    picks a random minute inside the windows within the next 24 hours and schedules the round
    then (a one-shot schedule in this deployment's schedule group).
  EOT
  type = map(object({
    schedule    = string
    timezone    = optional(string, "UTC")
    enabled     = optional(bool, true)
    experiment  = string
    description = optional(string, "")
  }))
  default = {}

  validation {
    condition     = alltrue([for k, e in var.experiments : can(regex("^[A-Za-z0-9_.-]{1,64}$", k))])
    error_message = "experiments: each key is the experiment's name: 1 to 64 of letters, digits, '_', '.', '-'."
  }
  validation {
    condition = alltrue([for k, e in var.experiments : can(regex(
      "^(rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)|cron\\(\\S+ \\S+ \\S+ \\S+ \\S+ \\S+\\)|at\\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\))$",
    e.schedule))])
    error_message = "experiments: schedule must be rate(N minutes|hours|days), cron(min hour day-of-month month day-of-week year) with 6 fields, or at(yyyy-mm-ddThh:mm:ss)."
  }
  validation {
    condition     = alltrue([for k, e in var.experiments : can(keys(jsondecode(e.experiment)))])
    error_message = "experiments: experiment must be a JSON object (the experiment spec), e.g. jsonencode({ targets = ..., selection = ..., action = ... })."
  }
  validation {
    condition = alltrue([for k, e in var.experiments :
      contains(["terminate", "stop", "reboot", "agent", "lambda-fault", "throttle", "disable-event-source", "az-outage"], try(jsondecode(e.experiment).action.type, ""))
    ])
    error_message = "experiments: action.type must be one of: terminate, stop, reboot, agent, lambda-fault, throttle, disable-event-source, az-outage."
  }
  validation {
    condition = alltrue([for k, e in var.experiments :
      contains(["percent", "count", "all"], try(jsondecode(e.experiment).selection.mode, ""))
    ])
    error_message = "experiments: selection.mode must be one of: percent, count, all."
  }
  validation {
    condition = alltrue([for k, e in var.experiments :
      try(jsondecode(e.experiment).selection.mode, "") != "percent" || (
        try(tonumber(jsondecode(e.experiment).selection.value), -1) >= 0 &&
        try(tonumber(jsondecode(e.experiment).selection.value), 101) <= 100
      )
    ])
    error_message = "experiments: a percent selection's value must be a number between 0 and 100."
  }
  validation {
    # The monkey's own rule (spec::UNCAPPED_SELECTION_LIMIT): a selection that can exceed 10
    # targets ("all", any percent, a count above 10) needs guards.max_targets.
    condition = alltrue([for k, e in var.experiments :
      try(jsondecode(e.experiment).guards.max_targets, null) != null || (
        try(jsondecode(e.experiment).selection.mode, "") == "count" &&
        try(tonumber(jsondecode(e.experiment).selection.value), 11) <= 10
      )
    ])
    error_message = "experiments: guards.max_targets is required when the selection can exceed 10 targets (\"all\", any percent, a count above 10): set it to at most how many instances one round may hit."
  }
  validation {
    condition = alltrue([for k, e in var.experiments :
      contains(["schedule", "random"], try(jsondecode(e.experiment).start, "schedule"))
    ])
    error_message = "experiments: start must be \"schedule\" (default) or \"random\"."
  }
  validation {
    # A random start plans the next 24 hours: its schedule is the once-a-day planner.
    condition = alltrue([for k, e in var.experiments :
      try(jsondecode(e.experiment).start, "schedule") != "random" || can(regex(
        "^(rate\\(1 day\\)|cron\\([0-9]{1,2} [0-9]{1,2} \\* \\* \\? \\*\\))$", e.schedule
      ))
    ])
    error_message = "experiments: an experiment with \"start\": \"random\" is planned once a day: its schedule must be daily, e.g. cron(0 0 * * ? *) or rate(1 day)."
  }
  validation {
    condition = alltrue([for k, e in var.experiments :
      try(jsondecode(e.experiment).start, "schedule") != "random" || length(try(jsondecode(e.experiment).guards.windows, [])) > 0
    ])
    error_message = "experiments: an experiment with \"start\": \"random\" needs guards.windows: the random minute is drawn inside them."
  }
}

variable "calendar_parameter" {
  description = "SSM parameter of the shared freeze calendar (the JSON list of freeze_dates), read with the kill switch on every round."
  type        = string
  default     = "/faultline/calendar"

  validation {
    condition     = can(regex("^/[A-Za-z0-9_./-]+$", var.calendar_parameter))
    error_message = "calendar_parameter must be an SSM parameter path starting with '/' (letters, digits, '_', '.', '-', '/')."
  }
}

variable "freeze_dates" {
  description = "Dates on which no experiment runs (holidays, code freezes), shared by all: each { name, date } or { name, from, to }, dates like 2026-12-24, with an optional tz (IANA, default UTC). The monkey checks each as it checks guards.freeze; one it cannot read refuses every round."
  type        = list(map(string))
  default     = []

  validation {
    condition = alltrue([for f in var.freeze_dates :
      length(trimspace(lookup(f, "name", ""))) > 0 &&
      alltrue([for k in keys(f) : contains(["name", "date", "from", "to", "tz"], k)]) &&
      (can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", lookup(f, "date", "x"))) != (
        can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", lookup(f, "from", "x"))) &&
        can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", lookup(f, "to", "x")))
      ))
    ])
    error_message = "freeze_dates: each entry is { name, date } or { name, from, to } (dates like 2026-12-24), with an optional tz; no other keys."
  }
}

variable "notification_emails" {
  description = "Email addresses subscribed to the topic (each confirms the subscription from the mail AWS sends)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.notification_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "notification_emails: each entry must be an email address like sre@example.com (no empty strings)."
  }
}

variable "slack_webhook_parameter" {
  description = "Name of an existing SSM SecureString parameter holding a Slack incoming-webhook URL. When set, the notifier function is deployed and subscribed to the topic. The URL never appears in Terraform state."
  type        = string
  default     = null

  validation {
    condition     = var.slack_webhook_parameter == null || can(regex("^/[A-Za-z0-9_./-]+$", var.slack_webhook_parameter))
    error_message = "slack_webhook_parameter must be an SSM parameter path starting with '/', or null."
  }
}

variable "slack_webhook_kms_key_arn" {
  description = "ARN of the KMS key that encrypts slack_webhook_parameter. The notifier may decrypt only through SSM and only that parameter (its encryption context); with this set, only with this key too. Default: any key of the account (e.g. aws/ssm), under those two conditions."
  type        = string
  default     = null

  validation {
    condition     = var.slack_webhook_kms_key_arn == null || can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.slack_webhook_kms_key_arn))
    error_message = "slack_webhook_kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), or null."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the topic, queues, log groups, schedules, agent bucket and experiment records table. Its key policy must let the services use it (see kms.tf: DynamoDB needs kms:Describe*, kms:Get*, kms:List* as dynamodb.amazonaws.com). Default: the module creates one (with rotation)."
  type        = string
  default     = null
}

variable "agent_bucket" {
  description = "Existing S3 bucket to upload faultline-agent to. Default: the module creates a private, versioned, KMS-encrypted bucket."
  type        = string
  default     = null
}

variable "agent_architecture" {
  description = "Instruction set of the EC2 instances that run faultline-agent (x86_64 or arm64); independent of the functions' architecture. `make package AGENT_ARCH=...` must have built the same one."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.agent_architecture)
    error_message = "agent_architecture must be one of: arm64, x86_64."
  }
}

variable "upload_agent" {
  description = "Upload faultline-agent to S3; the SSM document is rendered with its SHA-256 and location, installs it on hosts that lack it and replaces an installed binary whose hash differs. false: hosts must have /usr/local/bin/faultline-agent (not checked)."
  type        = bool
  default     = true
}

variable "recovery_backstop_schedule" {
  description = "How often the recovery timer re-evaluates open experiments besides the Auto Scaling and alarm events that trigger it."
  type        = string
  default     = "rate(1 minute)"

  validation {
    condition     = can(regex("^rate\\([1-9][0-9]* (minute|minutes|hour|hours)\\)$", var.recovery_backstop_schedule))
    error_message = "recovery_backstop_schedule must be rate(N minute(s)|hour(s)), e.g. rate(1 minute)."
  }
}

variable "record_retention_days" {
  description = "Days an experiment record is kept after it closes: the functions set a closed record's `expires_at` (the records table's TTL attribute) from it (FAULTLINE_RECORD_RETENTION_DAYS); DynamoDB deletes expired records, usually within a few days of expiry. Open records never expire."
  type        = number
  default     = 90

  validation {
    condition     = var.record_retention_days >= 1 && var.record_retention_days <= 3650 && floor(var.record_retention_days) == var.record_retention_days
    error_message = "record_retention_days must be a whole number of days from 1 to 3650."
  }
}

variable "records_deletion_protection" {
  description = "Deletion protection on the experiment records table: `terraform destroy` (or a rename) fails until it is set to false and applied. The records are the open experiments the recovery timer still has to close and their history."
  type        = bool
  default     = true
}

variable "metric_namespace" {
  description = "CloudWatch namespace of TimeToRecover, Recovered and NotRecovered."
  type        = string
  default     = "faultline"

  validation {
    condition     = length(var.metric_namespace) > 0 && length(var.metric_namespace) <= 255 && !startswith(var.metric_namespace, "AWS/")
    error_message = "metric_namespace must be 1 to 255 characters and must not start with 'AWS/'."
  }
}

variable "create_layer" {
  description = "Publish the failure-injection Lambda layer."
  type        = bool
  default     = true
}

variable "create_dashboard" {
  description = "Create the CloudWatch dashboard (experiments, time to recover, not recovered)."
  type        = bool
  default     = true
}

variable "log_level" {
  description = "Log level of the functions (error, warn, info, debug, trace): their application log level under Lambda's advanced logging controls (upper-cased: warn -> WARN), and RUST_LOG where those are off."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["error", "warn", "info", "debug", "trace"], var.log_level)
    error_message = "log_level must be one of: error, warn, info, debug, trace."
  }
}

variable "advanced_logging" {
  description = "Configure Lambda's advanced logging controls on the functions (logging_config: JSON format, application log level from log_level, system log level WARN, the function's log group). Set false only for local emulators without Lambda advanced logging controls, such as moto 5.2.5: they do not store logging_config, so every plan would show it as a change; the functions then log JSON at RUST_LOG's level."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}

variable "reserved_concurrency" {
  description = "Reserved concurrency per function. The monkey and the timer run one at a time (async events wait and retry); -1 leaves a function unreserved, which accounts at Lambda's minimum of 10 concurrent executions need."
  type = object({
    monkey         = optional(number, 1)
    recovery_timer = optional(number, 1)
    notifier       = optional(number, 2)
  })
  default = {}

  validation {
    condition     = alltrue([for v in values(var.reserved_concurrency) : v == -1 || (v >= 1 && floor(v) == v)])
    error_message = "reserved_concurrency: each value must be -1 (unreserved) or a whole number >= 1."
  }
}

variable "report_retention_days" {
  description = "Days an experiment report is kept in the reports bucket: S3 expires report objects (and their noncurrent versions) this many days after they are written."
  type        = number
  default     = 90

  validation {
    condition     = var.report_retention_days >= 1 && var.report_retention_days <= 3650 && floor(var.report_retention_days) == var.report_retention_days
    error_message = "report_retention_days must be a whole number of days from 1 to 3650."
  }
}

variable "report_link_ttl" {
  description = "Seconds a report link (an S3 presigned URL in the Slack message and the email) stays valid (FAULTLINE_REPORT_URL_TTL of the recovery timer). S3 accepts at most 7 days (604800 s); a link signed with the function's role credentials lasts at most as long as its session, whatever this says."
  type        = number
  default     = 604800

  validation {
    condition     = var.report_link_ttl >= 60 && var.report_link_ttl <= 604800 && floor(var.report_link_ttl) == var.report_link_ttl
    error_message = "report_link_ttl must be a whole number of seconds from 60 to 604800 (7 days, the longest S3 presigned URL)."
  }
}


# The failure-injection layer: add it to any function, point FAILURE_INJECTION_PARAM at
# <layer_config_prefix>/<function> and attach the layer_config policy to its role.
# The layer reads its config and the kill switch (var.kill_switch_parameter; set
# FAULTLINE_KILL_SWITCH_PARAM on the function when it is not /faultline/enabled) in one
# ssm:GetParameters call, and injects nothing unless the switch is true: the function's role
# needs ssm:GetParameters on both parameters.

resource "aws_lambda_layer_version" "faultline" {
  count = var.create_layer ? 1 : 0

  layer_name               = "${var.name}-layer"
  description              = "faultline failure injection: latency, exception, status code, disk, denylist, timeout, corruption"
  filename                 = local.artifacts.layer
  source_code_hash         = fileexists(local.artifacts.layer) ? filebase64sha256(local.artifacts.layer) : null
  compatible_architectures = [var.architecture]
  compatible_runtimes      = ["provided.al2023", "provided.al2", "python3.12", "python3.13", "nodejs20.x", "nodejs22.x", "java21", "ruby3.3"]

  lifecycle {
    precondition {
      condition     = fileexists(local.artifacts.layer)
      error_message = "faultline: the layer artifact ${local.artifacts.layer} is missing: ${local.missing_hint}, or set create_layer = false."
    }
  }
}

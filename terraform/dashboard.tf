# Experiments, time to recover over time, and experiments that did not recover.

locals {
  ns = var.metric_namespace
  dashboard = {
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "Experiments closed (recovered / not recovered)"
          region  = local.region
          stat    = "Sum"
          period  = 3600
          view    = "timeSeries"
          stacked = true
          metrics = [
            [{ expression = "SUM(SEARCH('{${local.ns},Experiment} MetricName=\"Recovered\"', 'Sum', 3600))", id = "recovered", label = "recovered" }],
            [{ expression = "SUM(SEARCH('{${local.ns},Experiment} MetricName=\"NotRecovered\"', 'Sum', 3600))", id = "not_recovered", label = "not recovered" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Time to recover (seconds), per experiment"
          region = local.region
          period = 3600
          view   = "timeSeries"
          metrics = [
            [{ expression = "SEARCH('{${local.ns},Experiment} MetricName=\"TimeToRecover\"', 'Maximum', 3600)", id = "ttr" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 8, height = 6
        properties = {
          title  = "Not recovered (last 7 days)"
          region = local.region
          view   = "singleValue"
          period = 604800
          metrics = [
            [{ expression = "SUM(SEARCH('{${local.ns},Experiment} MetricName=\"NotRecovered\"', 'Sum', 604800))", id = "nr", label = "not recovered" }],
          ]
        }
      },
      {
        type = "log", x = 8, y = 6, width = 16, height = 6
        properties = {
          title  = "Monkey rounds"
          region = local.region
          view   = "table"
          query  = "SOURCE '/aws/lambda/${local.function_names.monkey}' | fields @timestamp, experiment, outcome | filter decision = 'done' | sort @timestamp desc | limit 50"
        }
      },
    ]
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_dashboard ? 1 : 0

  dashboard_name = var.name
  dashboard_body = jsonencode(local.dashboard)
}

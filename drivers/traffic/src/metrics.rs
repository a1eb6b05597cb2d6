//! The CloudWatch data points of one period, published with `faultline_core`'s
//! `put_metrics` (PutMetricData):
//!
//! | metric | unit | dimensions |
//! | --- | --- | --- |
//! | `Requests` | Count | `Target` |
//! | `SuccessRate` | Percent | `Target` |
//! | `Latency` | Milliseconds | `Target`, `Percentile` = `p50` / `p99` |
//!
//! A period in which no request ended publishes only `Requests` = 0: a success rate of
//! nothing is not 0% (an alarm should treat the missing data as breaching).

use aws_sdk_cloudwatch::types::StandardUnit;
use faultline_core::aws::cloudwatch::{put_metrics, Datum};
use faultline_core::aws::AwsError;

use crate::stats::Window;

/// The data points for one period of `window` on target `name`.
pub fn data(name: &str, window: &Window) -> Vec<Datum> {
    let target = || vec![("Target", name.to_owned())];
    let mut out = vec![Datum {
        name: "Requests",
        value: window.requests as f64,
        unit: StandardUnit::Count,
        dimensions: target(),
    }];
    if let Some(rate) = window.success_rate() {
        out.push(Datum {
            name: "SuccessRate",
            value: rate,
            unit: StandardUnit::Percent,
            dimensions: target(),
        });
    }
    for (label, value) in [("p50", window.p50_ms()), ("p99", window.p99_ms())] {
        if let Some(v) = value {
            out.push(Datum {
                name: "Latency",
                value: v,
                unit: StandardUnit::Milliseconds,
                dimensions: vec![
                    ("Target", name.to_owned()),
                    ("Percentile", label.to_owned()),
                ],
            });
        }
    }
    out
}

/// Publishes one period.
pub async fn publish(
    client: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    name: &str,
    window: &Window,
) -> Result<(), AwsError> {
    put_metrics(client, namespace, &data(name, window)).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::RequestOutcome;

    #[test]
    fn a_period_gives_requests_success_rate_and_two_percentiles() {
        let mut w = Window::default();
        for i in 0..4 {
            w.record(RequestOutcome::Status {
                code: if i == 3 { 500 } else { 200 },
                ok: i != 3,
                latency: Duration::from_millis(5 * (i + 1)),
            });
        }
        let d = data("api:80", &w);
        let find = |n: &str, p: Option<&str>| {
            d.iter()
                .find(|x| {
                    x.name == n
                        && match p {
                            None => true,
                            Some(p) => x.dimensions.contains(&("Percentile", p.to_owned())),
                        }
                })
                .unwrap()
        };
        assert_eq!(find("Requests", None).value, 4.0);
        assert_eq!(find("SuccessRate", None).value, 75.0);
        assert_eq!(find("SuccessRate", None).unit, StandardUnit::Percent);
        assert!((find("Latency", Some("p50")).value - 10.0).abs() < 0.1);
        assert!((find("Latency", Some("p99")).value - 20.0).abs() < 0.2);
        assert!(d
            .iter()
            .all(|x| x.dimensions[0] == ("Target", "api:80".to_owned())));
    }

    #[test]
    fn an_empty_period_publishes_only_a_zero_count() {
        let d = data("api:80", &Window::default());
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].name, d[0].value), ("Requests", 0.0));
    }
}

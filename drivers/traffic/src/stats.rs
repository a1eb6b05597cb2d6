//! What the requests did: one [`RequestOutcome`] per request, folded into a [`Window`] per
//! period and one for the whole run, and the final [`Summary`].
//!
//! Latency counts every request that got an answer (any status) and counts a timeout at the
//! timeout value, so a fault that slows the target moves p99 even when requests time out.
//! Connection errors fail fast and carry no latency.

use std::time::Duration;

use serde::Serialize;

use crate::histogram::Histogram;

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// An answer with this status after this long; `ok` per `--ok-status`.
    Status {
        /// HTTP status.
        code: u16,
        /// Whether it counts as success.
        ok: bool,
        /// Time to the end of the body.
        latency: Duration,
    },
    /// No answer within the timeout.
    Timeout(Duration),
    /// Connection refused, reset, TLS failure...
    Error,
}

/// Counts over some span of time.
#[derive(Debug, Clone, Default)]
pub struct Window {
    /// Requests that ended.
    pub requests: u64,
    /// Successes.
    pub ok: u64,
    /// Non-success answers.
    pub bad_status: u64,
    /// Timeouts.
    pub timeouts: u64,
    /// Connection-level errors.
    pub errors: u64,
    /// Latencies.
    pub latency: Histogram,
}

impl Window {
    /// Folds in one outcome.
    pub fn record(&mut self, o: RequestOutcome) {
        self.requests += 1;
        match o {
            RequestOutcome::Status { ok, latency, .. } => {
                if ok {
                    self.ok += 1;
                } else {
                    self.bad_status += 1;
                }
                self.latency.record(latency.as_micros() as u64);
            }
            RequestOutcome::Timeout(after) => {
                self.timeouts += 1;
                self.latency.record(after.as_micros() as u64);
            }
            RequestOutcome::Error => self.errors += 1,
        }
    }

    /// Adds another window's counts.
    pub fn merge(&mut self, other: &Window) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.bad_status += other.bad_status;
        self.timeouts += other.timeouts;
        self.errors += other.errors;
        self.latency.merge(&other.latency);
    }

    /// Requests that did not succeed.
    pub fn failed(&self) -> u64 {
        self.requests - self.ok
    }

    /// Successes in percent; `None` without requests.
    pub fn success_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.ok as f64 * 100.0 / self.requests as f64)
    }

    /// Median latency in milliseconds.
    pub fn p50_ms(&self) -> Option<f64> {
        self.latency.quantile_ms(0.50)
    }

    /// 99th percentile latency in milliseconds.
    pub fn p99_ms(&self) -> Option<f64> {
        self.latency.quantile_ms(0.99)
    }
}

/// The result of a run, printed at the end (`--output json` prints this struct).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The `Target` dimension.
    pub target: String,
    /// The URL called.
    pub url: String,
    /// Requests that ended.
    pub requests: u64,
    /// Successes.
    pub ok: u64,
    /// Everything else (bad status, timeout, connection error).
    pub failed: u64,
    /// Of `failed`: answers with a status outside `--ok-status`.
    pub bad_status: u64,
    /// Of `failed`: timeouts.
    pub timeouts: u64,
    /// Of `failed`: connection errors.
    pub errors: u64,
    /// Successes in percent (0-100), as the `SuccessRate` metric; null without requests.
    pub success_rate: Option<f64>,
    /// Median latency, ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99_ms: Option<f64>,
    /// The rate asked for, req/s.
    pub target_rate: f64,
    /// Requests sent per second of sending time.
    pub achieved_rate: f64,
    /// Requests not sent because `--concurrency` were all in flight.
    pub skipped: u64,
    /// Wall time of the run, seconds (sending plus waiting for the last answers).
    pub elapsed_s: f64,
    /// Periods whose metrics reached CloudWatch.
    pub metrics_published: u64,
    /// Periods whose PutMetricData failed.
    pub metrics_failed: u64,
}

fn round(v: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (v * m).round() / m
}

impl Summary {
    /// Rounds the floats for printing (µs precision for latencies).
    pub fn rounded(mut self) -> Self {
        self.success_rate = self.success_rate.map(|v| round(v, 3));
        self.p50_ms = self.p50_ms.map(|v| round(v, 3));
        self.p99_ms = self.p99_ms.map(|v| round(v, 3));
        self.achieved_rate = round(self.achieved_rate, 3);
        self.elapsed_s = round(self.elapsed_s, 3);
        self
    }

    /// Readable lines.
    pub fn text(&self) -> String {
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}ms"));
        let mut s = format!(
            "target {} ({})\nrequests {}  ok {}  failed {} (status {}, timeout {}, error {})\n",
            self.target,
            self.url,
            self.requests,
            self.ok,
            self.failed,
            self.bad_status,
            self.timeouts,
            self.errors,
        );
        s.push_str(&format!(
            "success {}  p50 {}  p99 {}\nrate {:.2}/s of {}/s asked",
            self.success_rate
                .map_or("-".to_owned(), |v| format!("{v:.2}%")),
            ms(self.p50_ms),
            ms(self.p99_ms),
            self.achieved_rate,
            self.target_rate,
        ));
        if self.skipped > 0 {
            s.push_str(&format!(
                " ({} skipped: all --concurrency slots busy)",
                self.skipped
            ));
        }
        s.push_str(&format!(
            "\nmetrics: {} periods published, {} failed\n",
            self.metrics_published, self.metrics_failed
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, ms: u64) -> RequestOutcome {
        RequestOutcome::Status {
            code,
            ok: (200..300).contains(&code),
            latency: Duration::from_millis(ms),
        }
    }

    #[test]
    fn failures_of_every_kind_count_and_timeouts_weigh_on_latency() {
        let mut w = Window::default();
        w.record(status(200, 10));
        w.record(status(200, 10));
        w.record(status(500, 10));
        w.record(RequestOutcome::Timeout(Duration::from_secs(2)));
        w.record(RequestOutcome::Error);
        assert_eq!((w.requests, w.ok, w.failed()), (5, 2, 3));
        assert_eq!((w.bad_status, w.timeouts, w.errors), (1, 1, 1));
        assert_eq!(w.success_rate(), Some(40.0));
        assert_eq!(w.latency.len(), 4);
        assert_eq!(w.p50_ms().map(|v| v.round()), Some(10.0));
        assert_eq!(w.p99_ms().map(|v| (v / 100.0).round()), Some(20.0));

        let mut total = Window::default();
        total.merge(&w);
        total.merge(&w);
        assert_eq!((total.requests, total.ok), (10, 4));
        assert_eq!(Window::default().success_rate(), None);
    }
}

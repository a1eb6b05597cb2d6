//! Arguments: the raw flags clap parses ([`Args`]) and the validated run they describe
//! ([`Config`]). Every check happens here, before a request is sent or an AWS client is built;
//! each error names the flag to fix.

use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Send HTTP requests at a steady rate, show success rate and latency live, and publish them
/// to CloudWatch so an alarm on them can be an experiment's steady-state hypothesis.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "faultline-traffic",
    version,
    long_about = None,
    after_help = "Metrics (per period, dimension Target): SuccessRate (Percent), Latency with \
                  Percentile=p50|p99 (Milliseconds), Requests (Count).\n\
                  Exit codes: 0 run completed; 2 bad arguments, nothing sent; 3 no AWS \
                  credentials/region (use --no-metrics) or metrics not published."
)]
pub struct Args {
    /// Endpoint to call: http://host[:port]/path, or https:// (TLS with the system's roots).
    #[arg(long)]
    pub url: String,
    /// Requests per second (may be fractional, e.g. 0.5).
    #[arg(long, default_value = "10", allow_hyphen_values = true)]
    pub rate: String,
    /// Requests in flight at most; when all are busy, due requests are skipped, not queued
    /// (rate x timeout never skips).
    #[arg(long, default_value = "50", allow_hyphen_values = true)]
    pub concurrency: String,
    /// How long to send for, e.g. 30s, 2m, 1h.
    #[arg(long, default_value = "1m", allow_hyphen_values = true)]
    pub duration: String,
    /// Metrics period: one set of CloudWatch data points (and one summary line) per period.
    #[arg(long, default_value = "60s", allow_hyphen_values = true)]
    pub period: String,
    /// Per-request timeout (connect, headers and body); a timeout is a failure.
    #[arg(long, default_value = "5s", allow_hyphen_values = true)]
    pub timeout: String,
    /// HTTP method (sent without a body).
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Statuses that count as success: codes and classes, e.g. `2xx,404`.
    #[arg(long, default_value = "2xx")]
    pub ok_status: String,
    /// CloudWatch namespace of the metrics.
    #[arg(long, default_value = "faultline/traffic")]
    pub namespace: String,
    /// Value of the `Target` dimension [default: host:port of --url].
    #[arg(long)]
    pub name: Option<String>,
    /// Do not publish metrics (no AWS credentials needed).
    #[arg(long)]
    pub no_metrics: bool,
    /// Format of the final summary on stdout.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// How the final summary is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Readable lines.
    Text,
    /// One JSON document.
    Json,
}

/// A flag whose value cannot be used. Displayed as `--flag: why`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--{flag}: {reason}")]
pub struct ConfigError {
    /// The flag, without dashes.
    pub flag: &'static str,
    /// What is wrong and what is accepted.
    pub reason: String,
}

/// Above this, the schedule's interval falls below what timers and one process can keep.
const MAX_RATE: f64 = 100_000.0;
const DAY: Duration = Duration::from_secs(86_400);

/// More requests in flight than this would exhaust file descriptors long before the target.
const MAX_CONCURRENCY: usize = 10_000;

fn bad(flag: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        flag,
        reason: reason.into(),
    }
}

/// The endpoint, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The full URI requests go to.
    pub uri: hyper::Uri,
    /// Whether it is https.
    pub tls: bool,
    /// `host:port`, the default `Target` dimension.
    pub authority: String,
}

/// Which statuses are a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OkStatus {
    codes: Vec<u16>,
    classes: Vec<u16>,
}

impl OkStatus {
    /// Whether `status` counts as success.
    pub fn accepts(&self, status: u16) -> bool {
        self.codes.contains(&status) || self.classes.contains(&(status / 100))
    }
}

impl Default for OkStatus {
    fn default() -> Self {
        Self {
            codes: vec![],
            classes: vec![2],
        }
    }
}

/// A run that can be carried out: every value checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where requests go.
    pub target: Target,
    /// Requests per second, > 0.
    pub rate: f64,
    /// Requests in flight at most, > 0.
    pub concurrency: usize,
    /// Sending time, > 0.
    pub duration: Duration,
    /// Metrics period, >= 1s.
    pub period: Duration,
    /// Per-request timeout, > 0.
    pub timeout: Duration,
    /// HTTP method.
    pub method: hyper::Method,
    /// Success statuses.
    pub ok_status: OkStatus,
    /// CloudWatch namespace.
    pub namespace: String,
    /// `Target` dimension value.
    pub name: String,
    /// Publish metrics?
    pub metrics: bool,
    /// Summary format.
    pub output: Output,
}

impl TryFrom<Args> for Config {
    type Error = ConfigError;

    fn try_from(a: Args) -> Result<Self, ConfigError> {
        let target = parse_url(&a.url)?;
        let rate = parse_positive_f64("rate", &a.rate, "requests per second, e.g. 10 or 0.5")?;
        if rate > MAX_RATE {
            return Err(bad(
                "rate",
                format!("{rate} is above {MAX_RATE} req/s, more than one process can time"),
            ));
        }
        let concurrency = a
            .concurrency
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|c| (1..=MAX_CONCURRENCY).contains(c))
            .ok_or_else(|| {
                bad(
                    "concurrency",
                    format!(
                        "{:?} is not a whole number from 1 to {MAX_CONCURRENCY}",
                        a.concurrency
                    ),
                )
            })?;
        let duration = parse_duration("duration", &a.duration, 30 * DAY)?;
        let period = parse_duration("period", &a.period, DAY)?;
        if period < Duration::from_secs(1) {
            return Err(bad(
                "period",
                format!("{} is below 1s, CloudWatch's finest resolution", a.period),
            ));
        }
        let timeout = parse_duration("timeout", &a.timeout, DAY)?;
        let method = hyper::Method::from_bytes(a.method.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| bad("method", format!("{:?} is not an HTTP method", a.method)))?;
        let ok_status = parse_ok_status(&a.ok_status)?;
        let namespace = a.namespace.trim().to_owned();
        if a.namespace.is_empty() || namespace.len() > 255 || namespace.starts_with("AWS/") {
            return Err(bad(
                "namespace",
                "use 1 to 255 characters, not starting with AWS/ (reserved for AWS services)",
            ));
        }
        let name = a.name.unwrap_or_else(|| target.authority.clone());
        if name.is_empty() || name.len() > 1024 {
            return Err(bad("name", "use 1 to 1024 characters"));
        }
        Ok(Config {
            target,
            rate,
            concurrency,
            duration,
            period,
            timeout,
            method,
            ok_status,
            namespace,
            name,
            metrics: !a.no_metrics,
            output: a.output,
        })
    }
}

fn parse_url(s: &str) -> Result<Target, ConfigError> {
    let uri: hyper::Uri = s.trim().parse().map_err(|e| {
        bad(
            "url",
            format!("{s:?} is not a URL ({e}); give e.g. http://127.0.0.1:8080/health"),
        )
    })?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => {
            return Err(bad(
                "url",
                format!("scheme {other}:// is not supported; use http:// or https://"),
            ))
        }
        None => {
            return Err(bad(
                "url",
                format!("{s:?} has no scheme; give e.g. http://{s}"),
            ))
        }
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("url", format!("{s:?} has no host")))?;
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = format!("{host}:{port}");
    Ok(Target {
        uri,
        tls,
        authority,
    })
}

fn parse_positive_f64(flag: &'static str, s: &str, what: &str) -> Result<f64, ConfigError> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| bad(flag, format!("{s:?} must be a number above 0 ({what})")))
}

fn parse_duration(flag: &'static str, s: &str, max: Duration) -> Result<Duration, ConfigError> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if d.is_zero() => Err(bad(flag, format!("{s:?} must be longer than 0"))),
        Ok(d) if d > max => Err(bad(
            flag,
            format!("{s:?} is longer than {}", humantime::format_duration(max)),
        )),
        Ok(d) => Ok(d),
        Err(e) => Err(bad(
            flag,
            format!("{s:?} is not a duration ({e}); give e.g. 30s, 2m, 1h"),
        )),
    }
}

fn parse_ok_status(s: &str) -> Result<OkStatus, ConfigError> {
    let mut ok = OkStatus {
        codes: vec![],
        classes: vec![],
    };
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let lower = item.to_ascii_lowercase();
        if let Some(class) = lower.strip_suffix("xx") {
            match class.parse::<u16>() {
                Ok(c @ 1..=5) if class.len() == 1 => ok.classes.push(c),
                _ => {
                    return Err(bad(
                        "ok-status",
                        format!("{item:?} is not a class 1xx..5xx"),
                    ))
                }
            }
        } else {
            match item.parse::<u16>() {
                Ok(c @ 100..=599) => ok.codes.push(c),
                _ => {
                    return Err(bad(
                        "ok-status",
                        format!("{item:?} is not a status 100..599 or a class like 2xx"),
                    ))
                }
            }
        }
    }
    if ok.codes.is_empty() && ok.classes.is_empty() {
        return Err(bad("ok-status", "give at least one status, e.g. 2xx"));
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut v = vec!["faultline-traffic", "--url", "http://127.0.0.1:8080/x"];
        v.extend_from_slice(extra);
        Args::try_parse_from(v).unwrap()
    }

    fn err(extra: &[&str]) -> ConfigError {
        Config::try_from(args(extra)).unwrap_err()
    }

    #[test]
    fn defaults_are_valid_and_name_is_host_port() {
        let c = Config::try_from(args(&[])).unwrap();
        assert_eq!(c.name, "127.0.0.1:8080");
        assert_eq!(c.period, Duration::from_secs(60));
        assert_eq!(c.method, hyper::Method::GET);
        assert!(c.metrics && !c.target.tls);
        assert!(c.ok_status.accepts(204) && !c.ok_status.accepts(301));
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        assert_eq!(
            parse_url("http://example.com/").unwrap().authority,
            "example.com:80"
        );
        let t = parse_url("https://example.com").unwrap();
        assert_eq!((t.authority.as_str(), t.tls), ("example.com:443", true));
    }

    #[test]
    fn each_bad_value_names_its_flag() {
        assert_eq!(err(&["--rate", "0"]).flag, "rate");
        assert_eq!(err(&["--rate", "-1"]).flag, "rate");
        assert_eq!(err(&["--rate", "NaN"]).flag, "rate");
        assert_eq!(err(&["--rate", "1e12"]).flag, "rate");
        assert_eq!(err(&["--duration", "1000y"]).flag, "duration");
        assert_eq!(err(&["--timeout", "2days"]).flag, "timeout");
        assert_eq!(err(&["--concurrency", "0"]).flag, "concurrency");
        assert_eq!(err(&["--concurrency", "10001"]).flag, "concurrency");
        assert_eq!(err(&["--duration", "5 parsecs"]).flag, "duration");
        assert_eq!(err(&["--duration", "0s"]).flag, "duration");
        assert_eq!(err(&["--period", "500ms"]).flag, "period");
        assert_eq!(err(&["--timeout", "x"]).flag, "timeout");
        assert_eq!(err(&["--method", "GE T"]).flag, "method");
        assert_eq!(err(&["--ok-status", "2x"]).flag, "ok-status");
        assert_eq!(err(&["--ok-status", "700"]).flag, "ok-status");
        assert_eq!(err(&["--namespace", "AWS/EC2"]).flag, "namespace");
        for url in ["ftp://h/", "127.0.0.1:8080", "not a url", "http:///x"] {
            let e = Config::try_from(Args {
                url: url.to_owned(),
                ..args(&[])
            })
            .unwrap_err();
            assert_eq!(e.flag, "url", "{url}");
        }
        assert!(err(&["--rate", "0"]).to_string().starts_with("--rate: "));
    }

    #[test]
    fn ok_status_takes_codes_and_classes() {
        let ok = parse_ok_status("2xx, 404").unwrap();
        assert!(ok.accepts(200) && ok.accepts(299) && ok.accepts(404));
        assert!(!ok.accepts(500) && !ok.accepts(403));
        let c = Config::try_from(args(&["--rate", "0.5", "--method", "post"])).unwrap();
        assert_eq!((c.rate, c.method), (0.5, hyper::Method::POST));
    }
}

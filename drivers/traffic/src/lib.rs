//! faultline-traffic: a steady-state traffic driver. It calls one HTTP endpoint at a fixed rate
//! for a duration, shows success rate and latency live, and publishes them to CloudWatch every
//! period, so an alarm on them can be an experiment's stop condition (the monkey refuses to act
//! while such an alarm is not OK).
//!
//! # Layout
//!
//! - [`config`]: the flags (clap) and the validated [`config::Config`]; errors name the flag.
//! - [`client`]: the pooled hyper client (http, https via rustls); one request →
//!   [`stats::RequestOutcome`].
//! - [`driver`]: the open-loop schedule, the concurrency limit, periods and progress events.
//! - [`stats`]: per-period and whole-run counts, and the final [`stats::Summary`].
//! - [`histogram`]: the latency histogram for p50 / p99 (`hdrhistogram`, 3 significant digits).
//! - [`metrics`]: a period's CloudWatch data points (`SuccessRate`, `Latency`, `Requests`).
//! - [`live`]: the status line on stderr.

pub mod client;
pub mod config;
pub mod driver;
pub mod histogram;
pub mod live;
pub mod metrics;
pub mod stats;

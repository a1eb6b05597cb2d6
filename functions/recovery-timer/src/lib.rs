//! The faultline recovery timer Lambda: on an Auto Scaling launch / terminate event, a
//! CloudWatch alarm state change or the one-minute backstop schedule, re-evaluates every open
//! experiment record, closes the ones that recovered (or timed out) exactly once, and publishes
//! the time-to-recover to SNS and CloudWatch. Decisions live in `faultline_core::recovery`.
//!
//! # Layout
//!
//! - [`config`]: the function's environment variables, read once into [`config::TimerConfig`].
//! - [`event`]: what triggered the run, parsed from the EventBridge shapes.
//! - [`handler`]: open records (one query) → observe → decide → close (conditional update,
//!   publish, metrics), and its error type with stable `error_type`s.

pub mod config;
pub mod event;
pub mod handler;

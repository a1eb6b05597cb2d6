//! The faultline monkey Lambda: scheduled event → guards → pick targets → act → record →
//! notify. All decisions live in `faultline_core::round`; this crate adapts them to Lambda.
//!
//! # Layout
//!
//! - [`config`]: the function's environment variables, read once into [`Settings`].
//! - [`handler`]: the event handler and its error type with stable `error_type`s.
//!
//! [`Settings`]: faultline_core::round::Settings

pub mod config;
pub mod handler;

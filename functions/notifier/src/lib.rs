//! The faultline notifier Lambda: each SNS message (injected, refused, recovered, not
//! recovered) to a Slack incoming webhook as Block Kit, coloured by event.
//!
//! The webhook URL is a secret: it comes from an SSM `SecureString` parameter, decrypted once
//! per container, and is never logged (HTTP errors are logged by their top-level message only).
//!
//! # Layout
//!
//! - [`config`]: the function's environment variables, read once into [`config::NotifierConfig`].
//! - [`slack`]: pure: the SNS event, the Block Kit payload, the retry policy.
//! - [`handler`]: fetch the webhook, post with retries, fail the invocation on a permanent
//!   failure so SNS (and its DLQ) keeps the message.

pub mod config;
pub mod handler;
pub mod slack;

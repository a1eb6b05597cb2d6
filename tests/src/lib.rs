//! Test harness for the end-to-end tests: a private `moto_server` per test (so cases never see
//! each other's resources), fleet seeding through the real AWS SDK, what SNS received, and the
//! Lambda Runtime API emulator running the real function binaries.
//!
//! # Layout
//!
//! - [`moto`]: [`Moto`] starts and stops a `moto_server` on a free port, gives an SDK config
//!   pointing at it and reads back what it holds ([`SnsMessage`]s, schedules, parameters).
//! - [`fleet`]: [`Fleet`] seeds launch templates, groups, instances, alarms and topics, and
//!   reads state back; [`instance_ids`] reads a round result.
//! - [`emulator`]: [`start_runtime_api`] starts `cargo lambda watch --only-lambda-apis` (also
//!   used by the layer's test chain); [`Emulator`] attaches a function binary to it and invokes
//!   over HTTP; [`Logs`] holds the function's captured log lines.
//! - [`slack`]: [`SlackServer`], a local Slack webhook that captures requests ([`Captured`])
//!   and answers from a script of [`Reply`]s.
//! - [`paths`]: the workspace root, the venv, built binaries.
//! - [`sent`]: [`SentCommands`], which records the `SendCommand` inputs an SSM client sends.
//! - [`wait`]: free ports, waiting for a port, polling a condition.
//! - [`iam`], [`terraform`]: the IAM policy checks and the Terraform runner.
//!
//! Everything a test uses is re-exported here (`faultline_e2e::Moto`, `faultline_e2e::poll`,
//! ...).
//!
//! Binaries and tools are found, never built or installed here: `make test` builds and
//! `scripts/local-aws install` installs; a missing piece fails with a message saying which
//! command provides it.

pub mod emulator;
pub mod fleet;
pub mod iam;
pub mod moto;
pub mod paths;
pub mod sent;
pub mod slack;
pub mod terraform;
pub mod wait;

pub use emulator::{start_runtime_api, Emulator, Logs};
pub use fleet::{instance_ids, Fleet, AMI, OPT_IN};
pub use moto::{Moto, SnsMessage, REGION};
pub use paths::{built_binary, venv, workspace_root};
pub use sent::SentCommands;
pub use slack::{Captured, Reply, SlackServer};
pub use wait::{free_port, poll, wait_for_port};

//! The faultline layer's fault engine, shared by the Runtime API proxy extension and the tower
//! middleware.
//!
//! # Layout
//!
//! - [`config`]: both failure-lambda formats (1.x per-mode flags, 0.x single mode) plus
//!   `expires_at`, read as failure-lambda reads them (unknown keys ignored, invalid flags
//!   skipped, failure-lambda's defaults) into [`config::FaultConfig`].
//! - [`pattern`]: deny-list and `match` pattern checks (failure-lambda's refusals, the shim's
//!   limits) and the deny patterns' translation into the shim's POSIX ERE; owns
//!   [`pattern::MAX_PATTERN_LEN`]. Imports run one way: `config` -> `pattern`.
//! - [`plan`]: which faults apply to one invocation, as a [`plan::InvocationPlan`] (pure; clock
//!   reading and RNG passed in).
//! - [`killswitch`]: the kill switch, read as the monkey reads it: only `true` lets faults
//!   through.
//! - [`live`]: the configuration cache: config and kill switch in one `GetParameters` read at
//!   start, then a background task re-reads every few seconds while a fault is active (every
//!   TTL otherwise); fail open (config) and fail safe (kill switch), one log line per problem.
//! - [`effects`]: disk fill, deny-list file, deadline arithmetic, injected responses, corruption.
//! - `residue`: the `diskspace` files (and the deny-list file), removed as soon as their fault
//!   is no longer in force, by a janitor task and before every invocation.
//! - [`engine`]: [`engine::Engine`], which runs a plan before the handler and says what to do
//!   next ([`engine::Injection`]).
//!
//! The public names carry the layer's prefix (`EngineSettings`, `EngineClock`, `LayerFault`,
//! `InvocationPlan`, ...) so they never read like faultline-core's `Settings`, `Clock`, `Fault`
//! or `Plan`.

pub mod config;
pub mod effects;
pub mod engine;
pub mod killswitch;
pub mod live;
pub mod pattern;
pub mod plan;
mod residue;

pub use config::{ConfigError, FaultConfig};
pub use engine::{Engine, EngineClock, EngineSettings, EventRef, Injection, SystemEngineClock};
pub use killswitch::Halt;
pub use live::{Cadence, Fetched, LiveConfig, MemorySource, Source, SsmSource};

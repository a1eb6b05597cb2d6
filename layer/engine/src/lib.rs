//! The faultline layer's fault engine, shared by the Runtime API proxy extension and the tower
//! middleware.
//!
//! # Layout
//!
//! - [`config`]: both failure-lambda formats (1.x per-mode flags, 0.x single mode) plus
//!   `expires_at`, parsed and validated into [`config::FaultConfig`].
//! - [`pattern`]: deny-list pattern checks (length, portable subset, no regex bombs); owns
//!   [`pattern::MAX_PATTERN_LEN`], which [`config`] also applies to `match` regexes. Imports
//!   run one way: `config` -> `pattern`.
//! - [`plan`]: which faults apply to one invocation, as a [`plan::InvocationPlan`] (pure; clock
//!   reading and RNG passed in).
//! - [`live`]: the configuration cache: first fetch at start, background refresh after the
//!   TTL, fail open with one log line per problem.
//! - [`effects`]: disk fill, deny-list file, deadline arithmetic, injected responses, corruption.
//! - [`engine`]: [`engine::Engine`], which runs a plan before the handler and says what to do
//!   next ([`engine::Injection`]).
//!
//! The public names carry the layer's prefix (`EngineSettings`, `EngineClock`, `LayerFault`,
//! `InvocationPlan`, ...) so they never read like faultline-core's `Settings`, `Clock`, `Fault`
//! or `Plan`.

pub mod config;
pub mod effects;
pub mod engine;
pub mod live;
pub mod pattern;
pub mod plan;

pub use config::{ConfigError, FaultConfig};
pub use engine::{Engine, EngineClock, EngineSettings, EventRef, Injection, SystemEngineClock};
pub use live::{LiveConfig, Source, SsmSource, StaticSource};

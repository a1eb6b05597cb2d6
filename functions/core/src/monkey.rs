//! One scheduled invocation of the monkey, independent of the Lambda runtime: the payload is
//! parsed into an [`Invocation`] (or refused, naming the field), then one [`round::run`]. The
//! monkey function adapts this to `lambda_runtime`; the tests drive it directly.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::aws::Aws;
use crate::clock::{Clock, SystemClock};
use crate::outcome::{RoundError, RoundResult};
use crate::round;
use crate::settings::Settings;
use crate::spec::{Invocation, SpecError};

/// Why an invocation failed. Refusals are not errors: they are results.
#[derive(Debug, thiserror::Error)]
pub enum MonkeyError {
    /// The payload is not a valid experiment; nothing was touched.
    #[error("{0}. Fix the schedule's input; nothing was changed")]
    InvalidSpec(#[from] SpecError),
    /// AWS failed before anything was touched.
    #[error(transparent)]
    Aws(#[from] RoundError),
}

impl MonkeyError {
    /// A stable name for the error (the Lambda's `errorType`).
    pub fn error_type(&self) -> &'static str {
        match self {
            MonkeyError::InvalidSpec(_) => "InvalidSpec",
            MonkeyError::Aws(_) => "AwsError",
        }
    }
}

/// The monkey: its clients and settings, built once per container.
pub struct Monkey {
    aws: Aws,
    settings: Settings,
    clock: Box<dyn Clock>,
    seed: Option<u64>,
    invocations: AtomicU64,
}

impl Monkey {
    /// A monkey on the system clock and an entropy-seeded RNG.
    pub fn new(aws: Aws, settings: Settings) -> Self {
        Self {
            aws,
            settings,
            clock: Box::new(SystemClock),
            seed: None,
            invocations: AtomicU64::new(0),
        }
    }

    /// The same, with a fixed clock and RNG seed (tests). The n-th invocation uses seed + n, so
    /// generated ids differ between invocations yet every run of a test is the same.
    pub fn with_clock_and_seed(mut self, clock: Box<dyn Clock>, seed: u64) -> Self {
        self.clock = clock;
        self.seed = Some(seed);
        self
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Handles one invocation's payload.
    pub async fn handle(&self, payload: Value) -> Result<RoundResult, MonkeyError> {
        let mut rng = match self.seed {
            Some(s) => StdRng::seed_from_u64(s + self.invocations.fetch_add(1, Ordering::Relaxed)),
            None => StdRng::from_entropy(),
        };
        let inv = Invocation::from_value(payload, self.clock.now(), rng.gen())
            .inspect_err(|e| tracing::error!(path = %e.path, error = %e.message, decision = "invalid_spec", "rejected the payload"))?;
        let result = round::run(
            &self.aws,
            &self.settings,
            &inv,
            self.clock.as_ref(),
            &mut rng,
        )
        .await?;
        Ok(result)
    }
}

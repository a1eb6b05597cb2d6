//! The monkey's event handler: parse the payload, run one round, return its result.

use faultline_core::aws::Aws;
use faultline_core::round::{self, Clock, RoundError, RoundResult, Settings, SystemClock};
use faultline_core::spec::{Invocation, SpecError};
use lambda_runtime::{Diagnostic, LambdaEvent};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

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

impl From<MonkeyError> for Diagnostic {
    fn from(e: MonkeyError) -> Diagnostic {
        let error_type = match e {
            MonkeyError::InvalidSpec(_) => "InvalidSpec",
            MonkeyError::Aws(_) => "AwsError",
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
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

    /// Handles one invocation.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<RoundResult, MonkeyError> {
        let mut rng = match self.seed {
            Some(s) => StdRng::seed_from_u64(s + self.invocations.fetch_add(1, Ordering::Relaxed)),
            None => StdRng::from_entropy(),
        };
        let inv = Invocation::from_value(event.payload, self.clock.now(), rng.gen())
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

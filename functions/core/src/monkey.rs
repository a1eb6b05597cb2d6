//! One scheduled invocation of the monkey, independent of the Lambda runtime: the payload is
//! parsed into an [`Invocation`] (or refused, naming the field), then one [`round::run`], or,
//! for `"phase": "plan-start"`, the random start of the experiment drawn and scheduled (a
//! one-shot EventBridge Scheduler `at()` schedule that invokes the monkey itself). The monkey
//! function adapts this to `lambda_runtime`; the tests drive it directly.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::Value;

use crate::aws::{scheduler, Aws, AwsError};
use crate::calendar::{self, StartOutcome, StartPlan};
use crate::clock::{Clock, SystemClock};
use crate::outcome::{RoundError, RoundResult};
use crate::round;
use crate::settings::{vars, Settings};
use crate::spec::{Invocation, Purpose, SpecError, Start};

/// Why an invocation failed. Refusals are not errors: they are results.
#[derive(Debug, thiserror::Error)]
pub enum MonkeyError {
    /// The payload is not a valid experiment; nothing was touched.
    #[error("{0}. Fix the schedule's input; nothing was changed")]
    InvalidSpec(#[from] SpecError),
    /// AWS failed before anything was touched.
    #[error(transparent)]
    Aws(#[from] RoundError),
    /// A plan-start that cannot be carried out as configured; nothing was created.
    #[error("{0}; nothing was scheduled")]
    PlanStart(String),
    /// Creating the one-shot schedule failed; nothing was scheduled.
    #[error("{0}. The next plan-start tries again")]
    Schedule(#[from] AwsError),
}

impl MonkeyError {
    /// A stable name for the error (the Lambda's `errorType`).
    pub fn error_type(&self) -> &'static str {
        match self {
            MonkeyError::InvalidSpec(_) => "InvalidSpec",
            MonkeyError::Aws(_) | MonkeyError::Schedule(_) => "AwsError",
            MonkeyError::PlanStart(_) => "InvalidPlanStart",
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

    /// Handles one invocation's payload that runs a round. A plan-start needs the monkey's
    /// own ARN: [`Monkey::handle_event`].
    pub async fn handle(&self, payload: Value) -> Result<RoundResult, MonkeyError> {
        let (inv, mut rng) = self.parse(payload)?;
        match inv.purpose {
            Purpose::Run => self.run(&inv, &mut rng).await,
            Purpose::PlanStart => Err(MonkeyError::PlanStart(
                "a plan-start needs the monkey's own function ARN to schedule it: invoke the \
                 deployed function"
                    .to_owned(),
            )),
        }
    }

    /// Handles one invocation's payload: a round, or a plan-start scheduling one at a random
    /// minute. `function_arn` is the monkey's own ARN (the Lambda context's
    /// `invoked_function_arn`), the target of the one-shot schedule.
    pub async fn handle_event(
        &self,
        payload: Value,
        function_arn: &str,
    ) -> Result<Handled, MonkeyError> {
        let (inv, mut rng) = self.parse(payload)?;
        match inv.purpose {
            Purpose::Run => Ok(Handled::Round(self.run(&inv, &mut rng).await?)),
            Purpose::PlanStart => Ok(Handled::Start(self.plan_start(&inv, function_arn).await?)),
        }
    }

    fn parse(&self, payload: Value) -> Result<(Invocation, StdRng), MonkeyError> {
        let mut rng = match self.seed {
            Some(s) => StdRng::seed_from_u64(s + self.invocations.fetch_add(1, Ordering::Relaxed)),
            None => StdRng::from_entropy(),
        };
        let inv = Invocation::from_value(payload, self.clock.now(), rng.gen())
            .inspect_err(|e| tracing::error!(path = %e.path, error = %e.message, decision = "invalid_spec", "rejected the payload"))?;
        Ok((inv, rng))
    }

    async fn run(&self, inv: &Invocation, rng: &mut StdRng) -> Result<RoundResult, MonkeyError> {
        Ok(round::run(&self.aws, &self.settings, inv, self.clock.as_ref(), rng).await?)
    }

    /// Draws the random start of an experiment with `"start": "random"` and creates its
    /// one-shot schedule. The minute is drawn from the execution id (and the test seed) and
    /// the schedule's time, so a redelivered plan-start draws the same minute, finds the
    /// schedule's name taken and creates nothing.
    async fn plan_start(
        &self,
        inv: &Invocation,
        function_arn: &str,
    ) -> Result<StartPlan, MonkeyError> {
        let exp = &inv.experiment;
        match exp.start {
            Start::Random => {}
            Start::Schedule => {
                return Err(MonkeyError::PlanStart(format!(
                    "experiment {}: \"phase\": \"plan-start\" is for experiments with \
                     \"start\": \"random\"; this one starts on its schedule",
                    exp.name
                )))
            }
        }
        let missing = |var: &str| {
            MonkeyError::PlanStart(format!(
                "{var} is not set: a random start needs it (Terraform sets it on the monkey)"
            ))
        };
        let cal = &self.settings.calendar;
        let group = cal
            .schedule_group
            .as_deref()
            .ok_or_else(|| missing(vars::SCHEDULE_GROUP))?;
        let role = cal
            .scheduler_role_arn
            .as_deref()
            .ok_or_else(|| missing(vars::SCHEDULER_ROLE_ARN))?;
        if !function_arn.starts_with("arn:") {
            return Err(MonkeyError::PlanStart(format!(
                "{function_arn:?} is not the monkey's function ARN"
            )));
        }
        let now = self.clock.now();
        let base = inv.scheduled_time.unwrap_or(now);
        let mut rng = StdRng::seed_from_u64(
            calendar::seed_of(inv.execution_id.as_str()) ^ self.seed.unwrap_or(0),
        );
        let mut plan = StartPlan {
            experiment: exp.name.clone(),
            execution_id: inv.execution_id.to_string(),
            outcome: StartOutcome::NothingPlanned,
            at: None,
            schedule: None,
            reason: String::new(),
        };
        let windows = &exp.guards.windows;
        let Some(at) = calendar::random_start(windows, base, &mut rng) else {
            let list: Vec<String> = windows.iter().map(ToString::to_string).collect();
            plan.reason = format!(
                "nothing planned: no window ({}) opens in the 24 hours after {}",
                list.join("; "),
                base.format("%Y-%m-%d %H:%M UTC")
            );
            tracing::info!(experiment = %exp.name, reason = %plan.reason, decision = "nothing_planned", "plan-start");
            return Ok(plan);
        };
        plan.at = Some(at);
        if at <= now {
            plan.reason = format!(
                "nothing planned: the minute drawn ({}) has passed (a late redelivery of the plan-start)",
                at.format("%Y-%m-%d %H:%M UTC")
            );
            tracing::warn!(experiment = %exp.name, reason = %plan.reason, decision = "nothing_planned", "plan-start");
            return Ok(plan);
        }
        let name = calendar::schedule_name(&exp.name, at);
        let input = serde_json::json!({
            "execution_id": "<aws.scheduler.execution-id>",
            "scheduled_time": "<aws.scheduler.scheduled-time>",
            "experiment": inv.spec,
        })
        .to_string();
        let expression = calendar::at_expression(at);
        let description = format!("faultline: random start of {}", exp.name);
        let created = scheduler::create_one_shot(
            &self.aws.scheduler,
            &scheduler::OneShot {
                group,
                name: &name,
                expression: &expression,
                target_arn: function_arn,
                role_arn: role,
                input: &input,
                description: &description,
            },
        )
        .await?;
        plan.outcome = match created {
            scheduler::Created::New => StartOutcome::Planned,
            scheduler::Created::AlreadyExists => StartOutcome::AlreadyPlanned,
        };
        plan.reason = match created {
            scheduler::Created::New => format!(
                "planned: the round runs at {} ({expression} in group {group})",
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            scheduler::Created::AlreadyExists => format!(
                "already planned: schedule {name} exists (a redelivered plan-start); nothing created"
            ),
        };
        plan.schedule = Some(name);
        tracing::info!(experiment = %exp.name, at = %at, schedule = ?plan.schedule, outcome = ?plan.outcome,
                       decision = "planned", "plan-start");
        Ok(plan)
    }
}

/// What one invocation did: a round, or a plan-start.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
// One per invocation, returned at once: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Handled {
    /// A round ran (or was refused).
    Round(RoundResult),
    /// A random start was planned (or not).
    Start(StartPlan),
}

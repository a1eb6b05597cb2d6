//! EventBridge Scheduler: the one-shot `at()` schedule of an experiment's random start.

use aws_sdk_scheduler::operation::create_schedule::CreateScheduleError;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, Target,
};

use super::AwsError;

/// A one-shot schedule to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneShot<'a> {
    /// The schedule group.
    pub group: &'a str,
    /// The schedule's name (unique in the group).
    pub name: &'a str,
    /// `at(yyyy-mm-ddThh:mm:ss)`, in UTC.
    pub expression: &'a str,
    /// What it invokes (the monkey's ARN).
    pub target_arn: &'a str,
    /// The role the scheduler assumes to invoke it.
    pub role_arn: &'a str,
    /// The invocation's input.
    pub input: &'a str,
    /// Shown on the schedule.
    pub description: &'a str,
}

/// Whether a create found the schedule already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// Created now.
    New,
    /// A schedule of that name exists (`ConflictException`): nothing created.
    AlreadyExists,
}

/// `CreateSchedule` of a one-shot schedule in UTC, deleted by the scheduler once it has run,
/// never retried (the round's execution id makes a retry a refused duplicate anyway).
pub async fn create_one_shot(
    client: &aws_sdk_scheduler::Client,
    s: &OneShot<'_>,
) -> Result<Created, AwsError> {
    let target = Target::builder()
        .arn(s.target_arn)
        .role_arn(s.role_arn)
        .input(s.input)
        .retry_policy(
            RetryPolicy::builder()
                .maximum_retry_attempts(0)
                .maximum_event_age_in_seconds(3600)
                .build(),
        )
        .build()
        .map_err(|e| AwsError::new("CreateSchedule", e))?;
    let window = FlexibleTimeWindow::builder()
        .mode(FlexibleTimeWindowMode::Off)
        .build()
        .map_err(|e| AwsError::new("CreateSchedule", e))?;
    match client
        .create_schedule()
        .group_name(s.group)
        .name(s.name)
        .schedule_expression(s.expression)
        .schedule_expression_timezone("UTC")
        .flexible_time_window(window)
        .action_after_completion(ActionAfterCompletion::Delete)
        .description(s.description)
        .target(target)
        .send()
        .await
    {
        Ok(_) => Ok(Created::New),
        Err(e) => match e.into_service_error() {
            CreateScheduleError::ConflictException(_) => Ok(Created::AlreadyExists),
            e => Err(AwsError::new("CreateSchedule", e)),
        },
    }
}

//! The monkey's entry point: tracing, settings, SDK clients (once), then the runtime loop.

use anyhow::Context;
use faultline_core::aws::Aws;
use faultline_core::monkey::Monkey;
use faultline_core::settings::settings_from;
use faultline_monkey::diagnostic;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    faultline_core::logging::init_lambda();

    let settings = settings_from(|k| std::env::var(k).ok())
        .map_err(anyhow::Error::msg)
        .context("invalid monkey configuration")?;
    let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let aws = Aws::new(&conf);
    // Warm up during init (billed at full CPU and not to the first invocation): resolve
    // credentials and open the TLS connection with one cheap read of the kill switch.
    if let Err(e) = faultline_core::aws::ssm::get(&aws.ssm, &settings.kill_switch_param).await {
        tracing::warn!(error = %e, "warm-up read of the kill switch failed; the first round will retry");
    }
    let monkey = Monkey::new(aws, settings);
    let monkey = &monkey;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| async move {
        // The monkey's own ARN: the target of a random start's one-shot schedule.
        monkey
            .handle_event(ev.payload, &ev.context.invoked_function_arn)
            .await
            .map_err(diagnostic)
    }))
    .await
}

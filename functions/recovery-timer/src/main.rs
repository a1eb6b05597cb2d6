//! The recovery timer's entry point: tracing, settings, SDK clients (once), then the runtime
//! loop.

use anyhow::Context;
use faultline_core::aws::Aws;
use faultline_recovery_timer::config::settings_from;
use faultline_recovery_timer::handler::Timer;
use faultline_report::store;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    faultline_core::logging::init_lambda();

    let settings = settings_from(|k| std::env::var(k).ok())
        .map_err(anyhow::Error::msg)
        .context("invalid recovery-timer configuration")?;
    let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let timer = Timer::new(Aws::new(&conf), settings).with_reports(store::client(&conf));
    timer.warm().await;
    let timer = &timer;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| async move {
        timer.handle(ev).await
    }))
    .await
}

//! The notifier's entry point: tracing, settings, the SSM client (once), then the runtime
//! loop.

use anyhow::Context;
use faultline_notifier::config::settings_from;
use faultline_notifier::handler::Notifier;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    faultline_core::logging::init_lambda();

    let settings = settings_from(|k| std::env::var(k).ok())
        .map_err(anyhow::Error::msg)
        .context("invalid notifier configuration")?;
    let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let notifier = Notifier::new(aws_sdk_ssm::Client::new(&conf), settings)?;
    notifier.warm().await;
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| async move {
        notifier.handle(ev).await
    }))
    .await
}

//! A no-op function for the proxy benchmark: answers `{}` to every event. The event is checked
//! as JSON but not built into a value (`IgnoredAny`), so the function's own work, and its
//! variance, stay small beside what the benchmark measures: the path from the Runtime API to the
//! handler and back.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::de::IgnoredAny;
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<IgnoredAny>| async {
        Ok::<Value, Error>(json!({}))
    }))
    .await
}

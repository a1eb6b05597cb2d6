//! A Rust function for the layer's end-to-end tests. The event says what to do:
//!
//! - `"marker": PATH`: write PATH first (the side effect that proves the handler ran),
//! - `"fail": MSG`: fail with error type `TestFailure` and message MSG,
//! - `"size": N`: answer with a string of N bytes,
//! - otherwise: answer with the event and what the runtime saw in the invocation headers.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};

async fn handle(ev: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let (event, ctx) = ev.into_parts();
    if let Some(path) = event["marker"].as_str() {
        std::fs::write(path, ctx.request_id.as_bytes()).map_err(|e| Diagnostic {
            error_type: "MarkerFailed".into(),
            error_message: e.to_string(),
        })?;
    }
    if let Some(msg) = event["fail"].as_str() {
        return Err(Diagnostic {
            error_type: "TestFailure".into(),
            error_message: msg.to_owned(),
        });
    }
    if let Some(n) = event["size"].as_u64() {
        return Ok(Value::String("x".repeat(n as usize)));
    }
    Ok(json!({
        "event": event,
        "seen": {
            "request_id": ctx.request_id,
            "deadline": ctx.deadline,
            "invoked_function_arn": ctx.invoked_function_arn,
            "xray_trace_id": ctx.xray_trace_id,
            "client_context": ctx.client_context.is_some(),
            "identity": ctx.identity.is_some(),
        }
    }))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(handle)).await
}

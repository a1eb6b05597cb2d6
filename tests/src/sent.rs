//! [`SentCommands`]: an SDK interceptor that records every `SendCommand` input an SSM client
//! sends, so a test can check exactly which instances and parameters were asked for (moto's
//! `ListCommands` lists every instance as a command's target, whatever was sent).

use std::sync::{Arc, Mutex};

use aws_sdk_ssm::operation::send_command::SendCommandInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Records every SendCommand input an SSM client sends; add it with `.interceptor(..)`.
#[derive(Debug, Clone, Default)]
pub struct SentCommands(pub Arc<Mutex<Vec<SendCommandInput>>>);

impl Intercept for SentCommands {
    fn name(&self) -> &'static str {
        "faultline-tests::SentCommands"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(input) = context.input().downcast_ref::<SendCommandInput>() {
            self.0.lock().unwrap().push(input.clone());
        }
        Ok(())
    }
}

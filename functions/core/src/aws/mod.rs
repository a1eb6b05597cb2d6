//! Thin AWS adapters: each function makes the calls for one need and returns domain types.
//!
//! All clients come from one `SdkConfig` and share a [`CallCounter`], so a round can report
//! how many HTTP requests it made. Errors are printed with `DisplayErrorContext`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;

pub mod autoscaling;
pub mod cloudwatch;
pub mod ec2;
pub mod instances;
pub mod lambda;
pub mod records;
pub mod scheduler;
pub mod sns;
pub mod ssm;
pub mod vpc;

/// An AWS call that failed, with the operation's name and the full error chain.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {detail}")]
pub struct AwsError {
    /// The API operation, e.g. `DescribeInstances`.
    pub operation: &'static str,
    /// The error with its context (service code, message, HTTP status).
    pub detail: String,
}

impl AwsError {
    pub(crate) fn new<E: std::error::Error>(operation: &'static str, err: E) -> Self {
        Self {
            operation,
            detail: DisplayErrorContext(&err).to_string(),
        }
    }
}

/// Counts the HTTP requests (attempts, retries included) that the clients send, in all and
/// per operation.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    total: Arc<AtomicU64>,
    by_operation: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CallCounter {
    /// Requests sent so far.
    pub fn get(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Requests sent so far per operation (`Query`, `UpdateItem`, ...).
    pub fn by_operation(&self) -> BTreeMap<String, u64> {
        self.by_operation
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Requests sent so far for one operation.
    pub fn of(&self, operation: &str) -> u64 {
        self.by_operation().get(operation).copied().unwrap_or(0)
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "faultline::CallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.total.fetch_add(1, Ordering::Relaxed);
        if let (Some(m), Ok(mut counts)) = (cfg.load::<Metadata>(), self.by_operation.lock()) {
            *counts.entry(m.name().to_owned()).or_default() += 1;
        }
        Ok(())
    }
}

/// The clients a round uses, all built from one `SdkConfig`.
#[derive(Debug, Clone)]
pub struct Aws {
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// Auto Scaling.
    pub autoscaling: aws_sdk_autoscaling::Client,
    /// SSM (kill switch, Run Command).
    pub ssm: aws_sdk_ssm::Client,
    /// DynamoDB (experiment records, through [`records::Records`]).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SNS.
    pub sns: aws_sdk_sns::Client,
    /// CloudWatch (alarms).
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// Lambda (the functions of Lambda experiments).
    pub lambda: aws_sdk_lambda::Client,
    /// The Resource Groups Tagging API (opted-in functions by tag).
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    /// EventBridge Scheduler (the one-shot schedules of random starts).
    pub scheduler: aws_sdk_scheduler::Client,
    /// Requests made through all of the above.
    pub calls: CallCounter,
}

impl Aws {
    /// Builds every client from `conf`, each counting its requests.
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        let calls = CallCounter::default();
        Self {
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            autoscaling: aws_sdk_autoscaling::Client::from_conf(
                aws_sdk_autoscaling::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            sns: aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            tagging: aws_sdk_resourcegroupstagging::Client::from_conf(
                aws_sdk_resourcegroupstagging::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            scheduler: aws_sdk_scheduler::Client::from_conf(
                aws_sdk_scheduler::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            calls,
        }
    }
}

/// `code: message` of a service error, for per-target reports.
pub(crate) fn short<E>(err: &E) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error,
{
    match (err.code(), err.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        _ => DisplayErrorContext(err).to_string(),
    }
}

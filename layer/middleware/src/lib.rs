//! In-process fault injection for Rust functions on `lambda_runtime`: the same engine, config
//! and faults as the faultline extension, with no extension and no wrapper.
//!
//! ```no_run
//! use faultline_layer_middleware::FaultLayer;
//! use lambda_runtime::{service_fn, Error, LambdaEvent};
//! use serde_json::Value;
//! use tower_layer::Layer;
//!
//! async fn handler(ev: LambdaEvent<Value>) -> Result<Value, Error> {
//!     Ok(ev.payload)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     // Reads FAILURE_INJECTION_PARAM / FAULTLINE_CONFIG_PARAM, FAULTLINE_KILL_SWITCH_PARAM
//!     // and friends once, at init; faults run only while the kill switch is `true`.
//!     let faults = FaultLayer::from_env().await;
//!     lambda_runtime::run(faults.layer(service_fn(handler))).await
//! }
//! ```
//!
//! `denylist` writes the deny-list file; host names fail to resolve only when the process runs
//! with the shim preloaded, which the layer's `faultline-bootstrap` wrapper does.
//!
//! # Layout
//!
//! - [`FaultLayer`]: the `tower` layer, built from the environment or around an [`Engine`].
//! - [`FaultService`]: runs the engine before the handler; answers, fails or corrupts as the
//!   plan says.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use faultline_layer_engine::effects::{self, INJECTED_ERROR_TYPE};
use faultline_layer_engine::{Engine, EngineSettings, EventRef, Injection};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;

/// The fault-injecting layer.
#[derive(Clone)]
pub struct FaultLayer {
    engine: Arc<Engine>,
}

impl FaultLayer {
    /// A layer around an engine the caller built (tests inject config, clock and seed).
    pub fn new(engine: Arc<Engine>) -> FaultLayer {
        FaultLayer { engine }
    }

    /// The production layer: settings from the environment, config and kill switch from SSM
    /// (client built once here, both read in one request), background reads started at once.
    /// Bad settings fail open with one log line.
    pub async fn from_env() -> FaultLayer {
        let settings = EngineSettings::from_lookup(|k| std::env::var(k).ok()).unwrap_or_else(|e| {
            eprintln!("faultline: fail open: no faults injected: {e}");
            EngineSettings::default()
        });
        let ssm = match settings.param {
            Some(_) => Some(aws_sdk_ssm::Client::new(
                &aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
            )),
            None => None,
        };
        FaultLayer::new(Arc::new(Engine::from_settings(&settings, ssm.as_ref())))
    }

    /// The engine (for diagnostics and tests).
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
}

impl<S> tower_layer::Layer<S> for FaultLayer {
    type Service = FaultService<S>;

    fn layer(&self, inner: S) -> FaultService<S> {
        FaultService {
            inner,
            engine: self.engine.clone(),
        }
    }
}

/// The handler wrapped by [`FaultLayer`].
#[derive(Clone)]
pub struct FaultService<S> {
    inner: S,
    engine: Arc<Engine>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower_service::Service<LambdaEvent<Value>> for FaultService<S>
where
    S: tower_service::Service<LambdaEvent<Value>, Response = Value> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Diagnostic>,
{
    type Response = Value;
    type Error = Diagnostic;
    type Future = BoxFuture<Result<Value, Diagnostic>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Diagnostic>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, ev: LambdaEvent<Value>) -> Self::Future {
        // The ready clone stays in `self`; the one that was polled ready goes into the future.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let engine = self.engine.clone();
        Box::pin(async move {
            let deadline = effects::deadline_from_header(ev.context.deadline, engine.now());
            let injection = engine.before(EventRef::Json(&ev.payload), deadline).await;
            match injection {
                Injection::Respond(v) => Ok(v),
                Injection::Fail(message) => Err(Diagnostic {
                    error_type: INJECTED_ERROR_TYPE.into(),
                    error_message: message,
                }),
                Injection::Run { corruption } => {
                    let out = inner.call(ev).await.map_err(Into::into)?;
                    Ok(match corruption {
                        None => out,
                        Some(replacement) => {
                            let bytes = serde_json::to_vec(&out).unwrap_or_default();
                            let c = effects::corrupt(&bytes, replacement.as_deref());
                            serde_json::from_slice(&c).unwrap_or_else(|_| {
                                Value::String(String::from_utf8_lossy(&c).into_owned())
                            })
                        }
                    })
                }
            }
        })
    }
}

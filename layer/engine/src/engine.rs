//! The engine both the proxy extension and the tower middleware drive: one call before the
//! handler (delays, side effects, short-circuits) and one after it (corruption).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rand::{rngs::StdRng, SeedableRng};
use serde_json::Value;
use tracing::{info, warn};

use crate::effects;
use crate::live::{LiveConfig, SsmSource};

/// Environment variables the layer reads.
pub mod vars {
    /// The SSM parameter holding the config (failure-lambda's name).
    pub const FAILURE_INJECTION_PARAM: &str = "FAILURE_INJECTION_PARAM";
    /// The same, faultline's name (wins when both are set).
    pub const CONFIG_PARAM: &str = "FAULTLINE_CONFIG_PARAM";
    /// Seconds between background refreshes (default 60).
    pub const CACHE_TTL: &str = "FAULTLINE_CACHE_TTL";
    /// How long the very first invocation may wait for the config, ms (default 1000).
    pub const FETCH_TIMEOUT_MS: &str = "FAULTLINE_FETCH_TIMEOUT_MS";
    /// Where `diskspace` writes and the deny-list file lives (default `/tmp`).
    pub const TMP_DIR: &str = "FAULTLINE_TMP_DIR";
    /// A fixed RNG seed, for reproducible runs.
    pub const SEED: &str = "FAULTLINE_SEED";
}

/// The engine's settings, read once from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSettings {
    /// The SSM parameter name; `None`: no faults at all.
    pub param: Option<String>,
    /// Refresh interval.
    pub ttl: Duration,
    /// First-invocation wait.
    pub fetch_timeout: Duration,
    /// Temp directory.
    pub tmp_dir: PathBuf,
    /// RNG seed.
    pub seed: Option<u64>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            param: None,
            ttl: Duration::from_secs(60),
            fetch_timeout: Duration::from_millis(1_000),
            tmp_dir: PathBuf::from("/tmp"),
            seed: None,
        }
    }
}

impl EngineSettings {
    /// Reads the settings through `lookup` (`std::env::var` in binaries, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<EngineSettings, String> {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut s = EngineSettings {
            param: get(vars::CONFIG_PARAM).or_else(|| get(vars::FAILURE_INJECTION_PARAM)),
            ..EngineSettings::default()
        };
        if let Some(v) = get(vars::CACHE_TTL) {
            s.ttl = Duration::from_secs(
                v.parse()
                    .map_err(|_| format!("{}={v:?}: expected whole seconds", vars::CACHE_TTL))?,
            );
        }
        if let Some(v) = get(vars::FETCH_TIMEOUT_MS) {
            s.fetch_timeout =
                Duration::from_millis(v.parse().map_err(|_| {
                    format!("{}={v:?}: expected milliseconds", vars::FETCH_TIMEOUT_MS)
                })?);
        }
        if let Some(v) = get(vars::TMP_DIR) {
            s.tmp_dir = PathBuf::from(v);
        }
        if let Some(v) = get(vars::SEED) {
            s.seed = Some(
                v.parse()
                    .map_err(|_| format!("{}={v:?}: expected an integer", vars::SEED))?,
            );
        }
        Ok(s)
    }
}

/// A wall clock, injected so tests can fix "now" (for `expires_at` and deadlines).
pub trait EngineClock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system clock.
pub struct SystemEngineClock;

impl EngineClock for SystemEngineClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The event as the caller has it: raw bytes (the proxy) or parsed (the middleware).
pub enum EventRef<'a> {
    /// Raw JSON bytes, parsed only if a `match` condition needs them.
    Raw(&'a [u8]),
    /// Already parsed.
    Json(&'a Value),
}

/// What to do with the invocation once the pre-handler faults have run.
#[derive(Debug, Clone, PartialEq)]
pub enum Injection {
    /// Run the handler; afterwards corrupt the response if `Some` (see
    /// [`crate::plan::InvocationPlan`]).
    Run {
        /// The corruption to apply after the handler.
        corruption: Option<Option<String>>,
    },
    /// Do not run the handler; succeed with this (API Gateway-shaped) response.
    Respond(Value),
    /// Do not run the handler; fail with this message.
    Fail(String),
}

/// The fault engine.
pub struct Engine {
    live: LiveConfig,
    clock: Arc<dyn EngineClock>,
    rng: Mutex<StdRng>,
    tmp_dir: PathBuf,
    denylist_on: Mutex<Option<Vec<String>>>,
}

impl Engine {
    /// An engine over `live`, with an injected clock and RNG seed.
    pub fn new(
        live: LiveConfig,
        clock: Arc<dyn EngineClock>,
        seed: u64,
        tmp_dir: PathBuf,
    ) -> Engine {
        Engine {
            live,
            clock,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            tmp_dir,
            denylist_on: Mutex::new(None),
        }
    }

    /// The production engine: config from SSM (`sdk` built once by the caller), system clock,
    /// seed from `settings` or the time. Starts the first fetch; call inside a runtime.
    pub fn from_settings(settings: &EngineSettings, sdk: Option<&aws_sdk_ssm::Client>) -> Engine {
        let live = match (&settings.param, sdk) {
            (Some(name), Some(client)) => {
                let l = LiveConfig::new(
                    Box::new(SsmSource::new(client.clone(), name.clone())),
                    settings.ttl,
                    settings.fetch_timeout,
                );
                l.start();
                l
            }
            _ => {
                warn!(
                    source = "faultline",
                    "fail open: no faults injected: neither {} nor {} is set",
                    vars::FAILURE_INJECTION_PARAM,
                    vars::CONFIG_PARAM
                );
                LiveConfig::disabled()
            }
        };
        let seed = settings.seed.unwrap_or_else(|| {
            let t = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            t.as_nanos() as u64 ^ ((std::process::id() as u64) << 32)
        });
        Engine::new(
            live,
            Arc::new(SystemEngineClock),
            seed,
            settings.tmp_dir.clone(),
        )
    }

    /// The live configuration (for tests and diagnostics).
    pub fn live(&self) -> &LiveConfig {
        &self.live
    }

    /// The clock's "now".
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Runs the pre-handler faults for one invocation and says what to do next. Never fails:
    /// an effect that cannot be applied is logged and skipped.
    pub async fn before(&self, event: EventRef<'_>, deadline: SystemTime) -> Injection {
        let config = self.live.get().await;
        if config.is_empty() {
            self.set_denylist(None);
            return Injection::Run { corruption: None };
        }
        let parsed;
        let event: &Value = match event {
            EventRef::Json(v) => v,
            EventRef::Raw(b) if config.needs_event() => {
                parsed = serde_json::from_slice(b).unwrap_or(Value::Null);
                &parsed
            }
            EventRef::Raw(_) => &Value::Null,
        };
        let now = self.clock.now();
        let plan = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            config.plan(event, now.into(), &mut *rng)
        };
        if let Some(d) = plan.latency {
            info!(
                source = "faultline",
                mode = "latency",
                latency_ms = d.as_millis() as u64,
                "inject"
            );
            tokio::time::sleep(d).await;
        }
        if let Some(buffer) = plan.timeout_buffer {
            let d = effects::timeout_sleep(deadline, self.clock.now(), buffer);
            info!(
                source = "faultline",
                mode = "timeout",
                sleep_ms = d.as_millis() as u64,
                "inject"
            );
            tokio::time::sleep(d).await;
        }
        if let Some(mb) = plan.diskspace_mb {
            let dir = self.tmp_dir.clone();
            match tokio::task::spawn_blocking(move || effects::fill_disk(&dir, mb)).await {
                Ok(Ok(n)) => info!(
                    source = "faultline",
                    mode = "diskspace",
                    bytes = n,
                    "inject"
                ),
                Ok(Err(e)) => {
                    warn!(source = "faultline", mode = "diskspace", error = %e, "skipped")
                }
                Err(e) => warn!(source = "faultline", mode = "diskspace", error = %e, "skipped"),
            }
        }
        self.set_denylist(plan.denylist);
        if let Some(code) = plan.statuscode {
            info!(
                source = "faultline",
                mode = "statuscode",
                status_code = code,
                "inject"
            );
            return Injection::Respond(effects::status_response(code));
        }
        if let Some(msg) = plan.exception {
            info!(source = "faultline", mode = "exception", "inject");
            return Injection::Fail(msg);
        }
        Injection::Run {
            corruption: plan.corruption,
        }
    }

    /// Writes or removes the deny-list file, only when it changes (no syscalls in steady state).
    fn set_denylist(&self, patterns: Option<Vec<String>>) {
        let mut on = self.denylist_on.lock().unwrap_or_else(|e| e.into_inner());
        if *on == patterns {
            return;
        }
        match effects::set_denylist(&self.tmp_dir, patterns.as_deref()) {
            Ok(()) => {
                if let Some(p) = &patterns {
                    info!(source = "faultline", mode = "denylist", patterns = ?p, "inject");
                }
                *on = patterns;
            }
            Err(e) => warn!(source = "faultline", mode = "denylist", error = %e, "skipped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn settings_from_lookup() {
        let m: HashMap<&str, &str> = [
            ("FAILURE_INJECTION_PARAM", "failureLambdaConfig"),
            ("FAULTLINE_CACHE_TTL", "5"),
            ("FAULTLINE_FETCH_TIMEOUT_MS", "250"),
            ("FAULTLINE_SEED", "42"),
        ]
        .into();
        let s = EngineSettings::from_lookup(|k| m.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(s.param.as_deref(), Some("failureLambdaConfig"));
        assert_eq!(s.ttl, Duration::from_secs(5));
        assert_eq!(s.fetch_timeout, Duration::from_millis(250));
        assert_eq!(s.seed, Some(42));
        assert_eq!(
            EngineSettings::from_lookup(|_| None).unwrap(),
            EngineSettings::default()
        );
        assert!(
            EngineSettings::from_lookup(|k| (k == "FAULTLINE_CACHE_TTL").then(|| "1m".into()))
                .is_err()
        );
    }
}

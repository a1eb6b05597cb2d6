//! The engine both the proxy extension and the tower middleware drive: one call before the
//! handler (delays, side effects, short-circuits) and one after it (corruption).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rand::{rngs::StdRng, SeedableRng};
use serde_json::Value;
use tracing::{info, warn};

use crate::effects;
use crate::killswitch;
use crate::live::{Cadence, LiveConfig, SsmSource};
use crate::residue::{self, Residue};

/// Environment variables the layer reads.
pub mod vars {
    /// The SSM parameter holding the config (failure-lambda's name).
    pub const FAILURE_INJECTION_PARAM: &str = "FAILURE_INJECTION_PARAM";
    /// The same, faultline's name (wins when both are set).
    pub const CONFIG_PARAM: &str = "FAULTLINE_CONFIG_PARAM";
    /// Seconds between background refreshes while no fault is active (default 60).
    pub const CACHE_TTL: &str = "FAULTLINE_CACHE_TTL";
    /// Seconds between background refreshes while a fault is active (default 5).
    pub const ACTIVE_REFRESH: &str = "FAULTLINE_ACTIVE_REFRESH";
    /// The kill switch parameter (default `/faultline/enabled`), the monkey's and the CLI's.
    pub const KILL_SWITCH_PARAM: &str = "FAULTLINE_KILL_SWITCH_PARAM";
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
    /// The kill switch parameter name.
    pub kill_switch_param: String,
    /// Refresh interval while no fault is active.
    pub ttl: Duration,
    /// Refresh interval while a fault is active.
    pub active_refresh: Duration,
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
            kill_switch_param: killswitch::DEFAULT_PARAM.to_owned(),
            ttl: Duration::from_secs(60),
            active_refresh: Duration::from_secs(5),
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
        if let Some(v) = get(vars::KILL_SWITCH_PARAM) {
            if v.chars().any(char::is_whitespace) {
                return Err(format!(
                    "{}={v:?}: expected an SSM parameter name such as {}",
                    vars::KILL_SWITCH_PARAM,
                    killswitch::DEFAULT_PARAM
                ));
            }
            s.kill_switch_param = v;
        }
        for (var, slot) in [
            (vars::CACHE_TTL, &mut s.ttl),
            (vars::ACTIVE_REFRESH, &mut s.active_refresh),
        ] {
            if let Some(v) = get(var) {
                *slot = match v.parse::<u64>() {
                    Ok(n) if n >= 1 => Duration::from_secs(n),
                    _ => return Err(format!("{var}={v:?}: expected whole seconds, at least 1")),
                };
            }
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
    residue: Arc<Residue>,
}

impl Engine {
    /// An engine over `live`, with an injected clock and RNG seed. Inside a runtime it also
    /// starts the janitor that removes `diskspace` files as soon as their fault is no longer in
    /// force (see [`crate::residue`]).
    pub fn new(
        live: LiveConfig,
        clock: Arc<dyn EngineClock>,
        seed: u64,
        tmp_dir: PathBuf,
    ) -> Engine {
        let residue = Arc::new(Residue::new(tmp_dir));
        residue::spawn_janitor(Arc::downgrade(&residue), live.updates(), clock.clone());
        Engine {
            live,
            clock,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            residue,
        }
    }

    /// The production engine: config and kill switch from SSM (`sdk` built once by the
    /// caller), system clock, seed from `settings` or the time. Starts the background reads;
    /// call inside a runtime.
    pub fn from_settings(settings: &EngineSettings, sdk: Option<&aws_sdk_ssm::Client>) -> Engine {
        let live = match (&settings.param, sdk) {
            (Some(name), Some(client)) => {
                let l = LiveConfig::new(
                    Box::new(SsmSource::new(
                        client.clone(),
                        name.clone(),
                        settings.kill_switch_param.clone(),
                    )),
                    Cadence {
                        idle: settings.ttl,
                        active: settings.active_refresh,
                        first_wait: settings.fetch_timeout,
                    },
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

    /// How many `diskspace` files the engine keeps now (removed when their fault goes).
    pub fn diskspace_files(&self) -> usize {
        self.residue.disk_files()
    }

    /// Runs the pre-handler faults for one invocation and says what to do next. Never fails:
    /// an effect that cannot be applied is logged and skipped.
    pub async fn before(&self, event: EventRef<'_>, deadline: SystemTime) -> Injection {
        let config = self.live.get().await;
        let now = self.clock.now();
        // The backstop for the janitor: nothing a fault no longer in force wrote survives
        // into a handler.
        let disk_fault = self.residue.settle(&config, now.into());
        if config.is_empty() {
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
            let dir = self.residue.tmp_dir().to_owned();
            match tokio::task::spawn_blocking(move || effects::fill_disk(&dir, mb)).await {
                Ok(Ok((file, n))) => {
                    info!(
                        source = "faultline",
                        mode = "diskspace",
                        bytes = n,
                        "inject"
                    );
                    self.residue.record(file, &disk_fault);
                }
                Ok(Err(e)) => {
                    warn!(source = "faultline", mode = "diskspace", error = %e, "skipped")
                }
                Err(e) => warn!(source = "faultline", mode = "diskspace", error = %e, "skipped"),
            }
        }
        self.residue.set_denylist(plan.denylist);
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
            ("FAULTLINE_ACTIVE_REFRESH", "2"),
            ("FAULTLINE_KILL_SWITCH_PARAM", "/x/enabled"),
        ]
        .into();
        let s = EngineSettings::from_lookup(|k| m.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(s.param.as_deref(), Some("failureLambdaConfig"));
        assert_eq!(s.ttl, Duration::from_secs(5));
        assert_eq!(s.fetch_timeout, Duration::from_millis(250));
        assert_eq!(s.seed, Some(42));
        assert_eq!(s.active_refresh, Duration::from_secs(2));
        assert_eq!(s.kill_switch_param, "/x/enabled");
        let d = EngineSettings::default();
        assert_eq!(d.kill_switch_param, "/faultline/enabled");
        assert_eq!(d.active_refresh, Duration::from_secs(5));
        for (var, bad) in [
            ("FAULTLINE_ACTIVE_REFRESH", "0"),
            ("FAULTLINE_ACTIVE_REFRESH", "0.5"),
            ("FAULTLINE_CACHE_TTL", "0"),
            ("FAULTLINE_KILL_SWITCH_PARAM", "/a b"),
        ] {
            let e = EngineSettings::from_lookup(|k| (k == var).then(|| bad.into())).unwrap_err();
            assert!(e.contains(var), "{e}");
        }
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

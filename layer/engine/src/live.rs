//! The live configuration: the fault config and the kill switch, read together in one request
//! (`GetParameters`), served from memory, refreshed by one background task. Only the very
//! first invocation may wait for a read, and at most the fetch timeout; no invocation ever
//! waits for a refresh.
//!
//! The background task reads every [`Cadence::active`] while a fault is active (so a halt, a
//! clear or a new config takes effect within seconds) and every [`Cadence::idle`] otherwise.
//! A kill switch that is not `true` empties the config ([`crate::killswitch`]); every other
//! problem (missing, malformed, invalid, unreachable) means "no faults" too. A document is read
//! as failure-lambda reads it ([`FaultConfig::read`]): an unknown key or an invalid flag fails
//! open alone, the rest applies. Each is logged once per kind (or per skipped part), not once
//! per refresh.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use aws_smithy_types::error::display::DisplayErrorContext;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::{ConfigError, FaultConfig, SkipKind, Skipped};
use crate::killswitch::{self, HaltKind};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one read returns: both parameters, from one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// The config document; `None` when it does not exist.
    pub config: Option<String>,
    /// The kill switch's value; `None` when it does not exist.
    pub kill_switch: Option<String>,
}

/// Where the configuration and the kill switch come from.
pub trait Source: Send + Sync + 'static {
    /// Both values in one request; `Err` when they cannot be read.
    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, String>>;
    /// What to call the config in logs (e.g. `ssm:/app/faults`).
    fn describe(&self) -> String;
    /// The kill switch's name, for logs.
    fn kill_switch(&self) -> String;
}

/// Values held in memory, changeable by whoever holds a clone: for tests, and for functions
/// that embed their configuration.
#[derive(Clone)]
pub struct MemorySource(Arc<Mutex<Result<Fetched, String>>>);

impl MemorySource {
    /// `config` (`None`: missing) with the kill switch `true`.
    pub fn armed(config: Option<&str>) -> MemorySource {
        MemorySource::new(config, Some("true"))
    }

    /// `config` and `kill_switch` (`None`: missing).
    pub fn new(config: Option<&str>, kill_switch: Option<&str>) -> MemorySource {
        MemorySource(Arc::new(Mutex::new(Ok(Fetched {
            config: config.map(str::to_owned),
            kill_switch: kill_switch.map(str::to_owned),
        }))))
    }

    /// Replaces the config (`None`: deleted).
    pub fn set_config(&self, config: Option<&str>) {
        self.update(|f| f.config = config.map(str::to_owned));
    }

    /// Replaces the kill switch (`None`: deleted).
    pub fn set_kill_switch(&self, value: Option<&str>) {
        self.update(|f| f.kill_switch = value.map(str::to_owned));
    }

    /// Makes every read fail with `error` until a value is set again.
    pub fn set_unreadable(&self, error: &str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Err(error.to_owned());
    }

    fn update(&self, f: impl FnOnce(&mut Fetched)) {
        let mut cell = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut now = cell.clone().unwrap_or_default();
        f(&mut now);
        *cell = Ok(now);
    }
}

impl Source for MemorySource {
    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, String>> {
        let v = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Box::pin(async move { v })
    }
    fn describe(&self) -> String {
        "memory".into()
    }
    fn kill_switch(&self) -> String {
        "memory:kill-switch".into()
    }
}

/// The SSM parameters: failure-lambda's config (`FAILURE_INJECTION_PARAM`) and faultline's
/// kill switch (`FAULTLINE_KILL_SWITCH_PARAM`), read with one `GetParameters` call.
pub struct SsmSource {
    client: aws_sdk_ssm::Client,
    config: String,
    kill_switch: String,
}

impl SsmSource {
    /// Reads parameters `config` and `kill_switch` with `client`.
    pub fn new(
        client: aws_sdk_ssm::Client,
        config: impl Into<String>,
        kill_switch: impl Into<String>,
    ) -> Self {
        SsmSource {
            client,
            config: config.into(),
            kill_switch: kill_switch.into(),
        }
    }
}

impl Source for SsmSource {
    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, String>> {
        Box::pin(async move {
            let out = self
                .client
                .get_parameters()
                .names(&self.config)
                .names(&self.kill_switch)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| DisplayErrorContext(e.into_service_error()).to_string())?;
            // A name that does not exist comes back in `InvalidParameters`, not as an error.
            let value_of = |name: &str| {
                out.parameters()
                    .iter()
                    .find(|p| p.name() == Some(name) || p.arn() == Some(name))
                    .and_then(|p| p.value().map(str::to_owned))
            };
            Ok(Fetched {
                config: value_of(&self.config),
                kill_switch: value_of(&self.kill_switch),
            })
        })
    }
    fn describe(&self) -> String {
        format!("ssm:{}", self.config)
    }
    fn kill_switch(&self) -> String {
        format!("ssm:{}", self.kill_switch)
    }
}

/// The kinds of problem that make the layer fail open (logged once per kind in a row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The parameter does not exist.
    Missing,
    /// The parameters could not be read in time.
    Unreachable,
    /// Not JSON / not an object.
    Malformed,
    /// A mode that does not exist.
    UnknownMode,
    /// A value out of range, a bad regex, a regex bomb.
    Invalid,
}

/// How often the background task reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Between reads while no fault is active (none configured, expired, halted, failed).
    pub idle: Duration,
    /// Between reads while a fault is active (never slower than `idle`).
    pub active: Duration,
    /// How long the very first invocation may wait for the first read.
    pub first_wait: Duration,
}

impl Cadence {
    /// The wait after a read that produced `config`.
    pub fn after(&self, config: &FaultConfig) -> Duration {
        if config.is_empty() || config.expired(chrono::Utc::now()) {
            self.idle
        } else {
            self.active.min(self.idle)
        }
    }
}

/// One read's result as served to invocations.
#[derive(Clone)]
struct Snapshot {
    config: Arc<FaultConfig>,
    fetched_at: Option<Instant>,
}

/// What a read concluded, to log each change once.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Loaded(Vec<&'static str>, Vec<Skipped>),
    Halted(HaltKind),
    Failed(Problem),
}

struct Inner {
    source: Box<dyn Source>,
    cadence: Cadence,
    fetch_timeout: Duration,
    tx: watch::Sender<Snapshot>,
    started: AtomicBool,
    /// Set by the first invocation that found no config yet: only that one may wait.
    first_waited: AtomicBool,
    last: Mutex<Option<Outcome>>,
    fetches: AtomicUsize,
    problems_logged: AtomicUsize,
    halts_logged: AtomicUsize,
}

/// The shared, background-refreshed configuration.
#[derive(Clone)]
pub struct LiveConfig {
    inner: Arc<Inner>,
}

/// Every configuration a [`LiveConfig`] serves, as each read lands (for the engine's cleanup).
pub struct Updates(watch::Receiver<Snapshot>);

impl Updates {
    /// The configuration served now (marks it seen).
    pub fn current(&mut self) -> Arc<FaultConfig> {
        self.0.borrow_and_update().config.clone()
    }

    /// Waits for the next read; `false` once the [`LiveConfig`] is gone.
    pub async fn changed(&mut self) -> bool {
        self.0.changed().await.is_ok()
    }
}

impl LiveConfig {
    /// Serves `source`'s values, read at `cadence`. Call [`LiveConfig::start`] inside a
    /// runtime to read at once; otherwise the first [`LiveConfig::get`] starts the reads.
    pub fn new(source: Box<dyn Source>, cadence: Cadence) -> LiveConfig {
        let (tx, _) = watch::channel(Snapshot {
            config: Arc::new(FaultConfig::default()),
            fetched_at: None,
        });
        LiveConfig {
            inner: Arc::new(Inner {
                source,
                cadence,
                fetch_timeout: cadence.first_wait.max(Duration::from_secs(5)),
                tx,
                started: AtomicBool::new(false),
                first_waited: AtomicBool::new(false),
                last: Mutex::new(None),
                fetches: AtomicUsize::new(0),
                problems_logged: AtomicUsize::new(0),
                halts_logged: AtomicUsize::new(0),
            }),
        }
    }

    /// A configuration that never injects anything and never reads.
    pub fn disabled() -> LiveConfig {
        let live = LiveConfig::new(
            Box::new(MemorySource::armed(Some("{}"))),
            Cadence {
                idle: Duration::MAX,
                active: Duration::MAX,
                first_wait: Duration::ZERO,
            },
        );
        live.inner.started.store(true, Ordering::Release);
        live.inner.tx.send_replace(Snapshot {
            config: Arc::new(FaultConfig::default()),
            fetched_at: Some(Instant::now()),
        });
        live
    }

    /// Starts the background reads (the first one at once, during init, before any
    /// invocation). Idempotent; the task ends when the last clone is dropped.
    pub fn start(&self) {
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let rx = self.inner.tx.subscribe();
        tokio::spawn(refresher(Arc::downgrade(&self.inner), rx));
    }

    /// Each configuration served from now on, as it lands.
    pub fn updates(&self) -> Updates {
        Updates(self.inner.tx.subscribe())
    }

    /// The configuration to use now. Never reads and never waits, except for the very first
    /// load.
    pub async fn get(&self) -> Arc<FaultConfig> {
        let snap = self.inner.tx.borrow().clone();
        if snap.fetched_at.is_some() {
            return snap.config;
        }
        self.start();
        if self.inner.first_waited.swap(true, Ordering::AcqRel) {
            // Only the very first invocation waits; later ones run untouched until the
            // pending read lands.
            self.inner.report(
                Outcome::Failed(Problem::Unreachable),
                &format!(
                    "config {} not loaded yet; invocations run without faults until it is",
                    self.inner.source.describe()
                ),
            );
            return Arc::new(FaultConfig::default());
        }
        let mut rx = self.inner.tx.subscribe();
        let waited = tokio::time::timeout(
            self.inner.cadence.first_wait,
            rx.wait_for(|s| s.fetched_at.is_some()),
        )
        .await;
        match waited {
            Ok(Ok(s)) => s.config.clone(),
            _ => {
                self.inner.report(
                    Outcome::Failed(Problem::Unreachable),
                    &format!(
                        "config {} not loaded within {:?}; this invocation runs without faults",
                        self.inner.source.describe(),
                        self.inner.cadence.first_wait
                    ),
                );
                Arc::new(FaultConfig::default())
            }
        }
    }

    /// How many reads have started (tests check that invocations make none).
    pub fn fetches(&self) -> usize {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// How many fail-open lines have been logged.
    pub fn problems_logged(&self) -> usize {
        self.inner.problems_logged.load(Ordering::Relaxed)
    }

    /// How many kill-switch lines have been logged.
    pub fn halts_logged(&self) -> usize {
        self.inner.halts_logged.load(Ordering::Relaxed)
    }
}

/// The background task: reads when the last read is due (by the cadence of what it
/// returned), then waits again. Ends when the [`LiveConfig`] is dropped.
async fn refresher(inner: Weak<Inner>, mut rx: watch::Receiver<Snapshot>) {
    loop {
        let due = {
            let Some(strong) = inner.upgrade() else {
                return;
            };
            let snap = rx.borrow_and_update().clone();
            match snap.fetched_at {
                None => Some(Instant::now()),
                Some(at) => at.checked_add(strong.cadence.after(&snap.config)),
            }
        };
        let woke = match due {
            Some(due) => tokio::select! {
                _ = tokio::time::sleep_until(due) => true,
                changed = rx.changed() => if changed.is_err() { return } else { false },
            },
            None => match rx.changed().await {
                Ok(()) => false,
                Err(_) => return,
            },
        };
        if !woke {
            // Another value landed: recompute when the next read is due.
            continue;
        }
        let Some(strong) = inner.upgrade() else {
            return;
        };
        strong.refresh().await;
    }
}

impl Inner {
    /// One read: both parameters, then the snapshot every invocation sees.
    async fn refresh(&self) {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = tokio::time::timeout(self.fetch_timeout, self.source.fetch()).await;
        let config = self.judge(fetched);
        self.tx.send_replace(Snapshot {
            config: Arc::new(config),
            fetched_at: Some(Instant::now()),
        });
    }

    /// What a read means: the kill switch first (fail safe), then the config (fail open).
    fn judge(
        &self,
        fetched: Result<Result<Fetched, String>, tokio::time::error::Elapsed>,
    ) -> FaultConfig {
        let src = self.source.describe();
        let switch = self.source.kill_switch();
        let fetched = match fetched {
            Err(_) => {
                return self.fail(
                    Problem::Unreachable,
                    &format!(
                        "config {src} and kill switch {switch} unreachable: no answer within {:?}",
                        self.fetch_timeout
                    ),
                )
            }
            Ok(Err(e)) => {
                return self.fail(
                    Problem::Unreachable,
                    &format!(
                        "config {src} and kill switch {switch} unreadable (the function's role \
                         needs ssm:GetParameters on both): {e}"
                    ),
                )
            }
            Ok(Ok(f)) => f,
        };
        if let Err(halt) = killswitch::check(&switch, fetched.kill_switch.as_deref()) {
            self.report(Outcome::Halted(halt.kind()), &halt.to_string());
            return FaultConfig::default();
        }
        let Some(text) = fetched.config else {
            return self.fail(Problem::Missing, &format!("config {src} does not exist"));
        };
        match FaultConfig::read(&text) {
            Ok(c) => {
                self.report(
                    Outcome::Loaded(c.mode_names(), c.skipped.clone()),
                    &format!("config {src}"),
                );
                c
            }
            Err(e) => {
                let p = match e {
                    ConfigError::Malformed(_) => Problem::Malformed,
                    ConfigError::UnknownMode(_) => Problem::UnknownMode,
                    ConfigError::Invalid { .. } => Problem::Invalid,
                };
                self.fail(p, &format!("config {src} rejected: {e}"))
            }
        }
    }

    fn fail(&self, p: Problem, msg: &str) -> FaultConfig {
        self.report(Outcome::Failed(p), msg);
        FaultConfig::default()
    }

    /// Logs a state change: one line when the outcome differs from the previous one.
    fn report(&self, outcome: Outcome, msg: &str) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_ref() == Some(&outcome) {
            return;
        }
        match &outcome {
            Outcome::Loaded(modes, skipped) => {
                info!(source = "faultline", enabled_modes = ?modes, "{msg} loaded");
                // What failure-lambda would ignore or skip: that part fails open, the rest applies.
                for s in skipped {
                    let p = match s.kind {
                        SkipKind::UnknownKey => Problem::UnknownMode,
                        SkipKind::Flag | SkipKind::Pattern => Problem::Invalid,
                    };
                    self.problems_logged.fetch_add(1, Ordering::Relaxed);
                    warn!(source = "faultline", problem = ?p, field = %s.field, "fail open: {msg}: {s}");
                }
            }
            Outcome::Halted(kind) => {
                self.halts_logged.fetch_add(1, Ordering::Relaxed);
                warn!(source = "faultline", halt = ?kind, "kill switch: no faults injected: {msg}");
            }
            Outcome::Failed(p) => {
                self.problems_logged.fetch_add(1, Ordering::Relaxed);
                warn!(source = "faultline", problem = ?p, "fail open: no faults injected: {msg}");
            }
        }
        *last = Some(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXCEPTION: &str = r#"{"exception": {"enabled": true}}"#;

    /// A source whose values the test changes, answering after `delay`.
    struct Slow(MemorySource, Duration);

    impl Source for Slow {
        fn fetch(&self) -> BoxFuture<'_, Result<Fetched, String>> {
            let delay = self.1;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                self.0.fetch().await
            })
        }
        fn describe(&self) -> String {
            "test".into()
        }
        fn kill_switch(&self) -> String {
            "test-switch".into()
        }
    }

    fn cadence(idle: u64, active: u64, first_wait_ms: u64) -> Cadence {
        Cadence {
            idle: Duration::from_secs(idle),
            active: Duration::from_secs(active),
            first_wait: Duration::from_millis(first_wait_ms),
        }
    }

    fn live(doc: &str, delay: Duration) -> (LiveConfig, MemorySource) {
        let mem = MemorySource::armed(Some(doc));
        let l = LiveConfig::new(Box::new(Slow(mem.clone(), delay)), cadence(60, 5, 200));
        (l, mem)
    }

    /// Lets the background task run to `at` from the start of `t0`.
    async fn at(t0: Instant, secs: f64) {
        tokio::time::sleep_until(t0 + Duration::from_secs_f64(secs)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_in_the_background_at_the_active_or_idle_cadence() {
        let t0 = Instant::now();
        let (l, mem) = live(EXCEPTION, Duration::ZERO);
        assert_eq!(l.get().await.mode_names(), ["exception"]);
        mem.set_config(Some(r#"{"latency": {"enabled": true}}"#));
        for _ in 0..100 {
            assert_eq!(l.get().await.mode_names(), ["exception"], "cached");
        }
        assert_eq!(l.fetches(), 1, "no read per invocation");
        // A fault is active: the next read is 5 s after the first, with no invocation.
        at(t0, 5.1).await;
        assert_eq!(l.fetches(), 2);
        assert_eq!(l.get().await.mode_names(), ["latency"]);
        // No fault any more: back to the idle cadence (60 s) after one more active read.
        mem.set_config(Some("{}"));
        at(t0, 10.1).await;
        assert_eq!(l.fetches(), 3);
        assert!(l.get().await.is_empty());
        at(t0, 69.9).await;
        assert_eq!(l.fetches(), 3, "idle: no read before 60 s");
        at(t0, 70.1).await;
        assert_eq!(l.fetches(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_halt_empties_the_config_at_the_next_active_read() {
        let t0 = Instant::now();
        let (l, mem) = live(EXCEPTION, Duration::ZERO);
        assert_eq!(l.get().await.mode_names(), ["exception"]);
        mem.set_kill_switch(Some("false"));
        at(t0, 5.1).await;
        assert!(l.get().await.is_empty(), "halted, yet a fault is served");
        assert_eq!(l.halts_logged(), 1);
        // Halted is idle: the next reads come at the idle cadence, and log nothing new.
        at(t0, 125.1).await;
        assert_eq!(l.fetches(), 4);
        assert_eq!(l.halts_logged(), 1);
        mem.set_kill_switch(Some("true"));
        at(t0, 185.1).await;
        assert_eq!(l.get().await.mode_names(), ["exception"], "resumed");
        assert_eq!(l.problems_logged(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_or_invalid_kill_switch_injects_nothing_with_one_line_each() {
        for (switch, kind) in [
            (None, HaltKind::Missing),
            (Some("flase"), HaltKind::Invalid),
            (Some(" False "), HaltKind::Off),
        ] {
            let mem = MemorySource::new(Some(EXCEPTION), switch);
            let l = LiveConfig::new(Box::new(mem), cadence(1, 1, 200));
            for _ in 0..5 {
                assert!(l.get().await.is_empty(), "{switch:?}");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            assert!(l.fetches() >= 5);
            assert_eq!(l.halts_logged(), 1, "{kind:?}");
            assert_eq!(*l.inner.last.lock().unwrap(), Some(Outcome::Halted(kind)));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_invocation_waits_at_most_the_fetch_timeout() {
        let (l, _) = live(EXCEPTION, Duration::from_secs(3));
        let t = Instant::now();
        assert!(l.get().await.is_empty());
        assert_eq!(t.elapsed(), Duration::from_millis(200));
        assert_eq!(l.problems_logged(), 1);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(l.get().await.mode_names(), ["exception"]);
    }

    /// A source that never answers.
    struct Silent;

    impl Source for Silent {
        fn fetch(&self) -> BoxFuture<'_, Result<Fetched, String>> {
            Box::pin(std::future::pending())
        }
        fn describe(&self) -> String {
            "silent".into()
        }
        fn kill_switch(&self) -> String {
            "silent-switch".into()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_first_invocation_waits_for_a_pending_first_fetch() {
        let l = LiveConfig::new(Box::new(Silent), cadence(60, 5, 1000));
        l.start();
        let t = Instant::now();
        assert!(l.get().await.is_empty());
        assert_eq!(
            t.elapsed(),
            Duration::from_millis(1000),
            "the first waits the timeout"
        );
        for i in 0..5 {
            let t = Instant::now();
            assert!(l.get().await.is_empty(), "call {i} injected a fault");
            assert_eq!(t.elapsed(), Duration::ZERO, "call {i} waited for the fetch");
        }
        assert_eq!(l.fetches(), 1, "the pending fetch is not restarted");
        assert_eq!(l.problems_logged(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn problems_fail_open_with_one_log_line_each() {
        let unreadable = MemorySource::armed(None);
        unreadable.set_unreadable("connection refused");
        for (mem, n) in [
            (MemorySource::armed(Some("{nope")), 1),
            (
                MemorySource::armed(Some(r#"{"meteor": {"enabled": true}}"#)),
                1,
            ),
            (
                MemorySource::armed(Some(
                    r#"{"denylist": {"enabled": true, "deny_list": ["(a+)+$"]}}"#,
                )),
                1,
            ),
            (unreadable, 1),
            (MemorySource::armed(None), 1),
        ] {
            let l = LiveConfig::new(Box::new(mem), cadence(1, 1, 200));
            for _ in 0..5 {
                assert!(l.get().await.is_empty());
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            assert!(l.fetches() >= 5);
            assert_eq!(l.problems_logged(), n);
            assert_eq!(l.halts_logged(), 0);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_reads_stop_when_the_config_is_dropped() {
        let mem = MemorySource::armed(Some(EXCEPTION));
        let l = LiveConfig::new(Box::new(Slow(mem, Duration::ZERO)), cadence(60, 1, 200));
        l.get().await;
        let weak = Arc::downgrade(&l.inner);
        drop(l);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            weak.upgrade().is_none(),
            "the background task keeps it alive"
        );
    }
}

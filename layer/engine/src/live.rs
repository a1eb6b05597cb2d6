//! The live configuration: fetched once at start, served from memory, refreshed in the
//! background after the TTL. Only the very first invocation may wait for a fetch, and at most
//! the fetch timeout. Every problem (missing, malformed, invalid, unreachable) means "no
//! faults", logged once per kind of problem rather than once per refresh.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::{ConfigError, FaultConfig};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the configuration text comes from.
pub trait Source: Send + Sync + 'static {
    /// The document, `Ok(None)` when it does not exist, `Err` when it cannot be read.
    fn fetch(&self) -> BoxFuture<'_, Result<Option<String>, String>>;
    /// What to call it in logs (e.g. `ssm:/app/faults`).
    fn describe(&self) -> String;
}

/// A fixed document: for tests and for functions that embed their configuration.
pub struct StaticSource(pub Option<String>);

impl Source for StaticSource {
    fn fetch(&self) -> BoxFuture<'_, Result<Option<String>, String>> {
        let v = self.0.clone();
        Box::pin(async move { Ok(v) })
    }
    fn describe(&self) -> String {
        "static".into()
    }
}

/// The SSM parameter failure-lambda uses (`FAILURE_INJECTION_PARAM`).
pub struct SsmSource {
    client: aws_sdk_ssm::Client,
    name: String,
}

impl SsmSource {
    /// Reads parameter `name` with `client`.
    pub fn new(client: aws_sdk_ssm::Client, name: impl Into<String>) -> Self {
        SsmSource {
            client,
            name: name.into(),
        }
    }
}

impl Source for SsmSource {
    fn fetch(&self) -> BoxFuture<'_, Result<Option<String>, String>> {
        Box::pin(async move {
            use aws_sdk_ssm::operation::get_parameter::GetParameterError;
            match self
                .client
                .get_parameter()
                .name(&self.name)
                .with_decryption(true)
                .send()
                .await
            {
                Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
                Err(e) => {
                    match e.into_service_error() {
                        GetParameterError::ParameterNotFound(_) => Ok(None),
                        other => Err(aws_smithy_types::error::display::DisplayErrorContext(other)
                            .to_string()),
                    }
                }
            }
        })
    }
    fn describe(&self) -> String {
        format!("ssm:{}", self.name)
    }
}

/// The kinds of problem that make the layer fail open (logged once per kind in a row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The parameter does not exist.
    Missing,
    /// The parameter could not be read in time.
    Unreachable,
    /// Not JSON / not an object.
    Malformed,
    /// A mode that does not exist.
    UnknownMode,
    /// A value out of range, a bad regex, a regex bomb.
    Invalid,
}

#[derive(Clone)]
struct Snapshot {
    config: Arc<FaultConfig>,
    fetched_at: Option<Instant>,
}

struct Inner {
    source: Box<dyn Source>,
    ttl: Duration,
    first_wait: Duration,
    fetch_timeout: Duration,
    tx: watch::Sender<Snapshot>,
    refreshing: AtomicBool,
    /// Set by the first invocation that found no config yet: only that one may wait.
    first_waited: AtomicBool,
    last: Mutex<Option<Result<Vec<&'static str>, Problem>>>,
    fetches: AtomicUsize,
    problems_logged: AtomicUsize,
}

/// The shared, background-refreshed configuration.
#[derive(Clone)]
pub struct LiveConfig {
    inner: Arc<Inner>,
}

impl LiveConfig {
    /// Serves `source`'s document for `ttl` between refreshes; the first invocation waits at
    /// most `first_wait`. Call [`LiveConfig::start`] inside a runtime to fetch at once.
    pub fn new(source: Box<dyn Source>, ttl: Duration, first_wait: Duration) -> LiveConfig {
        let (tx, _) = watch::channel(Snapshot {
            config: Arc::new(FaultConfig::default()),
            fetched_at: None,
        });
        LiveConfig {
            inner: Arc::new(Inner {
                source,
                ttl,
                first_wait,
                fetch_timeout: first_wait.max(Duration::from_secs(5)),
                tx,
                refreshing: AtomicBool::new(false),
                first_waited: AtomicBool::new(false),
                last: Mutex::new(None),
                fetches: AtomicUsize::new(0),
                problems_logged: AtomicUsize::new(0),
            }),
        }
    }

    /// A configuration that never injects anything and never fetches.
    pub fn disabled() -> LiveConfig {
        let live = LiveConfig::new(
            Box::new(StaticSource(Some("{}".into()))),
            Duration::MAX,
            Duration::ZERO,
        );
        live.inner.tx.send_replace(Snapshot {
            config: Arc::new(FaultConfig::default()),
            fetched_at: Some(Instant::now()),
        });
        live
    }

    /// Starts the first fetch in the background (during init, before any invocation).
    pub fn start(&self) {
        self.spawn_refresh();
    }

    /// The configuration to use now. Never waits, except for the very first load.
    pub async fn get(&self) -> Arc<FaultConfig> {
        let snap = self.inner.tx.borrow().clone();
        match snap.fetched_at {
            Some(at) => {
                if at.elapsed() >= self.inner.ttl {
                    self.spawn_refresh();
                }
                snap.config
            }
            None => {
                self.spawn_refresh();
                if self.inner.first_waited.swap(true, Ordering::AcqRel) {
                    // Only the very first invocation waits; later ones run untouched until
                    // the pending fetch lands.
                    self.inner.report(
                        Err(Problem::Unreachable),
                        &format!(
                            "config {} not loaded yet; invocations run without faults until it is",
                            self.inner.source.describe()
                        ),
                    );
                    return Arc::new(FaultConfig::default());
                }
                let mut rx = self.inner.tx.subscribe();
                let waited = tokio::time::timeout(
                    self.inner.first_wait,
                    rx.wait_for(|s| s.fetched_at.is_some()),
                )
                .await;
                match waited {
                    Ok(Ok(s)) => s.config.clone(),
                    _ => {
                        self.inner.report(
                            Err(Problem::Unreachable),
                            &format!(
                                "config {} not loaded within {:?}; this invocation runs without faults",
                                self.inner.source.describe(),
                                self.inner.first_wait
                            ),
                        );
                        Arc::new(FaultConfig::default())
                    }
                }
            }
        }
    }

    /// How many fetches have started (tests check that steady state makes none).
    pub fn fetches(&self) -> usize {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// How many fail-open lines have been logged.
    pub fn problems_logged(&self) -> usize {
        self.inner.problems_logged.load(Ordering::Relaxed)
    }

    fn spawn_refresh(&self) {
        if self.inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            inner.fetches.fetch_add(1, Ordering::Relaxed);
            let fetched = tokio::time::timeout(inner.fetch_timeout, inner.source.fetch()).await;
            let src = inner.source.describe();
            let config = match fetched {
                Err(_) => inner.fail(
                    Problem::Unreachable,
                    &format!(
                        "config {src} unreachable: no answer within {:?}",
                        inner.fetch_timeout
                    ),
                ),
                Ok(Err(e)) => inner.fail(
                    Problem::Unreachable,
                    &format!("config {src} unreachable: {e}"),
                ),
                Ok(Ok(None)) => {
                    inner.fail(Problem::Missing, &format!("config {src} does not exist"))
                }
                Ok(Ok(Some(text))) => match FaultConfig::parse(&text) {
                    Ok(c) => {
                        inner.report(Ok(c.mode_names()), &format!("config {src} loaded"));
                        c
                    }
                    Err(e) => {
                        let p = match e {
                            ConfigError::Malformed(_) => Problem::Malformed,
                            ConfigError::UnknownMode(_) => Problem::UnknownMode,
                            ConfigError::Invalid { .. } => Problem::Invalid,
                        };
                        inner.fail(p, &format!("config {src} rejected: {e}"))
                    }
                },
            };
            inner.tx.send_replace(Snapshot {
                config: Arc::new(config),
                fetched_at: Some(Instant::now()),
            });
            inner.refreshing.store(false, Ordering::Release);
        });
    }
}

impl Inner {
    fn fail(&self, p: Problem, msg: &str) -> FaultConfig {
        self.report(Err(p), msg);
        FaultConfig::default()
    }

    /// Logs a state change: one line when the outcome differs from the previous one.
    fn report(&self, outcome: Result<Vec<&'static str>, Problem>, msg: &str) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_ref() == Some(&outcome) {
            return;
        }
        match &outcome {
            Ok(modes) => info!(source = "faultline", enabled_modes = ?modes, "{msg}"),
            Err(p) => {
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

    type Cell = Arc<Mutex<Result<Option<String>, String>>>;

    /// A source whose document the test changes.
    struct Shared(Cell, Duration);

    impl Source for Shared {
        fn fetch(&self) -> BoxFuture<'_, Result<Option<String>, String>> {
            let v = self.0.lock().unwrap().clone();
            let delay = self.1;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                v
            })
        }
        fn describe(&self) -> String {
            "test".into()
        }
    }

    fn live(doc: &str, delay: Duration) -> (LiveConfig, Cell) {
        let cell = Arc::new(Mutex::new(Ok(Some(doc.to_owned()))));
        let l = LiveConfig::new(
            Box::new(Shared(cell.clone(), delay)),
            Duration::from_secs(60),
            Duration::from_millis(200),
        );
        (l, cell)
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_after_the_ttl_in_the_background() {
        let (l, cell) = live(r#"{"exception": {"enabled": true}}"#, Duration::ZERO);
        assert_eq!(l.get().await.mode_names(), ["exception"]);
        *cell.lock().unwrap() = Ok(Some(r#"{"latency": {"enabled": true}}"#.into()));
        for _ in 0..100 {
            assert_eq!(
                l.get().await.mode_names(),
                ["exception"],
                "cached within the TTL"
            );
        }
        assert_eq!(l.fetches(), 1, "no fetch per invocation in steady state");
        tokio::time::advance(Duration::from_secs(61)).await;
        // The stale value is served while the refresh runs; the next call sees the new one.
        assert_eq!(l.get().await.mode_names(), ["exception"]);
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(l.get().await.mode_names(), ["latency"]);
        assert_eq!(l.fetches(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_invocation_waits_at_most_the_fetch_timeout() {
        let (l, _) = live(
            r#"{"exception": {"enabled": true}}"#,
            Duration::from_secs(3),
        );
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
        fn fetch(&self) -> BoxFuture<'_, Result<Option<String>, String>> {
            Box::pin(std::future::pending())
        }
        fn describe(&self) -> String {
            "silent".into()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_first_invocation_waits_for_a_pending_first_fetch() {
        let l = LiveConfig::new(
            Box::new(Silent),
            Duration::from_secs(60),
            Duration::from_millis(1000),
        );
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
        for (doc, n) in [
            (Ok(Some("{nope".to_owned())), 1),
            (Ok(Some(r#"{"meteor": {"enabled": true}}"#.to_owned())), 1),
            (
                Ok(Some(
                    r#"{"denylist": {"enabled": true, "deny_list": ["(a+)+$"]}}"#.to_owned(),
                )),
                1,
            ),
            (Err("connection refused".to_owned()), 1),
            (Ok(None), 1),
        ] {
            let cell = Arc::new(Mutex::new(doc));
            let l = LiveConfig::new(
                Box::new(Shared(cell, Duration::ZERO)),
                Duration::from_secs(1),
                Duration::from_millis(200),
            );
            for _ in 0..5 {
                assert!(l.get().await.is_empty());
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            assert!(l.fetches() >= 5);
            assert_eq!(l.problems_logged(), n);
        }
    }
}

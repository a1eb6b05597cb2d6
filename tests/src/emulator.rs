//! The Lambda Runtime API emulator (`cargo lambda watch --only-lambda-apis`) running the real
//! function binaries: [`start_runtime_api`] starts the emulator alone (the layer's test chain
//! attaches its own processes), [`Emulator`] attaches one function binary and invokes it over
//! HTTP, [`Logs`] holds the function's captured log lines.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::paths::{built_binary, tool, workspace_root};
use crate::wait::{free_port, poll, wait_for_port};

/// Starts the Runtime API emulator (`cargo lambda watch --only-lambda-apis`) for the crate at
/// `manifest` (relative to the workspace root) on a free port, and waits until it listens.
/// Returns the emulator's process (killed on drop) and its port; a function reaches it at
/// `http://127.0.0.1:PORT/.rt`, invocations go to `/2015-03-31/functions/_/invocations`.
pub async fn start_runtime_api(manifest: &str) -> Result<(Child, u16)> {
    let cargo_lambda = tool("cargo-lambda")?;
    let port = free_port();
    let path = format!(
        "{}:{}",
        cargo_lambda.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut watch = Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "-P",
            &port.to_string(),
            "--manifest-path",
        ])
        .arg(workspace_root().join(manifest))
        .env("PATH", &path)
        .current_dir(workspace_root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting `cargo lambda watch`")?;
    wait_for_port(
        port,
        "cargo lambda watch",
        &mut watch,
        Duration::from_secs(60),
    )
    .await?;
    Ok((watch, port))
}

/// The Lambda Runtime API emulator with one function binary attached to it. Both stop on drop.
pub struct Emulator {
    port: u16,
    watch: Child,
    function: Child,
    http: reqwest::Client,
}

impl Emulator {
    /// Starts the emulator and the built binary `bin` with `env` (plus the variables
    /// lambda_runtime needs). The function's stderr goes to this process's stderr.
    pub async fn start(bin: &str, manifest: &str, env: &[(String, String)]) -> Result<Emulator> {
        Self::launch(bin, manifest, env, false).await
    }

    /// As [`Emulator::start`], with the function's stdout and stderr captured into [`Logs`].
    pub async fn start_capturing(
        bin: &str,
        manifest: &str,
        env: &[(String, String)],
    ) -> Result<(Emulator, Logs)> {
        let mut emulator = Self::launch(bin, manifest, env, true).await?;
        let logs = Logs::default();
        logs.follow(emulator.function.stdout.take().expect("piped"));
        logs.follow(emulator.function.stderr.take().expect("piped"));
        Ok((emulator, logs))
    }

    /// Starts the emulator and the built binary `bin` with `env` (plus the variables
    /// lambda_runtime needs); the function's output is inherited, or piped when `capture`.
    async fn launch(
        bin: &str,
        manifest: &str,
        env: &[(String, String)],
        capture: bool,
    ) -> Result<Emulator> {
        let output = || {
            if capture {
                Stdio::piped()
            } else {
                Stdio::inherit()
            }
        };
        let binary = built_binary(bin)?;
        let (watch, port) = start_runtime_api(manifest).await?;
        let function = Command::new(&binary)
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .stdout(output())
            .stderr(output())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Emulator {
            port,
            watch,
            function,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()?,
        })
    }

    /// Invokes the function with a raw body; returns the HTTP status and the response JSON
    /// (the result, or the error object `{errorType, errorMessage}`).
    pub async fn invoke_raw(&mut self, body: &str) -> Result<(u16, Value)> {
        if let Some(status) = self.function.try_wait()? {
            bail!("the function process exited with {status}");
        }
        let resp = self
            .http
            .post(format!(
                "http://127.0.0.1:{}/2015-03-31/functions/_/invocations",
                self.port
            ))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .context("invoking through the emulator")?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, json))
    }

    /// Whether the function process is still running.
    pub fn function_alive(&mut self) -> bool {
        matches!(self.function.try_wait(), Ok(None))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.function.start_kill();
        let _ = self.watch.start_kill();
    }
}

/// Log lines a function process wrote (stdout and stderr), also echoed to this process's
/// stderr.
#[derive(Debug, Clone, Default)]
pub struct Logs(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Logs {
    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Waits until a line contains every one of `needles`; returns it.
    pub async fn wait_for(&self, needles: &[&str], deadline: Duration) -> Result<String> {
        poll(&format!("a log line with {needles:?}"), deadline, || {
            let found = self
                .lines()
                .into_iter()
                .find(|l| needles.iter().all(|n| l.contains(n)));
            async move { Ok(found) }
        })
        .await
    }

    fn follow<R: tokio::io::AsyncRead + Unpin + Send + 'static>(&self, r: R) {
        use tokio::io::AsyncBufReadExt;
        let lines = self.0.clone();
        tokio::spawn(async move {
            let mut r = tokio::io::BufReader::new(r).lines();
            while let Ok(Some(l)) = r.next_line().await {
                eprintln!("{l}");
                lines.lock().unwrap().push(l);
            }
        });
    }
}

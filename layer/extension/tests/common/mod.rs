//! The layer's end-to-end chain: the cargo-lambda Runtime API emulator → the built
//! `faultline-extension` (as Lambda would start it, with the real `AWS_LAMBDA_RUNTIME_API`) →
//! a function started through the layer's own wrapper script (`faultline-wrapper`, which points
//! it at the proxy and preloads the built denylist shim). A "direct" chain leaves the proxy out
//! so tests can compare byte for byte.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tokio::process::{Child, Command};

/// Which test function runs.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Func {
    /// `faultline-testfn` on lambda_runtime.
    Rust,
    /// `layer/testfns/python/handler.py` under awslambdaric.
    Python,
    /// `faultline-noop` (benchmark).
    Noop,
}

/// How to start a chain.
pub struct Opts {
    /// The function.
    pub func: Func,
    /// Put the proxy extension in between.
    pub proxied: bool,
    /// Extra environment for the extension (config parameter, TTL, moto endpoint...).
    pub ext_env: Vec<(String, String)>,
    /// The extension binary (default: the workspace build).
    pub ext_bin: Option<PathBuf>,
}

impl Opts {
    /// A proxied chain for `func` with `ext_env`.
    pub fn proxied(func: Func, ext_env: Vec<(String, String)>) -> Opts {
        Opts {
            func,
            proxied: true,
            ext_env,
            ext_bin: None,
        }
    }
}

/// A running chain; every process stops on drop.
pub struct Chain {
    /// The emulator's port.
    pub emu_port: u16,
    /// The proxy's port, when proxied.
    pub proxy_port: Option<u16>,
    /// The test's private temp directory (the layer's `FAULTLINE_TMP_DIR`).
    pub dir: PathBuf,
    /// The extension's combined stdout/stderr.
    pub ext_log: PathBuf,
    watch: Child,
    /// The extension process.
    pub ext: Option<Child>,
    /// The function process.
    pub func: Child,
    http: reqwest::Client,
}

// The workspace's shared harness: paths, ports, the Runtime API emulator and a private
// moto_server per test.
pub use faultline_e2e::{
    built_binary, free_port, start_runtime_api, venv, wait_for_port, workspace_root, Moto,
};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A fresh private directory under the system temp dir.
pub fn private_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "faultline-layer-{tag}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("a private temp dir");
    d
}

fn wrappers() -> PathBuf {
    workspace_root().join("layer/wrappers")
}

/// A layer directory like `/opt` holding `lib/libfaultline_deny.so` (the built shim).
fn layer_dir(dir: &Path) -> Result<PathBuf> {
    let l = dir.join("opt");
    std::fs::create_dir_all(l.join("lib"))?;
    let so = l.join("lib/libfaultline_deny.so");
    if !so.exists() {
        std::os::unix::fs::symlink(faultline_deny_shim::SO_PATH, &so)?;
    }
    Ok(l)
}

impl Chain {
    /// Starts emulator, extension (when proxied) and function.
    pub async fn start(opts: Opts) -> Result<Chain> {
        let dir = private_dir("chain");
        let (watch, emu_port) = start_runtime_api("layer/testfns/Cargo.toml").await?;
        let upstream = format!("http://127.0.0.1:{emu_port}/.rt");

        let ext_log = dir.join("extension.log");
        let (ext, proxy_port) = if opts.proxied {
            let port = free_port();
            let log = std::fs::File::create(&ext_log)?;
            let bin = match opts.ext_bin {
                Some(b) => b,
                None => built_binary("faultline-extension")?,
            };
            let mut ext = Command::new(bin)
                .envs(opts.ext_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("AWS_LAMBDA_RUNTIME_API", &upstream)
                .env("FAULTLINE_PROXY_PORT", port.to_string())
                .env("FAULTLINE_TMP_DIR", &dir)
                .env("RUST_LOG", "info")
                .stdout(log.try_clone()?)
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .context("starting faultline-extension")?;
            wait_for_port(
                port,
                "faultline-extension",
                &mut ext,
                Duration::from_secs(60),
            )
            .await?;
            (Some(ext), Some(port))
        } else {
            (None, None)
        };

        let mut cmd = match opts.func {
            Func::Rust | Func::Noop => {
                let bin = built_binary(if opts.func == Func::Rust {
                    "faultline-testfn"
                } else {
                    "faultline-noop"
                })?;
                let mut c = Command::new(wrappers().join("faultline-bootstrap"));
                c.arg(bin);
                c
            }
            Func::Python => {
                let py = venv().join("bin/python");
                let root = workspace_root().join("layer/testfns/python");
                let mut c = Command::new(wrappers().join("faultline-wrapper"));
                c.arg(py)
                    .args(["-m", "awslambdaric", "handler.handler"])
                    .current_dir(&root)
                    .env("LAMBDA_TASK_ROOT", &root)
                    .env("PYTHONPATH", &root);
                c
            }
        };
        match proxy_port {
            // The wrapper redirects to the proxy when it listens.
            Some(p) => cmd.env("FAULTLINE_PROXY_PORT", p.to_string()),
            // Direct: a port nobody listens on, so the wrapper leaves the runtime API alone.
            None => cmd.env("FAULTLINE_PROXY_PORT", free_port().to_string()),
        };
        let func = cmd
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                match opts.func {
                    // lambda_runtime wants the scheme; awslambdaric prepends its own.
                    Func::Python => format!("127.0.0.1:{emu_port}/.rt"),
                    _ => format!("http://127.0.0.1:{emu_port}/.rt"),
                },
            )
            .env("FAULTLINE_LAYER_DIR", layer_dir(&dir)?)
            .env("FAULTLINE_TMP_DIR", &dir)
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("_HANDLER", "handler.handler")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the test function")?;
        Ok(Chain {
            emu_port,
            proxy_port,
            dir,
            ext_log,
            watch,
            ext,
            func,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()?,
        })
    }

    /// Invokes with a raw body; returns the status and the raw response text.
    pub async fn invoke_raw(&mut self, body: &str) -> Result<(u16, String)> {
        if let Some(s) = self.func.try_wait()? {
            bail!("the function exited with {s}");
        }
        let resp = self
            .http
            .post(format!(
                "http://127.0.0.1:{}/2015-03-31/functions/_/invocations",
                self.emu_port
            ))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .context("invoking through the emulator")?;
        Ok((resp.status().as_u16(), resp.text().await?))
    }

    /// Invokes with a JSON event; returns the status and the response as JSON.
    pub async fn invoke(&mut self, event: &Value) -> Result<(u16, Value)> {
        let (s, text) = self.invoke_raw(&event.to_string()).await?;
        Ok((
            s,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// The extension's log lines containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        std::fs::read_to_string(&self.ext_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// Whether the extension and the function are both still the processes first started.
    pub fn alive(&mut self) -> bool {
        let f = matches!(self.func.try_wait(), Ok(None));
        let e = match &mut self.ext {
            Some(e) => matches!(e.try_wait(), Ok(None)),
            None => true,
        };
        f && e
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        let _ = self.func.start_kill();
        if let Some(e) = &mut self.ext {
            let _ = e.start_kill();
        }
        let _ = self.watch.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A marker path in the chain's directory, for handler-ran checks.
pub fn marker(chain: &Chain, name: &str) -> PathBuf {
    chain.dir.join(name)
}

/// Environment for the extension: moto, the parameter name, a TTL.
pub fn ext_env(moto_env: Vec<(String, String)>, param: &str, ttl: u64) -> Vec<(String, String)> {
    let mut e = moto_env;
    e.push(("FAILURE_INJECTION_PARAM".into(), param.into()));
    e.push(("FAULTLINE_CACHE_TTL".into(), ttl.to_string()));
    e.push(("FAULTLINE_FETCH_TIMEOUT_MS".into(), "3000".into()));
    e
}

//! The proxy benchmark (an example, so the test run never includes it; `layer/bench` runs it):
//! the same no-op function (`faultline-noop`) invoked under the cargo-lambda Runtime API
//! emulator in up to three arms, interleaved:
//!
//! - `direct`: emulator → function;
//! - `control`: a second direct chain, compared with `direct` as the proxies are (A/A): the
//!   per-pair figures any arm would show if its proxy added nothing, on this machine, now;
//! - `faultline`: emulator → `faultline-extension` → function;
//! - `peer`: emulator → failure-lambda's Runtime API proxy → function (only when its binary is
//!   given: `--peer PATH` or `PEER_PROXY`; build it from failure-lambda's repository, outside
//!   this one).
//!
//! Both proxies read their config from one moto SSM (request recorder on, each proxy signing
//! with its own access key id so its calls can be counted). The peer is started the way its
//! own wrapper starts it (`_ORIGINAL_RUNTIME_API`, `FAILURE_PROXY_PORT`,
//! `FAILURE_INJECTION_PARAM`, its ready file removed, then awaited). Each invocation is one
//! write on a kept-alive socket (a request split over two writes stalls on delayed ACKs in
//! every arm); the arm order rotates through every permutation.
//!
//! Scenarios (each run starts fresh chains): `disabled` (faults configured, all off),
//! `latency0` (latency enabled at 0 %), `bigevent` (a 1.1 MB event, faults off), `missing`
//! (the parameter does not exist). Then `startup`: spawn → ready, where ready means the proxy
//! answered a first proxied `/invocation/next` (config loaded) and, for faultline, has
//! registered and called the Extensions API's `event/next` (what tells Lambda it is ready);
//! for the peer, its ready file exists (what its wrapper waits for).
//!
//! Prints, per scenario and arm: p50 / p90 / p99, the added latency as the difference of the
//! percentiles and per pair (the proxied minus the direct invocation of the same round), the
//! proxy's CPU per invocation (schedstat of all its threads), its RSS, and its SSM calls per
//! invocation; each cell is the median over the runs with [min–max]. No assertion on speed.
//!
//! Options: `--peer PATH`, `--runs N` (3), `--n N` (2000),
//! `--scenarios a,b` (all), `--startup N` (10 spawns per proxy; 0 skips). The big event runs
//! N/2 invocations, the missing parameter N/6.67.
//! Binaries: `FAULTLINE_BENCH_EXTENSION` and `FAULTLINE_BENCH_NOOP` (`layer/bench` points them
//! at release builds); otherwise the workspace's debug builds are measured.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use common::{free_port, venv, workspace_root, Moto};
use http_body_util::Full;
use hyper::{Request, Response};
use serde_json::Value;

/// The peer's ready file (hard-coded in its proxy and wrapper).
const PEER_READY: &str = "/tmp/.failure-lambda-ready";
const DISABLED: &str = r#"{"latency":{"enabled":false},"exception":{"enabled":false}}"#;
const LATENCY0: &str =
    r#"{"latency":{"enabled":true,"percentage":0,"min_latency":100,"max_latency":200}}"#;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Direct,
    /// A second direct chain: its per-pair figures against `Direct` are the method's own noise
    /// (an A/A comparison), the floor under any proxy's per-pair figures in the same run.
    Control,
    Faultline,
    Peer,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Direct => "direct",
            Kind::Control => "control",
            Kind::Faultline => "faultline",
            Kind::Peer => "peer",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Kind::Direct => "direct (no proxy)",
            Kind::Control => "direct again (A/A: the noise floor)",
            Kind::Faultline => "faultline-extension",
            Kind::Peer => "failure-lambda proxy",
        }
    }
    /// The access key id each proxy signs with, so moto's recording tells them apart.
    fn key(self) -> &'static str {
        match self {
            Kind::Direct => "AKIADIRECTBENCH00001",
            Kind::Control => "AKIACONTROLBENCH0001",
            Kind::Faultline => "AKIAFAULTLINEBENCH01",
            Kind::Peer => "AKIAFAILURELAMBDA001",
        }
    }
}

struct Bins {
    ext: PathBuf,
    noop: PathBuf,
    peer: Option<PathBuf>,
}

struct Opts {
    runs: usize,
    n: usize,
    scenarios: Vec<String>,
    startup: usize,
}

/// A child process killed (by its own pid) on drop.
struct Proc(Child);

impl Proc {
    fn pid(&self) -> u32 {
        self.0.id()
    }
    fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Environment without anything inherited from the caller's shell (AWS settings, proxies).
fn clean_env(cmd: &mut Command) -> &mut Command {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let path = format!(
        "{}:{}",
        venv().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env_clear().env("PATH", path).env("HOME", home)
}

fn wait_port(port: u16, p: &mut Proc, what: &str) -> Result<()> {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if !p.alive() {
            bail!("{what} exited before listening on {port}");
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!("{what} not listening on {port} after 60 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

fn moto_env(moto: &Moto, who: Kind) -> Vec<(String, String)> {
    let mut e = moto.env();
    for (k, v) in &mut e {
        if k == "AWS_ACCESS_KEY_ID" {
            *v = who.key().into();
        }
    }
    e
}

/// One chain: emulator [→ proxy] → function, invoked over one kept-alive connection.
struct Arm {
    kind: Kind,
    times: Vec<f64>,
    conn: Option<TcpStream>,
    emu_port: u16,
    request: Vec<u8>,
    expect: Vec<u8>,
    // Dropped in this order: function, proxy, emulator.
    func: Proc,
    proxy: Option<Proc>,
    _emu: Proc,
}

impl Arm {
    fn start(
        kind: Kind,
        bins: &Bins,
        moto: &Moto,
        param: &str,
        dir: &Path,
        event: &[u8],
    ) -> Result<Arm> {
        let log = |what: &str| -> Result<Stdio> {
            Ok(std::fs::File::create(dir.join(format!("{}-{what}.log", kind.name())))?.into())
        };
        let emu_port = free_port();
        let mut emu = Proc(
            clean_env(&mut Command::new(venv().join("bin/cargo-lambda")))
                .args(["lambda", "watch", "--only-lambda-apis", "-P"])
                .arg(emu_port.to_string())
                .arg("--manifest-path")
                .arg(workspace_root().join("layer/testfns/Cargo.toml"))
                .current_dir(workspace_root())
                .stdin(Stdio::null())
                .stdout(log("emulator")?)
                .stderr(Stdio::null())
                .spawn()
                .context("starting cargo-lambda")?,
        );
        wait_port(emu_port, &mut emu, "cargo lambda watch")?;
        let upstream = format!("127.0.0.1:{emu_port}/.rt");
        let (proxy, api) = match kind {
            Kind::Direct | Kind::Control => (None, format!("http://{upstream}")),
            Kind::Faultline => {
                let port = free_port();
                let tmp = dir.join("faultline-tmp");
                std::fs::create_dir_all(&tmp)?;
                let mut p = Proc(
                    clean_env(&mut Command::new(&bins.ext))
                        .envs(moto_env(moto, kind))
                        .env("AWS_LAMBDA_RUNTIME_API", format!("http://{upstream}"))
                        .env("FAULTLINE_PROXY_PORT", port.to_string())
                        .env("FAILURE_INJECTION_PARAM", param)
                        .env("FAULTLINE_CACHE_TTL", "60")
                        .env("FAULTLINE_FETCH_TIMEOUT_MS", "3000")
                        .env("FAULTLINE_TMP_DIR", &tmp)
                        .env("RUST_LOG", "info")
                        .stdin(Stdio::null())
                        .stdout(log("proxy")?)
                        .stderr(log("proxy-err")?)
                        .spawn()
                        .context("starting faultline-extension")?,
                );
                wait_port(port, &mut p, "faultline-extension")?;
                (Some(p), format!("http://127.0.0.1:{port}"))
            }
            Kind::Peer => {
                let port = free_port();
                let peer = bins.peer.as_ref().context("no peer binary")?;
                let _ = std::fs::remove_file(PEER_READY);
                let mut p = Proc(
                    clean_env(&mut Command::new(peer))
                        .envs(moto_env(moto, kind))
                        .env("_ORIGINAL_RUNTIME_API", &upstream)
                        .env("FAILURE_PROXY_PORT", port.to_string())
                        .env("FAILURE_INJECTION_PARAM", param)
                        .stdin(Stdio::null())
                        .stdout(log("proxy")?)
                        .stderr(log("proxy-err")?)
                        .spawn()
                        .context("starting the peer proxy")?,
                );
                let t = Instant::now();
                while !Path::new(PEER_READY).exists() {
                    if !p.alive() || t.elapsed() > Duration::from_secs(30) {
                        bail!("the peer proxy did not write {PEER_READY}");
                    }
                    std::thread::sleep(Duration::from_micros(500));
                }
                (Some(p), format!("http://127.0.0.1:{port}"))
            }
        };
        let func = Proc(
            clean_env(&mut Command::new(&bins.noop))
                .env("AWS_LAMBDA_RUNTIME_API", api)
                .env("AWS_LAMBDA_FUNCTION_NAME", "_")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log("function")?)
                .spawn()
                .context("starting the no-op function")?,
        );
        let mut request = format!(
            "POST /2015-03-31/functions/_/invocations HTTP/1.1\r\nhost: 127.0.0.1\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n",
            event.len()
        )
        .into_bytes();
        request.extend_from_slice(event);
        Ok(Arm {
            kind,
            times: Vec::new(),
            conn: None,
            emu_port,
            request,
            expect: b"{}".to_vec(),
            func,
            proxy,
            _emu: emu,
        })
    }

    /// One invocation: the whole request in one write, then read to the end of the answer.
    /// Returns milliseconds from the write to the answer's last byte.
    fn invoke(&mut self) -> Result<f64> {
        if self.conn.is_none() {
            let s = TcpStream::connect(("127.0.0.1", self.emu_port))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(120)))?;
            self.conn = Some(s);
        }
        let s = self.conn.as_mut().expect("connected");
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 65536];
        let t = Instant::now();
        s.write_all(&self.request)?;
        let (status, body, close) = loop {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                bail!("{}: the emulator closed the connection", self.kind.name());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(done) = parse_answer(&buf)? {
                break done;
            }
        };
        let dt = t.elapsed().as_secs_f64() * 1e3;
        if status != 200 || body.trim_ascii() != self.expect {
            bail!(
                "{}: status {status}, body {:?}",
                self.kind.name(),
                String::from_utf8_lossy(&body[..body.len().min(200)])
            );
        }
        if close {
            self.conn = None;
        }
        Ok(dt)
    }
}

/// A complete HTTP/1.1 answer with a content length: (status, body, connection: close).
fn parse_answer(buf: &[u8]) -> Result<Option<(u16, Vec<u8>, bool)>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end])?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line in {head:?}"))?;
    let (mut len, mut close) = (None, false);
    for l in lines {
        let (k, v) = l.split_once(':').unwrap_or((l, ""));
        if k.eq_ignore_ascii_case("content-length") {
            len = v.trim().parse::<usize>().ok();
        } else if k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close") {
            close = true;
        }
    }
    let len = len.ok_or_else(|| anyhow!("an answer without content-length: {head:?}"))?;
    let body = &buf[end + 4..];
    Ok((body.len() >= len).then(|| (status, body[..len].to_vec(), close)))
}

#[derive(Default, Clone, Copy)]
struct ProcStats {
    sched_ns: u64,
    rss_kb: u64,
    hwm_kb: u64,
    threads: u64,
}

fn proc_stats(pid: u32) -> ProcStats {
    let mut st = ProcStats::default();
    if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        for l in s.lines() {
            let val = || {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            if l.starts_with("VmRSS:") {
                st.rss_kb = val();
            } else if l.starts_with("VmHWM:") {
                st.hwm_kb = val();
            } else if l.starts_with("Threads:") {
                st.threads = val();
            }
        }
    }
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                st.sched_ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    st
}

/// SSM `GetParameter` / `GetParameters` requests in moto's recording, by caller.
fn ssm_calls(recording: &Path) -> BTreeMap<Kind, usize> {
    let mut out = BTreeMap::new();
    let text = std::fs::read_to_string(recording).unwrap_or_default();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(h) = v["headers"].as_object() else {
            continue;
        };
        let get = |name: &str| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let target = get("x-amz-target");
        if target != "AmazonSSM.GetParameter" && target != "AmazonSSM.GetParameters" {
            continue;
        }
        let auth = get("authorization");
        for k in [Kind::Faultline, Kind::Peer] {
            if auth.contains(&format!("Credential={}/", k.key())) {
                *out.entry(k).or_default() += 1;
            }
        }
    }
    out
}

fn pct(xs: &[f64], p: f64) -> f64 {
    let mut s = xs.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[((s.len() as f64 - 1.0) * p).round() as usize]
}

/// One run's figures for one proxied arm (or the direct one: only `lat`).
#[derive(Default, Clone)]
struct ArmResult {
    lat: [f64; 3],
    added: [f64; 3],
    pair: [f64; 3],
    cpu_us: f64,
    rss_mib: f64,
    hwm_mib: f64,
    ssm_per_inv: f64,
    ssm_setup: usize,
}

const QS: [f64; 3] = [0.5, 0.9, 0.99];

struct Scenario {
    name: &'static str,
    param: &'static str,
    config: Option<&'static str>,
    n: usize,
    event: Vec<u8>,
}

fn big_event() -> Vec<u8> {
    let records: Vec<Value> = (0..7400)
        .map(|i| {
            serde_json::json!({"messageId": format!("id-{i:07}"), "body": "x".repeat(40),
                "attributes": {"a": i, "b": true}, "tags": ["alpha", "beta"], "value": i as f64 * 1.5})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "Records": records })).expect("json")
}

fn run_scenario(
    sc: &Scenario,
    kinds: &[Kind],
    bins: &Bins,
    moto: &Moto,
    recording: &Path,
    dir: &Path,
) -> Result<BTreeMap<Kind, ArmResult>> {
    let dir = dir.join(sc.name);
    std::fs::create_dir_all(&dir)?;
    let ssm0 = ssm_calls(recording);
    let mut arms = Vec::new();
    for &k in kinds {
        arms.push(Arm::start(k, bins, moto, sc.param, &dir, &sc.event)?);
    }
    let warmup = 50.min(sc.n / 4).max(10);
    for _ in 0..warmup {
        for a in &mut arms {
            a.invoke()?;
        }
    }
    let ssm1 = ssm_calls(recording);
    let pre: Vec<ProcStats> = arms
        .iter()
        .map(|a| {
            a.proxy
                .as_ref()
                .map(|p| proc_stats(p.pid()))
                .unwrap_or_default()
        })
        .collect();
    let perms = permutations(arms.len());
    for i in 0..sc.n {
        for &j in &perms[i % perms.len()] {
            let t = arms[j].invoke()?;
            arms[j].times.push(t);
        }
    }
    let ssm2 = ssm_calls(recording);
    let mut out = BTreeMap::new();
    let direct = arms
        .iter()
        .position(|a| a.kind == Kind::Direct)
        .expect("a direct arm");
    let dtimes = arms[direct].times.clone();
    for (i, a) in arms.iter_mut().enumerate() {
        let mut r = ArmResult::default();
        for (q, p) in QS.iter().enumerate() {
            r.lat[q] = pct(&a.times, *p);
            r.added[q] = r.lat[q] - pct(&dtimes, *p);
        }
        let pairs: Vec<f64> = a.times.iter().zip(&dtimes).map(|(x, d)| x - d).collect();
        for (q, p) in QS.iter().enumerate() {
            r.pair[q] = pct(&pairs, *p);
        }
        if let Some(p) = &mut a.proxy {
            if !p.alive() {
                bail!("{} proxy died", a.kind.name());
            }
            let post = proc_stats(p.pid());
            r.cpu_us = (post.sched_ns - pre[i].sched_ns) as f64 / 1e3 / sc.n as f64;
            r.rss_mib = post.rss_kb as f64 / 1024.0;
            r.hwm_mib = post.hwm_kb as f64 / 1024.0;
            let c = |m: &BTreeMap<Kind, usize>| m.get(&a.kind).copied().unwrap_or(0);
            r.ssm_setup = c(&ssm1) - c(&ssm0);
            r.ssm_per_inv = (c(&ssm2) - c(&ssm1)) as f64 / sc.n as f64;
        }
        if !a.func.alive() {
            bail!("{} function died", a.kind.name());
        }
        out.insert(a.kind, r);
    }
    Ok(out)
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    fn go(prefix: Vec<usize>, rest: Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if rest.is_empty() {
            out.push(prefix);
            return;
        }
        for i in 0..rest.len() {
            let mut p = prefix.clone();
            p.push(rest[i]);
            let mut r = rest.clone();
            r.remove(i);
            go(p, r, out);
        }
    }
    let mut out = Vec::new();
    go(Vec::new(), (0..n).collect(), &mut out);
    out
}

/// A stand-in Runtime and Extensions API for the start-up timing: answers `register`, holds
/// `event/next` (noting when it first arrives), and hands out an event on `invocation/next`.
#[derive(Default)]
struct StandIn {
    event_next: Mutex<Option<Instant>>,
}

async fn stand_in(state: Arc<StandIn>) -> Result<u16> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            let state = state.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let state = state.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let mut r = Response::new(Full::new(Bytes::from_static(b"{}")));
                        if path.ends_with("/extension/register") {
                            r.headers_mut().insert(
                                "lambda-extension-identifier",
                                hyper::header::HeaderValue::from_static("bench"),
                            );
                        } else if path.ends_with("/extension/event/next") {
                            state
                                .event_next
                                .lock()
                                .unwrap()
                                .get_or_insert_with(Instant::now);
                            std::future::pending::<()>().await;
                        } else if path.ends_with("/runtime/invocation/next") {
                            let h = r.headers_mut();
                            h.insert(
                                "lambda-runtime-aws-request-id",
                                hyper::header::HeaderValue::from_static("startup-1"),
                            );
                            h.insert(
                                "lambda-runtime-deadline-ms",
                                hyper::header::HeaderValue::from_static("600000"),
                            );
                            h.insert(
                                "content-type",
                                hyper::header::HeaderValue::from_static("application/json"),
                            );
                        } else {
                            *r.status_mut() = hyper::StatusCode::ACCEPTED;
                        }
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    Ok(port)
}

/// Start-up figures of one spawn, in ms from the spawn: listening (first TCP connect),
/// serving (first proxied `/invocation/next` answered), ready (serving and registered with the
/// Extensions API / ready file written).
struct Startup {
    listen: f64,
    serve: f64,
    ready: f64,
}

fn startup_once(
    kind: Kind,
    bins: &Bins,
    moto: &Moto,
    rt: &tokio::runtime::Handle,
) -> Result<Startup> {
    let state = Arc::new(StandIn::default());
    let api_port = rt.block_on(stand_in(state.clone()))?;
    let port = free_port();
    let dir = common::private_dir("startup");
    let mut cmd = match kind {
        Kind::Faultline => {
            let mut c = Command::new(&bins.ext);
            clean_env(&mut c)
                .envs(moto_env(moto, kind))
                .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{api_port}"))
                .env("FAULTLINE_PROXY_PORT", port.to_string())
                .env("FAILURE_INJECTION_PARAM", "/bench/disabled")
                .env("FAULTLINE_TMP_DIR", &dir);
            c
        }
        _ => {
            let _ = std::fs::remove_file(PEER_READY);
            let mut c = Command::new(bins.peer.as_ref().context("no peer")?);
            clean_env(&mut c)
                .envs(moto_env(moto, kind))
                .env("_ORIGINAL_RUNTIME_API", format!("127.0.0.1:{api_port}"))
                .env("FAILURE_PROXY_PORT", port.to_string())
                .env("FAILURE_INJECTION_PARAM", "/bench/disabled");
            c
        }
    };
    let t0 = Instant::now();
    let mut p = Proc(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let request = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";
    let mut s = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            break s;
        }
        if !p.alive() || t0.elapsed() > Duration::from_secs(30) {
            bail!("{} did not listen", kind.name());
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let listen = t0.elapsed().as_secs_f64() * 1e3;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(request)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            bail!("{}: connection closed before the first event", kind.name());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some((status, _, _)) = parse_answer(&buf)? {
            if status != 200 {
                bail!("{}: first /next answered {status}", kind.name());
            }
            break;
        }
    }
    let serve = t0.elapsed().as_secs_f64() * 1e3;
    let ready_at = loop {
        let r = match kind {
            Kind::Faultline => *state.event_next.lock().unwrap(),
            _ => std::fs::metadata(PEER_READY).ok().map(|_| Instant::now()),
        };
        if let Some(r) = r {
            break r;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            bail!("{} never became ready", kind.name());
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let ready = serve.max(ready_at.duration_since(t0).as_secs_f64() * 1e3);
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Startup {
        listen,
        serve,
        ready,
    })
}

fn median(xs: &[f64]) -> f64 {
    pct(xs, 0.5)
}

fn cell(xs: &[f64], fmt: impl Fn(f64) -> String) -> String {
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if xs.len() == 1 {
        fmt(xs[0])
    } else {
        format!("{} [{}–{}]", fmt(median(xs)), fmt(min), fmt(max))
    }
}

fn parse_opts() -> Result<(Opts, Option<PathBuf>)> {
    let mut o = Opts {
        runs: 3,
        n: 2000,
        scenarios: ["disabled", "latency0", "bigevent", "missing"]
            .map(String::from)
            .to_vec(),
        startup: 10,
    };
    let mut peer = std::env::var_os("PEER_PROXY")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| anyhow!("{a} needs a value"));
        match a.as_str() {
            "--peer" => peer = Some(PathBuf::from(val()?)),
            "--runs" => o.runs = val()?.parse()?,
            "--n" => o.n = val()?.parse()?,
            "--scenarios" => o.scenarios = val()?.split(',').map(String::from).collect(),
            "--startup" => o.startup = val()?.parse()?,
            _ => bail!(
                "unknown option {a} (see the header of layer/extension/examples/proxy_bench.rs)"
            ),
        }
    }
    if let Some(p) = &peer {
        if !p.is_file() {
            bail!("the peer proxy {} does not exist", p.display());
        }
    }
    Ok((o, peer))
}

fn main() -> Result<()> {
    let (opts, peer) = parse_opts()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let bin = |var: &str, name: &str| -> Result<PathBuf> {
        match std::env::var_os(var) {
            Some(p) => Ok(PathBuf::from(p)),
            None => common::built_binary(name),
        }
    };
    let bins = Bins {
        ext: bin("FAULTLINE_BENCH_EXTENSION", "faultline-extension")?,
        noop: bin("FAULTLINE_BENCH_NOOP", "faultline-noop")?,
        peer,
    };
    let dir = common::private_dir("bench");
    let recording = dir.join("moto-requests.jsonl");
    let rec = recording.to_str().context("a UTF-8 path")?.to_owned();
    let moto = rt.block_on(Moto::start_with(&[
        ("MOTO_ENABLE_RECORDING", "True"),
        ("MOTO_RECORDER_FILEPATH", &rec),
    ]))?;
    rt.block_on(async {
        moto.put_param("/bench/disabled", DISABLED).await?;
        moto.put_param("/bench/latency0", LATENCY0).await?;
        // The kill switch as Terraform creates it, so faultline runs its usual path.
        moto.put_param("/faultline/enabled", "true").await
    })?;
    let mut kinds = vec![Kind::Direct, Kind::Control, Kind::Faultline];
    if bins.peer.is_some() {
        kinds.push(Kind::Peer);
    }
    let small = (opts.n * 3 / 20).max(20);
    // Enough big events that the p99 is not a handful of rounds (1,000 at the default n).
    let big = (opts.n / 2).max(20);
    let all = [
        Scenario {
            name: "disabled",
            param: "/bench/disabled",
            config: Some(DISABLED),
            n: opts.n,
            event: b"{}".to_vec(),
        },
        Scenario {
            name: "latency0",
            param: "/bench/latency0",
            config: Some(LATENCY0),
            n: opts.n,
            event: b"{}".to_vec(),
        },
        Scenario {
            name: "bigevent",
            param: "/bench/disabled",
            config: Some(DISABLED),
            n: big,
            event: big_event(),
        },
        Scenario {
            name: "missing",
            param: "/bench/does-not-exist",
            config: None,
            n: small,
            event: b"{}".to_vec(),
        },
    ];
    let scenarios: Vec<&Scenario> = all
        .iter()
        .filter(|s| opts.scenarios.iter().any(|n| n == s.name))
        .collect();
    let mut results: BTreeMap<&str, Vec<BTreeMap<Kind, ArmResult>>> = BTreeMap::new();
    for run in 1..=opts.runs {
        for sc in &scenarios {
            eprintln!(
                "[bench] run {run}/{}: {} ({} invocations per arm)",
                opts.runs, sc.name, sc.n
            );
            let r = run_scenario(
                sc,
                &kinds,
                &bins,
                &moto,
                &recording,
                &dir.join(format!("run{run}")),
            )?;
            results.entry(sc.name).or_default().push(r);
        }
    }
    let mut starts: BTreeMap<Kind, Vec<Startup>> = BTreeMap::new();
    if opts.startup > 0 {
        eprintln!("[bench] start-up: {} spawns per proxy", opts.startup);
        let proxies: Vec<Kind> = kinds
            .iter()
            .copied()
            .filter(|k| !matches!(k, Kind::Direct | Kind::Control))
            .collect();
        for i in 0..opts.startup {
            let mut order = proxies.clone();
            if i % 2 == 1 {
                order.reverse();
            }
            for k in order {
                let s = startup_once(k, &bins, &moto, rt.handle())?;
                starts.entry(k).or_default().push(s);
            }
        }
    }

    // The report (Markdown).
    let ms = |x: f64| format!("{x:.3}");
    let sms = |x: f64| format!("{x:+.3}");
    println!(
        "faultline proxy benchmark: {} run(s); cells are the median over runs [min–max]",
        opts.runs
    );
    println!("- faultline-extension: {}", bins.ext.display());
    println!("- function (every arm): {}", bins.noop.display());
    if let Some(p) = &bins.peer {
        println!("- peer proxy: {}", p.display());
    }
    for sc in &scenarios {
        let runs = &results[sc.name];
        println!();
        println!(
            "### `{}`: {} invocations per arm and run, event {} bytes, config {}",
            sc.name,
            sc.n,
            sc.event.len(),
            sc.config
                .map(|c| format!("`{c}`"))
                .unwrap_or("missing".into())
        );
        println!();
        println!("| arm | p50 ms | p90 ms | p99 ms | added p50 / p90 / p99 (Δ of percentiles) | per-pair added p50 / p90 / p99 | CPU µs/inv | RSS (HWM) MiB | SSM calls/inv (start-up + warm-up) |");
        println!("|---|---|---|---|---|---|---|---|---|");
        for &k in &kinds {
            let col = |f: &dyn Fn(&ArmResult) -> f64, fmt: &dyn Fn(f64) -> String| {
                cell(&runs.iter().map(|r| f(&r[&k])).collect::<Vec<_>>(), fmt)
            };
            let lat = |q: usize| col(&|r| r.lat[q], &ms);
            if k == Kind::Direct {
                println!(
                    "| {} | {} | {} | {} | | | | | |",
                    k.label(),
                    lat(0),
                    lat(1),
                    lat(2)
                );
                continue;
            }
            let three = |f: &dyn Fn(&ArmResult, usize) -> f64| {
                (0..3)
                    .map(|q| col(&|r| f(r, q), &sms))
                    .collect::<Vec<_>>()
                    .join(" / ")
            };
            // The control arm has no proxy process: its CPU, RSS and SSM cells stay empty.
            let process = if k == Kind::Control {
                " | | ".to_owned()
            } else {
                let setup: Vec<String> = runs.iter().map(|r| r[&k].ssm_setup.to_string()).collect();
                format!(
                    " {} | {} ({}) | {} ({}) ",
                    col(&|r| r.cpu_us, &|x| format!("{x:.0}")),
                    col(&|r| r.rss_mib, &|x| format!("{x:.1}")),
                    col(&|r| r.hwm_mib, &|x| format!("{x:.1}")),
                    col(&|r| r.ssm_per_inv, &|x| format!("{x:.3}")),
                    setup.join("/")
                )
            };
            println!(
                "| {} | {} | {} | {} | {} | {} |{process}|",
                k.label(),
                lat(0),
                lat(1),
                lat(2),
                three(&|r, q| r.added[q]),
                three(&|r, q| r.pair[q]),
            );
        }
    }
    if !starts.is_empty() {
        println!();
        println!(
            "### start-up: ms from spawn, {} spawns per proxy, median [min–max]",
            opts.startup
        );
        println!();
        println!("| proxy | listening | first proxied `/next` answered | ready (registered / ready file, and serving) |");
        println!("|---|---|---|---|");
        for (k, v) in &starts {
            let c = |f: &dyn Fn(&Startup) -> f64| {
                cell(&v.iter().map(f).collect::<Vec<_>>(), |x| format!("{x:.1}"))
            };
            println!(
                "| {} | {} | {} | {} |",
                k.label(),
                c(&|s| s.listen),
                c(&|s| s.serve),
                c(&|s| s.ready)
            );
        }
    }
    drop(moto);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

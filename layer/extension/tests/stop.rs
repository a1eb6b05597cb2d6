//! "The layer stops too", end to end: the cargo-lambda emulator → the built
//! `faultline-extension` → the Rust test function, with the config and the kill switch in a
//! private moto's SSM. A halt (`false` written as `faultline halt` writes it) stops a latency
//! fault within the active refresh interval; SSM is read in the background, never per
//! invocation, and both parameters in one `GetParameters`; `diskspace` files go after expiry,
//! clear and halt, with no invocation needed.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::{ext_env, Chain, Func, Moto, Opts};
use serde_json::{json, Value};

const PARAM: &str = "/faultline/layer-stop-test";
/// The kill switch's default name (the monkey's, the CLI's, Terraform's).
const KILL_SWITCH: &str = "/faultline/enabled";
/// The latency every faulted invocation gets; a clean one is faster.
const LATENCY_MS: u64 = 200;
/// Slack over a deadline for a machine shared by several test binaries.
const SLACK: Duration = Duration::from_secs(3);

fn latency_config() -> String {
    format!(
        r#"{{"latency": {{"enabled": true, "percentage": 100, "min_latency": {LATENCY_MS}, "max_latency": {LATENCY_MS}}}}}"#
    )
}

/// Writes the kill switch exactly as `faultline halt` / `resume` do: a String parameter,
/// overwritten.
async fn set_kill_switch(moto: &Moto, on: bool) -> Result<()> {
    moto.put_param(KILL_SWITCH, if on { "true" } else { "false" })
        .await
}

/// Invokes once; returns whether the latency fault was injected (the call took at least
/// [`LATENCY_MS`]; the fault's floor is exact, so a faster call is clean).
async fn faulted(c: &mut Chain, i: usize) -> Result<bool> {
    let t = Instant::now();
    let (s, v) = c.invoke(&json!({"i": i})).await?;
    anyhow::ensure!(s == 200 && v["event"]["i"] == i, "invocation {i}: {s} {v}");
    Ok(t.elapsed() >= Duration::from_millis(LATENCY_MS))
}

/// From the halt write to the start of the first clean invocation, polling until `deadline`.
async fn halt_to_clean(moto: &Moto, c: &mut Chain, deadline: Duration) -> Result<Duration> {
    set_kill_switch(moto, false).await?;
    let written = Instant::now();
    for i in 0.. {
        let started = written.elapsed();
        if !faulted(c, i).await? {
            return Ok(started);
        }
        anyhow::ensure!(
            written.elapsed() < deadline,
            "still injecting {:?} after the halt (deadline {deadline:?})",
            written.elapsed()
        );
    }
    unreachable!("the loop returns or fails")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halt_stops_a_latency_fault_within_the_active_refresh_interval() -> Result<()> {
    // The defaults: 5 s while a fault is active, 60 s otherwise. One fresh chain per run
    // (after a halt the layer is idle, and a resume is seen only at the idle cadence).
    const ACTIVE: Duration = Duration::from_secs(5);
    const RUNS: usize = 5;
    let moto = Moto::start().await?;
    moto.put_param(PARAM, &latency_config()).await?;
    let mut took = Vec::new();
    for run in 0..RUNS {
        set_kill_switch(&moto, true).await?;
        let mut c = Chain::start(Opts::proxied(Func::Rust, ext_env(moto.env(), PARAM, 60))).await?;
        assert!(
            faulted(&mut c, 0).await?,
            "run {run}: no latency before the halt"
        );
        // Start the halt at a random phase of the refresh cycle.
        tokio::time::sleep(Duration::from_millis(
            (run as u64 * 1_700) % ACTIVE.as_millis() as u64,
        ))
        .await;
        took.push(halt_to_clean(&moto, &mut c, ACTIVE + SLACK).await?);
        // Still clean afterwards.
        for i in 0..5 {
            assert!(
                !faulted(&mut c, 100 + i).await?,
                "run {run}: a fault after the halt"
            );
        }
        let halted = c.log_lines("kill switch: no faults injected");
        assert_eq!(halted.len(), 1, "run {run}: {halted:#?}");
        assert!(halted[0].contains("is false"), "{}", halted[0]);
    }
    took.sort();
    let median = took[RUNS / 2];
    println!(
        "halt -> first clean invocation, {RUNS} runs (default 5 s active refresh): {took:?}; \
         median {median:?}"
    );
    Ok(())
}

/// The SSM requests moto recorded: (`X-Amz-Target`, body).
fn ssm_requests(recording: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(recording).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).context("a recorded request")?;
        let headers = v["headers"].as_object().cloned().unwrap_or_default();
        let target = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or_default()
            .to_owned();
        if !target.starts_with("AmazonSSM.") {
            continue;
        }
        let body = v["body"].as_str().unwrap_or_default();
        let body = if v["body_encoded"] == true {
            String::from_utf8_lossy(&base64_decode(body)).into_owned()
        } else {
            body.to_owned()
        };
        out.push((target, body));
    }
    Ok(out)
}

/// Standard base64 (moto's recorder encodes bodies with it).
fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else {
            continue;
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssm_is_read_in_the_background_in_one_request_never_per_invocation() -> Result<()> {
    let dir = common::private_dir("recording");
    let recording = dir.join("moto-requests.jsonl");
    let moto = Moto::start_with(&[
        ("MOTO_ENABLE_RECORDING", "True"),
        (
            "MOTO_RECORDER_FILEPATH",
            recording.to_str().context("a UTF-8 path")?,
        ),
    ])
    .await?;
    moto.put_param(
        PARAM,
        r#"{"latency": {"enabled": true, "min_latency": 1, "max_latency": 1}}"#,
    )
    .await?;
    set_kill_switch(&moto, true).await?;
    let mut env = ext_env(moto.env(), PARAM, 60);
    env.push(("FAULTLINE_ACTIVE_REFRESH".into(), "1".into()));
    let mut c = Chain::start(Opts::proxied(Func::Rust, env)).await?;
    c.invoke(&json!({"warm": true})).await?;
    let before = ssm_requests(&recording)?.len();
    let t = Instant::now();
    const INVOCATIONS: usize = 1_000;
    for i in 0..INVOCATIONS {
        let (s, v) = c.invoke(&json!({"i": i})).await?;
        assert_eq!((s, &v["event"]["i"]), (200, &json!(i)), "{v}");
    }
    let elapsed = t.elapsed();
    let requests = ssm_requests(&recording)?;
    let during = requests.len() - before;
    // One read per second of refresh interval, whatever the number of invocations.
    let allowed = elapsed.as_secs() as usize + 2;
    println!("{INVOCATIONS} invocations in {elapsed:?}: {during} SSM requests (at most {allowed})");
    assert!(
        during <= allowed,
        "{during} SSM requests for {INVOCATIONS} invocations in {elapsed:?}"
    );
    assert!(!requests.is_empty(), "moto recorded no SSM request");
    for (target, body) in &requests {
        if target == "AmazonSSM.PutParameter" {
            continue; // the test's own writes
        }
        assert_eq!(target, "AmazonSSM.GetParameters", "{body}");
        let v: Value = serde_json::from_str(body)?;
        let names: Vec<&str> = v["Names"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(names, [PARAM, KILL_SWITCH], "both in one request: {body}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn diskspace_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(".faultline-diskspace-")
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Invokes until a `diskspace` file appears in the function's temp directory.
async fn fill(c: &mut Chain, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while diskspace_files(&c.dir).is_empty() {
        anyhow::ensure!(Instant::now() < deadline, "no diskspace file before {what}");
        c.invoke(&json!({})).await?;
    }
    Ok(())
}

/// Polls (no invocation) until the function's temp directory holds no `diskspace` file,
/// failing `within` after `since`.
async fn gone_within(c: &Chain, since: Instant, within: Duration, what: &str) -> Result<()> {
    loop {
        let left = diskspace_files(&c.dir);
        if left.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(
            since.elapsed() < within,
            "{} diskspace files still in the function's /tmp {within:?} after {what}: {left:?}",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diskspace_files_are_gone_after_expiry_clear_and_halt() -> Result<()> {
    const DISK: &str = r#"{"diskspace": {"enabled": true, "disk_space": 1}}"#;
    let refresh = Duration::from_secs(1);
    let moto = Moto::start().await?;
    moto.put_param(PARAM, DISK).await?;
    set_kill_switch(&moto, true).await?;
    // Idle as fast as active, so that re-arming between the steps is seen at once too.
    let mut env = ext_env(moto.env(), PARAM, 1);
    env.push(("FAULTLINE_ACTIVE_REFRESH".into(), "1".into()));
    let mut c = Chain::start(Opts::proxied(Func::Rust, env)).await?;
    let ssm = aws_sdk_ssm::Client::new(&moto.sdk_config().await);

    // Expiry: the same fault, now with an expires_at 3 s away. The files stay until then and
    // go at the expiry, with no read and no invocation needed.
    fill(&mut c, "expiry").await?;
    let set = Instant::now();
    let expires = utc_in(3)?;
    moto.put_param(
        PARAM,
        &format!(
            r#"{{"expires_at": "{expires}", "diskspace": {{"enabled": true, "disk_space": 1}}}}"#
        ),
    )
    .await?;
    tokio::time::sleep(refresh * 2).await;
    assert!(
        !diskspace_files(&c.dir).is_empty(),
        "removed before the expiry although the fault is the same"
    );
    gone_within(&c, set, Duration::from_secs(3) + SLACK, "expires_at").await?;

    // Clear: `faultline layer clear` deletes the parameter.
    moto.put_param(PARAM, DISK).await?;
    fill(&mut c, "clear").await?;
    ssm.delete_parameter().name(PARAM).send().await?;
    gone_within(&c, Instant::now(), refresh + SLACK, "the clear").await?;

    // Halt.
    moto.put_param(PARAM, DISK).await?;
    fill(&mut c, "halt").await?;
    set_kill_switch(&moto, false).await?;
    gone_within(&c, Instant::now(), refresh + SLACK, "the halt").await?;
    let removed = c.log_lines("\"removed\"");
    assert_eq!(removed.len(), 3, "{removed:#?}");
    assert!(c.alive());
    Ok(())
}

/// RFC 3339 (UTC, whole seconds) for `secs` from now, from the system clock the extension
/// compares with.
fn utc_in(secs: u64) -> Result<String> {
    let out = std::process::Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("+{secs} seconds"),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .output()
        .context("running date")?;
    anyhow::ensure!(out.status.success(), "date failed: {out:?}");
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

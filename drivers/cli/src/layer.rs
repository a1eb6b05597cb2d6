//! `faultline layer set | show | clear`: the Lambda layer's fault configuration for one
//! function, an SSM parameter the layer reads live (failure-lambda 1.x format plus
//! `expires_at`). Every document is checked with the layer's own parser before it is written.

use std::process::ExitCode;

use anyhow::Result;
use faultline_core::aws::ssm;

use crate::commands::{aws, fail, INVALID};
use crate::Output;

/// Which function's layer configuration.
#[derive(clap::Args, Debug)]
pub struct LayerTarget {
    /// The function's name.
    pub function: String,
    /// The SSM parameter (default `/faultline/layer/<function>`; the function's
    /// `FAILURE_INJECTION_PARAM` must name the same one).
    #[arg(long)]
    pub param: Option<String>,
}

impl LayerTarget {
    fn param(&self) -> String {
        self.param
            .clone()
            .unwrap_or_else(|| format!("/faultline/layer/{}", self.function))
    }
}

/// `layer set` arguments.
#[derive(clap::Args, Debug)]
pub struct LayerSet {
    #[command(flatten)]
    pub target: LayerTarget,
    /// Added latency in ms, uniformly random in MIN..MAX (e.g. `100..400`, or `200`).
    #[arg(long, value_name = "MIN..MAX")]
    pub latency: Option<String>,
    /// Fail invocations with this message; the handler does not run.
    #[arg(long, value_name = "MESSAGE")]
    pub exception: Option<String>,
    /// Answer with this HTTP status code (API Gateway shape); the handler does not run.
    #[arg(long, value_name = "CODE")]
    pub statuscode: Option<u16>,
    /// Fill /tmp by this many MB.
    #[arg(long, value_name = "MB")]
    pub diskspace: Option<u32>,
    /// Make DNS resolution of matching host names fail (a regex; repeatable).
    #[arg(long, value_name = "REGEX")]
    pub denylist: Vec<String>,
    /// Sleep until this many ms before the deadline.
    #[arg(long, value_name = "BUFFER_MS")]
    pub timeout: Option<u32>,
    /// Replace the response body with this text.
    #[arg(long, value_name = "BODY")]
    pub corruption: Option<String>,
    /// Share of invocations affected: a whole number from 0 to 100 (failure-lambda's rule).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub percentage: u8,
    /// The faults switch themselves off after this long (`30m`, `2h`), or `never`.
    #[arg(long, default_value = "1h")]
    pub expires: String,
}

fn bad(out: Output, msg: String) -> Result<ExitCode> {
    Ok(fail(out, INVALID, &msg, None))
}

/// `layer set`: builds the failure-lambda 1.x document, validates it with the layer's own
/// parser, and only then writes it.
pub async fn set(a: LayerSet, out: Output) -> Result<ExitCode> {
    use serde_json::{json, Map, Value};
    let pct = a.percentage;
    let mut doc = Map::new();
    let mut add = |mode: &str, mut v: Value| {
        v["enabled"] = json!(true);
        v["percentage"] = json!(pct);
        doc.insert(mode.to_owned(), v);
    };
    if let Some(l) = &a.latency {
        let (min, max) = match l.split_once("..") {
            Some((a, b)) => (a.trim().parse::<u64>(), b.trim().parse::<u64>()),
            None => (l.trim().parse::<u64>(), l.trim().parse::<u64>()),
        };
        let (Ok(min), Ok(max)) = (min, max) else {
            return bad(
                out,
                format!("--latency {l:?}: use MIN..MAX in milliseconds, e.g. 100..400"),
            );
        };
        if min > max {
            return bad(out, format!("--latency {l:?}: MIN is above MAX"));
        }
        add("latency", json!({"min_latency": min, "max_latency": max}));
    }
    if let Some(m) = &a.exception {
        add("exception", json!({"exception_msg": m}));
    }
    if let Some(c) = a.statuscode {
        add("statuscode", json!({"status_code": c}));
    }
    if let Some(mb) = a.diskspace {
        add("diskspace", json!({"disk_space": mb}));
    }
    if !a.denylist.is_empty() {
        add("denylist", json!({"deny_list": a.denylist}));
    }
    if let Some(b) = a.timeout {
        add("timeout", json!({"timeout_buffer_ms": b}));
    }
    if let Some(body) = &a.corruption {
        add("corruption", json!({"body": body}));
    }
    if doc.is_empty() {
        return bad(out, "layer set: name at least one fault (--latency, --exception, --statuscode, --diskspace, --denylist, --timeout, --corruption)".to_owned());
    }
    if a.expires != "never" {
        let Ok(d) = humantime::parse_duration(&a.expires) else {
            return bad(
                out,
                format!(
                    "--expires {:?}: use a duration like 30m or 2h, or never",
                    a.expires
                ),
            );
        };
        let at = chrono::Utc::now() + chrono::Duration::from_std(d)?;
        doc.insert(
            "expires_at".to_owned(),
            json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
    }
    let text = Value::Object(doc).to_string();
    if let Err(e) = faultline_layer_engine::config::FaultConfig::parse(&text) {
        return bad(
            out,
            format!("the layer would reject this configuration: {e}"),
        );
    }
    let param = a.target.param();
    ssm::put(&aws().await.ssm, &param, &text, text.len() > 4096, true).await?;
    match out {
        Output::Json => println!(
            "{}",
            serde_json::json!({"param": param, "config": serde_json::from_str::<Value>(&text)?})
        ),
        Output::Text => println!("{param} = {text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `layer show`.
pub async fn show(a: LayerTarget, out: Output) -> Result<ExitCode> {
    let param = a.param();
    let Some(text) = ssm::get(&aws().await.ssm, &param).await? else {
        match out {
            Output::Json => println!(
                "{}",
                serde_json::json!({"param": param, "config": null, "verdict": "not set: no faults"})
            ),
            Output::Text => println!("{param}: not set (no faults)"),
        }
        return Ok(ExitCode::SUCCESS);
    };
    // The layer's own reading (failure-lambda's): what it skips is listed, the rest applies.
    let read = faultline_layer_engine::config::FaultConfig::read(&text);
    let skipped: Vec<String> = match &read {
        Ok(c) => c.skipped.iter().map(ToString::to_string).collect(),
        Err(_) => vec![],
    };
    let verdict = match &read {
        Ok(c) if c.expired(chrono::Utc::now()) => "expired: the layer injects nothing".to_owned(),
        Ok(c) if c.faults.is_empty() => "no fault enabled".to_owned(),
        Ok(c) => format!("active: {}", c.mode_names().join(", ")),
        Err(e) => format!("rejected by the layer (it fails open): {e}"),
    };
    match out {
        Output::Json => println!(
            "{}",
            serde_json::json!({"param": param, "config": text, "verdict": verdict, "skipped": skipped})
        ),
        Output::Text => {
            println!("{param} = {text}\n{verdict}");
            for s in &skipped {
                println!("skipped by the layer: {s}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `layer clear`.
pub async fn clear(a: LayerTarget, out: Output) -> Result<ExitCode> {
    let param = a.param();
    ssm::delete(&aws().await.ssm, std::slice::from_ref(&param)).await?;
    match out {
        Output::Json => println!("{}", serde_json::json!({"param": param, "cleared": true})),
        Output::Text => println!("{param} removed: no more faults"),
    }
    Ok(ExitCode::SUCCESS)
}

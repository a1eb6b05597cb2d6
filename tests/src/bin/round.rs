//! One monkey round as a process: `round SPEC.json` reads a bare experiment or a scheduler
//! envelope, runs exactly what the Lambda runs (settings from the same environment variables,
//! AWS from the usual chain, `AWS_ENDPOINT_URL` included) and prints the result as JSON.
//! The benchmark times this process against Chaos Toolkit's `chaos run`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use faultline_core::aws::Aws;
use faultline_core::clock::SystemClock;
use faultline_core::round;
use faultline_core::settings::settings_from;
use faultline_core::spec::Invocation;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("round: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn run() -> Result<ExitCode> {
    let path = std::env::args()
        .nth(1)
        .context("usage: round SPEC.json (a bare experiment or a scheduler envelope)")?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let settings = settings_from(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
    let mut rng = StdRng::from_entropy();
    let inv = Invocation::from_json_str(&text, chrono::Utc::now(), rng.gen())?;
    let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let aws = Aws::new(&conf);
    let result = round::run(&aws, &settings, &inv, &SystemClock, &mut rng).await?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(ExitCode::SUCCESS)
}

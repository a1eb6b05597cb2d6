//! The commands. Each parses its input completely before calling AWS, prints its result in the
//! chosen format and returns the exit code documented in `main.rs`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use faultline_core::aws::{ssm, Aws};
use faultline_core::record::Status;
use faultline_core::recovery::Stored;
use faultline_core::round::{self, Outcome, RoundResult, Settings, SystemClock};
use faultline_core::spec::Invocation;
use faultline_monkey::config::settings_from;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::Output;

const INVALID: u8 = 2;

fn settings() -> Result<Settings> {
    settings_from(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)
}

async fn aws() -> Aws {
    Aws::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
}

/// Reads and validates a spec; on failure prints the error (naming the field) and returns the
/// exit code to use.
fn load(path: &Path, rng: &mut StdRng) -> Result<Invocation, ExitCode> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("faultline: cannot read {}: {e}", path.display());
            return Err(ExitCode::from(INVALID));
        }
    };
    Invocation::from_json_str(&text, chrono::Utc::now(), rng.gen()).map_err(|e| {
        eprintln!("faultline: {}: {e}", path.display());
        ExitCode::from(INVALID)
    })
}

/// `validate`.
pub fn validate(path: &Path, out: Output) -> Result<ExitCode> {
    let mut rng = StdRng::from_entropy();
    let inv = match load(path, &mut rng) {
        Ok(i) => i,
        Err(code) => return Ok(code),
    };
    let e = &inv.experiment;
    match out {
        Output::Json => println!(
            "{}",
            serde_json::json!({"valid": true, "name": e.name, "action": e.action.name(), "dry_run": e.dry_run})
        ),
        Output::Text => println!(
            "{}: valid ({} {}, {:?})",
            path.display(),
            e.action.name(),
            e.name,
            e.targets.resource
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `plan`: the round as a dry run that publishes nothing.
pub async fn plan(path: &Path, out: Output) -> Result<ExitCode> {
    let mut rng = StdRng::from_entropy();
    let mut inv = match load(path, &mut rng) {
        Ok(i) => i,
        Err(code) => return Ok(code),
    };
    inv.experiment.dry_run = true;
    inv.experiment.notify_refusals = false;
    let settings = settings()?;
    let result = round::run(&aws().await, &settings, &inv, &SystemClock, &mut rng).await?;
    print_result(&result, out, true);
    Ok(code_of(&result))
}

/// `run`.
pub async fn run(path: &Path, yes: bool, out: Output) -> Result<ExitCode> {
    let mut rng = StdRng::from_entropy();
    let inv = match load(path, &mut rng) {
        Ok(i) => i,
        Err(code) => return Ok(code),
    };
    let settings = settings()?;
    let aws = aws().await;
    if !yes && !inv.experiment.dry_run {
        if !std::io::stdin().is_terminal() {
            eprintln!("faultline: refusing to act without --yes when stdin is not a terminal");
            return Ok(ExitCode::from(INVALID));
        }
        // Show the plan first, then ask.
        let mut dry = inv.clone();
        dry.experiment.dry_run = true;
        dry.experiment.notify_refusals = false;
        let plan = round::run(&aws, &settings, &dry, &SystemClock, &mut rng).await?;
        print_result(&plan, Output::Text, true);
        if plan.outcome != Outcome::DryRun {
            return Ok(code_of(&plan));
        }
        eprint!(
            "{} up to {} instance(s) now? Type the experiment name ({}) to confirm: ",
            inv.experiment.action.name(),
            plan.chosen.len(),
            inv.experiment.name
        );
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .context("reading the confirmation")?;
        if answer.trim() != inv.experiment.name {
            eprintln!("faultline: not confirmed; nothing was changed");
            return Ok(ExitCode::from(1));
        }
    }
    let result = round::run(&aws, &settings, &inv, &SystemClock, &mut rng).await?;
    print_result(&result, out, false);
    Ok(code_of(&result))
}

/// `halt` / `resume`.
pub async fn switch(on: bool, out: Output) -> Result<ExitCode> {
    let settings = settings()?;
    let value = if on { "true" } else { "false" };
    ssm::put(
        &aws().await.ssm,
        &settings.kill_switch_param,
        value,
        false,
        true,
    )
    .await?;
    match out {
        Output::Json => println!(
            "{}",
            serde_json::json!({"kill_switch": settings.kill_switch_param, "enabled": on})
        ),
        Output::Text if on => println!(
            "resumed: {} = true; scheduled experiments run again",
            settings.kill_switch_param
        ),
        Output::Text => println!(
            "halted: {} = false; every experiment is refused until `faultline resume`",
            settings.kill_switch_param
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `status` (open records) and `history` (closed ones, newest first, at most `limit`).
pub async fn records(closed: bool, limit: usize, out: Output) -> Result<ExitCode> {
    let settings = settings()?;
    let mut stored: Vec<Stored> = Vec::new();
    for (name, value) in ssm::list_under(&aws().await.ssm, &settings.record_prefix).await? {
        match serde_json::from_str::<Stored>(&value) {
            Ok(s) => stored.push(s),
            Err(e) => eprintln!("faultline: skipping {name}: not an experiment record ({e})"),
        }
    }
    stored.retain(|s| (s.record.status == Status::Closed) == closed);
    stored.sort_by_key(|s| std::cmp::Reverse(s.record.started_at));
    stored.truncate(limit);
    if out == Output::Json {
        println!("{}", serde_json::to_string_pretty(&stored)?);
        return Ok(ExitCode::SUCCESS);
    }
    if stored.is_empty() {
        println!(
            "no {} experiments under {}",
            if closed { "closed" } else { "open" },
            settings.record_prefix
        );
    }
    for s in &stored {
        let r = &s.record;
        let victims = r.victims().count();
        let when = r.started_at.format("%Y-%m-%d %H:%M:%S UTC");
        if closed {
            let outcome = r.outcome.as_deref().unwrap_or("closed");
            let ttr = s
                .closed
                .as_ref()
                .and_then(|c| c.ttr_s.map(|t| (t, c.observed)))
                .map(|(t, observed)| {
                    let d = humantime_secs(t);
                    if observed {
                        format!(" in at most {d}")
                    } else {
                        format!(" in {d}")
                    }
                })
                .unwrap_or_default();
            println!(
                "{when}  {:<24} {} {victims} target(s): {outcome}{ttr}  ({})",
                r.experiment, r.action, r.id
            );
        } else {
            let groups: Vec<&str> = r.groups.keys().map(String::as_str).collect();
            println!(
                "{when}  {:<24} {} {victims} target(s){}  open, timeout {}s  ({})",
                r.experiment,
                r.action,
                if groups.is_empty() {
                    String::new()
                } else {
                    format!(" in {}", groups.join(", "))
                },
                r.timeout_s,
                r.id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn humantime_secs(s: i64) -> String {
    let s = s.max(0);
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

fn code_of(r: &RoundResult) -> ExitCode {
    ExitCode::from(match r.outcome {
        Outcome::Acted | Outcome::DryRun => 0,
        Outcome::Refused | Outcome::Duplicate => 1,
        Outcome::Partial | Outcome::Failed => 4,
    })
}

fn print_result(r: &RoundResult, out: Output, planning: bool) {
    if out == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(r).expect("a result always serialises")
        );
        return;
    }
    for x in &r.refusals {
        println!("refused by {}: {}", x.guard.name(), x.reason);
    }
    if r.outcome == Outcome::Refused {
        println!("nothing would be changed");
        return;
    }
    let verb = if planning { "would hit" } else { "hit" };
    println!(
        "{}: {} eligible, {} requested, {verb} {}",
        r.experiment,
        r.eligible,
        r.requested,
        r.chosen.len()
    );
    if planning {
        for t in &r.chosen {
            println!(
                "  {:<20} {}",
                t.instance_id,
                t.asg.as_deref().unwrap_or("(standalone)")
            );
        }
    } else {
        for t in &r.results {
            let what = t
                .error
                .as_deref()
                .map(|e| format!("FAILED: {e}"))
                .unwrap_or_else(|| t.outcome.clone());
            println!(
                "  {:<20} {:<24} {what}",
                t.instance_id,
                t.asg.as_deref().unwrap_or("(standalone)")
            );
        }
    }
    for g in &r.groups {
        let spared = g
            .spared
            .as_deref()
            .map(|s| format!(" - spared: {s}"))
            .unwrap_or_default();
        println!(
            "  group {}: {} healthy, floor {}, may lose {}, chosen {}{spared}",
            g.name, g.healthy_in_service, g.floor, g.budget, g.chosen
        );
    }
    for c in &r.capped_by {
        println!("  capped by {c}");
    }
    for (why, n) in &r.excluded {
        println!("  excluded {n}: {why}");
    }
    match r.outcome {
        Outcome::Duplicate => println!(
            "duplicate: {} already exists; nothing done",
            r.record.as_deref().unwrap_or("the record")
        ),
        Outcome::DryRun => println!("dry run: nothing was changed"),
        _ => {
            if let Some(rec) = &r.record {
                println!("recorded at {rec}");
            }
        }
    }
}

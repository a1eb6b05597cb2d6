//! The commands. Each parses its input completely before calling AWS, prints its result in the
//! chosen format and returns the exit code documented in `main.rs`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use faultline_core::aws::records::Records;
use faultline_core::aws::{ssm, Aws};
use faultline_core::clock::SystemClock;
use faultline_core::outcome::{RoundOutcome as Outcome, RoundResult};
use faultline_core::record::{AbortTrigger, Outcome as Closing, Record, State};
use faultline_core::round::{self, Planning};
use faultline_core::settings::{settings_from, Settings};
use faultline_core::spec::Invocation;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::{abort, follow, Output};

/// Exit code: bad input, nothing changed.
pub(crate) const INVALID: u8 = 2;
/// Exit code: acted, but not seen to recover within the timeout.
const NOT_RECOVERED: u8 = 5;
/// Exit code (`run --wait`): recovered, but the hypothesis failed.
const HYPOTHESIS_FAILED: u8 = 6;
/// Exit code (`run --wait`): the experiment was aborted.
const ABORTED: u8 = 7;

pub(crate) fn settings() -> Result<Settings> {
    settings_from(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)
}

pub(crate) async fn aws() -> Aws {
    Aws::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
}

/// Prints an error: on stderr always, and with `--output json` also as the one JSON document
/// on stdout (`{"error": .., "exit_code": ..}` plus `extra`'s fields), so scripts always get a
/// document to parse. Returns `code` as the exit code.
pub fn fail(out: Output, code: u8, msg: &str, extra: Option<serde_json::Value>) -> ExitCode {
    eprintln!("faultline: {msg}");
    if out == Output::Json {
        let mut doc = serde_json::json!({"error": msg, "exit_code": code});
        if let Some(serde_json::Value::Object(m)) = extra {
            doc.as_object_mut().expect("an object").extend(m);
        }
        println!("{doc}");
    }
    ExitCode::from(code)
}

/// The RNG of a round's random choices (the probability roll, the choice of targets): seeded
/// with `seed` when given, so the same seed over the same world chooses the same targets.
/// Returns the seed used, to print.
fn round_rng(seed: Option<u64>) -> (u64, StdRng) {
    let seed = seed.unwrap_or_else(|| StdRng::from_entropy().gen());
    (seed, StdRng::seed_from_u64(seed))
}

/// Reads and validates a spec; on failure prints the error (naming the field) and returns the
/// exit code to use. The execution id comes from entropy, never from the round's seed, so two
/// runs with one seed are two experiments.
fn load(path: &Path, out: Output) -> Result<Invocation, ExitCode> {
    let rng = &mut StdRng::from_entropy();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return Err(fail(
                out,
                INVALID,
                &format!("cannot read {}: {e}", path.display()),
                Some(serde_json::json!({"valid": false})),
            ));
        }
    };
    Invocation::from_json_str(&text, chrono::Utc::now(), rng.gen()).map_err(|e| {
        fail(
            out,
            INVALID,
            &format!("{}: {e}", path.display()),
            Some(serde_json::json!({"valid": false, "field": e.path, "problem": e.message})),
        )
    })
}

/// `validate`.
pub fn validate(path: &Path, out: Output) -> Result<ExitCode> {
    let inv = match load(path, out) {
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
pub async fn plan(path: &Path, seed: Option<u64>, out: Output) -> Result<ExitCode> {
    let (seed, mut rng) = round_rng(seed);
    let mut inv = match load(path, out) {
        Ok(i) => i,
        Err(code) => return Ok(code),
    };
    inv.experiment.dry_run = true;
    inv.experiment.notify_refusals = false;
    let settings = settings()?;
    // The dry run stops after planning: the same plan `run` executes.
    let result = round::run(&aws().await, &settings, &inv, &SystemClock, &mut rng).await?;
    print_result(&result, out, true);
    if out == Output::Text && result.outcome == Outcome::DryRun {
        println!(
            "seed {seed}: `faultline run {} --seed {seed}` chooses these targets while the world is unchanged",
            path.display()
        );
    }
    Ok(code_of(&result))
}

/// `run`: one plan, shown and confirmed (unless `yes`), then executed as confirmed; then
/// (unless `follow` is `None`) the recovery followed live.
pub async fn run(
    path: &Path,
    yes: bool,
    seed: Option<u64>,
    follow: Option<follow::Options>,
    out: Output,
) -> Result<ExitCode> {
    if out == Output::Json && !yes {
        return Ok(fail(
            out,
            INVALID,
            "--output json never prompts: add --yes to act (`faultline plan` shows what would be hit); nothing was changed",
            None,
        ));
    }
    let (_, mut rng) = round_rng(seed);
    let inv = match load(path, out) {
        Ok(i) => i,
        Err(code) => return Ok(code),
    };
    let settings = settings()?;
    let aws = aws().await;
    let ask = !yes && !inv.experiment.dry_run;
    if ask && !std::io::stdin().is_terminal() {
        return Ok(fail(
            out,
            INVALID,
            "refusing to act without --yes when stdin is not a terminal; nothing was changed",
            None,
        ));
    }
    // One plan: what the operator is shown is what is executed.
    let result = match round::plan(&aws, &settings, &inv, &SystemClock, &mut rng).await? {
        Planning::Done(result) => result,
        Planning::Ready(planned) if ask => {
            print_result(planned.result(), Output::Text, true);
            eprint!(
                "{} these {} instance(s) now? Type the experiment name ({}) to confirm: ",
                inv.experiment.action.name(),
                planned.chosen().len(),
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
            round::execute_confirmed(&aws, &settings, planned, &SystemClock).await?
        }
        Planning::Ready(planned) => round::execute(&aws, &settings, planned, &SystemClock).await?,
    };
    if out == Output::Text {
        print_result(&result, out, false);
    }
    let acted = matches!(result.outcome, Outcome::Acted | Outcome::Partial);
    let recovery = match (&result.record, follow) {
        (Some(record), Some(opts)) if acted => {
            if out == Output::Text {
                println!("following the recovery (read-only; Ctrl-C stops following, the recovery timer keeps watching)");
            }
            Some(follow::follow(&aws, &settings.records, record, &result, opts, out).await)
        }
        (Some(_), None) if acted && out == Output::Text => {
            println!("not following the recovery: the recovery timer reports it (`faultline status`, `faultline history`)");
            None
        }
        _ => None,
    };
    if out == Output::Json {
        #[derive(serde::Serialize)]
        struct RunDoc<'a> {
            #[serde(flatten)]
            round: &'a RoundResult,
            #[serde(skip_serializing_if = "Option::is_none")]
            recovery: Option<&'a follow::Report>,
        }
        let doc = RunDoc {
            round: &result,
            recovery: recovery.as_ref(),
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    let wait = follow.is_some_and(|f| f.wait);
    Ok(match recovery {
        Some(r) if wait => wait_code(&r).map_or_else(|| code_of(&result), ExitCode::from),
        Some(r) if r.outcome != follow::Verdict::Recovered => ExitCode::from(NOT_RECOVERED),
        _ => code_of(&result),
    })
}

/// `run --wait`'s exit code from the recovery timer's close: aborted 7, not recovered 5 (before
/// any verdict), failed 6; `None` (the round's own code) when it passed or was not judged.
fn wait_code(r: &follow::Report) -> Option<u8> {
    match (r.outcome, r.verdict) {
        (follow::Verdict::Aborted, _) | (_, Some("aborted")) => Some(ABORTED),
        (follow::Verdict::NotRecovered | follow::Verdict::Unobserved, _) => Some(NOT_RECOVERED),
        (follow::Verdict::Recovered, Some("failed")) => Some(HYPOTHESIS_FAILED),
        (follow::Verdict::Recovered, _) => None,
    }
}

/// `halt` / `resume`. `halt` sets the kill switch to false (no new round), then aborts every
/// open experiment (rolled back on its recorded targets).
pub async fn switch(on: bool, out: Output) -> Result<ExitCode> {
    let at = chrono::Utc::now();
    let settings = settings()?;
    let value = if on { "true" } else { "false" };
    let aws = aws().await;
    ssm::put(&aws.ssm, &settings.kill_switch_param, value, false, true).await?;
    if on {
        match out {
            Output::Json => println!(
                "{}",
                serde_json::json!({"kill_switch": settings.kill_switch_param, "enabled": true})
            ),
            Output::Text => println!(
                "resumed: {} = true; scheduled experiments run again",
                settings.kill_switch_param
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let open = abort::open_records(&aws, &settings)
        .await
        .with_context(|| {
            format!(
                "halted ({} = false: no new round), but the open experiments could not be read to \
             abort them: run `faultline abort --all`",
                settings.kill_switch_param
            )
        })?;
    let summary = abort::abort_records(&aws, &settings, &open, &AbortTrigger::Halt, at).await;
    match out {
        Output::Json => {
            let mut doc =
                serde_json::json!({"kill_switch": settings.kill_switch_param, "enabled": false});
            if let (Some(d), serde_json::Value::Object(m)) =
                (doc.as_object_mut(), serde_json::to_value(&summary)?)
            {
                d.extend(m);
            }
            println!("{doc}");
        }
        Output::Text => {
            println!(
                "halted: {} = false; every experiment is refused until `faultline resume`",
                settings.kill_switch_param
            );
            match summary.aborted.len() {
                0 if summary.errors.is_empty() => {
                    println!("no open experiment to abort")
                }
                n => println!("aborted {n} open experiment(s), rolled back on their targets:"),
            }
            summary.print_text();
        }
    }
    Ok(ExitCode::from(abort::exit_code(
        &abort::Which::All,
        &summary,
    )))
}

/// `status` (open records) and `history` (closed ones): newest first, at most `limit`, read
/// from the table's indexes page by page, only as far as `limit` needs.
pub async fn records(closed: bool, limit: usize, out: Output) -> Result<ExitCode> {
    let settings = settings()?;
    let aws = aws().await;
    let page = Records::new(&aws.dynamodb, &settings.records)
        .newest(closed, limit)
        .await?;
    for m in &page.malformed {
        eprintln!(
            "faultline: skipping {}: not an experiment record ({})",
            m.id, m.reason
        );
    }
    if out == Output::Json {
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            records: &'a [Record],
            more: bool,
        }
        let doc = Doc {
            records: &page.records,
            more: page.more,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    if page.records.is_empty() {
        println!(
            "no {} experiments in {}",
            if closed { "closed" } else { "open" },
            settings.records.table
        );
    }
    for r in &page.records {
        println!("{}", record_line(r));
    }
    if page.more {
        println!("(more: raise --limit to see older ones)");
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of `status` / `history`.
fn record_line(r: &Record) -> String {
    let victims = r.victims().count();
    let when = r.started_at.format("%Y-%m-%d %H:%M:%S UTC");
    let action = r.action.name();
    match &r.state {
        State::Closed(c) => {
            let outcome = c.outcome.name();
            let ttr = match (c.outcome, c.ttr_s) {
                (Closing::Recovered, Some(t)) if c.observed => {
                    format!(" in at most {}", humantime_secs(t))
                }
                (Closing::Recovered, Some(t)) => format!(" in {}", humantime_secs(t)),
                _ => String::new(),
            };
            let verdict = c.verdict.as_ref().map_or("-", |v| v.name());
            format!(
                "{when}  {verdict:<7}  {:<24} {action} {victims} target(s): {outcome}{ttr}  ({})",
                r.experiment, r.id
            )
        }
        State::Aborted(a) => format!(
            "{when}  aborted  {:<24} {action} {victims} target(s): aborted ({}), rolled back on {} of {} in {}  ({})",
            r.experiment,
            a.trigger.describe(),
            a.ok(),
            a.rolled_back.len(),
            seconds_ms(a.time_to_safe_ms),
            r.id
        ),
        State::Open => {
            let groups: Vec<&str> = r.groups.keys().map(String::as_str).collect();
            format!(
                "{when}  {:<24} {action} {victims} target(s){}  open, timeout {}s  ({})",
                r.experiment,
                if groups.is_empty() {
                    String::new()
                } else {
                    format!(" in {}", groups.join(", "))
                },
                r.timeout_s,
                r.id
            )
        }
    }
}

/// `3.2 s` from milliseconds.
fn seconds_ms(ms: i64) -> String {
    format!("{:.1} s", ms.max(0) as f64 / 1000.0)
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
        r.plan.eligible,
        r.plan.requested,
        r.plan.chosen.len()
    );
    if planning {
        for t in &r.plan.chosen {
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
    for g in &r.plan.groups {
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
    for c in &r.plan.capped_by {
        println!("  capped by {c}");
    }
    for (why, n) in &r.plan.excluded {
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

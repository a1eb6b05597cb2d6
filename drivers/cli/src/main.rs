//! `faultline`, the operator CLI. Uses the same core library as the functions and the user's
//! normal AWS credentials, profile and region (`AWS_PROFILE`, `AWS_REGION`, ...).
//!
//! # Layout
//!
//! - `main.rs`: arguments (clap), dispatch, exit codes.
//! - [`commands`]: one function per command; each prints its result in the chosen format and
//!   returns an exit code. `status` / `history` read the experiment records the monkey and the
//!   recovery timer keep.
//! - [`abort`]: `abort <id> | --all`, and the abort `halt` does: open records through
//!   `faultline_core::abort`.
//! - [`layer`]: `layer set | show | clear`, the Lambda layer's configuration per function.
//! - [`migrate`]: `migrate-records`, SSM-parameter records (format 1) into the records table.
//! - [`report`]: `report <id>`, an experiment's report (`faultline-report`): from S3, or built
//!   from the record.
//! - [`follow`]: `run`'s live view of the recovery, read-only: it observes what the recovery
//!   timer observes (`faultline_core::observe`) and decides with the same
//!   `faultline_core::recovery::decide`, but closes and publishes nothing (that stays the
//!   timer's job).
//!
//! Exit codes are listed in [`EXIT_CODES`] (shown by `--help`) and in the README.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

mod abort;
mod commands;
mod follow;
mod layer;
mod migrate;
mod report;

/// The exit codes, as `--help` shows them.
const EXIT_CODES: &str = "\
Exit codes:
  0  done: acted (and recovered, when followed), planned, valid, switched
  1  refused or nothing done: a guard refused, a duplicate, nothing eligible, not confirmed,
     `abort <id>` of an experiment that is not open
  2  bad input: invalid spec (the field is named), bad flag, `run` without --yes when stdin is
     not a terminal or with --output json; nothing was changed
  3  AWS or other error before acting; nothing was changed
  4  acted with failures: some or all chosen targets failed (abort, halt: some targets did
     not confirm their rollback)
  5  acted, but not seen to recover within the timeout (`run` following the recovery;
     with --wait: the recovery timer closed it not recovered, or did not close it in time)
  6  `run --wait`: recovered, but the hypothesis failed (the verdict's breaches are printed)
  7  `run --wait`: the experiment was aborted (stop alarm, `faultline abort`, `halt`)

With --output json every command prints one JSON document on stdout (errors too:
{\"error\": ..., \"exit_code\": ...}); progress and prompts never go to stdout.";

/// faultline: guarded fault injection for AWS.
///
/// Reads the same FAULTLINE_* settings as the monkey function (kill-switch parameter, records
/// table, opt-in tag, topic) and the usual AWS credentials and region.
#[derive(Parser, Debug)]
#[command(name = "faultline", version, after_help = EXIT_CODES)]
struct Args {
    /// Output format: readable text, or one JSON document on stdout for scripts.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Readable lines.
    Text,
    /// One JSON document on stdout; no ANSI, no prompts.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a spec file with the monkey's own validation; changes nothing, calls no AWS API.
    #[command(after_help = "Exit codes: 0 valid, 2 invalid (the field is named).")]
    Validate {
        /// The experiment spec: a bare experiment or a scheduler envelope (JSON).
        spec: PathBuf,
    },
    /// Show what would be hit right now and which guard would refuse; changes nothing.
    ///
    /// Runs the whole guard chain and the selection as a dry run; publishes nothing, writes no
    /// record.
    #[command(
        after_help = "Exit codes: 0 something would be hit, 1 a guard would refuse, \
                            2 invalid spec, 3 AWS error."
    )]
    Plan {
        /// The experiment spec (JSON).
        spec: PathBuf,
        /// Seed of the round's random choices (probability roll, targets); printed when not
        /// given. `run --seed` with the same seed chooses the same targets in the same world.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Run an experiment now, through the full guard chain, then follow the recovery live.
    ///
    /// Without --yes, shows the plan and asks for the experiment's name as confirmation (only
    /// on a terminal); then acts on exactly the instances shown, or on none when the world
    /// changed in between (a chosen instance gone, a guard now refusing). After acting, re-observes what the recovery timer observes every
    /// --poll until the system recovered or --timeout passed, and prints the time to recover
    /// from the injection. Following is read-only: the recovery timer still closes the record
    /// and publishes the result.
    #[command(
        after_help = "Exit codes: 0 acted and recovered (or dry run; with --wait: the verdict \
                            passed, or there was no hypothesis), 1 refused or not confirmed, \
                            2 bad input, 3 AWS error before acting, 4 some targets failed, \
                            5 acted but not recovered within the timeout, 6 (--wait) the \
                            hypothesis failed, 7 (--wait) aborted."
    )]
    Run {
        /// The experiment spec (JSON).
        spec: PathBuf,
        /// Do not ask for confirmation (required when stdin is not a terminal, and with
        /// --output json).
        #[arg(long)]
        yes: bool,
        /// Seed of the round's random choices (probability roll, targets), as printed by
        /// `plan`: the same seed in the same world chooses the same targets.
        #[arg(long)]
        seed: Option<u64>,
        /// Do not follow the recovery; return as soon as the round acted.
        #[arg(long)]
        no_follow: bool,
        /// Wait for the recovery timer's verdict: until it closes the record (or an abort ends
        /// it), then print the verdict, its breaches and the report's location; the exit code
        /// says passed (0), not recovered (5), failed (6) or aborted (7).
        #[arg(long, conflicts_with = "no_follow")]
        wait: bool,
        /// Stop following after this long from the injection (`90s`, `15m`). Default and
        /// maximum: the spec's recovery.timeout, which is what the recovery timer uses. With
        /// --wait: how long to wait for the verdict (default: recovery.timeout +
        /// hypothesis.after + 5m).
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        timeout: Option<Duration>,
        /// How often to re-observe while following (`2s`, `500ms`).
        #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "2s")]
        poll: Duration,
    },
    /// Halt every experiment: set the kill switch to false (every round refuses until
    /// resume), then abort every open experiment (rolled back on its recorded targets).
    Halt,
    /// Abort open experiments now: roll back on exactly their recorded targets (the agent's
    /// rollback, or starting stopped instances), mark them aborted, publish one message each.
    /// Aborting one that is no longer open does nothing.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "all"])))]
    Abort {
        /// The experiment's execution id (`faultline status` lists them).
        id: Option<String>,
        /// Every open experiment.
        #[arg(long)]
        all: bool,
    },
    /// Allow experiments again: set the kill switch to true.
    Resume,
    /// Open experiments, newest first: what was hit and what the recovery timer waits for.
    Status {
        /// Show at most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// The Lambda layer's fault configuration for one function (an SSM parameter the layer
    /// reads live; failure-lambda 1.x format plus `expires_at`).
    Layer {
        #[command(subcommand)]
        action: LayerCommand,
    },
    /// Closed experiments, newest first, with their time to recover.
    History {
        /// Show at most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Move experiment records kept as SSM parameters (faultline before 0.3) into the records
    /// table, then delete the parameters. Idempotent: run it again after an error.
    MigrateRecords {
        /// Where the old records are.
        #[arg(long, default_value = "/faultline/experiments")]
        prefix: String,
    },
    /// An experiment's report: what was hit and spared, the injection, each recovery
    /// condition, the verdict and its breaches, the regression. Read from S3 when the record
    /// says where (else built from the record alone, without metric series).
    #[command(
        after_help = "Exit codes: 0 shown, 1 no such experiment record, 3 AWS or other \
                            error."
    )]
    Report {
        /// The experiment's execution id (`faultline history` lists them).
        id: String,
        /// Write the report as one self-contained HTML page (charts included) to this path,
        /// and print the path.
        #[arg(long, value_name = "PATH")]
        html: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum LayerCommand {
    /// Write faults for a function; the layer picks them up within its cache TTL.
    Set(layer::LayerSet),
    /// Show a function's fault configuration and whether the layer accepts it.
    Show(layer::LayerTarget),
    /// Remove a function's fault configuration: no more faults.
    Clear(layer::LayerTarget),
}

/// A positive duration in humantime syntax (`2s`, `500ms`, `15m`).
fn duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{e}: use a duration like 500ms, 2s or 15m"))?;
    if d < Duration::from_millis(100) {
        return Err("use at least 100ms".to_owned());
    }
    Ok(d)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let out = args.output;
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return commands::fail(
                out,
                3,
                &format!("cannot start the async runtime: {e}"),
                None,
            )
        }
    };
    match rt.block_on(dispatch(args)) {
        Ok(code) => code,
        Err(e) => commands::fail(out, 3, &format!("{e:#}"), None),
    }
}

async fn dispatch(args: Args) -> anyhow::Result<ExitCode> {
    let out = args.output;
    match args.command {
        Command::Validate { spec } => commands::validate(&spec, out),
        Command::Plan { spec, seed } => commands::plan(&spec, seed, out).await,
        Command::Run {
            spec,
            yes,
            seed,
            no_follow,
            wait,
            timeout,
            poll,
        } => {
            let follow = (!no_follow).then_some(follow::Options {
                timeout,
                poll,
                wait,
            });
            commands::run(&spec, yes, seed, follow, out).await
        }
        Command::Halt => commands::switch(false, out).await,
        Command::Abort { id, all: _ } => {
            let which = match id {
                Some(id) => abort::Which::One(id),
                None => abort::Which::All,
            };
            abort::run(which, out).await
        }
        Command::Resume => commands::switch(true, out).await,
        Command::Status { limit } => commands::records(false, limit, out).await,
        Command::Layer {
            action: LayerCommand::Set(a),
        } => layer::set(a, out).await,
        Command::Layer {
            action: LayerCommand::Show(a),
        } => layer::show(a, out).await,
        Command::Layer {
            action: LayerCommand::Clear(a),
        } => layer::clear(a, out).await,
        Command::History { limit } => commands::records(true, limit, out).await,
        Command::MigrateRecords { prefix } => migrate::run(&prefix, out).await,
        Command::Report { id, html } => report::run(&id, html.as_deref(), out).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_and_argument_is_documented() {
        Args::command().debug_assert();
        fn walk(c: &clap::Command, path: &str) {
            let path = format!("{path} {}", c.get_name());
            if path.trim() != "faultline help" && !c.is_hide_set() {
                assert!(c.get_about().is_some(), "{path}: no about line");
            }
            for a in c.get_arguments() {
                let builtin = matches!(a.get_id().as_str(), "help" | "version");
                assert!(
                    builtin || a.get_help().is_some(),
                    "{path} {}: undocumented",
                    a.get_id()
                );
            }
            for s in c.get_subcommands() {
                walk(s, &path);
            }
        }
        walk(&Args::command(), "");
    }

    #[test]
    fn help_lists_the_exit_codes() {
        let help = Args::command().render_help().to_string();
        for code in [
            "0  done",
            "2  bad input",
            "5  acted, but not seen to recover",
            "6  `run --wait`: recovered, but the hypothesis failed",
            "7  `run --wait`: the experiment was aborted",
        ] {
            assert!(help.contains(code), "{help}");
        }
    }

    #[test]
    fn wait_needs_following() {
        let e = Args::try_parse_from(["faultline", "run", "s.json", "--wait", "--no-follow"])
            .unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
        let msg = e.to_string();
        assert!(
            msg.contains("--wait") && msg.contains("--no-follow"),
            "{msg}"
        );
        assert!(Args::try_parse_from(["faultline", "run", "s.json", "--yes", "--wait"]).is_ok());
    }

    #[test]
    fn durations_are_humantime_and_not_zero() {
        assert_eq!(duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("15m"), Ok(Duration::from_secs(900)));
        assert!(duration("0s").is_err());
        assert!(duration("soon").unwrap_err().contains("like 500ms"));
    }
}

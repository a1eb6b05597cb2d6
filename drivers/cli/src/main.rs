//! `faultline`, the operator CLI. Uses the same core library as the functions and the user's
//! normal AWS credentials, profile and region (`AWS_PROFILE`, `AWS_REGION`, ...).
//!
//! # Layout
//!
//! - `main.rs`: arguments (clap), dispatch, exit codes.
//! - [`commands`]: one function per command; each returns what to print and an exit code.
//!   `status` / `history` read the experiment records the monkey and the recovery timer keep.
//!
//! Exit codes: 0 done (acted, planned, valid, switched); 1 refused or nothing done (a guard
//! refused, a duplicate, nothing eligible); 2 bad input (invalid spec, usage, no `--yes`
//! without a terminal); 3 AWS or other error, nothing changed; 4 acted with failures
//! (partial or failed targets).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod commands;

/// faultline: guarded fault injection for AWS.
#[derive(Parser, Debug)]
#[command(name = "faultline", version, about, long_about = None)]
struct Args {
    /// Output format: human text, or JSON for scripts.
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
    /// One JSON document.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a spec file with the monkey's own validation; changes nothing, calls no AWS API.
    Validate {
        /// The experiment spec: a bare experiment or a scheduler envelope (JSON).
        spec: PathBuf,
    },
    /// Show what would be hit right now and which guard would refuse; changes nothing.
    Plan {
        /// The experiment spec (JSON).
        spec: PathBuf,
    },
    /// Run an experiment now, through the full guard chain.
    Run {
        /// The experiment spec (JSON).
        spec: PathBuf,
        /// Do not ask for confirmation (required when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Halt every experiment: set the kill switch to false.
    Halt,
    /// Allow experiments again: set the kill switch to true.
    Resume,
    /// Open experiments: what was hit and what the recovery timer is waiting for.
    Status,
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
}

#[derive(Subcommand, Debug)]
enum LayerCommand {
    /// Write faults for a function; the layer picks them up within its cache TTL.
    Set(commands::LayerSet),
    /// Show a function's fault configuration and whether the layer accepts it.
    Show(commands::LayerTarget),
    /// Remove a function's fault configuration: no more faults.
    Clear(commands::LayerTarget),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("faultline: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match rt.block_on(dispatch(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("faultline: {e:#}");
            ExitCode::from(3)
        }
    }
}

async fn dispatch(args: Args) -> anyhow::Result<ExitCode> {
    let out = args.output;
    match args.command {
        Command::Validate { spec } => commands::validate(&spec, out),
        Command::Plan { spec } => commands::plan(&spec, out).await,
        Command::Run { spec, yes } => commands::run(&spec, yes, out).await,
        Command::Halt => commands::switch(false, out).await,
        Command::Resume => commands::switch(true, out).await,
        Command::Status => commands::records(false, usize::MAX, out).await,
        Command::Layer {
            action: LayerCommand::Set(a),
        } => commands::layer_set(a, out).await,
        Command::Layer {
            action: LayerCommand::Show(a),
        } => commands::layer_show(a, out).await,
        Command::Layer {
            action: LayerCommand::Clear(a),
        } => commands::layer_clear(a, out).await,
        Command::History { limit } => commands::records(true, limit, out).await,
    }
}

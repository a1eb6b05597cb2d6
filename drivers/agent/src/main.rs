//! faultline-agent: the on-host agent that SSM Run Command executes.
//!
//! # Layout
//!
//! - `main.rs` (this file): the command line (clap), validated into [`faultline_faults::Fault`]
//!   before anything is touched, and the `inject` / `rollback` / `status` / `version` commands.
//! - [`exit`]: errors with their exit code (2 bad arguments, 3 refused, 4 rollback incomplete).
//! - [`time`]: the boot clock deadlines run on, and epoch milliseconds for people.
//! - [`lifeline`]: the pipe over which the guardian sees `inject` die.
//! - [`out`]: one JSON line per event on stdout (what SSM captures), human text on stderr.
//! - [`net`]: network faults with `tc` (htb + netem) and nftables, and their undo steps.
//! - [`procs`]: finding and killing processes; waiting for a restart.
//! - [`load`]: cpu, memory, disk and io workloads, run by the guardian.
//! - [`state`]: the state directory: one file per active fault, written before it is applied.
//! - [`systemd`]: where systemd runs, the boot cleanup unit and each fault's backstop timer.
//! - [`guardian`]: the detached process that owns a fault's deadline and rolls it back at the
//!   deadline, or at once when the `inject` that started it dies; [`guardian::rollback`], the
//!   one way back, with retries.
//!
//! Imports run one way, and none back to `main.rs`:
//! - `exit`, `time`, `lifeline`: nothing of the agent's.
//! - `out` -> `time`; `net` -> `exit`, `time`; `load` -> `exit`; `procs` -> `exit`, `out`, `time`;
//!   `systemd` -> `out`.
//! - `state` -> `exit`, `time`; `net`, `procs` only for the types it records (`Undo`, `ProcRef`).
//! - `guardian` -> `exit`, `lifeline`, `load`, `net`, `out`, `procs`, `state`, `systemd`,
//!   `time`; `main.rs` -> all of them.
//!
//! The agent shells out to `tc`, `nft` and `ip` (iproute2, nftables) instead of speaking
//! netlink: those tools are on every target distribution and their error messages are the ones
//! operators know.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use faultline_faults::{Fault, FaultDuration, FaultError, RawArgs};
use serde_json::json;

mod exit;
mod guardian;
mod lifeline;
mod load;
mod net;
mod out;
mod procs;
mod state;
mod systemd;
mod time;

use exit::{refused, rollback_failed, usage};
use guardian::Why;
use state::{State, StateDir, Status};

/// Inject network, process and resource faults on this host; every fault rolls itself back.
#[derive(Parser, Debug)]
#[command(name = "faultline-agent", version, about, long_about = None)]
struct Cli {
    /// Directory that records active faults (one JSON file each) so they can always be rolled
    /// back.
    #[arg(long, global = true, default_value = "/var/lib/faultline-agent")]
    state_dir: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Apply a fault for --duration, then roll it back (a detached guardian guarantees it).
    Inject(Box<InjectArgs>),
    /// Roll back one active fault by id, or every one with --all (idempotent).
    Rollback {
        /// Roll back every active fault.
        #[arg(long, conflicts_with = "id")]
        all: bool,
        /// The id of the fault to roll back (see `status`).
        id: Option<String>,
    },
    /// Print the active faults as one JSON line.
    Status,
    /// Print the agent's version as one JSON line.
    Version,
    /// Install and enable the boot cleanup unit (`rollback --all` at boot) where systemd runs;
    /// without systemd, do nothing. The SSM document runs it before every fault.
    InstallCleanupUnit {
        /// Where to write the unit.
        #[arg(long, default_value = "/etc/systemd/system")]
        unit_dir: PathBuf,
    },
    /// Internal: the detached process that runs a fault's workload and rolls it back at its
    /// deadline.
    #[command(hide = true)]
    Guardian {
        /// The fault's id.
        #[arg(long)]
        id: String,
        /// The read end of the lifeline to `inject` (end of file: `inject` died).
        #[arg(long)]
        lifeline_fd: Option<i32>,
    },
}

#[derive(Args, Debug)]
struct InjectArgs {
    /// The fault: latency, loss, corrupt, duplicate, bandwidth, blackhole, dns, kill, cpu,
    /// memory, disk or io.
    fault: String,
    /// How long the fault lasts, like 30s, 5m or "1h 30m" (1s to 24h). Optional only for a
    /// one-off kill.
    #[arg(long)]
    duration: Option<String>,
    /// Return as soon as the fault is applied instead of waiting for its rollback.
    #[arg(long)]
    detach: bool,
    /// Keep this region's SSM and EC2 messages endpoints reachable during network faults
    /// (default: $AWS_SSM_REGION_NAME, which SSM Run Command sets); refused when one does not
    /// resolve.
    #[arg(long)]
    aws_region: Option<String>,
    /// Network faults: the interface (default: the default route's).
    #[arg(long)]
    interface: Option<String>,
    /// Network faults: only traffic to this IPv4 CIDR, address or host name (repeatable).
    #[arg(long)]
    to: Vec<String>,
    /// Network faults: only traffic to this TCP/UDP port.
    #[arg(long, allow_hyphen_values = true)]
    port: Option<i64>,
    /// latency: added delay in ms (1 to 60000).
    #[arg(long, allow_hyphen_values = true)]
    delay_ms: Option<i64>,
    /// latency: random variation of the delay in ms (at most the delay).
    #[arg(long, allow_hyphen_values = true)]
    jitter_ms: Option<i64>,
    /// loss, corrupt, duplicate: percentage of packets; memory: of total memory; disk:
    /// filesystem usage to reach (at most 98).
    #[arg(long, allow_hyphen_values = true)]
    percent: Option<f64>,
    /// bandwidth: the rate, like 10mbit, 512kbit or 1gbit.
    #[arg(long)]
    rate: Option<String>,
    /// kill: the process name (comm, or the base name of its executable or argv[0]).
    #[arg(long)]
    name: Option<String>,
    /// kill: a regular expression matched against the command line.
    #[arg(long)]
    pattern: Option<String>,
    /// kill: a file holding the pid to kill.
    #[arg(long)]
    pidfile: Option<String>,
    /// kill: the signal, by name or number (default KILL).
    #[arg(long)]
    signal: Option<String>,
    /// kill: at most this many processes each time (default: all that match).
    #[arg(long, allow_hyphen_values = true)]
    count: Option<i64>,
    /// kill: kill again every this many seconds for the duration (keeps it down).
    #[arg(long, allow_hyphen_values = true)]
    repeat_every: Option<f64>,
    /// kill: wait up to this many seconds for a matching process to run again and report how
    /// long it took (the host's own time to recover).
    #[arg(long, allow_hyphen_values = true)]
    wait_restart: Option<f64>,
    /// kill: also hit the host's vital services (sshd, systemd*, journald), which are spared
    /// otherwise. PID 1, kernel threads, the SSM agent and this agent stay protected.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    allow_vital: Option<bool>,
    /// cpu, io: worker threads (cpu default: one per CPU; io default: 1).
    #[arg(long, allow_hyphen_values = true)]
    workers: Option<i64>,
    /// cpu: each worker's load in percent (default 100).
    #[arg(long, allow_hyphen_values = true)]
    load_percent: Option<i64>,
    /// memory, disk: how many MiB.
    #[arg(long, allow_hyphen_values = true)]
    mb: Option<i64>,
    /// disk: a directory on the filesystem to fill; io: where to write (default /tmp).
    #[arg(long)]
    path: Option<String>,
}

impl InjectArgs {
    fn raw(&self) -> RawArgs {
        RawArgs {
            interface: self.interface.clone(),
            to: self.to.clone(),
            port: self.port,
            delay_ms: self.delay_ms,
            jitter_ms: self.jitter_ms,
            percent: self.percent,
            rate: self.rate.clone(),
            name: self.name.clone(),
            pattern: self.pattern.clone(),
            pidfile: self.pidfile.clone(),
            signal: self.signal.clone(),
            count: self.count,
            repeat_every: self.repeat_every,
            wait_restart: self.wait_restart,
            allow_vital: self.allow_vital,
            workers: self.workers,
            load_percent: self.load_percent,
            mb: self.mb,
            path: self.path.clone(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = exit::code_of(&e);
            out::event(
                "error",
                json!({"error": format!("{e:#}"), "exit_code": code}),
                &format!("faultline-agent: {e:#}"),
            );
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let dir = StateDir::new(cli.state_dir);
    // Refuse a state directory someone else could have planted before reading anything in it
    // (`version` and `install-cleanup-unit` do not read it).
    if !matches!(cli.cmd, Cmd::Version | Cmd::InstallCleanupUnit { .. }) {
        dir.verify()?;
    }
    match cli.cmd {
        Cmd::Inject(args) => inject(&dir, *args),
        Cmd::Rollback { all, id } => {
            // Logged where the guardian logs too: a waiting `inject` relays the rollback, and
            // the log tells the whole story of a fault.
            out::log_to(dir.events_path());
            let ids: Vec<String> = match (all, id) {
                (true, _) => dir.list()?.into_iter().map(|s| s.id).collect(),
                (false, Some(id)) => vec![id],
                (false, None) => {
                    bail!("say which fault to roll back: an id (see `status`) or --all")
                }
            };
            // One fault that cannot be undone does not stop the others from being rolled back.
            let mut n = 0;
            let mut failed = Vec::new();
            for id in &ids {
                match dir.load(id)? {
                    Some(s) => match guardian::rollback(&dir, &s, Why::Requested) {
                        Ok(()) => n += 1,
                        Err(e) => failed.push(format!("{e:#}")),
                    },
                    None => out::event(
                        "not_active",
                        json!({"id": id}),
                        &format!("{id} is not active (already rolled back?); nothing to do"),
                    ),
                }
            }
            out::event(
                "rollback_done",
                json!({"rolled_back": n, "failed": failed.len()}),
                &format!("rolled back {n} fault(s), {} failed", failed.len()),
            );
            if failed.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                Err(rollback_failed(failed.join(" | ")))
            }
        }
        Cmd::Status => {
            let active: Vec<serde_json::Value> = dir
                .list()?
                .iter()
                .map(|s| {
                    json!({
                        "id": s.id, "fault": s.fault.kind(), "status": s.status,
                        "interface": s.interface, "mechanism": s.mechanism,
                        "deadline_ms": s.deadline_ms,
                        "remaining_ms": s.remaining().as_millis() as u64,
                        "guardian_pid": s.guardian.map(|g| g.pid),
                        "guardian_alive": s.guardian.map(|g| g.alive()).unwrap_or(false),
                        "backstop": s.backstop, "rollback_error": s.rollback_error,
                    })
                })
                .collect();
            let n = active.len();
            out::event(
                "status",
                json!({"active": active}),
                &format!("{n} active fault(s)"),
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Version => {
            out::event(
                "version",
                json!({"version": env!("CARGO_PKG_VERSION")}),
                concat!("faultline-agent ", env!("CARGO_PKG_VERSION")),
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::InstallCleanupUnit { unit_dir } => {
            let done = systemd::install_cleanup_unit(&unit_dir).with_context(|| {
                format!(
                    "installing {} in {}: faults still roll back by themselves, but not at boot \
                     after a crash; install it by hand (drivers/agent/systemd/)",
                    systemd::CLEANUP_UNIT_NAME,
                    unit_dir.display()
                )
            })?;
            match done {
                systemd::Installed::Skipped => out::debug(
                    "cleanup_unit",
                    json!({"result": done.name()}),
                    "no systemd here (/run/systemd/system is absent): no boot cleanup unit",
                ),
                systemd::Installed::Unchanged | systemd::Installed::Written => out::event(
                    "cleanup_unit",
                    json!({"result": done.name(), "unit": systemd::CLEANUP_UNIT_NAME}),
                    &format!("{} {} and enabled", systemd::CLEANUP_UNIT_NAME, done.name()),
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Guardian { id, lifeline_fd } => {
            let watch = match lifeline_fd {
                Some(fd) => lifeline::Watch::from_fd(fd)
                    .with_context(|| format!("the guardian's --lifeline-fd {fd}"))?,
                None => lifeline::Watch::none(),
            };
            guardian::run(&dir, &id, watch)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What the running disk faults on `d`'s filesystem still have to write: their planned size
/// less what their file already holds.
fn disk_pending(d: &faultline_faults::DiskFault, others: &[State]) -> u64 {
    let Some(dev) = load::fs_dev(std::path::Path::new(&d.path)) else {
        return 0;
    };
    others
        .iter()
        .filter_map(|s| match (&s.fault, s.disk_bytes) {
            (Fault::Disk(o), Some(b))
                if load::fs_dev(std::path::Path::new(&o.path)) == Some(dev) =>
            {
                let written = s
                    .files
                    .first()
                    .and_then(|f| std::fs::symlink_metadata(f).ok())
                    .map(|m| m.len())
                    .unwrap_or(0);
                Some(b.saturating_sub(written))
            }
            _ => None,
        })
        .sum()
}

fn inject(dir: &StateDir, args: InjectArgs) -> Result<ExitCode> {
    // 1. Validate everything before touching anything.
    let fault = Fault::from_raw(&args.fault, &args.raw()).map_err(|e| usage(&e))?;
    let one_off_kill = matches!(&fault, Fault::Kill(k) if k.repeat_every.is_none());
    let duration = match (&args.duration, one_off_kill) {
        (Some(d), _) => Some(FaultDuration::parse(d).map_err(|e| usage(&e))?),
        (None, true) => None,
        (None, false) => {
            return Err(usage(&FaultError {
                field: "duration".into(),
                message: format!(
                    "is required for {}: how long the fault lasts, like 30s or 5m",
                    fault.kind()
                ),
            }))
        }
    };

    if let Fault::Kill(k) = &fault {
        if one_off_kill {
            procs::kill_once(k)?;
            return Ok(ExitCode::SUCCESS);
        }
    }
    let duration = duration.expect("every other fault has a duration").0;

    // 2. Plan: everything that can be checked or resolved without changing the host.
    // Disk and memory are planned under the lock (step 3), against what the other faults
    // have reserved.
    let plan = match &fault {
        Fault::Network(n) => Some(net::plan(n, args.aws_region.as_deref())?),
        Fault::Kill(k) => {
            // Refuse a target that is too broad now, not in the guardian's first round.
            procs::select(k, &[])?;
            None
        }
        Fault::Disk(_) | Fault::Memory(_) | Fault::Cpu(_) | Fault::Io(_) => None,
    };

    // 3. Record the fault (and how to undo it) before applying it. Caps are checked under the
    // lock, counting the reservations of the faults already recorded, so two injects cannot
    // both pass a check that only one of them fits.
    dir.ensure()?;
    let _lock = dir.lock()?;
    let (disk_bytes, memory_bytes) = match &fault {
        Fault::Disk(d) => {
            let others = dir.list()?;
            (Some(load::disk_bytes(d, disk_pending(d, &others))?), None)
        }
        Fault::Memory(m) => {
            let others = dir.list()?;
            // A memory fault still applying has not allocated yet; an active one is resident
            // and already counted by MemAvailable.
            let pending = others
                .iter()
                .filter(|s| s.status == Status::Applying)
                .filter_map(|s| s.memory_bytes)
                .sum();
            (None, Some(load::memory_bytes(m, pending)?))
        }
        _ => (None, None),
    };
    let now = time::now_ms();
    let id = format!("{}-{now}-{}", fault.kind(), std::process::id());
    let interface = plan.as_ref().map(|p| p.interface.clone());
    if let Some(iface) = &interface {
        if let Some(other) = dir
            .list()?
            .into_iter()
            .find(|s| s.interface.as_deref() == Some(iface.as_str()))
        {
            return Err(refused(format!(
                "{iface} already has a network fault ({} {}, until {}): faults are not stacked. \
                 Roll it back first (`faultline-agent rollback {}`) or wait for it to end; \
                 nothing was changed",
                other.fault.kind(),
                other.id,
                time::format_ms(other.deadline_ms),
                other.id
            )));
        }
    }
    let mut st = State {
        id: id.clone(),
        fault: fault.clone(),
        created_ms: now,
        deadline_ms: now + duration.as_millis() as u64,
        deadline_boot_ms: Some(time::boot_ms() + duration.as_millis() as u64),
        status: Status::Applying,
        interface,
        mechanism: None,
        undo: plan.as_ref().map(|p| p.undo()).unwrap_or_default(),
        files: load::files_for(&fault, &id),
        disk_bytes,
        memory_bytes,
        exempt: plan.as_ref().map(|p| p.exempt.clone()).unwrap_or_default(),
        ssm_region: plan.as_ref().and_then(|p| p.region.clone()),
        guardian: None,
        backstop: None,
        rollback_error: None,
        rolling_back: None,
        killed: vec![],
        killed_at_ms: None,
        spared: procs::ancestors(),
    };
    dir.save(&st)?;

    // 4. The guardian owns the deadline from now on, and watches this process over the
    // lifeline: if it dies (SSM SIGKILLs the command's process group on cancel or timeout), the
    // guardian rolls back at once. Where systemd runs, a transient timer is a third way back.
    let (line, read_end) = lifeline::pair().context("creating the guardian's lifeline")?;
    let g = guardian::spawn(dir, &id, read_end).context("starting the guardian")?;
    st.guardian = Some(g);
    match systemd::arm(dir.root(), &id, duration + systemd::BACKSTOP_GRACE) {
        Ok(unit) => st.backstop = unit,
        Err(e) => out::event(
            "backstop_failed",
            json!({"id": id, "error": format!("{e:#}")}),
            &format!(
                "{id}: arming the systemd backstop timer failed ({e:#}); the guardian and inject \
                 still roll the fault back"
            ),
        ),
    }
    dir.save(&st)?;
    drop(_lock);

    // 5. Apply.
    let t = Instant::now();
    match &plan {
        Some(p) => match net::apply(p) {
            Ok(mechanism) => {
                st.mechanism = Some(mechanism);
                st.status = Status::Active;
                dir.save(&st)?;
            }
            Err(e) => {
                guardian::rollback_quiet(dir, &st);
                return Err(e);
            }
        },
        None => {
            // The guardian runs the workload and marks the fault active when it is in place.
            let deadline = Instant::now() + duration + Duration::from_secs(600);
            loop {
                match dir.load(&id)? {
                    Some(s) if s.status == Status::Active => {
                        st = s;
                        break;
                    }
                    Some(_) if !g.alive() => {
                        guardian::rollback_quiet(dir, &st);
                        bail!(
                            "the guardian exited before the fault was in place; see {}",
                            dir.events_path().display()
                        );
                    }
                    Some(_) if Instant::now() < deadline => {}
                    Some(_) => {
                        guardian::rollback_quiet(dir, &st);
                        bail!("the fault was not in place after {duration:?}; rolled back");
                    }
                    None => bail!(
                        "the fault ended before it was in place: {}",
                        out::last_event_for(&dir.events_path(), &id)
                            .unwrap_or_else(|| "no details".into())
                    ),
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    let apply_ms = t.elapsed().as_secs_f64() * 1000.0;
    out::event(
        "applied",
        json!({
            "id": id, "fault": fault.kind(), "args": fault.to_args(),
            "interface": st.interface, "mechanism": st.mechanism,
            "apply_ms": (apply_ms * 10.0).round() / 10.0,
            "deadline_ms": st.deadline_ms, "guardian_pid": g.pid,
            "backstop": st.backstop, "state_file": dir.path_of(&id),
        }),
        &format!(
            "applied {} ({}){} in {apply_ms:.1} ms; it rolls back at {} (guardian pid {})",
            fault.kind(),
            st.mechanism.as_deref().unwrap_or("workload"),
            st.interface
                .as_deref()
                .map(|i| format!(" on {i}"))
                .unwrap_or_default(),
            time::format_ms(st.deadline_ms),
            g.pid
        ),
    );

    // 6. A one-off measurement for kill --wait-restart happens here; the guardian keeps
    // killing meanwhile.
    if let Fault::Kill(k) = &fault {
        if let Some(wait) = k.wait_restart {
            procs::wait_restart(
                k,
                &st.killed,
                st.killed_at_ms.unwrap_or(st.created_ms),
                wait,
            );
        }
    }

    if args.detach {
        // Leaving on purpose: the guardian must not take it for a death.
        line.detach()
            .context("telling the guardian that inject detaches")?;
        return Ok(ExitCode::SUCCESS);
    }
    // 7. Wait for the end; SIGTERM / SIGINT (a cancelled command) rolls back at once. So does a
    // guardian that died (OOM, a crash) or that has not rolled back a grace after the deadline.
    out::on_terminate();
    let _line = line;
    wait_for_the_end(dir, &id, g)
}

/// How long after the deadline `inject` rolls back a fault its guardian has not.
const OVERDUE_GRACE: Duration = Duration::from_secs(3);

/// Step 7 of `inject`: waits until the fault is rolled back, by the guardian or by itself.
fn wait_for_the_end(dir: &StateDir, id: &str, g: procs::ProcRef) -> Result<ExitCode> {
    loop {
        if out::terminated() {
            if let Some(s) = dir.load(id)? {
                guardian::rollback(dir, &s, Why::Cancelled)?;
            }
            return Ok(ExitCode::from(130));
        }
        // Alive first, then the state: a guardian that rolled back removed the file before it
        // exited, so a file still there with no guardian means it died without rolling back.
        let alive = g.alive();
        let Some(s) = dir.load(id)? else {
            // The guardian logs the rollback just after removing the state file.
            let until = Instant::now() + Duration::from_secs(2);
            loop {
                if let Some(line) = out::last_event_for(&dir.events_path(), id) {
                    out::relay(&line);
                    break;
                }
                if Instant::now() > until {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            return Ok(ExitCode::SUCCESS);
        };
        if s.rolling_back.is_some_and(|p| p.alive()) {
            // `rollback` stopped the guardian and is undoing the fault: wait for it.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        if !alive {
            out::event(
                "guardian_lost",
                json!({"id": id, "guardian_pid": g.pid, "rollback_error": s.rollback_error}),
                &format!(
                    "{id}: the guardian (pid {}) died before the fault ended; rolling back now",
                    g.pid
                ),
            );
            guardian::rollback(dir, &s, Why::GuardianLost)?;
            bail!(
                "the fault {id} ended early: its guardian (pid {}) died, so inject rolled it \
                 back; see {} for what the guardian logged",
                g.pid,
                dir.events_path().display()
            );
        }
        if s.overdue() >= OVERDUE_GRACE {
            out::event(
                "guardian_overdue",
                json!({"id": id, "guardian_pid": g.pid, "overdue_ms": s.overdue().as_millis() as u64}),
                &format!(
                    "{id}: the guardian (pid {}) has not rolled back {} ms after the deadline; \
                     rolling back now",
                    g.pid,
                    s.overdue().as_millis()
                ),
            );
            guardian::rollback(dir, &s, Why::Overdue)?;
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

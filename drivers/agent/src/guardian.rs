//! The guardian: a detached process (its own session, stdio on /dev/null, reparented to init
//! when the agent dies) started for every fault before it is applied. It runs the fault's
//! workload if it has one, and rolls the fault back at the deadline (boot clock), or at once
//! when `inject` dies before it (end of file on the [`crate::lifeline`]: a cancelled or timed
//! out SSM command SIGKILLs `inject`'s whole process group, which the guardian, in a session
//! of its own, survives). A fault whose state file is gone has been rolled back by someone
//! else, and the guardian exits.
//!
//! [`rollback`] is the one way back, whoever calls it: it stops the guardian (unless that is
//! the caller), runs the undo steps, retrying a failed one with backoff ([`RETRY_DELAYS`]), and
//! removes the state file only once nothing is left. What it could not remove is reported
//! (event `rollback_failed`, exit code 4) and recorded in the state file for the next try.

use std::os::unix::io::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use faultline_faults::Fault;
use serde_json::json;

use crate::exit::rollback_failed;
use crate::lifeline::{Heard, Watch};
use crate::procs::{self, ProcRef};
use crate::state::{State, StateDir, Status};
use crate::time::now_ms;
use crate::{load, net, out, systemd};

/// Why a fault is rolled back: the `reason` of its `rolled_back` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The guardian, at the deadline.
    Deadline,
    /// The guardian, because `inject` died before the deadline (a cancelled SSM command).
    InjectDied,
    /// The guardian, because the workload or first kill round failed.
    WorkloadFailed,
    /// `faultline-agent rollback` (an operator, the SSM document's `Mode=rollback`, the boot
    /// unit, the backstop timer).
    Requested,
    /// `inject`, on SIGTERM / SIGINT.
    Cancelled,
    /// `inject`, because the guardian died before the deadline (OOM, a crash).
    GuardianLost,
    /// `inject`, because the guardian had not rolled back a grace after the deadline.
    Overdue,
    /// `inject`, because applying the fault failed.
    ApplyFailed,
}

impl Why {
    /// The `reason` field.
    pub fn reason(self) -> &'static str {
        match self {
            Why::Deadline => "deadline",
            Why::InjectDied => "inject_died",
            Why::WorkloadFailed => "workload_failed",
            Why::Requested => "requested",
            Why::Cancelled => "cancelled",
            Why::GuardianLost => "guardian_lost",
            Why::Overdue => "overdue",
            Why::ApplyFailed => "apply_failed",
        }
    }

    /// The `by` field: who rolled back.
    pub fn by(self) -> &'static str {
        match self {
            Why::Deadline | Why::InjectDied | Why::WorkloadFailed => "guardian",
            Why::Requested => "rollback",
            Why::Cancelled => "cancelled",
            Why::GuardianLost | Why::Overdue | Why::ApplyFailed => "inject",
        }
    }
}

/// The waits between undo attempts: 7 attempts over about 6 s, then the failure is reported.
pub const RETRY_DELAYS: [Duration; 6] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
    Duration::from_millis(3200),
];

/// Starts the guardian of fault `id`, handing it `lifeline` (the read end `inject` watches
/// over; see [`crate::lifeline`]).
pub fn spawn(dir: &StateDir, id: &str, lifeline: OwnedFd) -> Result<ProcRef> {
    let fd = lifeline.as_raw_fd();
    let exe = std::env::current_exe().context("locating the agent's own executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("--state-dir")
        .arg(dir.root())
        .args(["guardian", "--id", id, "--lifeline-fd", &fd.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid and fcntl are async-signal-safe; a new session leaves the agent's process
    // group, so signals sent to it (Ctrl-C, SSM's SIGKILL on cancel) do not reach the guardian,
    // and the lifeline's read end stays open across the exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            crate::lifeline::inherit(fd)
        });
    }
    let mut child = cmd.spawn().context("spawning the guardian")?;
    drop(lifeline);
    let pid = child.id() as i32;
    // Reap it if it ends while the agent still runs, so it does not linger as a zombie.
    std::thread::spawn(move || child.wait());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(p) = ProcRef::of(pid) {
            return Ok(p);
        }
        if Instant::now() > deadline {
            bail!("the guardian (pid {pid}) did not start");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The guardian's main loop; `watch` is its end of the lifeline to `inject`.
pub fn run(dir: &StateDir, id: &str, mut watch: Watch) -> Result<()> {
    out::log_to(dir.events_path());
    let Some(st) = dir.load(id)? else {
        return Ok(());
    };
    // What runs until the deadline: kill rounds, a workload, or nothing (the kernel holds a
    // network fault).
    let (kill, has_workload) = match &st.fault {
        Fault::Kill(k) => (Some(k.clone()), false),
        Fault::Cpu(_) | Fault::Memory(_) | Fault::Disk(_) | Fault::Io(_) => (None, true),
        Fault::Network(_) => (None, false),
    };
    let mut _work = None;
    let mut inject_died = false;
    if has_workload || kill.is_some() {
        let started = match &kill {
            Some(k) => {
                let at = now_ms();
                procs::kill_round(k, &st.spared).map(|killed| (killed, Some(at)))
            }
            None => {
                let (w, gone) = start_watched(&st, &mut watch);
                inject_died = gone;
                w.map(|w| {
                    _work = Some(w);
                    (vec![], None)
                })
            }
        };
        if inject_died {
            // `inject` died while the workload was starting.
            drop(_work.take());
            let Some(cur) = dir.load(id)? else {
                return Ok(());
            };
            return rollback(dir, &cur, Why::InjectDied);
        }
        match started {
            Ok((killed, at)) => {
                let lock = dir.lock()?;
                let Some(mut cur) = dir.load(id)? else {
                    return Ok(());
                };
                cur.status = Status::Active;
                cur.mechanism = Some(if kill.is_some() { "signal" } else { "workload" }.into());
                cur.killed = killed;
                cur.killed_at_ms = at;
                dir.save(&cur)?;
                drop(lock);
            }
            Err(e) => {
                out::event(
                    "error",
                    json!({"id": id, "error": format!("{e:#}")}),
                    &format!("{id}: the workload or first kill round failed: {e:#}"),
                );
                drop(_work.take());
                rollback(dir, &st, Why::WorkloadFailed)?;
                return Ok(());
            }
        }
    }
    // A long network fault re-resolves the SSM endpoints (every 60 s) and exempts new
    // addresses, so a DNS change of the endpoints does not cut the instance off.
    let every = std::env::var("FAULTLINE_AGENT_RERESOLVE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(60));
    let mut next_resolve = st
        .ssm_region
        .as_ref()
        .filter(|_| matches!(st.fault, Fault::Network(_)))
        .map(|_| Instant::now() + every);
    let mut next_kill = kill
        .as_ref()
        .and_then(|k| k.repeat_every)
        .map(|every| Instant::now() + every);
    loop {
        let Some(cur) = dir.load(id)? else {
            return Ok(()); // rolled back by someone else
        };
        if cur.due() {
            drop(_work.take());
            return rollback(dir, &cur, Why::Deadline);
        }
        if let (Some(region), Some(at)) = (&cur.ssm_region, next_resolve) {
            if Instant::now() >= at {
                reresolve(dir, &cur, region)?;
                next_resolve = Some(Instant::now() + every);
            }
        }
        if let (Some(k), Some(at)) = (&kill, next_kill) {
            if Instant::now() >= at {
                // A round that would be too broad (more processes started matching) is
                // skipped and logged: the fault kills nothing rather than too much.
                if let Err(e) = procs::kill_round(k, &cur.spared) {
                    out::event(
                        "kill_skipped",
                        json!({"id": id, "error": format!("{e:#}")}),
                        &format!("{id}: this kill round was skipped: {e:#}"),
                    );
                }
                next_kill = k.repeat_every.map(|e| at + e);
            }
        }
        match watch.wait(cur.remaining().min(Duration::from_millis(20))) {
            Heard::Quiet => {}
            Heard::Detached => out::event(
                "detached",
                json!({"id": id}),
                &format!("{id}: inject detached; the fault runs to its deadline"),
            ),
            Heard::Gone => {
                // Re-read: a rollback may have removed the fault meanwhile.
                let Some(cur) = dir.load(id)? else {
                    return Ok(());
                };
                drop(_work.take());
                return rollback(dir, &cur, Why::InjectDied);
            }
        }
    }
}

/// Starts `st`'s workload while a thread keeps watching the lifeline: a disk fill can take
/// minutes, and `inject` dying meanwhile stops it at the next MiB. Returns the workload and
/// whether `inject` died (the caller then rolls back).
fn start_watched(st: &State, watch: &mut Watch) -> (Result<load::Workload>, bool) {
    let gone = AtomicBool::new(false);
    let started = AtomicBool::new(false);
    let w = std::thread::scope(|s| {
        s.spawn(|| {
            while !started.load(Ordering::SeqCst) {
                match watch.wait(Duration::from_millis(20)) {
                    Heard::Quiet | Heard::Detached => {}
                    Heard::Gone => {
                        gone.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
        });
        let w = load::start(
            &st.fault,
            &st.files,
            st.disk_bytes.or(st.memory_bytes),
            &gone,
        );
        started.store(true, Ordering::SeqCst);
        w
    });
    (w, gone.load(Ordering::SeqCst))
}

/// Re-resolves the SSM endpoints of an applied network fault and exempts addresses it does not
/// exempt yet (logged as `exempt_added`). A failed lookup keeps the addresses already exempt.
fn reresolve(dir: &StateDir, cur: &State, region: &str) -> Result<()> {
    let (Some(mechanism), Some(iface)) = (&cur.mechanism, &cur.interface) else {
        return Ok(()); // not applied yet
    };
    let addrs = match net::resolve_endpoints(region) {
        Ok(a) => a,
        Err(e) => {
            out::event(
                "reresolve_failed",
                json!({"id": cur.id, "error": format!("{e:#}")}),
                &format!("{}: re-resolving the SSM endpoints failed (the addresses already exempt stay so): {e:#}", cur.id),
            );
            return Ok(());
        }
    };
    let new: Vec<String> = addrs
        .iter()
        .map(|a| format!("{a}/32"))
        .filter(|n| !cur.exempt.contains(n))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let mut added = Vec::new();
    for n in &new {
        match net::add_exempt(mechanism, iface, &cur.undo, n) {
            Ok(()) => added.push(n.clone()),
            Err(e) => out::event(
                "error",
                json!({"id": cur.id, "error": e}),
                &format!("{}: exempting {n}: {e}", cur.id),
            ),
        }
    }
    let _lock = dir.lock()?;
    if let Some(mut s) = dir.load(&cur.id)? {
        s.exempt.extend(added.iter().cloned());
        dir.save(&s)?;
    }
    out::event(
        "exempt_added",
        json!({"id": cur.id, "exempt": added}),
        &format!(
            "{}: the SSM endpoints moved; exempted {}",
            cur.id,
            added.join(", ")
        ),
    );
    Ok(())
}

/// Rolls fault `st` back: stops its guardian (unless that is us), undoes its network changes
/// and deletes its files (retrying what fails, see [`RETRY_DELAYS`]), removes its state, stops
/// its backstop timer, and logs `rolled_back`. Idempotent. When something cannot be removed
/// the state file stays, with the error, and the error (exit code 4) says what is left.
pub fn rollback(dir: &StateDir, st: &State, why: Why) -> Result<()> {
    roll(dir, st, why, true)
}

/// Rolls back after a failed apply: the same steps, but only a failure is reported, on stderr
/// (the apply error is the one that matters).
pub fn rollback_quiet(dir: &StateDir, st: &State) {
    let mut st = st.clone();
    if let Ok(Some(cur)) = dir.load(&st.id) {
        st.guardian = cur.guardian.or(st.guardian);
        st.backstop = cur.backstop.or(st.backstop);
    }
    if let Err(e) = roll(dir, &st, Why::ApplyFailed, false) {
        eprintln!("faultline-agent: cleaning up after the failure: {e:#}");
    }
}

fn roll(dir: &StateDir, st: &State, why: Why, announce: bool) -> Result<()> {
    let t = Instant::now();
    let me = std::process::id() as i32;
    if let Some(g) = st.guardian.filter(|g| g.pid != me) {
        // Say who rolls back before stopping the guardian, so a waiting `inject` does not
        // take the stopped guardian for a dead one and race this rollback.
        {
            let _lock = dir.lock()?;
            if let Some(mut cur) = dir.load(&st.id)? {
                cur.rolling_back = ProcRef::of(me);
                dir.save(&cur)?;
            }
        }
        if g.signal(libc::SIGKILL) {
            let until = Instant::now() + Duration::from_secs(5);
            while g.alive() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    let mut errors = undo_once(st);
    let mut attempts = 1;
    for wait in RETRY_DELAYS {
        if errors.is_empty() {
            break;
        }
        out::event(
            "undo_retry",
            json!({
                "id": st.id, "attempt": attempts, "errors": errors,
                "retry_in_ms": wait.as_millis() as u64,
            }),
            &format!(
                "{}: undo attempt {attempts} failed ({}); retrying in {} ms",
                st.id,
                errors.join("; "),
                wait.as_millis()
            ),
        );
        std::thread::sleep(wait);
        errors = undo_once(st);
        attempts += 1;
    }
    if !errors.is_empty() {
        let left = net::manual_undo(&st.undo);
        let error = format!(
            "could not fully roll back {} after {attempts} attempts: {}. The state file stays: \
             run `faultline-agent rollback {}` again; by hand: {}{}",
            st.id,
            errors.join("; "),
            st.id,
            left.join("; "),
            if st.files.is_empty() {
                String::new()
            } else {
                format!(
                    "; rm -f {}",
                    st.files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
        );
        {
            let _lock = dir.lock()?;
            if let Some(mut cur) = dir.load(&st.id)? {
                cur.rollback_error = Some(error.clone());
                cur.rolling_back = None;
                dir.save(&cur)?;
            }
        }
        out::event(
            "rollback_failed",
            json!({"id": st.id, "reason": why.reason(), "attempts": attempts, "errors": errors}),
            &error,
        );
        return Err(rollback_failed(error));
    }
    {
        let _lock = dir.lock()?;
        dir.remove(&st.id)?;
    }
    if let Some(unit) = &st.backstop {
        systemd::disarm(unit);
    }
    if !announce {
        return Ok(());
    }
    let now = now_ms();
    // Boot clock where recorded: a stepped wall clock does not make a rollback look late.
    let late_ms = match st.deadline_boot_ms {
        Some(d) => crate::time::boot_ms() as i64 - d as i64,
        None => now as i64 - st.deadline_ms as i64,
    };
    let rollback_ms = (t.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    out::event(
        "rolled_back",
        json!({
            "id": st.id, "fault": st.fault.kind(), "by": why.by(), "reason": why.reason(),
            "rollback_ms": rollback_ms, "attempts": attempts,
            "deadline_ms": st.deadline_ms, "at_ms": now,
            "late_ms": late_ms,
        }),
        &format!(
            "rolled back {} ({}) by {} ({}) in {rollback_ms:.1} ms",
            st.id,
            st.fault.kind(),
            why.by(),
            why.reason()
        ),
    );
    Ok(())
}

/// One pass over a fault's undo steps and files; the errors of what is still there.
fn undo_once(st: &State) -> Vec<String> {
    let mut errors = net::undo_all(&st.undo);
    for f in &st.files {
        if let Err(e) = std::fs::remove_file(f) {
            if e.kind() != std::io::ErrorKind::NotFound {
                errors.push(format!("removing {}: {e}", f.display()));
            }
        }
    }
    errors
}

//! The guardian: a detached process (its own session, stdio on /dev/null, reparented to init
//! when the agent dies) started for every fault before it is applied. It runs the fault's
//! workload if it has one, and at the deadline it rolls the fault back, so a SIGKILLed agent
//! or a cancelled SSM command cannot leave a fault behind. A fault whose state file is gone
//! has been rolled back by someone else, and the guardian exits.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use faultline_faults::Fault;
use serde_json::json;

use crate::procs::{self, ProcRef};
use crate::state::{State, StateDir, Status};
use crate::time::now_ms;
use crate::{load, net, out};

/// Starts the guardian of fault `id`.
pub fn spawn(dir: &StateDir, id: &str) -> Result<ProcRef> {
    let exe = std::env::current_exe().context("locating the agent's own executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("--state-dir")
        .arg(
            dir.path_of("x")
                .parent()
                .expect("a state file has a directory"),
        )
        .args(["guardian", "--id", id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe; a new session leaves the agent's process group, so
    // signals sent to it (Ctrl-C, a cancelled command) do not reach the guardian.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("spawning the guardian")?;
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

/// The guardian's main loop.
pub fn run(dir: &StateDir, id: &str) -> Result<()> {
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
    if has_workload || kill.is_some() {
        let started = match &kill {
            Some(k) => {
                let at = now_ms();
                procs::kill_round(k, &st.spared).map(|killed| (killed, Some(at)))
            }
            None => load::start(&st.fault, &st.files, st.disk_bytes.or(st.memory_bytes)).map(|w| {
                _work = Some(w);
                (vec![], None)
            }),
        };
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
                rollback(dir, &st, "guardian")?;
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
        if now_ms() >= cur.deadline_ms {
            drop(_work.take());
            return rollback(dir, &cur, "guardian");
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
        let left = Duration::from_millis(cur.deadline_ms.saturating_sub(now_ms()));
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
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

/// Rolls fault `st` back: stops its guardian (unless that is us), undoes its network changes,
/// deletes its files, removes its state. Idempotent.
pub fn rollback(dir: &StateDir, st: &State, by: &str) -> Result<()> {
    let t = Instant::now();
    let me = std::process::id() as i32;
    if let Some(g) = st.guardian.filter(|g| g.pid != me) {
        if g.signal(libc::SIGKILL) {
            let until = Instant::now() + Duration::from_secs(5);
            while g.alive() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    let errors = net::undo_all(&st.undo);
    for f in &st.files {
        if let Err(e) = std::fs::remove_file(f) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(e).with_context(|| format!("removing {}", f.display()));
            }
        }
    }
    if !errors.is_empty() {
        bail!(
            "could not fully roll back {}: {}; the state file stays so `rollback {}` can retry",
            st.id,
            errors.join("; "),
            st.id
        );
    }
    {
        let _lock = dir.lock()?;
        dir.remove(&st.id)?;
    }
    let now = now_ms();
    let rollback_ms = (t.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    out::event(
        "rolled_back",
        json!({
            "id": st.id, "fault": st.fault.kind(), "by": by, "rollback_ms": rollback_ms,
            "deadline_ms": st.deadline_ms, "at_ms": now,
            "late_ms": now as i64 - st.deadline_ms as i64,
        }),
        &format!(
            "rolled back {} ({}) by {by} in {rollback_ms:.1} ms",
            st.id,
            st.fault.kind()
        ),
    );
    Ok(())
}

/// Rolls back after a failed apply; errors are reported, not returned (the apply error is the
/// one that matters).
pub fn rollback_quiet(dir: &StateDir, st: &State) {
    let mut st = st.clone();
    if let Ok(Some(cur)) = dir.load(&st.id) {
        st.guardian = cur.guardian.or(st.guardian);
    }
    if let Err(e) = rollback_silent(dir, &st) {
        eprintln!("faultline-agent: cleaning up after the failure: {e:#}");
    }
}

fn rollback_silent(dir: &StateDir, st: &State) -> Result<()> {
    if let Some(g) = st.guardian {
        g.signal(libc::SIGKILL);
        let until = Instant::now() + Duration::from_secs(5);
        while g.alive() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let errors = net::undo_all(&st.undo);
    for f in &st.files {
        let _ = std::fs::remove_file(f);
    }
    let _lock = dir.lock()?;
    dir.remove(&st.id)?;
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    Ok(())
}

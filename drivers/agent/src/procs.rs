//! Processes: matching by name, command-line pattern or pidfile via /proc, killing, and
//! measuring how long until a matching process runs again.

use std::fs;
use std::time::{Duration, Instant};

use anyhow::Result;
use faultline_faults::{KillFault, ProcMatch};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::exit::refused;
use crate::out;
use crate::time::now_ms;

/// A process, told apart from a later one with the same pid by its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcRef {
    /// Pid.
    pub pid: i32,
    /// Start time in clock ticks since boot (/proc/pid/stat field 22).
    pub start: u64,
}

impl ProcRef {
    /// This process.
    pub fn of(pid: i32) -> Option<Self> {
        stat(pid).map(|s| ProcRef {
            pid,
            start: s.start,
        })
    }

    /// Whether this very process still runs (not a zombie, not a reused pid).
    pub fn alive(&self) -> bool {
        matches!(stat(self.pid), Some(s) if s.start == self.start && !s.zombie)
    }

    /// Sends `sig` if the process is still this one.
    pub fn signal(&self, sig: i32) -> bool {
        // SAFETY: kill(2) on a pid we just checked is this process.
        self.alive() && unsafe { libc::kill(self.pid, sig) } == 0
    }
}

struct Stat {
    ppid: i32,
    start: u64,
    zombie: bool,
}

fn stat(pid: i32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        zombie: matches!(f.first(), Some(&"Z") | Some(&"X")),
        ppid: f.get(1)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

fn ancestors() -> Vec<i32> {
    let mut v = vec![std::process::id() as i32];
    let mut pid = v[0];
    while let Some(s) = stat(pid) {
        if s.ppid <= 1 {
            break;
        }
        v.push(s.ppid);
        pid = s.ppid;
    }
    v
}

fn base(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// Live processes matching `m`, lowest pid first; never this agent or its ancestors.
pub fn matching(m: &ProcMatch) -> Vec<ProcRef> {
    let skip = ancestors();
    let own_exe = fs::read_link("/proc/self/exe").ok();
    let (re, pidfile_pid): (_, Option<i32>) = match m {
        ProcMatch::Name(_) => (None, None),
        ProcMatch::Pattern(p) => (regex_lite::Regex::new(p).ok(), None),
        ProcMatch::Pidfile(p) => (
            None,
            fs::read_to_string(p)
                .ok()
                .and_then(|t| t.trim().parse().ok()),
        ),
    };
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if skip.contains(&pid) {
            continue;
        }
        let Some(st) = stat(pid) else { continue };
        if st.zombie {
            continue;
        }
        let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
        if exe.is_some() && exe == own_exe {
            continue;
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline.is_empty() {
            continue; // kernel threads
        }
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let hit = match m {
            ProcMatch::Name(name) => {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                let short: String = name.chars().take(15).collect();
                comm.trim_end() == short
                    || exe
                        .as_ref()
                        .and_then(|p| p.to_str())
                        .map(|p| base(p.trim_end_matches(" (deleted)")) == name)
                        .unwrap_or(false)
                    || args.first().map(|a| base(a) == name).unwrap_or(false)
            }
            ProcMatch::Pattern(_) => re
                .as_ref()
                .map(|r| r.is_match(&args.join(" ")))
                .unwrap_or(false),
            ProcMatch::Pidfile(_) => pidfile_pid == Some(pid),
        };
        if hit {
            out.push(ProcRef {
                pid,
                start: st.start,
            });
        }
    }
    out.sort_by_key(|p| p.pid);
    out
}

/// One round of killing: up to `count` matching processes. Returns the ones signalled.
pub fn kill_round(k: &KillFault) -> Vec<ProcRef> {
    let mut found = matching(&k.target);
    if let Some(c) = k.count {
        found.truncate(c as usize);
    }
    found
        .into_iter()
        .filter(|p| p.signal(k.signal.number))
        .collect()
}

fn describe(m: &ProcMatch) -> String {
    match m {
        ProcMatch::Name(n) => format!("named {n}"),
        ProcMatch::Pattern(p) => format!("matching /{p}/"),
        ProcMatch::Pidfile(f) => format!("in {f}"),
    }
}

/// A one-off kill (no duration): kill, then optionally wait for a restart.
pub fn kill_once(k: &KillFault) -> Result<()> {
    let at = now_ms();
    let killed = kill_round(k);
    if killed.is_empty() {
        return Err(refused(format!(
            "no running process {}: nothing was killed",
            describe(&k.target)
        )));
    }
    out::event(
        "killed",
        json!({"pids": killed.iter().map(|p| p.pid).collect::<Vec<_>>(), "signal": k.signal.name, "killed_at_ms": at}),
        &format!(
            "sent SIG{} to {} process(es) {}",
            k.signal.name,
            killed.len(),
            describe(&k.target)
        ),
    );
    if let Some(wait) = k.wait_restart {
        wait_restart(k, &killed, at, wait);
    }
    Ok(())
}

/// Waits up to `wait` for a matching process that is not one of `killed`; reports the time
/// from `killed_at_ms` until it was seen (polled every 5 ms).
pub fn wait_restart(k: &KillFault, killed: &[ProcRef], killed_at_ms: u64, wait: Duration) {
    let t = Instant::now();
    // Until the killed processes are gone, a match could be one of them on its way out.
    while t.elapsed() < wait {
        if let Some(p) = matching(&k.target)
            .into_iter()
            .find(|p| !killed.contains(p))
        {
            let seen = now_ms();
            let restart_ms = seen.saturating_sub(killed_at_ms);
            out::event(
                "restarted",
                json!({"pid": p.pid, "restart_ms": restart_ms, "restarted_at_ms": seen, "killed_at_ms": killed_at_ms}),
                &format!(
                    "a process {} runs again (pid {}) {restart_ms} ms after the kill",
                    describe(&k.target),
                    p.pid
                ),
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    out::event(
        "not_restarted",
        json!({"waited_ms": wait.as_millis() as u64, "killed_at_ms": killed_at_ms}),
        &format!(
            "no process {} ran again within {wait:?}",
            describe(&k.target)
        ),
    );
}

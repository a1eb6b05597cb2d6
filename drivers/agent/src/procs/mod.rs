//! Processes: matching by name, command-line pattern or pidfile via /proc, killing, and
//! measuring how long until a matching process runs again.
//!
//! What a kill fault may never hit: PID 1, kernel threads (pid 2 and its children, or no
//! executable), the SSM agent and its workers and every faultline-agent (by name,
//! [`faultline_faults::PROTECTED_NAMES`], or by this executable), this process and its
//! ancestors, and the processes a fault recorded when it was injected (the injecting agent and
//! its ancestors, which a re-parented guardian can no longer see as its own). The vital
//! services (`sshd`, `systemd*`, `journald`) only with `allow_vital`. A target that picks more
//! than [`MAX_MATCHES`] processes, or more than half of the host's, is refused.

use std::fs;
use std::time::{Duration, Instant};

use anyhow::Result;
use faultline_faults::{is_protected_name, is_vital_name, KillFault, ProcMatch};
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

/// This process and its ancestors up to (not including) PID 1, by pid and start time.
pub fn ancestors() -> Vec<ProcRef> {
    let mut v = Vec::new();
    let mut pid = std::process::id() as i32;
    while let Some(s) = stat(pid) {
        v.push(ProcRef {
            pid,
            start: s.start,
        });
        if s.ppid <= 1 {
            break;
        }
        pid = s.ppid;
    }
    v
}

fn base(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// The most processes one kill fault may hit: a name or pattern that matches more (or more
/// than half of the host's user processes) is refused.
pub const MAX_MATCHES: usize = 5;

/// A live process as /proc shows it.
#[derive(Debug, Clone, Default)]
struct Proc {
    pid: i32,
    ppid: i32,
    start: u64,
    exe: Option<String>,
    comm: String,
    args: Vec<String>,
}

impl Proc {
    fn read(pid: i32) -> Option<Self> {
        let st = stat(pid)?;
        if st.zombie {
            return None;
        }
        let exe = fs::read_link(format!("/proc/{pid}/exe")).ok().map(|p| {
            p.to_string_lossy()
                .trim_end_matches(" (deleted)")
                .to_owned()
        });
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        Some(Proc {
            pid,
            ppid: st.ppid,
            start: st.start,
            exe,
            comm: fs::read_to_string(format!("/proc/{pid}/comm"))
                .unwrap_or_default()
                .trim_end()
                .to_owned(),
            args: cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
        })
    }

    fn as_ref(&self) -> ProcRef {
        ProcRef {
            pid: self.pid,
            start: self.start,
        }
    }

    /// A kernel thread: kthreadd (pid 2) or its child, or no executable and no command line.
    fn kernel_thread(&self) -> bool {
        self.pid == 2 || self.ppid == 2 || self.exe.is_none() || self.args.is_empty()
    }

    /// Its names: `comm`, and the base names of its executable and of argv\[0\].
    fn names(&self) -> impl Iterator<Item = &str> {
        [
            Some(self.comm.as_str()),
            self.exe.as_deref().map(base),
            self.args.first().map(|a| base(a)),
        ]
        .into_iter()
        .flatten()
        .filter(|n| !n.is_empty())
    }

    fn named(&self, name: &str) -> bool {
        let short: String = name.chars().take(15).collect();
        self.comm == short
            || self.exe.as_deref().map(base) == Some(name)
            || self.args.first().map(|a| base(a)) == Some(name)
    }

    /// Why no kill fault may hit this process, if none may.
    fn protected(&self, keep: &[ProcRef], own_exe: Option<&str>) -> Option<String> {
        if self.pid == 1 {
            Some("PID 1".into())
        } else if self.kernel_thread() {
            Some("a kernel thread".into())
        } else if keep.contains(&self.as_ref()) {
            Some("this agent or the process that started it".into())
        } else if own_exe.is_some() && self.exe.as_deref() == own_exe {
            Some("a faultline-agent process".into())
        } else {
            self.names()
                .find(|n| is_protected_name(n))
                .map(|n| format!("protected ({n})"))
        }
    }

    /// Which vital name it has, if any (spared unless the fault allows vital services).
    fn vital(&self) -> Option<&str> {
        self.names().find(|n| is_vital_name(n))
    }
}

/// What a kill fault's target picks on this host.
#[derive(Debug, Default)]
pub struct Selection {
    /// The processes it may signal, lowest pid first.
    pub targets: Vec<ProcRef>,
    /// Matching processes it spares, each with the reason.
    pub spared: Vec<(i32, String)>,
    /// The host's user processes (not kernel threads), for the half-of-the-host limit.
    pub user_procs: usize,
}

impl Selection {
    /// Refuses a target that matches more than [`MAX_MATCHES`] processes or more than half of
    /// the host's user processes, naming the argument and the count.
    fn check_breadth(self, m: &ProcMatch) -> Result<Self> {
        let n = self.targets.len();
        if n <= MAX_MATCHES && n * 2 <= self.user_procs {
            return Ok(self);
        }
        let pids: Vec<String> = self
            .targets
            .iter()
            .take(10)
            .map(|p| p.pid.to_string())
            .collect();
        Err(refused(format!(
            "kill: --{} {} matches {n} processes (pids {}{}) of the host's {} user processes; \
             a kill fault may hit at most {MAX_MATCHES}, and never more than half of them: \
             narrow the {}; nothing was killed",
            field(m),
            describe(m),
            pids.join(", "),
            if n > 10 { ", ..." } else { "" },
            self.user_procs,
            field(m)
        )))
    }
}

fn select_from(
    procs: &[Proc],
    k: &KillFault,
    keep: &[ProcRef],
    own_exe: Option<&str>,
) -> Selection {
    let re = match &k.target {
        ProcMatch::Pattern(p) => regex_lite::Regex::new(p).ok(),
        _ => None,
    };
    let pidfile_pid: Option<i32> = match &k.target {
        ProcMatch::Pidfile(p) => fs::read_to_string(p)
            .ok()
            .and_then(|t| t.trim().parse().ok()),
        _ => None,
    };
    let mut sel = Selection::default();
    for p in procs {
        if !p.kernel_thread() {
            sel.user_procs += 1;
        }
        let hit = match &k.target {
            ProcMatch::Name(name) => p.named(name),
            ProcMatch::Pattern(_) => {
                !p.args.is_empty()
                    && re
                        .as_ref()
                        .map(|r| r.is_match(&p.args.join(" ")))
                        .unwrap_or(false)
            }
            ProcMatch::Pidfile(_) => pidfile_pid == Some(p.pid),
        };
        if !hit {
            continue;
        }
        if let Some(why) = p.protected(keep, own_exe) {
            sel.spared.push((p.pid, why));
        } else if let Some(v) = p.vital().filter(|_| !k.allow_vital) {
            sel.spared.push((
                p.pid,
                format!("vital ({v}); allow_vital: true lets it be hit"),
            ));
        } else {
            sel.targets.push(p.as_ref());
        }
    }
    sel.targets.sort_by_key(|p| p.pid);
    sel.spared.sort();
    sel
}

/// Every live process, from /proc.
fn scan() -> Vec<Proc> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter_map(Proc::read)
        .collect()
}

/// The live processes `k` picks, without the breadth limit. Never PID 1, kernel threads, the
/// SSM agent, any faultline-agent, this process, the processes in `keep` or this process's
/// ancestors; vital services only with `allow_vital`.
pub fn candidates(k: &KillFault, keep: &[ProcRef]) -> Selection {
    let mut keep = keep.to_vec();
    keep.extend(ancestors());
    let own_exe = fs::read_link("/proc/self/exe").ok().map(|p| {
        p.to_string_lossy()
            .trim_end_matches(" (deleted)")
            .to_owned()
    });
    select_from(&scan(), k, &keep, own_exe.as_deref())
}

/// [`candidates`], refused (exit 3) when it is more than a few processes or half the host.
pub fn select(k: &KillFault, keep: &[ProcRef]) -> Result<Selection> {
    candidates(k, keep).check_breadth(&k.target)
}

/// One round of killing: up to `count` of the processes `k` picks, sparing `keep` too. Returns
/// the ones signalled; refused when the target is too broad.
pub fn kill_round(k: &KillFault, keep: &[ProcRef]) -> Result<Vec<ProcRef>> {
    let mut found = select(k, keep)?.targets;
    if let Some(c) = k.count {
        found.truncate(c as usize);
    }
    Ok(found
        .into_iter()
        .filter(|p| p.signal(k.signal.number))
        .collect())
}

fn field(m: &ProcMatch) -> &'static str {
    match m {
        ProcMatch::Name(_) => "name",
        ProcMatch::Pattern(_) => "pattern",
        ProcMatch::Pidfile(_) => "pidfile",
    }
}

fn spared_note(spared: &[(i32, String)]) -> String {
    if spared.is_empty() {
        return String::new();
    }
    let list: Vec<String> = spared
        .iter()
        .take(10)
        .map(|(pid, why)| format!("pid {pid}: {why}"))
        .collect();
    format!(
        " ({} matching process(es) spared: {}{})",
        spared.len(),
        list.join("; "),
        if spared.len() > 10 { "; ..." } else { "" }
    )
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
    let sel = select(k, &[])?;
    let mut found = sel.targets;
    if let Some(c) = k.count {
        found.truncate(c as usize);
    }
    let killed: Vec<ProcRef> = found
        .into_iter()
        .filter(|p| p.signal(k.signal.number))
        .collect();
    if killed.is_empty() {
        return Err(refused(format!(
            "no running process {} that a kill fault may hit{}: nothing was killed",
            describe(&k.target),
            spared_note(&sel.spared)
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
        if let Some(p) = candidates(k, &[])
            .targets
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

#[cfg(test)]
mod tests;

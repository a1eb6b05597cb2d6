//! Process faults: [`KillFault`] sends a [`Signal`] to the processes a [`ProcMatch`] picks (by
//! name, command-line pattern or pidfile), once or repeatedly, and can wait for them to restart.
//!
//! Some processes no kill fault may hit ([`PROTECTED_NAMES`], and on the host PID 1, kernel
//! threads, the agent and its guardians); the host's vital services ([`is_vital_name`]) only
//! when the fault says `allow_vital: true`. A name among them is refused here, before anything
//! is sent; the agent enforces the same sets on every process it matches.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::units::{int_in, path_arg, secs};
use crate::{FaultError, RawArgs};

/// Kill processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KillFault {
    /// Which processes.
    pub target: ProcMatch,
    /// Signal.
    pub signal: Signal,
    /// At most this many per round (`None`: all that match).
    pub count: Option<u32>,
    /// Kill again at this interval for the fault's duration.
    pub repeat_every: Option<Duration>,
    /// Wait this long for a matching process to run again; report the time it took.
    pub wait_restart: Option<Duration>,
    /// May hit the host's vital services ([`is_vital_name`]); never the [`PROTECTED_NAMES`].
    #[serde(default)]
    pub allow_vital: bool,
}

/// Processes no kill fault may hit, whatever it says: the SSM agent and its workers (the way
/// back into the host), this agent, and the kernel's thread parent. The agent also spares PID
/// 1, every kernel thread, its own guardians and the processes it was started from.
pub const PROTECTED_NAMES: [&str; 5] = [
    "amazon-ssm-agent",
    "ssm-agent-worker",
    "ssm-session-worker",
    "faultline-agent",
    "kthreadd",
];

/// Whether `name` is one of the [`PROTECTED_NAMES`] (also as the kernel's 15-character `comm`).
pub fn is_protected_name(name: &str) -> bool {
    PROTECTED_NAMES
        .iter()
        .any(|p| *p == name || (name.len() == 15 && p.starts_with(name)))
}

/// Whether `name` is one of the host's vital services, which a kill fault spares unless it says
/// `allow_vital: true`: `sshd` (and `sshd-*`), `systemd*` (PID 1's own name included) and
/// `journald`.
pub fn is_vital_name(name: &str) -> bool {
    name == "sshd" || name.starts_with("sshd-") || name.starts_with("systemd") || name == "journald"
}

/// How processes are chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcMatch {
    /// Executable name (`comm`, or the base name of the executable or of argv\[0\]).
    Name(String),
    /// Regular expression on the command line (arguments joined by spaces).
    Pattern(String),
    /// The pid in this file.
    Pidfile(String),
}

/// A signal by name and number (Linux numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Signal {
    /// `KILL`, `TERM`, ...
    pub name: &'static str,
    /// Its number.
    pub number: i32,
}

const SIGNALS: [(&str, i32); 11] = [
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ABRT", 6),
    ("KILL", 9),
    ("USR1", 10),
    ("USR2", 12),
    ("TERM", 15),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
];

impl<'de> Deserialize<'de> for Signal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Signal::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl From<Signal> for String {
    fn from(s: Signal) -> String {
        s.name.to_owned()
    }
}

impl Signal {
    /// Parses `KILL`, `SIGKILL`, `kill` or `9`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let upper = s.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        SIGNALS
            .iter()
            .find(|(n, num)| *n == bare || bare.parse::<i32>().ok() == Some(*num))
            .map(|(name, number)| Signal {
                name,
                number: *number,
            })
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a signal this agent sends: use one of {}",
                    SIGNALS.map(|(n, _)| n).join(", ")
                )
            })
    }
}

impl KillFault {
    /// Validates `kill`'s arguments: exactly one of name, pattern or pidfile, then the rest.
    pub(crate) fn from_raw(raw: &RawArgs) -> Result<Self, FaultError> {
        let targets: Vec<ProcMatch> = [
            raw.name.clone().map(ProcMatch::Name),
            raw.pattern.clone().map(ProcMatch::Pattern),
            raw.pidfile.clone().map(ProcMatch::Pidfile),
        ]
        .into_iter()
        .flatten()
        .collect();
        let target = match targets.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(FaultError::new(
                    "name",
                    "kill needs one of name, pattern or pidfile",
                ))
            }
            _ => {
                return Err(FaultError::new(
                    "name",
                    "give only one of name, pattern or pidfile",
                ))
            }
        };
        match &target {
            ProcMatch::Name(n) => {
                if is_protected_name(n) {
                    return Err(FaultError::new(
                        "name",
                        format!(
                            "{n:?} is protected: no kill fault may hit {} (the way back into \
                             the host and the agent itself)",
                            PROTECTED_NAMES.join(", ")
                        ),
                    ));
                }
                if is_vital_name(n) && raw.allow_vital != Some(true) {
                    return Err(FaultError::new(
                        "name",
                        format!(
                            "{n:?} is vital to the host (sshd, systemd*, journald): set \
                             allow_vital: true to kill it anyway (PID 1 stays protected)"
                        ),
                    ));
                }
                if n.is_empty()
                    || n.len() > 64
                    || !n
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.:+-".contains(c))
                {
                    return Err(FaultError::new(
                        "name",
                        format!("{n:?} is not a process name (1 to 64 of letters, digits, '_', '.', ':', '+', '-')"),
                    ));
                }
            }
            ProcMatch::Pattern(p) => {
                if p.is_empty() || p.len() > 256 {
                    return Err(FaultError::new("pattern", "must be 1 to 256 characters"));
                }
                regex_lite::Regex::new(p).map_err(|e| {
                    FaultError::new("pattern", format!("{p:?} is not a regular expression: {e}"))
                })?;
            }
            ProcMatch::Pidfile(p) => {
                path_arg("pidfile", p)?;
            }
        }
        Ok(KillFault {
            target,
            signal: Signal::parse(raw.signal.as_deref().unwrap_or("KILL"))
                .map_err(|m| FaultError::new("signal", m))?,
            count: raw
                .count
                .map(|c| int_in("count", c, 1, 10_000, "").map(|c| c as u32))
                .transpose()?,
            repeat_every: raw
                .repeat_every
                .map(|s| secs("repeat_every", s, 0.1, 3600.0))
                .transpose()?,
            wait_restart: raw
                .wait_restart
                .map(|s| secs("wait_restart", s, 0.1, 3600.0))
                .transpose()?,
            allow_vital: raw.allow_vital == Some(true),
        })
    }

    /// The agent's flags for this fault.
    pub(crate) fn write_args(&self, flag: &mut impl FnMut(&str, String)) {
        match &self.target {
            ProcMatch::Name(n) => flag("name", n.clone()),
            ProcMatch::Pattern(p) => flag("pattern", p.clone()),
            ProcMatch::Pidfile(p) => flag("pidfile", p.clone()),
        }
        flag("signal", self.signal.name.to_owned());
        if let Some(c) = self.count {
            flag("count", c.to_string());
        }
        if let Some(d) = self.repeat_every {
            flag("repeat-every", d.as_secs_f64().to_string());
        }
        if let Some(d) = self.wait_restart {
            flag("wait-restart", d.as_secs_f64().to_string());
        }
        if self.allow_vital {
            flag("allow-vital", "true".to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{bad, raw};
    use crate::Fault;

    #[test]
    fn rejects_bad_kill_arguments_by_name() {
        let e = bad("kill", r#"{"name": "a", "pidfile": "/run/a.pid"}"#);
        assert_eq!(e.field, "name");
        let e = bad("kill", r#"{"pattern": "("}"#);
        assert_eq!(e.field, "pattern");
        let e = bad("kill", r#"{"name": "x", "signal": "BOOM"}"#);
        assert_eq!(e.field, "signal");
    }

    #[test]
    fn protected_names_are_refused_and_vital_ones_need_allow_vital() {
        for n in [
            "amazon-ssm-agent",
            "amazon-ssm-agen",
            "ssm-agent-worker",
            "ssm-session-worker",
            "faultline-agent",
            "kthreadd",
        ] {
            for allow in ["false", "true"] {
                let e = bad(
                    "kill",
                    &format!(r#"{{"name": "{n}", "allow_vital": {allow}}}"#),
                );
                assert_eq!(e.field, "name");
                assert!(e.message.contains("is protected"), "{e}");
            }
        }
        for n in [
            "sshd",
            "sshd-session",
            "systemd",
            "systemd-journald",
            "journald",
        ] {
            let e = bad("kill", &format!(r#"{{"name": "{n}"}}"#));
            assert_eq!(e.field, "name");
            assert!(e.message.contains("allow_vital: true"), "{e}");
            let f = Fault::from_raw(
                "kill",
                &raw(&format!(r#"{{"name": "{n}", "allow_vital": true}}"#)),
            )
            .unwrap();
            assert!(matches!(&f, Fault::Kill(k) if k.allow_vital));
        }
        assert!(!is_vital_name("nginx") && !is_protected_name("ssm"));
    }

    #[test]
    fn allow_vital_reaches_the_agent_through_the_ssm_document() {
        let f = Fault::from_raw(
            "kill",
            &raw(r#"{"name": "sshd", "allow_vital": true, "signal": "TERM"}"#),
        )
        .unwrap();
        let args = f.ssm_args().unwrap();
        assert_eq!(args, "--name sshd --signal TERM --allow-vital true");
        let re = regex_lite::Regex::new(crate::SSM_ARGS_PATTERN).unwrap();
        assert!(re.is_match(&args));
        // Without it, nothing is added; old records without the field still read.
        let f = Fault::from_raw("kill", &raw(r#"{"name": "nginx"}"#)).unwrap();
        assert!(!f.ssm_args().unwrap().contains("allow"));
        let old: KillFault = serde_json::from_str(
            r#"{"target": {"name": "nginx"}, "signal": "KILL", "count": null,
                "repeat_every": null, "wait_restart": null}"#,
        )
        .unwrap();
        assert!(!old.allow_vital);
    }
}

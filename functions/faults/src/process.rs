//! Process faults: [`KillFault`] sends a [`Signal`] to the processes a [`ProcMatch`] picks (by
//! name, command-line pattern or pidfile), once or repeatedly, and can wait for them to restart.

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
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::bad;

    #[test]
    fn rejects_bad_kill_arguments_by_name() {
        let e = bad("kill", r#"{"name": "a", "pidfile": "/run/a.pid"}"#);
        assert_eq!(e.field, "name");
        let e = bad("kill", r#"{"pattern": "("}"#);
        assert_eq!(e.field, "pattern");
        let e = bad("kill", r#"{"name": "x", "signal": "BOOM"}"#);
        assert_eq!(e.field, "signal");
    }
}

//! [`RawArgs`]: a fault's arguments as they arrive (the spec's `args` object, the agent's
//! flags), before validation. Numbers are signed and wide so that `-5` reaches validation and
//! gets a message, not a parse error.

use serde::{Deserialize, Serialize};

/// Arguments as they arrive, before validation. Every field is optional; which ones a fault
/// takes is [`FaultKind::allowed`](crate::FaultKind::allowed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArgs {
    /// Network interface (default: the default route's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Limit a network fault to these destinations (IPv4 CIDR, address or host name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// Limit a network fault to this destination port (TCP and UDP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// Added delay, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<i64>,
    /// Random variation of the delay, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<i64>,
    /// Percentage of packets (loss, corrupt, duplicate), of memory, or of the filesystem (disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Bandwidth like `10mbit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
    /// Process name to kill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Regular expression on the command line of processes to kill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// File holding the pid to kill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pidfile: Option<String>,
    /// Signal to send (name or number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Kill at most this many processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// Kill again every this many seconds for the duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_every: Option<f64>,
    /// Wait up to this many seconds for a process to come back and report how long it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_restart: Option<f64>,
    /// Let a kill fault hit the host's vital services (`sshd`, `systemd*`, `journald`), which
    /// it otherwise spares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_vital: Option<bool>,
    /// Worker threads (cpu, io).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<i64>,
    /// Load of each cpu worker, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_percent: Option<i64>,
    /// Mebibytes (memory, disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mb: Option<i64>,
    /// Directory on the filesystem to fill (disk) or write to (io).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl RawArgs {
    pub(crate) fn present(&self) -> Vec<&'static str> {
        let mut p = Vec::new();
        let mut add = |yes: bool, name: &'static str| {
            if yes {
                p.push(name)
            }
        };
        add(self.interface.is_some(), "interface");
        add(!self.to.is_empty(), "to");
        add(self.port.is_some(), "port");
        add(self.delay_ms.is_some(), "delay_ms");
        add(self.jitter_ms.is_some(), "jitter_ms");
        add(self.percent.is_some(), "percent");
        add(self.rate.is_some(), "rate");
        add(self.name.is_some(), "name");
        add(self.pattern.is_some(), "pattern");
        add(self.pidfile.is_some(), "pidfile");
        add(self.signal.is_some(), "signal");
        add(self.count.is_some(), "count");
        add(self.repeat_every.is_some(), "repeat_every");
        add(self.wait_restart.is_some(), "wait_restart");
        add(self.allow_vital.is_some(), "allow_vital");
        add(self.workers.is_some(), "workers");
        add(self.load_percent.is_some(), "load_percent");
        add(self.mb.is_some(), "mb");
        add(self.path.is_some(), "path");
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_arguments_are_refused() {
        assert!(serde_json::from_str::<RawArgs>(r#"{"delay": 1}"#).is_err());
    }

    #[test]
    fn present_names_what_was_given() {
        let raw: RawArgs =
            serde_json::from_str(r#"{"to": ["10.0.0.0/8"], "delay_ms": 5, "path": "/tmp"}"#)
                .unwrap();
        assert_eq!(raw.present(), ["to", "delay_ms", "path"]);
        assert!(RawArgs::default().present().is_empty());
    }
}

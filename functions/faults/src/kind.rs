//! [`FaultKind`]: the names of the faults ([`ALL_KINDS`]), which family each belongs to and which
//! arguments each takes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::FaultError;

/// The kinds of fault, by the name used on the command line and in the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// Delay outgoing packets (tc netem).
    Latency,
    /// Drop a percentage of outgoing packets (tc netem, or nftables without netem).
    Loss,
    /// Corrupt a percentage of outgoing packets (tc netem).
    Corrupt,
    /// Duplicate a percentage of outgoing packets (tc netem).
    Duplicate,
    /// Limit outgoing bandwidth (tc htb).
    Bandwidth,
    /// Drop every outgoing packet to some destinations (nftables).
    Blackhole,
    /// Drop outgoing DNS (nftables).
    Dns,
    /// Kill processes.
    Kill,
    /// Burn CPU.
    Cpu,
    /// Hold memory.
    Memory,
    /// Fill a filesystem.
    Disk,
    /// Write and sync in a loop.
    Io,
}

/// Every fault kind, in the order help texts list them.
pub const ALL_KINDS: [FaultKind; 12] = [
    FaultKind::Latency,
    FaultKind::Loss,
    FaultKind::Corrupt,
    FaultKind::Duplicate,
    FaultKind::Bandwidth,
    FaultKind::Blackhole,
    FaultKind::Dns,
    FaultKind::Kill,
    FaultKind::Cpu,
    FaultKind::Memory,
    FaultKind::Disk,
    FaultKind::Io,
];

impl FaultKind {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Latency => "latency",
            FaultKind::Loss => "loss",
            FaultKind::Corrupt => "corrupt",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Bandwidth => "bandwidth",
            FaultKind::Blackhole => "blackhole",
            FaultKind::Dns => "dns",
            FaultKind::Kill => "kill",
            FaultKind::Cpu => "cpu",
            FaultKind::Memory => "memory",
            FaultKind::Disk => "disk",
            FaultKind::Io => "io",
        }
    }

    /// Parses a fault name.
    pub fn parse(s: &str) -> Result<Self, FaultError> {
        ALL_KINDS
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                FaultError::new(
                    "fault",
                    format!(
                        "unknown fault {s:?}: expected one of {}",
                        ALL_KINDS.map(FaultKind::name).join(", ")
                    ),
                )
            })
    }

    /// Network faults: at most one per interface at a time.
    pub fn is_network(self) -> bool {
        match self {
            FaultKind::Latency
            | FaultKind::Loss
            | FaultKind::Corrupt
            | FaultKind::Duplicate
            | FaultKind::Bandwidth
            | FaultKind::Blackhole
            | FaultKind::Dns => true,
            FaultKind::Kill
            | FaultKind::Cpu
            | FaultKind::Memory
            | FaultKind::Disk
            | FaultKind::Io => false,
        }
    }

    /// The arguments this kind takes (spec names).
    pub fn allowed(self) -> &'static [&'static str] {
        const NET: [&str; 3] = ["interface", "to", "port"];
        match self {
            FaultKind::Latency => &["interface", "to", "port", "delay_ms", "jitter_ms"],
            FaultKind::Loss | FaultKind::Corrupt | FaultKind::Duplicate => {
                &["interface", "to", "port", "percent"]
            }
            FaultKind::Bandwidth => &["interface", "to", "port", "rate"],
            FaultKind::Blackhole => &NET,
            FaultKind::Dns => &["interface", "to"],
            FaultKind::Kill => &[
                "name",
                "pattern",
                "pidfile",
                "signal",
                "count",
                "repeat_every",
                "wait_restart",
                "allow_vital",
            ],
            FaultKind::Cpu => &["workers", "load_percent"],
            FaultKind::Memory => &["mb", "percent"],
            FaultKind::Disk => &["path", "mb", "percent"],
            FaultKind::Io => &["workers", "path"],
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_from_its_name() {
        for k in ALL_KINDS {
            assert_eq!(FaultKind::parse(k.name()), Ok(k));
            assert_eq!(k.to_string(), k.name());
        }
    }

    #[test]
    fn an_unknown_kind_lists_the_known_ones() {
        let e = FaultKind::parse("explode").unwrap_err();
        assert_eq!(e.field, "fault");
        assert!(e.message.contains("latency, loss"), "{e}");
        assert_eq!(e.flag(), "<fault>");
    }
}

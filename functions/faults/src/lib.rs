//! faultline-faults: the faults `faultline-agent` applies, their arguments and their validation.
//!
//! The agent (on the host) and the monkey (in Lambda, for the spec's `agent` action) both turn
//! raw input into a [`Fault`] here, so a fault the monkey accepts is exactly one the agent
//! accepts, and the monkey refuses a bad argument before it sends anything.
//!
//! # Layout
//!
//! - `lib.rs` (this file): [`Fault`], the validated fault, and the way in and out of it:
//!   [`Fault::from_raw`] (validation, which names the first bad argument), [`Fault::to_args`]
//!   (the agent's command line for a fault, what the SSM document runs) and [`Fault::ssm_args`],
//!   which also checks it against [`SSM_ARGS_PATTERN`].
//! - `kind.rs`: [`FaultKind`], the names ([`ALL_KINDS`]) and the arguments each kind takes.
//! - `raw.rs`: [`RawArgs`], arguments as they arrive (the spec's `args` object, the agent's
//!   flags); numbers are signed and wide so that `-5` reaches validation and gets a message, not
//!   a parse error.
//! - `error.rs`: [`FaultError`], naming the argument at fault.
//! - One module per family, each with its types and their validation:
//!   - `network.rs`: [`NetFault`] = [`NetEffect`] on a [`NetScope`] ([`Interface`], [`Dest`]).
//!   - `process.rs`: [`KillFault`], [`ProcMatch`], [`Signal`].
//!   - `resources.rs`: [`CpuFault`], [`MemoryFault`], [`DiskFault`], [`IoFault`], [`Amount`].
//! - `units.rs`: [`FaultDuration`] (how long a fault lasts, 1 s to 24 h), [`parse_rate`], and
//!   the small validators the families share.
//!
//! Modules import downward only: `lib.rs` -> families -> `units`, `kind`, `raw` -> `error`.
//! Every item is re-exported here: use `faultline_faults::Fault`, not a module path.
//!
//! Only IPv4 destinations are supported: `tc u32` filters and the nftables rules the agent writes
//! match `ip daddr`.

mod error;
mod kind;
mod network;
mod process;
mod raw;
mod resources;
mod units;

use serde::{Deserialize, Serialize};

pub use error::FaultError;
pub use kind::{FaultKind, ALL_KINDS};
pub use network::{Dest, Interface, NetEffect, NetFault, NetScope};
pub use process::{
    is_protected_name, is_vital_name, KillFault, ProcMatch, Signal, PROTECTED_NAMES,
};
pub use raw::RawArgs;
pub use resources::{Amount, CpuFault, DiskFault, IoFault, MemoryFault, DISK_MAX_PERCENT};
pub use units::{parse_rate, FaultDuration};

/// The characters the SSM document lets through in its `Args` parameter (its `allowedPattern`
/// is `^[A-Za-z0-9_.,:/@%+= -]{0,1024}$`). None of them means anything to `sh` in an unquoted
/// word, so with globbing off (`set -f`) each space-separated token reaches the agent as one
/// literal argument. Keep this and `terraform/documents/faultline-agent.json` in step: a test
/// compares them.
pub const SSM_ARGS_PATTERN: &str = "^[A-Za-z0-9_.,:/@%+= -]{0,1024}$";

fn ssm_safe_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.,:/@%+=-".contains(c)
}

/// A validated fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Fault {
    /// A network fault on one interface.
    Network(NetFault),
    /// Kill processes.
    Kill(KillFault),
    /// Burn CPU.
    Cpu(CpuFault),
    /// Hold memory.
    Memory(MemoryFault),
    /// Fill a filesystem.
    Disk(DiskFault),
    /// Write and sync in a loop.
    Io(IoFault),
}

impl Fault {
    /// The fault's kind.
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Network(n) => n.effect.kind(),
            Fault::Kill(_) => FaultKind::Kill,
            Fault::Cpu(_) => FaultKind::Cpu,
            Fault::Memory(_) => FaultKind::Memory,
            Fault::Disk(_) => FaultKind::Disk,
            Fault::Io(_) => FaultKind::Io,
        }
    }

    /// Validates `raw` as arguments of the fault named `kind`, naming the first bad argument.
    pub fn from_raw(kind: &str, raw: &RawArgs) -> Result<Fault, FaultError> {
        let kind = FaultKind::parse(kind)?;
        let allowed = kind.allowed();
        if let Some(extra) = raw.present().into_iter().find(|f| !allowed.contains(f)) {
            return Err(FaultError::new(
                extra,
                format!(
                    "does not apply to the {kind} fault (it takes: {})",
                    allowed.join(", ")
                ),
            ));
        }
        let net =
            |effect: network::EffectFromRaw| NetFault::from_raw(raw, effect).map(Fault::Network);
        match kind {
            FaultKind::Latency => net(network::latency),
            FaultKind::Loss => net(network::loss),
            FaultKind::Corrupt => net(network::corrupt),
            FaultKind::Duplicate => net(network::duplicate),
            FaultKind::Bandwidth => net(network::bandwidth),
            FaultKind::Blackhole => net(network::blackhole),
            FaultKind::Dns => net(network::dns),
            FaultKind::Kill => KillFault::from_raw(raw).map(Fault::Kill),
            FaultKind::Cpu => CpuFault::from_raw(raw).map(Fault::Cpu),
            FaultKind::Memory => MemoryFault::from_raw(raw).map(Fault::Memory),
            FaultKind::Disk => DiskFault::from_raw(raw).map(Fault::Disk),
            FaultKind::Io => IoFault::from_raw(raw).map(Fault::Io),
        }
    }

    /// The agent's arguments for this fault after `inject <kind>`, one flag or value each.
    pub fn to_args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut flag = |name: &str, v: String| {
            a.push(format!("--{name}"));
            a.push(v);
        };
        match self {
            Fault::Network(n) => n.write_args(&mut flag),
            Fault::Kill(k) => k.write_args(&mut flag),
            Fault::Cpu(c) => c.write_args(&mut flag),
            Fault::Memory(m) => m.write_args(&mut flag),
            Fault::Disk(d) => d.write_args(&mut flag),
            Fault::Io(i) => i.write_args(&mut flag),
        }
        a
    }

    /// [`Fault::to_args`] joined by spaces for the SSM document's `Args` parameter, refused when
    /// a value holds a character the document's `allowedPattern` ([`SSM_ARGS_PATTERN`]) rejects.
    pub fn ssm_args(&self) -> Result<String, FaultError> {
        let args = self.to_args();
        for pair in args.chunks(2) {
            if let [f, v] = pair {
                if let Some(c) = v.chars().find(|c| !ssm_safe_char(*c)) {
                    return Err(FaultError::new(
                        f.trim_start_matches("--").replace('-', "_"),
                        format!(
                            "{v:?} contains {c:?}, which the SSM document does not pass (allowed: \
                             letters, digits and _ . , : / @ % + = -); through SSM, use name or \
                             pidfile, or a pattern without it"
                        ),
                    ));
                }
            }
        }
        let joined = args.join(" ");
        if joined.len() > 1024 {
            return Err(FaultError::new(
                "to",
                "the arguments are longer than the SSM document's 1024 characters: list fewer \
                 destinations",
            ));
        }
        Ok(joined)
    }
}

impl From<KillFault> for Fault {
    fn from(k: KillFault) -> Self {
        Fault::Kill(k)
    }
}

/// Helpers for the unit tests of every module.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Fault, FaultError, RawArgs};

    /// Arguments from JSON, as the spec gives them.
    pub fn raw(json: &str) -> RawArgs {
        serde_json::from_str(json).unwrap()
    }

    /// The error validating `json` as arguments of `kind`.
    pub fn bad(kind: &str, json: &str) -> FaultError {
        Fault::from_raw(kind, &raw(json)).expect_err(json)
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{bad, raw};
    use super::*;

    #[test]
    fn arguments_of_another_kind_are_refused() {
        let e = bad("latency", r#"{"delay_ms": 10, "percent": 5}"#);
        assert_eq!(e.field, "percent");
        assert!(e.message.contains("does not apply"), "{e}");
        let e = bad("explode", "{}");
        assert_eq!(e.field, "fault");
    }

    #[test]
    fn every_kind_validates_into_a_fault_of_that_kind() {
        for kind in ALL_KINDS {
            let args = match kind {
                FaultKind::Latency => r#"{"delay_ms": 100}"#,
                FaultKind::Loss | FaultKind::Corrupt | FaultKind::Duplicate => r#"{"percent": 5}"#,
                FaultKind::Bandwidth => r#"{"rate": "1mbit"}"#,
                FaultKind::Blackhole => r#"{"to": ["10.0.0.0/8"]}"#,
                FaultKind::Dns | FaultKind::Cpu | FaultKind::Io => "{}",
                FaultKind::Kill => r#"{"name": "nginx"}"#,
                FaultKind::Memory => r#"{"mb": 64}"#,
                FaultKind::Disk => r#"{"path": "/tmp", "mb": 64}"#,
            };
            let f = Fault::from_raw(kind.name(), &raw(args)).unwrap();
            assert_eq!(f.kind(), kind, "{args}");
            assert_eq!(matches!(f, Fault::Network(_)), kind.is_network(), "{kind}");
        }
    }

    #[test]
    fn ssm_args_refuse_shell_characters() {
        let f = Fault::from_raw("kill", &raw(r#"{"pattern": "java .*Main$"}"#)).unwrap();
        let e = f.ssm_args().unwrap_err();
        assert_eq!(e.field, "pattern");
        let f = Fault::from_raw(
            "blackhole",
            &raw(r#"{"to": ["10.0.0.0/8", "db.example.com"], "port": 5432}"#),
        )
        .unwrap();
        assert_eq!(
            f.ssm_args().unwrap(),
            "--to 10.0.0.0/8 --to db.example.com --port 5432"
        );
    }

    #[test]
    fn validated_faults_round_trip_through_json() {
        for (k, a) in [
            (
                "kill",
                r#"{"name": "nginx", "repeat_every": 2, "wait_restart": 30}"#,
            ),
            ("cpu", r#"{"workers": 2, "load_percent": 50}"#),
            ("memory", r#"{"percent": 10}"#),
            ("disk", r#"{"path": "/var/tmp", "mb": 100}"#),
            ("dns", r#"{"interface": "eth0"}"#),
        ] {
            let f = Fault::from_raw(k, &raw(a)).unwrap();
            let text = serde_json::to_string(&f).unwrap();
            let back: Fault = serde_json::from_str(&text).unwrap();
            assert_eq!(back, f, "{text}");
        }
    }
}

//! faultline-faults: the faults `faultline-agent` applies, their arguments and their validation.
//!
//! The agent (on the host) and the monkey (in Lambda, for the spec's `agent` action) both turn
//! raw input into a [`Fault`] here, so a fault the monkey accepts is exactly one the agent
//! accepts, and the monkey refuses a bad argument before it sends anything.
//!
//! # Layout
//!
//! - [`RawArgs`]: arguments as they arrive (the spec's `args` object, the agent's flags); numbers
//!   are signed and wide so that `-5` reaches validation and gets a message, not a parse error.
//! - [`Fault::from_raw`]: validation into [`Fault`], which cannot hold an invalid state.
//! - [`Fault::to_args`]: the agent's command line for a fault (what the SSM document runs), and
//!   [`Fault::ssm_args`], which also checks it against [`SSM_ARGS_PATTERN`].
//! - [`FaultDuration`]: how long a fault lasts (1 s to 24 h).
//!
//! Only IPv4 destinations are supported: `tc u32` filters and the nftables rules the agent writes
//! match `ip daddr`.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The characters the SSM document lets through in its `Args` parameter (its `allowedPattern`
/// is `^[A-Za-z0-9_.,:/@%+= -]{0,1024}$`). None of them means anything to `sh` in an unquoted
/// word, so with globbing off (`set -f`) each space-separated token reaches the agent as one
/// literal argument. Keep this and `terraform/documents/faultline-agent.json` in step: a test
/// compares them.
pub const SSM_ARGS_PATTERN: &str = "^[A-Za-z0-9_.,:/@%+= -]{0,1024}$";

fn ssm_safe_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.,:/@%+=-".contains(c)
}

/// An argument that cannot be used, naming the argument (`delay_ms`; the agent prints it as
/// `--delay-ms`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FaultError {
    /// The argument's name as in the spec (`delay_ms`), or `fault` / `duration`.
    pub field: String,
    /// What is wrong and what would be right.
    pub message: String,
}

impl FaultError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The argument as a command-line flag (`--delay-ms`), or the bare name for positionals.
    pub fn flag(&self) -> String {
        match self.field.as_str() {
            "fault" => "<fault>".to_owned(),
            f => format!("--{}", f.replace('_', "-")),
        }
    }
}

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
        matches!(
            self,
            FaultKind::Latency
                | FaultKind::Loss
                | FaultKind::Corrupt
                | FaultKind::Duplicate
                | FaultKind::Bandwidth
                | FaultKind::Blackhole
                | FaultKind::Dns
        )
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

/// Arguments as they arrive, before validation. Every field is optional; which ones a fault
/// takes is [`FaultKind::allowed`].
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
    fn present(&self) -> Vec<&'static str> {
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
        add(self.workers.is_some(), "workers");
        add(self.load_percent.is_some(), "load_percent");
        add(self.mb.is_some(), "mb");
        add(self.path.is_some(), "path");
        p
    }
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

/// A network fault: what it does and to which traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetFault {
    /// What happens to the matching packets.
    pub effect: NetEffect,
    /// Which packets.
    pub scope: NetScope,
}

/// Which outgoing packets a network fault touches. The metadata service and the SSM endpoints
/// are always exempt (the agent adds those).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetScope {
    /// Interface; `None` means the default route's.
    pub interface: Option<Interface>,
    /// Destinations; empty means every destination.
    pub to: Vec<Dest>,
    /// Destination port (TCP and UDP); `None` means every port.
    pub port: Option<u16>,
}

/// What a network fault does to the packets in its scope.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum NetEffect {
    /// Added delay with optional jitter.
    Latency {
        /// ms.
        delay_ms: u32,
        /// ms, at most `delay_ms`.
        jitter_ms: u32,
    },
    /// Random drop.
    Loss {
        /// `0 < percent <= 100`.
        percent: f64,
    },
    /// Random corruption.
    Corrupt {
        /// `0 < percent <= 100`.
        percent: f64,
    },
    /// Random duplication.
    Duplicate {
        /// `0 < percent <= 100`.
        percent: f64,
    },
    /// Rate limit.
    Bandwidth {
        /// Bits per second.
        bits_per_sec: u64,
    },
    /// Drop everything in scope.
    Blackhole,
    /// Drop DNS (UDP and TCP port 53).
    Dns,
}

impl NetEffect {
    /// The fault kind.
    pub fn kind(&self) -> FaultKind {
        match self {
            NetEffect::Latency { .. } => FaultKind::Latency,
            NetEffect::Loss { .. } => FaultKind::Loss,
            NetEffect::Corrupt { .. } => FaultKind::Corrupt,
            NetEffect::Duplicate { .. } => FaultKind::Duplicate,
            NetEffect::Bandwidth { .. } => FaultKind::Bandwidth,
            NetEffect::Blackhole => FaultKind::Blackhole,
            NetEffect::Dns => FaultKind::Dns,
        }
    }
}

/// A network interface name: 1 to 15 of `[A-Za-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Interface(String);

impl Interface {
    /// Validates an interface name.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 15 {
            return Err(format!(
                "{s:?} is not an interface name (1 to 15 characters)"
            ));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c)))
        {
            return Err(format!(
                "{s:?} is not an interface name: {c:?} is not allowed (letters, digits, '_', '.', '-')"
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A destination: an IPv4 network or a host name, resolved by the agent when it applies the
/// fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dest {
    /// An IPv4 network (`addr` is the network address).
    Net {
        /// Network address (host bits cleared).
        addr: Ipv4Addr,
        /// Prefix length, 0 to 32.
        prefix: u8,
    },
    /// A DNS name.
    Host(String),
}

impl Dest {
    /// Parses `10.0.0.0/8`, `10.1.2.3` or `db.internal.example`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.contains(':') {
            return Err(format!(
                "{s:?}: IPv6 destinations are not supported; give an IPv4 CIDR, address or host name"
            ));
        }
        if let Some((a, p)) = s.split_once('/') {
            let addr: Ipv4Addr = a.parse().map_err(|_| {
                format!("{s:?} is not an IPv4 CIDR like 10.0.0.0/8: {a:?} is not an IPv4 address")
            })?;
            let prefix: u8 = p.parse().ok().filter(|p| *p <= 32).ok_or_else(|| {
                format!("{s:?} is not an IPv4 CIDR: the prefix length must be 0 to 32")
            })?;
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            return Ok(Dest::Net {
                addr: Ipv4Addr::from(u32::from(addr) & mask),
                prefix,
            });
        }
        if let Ok(addr) = s.parse::<Ipv4Addr>() {
            return Ok(Dest::Net { addr, prefix: 32 });
        }
        let labels_ok = !s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !labels_ok || !s.chars().any(|c| c.is_ascii_alphabetic()) {
            return Err(format!(
                "{s:?} is neither an IPv4 CIDR (10.0.0.0/8), an IPv4 address nor a host name"
            ));
        }
        Ok(Dest::Host(s.to_ascii_lowercase()))
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Net { addr, prefix } => write!(f, "{addr}/{prefix}"),
            Dest::Host(h) => f.write_str(h),
        }
    }
}

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

/// Burn CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuFault {
    /// Worker threads; `None` means one per CPU.
    pub workers: Option<u32>,
    /// Each worker's load, 1 to 100 %.
    pub load_percent: u8,
}

/// An amount of memory or disk.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Amount {
    /// Mebibytes.
    Mb(u64),
    /// Percent: of total memory (memory), or the filesystem usage to reach (disk).
    Percent(f64),
}

/// Hold memory.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemoryFault {
    /// How much.
    pub amount: Amount,
}

/// Fill a filesystem, never past [`DISK_MAX_PERCENT`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskFault {
    /// A directory on the filesystem to fill.
    pub path: String,
    /// How much (`Mb`) or up to which usage (`Percent`).
    pub amount: Amount,
}

/// The disk fault never fills a filesystem past this usage.
pub const DISK_MAX_PERCENT: f64 = 98.0;

/// Write and sync in a loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoFault {
    /// Worker threads.
    pub workers: u32,
    /// Directory to write in.
    pub path: String,
}

/// How long a fault lasts: 1 s to 24 h.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultDuration(#[serde(with = "secs_f64")] pub Duration);

mod secs_f64 {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs_f64(f64::deserialize(d)?))
    }
}

impl FaultDuration {
    /// The shortest fault.
    pub const MIN: Duration = Duration::from_secs(1);
    /// The longest fault.
    pub const MAX: Duration = Duration::from_secs(24 * 3600);

    /// Parses `30s`, `5m`, `1h 30m`.
    pub fn parse(s: &str) -> Result<Self, FaultError> {
        let d = humantime::parse_duration(s).map_err(|e| {
            FaultError::new(
                "duration",
                format!("{s:?} is not a duration like \"30s\", \"5m\" or \"1h 30m\" ({e})"),
            )
        })?;
        if !(Self::MIN..=Self::MAX).contains(&d) {
            return Err(FaultError::new(
                "duration",
                format!("{s:?} is out of range: use between 1s and 24h"),
            ));
        }
        Ok(Self(d))
    }

    /// As text the agent's `--duration` accepts.
    pub fn to_arg(&self) -> String {
        if self.0.subsec_millis() == 0 {
            format!("{}s", self.0.as_secs())
        } else {
            format!("{}ms", self.0.as_millis())
        }
    }
}

fn int_in(field: &str, v: i64, lo: i64, hi: i64, unit: &str) -> Result<i64, FaultError> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(FaultError::new(
            field,
            format!("must be between {lo} and {hi}{unit}, got {v}"),
        ))
    }
}

fn percent(field: &str, v: f64, max: f64) -> Result<f64, FaultError> {
    if v.is_finite() && v > 0.0 && v <= max {
        Ok(v)
    } else {
        Err(FaultError::new(
            field,
            format!("a percentage must be greater than 0 and at most {max}, got {v}"),
        ))
    }
}

fn secs(field: &str, v: f64, lo: f64, hi: f64) -> Result<Duration, FaultError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(FaultError::new(
            field,
            format!("must be between {lo} and {hi} seconds, got {v}"),
        ))
    }
}

fn path_arg(field: &str, s: &str) -> Result<String, FaultError> {
    let ok = s.starts_with('/')
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
        && !s.split('/').any(|c| c == "..");
    if ok {
        Ok(s.to_owned())
    } else {
        Err(FaultError::new(
            field,
            format!(
                "{s:?} is not an absolute path of letters, digits, '_', '.', '-' and '/' without '..'"
            ),
        ))
    }
}

/// Parses a rate like `10mbit`, `512kbit`, `1gbit`, `64000bit` into bits per second.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let mult: f64 = match unit {
        "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        _ => {
            return Err(format!(
                "{s:?} is not a rate like \"10mbit\": the unit must be bit, kbit, mbit or gbit"
            ))
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a rate like \"10mbit\""))?;
    let bits = (n * mult).round();
    if !(8_000.0..=100e9).contains(&bits) {
        return Err(format!(
            "{s:?} is out of range: use between 8kbit and 100gbit"
        ));
    }
    Ok(bits as u64)
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
        fn req<T>(v: Option<T>, field: &str, what: &str) -> Result<T, FaultError> {
            v.ok_or_else(|| FaultError::new(field, format!("is required: {what}")))
        }
        let fault = match kind {
            k if k.is_network() => {
                let scope = NetScope {
                    interface: raw
                        .interface
                        .as_deref()
                        .map(Interface::parse)
                        .transpose()
                        .map_err(|m| FaultError::new("interface", m))?,
                    to: raw
                        .to
                        .iter()
                        .map(|t| Dest::parse(t).map_err(|m| FaultError::new("to", m)))
                        .collect::<Result<_, _>>()?,
                    port: raw
                        .port
                        .map(|p| int_in("port", p, 1, 65535, "").map(|p| p as u16))
                        .transpose()?,
                };
                if scope.to.len() > 32 {
                    return Err(FaultError::new("to", "at most 32 destinations"));
                }
                let pct = |max| {
                    req(raw.percent, "percent", "the percentage of packets")
                        .and_then(|p| percent("percent", p, max))
                };
                let effect = match k {
                    FaultKind::Latency => {
                        let delay = int_in(
                            "delay_ms",
                            req(raw.delay_ms, "delay_ms", "the added delay in ms")?,
                            1,
                            60_000,
                            " ms",
                        )?;
                        let jitter = int_in(
                            "jitter_ms",
                            raw.jitter_ms.unwrap_or(0),
                            0,
                            delay,
                            " ms (at most the delay)",
                        )?;
                        NetEffect::Latency {
                            delay_ms: delay as u32,
                            jitter_ms: jitter as u32,
                        }
                    }
                    FaultKind::Loss => NetEffect::Loss {
                        percent: pct(100.0)?,
                    },
                    FaultKind::Corrupt => NetEffect::Corrupt {
                        percent: pct(100.0)?,
                    },
                    FaultKind::Duplicate => NetEffect::Duplicate {
                        percent: pct(100.0)?,
                    },
                    FaultKind::Bandwidth => NetEffect::Bandwidth {
                        bits_per_sec: parse_rate(req(
                            raw.rate.as_deref(),
                            "rate",
                            "the bandwidth like \"10mbit\"",
                        )?)
                        .map_err(|m| FaultError::new("rate", m))?,
                    },
                    FaultKind::Blackhole => {
                        if scope.to.is_empty() {
                            return Err(FaultError::new(
                                "to",
                                "is required for blackhole: the destinations to cut off (for \
                                 everything, use loss with percent 100)",
                            ));
                        }
                        NetEffect::Blackhole
                    }
                    _ => NetEffect::Dns,
                };
                Fault::Network(NetFault { effect, scope })
            }
            FaultKind::Kill => {
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
                            FaultError::new(
                                "pattern",
                                format!("{p:?} is not a regular expression: {e}"),
                            )
                        })?;
                    }
                    ProcMatch::Pidfile(p) => {
                        path_arg("pidfile", p)?;
                    }
                }
                KillFault {
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
                }
                .into()
            }
            FaultKind::Cpu => Fault::Cpu(CpuFault {
                workers: raw
                    .workers
                    .map(|w| int_in("workers", w, 1, 1024, "").map(|w| w as u32))
                    .transpose()?,
                load_percent: int_in(
                    "load_percent",
                    raw.load_percent.unwrap_or(100),
                    1,
                    100,
                    " %",
                )? as u8,
            }),
            FaultKind::Memory => Fault::Memory(MemoryFault {
                amount: amount(raw, 95.0, "of total memory")?,
            }),
            FaultKind::Disk => Fault::Disk(DiskFault {
                path: path_arg(
                    "path",
                    req(
                        raw.path.as_deref(),
                        "path",
                        "a directory on the filesystem to fill",
                    )?,
                )?,
                amount: amount(raw, DISK_MAX_PERCENT, "filesystem usage to reach")?,
            }),
            _ => Fault::Io(IoFault {
                workers: int_in("workers", raw.workers.unwrap_or(1), 1, 64, "")? as u32,
                path: path_arg("path", raw.path.as_deref().unwrap_or("/tmp"))?,
            }),
        };
        Ok(fault)
    }

    /// The agent's arguments for this fault after `inject <kind>`, one flag or value each.
    pub fn to_args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut flag = |name: &str, v: String| {
            a.push(format!("--{name}"));
            a.push(v);
        };
        match self {
            Fault::Network(n) => {
                match n.effect {
                    NetEffect::Latency {
                        delay_ms,
                        jitter_ms,
                    } => {
                        flag("delay-ms", delay_ms.to_string());
                        if jitter_ms > 0 {
                            flag("jitter-ms", jitter_ms.to_string());
                        }
                    }
                    NetEffect::Loss { percent }
                    | NetEffect::Corrupt { percent }
                    | NetEffect::Duplicate { percent } => flag("percent", percent.to_string()),
                    NetEffect::Bandwidth { bits_per_sec } => {
                        flag("rate", format!("{bits_per_sec}bit"))
                    }
                    NetEffect::Blackhole | NetEffect::Dns => {}
                }
                if let Some(i) = &n.scope.interface {
                    flag("interface", i.to_string());
                }
                for t in &n.scope.to {
                    flag("to", t.to_string());
                }
                if let Some(p) = n.scope.port {
                    flag("port", p.to_string());
                }
            }
            Fault::Kill(k) => {
                match &k.target {
                    ProcMatch::Name(n) => flag("name", n.clone()),
                    ProcMatch::Pattern(p) => flag("pattern", p.clone()),
                    ProcMatch::Pidfile(p) => flag("pidfile", p.clone()),
                }
                flag("signal", k.signal.name.to_owned());
                if let Some(c) = k.count {
                    flag("count", c.to_string());
                }
                if let Some(d) = k.repeat_every {
                    flag("repeat-every", d.as_secs_f64().to_string());
                }
                if let Some(d) = k.wait_restart {
                    flag("wait-restart", d.as_secs_f64().to_string());
                }
            }
            Fault::Cpu(c) => {
                if let Some(w) = c.workers {
                    flag("workers", w.to_string());
                }
                flag("load-percent", c.load_percent.to_string());
            }
            Fault::Memory(m) => amount_args(m.amount, &mut flag),
            Fault::Disk(d) => {
                flag("path", d.path.clone());
                amount_args(d.amount, &mut flag);
            }
            Fault::Io(i) => {
                flag("workers", i.workers.to_string());
                flag("path", i.path.clone());
            }
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

fn amount(raw: &RawArgs, max_percent: f64, what: &str) -> Result<Amount, FaultError> {
    match (raw.mb, raw.percent) {
        (Some(_), Some(_)) => Err(FaultError::new("mb", "give mb or percent, not both")),
        (Some(mb), None) => Ok(Amount::Mb(int_in("mb", mb, 1, 1 << 20, " MiB")? as u64)),
        (None, Some(p)) => {
            if p.is_finite() && p > 0.0 && p <= max_percent {
                Ok(Amount::Percent(p))
            } else {
                Err(FaultError::new(
                    "percent",
                    format!("must be greater than 0 and at most {max_percent} ({what}), got {p}"),
                ))
            }
        }
        (None, None) => Err(FaultError::new("mb", "give mb or percent")),
    }
}

fn amount_args(a: Amount, flag: &mut impl FnMut(&str, String)) {
    match a {
        Amount::Mb(mb) => flag("mb", mb.to_string()),
        Amount::Percent(p) => flag("percent", p.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> RawArgs {
        serde_json::from_str(json).unwrap()
    }

    fn bad(kind: &str, json: &str) -> FaultError {
        Fault::from_raw(kind, &raw(json)).expect_err(json)
    }

    #[test]
    fn latency_with_jitter() {
        let f = Fault::from_raw("latency", &raw(r#"{"delay_ms": 200, "jitter_ms": 20}"#)).unwrap();
        assert_eq!(f.kind(), FaultKind::Latency);
        assert_eq!(f.to_args(), ["--delay-ms", "200", "--jitter-ms", "20"]);
        assert_eq!(f.ssm_args().unwrap(), "--delay-ms 200 --jitter-ms 20");
    }

    #[test]
    fn rejects_bad_arguments_by_name() {
        let e = bad("latency", r#"{"delay_ms": -5}"#);
        assert_eq!(e.field, "delay_ms");
        assert!(e.message.contains("got -5"), "{e}");
        assert_eq!(e.flag(), "--delay-ms");
        let e = bad("loss", r#"{"percent": 101}"#);
        assert_eq!(e.field, "percent");
        assert!(e.message.contains("at most 100, got 101"), "{e}");
        let e = bad("explode", "{}");
        assert_eq!(e.field, "fault");
        assert!(e.message.contains("latency, loss"), "{e}");
        let e = bad("blackhole", r#"{"to": ["10.0.0.0/33"]}"#);
        assert_eq!(e.field, "to");
        let e = bad("blackhole", r#"{"to": ["not a host"]}"#);
        assert_eq!(e.field, "to");
        assert!(e.message.contains("neither an IPv4 CIDR"), "{e}");
        let e = bad("blackhole", r#"{"to": ["300.1.1.1"]}"#);
        assert_eq!(e.field, "to");
        let e = bad("blackhole", "{}");
        assert_eq!(e.field, "to");
        let e = bad("latency", r#"{"delay_ms": 10, "percent": 5}"#);
        assert_eq!(e.field, "percent");
        assert!(e.message.contains("does not apply"), "{e}");
        let e = bad("latency", r#"{"delay_ms": 10, "jitter_ms": 20}"#);
        assert_eq!(e.field, "jitter_ms");
        let e = bad("bandwidth", r#"{"rate": "10mbps"}"#);
        assert_eq!(e.field, "rate");
        let e = bad("kill", r#"{"name": "a", "pidfile": "/run/a.pid"}"#);
        assert_eq!(e.field, "name");
        let e = bad("kill", r#"{"pattern": "("}"#);
        assert_eq!(e.field, "pattern");
        let e = bad("disk", r#"{"path": "/tmp", "percent": 99}"#);
        assert_eq!(e.field, "percent");
        let e = bad("disk", r#"{"path": "../etc", "mb": 1}"#);
        assert_eq!(e.field, "path");
        let e = bad("kill", r#"{"name": "x", "signal": "BOOM"}"#);
        assert_eq!(e.field, "signal");
        assert!(serde_json::from_str::<RawArgs>(r#"{"delay": 1}"#).is_err());
    }

    #[test]
    fn destinations() {
        assert_eq!(Dest::parse("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(Dest::parse("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        assert_eq!(
            Dest::parse("DB.example.com").unwrap(),
            Dest::Host("db.example.com".into())
        );
        assert!(Dest::parse("::1").unwrap_err().contains("IPv6"));
        assert!(Dest::parse("a_b.com").is_err());
    }

    #[test]
    fn rates_and_durations() {
        assert_eq!(parse_rate("10mbit").unwrap(), 10_000_000);
        assert_eq!(parse_rate("1.5Gbit").unwrap(), 1_500_000_000);
        assert!(parse_rate("1bit").is_err());
        assert_eq!(
            FaultDuration::parse("5m").unwrap().0,
            Duration::from_secs(300)
        );
        assert_eq!(FaultDuration::parse("1500ms").unwrap().to_arg(), "1500ms");
        assert_eq!(FaultDuration::parse("2m").unwrap().to_arg(), "120s");
        assert_eq!(FaultDuration::parse("0s").unwrap_err().field, "duration");
        assert!(FaultDuration::parse("2d").is_err());
        assert!(FaultDuration::parse("soon").is_err());
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

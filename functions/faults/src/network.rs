//! Network faults: [`NetFault`] is an effect ([`NetEffect`]: latency, loss, corrupt, duplicate,
//! bandwidth, blackhole, dns) on a scope of outgoing packets ([`NetScope`]: one [`Interface`],
//! some [`Dest`]inations, a port).
//!
//! Only IPv4 destinations are supported: `tc u32` filters and the nftables rules the agent writes
//! match `ip daddr`.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::units::{int_in, parse_rate, percent, req};
use crate::{FaultError, FaultKind, RawArgs};

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

/// Validates the arguments of one network effect, once the scope is known (blackhole needs
/// destinations). [`crate::Fault::from_raw`] picks one per network [`FaultKind`], so no other
/// kind can reach network validation.
pub(crate) type EffectFromRaw = fn(&RawArgs, &NetScope) -> Result<NetEffect, FaultError>;

impl NetFault {
    /// Validates the scope every network fault shares, then the effect's own arguments.
    pub(crate) fn from_raw(raw: &RawArgs, effect: EffectFromRaw) -> Result<Self, FaultError> {
        let scope = NetScope::from_raw(raw)?;
        let effect = effect(raw, &scope)?;
        Ok(NetFault { effect, scope })
    }

    /// The agent's flags for this fault: the effect's, then the scope's.
    pub(crate) fn write_args(&self, flag: &mut impl FnMut(&str, String)) {
        match self.effect {
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
            NetEffect::Bandwidth { bits_per_sec } => flag("rate", format!("{bits_per_sec}bit")),
            NetEffect::Blackhole | NetEffect::Dns => {}
        }
        if let Some(i) = &self.scope.interface {
            flag("interface", i.to_string());
        }
        for t in &self.scope.to {
            flag("to", t.to_string());
        }
        if let Some(p) = self.scope.port {
            flag("port", p.to_string());
        }
    }
}

impl NetScope {
    fn from_raw(raw: &RawArgs) -> Result<Self, FaultError> {
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
        Ok(scope)
    }
}

/// `latency`: `delay_ms` (1 to 60 000) and `jitter_ms` (at most the delay).
pub(crate) fn latency(raw: &RawArgs, _: &NetScope) -> Result<NetEffect, FaultError> {
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
    Ok(NetEffect::Latency {
        delay_ms: delay as u32,
        jitter_ms: jitter as u32,
    })
}

fn packet_percent(raw: &RawArgs) -> Result<f64, FaultError> {
    req(raw.percent, "percent", "the percentage of packets")
        .and_then(|p| percent("percent", p, 100.0))
}

/// `loss`: `percent` of packets.
pub(crate) fn loss(raw: &RawArgs, _: &NetScope) -> Result<NetEffect, FaultError> {
    Ok(NetEffect::Loss {
        percent: packet_percent(raw)?,
    })
}

/// `corrupt`: `percent` of packets.
pub(crate) fn corrupt(raw: &RawArgs, _: &NetScope) -> Result<NetEffect, FaultError> {
    Ok(NetEffect::Corrupt {
        percent: packet_percent(raw)?,
    })
}

/// `duplicate`: `percent` of packets.
pub(crate) fn duplicate(raw: &RawArgs, _: &NetScope) -> Result<NetEffect, FaultError> {
    Ok(NetEffect::Duplicate {
        percent: packet_percent(raw)?,
    })
}

/// `bandwidth`: a `rate` like `10mbit`.
pub(crate) fn bandwidth(raw: &RawArgs, _: &NetScope) -> Result<NetEffect, FaultError> {
    Ok(NetEffect::Bandwidth {
        bits_per_sec: parse_rate(req(
            raw.rate.as_deref(),
            "rate",
            "the bandwidth like \"10mbit\"",
        )?)
        .map_err(|m| FaultError::new("rate", m))?,
    })
}

/// `blackhole`: needs destinations (dropping everything is `loss` at 100 %).
pub(crate) fn blackhole(_: &RawArgs, scope: &NetScope) -> Result<NetEffect, FaultError> {
    if scope.to.is_empty() {
        return Err(FaultError::new(
            "to",
            "is required for blackhole: the destinations to cut off (for everything, use loss \
             with percent 100)",
        ));
    }
    Ok(NetEffect::Blackhole)
}

/// `dns`: no arguments of its own.
pub(crate) fn dns(_: &RawArgs, _: &NetScope) -> Result<NetEffect, FaultError> {
    Ok(NetEffect::Dns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{bad, raw};
    use crate::Fault;

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
    fn latency_with_jitter() {
        let f = Fault::from_raw("latency", &raw(r#"{"delay_ms": 200, "jitter_ms": 20}"#)).unwrap();
        assert_eq!(f.kind(), FaultKind::Latency);
        assert_eq!(f.to_args(), ["--delay-ms", "200", "--jitter-ms", "20"]);
        assert_eq!(f.ssm_args().unwrap(), "--delay-ms 200 --jitter-ms 20");
    }

    #[test]
    fn rejects_bad_network_arguments_by_name() {
        let e = bad("latency", r#"{"delay_ms": -5}"#);
        assert_eq!(e.field, "delay_ms");
        assert!(e.message.contains("got -5"), "{e}");
        assert_eq!(e.flag(), "--delay-ms");
        let e = bad("loss", r#"{"percent": 101}"#);
        assert_eq!(e.field, "percent");
        assert!(e.message.contains("at most 100, got 101"), "{e}");
        let e = bad("blackhole", r#"{"to": ["10.0.0.0/33"]}"#);
        assert_eq!(e.field, "to");
        let e = bad("blackhole", r#"{"to": ["not a host"]}"#);
        assert_eq!(e.field, "to");
        assert!(e.message.contains("neither an IPv4 CIDR"), "{e}");
        let e = bad("blackhole", r#"{"to": ["300.1.1.1"]}"#);
        assert_eq!(e.field, "to");
        let e = bad("blackhole", "{}");
        assert_eq!(e.field, "to");
        let e = bad("latency", r#"{"delay_ms": 10, "jitter_ms": 20}"#);
        assert_eq!(e.field, "jitter_ms");
        let e = bad("bandwidth", r#"{"rate": "10mbps"}"#);
        assert_eq!(e.field, "rate");
    }
}

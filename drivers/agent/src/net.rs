//! Network faults on one interface's outgoing traffic.
//!
//! - `latency`, `corrupt`, `duplicate` (and `loss` where the kernel has it): `tc` — an htb root
//!   with an unimpaired default class `1:1` and a class `1:2` holding a netem leaf; u32 filters
//!   send the traffic in scope to `1:2`, after higher-priority filters that keep the exempt
//!   addresses (all of 169.254.0.0/16, the resolv.conf nameservers, SSM endpoints) in `1:1`.
//! - `bandwidth`: the same tree, with class `1:2` limited to the rate (no netem needed).
//! - `blackhole`, `dns`, and `loss` without `sch_netem`: an nftables table of its own
//!   (`inet faultline_<id>`) with an output chain: exempt addresses accepted first, then the
//!   drop rule (`numgen random mod 10000 < N` for loss).
//!
//! Undo steps are computed before anything is applied and recorded in the state file: deleting
//! the root qdisc and the table removes everything the fault added.

use std::io::Write;
use std::net::{Ipv4Addr, ToSocketAddrs};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use faultline_faults::{Dest, NetEffect, NetFault};
use serde::{Deserialize, Serialize};

use crate::exit::refused;
use crate::time::now_ms;

/// The instance metadata service: never impaired.
pub const IMDS: &str = "169.254.169.254/32";

/// The Amazon Time Sync Service.
pub const TIME_SYNC: &str = "169.254.169.123/32";

/// Every link-local address (metadata, time sync, the Amazon DNS server): never impaired.
pub const LINK_LOCAL: &str = "169.254.0.0/16";

/// Where the resolvers are listed; on EC2 the VPC resolver (the VPC's base + 2 address).
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The endpoints the SSM agent needs, as `<service>.<region>.amazonaws.com`.
pub const SSM_SERVICES: [&str; 3] = ["ssm", "ssmmessages", "ec2messages"];

/// The IPv4 nameservers listed in a resolv.conf (the VPC resolver on EC2).
pub fn nameservers(path: &str) -> Vec<Ipv4Addr> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next())?
        })
        .filter_map(|a| a.parse::<Ipv4Addr>().ok())
        .collect()
}

/// The addresses of the region's SSM endpoints. Refused, naming them, when any does not
/// resolve: without the exemption the fault could cut the instance off from SSM, so it is not
/// applied.
pub fn resolve_endpoints(region: &str) -> Result<Vec<Ipv4Addr>> {
    let mut addrs = Vec::new();
    let mut missing = Vec::new();
    for svc in SSM_SERVICES {
        let host = format!("{svc}.{region}.amazonaws.com");
        let a = resolve(&host);
        if a.is_empty() {
            missing.push(host);
        }
        addrs.extend(a);
    }
    if !missing.is_empty() {
        return Err(refused(format!(
            "the SSM endpoint(s) {} do not resolve to an IPv4 address here, so they cannot be \
             kept reachable during the fault (region {region:?}, from --aws-region or \
             AWS_SSM_REGION_NAME); nothing was changed",
            missing.join(", ")
        )));
    }
    addrs.sort();
    addrs.dedup();
    Ok(addrs)
}

/// How to undo one part of a network fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Undo {
    /// `tc qdisc del dev <dev> root`.
    TcRoot {
        /// Interface.
        dev: String,
    },
    /// `nft delete table inet <name>`.
    NftTable {
        /// Table name.
        name: String,
    },
}

/// A network fault resolved against this host: interface, addresses, exemptions.
#[derive(Debug, Clone)]
pub struct NetPlan {
    /// The interface.
    pub interface: String,
    /// What to do.
    pub effect: NetEffect,
    /// Destinations as IPv4 networks (`None`: everything).
    pub to: Option<Vec<String>>,
    /// Destination port.
    pub port: Option<u16>,
    /// Networks that are never impaired.
    pub exempt: Vec<String>,
    /// nftables table name, if nftables is used.
    pub table: String,
    /// The region whose SSM endpoints are exempt (re-resolved during the fault).
    pub region: Option<String>,
}

/// Resolves the interface, host names and exemptions; changes nothing.
pub fn plan(f: &NetFault, region: Option<&str>) -> Result<NetPlan> {
    let interface = match &f.scope.interface {
        Some(i) => i.as_str().to_owned(),
        None => default_interface()?,
    };
    if !std::path::Path::new("/sys/class/net")
        .join(&interface)
        .exists()
    {
        return Err(refused(format!(
            "there is no interface {interface:?} (see `ip link`); nothing was changed"
        )));
    }
    let uses_tc = match f.effect {
        NetEffect::Latency { .. }
        | NetEffect::Loss { .. }
        | NetEffect::Corrupt { .. }
        | NetEffect::Duplicate { .. }
        | NetEffect::Bandwidth { .. } => true,
        NetEffect::Blackhole | NetEffect::Dns => false,
    };
    if uses_tc {
        let out = Command::new("tc")
            .args(["qdisc", "show", "dev", &interface, "root"])
            .output()
            .context("running `tc` (install iproute2)")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(handle) = text.split_whitespace().nth(2) {
            if handle != "0:" {
                return Err(refused(format!(
                    "{interface} already has a root qdisc of its own ({}): another tool or a \
                     stale fault set it, and faults are not stacked. Remove it (`tc qdisc del dev \
                     {interface} root`) or choose another interface; nothing was changed",
                    text.trim()
                )));
            }
        }
    }
    let to = if f.scope.to.is_empty() {
        None
    } else {
        let mut nets = Vec::new();
        for d in &f.scope.to {
            match d {
                Dest::Net { .. } => nets.push(d.to_string()),
                Dest::Host(h) => {
                    let addrs = resolve(h);
                    if addrs.is_empty() {
                        return Err(refused(format!(
                            "--to {h}: the name does not resolve to an IPv4 address here; \
                             nothing was changed"
                        )));
                    }
                    nets.extend(addrs.iter().map(|a| format!("{a}/32")));
                }
            }
        }
        nets.sort();
        nets.dedup();
        Some(nets)
    };
    let region = region
        .map(str::to_owned)
        .or_else(|| std::env::var("AWS_SSM_REGION_NAME").ok())
        .filter(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let mut exempt = match f.effect {
        // The dns fault's target is the resolvers: exempting them (or the Amazon DNS server at
        // 169.254.169.253) would make it a no-op. It drops only port 53, so every other
        // link-local service is untouched anyway; the metadata service and time sync stay
        // listed explicitly.
        NetEffect::Dns => vec![IMDS.to_owned(), TIME_SYNC.to_owned()],
        _ => {
            let mut v = vec![LINK_LOCAL.to_owned()];
            v.extend(nameservers(RESOLV_CONF).iter().map(|a| format!("{a}/32")));
            v
        }
    };
    if let Some(r) = &region {
        exempt.extend(resolve_endpoints(r)?.iter().map(|a| format!("{a}/32")));
    }
    exempt.sort();
    exempt.dedup();
    let id = format!("{:x}{:x}", now_ms(), std::process::id());
    Ok(NetPlan {
        interface,
        effect: f.effect,
        to,
        port: f.scope.port,
        exempt,
        table: format!("faultline_{id}"),
        region,
    })
}

fn resolve(host: &str) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = (host, 0)
        .to_socket_addrs()
        .map(|it| {
            it.filter_map(|a| match a.ip() {
                std::net::IpAddr::V4(v4) => Some(v4),
                _ => None,
            })
            .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.dedup();
    v
}

fn default_interface() -> Result<String> {
    let out = Command::new("ip")
        .args(["-o", "-4", "route", "show", "default"])
        .output()
        .context("running `ip route` (install iproute2)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == "dev" {
            if let Some(d) = words.next() {
                return Ok(d.to_owned());
            }
        }
    }
    Err(refused(
        "there is no IPv4 default route to find the interface by: give --interface; nothing was \
         changed",
    ))
}

impl NetPlan {
    /// Every undo step this fault may need, whichever mechanism ends up used.
    pub fn undo(&self) -> Vec<Undo> {
        match self.effect {
            NetEffect::Loss { .. } => vec![
                Undo::TcRoot {
                    dev: self.interface.clone(),
                },
                Undo::NftTable {
                    name: self.table.clone(),
                },
            ],
            NetEffect::Blackhole | NetEffect::Dns => vec![Undo::NftTable {
                name: self.table.clone(),
            }],
            NetEffect::Latency { .. }
            | NetEffect::Corrupt { .. }
            | NetEffect::Duplicate { .. }
            | NetEffect::Bandwidth { .. } => vec![Undo::TcRoot {
                dev: self.interface.clone(),
            }],
        }
    }
}

/// A tc or nft command that failed, with its stderr.
fn run(cmd: &str, args: &[&str], stdin: Option<&str>) -> Result<(), String> {
    let mut c = Command::new(cmd);
    c.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|e| {
        format!(
            "cannot run `{cmd}` ({e}): install {}",
            if cmd == "nft" { "nftables" } else { "iproute2" }
        )
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{cmd} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn netem_missing(err: &str) -> bool {
    // The error quotes the failed command, so this is about netem, not htb or u32.
    err.contains(" netem ")
        && (err.contains("qdisc kind is unknown") || err.contains("Unknown qdisc"))
}

/// The message for a kernel without `sch_netem`.
pub const NETEM_MISSING: &str = "this kernel has no sch_netem module (tc: \"Specified qdisc kind \
     is unknown\"), which latency, corrupt and duplicate need. Install the package that provides \
     it — Amazon Linux 2023: `dnf install kernel-modules-extra`; Ubuntu: `apt install \
     linux-modules-extra-$(uname -r)`; Debian's stock kernels include it — then `modprobe \
     sch_netem` and retry. Nothing was changed";

/// Applies the fault; returns the mechanism used. On failure nothing the plan added is left.
pub fn apply(p: &NetPlan) -> Result<String> {
    let res = match p.effect {
        NetEffect::Blackhole | NetEffect::Dns => apply_nft(p).map(|_| "nftables".to_owned()),
        NetEffect::Loss { .. } => match apply_tc(p) {
            Ok(()) => Ok("tc-netem".to_owned()),
            Err(e) if netem_missing(&e) => {
                undo_all(&p.undo());
                apply_nft(p).map(|_| "nftables (sch_netem missing)".to_owned())
            }
            Err(e) => Err(e),
        },
        NetEffect::Bandwidth { .. } => apply_tc(p).map(|_| "tc-htb".to_owned()),
        NetEffect::Latency { .. } | NetEffect::Corrupt { .. } | NetEffect::Duplicate { .. } => {
            apply_tc(p).map(|_| "tc-netem".to_owned())
        }
    };
    match res {
        Ok(m) => Ok(m),
        Err(e) => {
            undo_all(&p.undo());
            if netem_missing(&e) {
                bail!(NETEM_MISSING)
            }
            bail!("{e}; everything this fault added was removed")
        }
    }
}

fn apply_tc(p: &NetPlan) -> Result<(), String> {
    // Class 1:2's rate (unlimited except for bandwidth) and its netem leaf's parameters (no
    // leaf for bandwidth). Blackhole and dns are nftables-only and never reach here.
    let full = || "100gbit".to_owned();
    let (rate, netem): (String, Vec<String>) = match p.effect {
        NetEffect::Latency {
            delay_ms,
            jitter_ms,
        } => {
            let mut v = vec!["delay".to_owned(), format!("{delay_ms}ms")];
            if jitter_ms > 0 {
                v.push(format!("{jitter_ms}ms"));
            }
            (full(), v)
        }
        NetEffect::Loss { percent } => (full(), vec!["loss".into(), format!("{percent}%")]),
        NetEffect::Corrupt { percent } => (full(), vec!["corrupt".into(), format!("{percent}%")]),
        NetEffect::Duplicate { percent } => {
            (full(), vec!["duplicate".into(), format!("{percent}%")])
        }
        NetEffect::Bandwidth { bits_per_sec } => (format!("{bits_per_sec}bit"), vec![]),
        NetEffect::Blackhole | NetEffect::Dns => {
            return Err(format!("{} is not a tc fault", p.effect.kind()))
        }
    };
    let dev = p.interface.as_str();
    let tc = |args: &[&str]| run("tc", args, None);
    tc(&[
        "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1",
    ])?;
    tc(&[
        "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", "100gbit",
        "quantum", "60000",
    ])?;
    tc(&[
        "class", "add", "dev", dev, "parent", "1:", "classid", "1:2", "htb", "rate", &rate, "ceil",
        &rate, "quantum", "60000",
    ])?;
    if !netem.is_empty() {
        let mut args = vec![
            "qdisc", "add", "dev", dev, "parent", "1:2", "handle", "2:", "netem",
        ];
        args.extend(netem.iter().map(String::as_str));
        // A deep queue so that delay does not turn into loss.
        args.extend(["limit", "100000"]);
        tc(&args)?;
    }
    for ex in &p.exempt {
        tc(&[
            "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1", "u32",
            "match", "ip", "dst", ex, "flowid", "1:1",
        ])?;
    }
    let all = vec!["0.0.0.0/0".to_owned()];
    let port = p.port.map(|p| p.to_string());
    for dst in p.to.as_ref().unwrap_or(&all) {
        let mut args = vec![
            "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "2", "u32",
            "match", "ip", "dst", dst,
        ];
        if let Some(port) = &port {
            args.extend(["match", "ip", "dport", port, "0xffff"]);
        }
        args.extend(["flowid", "1:2"]);
        tc(&args)?;
    }
    Ok(())
}

fn apply_nft(p: &NetPlan) -> Result<(), String> {
    let mut rules = vec![
        format!("oifname != \"{}\" accept", p.interface),
        format!("ip daddr {{ {} }} accept", p.exempt.join(", ")),
    ];
    let dst = match &p.to {
        Some(nets) => format!("ip daddr {{ {} }} ", nets.join(", ")),
        None => String::new(),
    };
    let port = p
        .port
        .map(|p| format!("meta l4proto {{ tcp, udp }} th dport {p} "))
        .unwrap_or_default();
    match p.effect {
        NetEffect::Loss { percent } => {
            let v4 = if dst.is_empty() {
                "meta nfproto ipv4 "
            } else {
                ""
            };
            let n = (percent * 100.0).round() as u32;
            rules.push(format!(
                "{v4}{dst}{port}numgen random mod 10000 < {n} counter drop"
            ));
        }
        NetEffect::Blackhole => rules.push(format!("{dst}{port}counter drop")),
        NetEffect::Dns => rules.push(format!(
            "{dst}meta l4proto {{ tcp, udp }} th dport 53 counter drop"
        )),
        NetEffect::Latency { .. }
        | NetEffect::Corrupt { .. }
        | NetEffect::Duplicate { .. }
        | NetEffect::Bandwidth { .. } => {
            return Err(format!("{} is not an nftables fault", p.effect.kind()))
        }
    }
    let text = format!(
        "table inet {t} {{\n  chain output {{\n    type filter hook output priority -150; policy accept;\n    {}\n  }}\n}}\n",
        rules.join("\n    "),
        t = p.table
    );
    run("nft", &["-f", "-"], Some(&text))
}

/// Exempts one more address in a fault already applied with `mechanism` (`tc-*` or
/// `nftables*`): a u32 filter into the unimpaired class, or an accept rule at the head of the
/// chain.
pub fn add_exempt(
    mechanism: &str,
    interface: &str,
    undo: &[Undo],
    net: &str,
) -> Result<(), String> {
    if mechanism.starts_with("tc") {
        run(
            "tc",
            &[
                "filter", "add", "dev", interface, "parent", "1:", "protocol", "ip", "prio", "1",
                "u32", "match", "ip", "dst", net, "flowid", "1:1",
            ],
            None,
        )
    } else {
        let table = undo
            .iter()
            .find_map(|u| match u {
                Undo::NftTable { name } => Some(name.as_str()),
                Undo::TcRoot { .. } => None,
            })
            .ok_or("no nftables table recorded")?;
        run(
            "nft",
            &[
                "insert", "rule", "inet", table, "output", "ip", "daddr", net, "accept",
            ],
            None,
        )
    }
}

/// The commands that undo `steps` by hand (for an error that says what is left).
pub fn manual_undo(steps: &[Undo]) -> Vec<String> {
    steps
        .iter()
        .rev()
        .map(|u| match u {
            Undo::TcRoot { dev } => format!("tc qdisc del dev {dev} root"),
            Undo::NftTable { name } => format!("nft delete table inet {name}"),
        })
        .collect()
}

/// Runs every undo step (in reverse), ignoring parts that are already gone. Returns the errors
/// of parts that could not be removed.
pub fn undo_all(steps: &[Undo]) -> Vec<String> {
    let mut errors = Vec::new();
    for u in steps.iter().rev() {
        let res = match u {
            Undo::TcRoot { dev } => run("tc", &["qdisc", "del", "dev", dev, "root"], None),
            Undo::NftTable { name } => run("nft", &["delete", "table", "inet", name], None),
        };
        if let Err(e) = res {
            let gone = e.contains("No such file or directory")
                || e.contains("handle of zero")
                || e.contains("Cannot find device")
                || e.contains("cannot run");
            if !gone {
                errors.push(e);
            }
        }
    }
    errors
}

//! A gray failure between Availability Zones, agent side (issue 16): faultline resolves an
//! `agent` fault's `toward_zones` into the CIDRs of those zones' subnets and passes each as
//! `--to <cidr>`. Here two "zones" are two subnets reached from the host under test over the
//! same interface — zone A 10.11.1.0/24, zone B 10.11.2.0/24, a host in each — and the fault is
//! given `--to 10.11.2.0/24` exactly as the monkey passes it. Traffic to zone B must be
//! impaired, traffic to zone A must not, and zone B must be back once the fault is rolled back.
//!
//! - `loss` in network namespaces on this machine (a veth pair; nftables here, where the kernel
//!   has no `sch_netem`, tc-netem elsewhere).
//! - `latency` needs `sch_netem`, which this machine's kernel lacks, so it is measured as
//!   `vm.rs` measures latency: in a qemu VM booting Debian's cloud kernel, with the image
//!   `tests/vm/build-initramfs.sh` builds plus a second cpio archive holding this test's own
//!   init script (`rdinit=/zones-init`).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const ZONE_B_NET: &str = "10.11.2.0/24";
const ZONE_A_HOST: &str = "10.11.1.10";
const ZONE_B_HOST: &str = "10.11.2.10";

/// Namespace `b` also holds one host in each zone (same veth, so both zones are reached over
/// the same interface of the host under test, through its default route via `b`).
fn zones(tag: &str) -> NetPair {
    let n = NetPair::new(tag);
    for host in [ZONE_A_HOST, ZONE_B_HOST] {
        sh(
            "ip",
            &[
                "-n",
                &n.b,
                "addr",
                "add",
                &format!("{host}/24"),
                "dev",
                &n.b_if,
            ],
        );
    }
    n
}

fn applied_ok(out: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "agent failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    events(&out.stdout)
}

#[test]
fn loss_toward_one_zone_drops_only_traffic_to_its_subnet_until_rolled_back() {
    let n = zones("zl");
    udp_echo(&n.b, ZONE_A_HOST, 7000);
    udp_echo(&n.b, ZONE_B_HOST, 7000);
    let before = n.snapshot();
    for host in [ZONE_A_HOST, ZONE_B_HOST] {
        let base = udp_lost(&n.a, host, 7000, 200);
        assert!(base <= 2, "baseline loss to {host}: {base}/200");
    }

    // As the monkey passes a zone: its subnet's CIDR, no --interface (the default route's).
    let out = n.run(&[
        "inject",
        "loss",
        "--percent",
        "50",
        "--to",
        ZONE_B_NET,
        "--duration",
        "60s",
        "--detach",
    ]);
    let ev = applied_ok(&out);
    let applied = find(&ev, "applied");
    assert_eq!(applied["interface"], n.a_if.as_str());
    let lost_a = udp_lost(&n.a, ZONE_A_HOST, 7000, 200);
    let lost_b = udp_lost(&n.a, ZONE_B_HOST, 7000, 200);
    println!(
        "MEASURE zones loss 50% --to {ZONE_B_NET} ({}): zone A lost {lost_a}/200, zone B lost \
         {lost_b}/200",
        applied["mechanism"]
    );
    assert!(
        (70..=130).contains(&lost_b),
        "zone B lost {lost_b} of 200, expected 35-65 %"
    );
    assert!(
        lost_a <= 2,
        "zone A must not be impaired: lost {lost_a}/200"
    );

    // The way back: from the rollback's start until 20 probes in a row reach zone B.
    let t = Instant::now();
    let out = n.run(&["rollback", applied["id"].as_str().unwrap()]);
    let ev = applied_ok(&out);
    let rollback_exit = t.elapsed();
    poll(
        "zone B to answer 20 probes in a row",
        Duration::from_secs(2),
        || (udp_lost(&n.a, ZONE_B_HOST, 7000, 20) == 0).then_some(()),
    );
    let back = t.elapsed();
    println!(
        "MEASURE zones loss way back: rollback exited after {:.1} ms (inside the agent {} ms); \
         20/20 to zone B {:.1} ms after it began",
        rollback_exit.as_secs_f64() * 1000.0,
        find(&ev, "rolled_back")["rollback_ms"],
        back.as_secs_f64() * 1000.0
    );
    let after_b = udp_lost(&n.a, ZONE_B_HOST, 7000, 200);
    let after_a = udp_lost(&n.a, ZONE_A_HOST, 7000, 200);
    println!("MEASURE zones loss after: zone A lost {after_a}/200, zone B lost {after_b}/200");
    assert!(after_b <= 2, "zone B after rollback lost {after_b}/200");
    assert!(after_a <= 2, "zone A after rollback lost {after_a}/200");
    assert_eq!(n.snapshot(), before, "nft ruleset and qdiscs as before");
    assert!(n.state_files().is_empty());
}

/// The VM's init: namespaces `a` (the host under test, `va` 10.0.0.1) and `b` (`vb` 10.0.0.2,
/// plus one host in each zone), ping RTTs to both zones before, during and after
/// `inject latency --delay-ms 200 --to 10.11.2.0/24`, rolled back with `rollback <id>` after
/// the "during" probes; then single pings to zone B, each with the centiseconds since the
/// rollback began. Result lines start with "FLVM ".
const ZONES_INIT: &str = r#"#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
mkdir -p /run/netns /var/run
ln -s /run/netns /var/run/netns 2>/dev/null
for m in veth sch_htb cls_u32 sch_netem; do insmod /lib/$m.ko; done
IP=/usr/sbin/ip
$IP netns add a
$IP netns add b
$IP link add va type veth peer name vb
$IP link set va netns a
$IP link set vb netns b
$IP -n a addr add 10.0.0.1/24 dev va
$IP -n b addr add 10.0.0.2/24 dev vb
$IP -n b addr add 10.11.1.10/24 dev vb
$IP -n b addr add 10.11.2.10/24 dev vb
$IP -n a link set lo up
$IP -n b link set lo up
$IP -n a link set va up
$IP -n b link set vb up
$IP -n a route add default via 10.0.0.2
echo "FLVM scenario zones"
cs() { read -r u _ </proc/uptime; echo $((${u%.*} * 100 + 1${u#*.} - 100)); }
probe() { # phase zone address
  $IP netns exec a /bin/busybox ping -A -c 11 -W 5 $3 | sed -n "s/.*time=\([0-9.]*\) ms.*/FLVM $1 $2 \1/p"
}
probe warmup a 10.11.1.10 >/dev/null
probe warmup b 10.11.2.10 >/dev/null
probe base a 10.11.1.10
probe base b 10.11.2.10
$IP netns exec a /usr/local/bin/faultline-agent --state-dir /run/fl inject latency \
  --delay-ms 200 --to 10.11.2.0/24 --interface va --duration 60s >/run/agent.out 2>/run/agent.err &
agent=$!
n=0
while ! grep -q '"event":"applied"' /run/agent.out 2>/dev/null; do
  n=$((n + 1)); [ $n -gt 600 ] && break
  sleep 0.05
done
echo "FLVM qdisc-during $($IP netns exec a /usr/sbin/tc qdisc show dev va | tr '\n' ' ')"
probe fault a 10.11.1.10
probe fault b 10.11.2.10
id=$(sed -n 's/.*"event":"applied".*"id":"\([^"]*\)".*/\1/p' /run/agent.out | head -n1)
echo "FLVM rollback-id $id"
t0=$(cs)
$IP netns exec a /usr/local/bin/faultline-agent --state-dir /run/fl rollback "$id" >/run/rollback.out 2>&1
echo "FLVM rollback-exit $? $(($(cs) - t0))"
for i in $(seq 1 15); do
  r=$($IP netns exec a /bin/busybox ping -c 1 -W 1 10.11.2.10 | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p')
  echo "FLVM back-ping $(($(cs) - t0)) ${r:-lost}"
done
wait $agent
echo "FLVM agent-exit $?"
echo "FLVM qdisc-after $($IP netns exec a /usr/sbin/tc qdisc show dev va | tr '\n' ' ')"
probe after a 10.11.1.10
probe after b 10.11.2.10
sed 's/^/FLVM agent /' /run/agent.out
sed 's/^/FLVM agent-err /' /run/agent.err
sed 's/^/FLVM rollback /' /run/rollback.out
echo "FLVM state $(ls /run/fl | tr '\n' ' ')"
echo "FLVM done"
poweroff -f
"#;

/// Builds the VM image (under the VM lock), appends a cpio archive holding `/zones-init`,
/// boots it and returns its result lines (after "FLVM ").
fn boot_zones() -> Vec<String> {
    let image = vm_image("vm-zones");
    let (out, cache) = (&image.dir, &image.cache);
    // The kernel unpacks concatenated (compressed) cpio archives in turn: the second one adds
    // /zones-init, which `rdinit=` runs instead of the image's /init.
    let extra = out.path().join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    let init = extra.join("zones-init");
    std::fs::write(&init, ZONES_INIT).unwrap();
    std::fs::set_permissions(&init, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let busybox = cache.join("busybox/bin/busybox");
    let cpio = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd '{}' && echo zones-init | '{}' cpio -o -H newc 2>/dev/null | gzip -9 >> '{}'",
            extra.display(),
            busybox.display(),
            out.path().join("initramfs.cpio.gz").display()
        ))
        .output()
        .unwrap();
    assert!(
        cpio.status.success(),
        "appending /zones-init: {}",
        String::from_utf8_lossy(&cpio.stderr)
    );
    let lines = boot_vm(
        &image,
        "console=ttyS0 panic=-1 quiet rdinit=/zones-init",
        280,
    );
    assert!(
        lines.iter().any(|l| l == "scenario zones"),
        "the VM did not run /zones-init: {lines:#?}"
    );
    lines
}

/// The RTTs in ms of `phase` to `zone` (lines `<phase> <zone> <ms>`).
fn rtts(lines: &[String], phase: &str, zone: &str) -> Vec<f64> {
    lines
        .iter()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == phase && w.next()? == zone)
                .then(|| w.next()?.parse().ok())
                .flatten()
        })
        .collect()
}

fn median_ms(lines: &[String], phase: &str, zone: &str) -> f64 {
    let mut v = rtts(lines, phase, zone);
    assert!(
        v.len() >= 8,
        "{phase} {zone}: only {} RTTs: {lines:#?}",
        v.len()
    );
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[test]
fn latency_toward_one_zone_delays_only_traffic_to_its_subnet() {
    const DELAY_MS: f64 = 200.0;
    let lines = boot_zones();
    let m = |phase: &str, zone: &str| median_ms(&lines, phase, zone);
    let (base_a, base_b) = (m("base", "a"), m("base", "b"));
    let (fault_a, fault_b) = (m("fault", "a"), m("fault", "b"));
    let (after_a, after_b) = (m("after", "a"), m("after", "b"));
    println!(
        "MEASURE zones latency --delay-ms 200 --to {ZONE_B_NET}: median RTT zone A \
         base={base_a:.3} fault={fault_a:.3} after={after_a:.3} ms; zone B base={base_b:.3} \
         fault={fault_b:.3} after={after_b:.3} ms"
    );
    let events = vm_events(&lines, "agent ");
    let applied = find(&events, "applied");
    assert_eq!(applied["mechanism"], "tc-netem");
    assert!(
        vm_line(&lines, "qdisc-during").contains("netem"),
        "{lines:#?}"
    );
    // Zone B: every probe delayed by the configured delay (10 ms tolerance for the VM's clock).
    let min_b = rtts(&lines, "fault", "b")
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    assert!(
        min_b >= DELAY_MS - 10.0,
        "the fastest RTT to zone B during the fault was {min_b:.3} ms, expected >= 190"
    );
    assert!(
        (DELAY_MS - 10.0..=DELAY_MS + 30.0).contains(&(fault_b - base_b)),
        "zone B: the fault added {:.2} ms, expected 200",
        fault_b - base_b
    );
    // Zone A: untouched, well below the delay.
    assert!(
        fault_a < base_a + 20.0 && fault_a < DELAY_MS / 4.0,
        "zone A must not be delayed: {fault_a:.3} ms during vs {base_a:.3} ms before"
    );

    // The way back: `rollback <id>` exits 0, then single pings to zone B, each with the
    // centiseconds since the rollback began.
    let rb = vm_line(&lines, "rollback-exit");
    let mut rb = rb.split_whitespace().skip(1);
    assert_eq!(rb.next(), Some("0"), "{lines:#?}");
    let rollback_cs: u64 = rb.next().unwrap().parse().unwrap();
    let pings: Vec<(u64, Option<f64>)> = lines
        .iter()
        .filter_map(|l| {
            let mut w = l.strip_prefix("back-ping ")?.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()))
        })
        .collect();
    assert!(pings.len() >= 10, "{lines:#?}");
    let fast = |rtt: Option<f64>| rtt.is_some_and(|r| r < base_b + 20.0);
    let first = pings
        .iter()
        .position(|(_, r)| fast(*r))
        .unwrap_or_else(|| panic!("zone B never came back: {pings:?}"));
    let (first_cs, first_rtt) = pings[first];
    println!(
        "MEASURE zones latency way back: rollback exited after {} ms (inside the agent {} ms); \
         first fast RTT to zone B ({:.3} ms) {} ms after the rollback began; pings {pings:?}",
        rollback_cs * 10,
        find(&vm_events(&lines, "rollback "), "rolled_back")["rollback_ms"],
        first_rtt.unwrap(),
        first_cs * 10
    );
    assert!(
        first_cs <= 100,
        "zone B fast again only {} ms after the rollback began: {pings:?}",
        first_cs * 10
    );
    assert!(
        pings[first..].iter().all(|(_, r)| fast(*r)),
        "zone B slowed down again: {pings:?}"
    );
    assert!(
        (after_b - base_b).abs() < 20.0 && (after_a - base_a).abs() < 20.0,
        "after: zone A {after_a:.3} ms (base {base_a:.3}), zone B {after_b:.3} ms (base {base_b:.3})"
    );
    assert_eq!(vm_line(&lines, "agent-exit"), "agent-exit 0", "{lines:#?}");
    let qdisc_after = vm_line(&lines, "qdisc-after");
    assert!(
        !qdisc_after.contains("netem") && !qdisc_after.contains("htb"),
        "{qdisc_after}"
    );
    assert!(
        !vm_line(&lines, "state")
            .split_whitespace()
            .any(|f| f.ends_with(".json")),
        "state left: {lines:#?}"
    );
    assert_eq!(
        find(&vm_events(&lines, "rollback "), "rolled_back")["reason"],
        "requested"
    );
}

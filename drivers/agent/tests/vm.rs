//! `latency 100ms` measured for real: a qemu VM (software emulation, no network) boots Debian's
//! cloud kernel, which has `sch_netem`, with an initramfs built here from the agent binary
//! (tests/vm/build-initramfs.sh, recipe in notes/netem-vm.md). Its /init pings across a veth
//! pair before, during and after the fault. Two scenarios (`flscenario=` on the kernel command
//! line, one boot each): the fault is never rolled back by hand, so the "after" RTTs show the
//! guardian ended it at the deadline; or it is aborted half-way with `rollback <id>`, and the
//! RTT must be back to baseline within 1 s. Slow (~15-60 s each); runs in CI.

mod common;

use common::*;

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "no samples");
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Boots the VM with `flscenario=<scenario>` and returns its result lines (after "FLVM ").
fn boot(scenario: &str) -> Vec<String> {
    let image = vm_image(&format!("vm-{scenario}"));
    let lines = boot_vm(
        &image,
        &format!("console=ttyS0 panic=-1 quiet flscenario={scenario}"),
        300,
    );
    assert!(
        lines.contains(&format!("scenario {scenario}")),
        "the VM ran another scenario: {lines:#?}"
    );
    lines
}

/// The RTTs of `phase` (lines `<phase> <ms>`).
fn rtts(lines: &[String], phase: &str) -> Vec<f64> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(phase)?.strip_prefix(' ')?.parse().ok())
        .collect()
}

#[test]
fn vm_latency_100ms_raises_the_median_rtt_by_100ms_and_ends_by_itself() {
    let lines = boot("deadline");
    let (base, fault, after) = (
        median(rtts(&lines, "base")),
        median(rtts(&lines, "fault")),
        median(rtts(&lines, "after")),
    );
    println!(
        "MEASURE vm median RTT base={base:.3} ms fault={fault:.3} ms after={after:.3} ms; \
         added {:.2} ms for --delay-ms 100",
        fault - base
    );
    let line = |prefix: &str| vm_line(&lines, prefix);
    assert!(line("qdisc-during").contains("netem"), "{lines:#?}");
    assert!(
        (90.0..=110.0).contains(&(fault - base)),
        "added {:.2} ms",
        fault - base
    );
    assert!(
        (after - base).abs() < 5.0,
        "after {after:.3} ms vs base {base:.3} ms"
    );
    assert_eq!(line("agent-exit"), "agent-exit 0", "{lines:#?}");
    let qdisc_after = line("qdisc-after");
    assert!(
        !qdisc_after.contains("netem") && !qdisc_after.contains("htb"),
        "{qdisc_after}"
    );
    assert!(
        !line("state")
            .split_whitespace()
            .any(|f| f.ends_with(".json")),
        "state left: {lines:#?}"
    );
    let events = vm_events(&lines, "agent ");
    let applied = find(&events, "applied");
    assert_eq!(applied["mechanism"], "tc-netem");
    let rolled = find(&events, "rolled_back");
    assert_eq!(rolled["by"], "guardian");
    println!(
        "MEASURE vm latency apply_ms={} rollback_ms={} late_ms={}",
        applied["apply_ms"], rolled["rollback_ms"], rolled["late_ms"]
    );
}

#[test]
fn vm_latency_100ms_aborted_half_way_is_back_to_the_baseline_rtt_within_1s() {
    let lines = boot("abort");
    let line = |prefix: &str| vm_line(&lines, prefix);
    let (base, fault) = (median(rtts(&lines, "base")), median(rtts(&lines, "fault")));
    assert!(line("qdisc-during").contains("netem"), "{lines:#?}");
    assert!(
        (90.0..=110.0).contains(&(fault - base)),
        "the fault added {:.2} ms",
        fault - base
    );
    // `rollback <id>` half-way: exit 0, then one ping after another, each with the
    // centiseconds since the abort began.
    let rb = line("rollback-exit");
    let mut rb = rb.split_whitespace().skip(1);
    assert_eq!(rb.next(), Some("0"), "{lines:#?}");
    let rollback_cs: u64 = rb.next().unwrap().parse().unwrap();
    let pings: Vec<(u64, Option<f64>)> = lines
        .iter()
        .filter_map(|l| {
            let mut w = l.strip_prefix("abort-ping ")?.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()))
        })
        .collect();
    assert!(pings.len() >= 10, "{lines:#?}");
    // Baseline: within 5 ms of the median before the fault.
    let back = |rtt: Option<f64>| rtt.is_some_and(|r| r < base + 5.0);
    let (first_cs, first_rtt) = *pings
        .iter()
        .find(|(_, r)| back(*r))
        .unwrap_or_else(|| panic!("the RTT never came back: {pings:?}"));
    println!(
        "MEASURE vm abort: rollback took {} ms; first baseline RTT ({:.3} ms, base {base:.3}) \
         {} ms after the abort began",
        rollback_cs * 10,
        first_rtt.unwrap(),
        first_cs * 10
    );
    assert!(
        first_cs <= 100,
        "back to baseline only {} ms after the abort: {pings:?}",
        first_cs * 10
    );
    // ...and it stays there.
    let first = pings.iter().position(|(_, r)| back(*r)).unwrap();
    assert!(
        pings[first..].iter().all(|(_, r)| back(*r)),
        "the RTT went up again: {pings:?}"
    );
    let after = median(rtts(&lines, "after"));
    assert!(
        (after - base).abs() < 5.0,
        "after {after:.3} ms vs base {base:.3} ms"
    );
    let qdisc_after = line("qdisc-after");
    assert!(
        !qdisc_after.contains("netem") && !qdisc_after.contains("htb"),
        "{qdisc_after}"
    );
    assert!(
        !line("state")
            .split_whitespace()
            .any(|f| f.ends_with(".json")),
        "state left: {lines:#?}"
    );
    let rolled = find(&vm_events(&lines, "rollback "), "rolled_back").clone();
    assert_eq!(rolled["reason"], "requested");
    println!(
        "MEASURE vm abort: inside the agent the rollback took {} ms",
        rolled["rollback_ms"]
    );
    // The waiting inject saw the rollback, relayed it and exited 0 (not as a lost guardian).
    assert_eq!(line("agent-exit"), "agent-exit 0", "{lines:#?}");
    let agent = vm_events(&lines, "agent ");
    assert!(
        agent.iter().all(|e| e["event"] != "guardian_lost"),
        "{agent:#?}"
    );
    assert_eq!(find(&agent, "rolled_back")["reason"], "requested");
}

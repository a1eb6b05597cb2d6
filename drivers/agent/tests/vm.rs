//! `latency 100ms` measured for real: a qemu VM (software emulation, no network) boots Debian's
//! cloud kernel, which has `sch_netem`, with an initramfs built here from the agent binary
//! (tests/vm/build-initramfs.sh, recipe in notes/netem-vm.md). Its /init pings across a veth
//! pair before, during and after the fault; the fault is never rolled back by hand, so the
//! "after" RTTs show the guardian ended it at the deadline. Slow (~15-60 s); runs in CI.

mod common;

use std::process::Command;

use common::*;

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "no samples");
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[test]
fn vm_latency_100ms_raises_the_median_rtt_by_100ms_and_ends_by_itself() {
    let cache = std::path::PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
        .join(".cache/faultline/vm");
    let out = TempDir::new("vm");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vm/build-initramfs.sh");
    let built = Command::new(script)
        .arg(AGENT)
        .arg(&cache)
        .arg(out.path())
        .output()
        .expect("running build-initramfs.sh");
    assert!(
        built.status.success(),
        "building the VM image failed (the test needs `apt-get download` of \
         linux-image-*-cloud-amd64 and busybox-static to work): {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let qemu = Command::new("timeout")
        .arg("300")
        .arg("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg",
            "-m",
            "512",
            "-smp",
            "1",
            "-nographic",
            "-no-reboot",
        ])
        .args(["-nic", "none", "-kernel"])
        .arg(out.path().join("vmlinuz"))
        .arg("-initrd")
        .arg(out.path().join("initramfs.cpio.gz"))
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .output()
        .expect("running qemu-system-x86_64 (apt-get install qemu-system-x86; .ci/run does)");
    let console = String::from_utf8_lossy(&qemu.stdout);
    let lines: Vec<&str> = console
        .lines()
        .filter_map(|l| l.find("FLVM ").map(|i| &l[i + 5..]))
        .collect();
    assert!(
        lines.contains(&"done"),
        "the VM did not finish ({}): {console}\n{}",
        qemu.status,
        String::from_utf8_lossy(&qemu.stderr)
    );
    let rtts = |phase: &str| -> Vec<f64> {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(phase)?.strip_prefix(' ')?.parse().ok())
            .collect()
    };
    let (base, fault, after) = (
        median(rtts("base")),
        median(rtts("fault")),
        median(rtts("after")),
    );
    println!(
        "MEASURE vm median RTT base={base:.3} ms fault={fault:.3} ms after={after:.3} ms; \
         added {:.2} ms for --delay-ms 100",
        fault - base
    );
    let line = |prefix: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line: {lines:#?}"))
            .to_string()
    };
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
    let events: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l.strip_prefix("agent ")?).ok())
        .collect();
    let applied = find(&events, "applied");
    assert_eq!(applied["mechanism"], "tc-netem");
    let rolled = find(&events, "rolled_back");
    assert_eq!(rolled["by"], "guardian");
    println!(
        "MEASURE vm latency apply_ms={} rollback_ms={} late_ms={}",
        applied["apply_ms"], rolled["rollback_ms"], rolled["late_ms"]
    );
}

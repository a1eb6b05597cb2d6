//! Network faults measured for real in network namespaces the test makes (a veth pair): the
//! agent runs in namespace `a`, servers in `b`. This kernel has no `sch_netem`, so latency is
//! measured in the VM test (`vm.rs`); here it must fail clearly and leave nothing behind.

mod common;

use std::time::{Duration, Instant};

use common::*;

const SHORT: Duration = Duration::from_millis(500);

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
fn blackhole_drops_only_the_given_address_and_port_and_rolls_back_to_baseline() {
    let n = NetPair::new("bh");
    tcp_listen(&n.b, B_IP, &[8080, 8081]);
    let before = n.snapshot();
    assert!(tcp_connects(&n.a, B_IP, 8080, SHORT), "baseline 8080");
    assert!(tcp_connects(&n.a, B_IP, 8081, SHORT), "baseline 8081");

    let out = n.run(&[
        "inject",
        "blackhole",
        "--to",
        B_IP,
        "--port",
        "8080",
        "--interface",
        &n.a_if,
        "--duration",
        "60s",
        "--detach",
    ]);
    let ev = applied_ok(&out);
    let applied = find(&ev, "applied");
    assert_eq!(applied["mechanism"], "nftables");
    println!("MEASURE blackhole apply_ms={}", applied["apply_ms"]);
    assert!(
        !tcp_connects(&n.a, B_IP, 8080, SHORT),
        "8080 must be blackholed"
    );
    assert!(
        tcp_connects(&n.a, B_IP, 8081, SHORT),
        "8081 must still work"
    );

    let out = n.run(&["rollback", applied["id"].as_str().unwrap()]);
    let ev = applied_ok(&out);
    println!(
        "MEASURE blackhole rollback_ms={}",
        find(&ev, "rolled_back")["rollback_ms"]
    );
    assert!(
        tcp_connects(&n.a, B_IP, 8080, SHORT),
        "8080 back after rollback"
    );
    assert!(tcp_connects(&n.a, B_IP, 8081, SHORT));
    assert_eq!(n.snapshot(), before, "nft ruleset and qdiscs as before");
    assert!(n.state_files().is_empty());
}

#[test]
fn loss_50_falls_back_to_nftables_and_drops_35_to_65_percent_of_200_probes() {
    let n = NetPair::new("ls");
    udp_echo(&n.b, B_IP, 7000);
    let before = n.snapshot();
    let base = udp_lost(&n.a, B_IP, 7000, 200);
    assert!(base <= 2, "baseline loss {base}/200");

    // No --interface: the default route's interface.
    let out = n.run(&[
        "inject",
        "loss",
        "--percent",
        "50",
        "--duration",
        "60s",
        "--detach",
    ]);
    let ev = applied_ok(&out);
    let applied = find(&ev, "applied");
    assert_eq!(applied["interface"], n.a_if.as_str());
    let expected = if kernel_has_netem(&n) {
        "tc-netem"
    } else {
        "nftables (sch_netem missing)"
    };
    assert_eq!(applied["mechanism"], expected);
    println!("MEASURE loss apply_ms={}", applied["apply_ms"]);
    let lost = udp_lost(&n.a, B_IP, 7000, 200);
    println!("MEASURE loss lost={lost}/200");
    assert!(
        (70..=130).contains(&lost),
        "lost {lost} of 200, expected 35-65 %"
    );

    let out = n.run(&["rollback", "--all"]);
    let ev = applied_ok(&out);
    println!(
        "MEASURE loss rollback_ms={}",
        find(&ev, "rolled_back")["rollback_ms"]
    );
    let after = udp_lost(&n.a, B_IP, 7000, 200);
    assert!(after <= 2, "loss after rollback {after}/200");
    assert_eq!(n.snapshot(), before);
    assert!(n.state_files().is_empty());
    // rollback --all is idempotent.
    let out = n.run(&["rollback", "--all"]);
    let ev = applied_ok(&out);
    assert_eq!(find(&ev, "rollback_done")["rolled_back"], 0);
}

#[test]
fn bandwidth_10mbit_measures_within_20_percent_and_rolls_back() {
    let n = NetPair::new("bw");
    let before = n.snapshot();
    let out = n.run(&[
        "inject",
        "bandwidth",
        "--rate",
        "10mbit",
        "--interface",
        &n.a_if,
        "--duration",
        "60s",
        "--detach",
    ]);
    let ev = applied_ok(&out);
    let applied = find(&ev, "applied");
    assert_eq!(applied["mechanism"], "tc-htb");
    println!("MEASURE bandwidth apply_ms={}", applied["apply_ms"]);
    let bps = tcp_throughput(&n.a, &n.b, B_IP, 9000, 3.0);
    println!("MEASURE bandwidth measured={:.2} Mbit/s", bps / 1e6);
    assert!(
        (8e6..=12e6).contains(&bps),
        "measured {:.2} Mbit/s, expected 10 ± 20 %",
        bps / 1e6
    );
    let out = n.run(&["rollback", "--all"]);
    let ev = applied_ok(&out);
    println!(
        "MEASURE bandwidth rollback_ms={}",
        find(&ev, "rolled_back")["rollback_ms"]
    );
    let after = tcp_throughput(&n.a, &n.b, B_IP, 9001, 1.5);
    println!("MEASURE bandwidth after={:.1} Mbit/s", after / 1e6);
    assert!(
        after > 100e6,
        "after rollback only {:.1} Mbit/s",
        after / 1e6
    );
    assert_eq!(n.snapshot(), before);
    assert!(n.state_files().is_empty());
}

/// Whether this kernel can add a netem qdisc (this machine's cannot).
fn kernel_has_netem(n: &NetPair) -> bool {
    let ok = std::process::Command::new("ip")
        .args([
            "netns", "exec", &n.b, "tc", "qdisc", "add", "dev", &n.b_if, "root", "netem",
        ])
        .output()
        .unwrap()
        .status
        .success();
    if ok {
        sh(
            "ip",
            &[
                "netns", "exec", &n.b, "tc", "qdisc", "del", "dev", &n.b_if, "root",
            ],
        );
    }
    ok
}

#[test]
fn latency_without_sch_netem_names_the_module_and_leaves_nothing() {
    let n = NetPair::new("lt");
    let before = n.snapshot();
    if kernel_has_netem(&n) {
        // A kernel with netem (not this machine's): latency applies and rolls back cleanly.
        let out = n.run(&[
            "inject",
            "latency",
            "--delay-ms",
            "100",
            "--interface",
            &n.a_if,
            "--duration",
            "1s",
        ]);
        let ev = applied_ok(&out);
        assert_eq!(find(&ev, "applied")["mechanism"], "tc-netem");
        assert_eq!(n.snapshot(), before);
        return;
    }
    for fault in [
        vec!["latency", "--delay-ms", "100"],
        vec!["corrupt", "--percent", "5"],
        vec!["duplicate", "--percent", "5"],
    ] {
        let mut args = vec!["inject"];
        args.extend(&fault);
        args.extend(["--interface", &n.a_if, "--duration", "30s"]);
        let out = n.run(&args);
        assert!(!out.status.success(), "{fault:?} must fail on this kernel");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("sch_netem"), "{err}");
        assert!(err.contains("kernel-modules-extra"), "{err}");
        assert!(err.contains("Nothing was changed"), "{err}");
        assert_eq!(n.snapshot(), before, "{fault:?} left something behind");
        assert!(n.state_files().is_empty(), "{fault:?} left state");
    }
}

#[test]
fn a_second_network_fault_on_the_same_interface_is_refused() {
    let n = NetPair::new("st");
    let out = n.run(&[
        "inject",
        "blackhole",
        "--to",
        "10.99.0.0/24",
        "--port",
        "1",
        "--interface",
        &n.a_if,
        "--duration",
        "60s",
        "--detach",
    ]);
    applied_ok(&out);
    let mid = n.snapshot();
    let out = n.run(&[
        "inject",
        "loss",
        "--percent",
        "10",
        "--interface",
        &n.a_if,
        "--duration",
        "60s",
        "--detach",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already has a network fault"), "{err}");
    assert!(err.contains("not stacked"), "{err}");
    assert_eq!(n.snapshot(), mid, "the refused fault changed nothing");
    assert_eq!(n.state_files().len(), 1);
}

#[test]
fn the_guardian_rolls_back_at_once_when_the_agent_alone_is_sigkilled() {
    let n = NetPair::new("gk");
    tcp_listen(&n.b, B_IP, &[8080]);
    let before = n.snapshot();
    let mut agent = Running::start(n.agent(&[
        "inject",
        "blackhole",
        "--to",
        B_IP,
        "--interface",
        &n.a_if,
        "--duration",
        "60s",
    ]));
    let applied = agent.wait_for("applied", Duration::from_secs(10));
    assert!(
        !tcp_connects(&n.a, B_IP, 8080, SHORT),
        "the fault is in place"
    );
    // SIGKILL the agent alone (ip netns exec execs it, so the child is the agent): the
    // guardian sees the lifeline close and rolls back long before the 60 s deadline.
    let t = Instant::now();
    agent.child.kill().unwrap();
    agent.child.wait().unwrap();
    poll("the guardian's rollback", Duration::from_secs(2), || {
        tcp_connects(&n.a, B_IP, 8080, Duration::from_millis(100)).then_some(())
    });
    println!(
        "MEASURE agent SIGKILLed -> traffic flows again after {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let guardian = applied["guardian_pid"].as_i64().unwrap();
    poll("the guardian to exit", Duration::from_secs(5), || {
        (!alive(guardian)).then_some(())
    });
    assert_eq!(n.snapshot(), before);
    assert!(n.state_files().is_empty());
    let events = std::fs::read_to_string(n.state.path().join("events.jsonl")).unwrap();
    assert!(events.contains("\"reason\":\"inject_died\""), "{events}");
}

#[test]
fn a_fault_ends_by_itself_at_its_duration_and_inject_reports_the_rollback() {
    let n = NetPair::new("du");
    let before = n.snapshot();
    let t = Instant::now();
    let out = n.run(&["inject", "dns", "--interface", &n.a_if, "--duration", "2s"]);
    let ev = applied_ok(&out);
    assert!(t.elapsed() >= Duration::from_secs(2));
    let rb = find(&ev, "rolled_back");
    assert_eq!(rb["by"], "guardian");
    println!(
        "MEASURE dns apply_ms={} rollback_ms={} late_ms={}",
        find(&ev, "applied")["apply_ms"],
        rb["rollback_ms"],
        rb["late_ms"]
    );
    assert_eq!(n.snapshot(), before);
    assert!(n.state_files().is_empty());
}

#[test]
fn the_metadata_service_stays_reachable_through_a_blackhole_of_everything() {
    let n = NetPair::new("md");
    // Namespace b also answers as the instance metadata service.
    sh(
        "ip",
        &[
            "-n",
            &n.b,
            "addr",
            "add",
            "169.254.169.254/32",
            "dev",
            &n.b_if,
        ],
    );
    sh(
        "ip",
        &[
            "-n",
            &n.a,
            "route",
            "add",
            "169.254.169.254/32",
            "dev",
            &n.a_if,
        ],
    );
    tcp_listen(&n.b, B_IP, &[8080]);
    tcp_listen(&n.b, "169.254.169.254", &[80]);
    assert!(tcp_connects(&n.a, "169.254.169.254", 80, SHORT), "baseline");
    let out = n.run(&[
        "inject",
        "blackhole",
        "--to",
        "0.0.0.0/0",
        "--interface",
        &n.a_if,
        "--duration",
        "60s",
        "--detach",
    ]);
    applied_ok(&out);
    assert!(
        !tcp_connects(&n.a, B_IP, 8080, SHORT),
        "everything else is cut off"
    );
    assert!(
        tcp_connects(&n.a, "169.254.169.254", 80, SHORT),
        "the metadata service must stay reachable"
    );
}

/// Files `ip netns exec` mounts over /etc inside namespace `ns` (`/etc/netns/<ns>/<name>`):
/// the agent's resolv.conf and hosts there. Removed on drop.
struct NetnsEtc(std::path::PathBuf);

impl NetnsEtc {
    fn new(ns: &str, files: &[(&str, &str)]) -> Self {
        let d = std::path::Path::new("/etc/netns").join(ns);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        for (name, text) in files {
            std::fs::write(d.join(name), text).unwrap();
        }
        NetnsEtc(d)
    }
}

impl Drop for NetnsEtc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_network_fault_is_refused_when_an_ssm_endpoint_does_not_resolve() {
    let n = NetPair::new("sr");
    // Only ssm resolves (hosts); the nameserver in b does not answer, so the other two fail.
    let _etc = NetnsEtc::new(
        &n.a,
        &[
            (
                "resolv.conf",
                &format!("nameserver {B_IP}\noptions timeout:1 attempts:1\n"),
            ),
            (
                "hosts",
                "127.0.0.1 localhost\n10.99.0.4 ssm.xx-test-1.amazonaws.com\n",
            ),
        ],
    );
    let before = n.snapshot();
    let out = n.run(&[
        "inject",
        "blackhole",
        "--to",
        B_IP,
        "--interface",
        &n.a_if,
        "--aws-region",
        "xx-test-1",
        "--duration",
        "60s",
        "--detach",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "refused: {err}");
    assert!(
        err.contains("ssmmessages.xx-test-1.amazonaws.com")
            && err.contains("ec2messages.xx-test-1.amazonaws.com")
            && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(n.snapshot(), before, "nothing applied");
    assert!(n.state_files().is_empty());
}

#[test]
fn a_blackhole_of_everything_spares_link_local_the_resolvers_and_the_ssm_endpoints() {
    let n = NetPair::new("ex");
    // b also plays the VPC resolver (10.99.0.3), the SSM endpoints (10.99.0.4) and the time
    // sync service (169.254.169.123).
    for addr in ["10.99.0.3/24", "10.99.0.4/24", "169.254.169.123/32"] {
        sh("ip", &["-n", &n.b, "addr", "add", addr, "dev", &n.b_if]);
    }
    sh(
        "ip",
        &["-n", &n.a, "route", "add", "169.254.0.0/16", "dev", &n.a_if],
    );
    let _etc = NetnsEtc::new(
        &n.a,
        &[
            ("resolv.conf", "nameserver 10.99.0.3\n"),
            (
                "hosts",
                "127.0.0.1 localhost\n10.99.0.4 ssm.xx-test-1.amazonaws.com\n\
                 10.99.0.4 ssmmessages.xx-test-1.amazonaws.com\n\
                 10.99.0.4 ec2messages.xx-test-1.amazonaws.com\n",
            ),
        ],
    );
    tcp_listen(&n.b, B_IP, &[8080]);
    tcp_listen(&n.b, "10.99.0.3", &[53]);
    tcp_listen(&n.b, "10.99.0.4", &[443]);
    tcp_listen(&n.b, "169.254.169.123", &[123]);
    let out = n.run(&[
        "inject",
        "blackhole",
        "--to",
        "0.0.0.0/0",
        "--interface",
        &n.a_if,
        "--aws-region",
        "xx-test-1",
        "--duration",
        "60s",
        "--detach",
    ]);
    applied_ok(&out);
    assert!(
        !tcp_connects(&n.a, B_IP, 8080, SHORT),
        "everything else is cut off"
    );
    for (ip, port, what) in [
        ("10.99.0.3", 53, "the resolver"),
        ("10.99.0.4", 443, "the SSM endpoints"),
        ("169.254.169.123", 123, "time sync (link-local)"),
    ] {
        assert!(
            tcp_connects(&n.a, ip, port, SHORT),
            "{what} must stay reachable"
        );
    }
}

#[test]
fn the_guardian_re_resolves_the_ssm_endpoints_and_exempts_a_new_address() {
    let n = NetPair::new("rr");
    for addr in ["10.99.0.4/24", "10.99.0.5/24"] {
        sh("ip", &["-n", &n.b, "addr", "add", addr, "dev", &n.b_if]);
    }
    let hosts = |ssmmessages: &str| {
        format!(
            "127.0.0.1 localhost\n10.99.0.4 ssm.xx-test-1.amazonaws.com\n\
             {ssmmessages} ssmmessages.xx-test-1.amazonaws.com\n\
             10.99.0.4 ec2messages.xx-test-1.amazonaws.com\n"
        )
    };
    let etc = NetnsEtc::new(
        &n.a,
        &[
            ("resolv.conf", "nameserver 10.99.0.3\n"),
            ("hosts", &hosts("10.99.0.4")),
        ],
    );
    tcp_listen(&n.b, B_IP, &[8080]);
    tcp_listen(&n.b, "10.99.0.4", &[443]);
    tcp_listen(&n.b, "10.99.0.5", &[443]);
    let mut cmd = n.agent(&[
        "inject",
        "blackhole",
        "--to",
        "0.0.0.0/0",
        "--interface",
        &n.a_if,
        "--aws-region",
        "xx-test-1",
        "--duration",
        "60s",
        "--detach",
    ]);
    cmd.env("FAULTLINE_AGENT_RERESOLVE_MS", "200");
    applied_ok(&cmd.output().unwrap());
    assert!(!tcp_connects(&n.a, B_IP, 8080, SHORT), "cut off");
    assert!(
        !tcp_connects(&n.a, "10.99.0.5", 443, SHORT),
        "not exempt yet"
    );
    assert!(tcp_connects(&n.a, "10.99.0.4", 443, SHORT), "exempt");
    // The endpoint moves (same file, so the bind mount sees it).
    std::fs::write(etc.0.join("hosts"), hosts("10.99.0.5")).unwrap();
    poll(
        "the new address to be exempted",
        Duration::from_secs(5),
        || tcp_connects(&n.a, "10.99.0.5", 443, SHORT).then_some(()),
    );
    assert!(!tcp_connects(&n.a, B_IP, 8080, SHORT), "still cut off");
    let events = std::fs::read_to_string(n.state.path().join("events.jsonl")).unwrap();
    assert!(events.contains("exempt_added"), "{events}");
}

#[test]
fn a_re_resolved_endpoint_is_exempted_from_a_tc_fault_too() {
    let n = NetPair::new("rt");
    let hosts = |ssm: &str| {
        format!(
            "127.0.0.1 localhost\n{ssm} ssm.xx-test-1.amazonaws.com\n\
             10.99.0.4 ssmmessages.xx-test-1.amazonaws.com\n\
             10.99.0.4 ec2messages.xx-test-1.amazonaws.com\n"
        )
    };
    let etc = NetnsEtc::new(
        &n.a,
        &[
            ("resolv.conf", "nameserver 10.99.0.3\n"),
            ("hosts", &hosts("10.99.0.4")),
        ],
    );
    let mut cmd = n.agent(&[
        "inject",
        "bandwidth",
        "--rate",
        "10mbit",
        "--interface",
        &n.a_if,
        "--aws-region",
        "xx-test-1",
        "--duration",
        "60s",
        "--detach",
    ]);
    cmd.env("FAULTLINE_AGENT_RERESOLVE_MS", "200");
    applied_ok(&cmd.output().unwrap());
    let filters = || {
        sh(
            "ip",
            &[
                "netns", "exec", &n.a, "tc", "filter", "show", "dev", &n.a_if, "parent", "1:",
            ],
        )
    };
    // u32 prints the address in hex: 10.99.0.4 is 0a630004.
    assert!(filters().contains("0a630004/ffffffff"), "{}", filters());
    assert!(!filters().contains("0a630006/ffffffff"));
    std::fs::write(etc.0.join("hosts"), hosts("10.99.0.6")).unwrap();
    poll(
        "a u32 filter exempting 10.99.0.6",
        Duration::from_secs(5),
        || filters().contains("0a630006/ffffffff").then_some(()),
    );
}

//! An abort, timed in network namespaces the test makes: a network fault (blackhole, loss,
//! bandwidth) runs under `inject` (in a process group of its own, as SSM runs a command), and
//! the experiment is aborted as the SSM document's `Mode=rollback` does it: a separate command
//! whose script `exec`s `faultline-agent rollback <id>` (or `rollback --all` when `FaultId` is
//! empty). Here that is `sh -c 'exec faultline-agent ... rollback <id>'` started from inside
//! the fault's namespace, so no `ip netns exec` is in the measured path.
//!
//! Two times per abort, both from the start of the rollback process: "no nftables table and no
//! qdisc left" (polled from inside the namespace, as `cancel.rs` does for a cancel) and the
//! rollback process's exit (waited for on a thread of its own).
//!
//! `abort_benchmark_20_repetitions` (ignored; `--run-ignored only`) prints the medians over 20
//! aborts per fault, the numbers in the README.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// How long an abort may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(2);

/// One abort's times, from the start of the rollback process.
#[derive(Clone, Copy)]
struct Abort {
    /// To "no nftables table and no qdisc left".
    clean: Duration,
    /// To the rollback process's exit.
    exited: Duration,
}

/// Starts `rollback <id>` (or `rollback --all` for `None`) from a thread inside namespace
/// `ns`, the way the document's script runs it (`sh`, then `exec` of the agent), and polls
/// until no rule is left. Returns the times and the rollback's output; `clean` is `None` when
/// a rule is still there after [`DEADLINE`].
fn rollback_and_time(n: &NetPair, id: Option<&str>) -> (Option<Duration>, Duration, Output) {
    let iface = n.a_if.clone();
    let state = n.state.str().to_owned();
    let target = id.unwrap_or("--all").to_owned();
    let (clean, rx) = in_ns(&n.a, move || {
        assert!(
            rules_left_here(&iface),
            "the fault is in place before the abort"
        );
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            r#"exec "$0" --state-dir "$1" rollback "$2""#,
            AGENT,
            &state,
            &target,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let t = Instant::now();
        let child = cmd.spawn().expect("starting the rollback");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let out = child.wait_with_output().expect("waiting for the rollback");
            let _ = tx.send((t.elapsed(), out));
        });
        let clean = loop {
            if !rules_left_here(&iface) {
                break Some(t.elapsed());
            }
            if t.elapsed() > DEADLINE {
                break None;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        (clean, rx)
    });
    let (exited, out) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the rollback process exits");
    (clean, exited, out)
}

/// Runs `inject <kind>` (60 s) in a process group of its own, waits until it is applied, and
/// aborts it with `rollback <id>` (`by_id`) or `rollback --all`. Fails unless no rule is left
/// within 2 s, the rollback exits 0 having rolled back this fault, `inject` relays it and exits
/// 0, the guardian is gone, and nothing else is left.
fn abort_once(n: &NetPair, kind: &str, by_id: bool) -> Abort {
    let before = n.snapshot();
    let mut cmd = n.agent(
        &fault(kind, &n.a_if, "60s")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    cmd.process_group(0);
    let mut agent = Running::start(cmd);
    let applied = agent.wait_for("applied", Duration::from_secs(10));
    let id = applied["id"].as_str().unwrap().to_owned();
    let guardian = applied["guardian_pid"].as_i64().unwrap();
    let how = if by_id {
        "rollback <id>"
    } else {
        "rollback --all"
    };
    let (clean, exited, out) = rollback_and_time(n, by_id.then_some(id.as_str()));
    let clean = clean.unwrap_or_else(|| panic!("{kind}: a rule is still there 2 s after {how}"));
    assert!(
        out.status.success(),
        "{kind}: {how} exits 0: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = events(&out.stdout);
    let rb = find(&ev, "rolled_back");
    assert_eq!(rb["id"], id.as_str(), "{rb}");
    assert_eq!(rb["reason"], "requested", "{rb}");
    assert_eq!(find(&ev, "rollback_done")["rolled_back"], 1);
    // inject, still waiting as an SSM command would, relays the rollback and exits 0.
    let relayed = agent.wait_for("rolled_back", Duration::from_secs(5));
    assert_eq!(relayed["reason"], "requested", "{relayed}");
    assert_eq!(
        agent.child.wait().unwrap().code(),
        Some(0),
        "{kind}: inject"
    );
    poll("the guardian to exit", Duration::from_secs(5), || {
        (!alive(guardian)).then_some(())
    });
    assert_eq!(
        n.snapshot(),
        before,
        "{kind}: nft ruleset and qdiscs as before"
    );
    assert!(n.state_files().is_empty(), "{kind}: state left");
    let events = std::fs::read_to_string(n.state.path().join("events.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(&last_line_for(&events, &id)).unwrap();
    assert_eq!(last["event"], "rolled_back", "{last}");
    Abort { clean, exited }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Prints the medians (and worst) of `v` for `what`.
fn report(what: &str, v: &[Abort]) {
    let clean: Vec<Duration> = v.iter().map(|a| a.clean).collect();
    let exited: Vec<Duration> = v.iter().map(|a| a.exited).collect();
    println!(
        "MEASURE abort {what}: rollback started -> no rule: median {:.1} ms (max {:.1}); \
         -> rollback exited: median {:.1} ms (max {:.1}) over {}",
        ms(median(clean.clone())),
        ms(*clean.iter().max().unwrap()),
        ms(median(exited.clone())),
        ms(*exited.iter().max().unwrap()),
        v.len()
    );
}

/// `reps` aborts of `kind` in a fresh namespace pair: `rollback <id>`, except the last, which
/// is `rollback --all` when `last_by_all`.
fn abort_repeatedly(tag: &str, kind: &str, reps: usize, last_by_all: bool) -> Vec<Abort> {
    let n = NetPair::new(tag);
    let v: Vec<Abort> = (0..reps)
        .map(|i| abort_once(&n, kind, !(last_by_all && i + 1 == reps)))
        .collect();
    if last_by_all {
        let a = v[reps - 1];
        println!(
            "MEASURE abort {kind} by rollback --all: no rule after {:.1} ms, exited after {:.1} ms",
            ms(a.clean),
            ms(a.exited)
        );
    }
    report(kind, &v);
    v
}

#[test]
fn abort_by_rollback_id_leaves_no_blackhole_rule_within_2s() {
    abort_repeatedly("ab", "blackhole", 1, false);
}

#[test]
fn abort_by_rollback_all_leaves_no_loss_rule_within_2s() {
    abort_repeatedly("al", "loss", 1, true);
}

/// The README's numbers: 20 aborts per fault (19 by `rollback <id>`, the last by `rollback
/// --all`), the median times to clean and to the rollback's exit.
#[test]
#[ignore = "a benchmark: cargo nextest run -p faultline-agent --run-ignored only -E 'test(abort_benchmark)'"]
fn abort_benchmark_20_repetitions() {
    let mut all = Vec::new();
    for (tag, kind) in [("yb", "blackhole"), ("yl", "loss"), ("yw", "bandwidth")] {
        all.extend(abort_repeatedly(tag, kind, 20, true));
    }
    report("all", &all);
}

//! The process-matching tests: the protected set, vital names, breadth limits.
use super::*;
use faultline_faults::{Fault, RawArgs};

fn kill(raw: RawArgs) -> KillFault {
    match Fault::from_raw("kill", &raw).unwrap() {
        Fault::Kill(k) => k,
        other => panic!("{other:?}"),
    }
}

fn pattern(p: &str, allow_vital: bool) -> KillFault {
    kill(RawArgs {
        pattern: Some(p.into()),
        allow_vital: allow_vital.then_some(true),
        ..RawArgs::default()
    })
}

fn proc(pid: i32, ppid: i32, exe: Option<&str>, args: &[&str]) -> Proc {
    let comm: String = exe
        .map(base)
        .or(args.first().map(|a| base(a)))
        .unwrap_or("kworker/0:1")
        .chars()
        .take(15)
        .collect();
    Proc {
        pid,
        ppid,
        start: pid as u64,
        exe: exe.map(str::to_owned),
        comm,
        args: args.iter().map(|a| a.to_string()).collect(),
    }
}

fn host() -> Vec<Proc> {
    vec![
        proc(1, 0, Some("/usr/lib/systemd/systemd"), &["/sbin/init", "x"]),
        proc(2, 0, None, &[]),
        proc(3, 2, None, &[]),
        proc(
            10,
            1,
            Some("/usr/bin/amazon-ssm-agent"),
            &["/usr/bin/amazon-ssm-agent", "x"],
        ),
        proc(
            11,
            10,
            Some("/usr/bin/ssm-agent-worker"),
            &["/usr/bin/ssm-agent-worker", "x"],
        ),
        proc(
            12,
            1,
            Some("/usr/sbin/sshd"),
            &["sshd: /usr/sbin/sshd -D x"],
        ),
        proc(
            13,
            1,
            Some("/usr/lib/systemd/systemd-journald"),
            &["/usr/lib/systemd/systemd-journald", "x"],
        ),
        proc(
            14,
            1,
            Some("/opt/x/faultline-agent"),
            &["faultline-agent", "guardian", "x"],
        ),
        proc(20, 1, Some("/usr/bin/app"), &["app", "x"]),
        proc(21, 1, Some("/usr/bin/app"), &["app", "x"]),
        proc(22, 11, Some("/bin/sh"), &["sh", "-c", "x"]),
        proc(30, 1, Some("/usr/bin/a"), &["a"]),
        proc(31, 1, Some("/usr/bin/b"), &["b"]),
        proc(32, 1, Some("/usr/bin/c"), &["c"]),
        proc(33, 1, Some("/usr/bin/d"), &["d"]),
    ]
}

fn pids(s: &Selection) -> Vec<i32> {
    s.targets.iter().map(|p| p.pid).collect()
}

#[test]
fn the_protected_set_is_never_hit_and_vital_services_only_when_allowed() {
    let keep = [ProcRef { pid: 22, start: 22 }];
    // Every process carries "x" in its command line; kernel threads have none.
    let s = select_from(&host(), &pattern("x", false), &keep, None);
    assert_eq!(pids(&s), [20, 21]);
    let why: Vec<(i32, &str)> = s.spared.iter().map(|(p, w)| (*p, w.as_str())).collect();
    assert!(why.contains(&(1, "PID 1")), "{why:?}");
    assert!(why
        .iter()
        .any(|(p, w)| *p == 10 && w.contains("protected (amazon-ssm-agen")));
    assert!(why
        .iter()
        .any(|(p, w)| *p == 11 && w.contains("protected (ssm-agent-worke")));
    assert!(why
        .iter()
        .any(|(p, w)| *p == 12 && w.contains("vital (sshd)")));
    assert!(why
        .iter()
        .any(|(p, w)| *p == 13 && w.contains("vital (systemd-journal")));
    assert!(why
        .iter()
        .any(|(p, w)| *p == 14 && w.contains("protected (faultline-agent")));
    assert!(why
        .iter()
        .any(|(p, w)| *p == 22 && w.contains("started it")));
    // allow_vital opens sshd and journald, never PID 1 or the rest.
    let s = select_from(&host(), &pattern("x", true), &keep, None);
    assert_eq!(pids(&s), [12, 13, 20, 21]);
    // Kernel threads, by name too (their comm is all they have).
    let mut h = host();
    h[2].comm = "ksoftirqd".into();
    let k = kill(RawArgs {
        name: Some("ksoftirqd".into()),
        ..RawArgs::default()
    });
    let s = select_from(&h, &k, &[], None);
    assert!(s.targets.is_empty());
    assert_eq!(s.spared, [(3, "a kernel thread".to_owned())]);
    // The agent's own executable, whatever it is called.
    let s = select_from(&host(), &pattern("^app", false), &[], Some("/usr/bin/app"));
    assert!(s.targets.is_empty(), "{s:?}");
    // Every process but the two kernel threads counts as a user process.
    assert_eq!(s.user_procs, 13);
}

#[test]
fn a_target_matching_more_than_a_few_or_half_the_host_is_refused_with_the_count() {
    let mut h = host();
    for pid in 40..46 {
        h.push(proc(pid, 1, Some("/usr/bin/w"), &["worker", "y"]));
    }
    let k = pattern("^worker", false);
    let e = select_from(&h, &k, &[], None)
        .check_breadth(&k.target)
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("--pattern matching /^worker/ matches 6 processes"),
        "{msg}"
    );
    assert!(msg.contains("narrow the pattern"), "{msg}");
    assert_eq!(crate::exit::code_of(&e), 3);
    // Five is allowed...
    h.pop();
    assert_eq!(
        select_from(&h, &k, &[], None)
            .check_breadth(&k.target)
            .unwrap()
            .targets
            .len(),
        5
    );
    // ...but not on a host where they are more than half of the user processes.
    let small: Vec<Proc> = h
        .into_iter()
        .filter(|p| p.pid >= 40 || p.pid == 30)
        .collect();
    let e = select_from(&small, &k, &[], None)
        .check_breadth(&k.target)
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("of the host's 6 user processes"),
        "{e:#}"
    );
}

//! The kill fault on processes the test starts. Each test copies `sleep` under a name of its
//! own, so parallel tests never match each other's processes.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use common::*;

struct Victim {
    exe: PathBuf,
    name: String,
    _dir: TempDir,
}

impl Victim {
    fn new(tag: &str) -> Self {
        Self::named(tag, &format!("flv{tag}{}", std::process::id()))
    }

    /// A copy of `sleep` called `name`, in a directory of its own.
    fn named(tag: &str, name: &str) -> Self {
        let dir = TempDir::new(&format!("victim-{tag}"));
        let name = name.to_owned();
        let exe = dir.path().join(&name);
        std::fs::copy("/bin/sleep", &exe).unwrap();
        Victim {
            exe,
            name,
            _dir: dir,
        }
    }

    fn start(&self) -> Child {
        spawn(Command::new(&self.exe).arg("1000"))
    }
}

/// Spawns `cmd`, retrying while the copied executable is "busy": another test thread may have
/// forked while the copy was still open for writing.
fn spawn(cmd: &mut Command) -> Child {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            r => return r.unwrap(),
        }
    }
}

fn gone(c: &mut Child) -> bool {
    c.try_wait().unwrap().is_some()
}

fn agent(state: &TempDir, args: &[&str]) -> Command {
    let mut c = Command::new(AGENT);
    c.arg("--state-dir").arg(state.path()).args(args);
    c
}

#[test]
fn kill_by_name_kills_the_process() {
    let v = Victim::new("k1");
    let state = TempDir::new("k1");
    let mut p = v.start();
    let out = agent(&state, &["inject", "kill", "--name", &v.name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = events(&out.stdout);
    assert_eq!(find(&ev, "killed")["pids"][0], p.id());
    poll("the victim to die", Duration::from_secs(5), || {
        gone(&mut p).then_some(())
    });
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(p.wait().unwrap().signal(), Some(9));
    // Nothing left to kill: a clear refusal.
    let out = agent(&state, &["inject", "kill", "--name", &v.name])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no running process"));
}

#[test]
fn kill_with_repeat_every_keeps_it_down_for_the_duration_only() {
    let v = Victim::new("k2");
    let state = TempDir::new("k2");
    let mut p = v.start();
    let out = agent(
        &state,
        &[
            "inject",
            "kill",
            "--name",
            &v.name,
            "--repeat-every",
            "0.3",
            "--duration",
            "4s",
            "--detach",
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = find(&events(&out.stdout), "applied")["deadline_ms"]
        .as_u64()
        .unwrap();
    poll("the first kill", Duration::from_secs(3), || {
        gone(&mut p).then_some(())
    });
    // The test restarts it; the agent kills it again, twice over.
    for round in 0..2 {
        let mut again = v.start();
        poll(
            &format!("kill after restart {round}"),
            Duration::from_secs(2),
            || gone(&mut again).then_some(()),
        );
    }
    // After the deadline the guardian stops and the process may live.
    poll("the fault to end", Duration::from_secs(10), || {
        (now_ms() > deadline && state_files(state.path()).is_empty()).then_some(())
    });
    let mut last = v.start();
    let watch = std::time::Instant::now();
    while watch.elapsed() < Duration::from_millis(1200) {
        assert!(!gone(&mut last), "killed after the fault ended");
        std::thread::sleep(Duration::from_millis(50));
    }
    last.kill().unwrap();
    last.wait().unwrap();
}

#[test]
fn wait_restart_reports_when_the_process_came_back() {
    let v = Victim::new("k3");
    let state = TempDir::new("k3");
    let mut p = v.start();
    let mut agent = Running::start(agent(
        &state,
        &["inject", "kill", "--name", &v.name, "--wait-restart", "10"],
    ));
    agent.wait_for("killed", Duration::from_secs(5));
    poll("the victim to die", Duration::from_secs(5), || {
        gone(&mut p).then_some(())
    });
    // The "service manager" (this test) restarts it a little later.
    std::thread::sleep(Duration::from_millis(700));
    let restarted_at = now_ms();
    let mut again = v.start();
    let ev = agent.wait_for("restarted", Duration::from_secs(10));
    let reported = ev["restarted_at_ms"].as_u64().unwrap();
    let diff = reported as i64 - restarted_at as i64;
    println!(
        "MEASURE wait-restart reported restart_ms={} ({diff} ms after the real restart)",
        ev["restart_ms"]
    );
    assert!(diff.abs() <= 500, "reported {diff} ms off");
    assert_eq!(ev["pid"], again.id());
    assert!(ev["restart_ms"].as_u64().unwrap() >= 600);
    again.kill().unwrap();
    again.wait().unwrap();
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn reap(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

#[test]
fn a_vital_name_is_refused_and_a_vital_process_spared_unless_allow_vital() {
    let state = TempDir::new("k4");
    // Named outright, a vital service is refused before anything is looked at.
    for name in ["systemd", "sshd", "systemd-journald"] {
        let out = agent(
            &state,
            &["inject", "kill", "--name", name, "--signal", "INT"],
        )
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("allow_vital: true"),
            "{}",
            stderr(&out)
        );
    }
    // Reached through a pattern, a process with a vital name (this one's comm starts with
    // "systemd") is spared...
    let v = Victim::named("k4", &format!("systemd-fl{}", std::process::id() % 100_000));
    let mut p = v.start();
    let out = agent(&state, &["inject", "kill", "--pattern", &v.name])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no running process"), "{err}");
    assert!(
        err.contains(&format!("pid {}: vital (systemd-fl", p.id())),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !gone(&mut p),
        "a vital process was killed without allow_vital"
    );
    // ...unless the fault says allow_vital.
    let out = agent(
        &state,
        &["inject", "kill", "--pattern", &v.name, "--allow-vital"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    poll("the victim to die", Duration::from_secs(5), || {
        gone(&mut p).then_some(())
    });
}

#[test]
fn the_ssm_agent_is_spared_even_with_allow_vital() {
    let state = TempDir::new("k5");
    let out = agent(
        &state,
        &[
            "inject",
            "kill",
            "--name",
            "ssm-session-worker",
            "--allow-vital",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is protected"), "{}", stderr(&out));
    let v = Victim::named("k5", "ssm-session-worker");
    let mut p = v.start();
    // The victim's directory makes the pattern match this copy only.
    let dir = v
        .exe
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let pat = format!("{dir}/ssm-session-worker");
    let out = agent(
        &state,
        &["inject", "kill", "--pattern", &pat, "--allow-vital"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("protected (ssm-session-wor"),
        "{}",
        stderr(&out)
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(!gone(&mut p));
    reap(p);
}

#[test]
fn a_target_matching_more_than_five_processes_is_refused_with_the_count() {
    let v = Victim::new("k6");
    let state = TempDir::new("k6");
    let mut ps: Vec<Child> = (0..6).map(|_| v.start()).collect();
    poll("six victims", Duration::from_secs(5), || {
        ps.iter().all(|p| alive(p.id() as i64)).then_some(())
    });
    for (flag, value) in [("--name", v.name.as_str()), ("--pattern", v.name.as_str())] {
        for extra in [&[][..], &["--repeat-every", "0.5", "--duration", "2s"]] {
            let out = agent(&state, &["inject", "kill", flag, value])
                .args(extra)
                .output()
                .unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(3), "{flag} {extra:?}: {err}");
            assert!(err.contains(&format!("kill: {flag} ")), "{err}");
            assert!(err.contains("matches 6 processes"), "{err}");
            assert!(err.contains("nothing was killed"), "{err}");
            assert!(state_files(state.path()).is_empty());
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(ps.iter_mut().all(|p| !gone(p)), "a victim was killed");
    // Five are within the limit.
    reap(ps.pop().unwrap());
    poll("five victims", Duration::from_secs(5), || {
        (ps.iter().filter(|p| alive(p.id() as i64)).count() == 5).then_some(())
    });
    let out = agent(&state, &["inject", "kill", "--name", &v.name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        find(&events(&out.stdout), "killed")["pids"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    for mut p in ps {
        poll("a victim to die", Duration::from_secs(5), || {
            gone(&mut p).then_some(())
        });
    }
}

#[test]
fn a_reparented_guardian_still_spares_the_processes_that_started_the_agent() {
    // The "SSM agent worker" here is a shell whose command line matches the pattern: it runs
    // the agent with --detach, so the guardian is re-parented to init while it keeps killing.
    let state = TempDir::new("k7");
    let dir = TempDir::new("victim-k7");
    let name = format!("flpar{}", std::process::id());
    let sh = dir.path().join(&name);
    std::fs::copy("/bin/sh", &sh).unwrap();
    let script = format!(
        "{AGENT} --state-dir {} inject kill --pattern {name} --repeat-every 0.2 \
         --duration 3s --detach >/dev/null 2>&1 || exit 7; sleep 2; exit 0",
        state.str()
    );
    let mut parent = spawn(Command::new(&sh).arg("-c").arg(&script));
    let status = poll("the parent to exit", Duration::from_secs(15), || {
        parent.try_wait().unwrap()
    });
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        (status.code(), status.signal()),
        (Some(0), None),
        "the guardian killed the process that started the agent"
    );
    poll("the fault to end", Duration::from_secs(10), || {
        state_files(state.path()).is_empty().then_some(())
    });
}

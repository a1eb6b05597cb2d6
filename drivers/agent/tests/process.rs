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
        let dir = TempDir::new(&format!("victim-{tag}"));
        let name = format!("flv{tag}{}", std::process::id());
        let exe = dir.path().join(&name);
        std::fs::copy("/bin/sleep", &exe).unwrap();
        Victim {
            exe,
            name,
            _dir: dir,
        }
    }

    fn start(&self) -> Child {
        Command::new(&self.exe).arg("1000").spawn().unwrap()
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

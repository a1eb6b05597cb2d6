//! The SSM document's script (`terraform/documents/faultline-agent.json`), run with `sh` as SSM
//! runs it: parameters substituted, Terraform's `${...}` rendered for `upload_agent = false`,
//! and `/usr/local/bin/faultline-agent` swapped for a wrapper that runs the agent under test
//! with a state directory of the test's own. Checks `Mode=rollback` (one `FaultId`, or all),
//! `Mode=inject`, and a cancel as SSM does it: SIGKILL of the script's whole process group.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

const DOCUMENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../terraform/documents/faultline-agent.json"
);

/// A host for the script: the wrapper standing in for /usr/local/bin/faultline-agent, and the
/// agent's state directory.
struct Host {
    dir: TempDir,
    agent: PathBuf,
}

impl Host {
    fn new(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        let agent = dir.path().join("faultline-agent");
        let state = dir.path().join("state");
        std::fs::write(
            &agent,
            format!(
                "#!/bin/sh\nexec {AGENT} --state-dir {} \"$@\"\n",
                state.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
        Host { dir, agent }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The script with these parameters (the document's defaults for the others), rendered
    /// for `upload_agent = false`.
    fn script(&self, params: &[(&str, &str)]) -> String {
        self.script_with_sha(params, "")
    }

    /// The same, rendered with this SHA-256 of the agent to install (a download from S3 when
    /// the installed binary's differs).
    fn script_with_sha(&self, params: &[(&str, &str)], sha: &str) -> String {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(DOCUMENT).unwrap()).unwrap();
        let mut values: Vec<(String, String)> = doc["parameters"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v["default"].as_str().unwrap_or("").to_owned()))
            .collect();
        for (k, v) in params {
            let p = &doc["parameters"][*k];
            assert!(p.is_object(), "the document has no parameter {k}");
            let re = p["allowedPattern"].as_str().unwrap();
            assert!(matches(re, v), "{k}={v:?} does not match {re}");
            values.retain(|(n, _)| n != k);
            values.push(((*k).to_owned(), (*v).to_owned()));
        }
        doc["mainSteps"][0]["inputs"]["runCommand"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let mut l = l.as_str().unwrap().to_owned();
                if l == "agent=/usr/local/bin/faultline-agent" {
                    l = format!("agent={}", self.agent.display());
                }
                for (k, v) in &values {
                    l = l.replace(&format!("{{{{ {k} }}}}"), v);
                }
                l.replace("{{ global:REGION }}", "xx-test-1")
                    .replace("${agent_sha256}", sha)
                    .replace("${agent_s3_uri}", "s3://nowhere/faultline-agent")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn command(&self, params: &[(&str, &str)]) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", &self.script(params)]);
        c
    }

    fn run(&self, params: &[(&str, &str)]) -> Output {
        self.command(params).output().unwrap()
    }

    /// Starts a 60 s cpu fault (1 % of one worker) with `inject --detach`; returns its id.
    fn detached_cpu(&self) -> String {
        let out = Command::new(&self.agent)
            .args([
                "inject",
                "cpu",
                "--workers",
                "1",
                "--load-percent",
                "1",
                "--duration",
                "60s",
                "--detach",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        find(&events(&out.stdout), "applied")["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// Whether `v` matches the document's pattern (the few shapes it uses, checked with grep -E).
fn matches(re: &str, v: &str) -> bool {
    Command::new("grep")
        .args([
            "-Eqx",
            "--",
            re.trim_start_matches('^').trim_end_matches('$'),
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(format!("{v}\n").as_bytes())
                .unwrap();
            c.wait().unwrap().success()
        })
        .unwrap()
}

fn ok(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "{:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    events(&out.stdout)
}

#[test]
fn the_document_declares_mode_and_fault_id_and_says_what_a_cancel_does() {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(DOCUMENT).unwrap()).unwrap();
    let p = &doc["parameters"];
    assert_eq!(p["Mode"]["default"], "inject");
    assert_eq!(
        p["Mode"]["allowedValues"],
        serde_json::json!(["inject", "rollback"])
    );
    assert_eq!(p["Mode"]["allowedPattern"], "^(inject|rollback)$");
    assert_eq!(p["FaultId"]["default"], "");
    // Every default passes its own pattern (SSM checks them).
    for (name, v) in p.as_object().unwrap() {
        if let Some(d) = v["default"].as_str() {
            assert!(matches(v["allowedPattern"].as_str().unwrap(), d), "{name}");
        }
    }
    // No quote can break out of the single-quoted places the new values go.
    for name in ["Mode", "FaultId"] {
        assert!(!p[name]["allowedPattern"].as_str().unwrap().contains('\''));
    }
    let d = doc["description"].as_str().unwrap();
    assert!(d.contains("SIGKILL") && d.contains("process group"), "{d}");
    assert!(d.contains("rolls the fault back at once"), "{d}");
    // Nothing but Terraform's own two placeholders looks like a template to templatefile.
    let text = std::fs::read_to_string(DOCUMENT).unwrap();
    assert_eq!(
        text.matches("${").count(),
        2,
        "only ${{agent_sha256}} and ${{agent_s3_uri}}"
    );
    assert!(!text.contains("%{"));
}

#[test]
fn mode_rollback_rolls_back_one_fault_by_id_or_all_and_reports_the_agents_exit() {
    let h = Host::new("doc-rb");
    let a = h.detached_cpu();
    let b = h.detached_cpu();
    assert_eq!(state_files(&h.state()).len(), 2);

    // One fault by FaultId; the other stays.
    let ev = ok(&h.run(&[("Mode", "rollback"), ("FaultId", &a)]));
    assert_eq!(find(&ev, "rolled_back")["id"], a.as_str());
    assert_eq!(find(&ev, "rolled_back")["reason"], "requested");
    assert_eq!(state_files(&h.state()), [format!("{b}.json")]);

    // No FaultId: all of them, and again (idempotent: nothing to do).
    let ev = ok(&h.run(&[("Mode", "rollback")]));
    assert_eq!(find(&ev, "rollback_done")["rolled_back"], 1);
    assert!(state_files(&h.state()).is_empty());
    let ev = ok(&h.run(&[("Mode", "rollback")]));
    assert_eq!(find(&ev, "rollback_done")["rolled_back"], 0);
    // A FaultId that is not active: nothing to do, exit 0.
    let ev = ok(&h.run(&[("Mode", "rollback"), ("FaultId", &a)]));
    find(&ev, "not_active");

    // Nothing is downloaded, even when the installed agent's hash is not the one rendered (a
    // fault may be cutting the network): no `aws` on PATH, and still exit 0.
    let out = Command::new("sh")
        .args([
            "-c",
            &h.script_with_sha(&[("Mode", "rollback")], &"0".repeat(64)),
        ])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    ok(&out);

    // The agent is not installed: nothing to roll back, said as the agent would.
    std::fs::remove_file(&h.agent).unwrap();
    let ev = ok(&h.run(&[("Mode", "rollback")]));
    assert_eq!(find(&ev, "rollback_done")["rolled_back"], 0);
}

#[test]
fn mode_inject_needs_a_duration_and_runs_the_fault_to_its_end() {
    let h = Host::new("doc-in");
    let out = h.run(&[("Fault", "cpu"), ("Args", "--workers 1 --load-percent 1")]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Duration is required"));

    let t = Instant::now();
    let ev = ok(&h.run(&[
        ("Mode", "inject"),
        ("Fault", "cpu"),
        ("Args", "--workers 1 --load-percent 1"),
        ("Duration", "1s"),
    ]));
    assert!(t.elapsed() >= Duration::from_secs(1));
    find(&ev, "applied");
    assert_eq!(find(&ev, "rolled_back")["reason"], "deadline");
    assert!(state_files(&h.state()).is_empty());
}

#[test]
fn a_cancelled_command_sigkill_of_its_process_group_rolls_the_fault_back_at_once() {
    let h = Host::new("doc-cx");
    let mut cmd = h.command(&[
        ("Fault", "cpu"),
        ("Args", "--workers 1 --load-percent 1"),
        ("Duration", "60s"),
    ]);
    cmd.process_group(0);
    let mut script = Running::start(cmd);
    let applied = script.wait_for("applied", Duration::from_secs(10));
    let guardian = applied["guardian_pid"].as_i64().unwrap();
    let pgid = script.child.id() as i32;
    let t = Instant::now();
    // SAFETY: kill(2) of the process group the test started, as SSM does on cancel.
    assert_eq!(unsafe { libc::kill(-pgid, libc::SIGKILL) }, 0);
    poll(
        "the fault to be rolled back",
        Duration::from_secs(2),
        || state_files(&h.state()).is_empty().then_some(()),
    );
    println!(
        "MEASURE document cancel: state gone {:.1} ms after the SIGKILL",
        t.elapsed().as_secs_f64() * 1000.0
    );
    poll("the guardian to exit", Duration::from_secs(2), || {
        (!alive(guardian)).then_some(())
    });
    let log = std::fs::read_to_string(h.state().join("events.jsonl")).unwrap();
    assert!(log.contains("\"reason\":\"inject_died\""), "{log}");
}

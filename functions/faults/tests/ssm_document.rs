//! The SSM document under terraform/documents/ agrees with these types: every parameter has an
//! `allowedPattern`, `Args` lets through exactly [`SSM_ARGS_PATTERN`], `Fault` lists every
//! kind, and user input is never placed inside a quoted shell string it could escape from.

use faultline_faults::{FaultKind, ALL_KINDS, SSM_ARGS_PATTERN};
use serde_json::Value;

fn document() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../terraform/documents/faultline-agent.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn every_parameter_has_an_allowed_pattern_and_args_matches_the_crate() {
    let doc = document();
    let params = doc["parameters"].as_object().unwrap();
    for (name, p) in params {
        assert!(
            p["allowedPattern"].is_string(),
            "{name} has no allowedPattern"
        );
        assert!(p["description"].is_string(), "{name} has no description");
    }
    assert_eq!(params["Args"]["allowedPattern"], SSM_ARGS_PATTERN);
    let kinds = ALL_KINDS.map(FaultKind::name).join("|");
    assert_eq!(params["Fault"]["allowedPattern"], format!("^({kinds})$"));
}

#[test]
fn the_script_passes_args_unquoted_with_globbing_off_and_runs_the_agent() {
    let doc = document();
    let lines: Vec<&str> = doc["mainSteps"][0]["inputs"]["runCommand"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(lines.contains(&"set -f"));
    let exec = lines.iter().find(|l| l.starts_with("exec ")).unwrap();
    assert!(exec.contains(" {{ Args }} "), "{exec}");
    assert!(exec.contains("inject '{{ Fault }}'"), "{exec}");
    assert!(exec.contains("--duration '{{ Duration }}'"), "{exec}");
    assert!(lines
        .iter()
        .any(|l| l.contains("aws s3 cp") && l.contains("\"$uri\"")));
    // No single quote can appear in a value that is single-quoted in the script.
    for p in ["Fault", "Duration"] {
        let pat = doc["parameters"][p]["allowedPattern"].as_str().unwrap();
        assert!(!pat.contains('\''), "{p}");
    }
}

/// Where the agent comes from is not the caller's to choose: no parameter names a location,
/// the script's location and hash are Terraform's (`${...}` rendered by templatefile), and it
/// checks the hash with sha256sum before installing.
#[test]
fn the_agent_location_and_hash_are_fixed_by_terraform_and_checked() {
    let doc = document();
    let params = doc["parameters"].as_object().unwrap();
    assert!(!params.contains_key("AgentS3Uri"), "{:?}", params.keys());
    let script = doc["mainSteps"][0]["inputs"]["runCommand"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(script.contains("want='${agent_sha256}'"), "{script}");
    assert!(script.contains("uri='${agent_s3_uri}'"), "{script}");
    assert!(script.contains("sha256sum \"$tmp\""), "{script}");
    assert!(!script.contains("{{ AgentS3Uri }}"), "{script}");
}

/// `--state-dir` and `--detach` are the agent's own (its guardian's): the script refuses Args
/// that carry them, before anything else.
#[test]
fn args_may_not_carry_state_dir_or_detach() {
    let doc = document();
    let lines: Vec<&str> = doc["mainSteps"][0]["inputs"]["runCommand"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let guard = lines
        .iter()
        .position(|l| l.contains("--state-dir") && l.contains("--detach"))
        .expect("a check of Args for --state-dir / --detach");
    let agent = lines.iter().position(|l| l.starts_with("agent=")).unwrap();
    assert!(guard < agent, "the check comes before any install");
    // Run the check itself with sh, Args substituted as SSM would.
    for (args, refused) in [
        ("--delay-ms 200", false),
        ("--state-dir /tmp/x", true),
        ("--delay-ms 1 --state-dir=/tmp/x", true),
        ("--detach", true),
        ("--name sshd --detach", true),
    ] {
        let snippet = format!(
            "set -eu\nset -f\n{}\nexit 0\n",
            lines[guard].replace("{{ Args }}", args)
        );
        let out = std::process::Command::new("sh")
            .args(["-c", &snippet])
            .output()
            .unwrap();
        assert_eq!(out.status.code() == Some(2), refused, "{args}: {out:?}");
        if refused {
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("not accepted in Args"),
                "{args}: {out:?}"
            );
        }
    }
}

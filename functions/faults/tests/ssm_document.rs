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
    for p in ["Fault", "Duration", "AgentS3Uri"] {
        let pat = doc["parameters"][p]["allowedPattern"].as_str().unwrap();
        assert!(!pat.contains('\''), "{p}");
    }
}

//! The spec's parsing and validation end to end: JSON text in, an [`Invocation`] or the
//! [`SpecError`] naming the bad field out.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

const FULL: &str = r#"{"execution_id": "0b9a-11ef-8f2e",
    "scheduled_time": "2026-11-23T10:00:00Z",
    "experiment": {
      "name": "web-terminate",
      "targets": {"resource": "asg-instance", "tags": {"app": "web"}, "asg_names": ["web-asg"]},
      "selection": {"mode": "percent", "value": 30},
      "action": {"type": "terminate"},
      "dry_run": false,
      "guards": {"stop_alarms": ["web-5xx"], "min_healthy": 1, "max_targets": 10,
                 "windows": [{"days": "MON-FRI", "start": "09:00", "end": "16:00", "tz": "Europe/London"}],
                 "probability": 1.0},
      "recovery": {"timeout": "30m", "alarms": ["web-5xx"]}}}"#;

fn parse(text: &str) -> Result<Invocation, SpecError> {
    Invocation::from_json_str(text, now(), 0xabcdef)
}

fn bare(patch: &str) -> String {
    // A minimal bare experiment with one field replaced by `patch` (a `"key": value` pair).
    let mut fields = vec![
        r#""name": "x""#.to_owned(),
        r#""targets": {"resource": "ec2-instance"}"#.to_owned(),
        r#""selection": {"mode": "count", "value": 1}"#.to_owned(),
        r#""action": {"type": "stop"}"#.to_owned(),
    ];
    if !patch.is_empty() {
        let key = patch.split(':').next().unwrap();
        fields.retain(|f| !f.starts_with(key));
        fields.push(patch.to_owned());
    }
    format!("{{{}}}", fields.join(","))
}

fn err(text: &str) -> SpecError {
    parse(text).expect_err("should be rejected")
}

#[test]
fn parses_the_scheduler_envelope() {
    let inv = parse(FULL).unwrap();
    assert_eq!(inv.execution_id.as_str(), "0b9a-11ef-8f2e");
    assert_eq!(inv.scheduled_time, Some(now()));
    let e = inv.experiment;
    assert_eq!(e.name, "web-terminate");
    assert_eq!(e.targets.resource, Resource::AsgInstance);
    assert_eq!(e.targets.tags.get("app").map(String::as_str), Some("web"));
    assert_eq!(e.selection, Selection::Percent(30.0));
    assert_eq!(e.action, Action::Terminate { via_asg: false });
    assert_eq!(e.guards.max_targets, Some(10));
    assert_eq!(e.guards.windows.len(), 1);
    assert_eq!(e.recovery.timeout, Duration::from_secs(1800));
    assert!(e.enabled && !e.dry_run && !e.notify_refusals);
}

#[test]
fn a_bare_experiment_gets_a_generated_id_and_defaults() {
    let inv = parse(&bare("")).unwrap();
    assert_eq!(
        inv.execution_id.as_str(),
        "manual-20261123T100000Z-00abcdef"
    );
    assert_eq!(inv.experiment.guards.probability, 1.0);
    assert_eq!(inv.experiment.recovery.timeout, DEFAULT_RECOVERY_TIMEOUT);
}

#[test]
fn an_envelope_without_execution_id_gets_one() {
    let text = format!(r#"{{"experiment": {}}}"#, bare(""));
    assert!(parse(&text)
        .unwrap()
        .execution_id
        .as_str()
        .starts_with("manual-"));
}

#[test]
fn rejects_input_that_is_not_json() {
    let e = err("terminate everything please");
    assert_eq!(e.path, ".");
    assert!(e.message.contains("not valid JSON"), "{e}");
    let e = err("[1, 2]");
    assert!(e.message.contains("got an array"), "{e}");
}

#[test]
fn rejects_unknown_fields_by_name() {
    let e = err(&bare(r#""dryrun": true"#));
    assert!(e.message.contains("unknown field `dryrun`"), "{e}");
    let e = err(&bare(
        r#""targets": {"resource": "ec2-instance", "tag": {}}"#,
    ));
    assert_eq!(e.path, "targets.tag");
    assert!(e.message.contains("unknown field `tag`"), "{e}");
    let text = FULL.replace("\"probability\": 1.0", "\"probabilty\": 1.0");
    let e = err(&text);
    assert_eq!(e.path, "experiment.guards.probabilty");
    assert!(e.message.contains("`probabilty`"), "{e}");
}

#[test]
fn rejects_an_unknown_action() {
    let e = err(&bare(r#""action": {"type": "explode"}"#));
    assert_eq!(e.path, "action.type");
    assert!(e.message.contains("unknown variant `explode`"), "{e}");
    assert!(e.message.contains("terminate"), "{e}");
}

#[test]
fn rejects_percent_out_of_range() {
    let e = err(&bare(r#""selection": {"mode": "percent", "value": 150}"#));
    assert_eq!(e.path, "selection.value");
    assert!(e.message.contains("between 0 and 100, got 150"), "{e}");
    let e = err(&bare(r#""selection": {"mode": "percent", "value": -1}"#));
    assert_eq!(e.path, "selection.value");
}

#[test]
fn rejects_empty_or_missing_targets() {
    let e = err(&bare(r#""targets": {}"#));
    assert_eq!(e.path, "targets");
    assert!(e.message.contains("missing field `resource`"), "{e}");
    let e = err(&bare(
        r#""targets": {"resource": "asg-instance", "asg_names": []}"#,
    ));
    assert_eq!(e.path, "targets.asg_names");
    assert!(e.message.contains("is empty"), "{e}");
    let e = err(r#"{"name": "x", "selection": {"mode": "all"}, "action": {"type": "stop"}}"#);
    assert!(e.message.contains("missing field `targets`"), "{e}");
}

#[test]
fn rejects_a_bad_window() {
    let text = FULL.replace("\"16:00\"", "\"25:00\"");
    let e = err(&text);
    assert_eq!(e.path, "experiment.guards.windows[0].end");
    assert!(e.message.contains("\"25:00\""), "{e}");
    let e = err(&FULL.replace("MON-FRI", "MON-FUN"));
    assert_eq!(e.path, "experiment.guards.windows[0].days");
    let e = err(&FULL.replace("Europe/London", "Europe/Londn"));
    assert_eq!(e.path, "experiment.guards.windows[0].tz");
    let e = err(&FULL.replace("\"16:00\"", "\"09:00\""));
    assert!(e.message.contains("equals start"), "{e}");
    let e = err(&FULL.replace("\"09:00\"", "\"9:00\""));
    assert_eq!(e.path, "experiment.guards.windows[0].start");
}

#[test]
fn rejects_other_bad_values() {
    for (patch, path) in [
        (r#""name": "web terminate""#, "name"),
        (r#""name": """#, "name"),
        (
            r#""selection": {"mode": "count", "value": 0}"#,
            "selection.value",
        ),
        (r#""selection": {"mode": "some"}"#, "selection.mode"),
        (r#""guards": {"probability": 1.5}"#, "guards.probability"),
        (r#""guards": {"max_targets": 0}"#, "guards.max_targets"),
        (r#""guards": {"min_healthy": -1}"#, "guards.min_healthy"),
        (
            r#""guards": {"stop_alarms": [""]}"#,
            "guards.stop_alarms[0]",
        ),
        (
            r#""guards": {"abort_alarms": ["ok", ""]}"#,
            "guards.abort_alarms[1]",
        ),
        (r#""recovery": {"timeout": "soon"}"#, "recovery.timeout"),
        (r#""recovery": {"timeout": "5s"}"#, "recovery.timeout"),
        (
            r#""action": {"type": "terminate", "via_asg": true}"#,
            "action.via_asg",
        ),
        (r#""action": {"type": "stop", "force": true}"#, "action"),
        (
            r#""action": {"type": "stop", "restart_after": "later"}"#,
            "action.restart_after",
        ),
        (
            r#""action": {"type": "stop", "restart_after": "5s"}"#,
            "action.restart_after",
        ),
        (
            r#""action": {"type": "stop", "restart_after": "45m"}"#,
            "action.restart_after",
        ),
        (r#""selection": {"mode": "all", "value": 3}"#, "selection"),
        (
            r#""targets": {"resource": "ec2-instance", "asg_names": ["a"]}"#,
            "targets.asg_names",
        ),
        (r#""targets": {"resource": "lambda"}"#, "targets.resource"),
    ] {
        let e = parse(&bare(patch)).expect_err(patch);
        assert_eq!(e.path, path, "{patch}: {e}");
    }
}

#[test]
fn parses_an_agent_action_with_the_agents_own_types() {
    let inv = parse(&bare(
        r#""action": {"type": "agent", "fault": "latency", "args": {"delay_ms": 200, "jitter_ms": 20}, "duration": "5m"}"#,
    ))
    .unwrap();
    let Action::Agent(a) = &inv.experiment.action else {
        panic!("{:?}", inv.experiment.action)
    };
    assert_eq!(a.duration, Duration::from_secs(300));
    assert_eq!(inv.experiment.action.name(), "agent");
    assert_eq!(
        a.ssm_parameters(),
        vec![
            ("Fault", "latency".to_owned()),
            ("Args", "--delay-ms 200 --jitter-ms 20".to_owned()),
            ("Duration", "300s".to_owned()),
        ]
    );
}

#[test]
fn rejects_bad_agent_arguments_by_path() {
    for (action, path, says) in [
        (
            r#"{"type": "agent", "fault": "latency", "args": {"delay_ms": -5}, "duration": "5m"}"#,
            "action.args.delay_ms",
            "got -5",
        ),
        (
            r#"{"type": "agent", "fault": "loss", "args": {"percent": 101}, "duration": "5m"}"#,
            "action.args.percent",
            "at most 100, got 101",
        ),
        (
            r#"{"type": "agent", "fault": "explode", "duration": "5m"}"#,
            "action.fault",
            "unknown fault",
        ),
        (
            r#"{"type": "agent", "fault": "blackhole", "args": {"to": ["10.0.0.0/33"]}, "duration": "5m"}"#,
            "action.args.to",
            "IPv4 CIDR",
        ),
        (
            r#"{"type": "agent", "fault": "latency", "args": {"delay_ms": 100}, "duration": "forever"}"#,
            "action.duration",
            "not a duration",
        ),
        (
            r#"{"type": "agent", "fault": "latency", "args": {"delay": 100}, "duration": "5m"}"#,
            // serde buffers an internally tagged enum, so the path stops at the action; the
            // message still names the field.
            "action",
            "unknown field `delay`",
        ),
        (
            r#"{"type": "agent", "fault": "kill", "args": {"pattern": "java .*Main$"}, "duration": "5m"}"#,
            "action.args.pattern",
            "SSM document",
        ),
        (
            r#"{"type": "agent", "fault": "latency", "args": {"delay_ms": 100}}"#,
            "action",
            "missing field `duration`",
        ),
    ] {
        let e = parse(&bare(&format!(r#""action": {action}"#))).expect_err(action);
        assert_eq!(e.path, path, "{action}: {e}");
        assert!(e.message.contains(says), "{action}: {e}");
    }
}

#[test]
fn rejects_a_bad_envelope() {
    let text = FULL.replace("0b9a-11ef-8f2e", "<aws.scheduler.execution-id>");
    let e = err(&text);
    assert_eq!(e.path, "execution_id");
    assert!(e.message.contains("placeholder"), "{e}");
    let e = err(&FULL.replace("0b9a-11ef-8f2e", "../../etc"));
    assert_eq!(e.path, "execution_id");
    let e = err(&FULL.replace("2026-11-23T10:00:00Z", "yesterday"));
    assert_eq!(e.path, "scheduled_time");
    let e = err(&FULL.replace("\"execution_id\"", "\"executionId\""));
    assert!(e.message.contains("`executionId`"), "{e}");
}

#[test]
fn tag_lengths_are_counted_in_characters_not_bytes() {
    let targets = |k: &str, v: &str| {
        bare(&format!(
            r#""targets": {{"resource": "ec2-instance", "tags": {{"{k}": "{v}"}}}}"#
        ))
    };
    // 128 characters of 2 and 3 bytes each (256 and 384 bytes): valid tag keys for AWS.
    for c in ['é', '日'] {
        let key: String = c.to_string().repeat(128);
        let value: String = c.to_string().repeat(256);
        let inv = parse(&targets(&key, &value)).expect("128-character key, 256-character value");
        assert_eq!(inv.experiment.targets.tags.get(&key), Some(&value));

        let long_key: String = c.to_string().repeat(129);
        let e = err(&targets(&long_key, "v"));
        assert_eq!(e.path, format!("targets.tags.{long_key}"));
        assert!(e.message.contains("1 to 128 characters"), "{e}");
        assert!(e.message.contains("a key of 129"), "{e}");

        let long_value: String = c.to_string().repeat(257);
        let e = err(&targets("k", &long_value));
        assert_eq!(e.path, "targets.tags.k");
        assert!(e.message.contains("a value of 257"), "{e}");
    }
    let e = err(&targets("", "v"));
    assert_eq!(e.path, "targets.tags.");
}

#[test]
fn a_selection_that_can_exceed_ten_targets_needs_max_targets() {
    // The issue's example: every opted-in standalone instance in the region, terminated.
    let e = err(
        r#"{"name": "x", "targets": {"resource": "ec2-instance"}, "selection": {"mode": "all"},
            "action": {"type": "terminate"}}"#,
    );
    assert_eq!(e.path, "guards.max_targets");
    assert!(
        e.message
            .contains("set guards.max_targets (at most how many instances one round may hit"),
        "{e}"
    );
    assert!(
        e.message.contains("selection \"all\" has no upper bound"),
        "{e}"
    );

    for (selection, says) in [
        (r#"{"mode": "all"}"#, "\"all\" has no upper bound"),
        (
            r#"{"mode": "percent", "value": 1}"#,
            "\"percent\" (1 %) grows with the fleet",
        ),
        (
            r#"{"mode": "percent", "value": 30, "per_group": true}"#,
            "\"percent\" (30 %) grows with the fleet",
        ),
        (
            r#"{"mode": "count", "value": 11}"#,
            "\"count\" of 11 is above the 10",
        ),
    ] {
        for resource in ["ec2-instance", "asg-instance"] {
            let spec = |guards: &str| {
                format!(
                    r#"{{"name": "x", "targets": {{"resource": "{resource}"}},
                        "selection": {selection}, "action": {{"type": "stop"}}{guards}}}"#
                )
            };
            // Without guards, and with guards that leave max_targets out.
            for guards in ["", r#", "guards": {"min_healthy": 1}"#] {
                let e = err(&spec(guards));
                assert_eq!(e.path, "guards.max_targets", "{selection} {resource}: {e}");
                assert!(e.message.contains(says), "{selection} {resource}: {e}");
                assert!(e.message.contains("\"max_targets\": 10"), "{e}");
            }
            // In the envelope the path is the experiment's.
            let e = err(&format!(r#"{{"experiment": {}}}"#, spec("")));
            assert_eq!(e.path, "experiment.guards.max_targets");
            // Any cap, even one above ten, makes it valid: the cap is the operator's choice.
            for cap in [1, 10, 500] {
                let inv = parse(&spec(&format!(r#", "guards": {{"max_targets": {cap}}}"#)))
                    .unwrap_or_else(|e| panic!("{selection} {resource} max_targets {cap}: {e}"));
                assert_eq!(inv.experiment.guards.max_targets, Some(cap));
            }
        }
    }

    // A count of at most ten is its own bound.
    for n in [1, 10] {
        let inv = parse(&bare(&format!(
            r#""selection": {{"mode": "count", "value": {n}}}"#
        )))
        .unwrap_or_else(|e| panic!("count {n}: {e}"));
        assert_eq!(inv.experiment.guards.max_targets, None);
        assert_eq!(inv.experiment.selection.upper_bound(), Some(n));
    }
}

fn lambda(action: &str) -> Result<Experiment, SpecError> {
    Experiment::from_json_str(&format!(
        r#"{{"name": "fn", "targets": {{"resource": "lambda-function"}},
            "selection": {{"mode": "count", "value": 2}}, "action": {action}}}"#
    ))
}

#[test]
fn lambda_actions_parse_with_their_duration() {
    let e = lambda(r#"{"type": "throttle", "duration": "10m"}"#).unwrap();
    assert_eq!(
        e.action,
        Action::Lambda(LambdaAction {
            kind: LambdaKind::Throttle,
            duration: Duration::from_secs(600)
        })
    );
    let e = lambda(r#"{"type": "disable-event-source", "duration": "20m"}"#).unwrap();
    assert_eq!(e.action.name(), "disable-event-source");
    let e = lambda(
        r#"{"type": "lambda-fault", "duration": "5m",
            "faults": {"latency": {"enabled": true, "percentage": 25, "min_latency": 100, "max_latency": 300}}}"#,
    )
    .unwrap();
    assert_eq!(e.action.name(), "lambda-fault");
}

#[test]
fn lambda_actions_and_instance_resources_do_not_mix() {
    let e = lambda(r#"{"type": "terminate"}"#).unwrap_err();
    assert_eq!(e.path, "action.type");
    assert!(e.message.contains("acts on EC2 instances"), "{e}");
    let e = err(&bare(
        r#""action": {"type": "throttle", "duration": "10m"}"#,
    ));
    assert_eq!(e.path, "action.type");
    assert!(e.message.contains("lambda-function"), "{e}");
}

#[test]
fn a_lambda_duration_is_bounded_and_before_the_recovery_timeout() {
    let e = lambda(r#"{"type": "throttle", "duration": "1s"}"#).unwrap_err();
    assert_eq!(e.path, "action.duration");
    let e = lambda(r#"{"type": "throttle"}"#).unwrap_err();
    assert!(e.message.contains("duration"), "{e}");
    let e = Experiment::from_json_str(
        r#"{"name": "fn", "targets": {"resource": "lambda-function"},
            "selection": {"mode": "count", "value": 2},
            "action": {"type": "throttle", "duration": "2h"}, "recovery": {"timeout": "1h"}}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "action.duration");
    assert!(e.message.contains("recovery timeout"), "{e}");
}

#[test]
fn a_lambda_fault_names_the_bad_flag_field() {
    let e = lambda(
        r#"{"type": "lambda-fault", "duration": "5m",
            "faults": {"latency": {"enabled": true, "percentage": 50.5}}}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "action.faults.latency.percentage");
    let e = lambda(r#"{"type": "lambda-fault", "duration": "5m", "faults": {}}"#).unwrap_err();
    assert_eq!(e.path, "action.faults");
}

fn zone_outage(targets: &str, selection: &str, action: &str) -> Result<Experiment, SpecError> {
    Experiment::from_json_str(&format!(
        r#"{{"name": "az", "targets": {targets}, "selection": {selection}, "action": {action},
            "guards": {{"max_targets": 10}}, "recovery": {{"timeout": "1h"}}}}"#
    ))
}

#[test]
fn an_az_outage_takes_one_zone_whole() {
    let ok = zone_outage(
        r#"{"resource": "asg-instance", "availability_zones": "random"}"#,
        r#"{"mode": "all"}"#,
        r#"{"type": "az-outage", "duration": "15m", "mode": "terminate", "network": true}"#,
    )
    .unwrap();
    assert_eq!(ok.targets.zones, Some(Zones::Random));
    assert_eq!(
        ok.action,
        Action::AzOutage(AzOutage {
            mode: AzMode::Terminate,
            network: true,
            duration: Duration::from_secs(900)
        })
    );
    let e = zone_outage(
        r#"{"resource": "asg-instance", "availability_zones": ["us-east-1a", "us-east-1b"]}"#,
        r#"{"mode": "all"}"#,
        r#"{"type": "az-outage", "duration": "15m"}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "targets.availability_zones");
    let e = zone_outage(
        r#"{"resource": "asg-instance", "availability_zones": ["us-east-1b"]}"#,
        r#"{"mode": "count", "value": 1}"#,
        r#"{"type": "az-outage", "duration": "15m"}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "selection");
    let e = zone_outage(
        r#"{"resource": "asg-instance", "availability_zones": ["us-east-1b"]}"#,
        r#"{"mode": "all"}"#,
        r#"{"type": "az-outage", "duration": "15m", "mode": "explode"}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "action.mode");
    let e = zone_outage(
        r#"{"resource": "asg-instance", "availability_zones": ["US East"]}"#,
        r#"{"mode": "all"}"#,
        r#"{"type": "stop"}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "targets.availability_zones[0]");
}

#[test]
fn toward_zones_applies_to_network_faults_only() {
    let e = Experiment::from_json_str(
        r#"{"name": "g", "targets": {"resource": "ec2-instance"}, "selection": {"mode": "count", "value": 1},
            "action": {"type": "agent", "fault": "kill", "args": {"name": "nginx"}, "duration": "5m",
                       "toward_zones": ["other"]}}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "action.toward_zones");
    let ok = Experiment::from_json_str(
        r#"{"name": "g", "targets": {"resource": "ec2-instance"}, "selection": {"mode": "count", "value": 1},
            "action": {"type": "agent", "fault": "latency", "args": {"delay_ms": 50}, "duration": "5m",
                       "toward_zones": ["other", "us-east-1c"]}}"#,
    )
    .unwrap();
    let Action::Agent(a) = ok.action else {
        panic!("an agent action")
    };
    assert_eq!(a.toward_zones, ["other", "us-east-1c"]);
    let limited = a.toward(&["10.0.2.0/24".to_owned()]).unwrap();
    assert!(limited
        .fault
        .to_args()
        .join(" ")
        .contains("--to 10.0.2.0/24"));
}

#[test]
fn a_hypothesis_parses_with_its_defaults_and_phases() {
    let e = parse(&bare(
        r#""hypothesis": {"max_ttr": "5m", "steady_state": [
            {"namespace": "faultline/traffic", "metric": "SuccessRate",
             "dimensions": {"Target": "web:80"}, "statistic": "Average",
             "comparison": ">=", "threshold": 99, "when": ["during", "before", "during"]},
            {"name": "p99", "namespace": "faultline/traffic", "metric": "Latency",
             "dimensions": {"Target": "web:80", "Percentile": "p99"}, "statistic": "Maximum",
             "comparison": "<=", "threshold": 300, "when": ["after"], "period": "5m"}]}"#,
    ))
    .unwrap()
    .experiment;
    let h = e.hypothesis.unwrap();
    assert_eq!(h.max_ttr_s, Some(300));
    assert_eq!((h.before_s, h.after_s), (DEFAULT_BEFORE_S, DEFAULT_AFTER_S));
    assert_eq!(h.regression_runs, DEFAULT_REGRESSION_RUNS);
    let c = &h.conditions[0];
    assert_eq!(c.name, "SuccessRate Average");
    assert_eq!(c.when, vec![Phase::Before, Phase::During]);
    assert_eq!((c.comparison, c.period_s), (Comparison::Ge, 60));
    assert!(c.comparison.holds(99.0, 99.0) && !c.comparison.holds(98.9, 99.0));
    assert_eq!(h.conditions[1].period_s, 300);
    assert_eq!(h.in_phase(Phase::After).count(), 1);
    assert_eq!(e.start, Start::Schedule);
}

#[test]
fn a_bad_hypothesis_names_its_field() {
    let cond = |patch: &str| {
        let base = r#""namespace": "n", "metric": "m", "statistic": "Average", "comparison": ">=", "threshold": 1, "when": ["during"]"#;
        let key = patch.split(':').next().unwrap();
        let kept: Vec<&str> = base.split(", ").filter(|f| !f.starts_with(key)).collect();
        bare(&format!(
            r#""hypothesis": {{"steady_state": [{{{}, {patch}}}]}}"#,
            kept.join(", ")
        ))
    };
    for (patch, path) in [
        (
            r#""statistic": "Median""#,
            "hypothesis.steady_state[0].statistic",
        ),
        (
            r#""statistic": "p100""#,
            "hypothesis.steady_state[0].statistic",
        ),
        (
            r#""comparison": "=>""#,
            "hypothesis.steady_state[0].comparison",
        ),
        (r#""when": []"#, "hypothesis.steady_state[0].when"),
        (r#""when": ["later"]"#, "hypothesis.steady_state[0].when"),
        (r#""period": "45s""#, "hypothesis.steady_state[0].period"),
        (r#""namespace": """#, "hypothesis.steady_state[0].namespace"),
    ] {
        assert_eq!(err(&cond(patch)).path, path, "{patch}");
    }
    assert!(parse(&cond(r#""statistic": "p99.9""#)).is_ok());
    assert_eq!(
        err(&bare(r#""hypothesis": {"max_ttr": "soon"}"#)).path,
        "hypothesis.max_ttr"
    );
    assert_eq!(
        err(&bare(r#""hypothesis": {"regression": {"factor": 0.9}}"#)).path,
        "hypothesis.regression.factor"
    );
    assert_eq!(
        err(&bare(r#""hypothesis": {"verdict": "pass"}"#)).path,
        "hypothesis.verdict"
    );
}

#[test]
fn freeze_dates_min_interval_and_random_start_parse_and_name_bad_fields() {
    let e = parse(&bare(
        r#""guards": {"freeze": [{"name": "Christmas", "from": "2026-12-24", "to": "2026-12-26", "tz": "Europe/London"},
                                 {"name": "Release day", "date": "2026-12-01"}],
                      "min_interval": "1d",
                      "windows": [{"days": "MON-FRI", "start": "10:00", "end": "16:00"}]},
           "start": "random""#,
    ))
    .unwrap()
    .experiment;
    assert_eq!(e.guards.freeze.len(), 2);
    assert_eq!(e.guards.freeze[0].tz, chrono_tz::Europe::London);
    assert_eq!(e.guards.freeze[1].from, e.guards.freeze[1].to);
    assert_eq!(e.guards.min_interval, Some(Duration::from_secs(86_400)));
    assert_eq!(e.start, Start::Random);

    for (patch, path) in [
        (
            r#""guards": {"freeze": [{"name": "x", "date": "24/12"}]}"#,
            "guards.freeze[0].date",
        ),
        (
            r#""guards": {"freeze": [{"name": "x", "from": "2026-12-26", "to": "2026-12-24"}]}"#,
            "guards.freeze[0].to",
        ),
        (
            r#""guards": {"freeze": [{"name": "x", "date": "2026-12-24", "from": "2026-12-24"}]}"#,
            "guards.freeze[0]",
        ),
        (
            r#""guards": {"freeze": [{"name": "", "date": "2026-12-24"}]}"#,
            "guards.freeze[0].name",
        ),
        (
            r#""guards": {"freeze": [{"name": "x", "date": "2026-12-24", "tz": "Mars/Base"}]}"#,
            "guards.freeze[0].tz",
        ),
        (r#""guards": {"min_interval": "5s"}"#, "guards.min_interval"),
        (r#""start": "random""#, "start"),
        (r#""start": "soon""#, "start"),
    ] {
        assert_eq!(err(&bare(patch)).path, path, "{patch}");
    }
}

#[test]
fn the_envelope_names_its_purpose_and_keeps_the_spec_as_given() {
    let inv = parse(&FULL.replacen('{', r#"{"phase": "plan-start", "#, 1)).unwrap();
    assert_eq!(inv.purpose, Purpose::PlanStart);
    assert_eq!(inv.spec["name"], "web-terminate");
    assert_eq!(parse(FULL).unwrap().purpose, Purpose::Run);
    assert_eq!(
        err(&FULL.replacen('{', r#"{"phase": "later", "#, 1)).path,
        "phase"
    );
    let inv = parse(&bare("")).unwrap();
    assert_eq!(inv.spec["name"], "x");
}

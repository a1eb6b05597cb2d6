//! The `faultline` binary against a private moto: validate, plan, run, halt / resume. Outcomes
//! are read back from moto.

use std::path::PathBuf;
use std::process::Output;

use anyhow::Result;
use aws_sdk_cloudwatch::types::StateValue;
use faultline_e2e::{Fleet, Moto, OPT_IN};
use serde_json::{json, Value};

struct Cli {
    moto: Moto,
    dir: PathBuf,
}

impl Cli {
    async fn start() -> Result<(Cli, Fleet)> {
        let moto = Moto::start().await?;
        let fleet = Fleet::new(&moto.sdk_config().await).await?;
        let dir =
            std::env::temp_dir().join(format!("faultline-cli-{}", faultline_e2e::free_port()));
        std::fs::create_dir_all(&dir)?;
        Ok((Cli { moto, dir }, fleet))
    }

    fn spec(&self, name: &str, spec: &Value) -> Result<PathBuf> {
        let p = self.dir.join(format!("{name}.json"));
        std::fs::write(&p, spec.to_string())?;
        Ok(p)
    }

    async fn run(&self, args: &[&str]) -> Result<Output> {
        Ok(
            tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
                .args(args)
                .envs(self.moto.env())
                .stdin(std::process::Stdio::null())
                .output()
                .await?,
        )
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn web(guards: Value) -> Value {
    json!({"name": "web", "targets": {"resource": "asg-instance", "tags": {"app": "web"}},
           "selection": {"mode": "count", "value": 2}, "action": {"type": "terminate"},
           "guards": guards})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_names_the_bad_field_and_calls_nothing() -> Result<()> {
    let (cli, _fleet) = Cli::start().await?;
    let good = cli.spec("good", &web(json!({})))?;
    let o = cli.run(&["validate", good.to_str().unwrap()]).await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let mut bad = web(json!({}));
    bad["selection"] = json!({"mode": "percent", "value": 150});
    let bad = cli.spec("bad", &bad)?;
    let o = cli.run(&["validate", bad.to_str().unwrap()]).await?;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("selection.value: a percentage must be between 0 and 100, got 150"),
        "{}",
        text(&o)
    );

    let not_json = cli.dir.join("not.json");
    std::fs::write(&not_json, "terminate everything")?;
    let o = cli.run(&["validate", not_json.to_str().unwrap()]).await?;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("not valid JSON"), "{}", text(&o));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_changes_nothing_and_names_the_refusing_guard() -> Result<()> {
    let (cli, fleet) = Cli::start().await?;
    let members = fleet
        .group("web-asg", 1, 4, 4, &[OPT_IN, ("app", "web")])
        .await?;
    fleet.alarm("web-5xx").await?;
    let topic = fleet.topic("t").await?;
    let spec = cli.spec("plan", &web(json!({"stop_alarms": ["web-5xx"]})))?;
    let before = fleet.states().await?;

    let o = cli.run(&["plan", spec.to_str().unwrap()]).await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("would hit 2"), "{out}");
    assert_eq!(
        members.iter().filter(|m| out.contains(m.as_str())).count(),
        2,
        "{out}"
    );

    fleet.set_alarm("web-5xx", StateValue::Alarm).await?;
    let o = cli
        .run(&["plan", "--output", "json", spec.to_str().unwrap()])
        .await?;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(r["refusals"][0]["guard"], "stop_alarm");

    assert_eq!(fleet.states().await?, before);
    assert!(fleet
        .params_under("/faultline/experiments")
        .await?
        .is_empty());
    assert!(cli.moto.sns_messages(&topic).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_needs_yes_without_a_terminal_and_acts_with_it() -> Result<()> {
    let (cli, fleet) = Cli::start().await?;
    let members = fleet
        .group("web-asg", 1, 4, 4, &[OPT_IN, ("app", "web")])
        .await?;
    let spec = cli.spec("run", &web(json!({})))?;

    let o = cli.run(&["run", spec.to_str().unwrap()]).await?;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--yes"));
    assert_eq!(fleet.in_state(&members, "terminated").await?.len(), 0);

    let o = cli
        .run(&["run", "--yes", "--output", "json", spec.to_str().unwrap()])
        .await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(r["outcome"], "acted");
    let mut hit: Vec<String> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["instance_id"].as_str().unwrap().to_owned())
        .collect();
    hit.sort();
    let mut gone = fleet.in_state(&members, "terminated").await?;
    gone.sort();
    assert_eq!(hit, gone);
    assert_eq!(gone.len(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_makes_the_next_round_refuse_and_resume_lifts_it() -> Result<()> {
    let (cli, fleet) = Cli::start().await?;
    let members = fleet
        .group("web-asg", 1, 4, 4, &[OPT_IN, ("app", "web")])
        .await?;
    let spec = cli.spec("halt", &web(json!({})))?;

    let o = cli.run(&["halt"]).await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = cli.run(&["run", "--yes", spec.to_str().unwrap()]).await?;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("refused by kill_switch"), "{}", text(&o));
    assert_eq!(fleet.in_state(&members, "terminated").await?.len(), 0);

    let o = cli.run(&["resume"]).await?;
    assert_eq!(o.status.code(), Some(0));
    let o = cli.run(&["run", "--yes", spec.to_str().unwrap()]).await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(fleet.in_state(&members, "terminated").await?.len(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_open_experiments_and_history_the_closed_with_their_ttr() -> Result<()> {
    let (cli, fleet) = Cli::start().await?;
    fleet
        .group("web-asg", 1, 4, 4, &[OPT_IN, ("app", "web")])
        .await?;
    let spec = cli.spec("status", &web(json!({})))?;
    let o = cli.run(&["run", "--yes", spec.to_str().unwrap()]).await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A closed record as the recovery timer leaves it.
    let closed = json!({"v": 1, "id": "old-1", "experiment": "api-stop", "status": "closed",
        "started_at": "2026-11-20T10:00:00Z", "action": "stop", "standalone": ["i-1"],
        "timeout_s": 1800, "outcome": "recovered",
        "closed": {"at": "2026-11-20T10:05:00Z", "recovered_at": "2026-11-20T10:02:31Z", "ttr_s": 151}});
    fleet
        .put_param("/faultline/experiments/old-1", &closed.to_string())
        .await?;

    let o = cli.run(&["status"]).await?;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("web")
            && out.contains("terminate 2 target(s) in web-asg")
            && out.contains("open"),
        "{out}"
    );
    assert!(!out.contains("api-stop"), "{out}");

    let o = cli.run(&["history"]).await?;
    let out = text(&o);
    assert!(
        out.contains("api-stop") && out.contains("recovered in 2m 31s"),
        "{out}"
    );
    assert!(!out.contains("terminate 2"), "{out}");

    let o = cli.run(&["history", "--output", "json"]).await?;
    let h: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(h[0]["closed"]["ttr_s"], 151);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_set_writes_what_the_layer_accepts_and_clear_removes_it() -> Result<()> {
    let (cli, fleet) = Cli::start().await?;
    let o = cli
        .run(&[
            "layer",
            "set",
            "checkout",
            "--latency",
            "100..400",
            "--percentage",
            "50",
            "--expires",
            "30m",
        ])
        .await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let params = fleet.params_under("/faultline/layer").await?;
    let written = &params["/faultline/layer/checkout"];
    let cfg = faultline_layer_engine::config::FaultConfig::parse(written)?;
    assert_eq!(cfg.mode_names(), vec!["latency"]);
    let v: Value = serde_json::from_str(written)?;
    assert_eq!(
        v["latency"],
        json!({"enabled": true, "percentage": 50.0, "min_latency": 100, "max_latency": 400})
    );
    let expires = chrono::DateTime::parse_from_rfc3339(v["expires_at"].as_str().unwrap())?;
    let left = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(28) && left <= chrono::Duration::minutes(30),
        "{left}"
    );

    let o = cli.run(&["layer", "show", "checkout"]).await?;
    assert!(text(&o).contains("active: latency"), "{}", text(&o));

    // Bad input changes nothing.
    for args in [
        &["layer", "set", "checkout", "--latency", "400..100"][..],
        &[
            "layer",
            "set",
            "checkout",
            "--percentage",
            "150",
            "--exception",
            "boom",
        ][..],
        &["layer", "set", "checkout"][..],
        &[
            "layer",
            "set",
            "checkout",
            "--statuscode",
            "200",
            "--expires",
            "soon",
        ][..],
    ] {
        let o = cli.run(args).await?;
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    }
    assert_eq!(
        &fleet.params_under("/faultline/layer").await?["/faultline/layer/checkout"],
        written
    );

    let o = cli.run(&["layer", "clear", "checkout"]).await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(fleet.params_under("/faultline/layer").await?.is_empty());
    Ok(())
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

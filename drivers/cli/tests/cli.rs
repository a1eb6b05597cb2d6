//! The `faultline` binary against a private moto: validate, plan, run (and its live follow of
//! the recovery), halt / resume (seen by the real monkey binary under the Lambda emulator),
//! status, history, layer, and `--output json` everywhere. Outcomes are read back from moto.
//!
//! Long by design: every command shares one Cli + Fleet; a split would only add test binaries.

use std::path::PathBuf;
use std::process::Output;

use anyhow::Result;
use aws_sdk_cloudwatch::types::StateValue;
use faultline_e2e::{instance_ids, Emulator, Fleet, Moto, OPT_IN};
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
        self.run_with(args, &[]).await
    }

    /// Runs the binary with moto's environment plus `env`, stdin closed (not a terminal). A
    /// deadline guards against a follow that never ends.
    async fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(args)
            .envs(self.moto.env())
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        tokio::time::timeout(std::time::Duration::from_secs(120), child)
            .await
            .map_err(|_| anyhow::anyhow!("faultline {args:?} did not finish within 120s"))?
            .map_err(Into::into)
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
    let o = cli.run(&["plan", spec.to_str().unwrap()]).await?;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("refused by stop_alarm: ") && text(&o).contains("web-5xx"),
        "{}",
        text(&o)
    );

    assert_eq!(fleet.states().await?, before);
    assert!(fleet.records().await?.is_empty());
    assert!(cli.moto.sns_messages(&topic).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_needs_yes_then_acts_and_follows_the_recovery_until_recovered() -> Result<()> {
    let (cli, fleet) = Cli::start().await?;
    let members = fleet
        .group("web-asg", 1, 4, 4, &[OPT_IN, ("app", "web")])
        .await?;
    let spec = cli.spec("run", &web(json!({})))?;
    let spec = spec.to_str().unwrap();
    let before = fleet.states().await?;

    let o = cli.run(&["run", spec]).await?;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--yes"));
    // JSON never prompts: without --yes it refuses as well, with a JSON error document.
    let o = cli.run(&["run", "--output", "json", spec]).await?;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(e["exit_code"], 2);
    assert!(e["error"].as_str().unwrap().contains("--yes"), "{e}");
    assert_eq!(fleet.states().await?, before, "nothing changed");
    assert!(fleet.records().await?.is_empty());

    let o = cli
        .run(&["run", "--yes", "--output", "json", "--poll", "200ms", spec])
        .await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(r["outcome"], "acted");
    let hit = instance_ids(&r["results"]);
    let mut gone = fleet.in_state(&members, "terminated").await?;
    gone.sort();
    assert_eq!(hit, gone);
    assert_eq!(gone.len(), 2);
    let untouched: Vec<String> = members
        .iter()
        .filter(|m| !hit.contains(m))
        .cloned()
        .collect();
    assert_eq!(
        fleet.in_state(&untouched, "running").await?,
        untouched,
        "the others still run"
    );

    // moto's group replaced the victims at once: the follow saw it recover.
    let rec = &r["recovery"];
    assert_eq!(rec["outcome"], "recovered", "{rec:#}");
    assert_eq!(rec["decided_by"], "faultline run");
    assert!(rec["ttr_s"].as_i64().is_some_and(|t| t >= 0), "{rec:#}");
    assert!(rec["injected_at"].is_string() && rec["recovered_at"].is_string());
    assert_eq!(rec["record_timeout_s"], 1800);
    assert_eq!(rec["conditions"][0]["met"], true, "{rec:#}");
    let now = fleet.group_members("web-asg").await?;
    assert_eq!(fleet.in_state(&now, "running").await?.len(), 4);

    // Read-only: the record stays open for the recovery timer, which alone closes it.
    let records = fleet.records().await?;
    assert_eq!(records.len(), 1, "{records:?}");
    let stored = records.values().next().unwrap();
    assert_eq!(stored["state"], json!({"status": "open"}));
    assert_eq!(stored["_item"]["open"], "open");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reports_not_recovered_while_a_recovery_alarm_fires_and_closes_nothing() -> Result<()> {
    let (cli, fleet) = Cli::start().await?;
    fleet
        .group("web-asg", 1, 4, 4, &[OPT_IN, ("app", "web")])
        .await?;
    fleet.alarm("web-5xx").await?;
    fleet.set_alarm("web-5xx", StateValue::Alarm).await?;
    let topic = fleet.topic("faultline-events").await?;
    let env = [("FAULTLINE_TOPIC_ARN", topic.as_str())];
    let mut spec = web(json!({}));
    spec["recovery"] = json!({"alarms": ["web-5xx"]});
    let spec = cli.spec("alarm", &spec)?;
    let spec = spec.to_str().unwrap();

    let o = cli
        .run_with(
            &["run", "--yes", "--timeout", "2s", "--poll", "200ms", spec],
            &env,
        )
        .await?;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}");
    assert!(out.contains("following the recovery"), "{out}");
    // Not a terminal: plain lines, one per change of state.
    assert_eq!(
        out.matches("waiting: web-asg 4/4 healthy · alarm web-5xx ALARM · 1/2 conditions met")
            .count(),
        1,
        "{out}"
    );
    assert!(out.contains("NOT recovered within 2s"), "{out}");
    assert!(
        out.contains("still not met: alarm web-5xx OK: state ALARM"),
        "{out}"
    );
    assert!(
        out.contains("the recovery timer keeps watching until"),
        "{out}"
    );
    assert!(!out.contains('\x1b'), "no ANSI without a terminal: {out:?}");

    // Following closed and published nothing: the record is open, the only message is the
    // round's own "injected".
    let records = fleet.records().await?;
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(records.values().all(|v| v["state"]["status"] == "open"));
    let msgs = cli.moto.sns_messages(&topic).await?;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].attributes["event"], "injected");

    // Once the alarm is OK again, the next run recovers (text output).
    fleet.set_alarm("web-5xx", StateValue::Ok).await?;
    let o = cli
        .run_with(&["run", "--yes", "--poll", "200ms", spec], &env)
        .await?;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("recovered in"), "{out}");

    // --no-follow returns right after acting.
    let o = cli
        .run(&["run", "--yes", "--no-follow", "--output", "json", spec])
        .await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(r["outcome"], "acted");
    assert!(r.get("recovery").is_none(), "{r:#}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_makes_the_next_monkey_invocation_refuse_and_resume_lets_it_act() -> Result<()> {
    let (cli, fleet) = Cli::start().await?;
    let members = fleet
        .group("web-asg", 1, 4, 4, &[OPT_IN, ("app", "web")])
        .await?;
    let spec = cli.spec("halt", &web(json!({})))?;

    let o = cli.run(&["halt", "--output", "json"]).await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let h: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(
        h,
        json!({"kill_switch": "/faultline/enabled", "enabled": false,
               "aborted": [], "not_open": [], "errors": []}),
        "nothing open: nothing aborted"
    );

    // The real monkey binary under the Lambda Runtime API emulator, as the scheduler runs it.
    let mut monkey =
        Emulator::start("monkey", "functions/monkey/Cargo.toml", &cli.moto.env()).await?;
    let before = fleet.states().await?;
    let payload = |id: &str| json!({"execution_id": id, "experiment": web(json!({}))}).to_string();
    let (status, resp) = monkey.invoke_raw(&payload("after-halt")).await?;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["outcome"], "refused", "{resp:#}");
    assert_eq!(resp["refusals"][0]["guard"], "kill_switch", "{resp:#}");
    assert!(resp["results"].as_array().unwrap().is_empty());
    assert_eq!(fleet.states().await?, before, "no instance changed");
    assert!(fleet.records().await?.is_empty());
    // The CLI's own round is refused by the same guard.
    let o = cli.run(&["run", "--yes", spec.to_str().unwrap()]).await?;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("refused by kill_switch"), "{}", text(&o));
    assert_eq!(fleet.states().await?, before);

    let o = cli.run(&["resume"]).await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (status, resp) = monkey.invoke_raw(&payload("after-resume")).await?;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["outcome"], "acted", "{resp:#}");
    let hit = instance_ids(&resp["results"]);
    let mut gone = fleet.in_state(&members, "terminated").await?;
    gone.sort();
    assert_eq!(hit, gone);
    assert_eq!(gone.len(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_one_document_for_every_command() -> Result<()> {
    let (cli, fleet) = Cli::start().await?;
    fleet
        .group("web-asg", 1, 4, 4, &[OPT_IN, ("app", "web")])
        .await?;
    let good = cli.spec("good", &web(json!({})))?;
    let good = good.to_str().unwrap();
    let mut bad = web(json!({}));
    bad["selection"] = json!({"mode": "percent", "value": 150});
    let bad = cli.spec("bad", &bad)?;
    let before = fleet.states().await?;

    let json_of = |o: &Output| -> Result<Value> {
        let v: Value = serde_json::from_slice(&o.stdout)
            .map_err(|e| anyhow::anyhow!("{e}: stdout is not one JSON document: {}", text(o)))?;
        assert!(!text(o).contains('\x1b'), "no ANSI in JSON mode");
        Ok(v)
    };
    let o = cli.run(&["validate", "--output", "json", good]).await?;
    assert_eq!(o.status.code(), Some(0));
    let v = json_of(&o)?;
    assert_eq!(v["valid"], true);
    assert_eq!(v["name"], "web");

    let o = cli
        .run(&["--output", "json", "validate", bad.to_str().unwrap()])
        .await?;
    assert_eq!(o.status.code(), Some(2));
    let v = json_of(&o)?;
    assert_eq!(v["valid"], false);
    assert_eq!(v["field"], "selection.value", "{v}");
    assert_eq!(v["exit_code"], 2);

    let o = cli.run(&["plan", "--output", "json", good]).await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = json_of(&o)?;
    assert_eq!(v["outcome"], "dry_run");
    assert_eq!(v["chosen"].as_array().unwrap().len(), 2);

    let o = cli.run(&["status", "--output", "json"]).await?;
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json_of(&o)?, json!({"records": [], "more": false}));
    let o = cli
        .run(&["history", "--output", "json", "--limit", "5"])
        .await?;
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json_of(&o)?, json!({"records": [], "more": false}));
    let o = cli
        .run(&["layer", "show", "checkout", "--output", "json"])
        .await?;
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json_of(&o)?["config"], Value::Null);

    assert_eq!(
        fleet.states().await?,
        before,
        "none of these changes anything"
    );
    // Only the kill switch the harness creates (as Terraform does).
    assert_eq!(
        fleet
            .params_under("/faultline")
            .await?
            .into_keys()
            .collect::<Vec<_>>(),
        ["/faultline/enabled"]
    );
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
    let closed = json!({"v": 2, "id": "old-1", "experiment": "api-stop",
        "started_at": "2026-11-20T10:00:00Z", "action": {"type": "stop"},
        "targets": [{"id": "i-1"}], "timeout_s": 1800,
        "state": {"status": "closed", "outcome": "recovered", "at": "2026-11-20T10:05:00Z",
                  "recovered_at": "2026-11-20T10:02:31Z", "ttr_s": 151}});
    fleet.put_record_text("old-1", &closed.to_string()).await?;

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
    assert_eq!(h["records"][0]["state"]["ttr_s"], 151, "{h:#}");
    assert_eq!(h["more"], false);
    let o = cli
        .run(&["status", "--output", "json", "--limit", "1"])
        .await?;
    let h: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(h["records"].as_array().map(Vec::len), Some(1), "{h:#}");
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
        json!({"enabled": true, "percentage": 50, "min_latency": 100, "max_latency": 400})
    );
    let expires = chrono::DateTime::parse_from_rfc3339(v["expires_at"].as_str().unwrap())?;
    let left = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(28) && left <= chrono::Duration::minutes(30),
        "{left}"
    );

    let o = cli.run(&["layer", "show", "checkout"]).await?;
    assert!(text(&o).contains("active: latency"), "{}", text(&o));

    // A document failure-lambda reads in part: `show` says what applies and what is skipped.
    fleet
        .put_param(
            "/faultline/layer/checkout",
            r#"{"latency": {"enabled": true, "min_latency": 100, "max_latency": 200},
                "exception": {"enabled": true, "percentage": 50.5}, "owner": "team-a"}"#,
        )
        .await?;
    let o = cli.run(&["layer", "show", "checkout"]).await?;
    let t = text(&o);
    assert!(t.contains("active: latency"), "{t}");
    assert!(
        t.contains("skipped by the layer") && t.contains("exception.percentage"),
        "{t}"
    );
    assert!(t.contains("\"owner\""), "{t}");
    fleet
        .put_param("/faultline/layer/checkout", written)
        .await?;

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

/// Runs `faultline ARGS` on a pseudo-terminal (util-linux `script`), so it asks for
/// confirmation; reads its output until the prompt, calls `between` with what it printed so
/// far (the world may change there), then types `answer`. Returns everything it printed and its exit code.
async fn confirm_on_a_terminal<F, Fut>(
    cli: &Cli,
    args: &[&str],
    between: F,
    answer: &str,
) -> Result<(String, Option<i32>)>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let line = std::iter::once(env!("CARGO_BIN_EXE_faultline"))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = tokio::process::Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .envs(cli.moto.env())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while !String::from_utf8_lossy(&seen).contains("to confirm:") {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, stdout.read(&mut buf))
            .await
            .map_err(|_| {
                anyhow::anyhow!("no prompt within 60s: {}", String::from_utf8_lossy(&seen))
            })??;
        anyhow::ensure!(
            n > 0,
            "exited before the prompt: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    between(String::from_utf8_lossy(&seen).into_owned()).await?;
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(format!("{answer}\n").as_bytes()).await?;
    stdin.flush().await?;
    let rest = tokio::time::timeout_at(deadline, async {
        let mut rest = Vec::new();
        stdout.read_to_end(&mut rest).await.map(|_| rest)
    })
    .await
    .map_err(|_| anyhow::anyhow!("did not finish within 60s"))??;
    seen.extend_from_slice(&rest);
    let status = child.wait().await?;
    Ok((String::from_utf8_lossy(&seen).into_owned(), status.code()))
}

/// The instance ids of `members` that `text` names, sorted.
fn named(members: &[String], text: &str) -> Vec<String> {
    let mut ids: Vec<String> = members
        .iter()
        .filter(|m| text.contains(m.as_str()))
        .cloned()
        .collect();
    ids.sort();
    ids
}

fn coin_toss() -> Value {
    let mut spec = web(json!({"probability": 0.5}));
    spec["selection"] = json!({"mode": "count", "value": 3});
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_run_with_one_seed_choose_the_same_targets() -> Result<()> {
    let (cli, fleet) = Cli::start().await?;
    let members = fleet
        .group("web-asg", 1, 10, 10, &[OPT_IN, ("app", "web")])
        .await?;
    let spec = cli.spec("seeded", &coin_toss())?;
    let spec = spec.to_str().unwrap();
    // The first seed whose coin toss passes.
    let mut found = None;
    for seed in 0..32u64 {
        let s = seed.to_string();
        let o = cli
            .run(&["plan", "--output", "json", "--seed", &s, spec])
            .await?;
        if o.status.code() == Some(0) {
            found = Some((s, serde_json::from_slice::<Value>(&o.stdout)?));
            break;
        }
    }
    let (seed, plan) = found.expect("a seed in 0..32 passes a coin toss");
    let shown = instance_ids(&plan["chosen"]);
    assert_eq!(shown.len(), 3, "{plan:#}");
    // The text plan prints the seed and how to run exactly this.
    let o = cli.run(&["plan", "--seed", &seed, spec]).await?;
    assert!(text(&o).contains(&format!("--seed {seed}")), "{}", text(&o));
    assert_eq!(named(&members, &text(&o)), shown, "{}", text(&o));

    let o = cli
        .run(&[
            "run",
            "--yes",
            "--no-follow",
            "--output",
            "json",
            "--seed",
            &seed,
            spec,
        ])
        .await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(instance_ids(&r["results"]), shown);
    let mut gone = fleet.in_state(&members, "terminated").await?;
    gone.sort();
    assert_eq!(gone, shown, "run hit what plan showed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_on_a_terminal_acts_on_the_instances_it_showed_and_confirmed() -> Result<()> {
    let (cli, fleet) = Cli::start().await?;
    let members = fleet
        .group("web-asg", 1, 10, 10, &[OPT_IN, ("app", "web")])
        .await?;
    let spec = cli.spec("confirmed", &coin_toss())?;
    let spec = spec.to_str().unwrap();
    // A coin toss that passes once; before, `run` drew again after the confirmation.
    let mut shown = None;
    for seed in 0..32u64 {
        let s = seed.to_string();
        let (out, code) = match confirm_on_a_terminal(
            &cli,
            &["run", "--no-follow", "--seed", &s, spec],
            |_| async { Ok(()) },
            "web",
        )
        .await
        {
            Ok(x) => x,
            // Refused before the prompt: the toss said no; try the next seed.
            Err(e) if e.to_string().contains("exited before the prompt") => continue,
            Err(e) => return Err(e),
        };
        assert_eq!(code, Some(0), "{out}");
        let (plan, acted) = out.split_once("to confirm:").expect("prompted");
        shown = Some((named(&members, plan), named(&members, acted)));
        break;
    }
    let (shown, acted) = shown.expect("a seed in 0..32 passes a coin toss");
    assert_eq!(shown.len(), 3);
    assert_eq!(
        acted, shown,
        "the output after the confirmation names the shown ids"
    );
    let mut gone = fleet.in_state(&members, "terminated").await?;
    gone.sort();
    assert_eq!(
        gone, shown,
        "exactly the confirmed instances are terminated"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_on_a_terminal_acts_on_nothing_when_a_shown_instance_changed_before_the_yes(
) -> Result<()> {
    let (cli, fleet) = Cli::start().await?;
    let members = fleet
        .group("web-asg", 1, 4, 4, &[OPT_IN, ("app", "web")])
        .await?;
    let spec = cli.spec("changed", &web(json!({})))?;
    let victim = std::sync::Mutex::new(String::new());
    let (members, fleet, victim_ref) = (&members, &fleet, &victim);
    let (out, code) = confirm_on_a_terminal(
        &cli,
        &["run", "--no-follow", spec.to_str().unwrap()],
        |plan| async move {
            // Between the plan and the yes, one of the two shown instances turns unhealthy.
            let shown = named(members, &plan);
            assert_eq!(shown.len(), 2, "{plan}");
            fleet.set_unhealthy(&shown[0]).await?;
            *victim_ref.lock().unwrap() = shown[0].clone();
            Ok(())
        },
        "web",
    )
    .await?;
    let victim = victim.into_inner().unwrap();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("refused by plan_changed") && out.contains(&victim),
        "{out}"
    );
    assert_eq!(
        fleet.in_state(members, "running").await?.len(),
        4,
        "nothing touched"
    );
    assert!(fleet.records().await?.is_empty());
    Ok(())
}

/// Creates the faultline SSM document in moto, as Terraform does.
async fn agent_document(fleet: &Fleet) -> Result<()> {
    let doc = std::fs::read_to_string(
        faultline_e2e::workspace_root().join("terraform/documents/faultline-agent.json"),
    )?;
    fleet
        .ssm
        .create_document()
        .name("faultline-agent")
        .content(doc)
        .document_type(aws_sdk_ssm::types::DocumentType::Command)
        .document_format(aws_sdk_ssm::types::DocumentFormat::Json)
        .send()
        .await?;
    Ok(())
}

/// Messages on `topic` with `event=aborted`.
async fn aborted_messages(cli: &Cli, topic: &str) -> Result<Vec<faultline_e2e::SnsMessage>> {
    Ok(cli
        .moto
        .sns_messages(topic)
        .await?
        .into_iter()
        .filter(|m| m.attributes.get("event").map(String::as_str) == Some("aborted"))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_rolls_back_once_and_halt_aborts_every_open_experiment() -> Result<()> {
    let (cli, fleet) = Cli::start().await?;
    agent_document(&fleet).await?;
    let topic = fleet.topic("faultline").await?;
    let env = [("FAULTLINE_TOPIC_ARN", topic.as_str())];
    let web = fleet.instances(3, &[OPT_IN, ("app", "web")]).await?;
    fleet.instances(2, &[OPT_IN, ("app", "api")]).await?;
    let db = fleet.instances(2, &[OPT_IN, ("app", "db")]).await?;
    let spec = |name: &str, app: &str, action: Value| {
        json!({"name": name, "targets": {"resource": "ec2-instance", "tags": {"app": app}},
               "selection": {"mode": "count", "value": 2}, "action": action})
    };
    let mut ids = Vec::new();
    for (name, app, action) in [
        ("web-stop", "web", json!({"type": "stop"})),
        (
            "api-latency",
            "api",
            json!({"type": "agent", "fault": "latency",
                                        "args": {"delay_ms": 100}, "duration": "10m"}),
        ),
        ("db-stop", "db", json!({"type": "stop"})),
    ] {
        let path = cli.spec(name, &spec(name, app, action))?;
        let o = cli
            .run_with(
                &[
                    "run",
                    "--yes",
                    "--no-follow",
                    "--output",
                    "json",
                    path.to_str().unwrap(),
                ],
                &env,
            )
            .await?;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let r: Value = serde_json::from_slice(&o.stdout)?;
        ids.push(r["record"].as_str().unwrap().to_owned());
    }
    let stopped = fleet.in_state(&web, "stopped").await?;
    assert_eq!(stopped.len(), 2);

    // abort <id>: the stopped instances start at once; the record is aborted; one message.
    let o = cli.run_with(&["abort", &ids[0]], &env).await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o)
            .contains("[faultline] web-stop ABORTED: faultline abort; rolled back on 2 of 2 hosts"),
        "{}",
        text(&o)
    );
    assert_eq!(fleet.in_state(&web, "running").await?.len(), 3);
    let rec = fleet.record(&ids[0]).await?.expect("the record");
    assert_eq!(rec["_item"]["state"], "aborted", "{rec:#}");
    assert_eq!(rec["state"]["trigger"]["by"], "abort");
    assert_eq!(aborted_messages(&cli, &topic).await?.len(), 1);

    // Twice: nothing more.
    let o = cli
        .run_with(&["abort", &ids[0], "--output", "json"], &env)
        .await?;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let doc: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(doc["aborted"], json!([]));
    assert_eq!(doc["not_open"], json!([ids[0]]));
    assert_eq!(
        aborted_messages(&cli, &topic).await?.len(),
        1,
        "one abort, one message"
    );

    // halt: the kill switch off and every open experiment aborted, said so.
    let o = cli.run_with(&["halt"], &env).await?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("halted: /faultline/enabled = false"), "{out}");
    assert!(out.contains("aborted 2 open experiment(s)"), "{out}");
    assert!(
        out.contains("api-latency ABORTED: faultline halt; rolled back on 2 of 2 hosts"),
        "{out}"
    );
    assert!(
        out.contains("db-stop ABORTED: faultline halt; rolled back on 2 of 2 hosts"),
        "{out}"
    );
    assert_eq!(
        fleet
            .ssm
            .get_parameter()
            .name("/faultline/enabled")
            .send()
            .await?
            .parameter
            .and_then(|p| p.value)
            .as_deref(),
        Some("false")
    );
    assert_eq!(fleet.in_state(&db, "running").await?.len(), 2);
    for id in &ids[1..] {
        let rec = fleet.record(id).await?.expect("the record");
        assert_eq!(rec["_item"]["state"], "aborted", "{rec:#}");
        assert_eq!(rec["state"]["trigger"]["by"], "halt");
    }
    // The agent experiment was rolled back with the document's Mode=rollback.
    let listed = fleet.ssm.list_commands().send().await?;
    let rollbacks = listed
        .commands()
        .iter()
        .filter(|c| c.document_name() == Some("faultline-agent"))
        .filter(|c| {
            c.parameters()
                .and_then(|p| p.get("Mode"))
                .is_some_and(|m| m == &["rollback".to_owned()])
        })
        .count();
    assert_eq!(rollbacks, 1);
    assert_eq!(aborted_messages(&cli, &topic).await?.len(), 3);
    let o = cli.run_with(&["status", "--output", "json"], &env).await?;
    let st: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(st["records"], json!([]), "nothing open");
    Ok(())
}

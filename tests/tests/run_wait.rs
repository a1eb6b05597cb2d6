//! `faultline run --yes --wait`: the real `faultline` binary against a private moto, waiting
//! for the recovery timer's close while the test drives the timer (in-process, as the
//! scheduler's backstop would invoke it) or ends the experiment another way. One exit code per
//! ending: recovered 0, not recovered 5, aborted 7 (`faultline abort` from another process),
//! and a hypothesis that failed 6 (a record closed in the table with a `failed` verdict, as
//! the timer writes it once verdicts are computed).
//!
//! Long by design: the four endings share one moto and fleet, run one after the other (a
//! backstop run closes every open record it can).

use std::process::Output;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use aws_sdk_cloudwatch::types::StateValue;
use faultline_core::aws::Aws;
use faultline_e2e::{built_binary, poll, Fleet, Moto, OPT_IN};
use faultline_recovery_timer::config::TimerConfig;
use faultline_recovery_timer::handler::Timer;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

struct Env {
    moto: Moto,
    fleet: Fleet,
    timer: Timer,
    dir: std::path::PathBuf,
}

fn backstop() -> Value {
    json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}})
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Env {
    async fn start() -> Result<Env> {
        let moto = Moto::start().await?;
        let conf = moto.sdk_config().await;
        let fleet = Fleet::new(&conf).await?;
        let topic = fleet.topic("faultline").await?;
        let timer = Timer::new(
            Aws::new(&conf),
            TimerConfig {
                topic_arn: Some(topic),
                ..TimerConfig::default()
            },
        );
        let dir =
            std::env::temp_dir().join(format!("faultline-wait-{}", faultline_e2e::free_port()));
        std::fs::create_dir_all(&dir)?;
        Ok(Env {
            moto,
            fleet,
            timer,
            dir,
        })
    }

    /// A spec terminating one instance of the group tagged `app`, recovering with `alarms`.
    fn spec(&self, name: &str, alarms: &[&str]) -> Result<String> {
        let spec = json!({"name": name, "targets": {"resource": "asg-instance", "tags": {"app": name}},
                          "selection": {"mode": "count", "value": 1}, "action": {"type": "terminate"},
                          "recovery": {"timeout": "2m", "alarms": alarms}});
        let p = self.dir.join(format!("{name}.json"));
        std::fs::write(&p, spec.to_string())?;
        Ok(p.to_string_lossy().into_owned())
    }

    /// Starts `faultline <args>` in the background (stdin closed, a deadline against a wait
    /// that never ends).
    fn spawn(&self, args: &[&str]) -> Result<JoinHandle<Result<Output>>> {
        // FAULTLINE_CLI_BIN: another build of the binary (the built one by default).
        let bin = match std::env::var_os("FAULTLINE_CLI_BIN") {
            Some(p) => std::path::PathBuf::from(p),
            None => built_binary("faultline")?,
        };
        let mut cmd = tokio::process::Command::new(bin);
        cmd.args(args)
            .envs(self.moto.env())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let what = format!("{args:?}");
        Ok(tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(120), cmd.output())
                .await
                .map_err(|_| anyhow!("faultline {what} did not finish within 120s"))?
                .map_err(Into::into)
        }))
    }

    /// The open record of experiment `name`, once the monkey wrote it: (id, record).
    async fn open(&self, name: &str) -> Result<(String, Value)> {
        poll("the run's open record", Duration::from_secs(60), || async {
            Ok(self
                .fleet
                .records()
                .await?
                .into_iter()
                .find(|(_, r)| r["experiment"] == name && r["state"]["status"] == "open"))
        })
        .await
    }

    /// Runs the backstop until `id` is no longer open.
    async fn timer_closes(&self, id: &str) -> Result<Value> {
        poll(
            "the timer to close the record",
            Duration::from_secs(60),
            || async {
                self.timer.run(&backstop()).await?;
                let r = self.fleet.record(id).await?.context("the record")?;
                Ok((r["state"]["status"] != "open").then_some(r))
            },
        )
        .await
    }
}

/// The record `r` (as [`Fleet::record`] shows it) as its JSON text, with `state` replaced.
fn with_state(r: &Value, state: Value) -> String {
    let mut r = r.clone();
    let m = r.as_object_mut().unwrap();
    m.remove("_item");
    m.insert("state".to_owned(), state);
    r.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_wait_exits_with_the_recovery_timers_verdict() -> Result<()> {
    let e = Env::start().await?;
    let run = ["run", "--yes", "--wait", "--poll", "200ms"];

    // --wait needs following: a clear error naming both flags, nothing done.
    let spec = e.spec("conflict", &[])?;
    let o = e
        .spawn(&["run", "--yes", "--wait", "--no-follow", &spec])?
        .await??;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--wait") && text(&o).contains("--no-follow"),
        "{}",
        text(&o)
    );
    assert!(e.fleet.records().await?.is_empty());

    // 1. Recovered, no hypothesis: the group replaced its instance; the timer closes it
    //    recovered with no verdict → 0.
    e.fleet
        .group("recovers", 1, 2, 2, &[OPT_IN, ("app", "recovers")])
        .await?;
    let spec = e.spec("recovers", &[])?;
    let child = e.spawn(&[&run[..], &["--output", "json", &spec]].concat())?;
    let (id, _) = e.open("recovers").await?;
    let closed = e.timer_closes(&id).await?;
    assert_eq!(closed["state"]["outcome"], "recovered", "{closed:#}");
    let o = child.await??;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(doc["recovery"]["outcome"], "recovered", "{doc:#}");
    assert_eq!(doc["recovery"]["decided_by"], "recovery timer", "{doc:#}");
    // No hypothesis: no verdict, or (once the timer judges every close) passed.
    let verdict = &doc["recovery"]["verdict"];
    assert!(
        verdict.is_null() || verdict == "passed",
        "{doc:#}\n{closed:#}"
    );

    // 2. Not recovered: the recovery alarm never clears; the record, backdated past its
    //    2-minute timeout (as if injected 3 minutes ago), is closed not recovered → 5.
    e.fleet
        .group("stuck", 1, 2, 2, &[OPT_IN, ("app", "stuck")])
        .await?;
    e.fleet.alarm("stuck-5xx").await?;
    e.fleet.set_alarm("stuck-5xx", StateValue::Alarm).await?;
    let spec = e.spec("stuck", &["stuck-5xx"])?;
    let child = e.spawn(&[&run[..], &[&spec]].concat())?;
    let (id, rec) = e.open("stuck").await?;
    let mut back = rec.clone();
    back["started_at"] = json!(chrono::Utc::now() - chrono::Duration::minutes(3));
    e.fleet
        .put_record_text(&id, &with_state(&back, json!({"status": "open"})))
        .await?;
    let closed = e.timer_closes(&id).await?;
    assert_eq!(closed["state"]["outcome"], "not_recovered", "{closed:#}");
    let o = child.await??;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}");
    assert!(out.contains("NOT recovered"), "{out}");
    assert!(out.contains("closed by the recovery timer"), "{out}");

    // 3. Aborted from another process while waiting → 7.
    e.fleet
        .group("aborts", 1, 2, 2, &[OPT_IN, ("app", "aborts")])
        .await?;
    let spec = e.spec("aborts", &["stuck-5xx"])?;
    let child = e.spawn(&[&run[..], &[&spec]].concat())?;
    let (id, _) = e.open("aborts").await?;
    let abort = e.spawn(&["abort", &id])?.await??;
    assert_eq!(abort.status.code(), Some(0), "{}", text(&abort));
    let o = child.await??;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(7), "{out}");
    assert!(out.contains("ABORTED"), "{out}");
    assert!(out.contains("verdict: aborted"), "{out}");

    // 4. Recovered, but the hypothesis failed: the record closed with a failed verdict, its
    //    breach and report → 6, and they are printed.
    e.fleet
        .group("fails", 1, 2, 2, &[OPT_IN, ("app", "fails")])
        .await?;
    let spec = e.spec("fails", &["stuck-5xx"])?;
    let child = e.spawn(&[&run[..], &[&spec]].concat())?;
    let (id, rec) = e.open("fails").await?;
    let now = chrono::Utc::now();
    let state = json!({"status": "closed", "outcome": "recovered", "at": now,
        "recovered_at": now, "ttr_s": 3, "observed": false,
        "verdict": {"verdict": "failed", "breaches": [{"condition": "p99",
            "detail": "p99 Average after: 950 > 800 (by 150) at 10:03:00"}]},
        "report": "s3://faultline-reports-x/reports/fails/"});
    e.fleet
        .put_record_text(&id, &with_state(&rec, state))
        .await?;
    let o = child.await??;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(6), "{out}");
    assert!(out.contains("verdict: failed"), "{out}");
    assert!(
        out.contains("breach: p99 Average after: 950 > 800 (by 150) at 10:03:00"),
        "{out}"
    );
    assert!(
        out.contains("report: s3://faultline-reports-x/reports/fails/"),
        "{out}"
    );

    // history: the verdict column, and the verdict in JSON.
    let o = e.spawn(&["history"])?.await??;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains(&id))
        .with_context(|| format!("{id} in {out}"))?;
    assert!(line.contains("  failed   fails"), "{line}");
    let o = e.spawn(&["history", "--output", "json"])?.await??;
    let doc: Value = serde_json::from_slice(&o.stdout)?;
    let failed = doc["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .context("the failed record in history")?;
    assert_eq!(
        failed["state"]["verdict"]["verdict"], "failed",
        "{failed:#}"
    );
    Ok(())
}

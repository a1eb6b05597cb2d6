//! The records table against a private moto: `history` and `status` page through thousands of
//! records newest first without reading them all, and `faultline migrate-records` moves the
//! SSM-parameter records of before 0.3 into the table, where the recovery timer closes them.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use faultline_core::aws::records::Records;
use faultline_core::aws::Aws;
use faultline_core::settings::RecordStore;
use faultline_e2e::{built_binary, Fleet, Moto, OPT_IN};
use faultline_recovery_timer::config::TimerConfig;
use faultline_recovery_timer::handler::Timer;
use serde_json::json;

fn record(id: &str, started: DateTime<Utc>, open: bool) -> String {
    let state = if open {
        json!({"status": "open"})
    } else {
        json!({"status": "closed", "outcome": "recovered", "at": started + Duration::minutes(5),
               "recovered_at": started + Duration::minutes(2), "ttr_s": 120})
    };
    json!({"v": 2, "id": id, "experiment": "web", "started_at": started,
           "action": {"type": "terminate"}, "targets": [{"id": "i-0"}], "timeout_s": 1800,
           "state": state})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_status_page_newest_first_through_thousands_without_reading_them_all(
) -> Result<()> {
    let moto = Moto::start().await?;
    let conf = moto.sdk_config().await;
    let fleet = Fleet::new(&conf).await?;
    let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse()?;
    // 2,000 closed records a minute apart, and 30 open ones among them.
    let ids: Vec<(String, DateTime<Utc>, bool)> = (0..2_030)
        .map(|i| {
            let open = i % 68 == 0 && i > 0;
            (format!("r-{i:05}"), t0 + Duration::minutes(i), open)
        })
        .collect();
    for (id, at, open) in &ids {
        fleet.put_record_text(id, &record(id, *at, *open)).await?;
    }
    let open_ids: Vec<&str> = ids.iter().filter(|r| r.2).map(|r| r.0.as_str()).collect();
    assert_eq!(open_ids.len(), 29);

    let aws = Aws::new(&conf);
    let store = RecordStore::default();
    let records = Records::new(&aws.dynamodb, &store);
    let page = records.newest(true, 25).await?;
    let got: Vec<&str> = page.records.iter().map(|r| r.id.as_str()).collect();
    let want: Vec<&str> = ids
        .iter()
        .rev()
        .filter(|r| !r.2)
        .take(25)
        .map(|r| r.0.as_str())
        .collect();
    assert_eq!(got, want, "the 25 newest closed records, newest first");
    assert!(page.more);
    assert!(
        aws.calls.of("Query") <= 2,
        "paged, not listed: {:?}",
        aws.calls.by_operation()
    );
    assert_eq!(aws.calls.of("Scan"), 0);

    let before = aws.calls.get();
    let page = records.newest(false, 5).await?;
    let got: Vec<&str> = page.records.iter().map(|r| r.id.as_str()).collect();
    let want: Vec<&str> = open_ids.iter().rev().take(5).copied().collect();
    assert_eq!(got, want, "the 5 newest open records, from the open index");
    assert_eq!(aws.calls.get() - before, 1, "one query");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_records_moves_old_ssm_records_and_the_timer_closes_the_open_one() -> Result<()> {
    let moto = Moto::start().await?;
    let conf = moto.sdk_config().await;
    let fleet = Fleet::new(&conf).await?;
    let topic = fleet.topic("faultline").await?;
    fleet.group("web-asg", 1, 2, 4, &[OPT_IN]).await?;
    let started = Utc::now() - Duration::minutes(3);
    // Format 1, as faultline before 0.3 wrote them: one open (its group is back to capacity),
    // one closed with its marker.
    fleet
        .put_param(
            "/faultline/experiments/old-open",
            &json!({"v": 1, "id": "old-open", "experiment": "web-terminate", "status": "open",
                    "started_at": started, "action": "terminate",
                    "groups": {"web-asg": {"desired": 2, "targets": ["i-0dead0000000beef0"]}},
                    "timeout_s": 1800})
            .to_string(),
        )
        .await?;
    let closed = json!({"at": started + Duration::minutes(1), "ttr_s": 42,
                        "recovered_at": started + Duration::seconds(42)});
    fleet
        .put_param(
            "/faultline/experiments/old-closed",
            &json!({"v": 1, "id": "old-closed", "experiment": "api-stop", "status": "closed",
                    "outcome": "recovered", "started_at": started, "action": "stop",
                    "standalone": ["i-0dead0000000beef1"], "timeout_s": 1800, "closed": closed})
            .to_string(),
        )
        .await?;
    fleet
        .put_param(
            "/faultline/experiments/old-closed/closed",
            &json!({"outcome": "recovered", "closed": closed}).to_string(),
        )
        .await?;

    let cli = built_binary("faultline")?;
    let run = || {
        let mut c = std::process::Command::new(&cli);
        c.args(["--output", "json", "migrate-records"])
            .envs(moto.env())
            .env_remove("FAULTLINE_RECORDS_TABLE");
        c.output()
    };
    let o = run()?;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    let mut migrated: Vec<&str> = report["migrated"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    migrated.sort();
    assert_eq!(migrated, ["old-closed", "old-open"], "{report:#}");
    assert!(
        fleet
            .params_under("/faultline/experiments")
            .await?
            .is_empty(),
        "the parameters and the marker are gone"
    );
    let old = fleet.record("old-closed").await?.expect("migrated");
    assert_eq!(old["state"]["status"], "closed");
    assert_eq!(old["state"]["ttr_s"], 42);
    assert!(old["_item"]["expires_at"].is_i64(), "{old:#}");
    // Again: nothing left to move, nothing written twice.
    let o = run()?;
    assert!(o.status.success());
    let report: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(report["migrated"], json!([]));

    // The timer finds the migrated open record and closes it, once.
    let timer = Timer::new(
        Aws::new(&conf),
        TimerConfig {
            topic_arn: Some(topic.clone()),
            ..TimerConfig::default()
        },
    );
    let backstop =
        json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}});
    let r = timer.run(&backstop).await?;
    assert_eq!(r.open, 1, "{r:#?}");
    assert_eq!(r.closed.len(), 1, "{r:#?}");
    assert_eq!(r.closed[0].id, "old-open");
    let r = timer.run(&backstop).await?;
    assert_eq!((r.open, r.closed.len()), (0, 0));
    let msgs = moto.sns_messages(&topic).await?;
    assert_eq!(msgs.len(), 1, "one message for the migrated record");
    assert_eq!(
        fleet.record("old-open").await?.expect("there")["state"]["status"],
        "closed"
    );
    Ok(())
}

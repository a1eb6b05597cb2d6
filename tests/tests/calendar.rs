//! Calendars end to end, the monkey in-process against a private moto_server: freeze dates
//! (the experiment's own and the deployment's shared calendar, read with the kill switch in
//! one `GetParameters`) refuse with the date's name and touch nothing; `guards.min_interval`
//! spares a group an earlier record hit and hits another; `"phase": "plan-start"` creates
//! exactly one one-shot `at()` schedule inside the window, and a redelivery creates none.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use chrono::{DateTime, TimeDelta, Utc};
use faultline_core::aws::Aws;
use faultline_core::calendar::StartOutcome;
use faultline_core::clock::FixedClock;
use faultline_core::guards::Guard;
use faultline_core::monkey::{Handled, Monkey};
use faultline_core::outcome::{RoundOutcome, RoundResult};
use faultline_core::record::{Record, RecordAction, RecordTarget, State, VERSION};
use faultline_core::settings::{CalendarSettings, Settings};
use faultline_e2e::{Fleet, Moto, OPT_IN};
use serde_json::{json, Value};

const CALENDAR: &str = "/faultline/calendar";
const GROUP: &str = "faultline";
const ROLE: &str = "arn:aws:iam::123456789012:role/faultline-scheduler";
const MONKEY_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:faultline-monkey";

struct Env {
    moto: Moto,
    fleet: Fleet,
    aws: Aws,
}

async fn env() -> Result<Env> {
    let moto = Moto::start().await?;
    let conf = moto.sdk_config().await;
    let fleet = Fleet::new(&conf).await?;
    Ok(Env {
        aws: Aws::new(&conf),
        moto,
        fleet,
    })
}

impl Env {
    /// A monkey at `now` sharing this env's clients (and their call counter).
    fn monkey(&self, now: DateTime<Utc>, calendar: CalendarSettings) -> Monkey {
        Monkey::new(
            self.aws.clone(),
            Settings {
                calendar,
                ..Settings::default()
            },
        )
        .with_clock_and_seed(Box::new(FixedClock(now)), 11)
    }
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn envelope(id: &str, experiment: Value) -> Value {
    json!({"execution_id": id, "scheduled_time": "2026-12-01T00:00:00Z", "experiment": experiment})
}

fn web(guards: Value) -> Value {
    json!({"name": "web-terminate",
           "targets": {"resource": "asg-instance", "tags": {"app": "web"}},
           "selection": {"mode": "count", "value": 1},
           "action": {"type": "terminate"},
           "guards": guards})
}

fn assert_refused(r: &RoundResult, guard: Guard, reason: &str) {
    assert_eq!(r.outcome, RoundOutcome::Refused, "{r:#?}");
    assert_eq!(r.refusals.len(), 1, "{r:#?}");
    assert_eq!(r.refusals[0].guard, guard, "{r:#?}");
    assert!(
        r.refusals[0].reason.contains(reason),
        "{:?} lacks {reason:?}",
        r.refusals[0].reason
    );
}

async fn all_running(f: &Fleet, ids: &[String]) -> Result<()> {
    let states = f.states().await?;
    for id in ids {
        assert_eq!(states.get(id).map(String::as_str), Some("running"), "{id}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_date_in_the_spec_refuses_with_its_name_and_touches_nothing() -> Result<()> {
    let e = env().await?;
    let ids = e
        .fleet
        .group("web", 0, 3, 4, &[OPT_IN, ("app", "web")])
        .await?;
    // 2026-12-24 00:30 in London is still the 23rd in New York: only London's date is frozen.
    let monkey = e.monkey(at("2026-12-24T00:30:00Z"), CalendarSettings::default());
    let exp = web(json!({"freeze": [
        {"name": "Thanksgiving", "date": "2026-11-26", "tz": "America/New_York"},
        {"name": "Christmas", "from": "2026-12-24", "to": "2026-12-26", "tz": "Europe/London"}]}));
    let r = monkey.handle(envelope("frozen-1", exp)).await?;
    assert_refused(
        &r,
        Guard::Freeze,
        "frozen: Christmas (2026-12-24 to 2026-12-26, Europe/London)",
    );
    all_running(&e.fleet, &ids).await?;
    assert!(e.fleet.records().await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_calendar_refuses_every_experiment_and_a_malformed_one_fails_safe() -> Result<()>
{
    let e = env().await?;
    let ids = e
        .fleet
        .group("web", 0, 3, 4, &[OPT_IN, ("app", "web")])
        .await?;
    let calendar = CalendarSettings {
        parameter: Some(CALENDAR.to_owned()),
        ..CalendarSettings::default()
    };
    e.moto
        .put_param(
            CALENDAR,
            r#"[{"name": "Black Friday code freeze", "from": "2026-11-27", "to": "2026-11-30"}]"#,
        )
        .await?;
    let monkey = e.monkey(at("2026-11-28T10:00:00Z"), calendar.clone());
    let (gp, gps) = (
        e.aws.calls.of("GetParameter"),
        e.aws.calls.of("GetParameters"),
    );
    let r = monkey.handle(envelope("shared-1", web(json!({})))).await?;
    assert_refused(
        &r,
        Guard::Freeze,
        "frozen: Black Friday code freeze (2026-11-27 to 2026-11-30, UTC)",
    );
    // The kill switch and the calendar came in one call.
    assert_eq!(e.aws.calls.of("GetParameters") - gps, 1);
    assert_eq!(e.aws.calls.of("GetParameter") - gp, 0);

    // A calendar nobody can read refuses every round, naming the parameter.
    e.moto
        .put_param(CALENDAR, r#"[{"name": "Christmas", "date": "2026-12-32"}]"#)
        .await?;
    let r = monkey.handle(envelope("shared-2", web(json!({})))).await?;
    assert_refused(
        &r,
        Guard::Freeze,
        "the shared calendar /faultline/calendar is malformed (/faultline/calendar[0].date",
    );
    all_running(&e.fleet, &ids).await?;
    assert!(e.fleet.records().await?.is_empty());

    // Off the frozen dates, with a readable calendar, the round runs.
    e.moto.put_param(CALENDAR, "[]").await?;
    let r = monkey.handle(envelope("shared-3", web(json!({})))).await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    Ok(())
}

fn record(
    id: &str,
    experiment: &str,
    started: DateTime<Utc>,
    group: &str,
    instance: &str,
) -> Record {
    Record {
        v: VERSION,
        id: id.to_owned(),
        experiment: experiment.to_owned(),
        started_at: started,
        action: RecordAction::Terminate { via_asg: false },
        groups: BTreeMap::new(),
        targets: vec![RecordTarget {
            id: instance.to_owned(),
            group: Some(group.to_owned()),
            zone: None,
        }],
        zones: vec![],
        failed: vec![],
        timeout_s: 600,
        alarms: vec![],
        stop_alarms: vec![],
        hypothesis: None,
        context: None,
        state: State::Open,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_interval_spares_a_group_hit_by_an_earlier_record_and_hits_the_other() -> Result<()> {
    let e = env().await?;
    let a = e
        .fleet
        .group("web-a", 0, 3, 4, &[OPT_IN, ("app", "web")])
        .await?;
    let b = e
        .fleet
        .group("web-b", 0, 3, 4, &[OPT_IN, ("app", "web")])
        .await?;
    let now = at("2026-12-01T12:00:00Z");
    // Another experiment hit web-a two hours ago; web-b was hit two days ago (long enough).
    let rec = record(
        "earlier-1",
        "api-latency",
        now - TimeDelta::hours(2),
        "web-a",
        "i-gone1",
    );
    e.fleet
        .put_record_text(
            &rec.id,
            &rec.encode().map_err(|r| anyhow::anyhow!(r.reason))?,
        )
        .await?;
    let rec = record(
        "earlier-2",
        "web-terminate",
        now - TimeDelta::days(2),
        "web-b",
        "i-gone2",
    );
    e.fleet
        .put_record_text(
            &rec.id,
            &rec.encode().map_err(|r| anyhow::anyhow!(r.reason))?,
        )
        .await?;

    let monkey = e.monkey(now, CalendarSettings::default());
    let exp = web(json!({"min_interval": "1d"}));
    let r = monkey.handle(envelope("interval-1", exp.clone())).await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    assert_eq!(r.plan.chosen.len(), 1);
    assert_eq!(r.plan.chosen[0].asg.as_deref(), Some("web-b"), "{r:#?}");
    assert_eq!(
        r.plan
            .excluded
            .get("web-a: hit by api-latency at 2026-12-01 10:00 UTC, min_interval 1d"),
        Some(&3),
        "{:?}",
        r.plan.excluded
    );
    all_running(&e.fleet, &a).await?;
    // The record says what was spared and why.
    let stored = e.fleet.record("interval-1").await?.context("no record")?;
    let spared = &stored["context"]["spared"];
    assert_eq!(
        spared[0],
        json!({"id": "web-a", "reason": "hit by api-latency at 2026-12-01 10:00 UTC, min_interval 1d"}),
        "{stored:#}"
    );
    // Listed once, by name (not again as a count of instances).
    assert_eq!(
        spared
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s.to_string().contains("api-latency"))
            .count(),
        1,
        "{stored:#}"
    );

    // An hour later both groups were hit within the day: nothing may be hit, and the refusal
    // says why.
    let monkey = e.monkey(now + TimeDelta::hours(1), CalendarSettings::default());
    let before = e.fleet.states().await?;
    let r = monkey.handle(envelope("interval-2", exp)).await?;
    assert_refused(&r, Guard::NoTargets, "spared by guards.min_interval: web-a hit by api-latency at 2026-12-01 10:00 UTC, min_interval 1d; web-b hit by web-terminate at 2026-12-01 12:00 UTC");
    assert_eq!(e.fleet.states().await?, before);
    let _ = b;
    Ok(())
}

fn random_web() -> Value {
    json!({"name": "web-random",
           "start": "random",
           "targets": {"resource": "asg-instance", "tags": {"app": "web"}},
           "selection": {"mode": "count", "value": 1},
           "action": {"type": "terminate"},
           "guards": {"windows": [{"days": "MON-FRI", "start": "10:00", "end": "16:00", "tz": "Europe/London"}]}})
}

fn plan_start(id: &str, experiment: Value) -> Value {
    json!({"execution_id": id, "scheduled_time": "2026-12-01T00:00:00Z", "phase": "plan-start",
           "experiment": experiment})
}

async fn schedules(aws: &Aws) -> Result<Vec<String>> {
    let out = aws
        .scheduler
        .list_schedules()
        .group_name(GROUP)
        .send()
        .await?;
    Ok(out
        .schedules()
        .iter()
        .filter_map(|s| s.name().map(str::to_owned))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_start_creates_one_at_schedule_inside_the_window_and_a_redelivery_none() -> Result<()>
{
    let e = env().await?;
    e.aws
        .scheduler
        .create_schedule_group()
        .name(GROUP)
        .send()
        .await?;
    let calendar = CalendarSettings {
        parameter: None,
        schedule_group: Some(GROUP.to_owned()),
        scheduler_role_arn: Some(ROLE.to_owned()),
    };
    // Tuesday 2026-12-01, just after the daily planner fired at midnight UTC.
    let monkey = e.monkey(at("2026-12-01T00:00:07Z"), calendar.clone());
    let spec = random_web();
    let Handled::Start(p) = monkey
        .handle_event(plan_start("plan-1", spec.clone()), MONKEY_ARN)
        .await?
    else {
        panic!("a plan-start runs no round");
    };
    assert_eq!(p.outcome, StartOutcome::Planned, "{p:#?}");
    let start = p.at.context("no minute drawn")?;
    // Inside 10:00-16:00 London (GMT in December), on a whole minute.
    assert!(
        start >= at("2026-12-01T10:00:00Z") && start < at("2026-12-01T16:00:00Z"),
        "{start}"
    );
    assert_eq!(start.timestamp() % 60, 0);
    let name = format!("web-random-{}", start.format("%Y%m%d%H%M"));
    assert_eq!(p.schedule.as_deref(), Some(name.as_str()));
    assert_eq!(schedules(&e.aws).await?, vec![name.clone()]);

    let s = e.moto.schedule(GROUP, &name).await?;
    assert_eq!(
        s["ScheduleExpression"],
        json!(format!("at({})", start.format("%Y-%m-%dT%H:%M:%S")))
    );
    assert_eq!(s["ScheduleExpressionTimezone"], json!("UTC"));
    assert_eq!(s["ActionAfterCompletion"], json!("DELETE"));
    assert_eq!(s["Target"]["Arn"], json!(MONKEY_ARN));
    assert_eq!(s["Target"]["RoleArn"], json!(ROLE));
    let input: Value = serde_json::from_str(s["Target"]["Input"].as_str().context("no input")?)?;
    assert_eq!(
        input,
        json!({"execution_id": "<aws.scheduler.execution-id>",
               "scheduled_time": "<aws.scheduler.scheduled-time>",
               "experiment": spec}),
        "the one-shot runs the round (no phase)"
    );

    // The same plan-start delivered again (a little later): the same minute, nothing created.
    let monkey = e.monkey(at("2026-12-01T00:01:30Z"), calendar.clone());
    let Handled::Start(p2) = monkey
        .handle_event(plan_start("plan-1", spec.clone()), MONKEY_ARN)
        .await?
    else {
        panic!("a plan-start runs no round");
    };
    assert_eq!(p2.outcome, StartOutcome::AlreadyPlanned, "{p2:#?}");
    assert_eq!(p2.at, Some(start));
    assert_eq!(schedules(&e.aws).await?, vec![name]);

    // No window within the next 24 hours (Friday evening, the window is MON-FRI): nothing.
    let monkey = e.monkey(at("2026-12-04T18:00:00Z"), calendar);
    let mut late = plan_start("plan-2", spec);
    late["scheduled_time"] = json!("2026-12-04T18:00:00Z");
    let Handled::Start(p3) = monkey.handle_event(late, MONKEY_ARN).await? else {
        panic!("a plan-start runs no round");
    };
    assert_eq!(p3.outcome, StartOutcome::NothingPlanned, "{p3:#?}");
    assert!(p3.reason.contains("no window (MON,TUE,WED,THU,FRI 10:00-16:00 Europe/London) opens in the 24 hours after 2026-12-04 18:00 UTC"), "{}", p3.reason);
    assert_eq!(schedules(&e.aws).await?.len(), 1);
    Ok(())
}

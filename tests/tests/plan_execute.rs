//! Plan once, confirm, execute that plan: `round::plan` then `round::execute` /
//! `execute_confirmed` against a private moto. The instances acted on are exactly the planned
//! ones, even where a second draw of the RNG would choose others (the defect of a run that
//! planned twice); when the world changes between plan and execution, nothing is touched.

use anyhow::{bail, Result};
use faultline_core::aws::Aws;
use faultline_core::clock::SystemClock;
use faultline_core::guards::Guard;
use faultline_core::outcome::RoundOutcome;
use faultline_core::round::{self, Planned, Planning};
use faultline_core::settings::Settings;
use faultline_core::spec::Invocation;
use faultline_e2e::{Fleet, Moto, OPT_IN};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::json;

struct World {
    _moto: Moto,
    fleet: Fleet,
    aws: Aws,
    members: Vec<String>,
}

async fn world() -> Result<World> {
    let moto = Moto::start().await?;
    let conf = moto.sdk_config().await;
    let fleet = Fleet::new(&conf).await?;
    let members = fleet
        .group("web-asg", 1, 10, 10, &[OPT_IN, ("app", "web")])
        .await?;
    Ok(World {
        aws: Aws::new(&conf),
        _moto: moto,
        fleet,
        members,
    })
}

/// Terminate 3 of `web-asg`, on a coin toss (`probability` 0.5).
fn invocation(id: &str) -> Result<Invocation> {
    let spec = json!({"execution_id": id, "experiment": {
        "name": "web", "targets": {"resource": "asg-instance", "tags": {"app": "web"}},
        "selection": {"mode": "count", "value": 3}, "action": {"type": "terminate"},
        "guards": {"probability": 0.5}}});
    Ok(Invocation::from_value(spec, chrono::Utc::now(), 1)?)
}

fn ids(planned: &Planned) -> Vec<String> {
    planned
        .chosen()
        .iter()
        .map(|t| t.instance_id.clone())
        .collect()
}

/// The first seed whose plan passes the coin toss and after which a second draw from the same
/// RNG (what `faultline run` did before: plan, then run again) would refuse or choose other
/// instances: the plan, and what that second draw would have done.
async fn plan_where_a_second_draw_differs(w: &World, id: &str) -> Result<(Planned, String)> {
    let settings = Settings::default();
    let inv = invocation(id)?;
    for seed in 0..64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let Planning::Ready(planned) =
            round::plan(&w.aws, &settings, &inv, &SystemClock, &mut rng).await?
        else {
            continue;
        };
        let second = match round::plan(&w.aws, &settings, &inv, &SystemClock, &mut rng).await? {
            Planning::Done(r) => format!("refused by {}", r.refusals[0].guard.name()),
            Planning::Ready(p) if ids(&p) != ids(&planned) => format!("chosen {:?}", ids(&p)),
            Planning::Ready(_) => continue,
        };
        return Ok((planned, second));
    }
    bail!("no seed in 0..64 passes the toss with a differing second draw")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_acts_on_exactly_the_planned_targets_where_a_second_draw_would_differ() -> Result<()>
{
    let w = world().await?;
    let (planned, second) = plan_where_a_second_draw_differs(&w, "plan-1").await?;
    let shown = ids(&planned);
    assert_eq!(shown.len(), 3);
    // Planning touched nothing and recorded nothing.
    assert_eq!(
        w.fleet.in_state(&w.members, "running").await?.len(),
        10,
        "planning touches nothing"
    );
    assert!(w.fleet.records().await?.is_empty());

    let r = round::execute_confirmed(&w.aws, &Settings::default(), planned, &SystemClock).await?;
    assert_eq!(r.outcome, RoundOutcome::Acted, "{r:#?}");
    let mut hit: Vec<String> = r.results.iter().map(|t| t.instance_id.clone()).collect();
    hit.sort();
    let mut gone = w.fleet.in_state(&w.members, "terminated").await?;
    gone.sort();
    assert_eq!(
        hit, shown,
        "acted on the shown plan, not on a second draw ({second})"
    );
    assert_eq!(gone, shown, "exactly the shown instances are terminated");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chosen_instance_gone_unhealthy_after_the_plan_means_nothing_is_touched() -> Result<()> {
    let w = world().await?;
    let (planned, _) = plan_where_a_second_draw_differs(&w, "plan-2").await?;
    let shown = ids(&planned);
    w.fleet.set_unhealthy(&shown[0]).await?;

    let r = round::execute_confirmed(&w.aws, &Settings::default(), planned, &SystemClock).await?;
    assert_eq!(r.outcome, RoundOutcome::Refused, "{r:#?}");
    assert_eq!(r.refusals[0].guard, Guard::PlanChanged);
    assert!(r.refusals[0].reason.contains(&shown[0]), "{r:#?}");
    assert!(r.results.is_empty());
    assert_eq!(
        w.fleet.in_state(&w.members, "running").await?.len(),
        10,
        "nothing touched"
    );
    assert!(w.fleet.records().await?.is_empty(), "no record");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halt_between_plan_and_confirmation_refuses_the_confirmed_plan() -> Result<()> {
    let w = world().await?;
    let (planned, _) = plan_where_a_second_draw_differs(&w, "plan-3").await?;
    w.fleet.put_param("/faultline/enabled", "false").await?;

    let r = round::execute_confirmed(&w.aws, &Settings::default(), planned, &SystemClock).await?;
    assert_eq!(r.outcome, RoundOutcome::Refused, "{r:#?}");
    assert_eq!(r.refusals[0].guard, Guard::KillSwitch);
    assert_eq!(w.fleet.in_state(&w.members, "running").await?.len(), 10);
    assert!(w.fleet.records().await?.is_empty());
    Ok(())
}

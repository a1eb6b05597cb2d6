//! One monkey round: the guard chain, inventory, selection, record, action and notification, in
//! the order DESIGN.md promises, split in two so that what an operator confirms is what runs:
//!
//! - [`plan`]: the guards, the inventory and the choice of targets; nothing is touched. It
//!   returns [`Planning::Ready`] with a [`Planned`] round, or [`Planning::Done`] when a guard
//!   refused.
//! - [`execute`]: the record (the idempotency lock), the action on exactly the planned targets,
//!   and the message. [`execute_confirmed`] first checks that the plan still holds (kill
//!   switch, windows, stop alarms, every chosen target still eligible, every group's budget),
//!   for a plan a person looked at before saying yes.
//! - [`run`]: both at once, for the Lambda.
//!
//! Nothing is touched until every guard has passed and the record has been created. An AWS
//! error before that point fails the round with nothing changed.
//!
//! A little over 500 lines: the guard chain reads top to bottom in one place, which is the
//! point of this module.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use rand::Rng;
use tracing::{info, warn};

use crate::act;
use crate::aws::autoscaling::{self, GroupQuery};
use crate::aws::records::{Created, Records};
use crate::aws::{cloudwatch, ec2, sns, ssm, Aws, AwsError};
use crate::calendar;
use crate::clock::Clock;
use crate::guards::{self, Guard, Refusal};
use crate::lambda;
use crate::message;
use crate::outcome::{ms, RoundError, RoundOutcome, RoundResult, TargetResult, Timings};
use crate::record::{
    Closed, Context, Outcome, Record, RecordAction, RecordGroup, RecordTarget, Spared, State,
    MAX_SPARED, VERSION,
};
use crate::select::{self, Inventory, Plan, Target};
use crate::settings::Settings;
use crate::spec::{Action, Freeze, Invocation, Phase, Resource};
use crate::verdict;
use crate::zone;

/// A round whose guards passed and whose targets are chosen; nothing has been touched.
/// [`execute`] acts on exactly [`Planned::chosen`].
#[derive(Debug, Clone)]
pub struct Planned {
    inv: Invocation,
    result: RoundResult,
    started: Instant,
    calls0: u64,
    /// What an `az-outage` will change besides the instances.
    outage: Option<zone::Outage>,
    /// The guards passed, in order (the record's `context.guards`).
    passed: Vec<String>,
    /// Resources hit within `guards.min_interval`, spared (for the record's context).
    spared: Vec<Spared>,
}

impl Planned {
    /// The round so far, as a dry run would report it (outcome `dry_run`).
    pub fn result(&self) -> &RoundResult {
        &self.result
    }

    /// The targets [`execute`] will act on.
    pub fn chosen(&self) -> &[Target] {
        &self.result.plan.chosen
    }

    /// The invocation planned.
    pub fn invocation(&self) -> &Invocation {
        &self.inv
    }
}

/// What [`plan`] came to.
// Made once per round and consumed at once: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Planning {
    /// The guards passed and targets are chosen.
    Ready(Planned),
    /// A guard refused (published when the experiment asks for it); nothing changed.
    Done(RoundResult),
}

struct Ctx<'a> {
    aws: &'a Aws,
    settings: &'a Settings,
    inv: &'a Invocation,
    started: Instant,
    calls0: u64,
    result: RoundResult,
}

impl Ctx<'_> {
    fn finish(mut self) -> RoundResult {
        self.result.api_calls = self.aws.calls.get() - self.calls0;
        self.result.timings.total_ms = ms(self.started);
        self.result
    }

    async fn refuse(mut self, refusal: Refusal) -> RoundResult {
        info!(experiment = %self.result.experiment, id = %self.result.experiment_id,
              guard = refusal.guard.name(), reason = %refusal.reason, decision = "refused", "guard refused");
        self.result.outcome = RoundOutcome::Refused;
        self.result.refusals.push(refusal);
        if self.inv.experiment.notify_refusals {
            self.publish().await;
        }
        self.finish()
    }

    async fn publish(&mut self) {
        let Some(topic) = &self.settings.topic_arn else {
            warn!(experiment = %self.result.experiment, "FAULTLINE_TOPIC_ARN is not set: nothing published");
            return;
        };
        let t = Instant::now();
        let msg = message::injected(&self.result, &self.inv.experiment, self.settings);
        let event = if self.result.outcome == RoundOutcome::Refused {
            "refused"
        } else {
            "injected"
        };
        match sns::publish(
            &self.aws.sns,
            topic,
            &msg.subject,
            &msg.body,
            &[
                ("event", event),
                ("experiment", &self.result.experiment),
                ("outcome", self.result.outcome.name()),
            ],
        )
        .await
        {
            Ok(id) => {
                info!(experiment = %self.result.experiment, message_id = %id, decision = "notified", "published to SNS");
                self.result.notified = Some(id);
            }
            Err(e) => {
                tracing::error!(experiment = %self.result.experiment, error = %e, "publish failed");
                self.result.notify_error = Some(e.to_string());
            }
        }
        self.result.timings.notify_ms = ms(t);
    }
}

// --- calendars (issue 17 part 5) ---
/// The kill switch and the deployment's shared freeze calendar, read now in one
/// `GetParameters` (one `GetParameter` of the kill switch when there is no shared calendar).
/// The second part is the shared freeze dates, or the refusal of a calendar that is missing or
/// malformed (fail safe).
async fn switches(
    aws: &Aws,
    settings: &Settings,
) -> Result<(Result<(), Refusal>, Result<Vec<Freeze>, Refusal>), AwsError> {
    let kill = &settings.kill_switch_param;
    let Some(cal) = &settings.calendar.parameter else {
        let switch = ssm::get(&aws.ssm, kill).await?;
        return Ok((guards::kill_switch(kill, switch.as_deref()), Ok(vec![])));
    };
    let values = ssm::get_many(&aws.ssm, &[kill.clone(), cal.clone()]).await?;
    let shared = calendar::shared_freezes(cal, values.get(cal).map(String::as_str))
        .map_err(|why| Refusal::new(Guard::Freeze, why));
    Ok((
        guards::kill_switch(kill, values.get(kill).map(String::as_str)),
        shared,
    ))
}

/// The freeze guard: the experiment's dates, then the shared calendar's.
fn freeze(
    now: DateTime<Utc>,
    inv: &Invocation,
    shared: Result<Vec<Freeze>, Refusal>,
) -> Result<(), Refusal> {
    let mut all = inv.experiment.guards.freeze.clone();
    all.extend(shared?);
    guards::freeze(now, &all)
}

/// `guards.min_interval`: what was hit within it (by any experiment, from one query of the
/// records started since), taken out of the inventory and returned as spared.
async fn spare_recent(
    aws: &Aws,
    settings: &Settings,
    inv: &Invocation,
    inventory: &mut Inventory,
    now: DateTime<Utc>,
) -> Result<Vec<(Spared, usize)>, AwsError> {
    let Some(min_interval) = inv.experiment.guards.min_interval else {
        return Ok(vec![]);
    };
    let since =
        now - chrono::TimeDelta::from_std(min_interval).unwrap_or(chrono::TimeDelta::days(90));
    let page = Records::new(&aws.dynamodb, &settings.records)
        .since(since)
        .await?;
    for m in &page.malformed {
        warn!(experiment = %inv.experiment.name, record = %m.id, reason = %m.reason,
              "a malformed record is not counted for min_interval");
    }
    let hits = calendar::recent_hits(&page.records, inv.execution_id.as_str(), now, min_interval);
    let spared = calendar::spare_recent(inventory, &hits, min_interval);
    for (s, n) in &spared {
        info!(experiment = %inv.experiment.name, resource = %s.id, instances = n, reason = %s.reason,
              decision = "spared", "min_interval");
    }
    Ok(spared)
}
// --- end calendars ---

/// The experiment's stop alarms, read now (no call when it has none).
async fn stop_alarms(aws: &Aws, inv: &Invocation) -> Result<Result<(), Refusal>, AwsError> {
    let alarms = &inv.experiment.guards.stop_alarms;
    if alarms.is_empty() {
        return Ok(Ok(()));
    }
    let states = cloudwatch::alarm_states(&aws.cloudwatch, alarms).await?;
    Ok(guards::stop_alarms(&states))
}

// --- hypothesis `before` as a guard, and the record's context (issue 17) ---

/// The hypothesis' `before` conditions over `[now - before_s, now)`: one `GetMetricData` (no
/// call when there are none).
async fn steady_state(
    aws: &Aws,
    inv: &Invocation,
    now: DateTime<Utc>,
) -> Result<Result<(), Refusal>, AwsError> {
    let Some(h) = &inv.experiment.hypothesis else {
        return Ok(Ok(()));
    };
    let queries: Vec<cloudwatch::MetricQuery> = h
        .in_phase(Phase::Before)
        .map(cloudwatch::MetricQuery::condition)
        .collect();
    if queries.is_empty() {
        return Ok(Ok(()));
    }
    let w = verdict::before_window(h, now);
    let series = cloudwatch::metric_data(&aws.cloudwatch, &queries, w.start, w.end).await?;
    Ok(verdict::steady(h, &w, &series).map_err(|why| Refusal::new(Guard::SteadyState, why)))
}

/// The guards a round that reached selection passed, in chain order.
fn passed_guards(inv: &Invocation) -> Vec<String> {
    let mut out: Vec<String> = [
        Guard::KillSwitch,
        Guard::Disabled,
        Guard::Window,
        Guard::Freeze,
        Guard::Probability,
        Guard::StopAlarm,
    ]
    .iter()
    .map(|g| g.name().to_owned())
    .collect();
    let steady = inv
        .experiment
        .hypothesis
        .as_ref()
        .is_some_and(|h| h.in_phase(Phase::Before).next().is_some());
    if steady {
        out.push(Guard::SteadyState.name().to_owned());
    }
    out
}

/// The key under which the plan counts the instances `guards.min_interval` spared in one
/// resource (its `excluded`), so the refusal's summary and the totals include them.
fn min_interval_key(s: &Spared) -> String {
    format!("{}: {}", s.id, s.reason)
}

/// The record's context: the guards passed and what the plan spared, at most [`MAX_SPARED`]
/// listed: first what `guards.min_interval` spared, by name (`recent`); then groups with why,
/// the instances excluded per other reason, the eligible ones not chosen.
fn fill_context(rec: &mut Record, passed: Vec<String>, plan: &Plan, recent: Vec<Spared>) {
    let Some(cx) = &mut rec.context else {
        return;
    };
    cx.guards = passed;
    let recent_keys: Vec<String> = recent.iter().map(min_interval_key).collect();
    let groups = plan.groups.iter().filter_map(|g| {
        g.spared.as_ref().map(|why| Spared {
            id: g.name.clone(),
            reason: why.clone(),
        })
    });
    let mut spared = recent;
    let before = spared.len();
    spared.extend(groups);
    let mut total = spared.len() - before;
    for (reason, n) in &plan.excluded {
        total += n;
        if recent_keys.contains(reason) {
            continue; // listed by name above
        }
        spared.push(Spared {
            id: format!("{n} instance(s)"),
            reason: reason.clone(),
        });
    }
    let not_chosen = plan.eligible.saturating_sub(plan.chosen.len());
    if not_chosen > 0 {
        spared.push(Spared {
            id: format!("{not_chosen} instance(s)"),
            reason: "eligible, not chosen".to_owned(),
        });
        total += not_chosen;
    }
    spared.truncate(MAX_SPARED);
    cx.spared = spared;
    cx.spared_total = total;
}

// --- end hypothesis guard and context ---

/// Plans one round: the guard chain, then inventory and selection. `rng` drives the
/// probability roll and the choice of targets. Touches nothing and records nothing.
pub async fn plan(
    aws: &Aws,
    settings: &Settings,
    inv: &Invocation,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
) -> Result<Planning, RoundError> {
    let exp = &inv.experiment;
    let now = clock.now();
    let mut cx = Ctx {
        aws,
        settings,
        inv,
        started: Instant::now(),
        calls0: aws.calls.get(),
        result: RoundResult {
            experiment_id: inv.execution_id.to_string(),
            experiment: exp.name.clone(),
            outcome: RoundOutcome::Refused,
            action: exp.action.name().to_owned(),
            dry_run: exp.dry_run,
            started_at: now,
            plan: Plan::default(),
            results: vec![],
            refusals: vec![],
            record: None,
            commands: vec![],
            notified: None,
            notify_error: None,
            api_calls: 0,
            timings: Timings::default(),
        },
    };
    info!(experiment = %exp.name, id = %inv.execution_id, action = exp.action.name(), dry_run = exp.dry_run, "round started");

    // 1. Kill switch (and the shared calendar, in the same read).
    let t = Instant::now();
    let (switch, shared) = switches(aws, settings).await?;
    if let Err(r) = switch {
        return Ok(Planning::Done(cx.refuse(r).await));
    }
    // 2. The experiment's own switch.
    if !exp.enabled {
        let r = Refusal::new(Guard::Disabled, "the experiment has \"enabled\": false");
        return Ok(Planning::Done(cx.refuse(r).await));
    }
    // 3. Time windows.
    if let Err(r) = guards::windows(now, &exp.guards.windows) {
        return Ok(Planning::Done(cx.refuse(r).await));
    }
    // 3b. Freeze dates (calendars).
    if let Err(r) = freeze(now, inv, shared) {
        return Ok(Planning::Done(cx.refuse(r).await));
    }
    // 4. Probability.
    if let Err(r) = guards::probability(exp.guards.probability, rng.gen::<f64>()) {
        return Ok(Planning::Done(cx.refuse(r).await));
    }
    // 5. Stop alarms.
    if let Err(r) = stop_alarms(aws, inv).await? {
        return Ok(Planning::Done(cx.refuse(r).await));
    }
    // --- hypothesis `before` as a guard (issue 17) ---
    // 5b. Steady state: the hypothesis' `before` conditions over the window before now.
    if let Err(r) = steady_state(aws, inv, now).await? {
        return Ok(Planning::Done(cx.refuse(r).await));
    }
    // --- end hypothesis guard ---
    cx.result.timings.guards_ms = ms(t);
    info!(experiment = %exp.name, decision = "guards_passed", "kill switch, window, probability and stop alarms allow the round");

    // 6. Inventory, then opt-in, health and blast radius (select::plan).
    let t = Instant::now();
    let mut inventory = inventory(aws, settings, inv).await?;
    // 6a. min_interval (calendars): what was hit recently is out before selection.
    let recent = spare_recent(aws, settings, inv, &mut inventory, now).await?;
    cx.result.timings.inventory_ms = ms(t);
    let mut plan: Plan = select::plan(exp, &settings.opt_in, &inventory, rng);
    for (s, n) in &recent {
        plan.excluded.insert(min_interval_key(s), *n);
    }
    let spared: Vec<Spared> = recent.into_iter().map(|(s, _)| s).collect();
    for g in &plan.groups {
        info!(experiment = %exp.name, asg = %g.name, healthy = g.healthy_in_service, floor = g.floor,
              budget = g.budget, chosen = g.chosen, spared = g.spared.as_deref().unwrap_or(""), decision = "group", "blast radius");
    }
    info!(experiment = %exp.name, eligible = plan.eligible, requested = plan.requested, chosen = plan.chosen.len(),
          decision = "selected", "targets chosen");
    cx.result.plan = plan;
    let plan = &cx.result.plan;

    if plan.chosen.is_empty() {
        let why = if plan.eligible == 0 {
            let found: usize = plan.excluded.values().sum();
            format!(
                "no eligible targets: {found} instance(s) matched but none is opted in ({}=true), running and healthy{}",
                settings.opt_in.key,
                if found == 0 { String::new() } else { format!(" ({})", summary(&plan.excluded)) }
            )
        } else {
            format!(
                "none of {} eligible target(s) may be hit: {}",
                plan.eligible,
                plan.capped_by.join("; ")
            )
        };
        // Calendars: say what min_interval spared.
        let why = if spared.is_empty() {
            why
        } else {
            let list: Vec<String> = spared
                .iter()
                .map(|s| format!("{} {}", s.id, s.reason))
                .collect();
            format!("{why}; spared by guards.min_interval: {}", list.join("; "))
        };
        return Ok(Planning::Done(
            cx.refuse(Refusal::new(Guard::NoTargets, why)).await,
        ));
    }
    // An Availability Zone outage: every eligible instance in the zone, and what else changes.
    let outage = match &exp.action {
        Action::AzOutage(o) => {
            match zone::plan(aws, exp, o, &settings.opt_in, &inventory, &cx.result.plan).await? {
                Ok(outage) => {
                    for g in &outage.groups {
                        info!(experiment = %exp.name, asg = %g.name, before = %g.before, during = %g.during,
                              decision = "zone_group", "the zone's subnets will be removed");
                    }
                    Some(outage)
                }
                Err(r) => return Ok(Planning::Done(cx.refuse(r).await)),
            }
        }
        _ => None,
    };
    cx.result.outcome = RoundOutcome::DryRun;
    Ok(Planning::Ready(Planned {
        inv: inv.clone(),
        result: cx.result,
        started: cx.started,
        calls0: cx.calls0,
        outage,
        passed: passed_guards(inv),
        spared,
    }))
}

/// Runs one round: [`plan`], then (unless it is a dry run) [`execute`].
pub async fn run(
    aws: &Aws,
    settings: &Settings,
    inv: &Invocation,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
) -> Result<RoundResult, RoundError> {
    match plan(aws, settings, inv, clock, rng).await? {
        Planning::Done(result) => Ok(result),
        Planning::Ready(planned) => execute(aws, settings, planned, clock).await,
    }
}

/// Checks that a plan a person confirmed still holds, then [`execute`]s it. When the world
/// changed (the kill switch, a window, a stop alarm now refusing; a chosen instance gone or
/// unhealthy; a group's budget smaller), the round is refused and nothing is touched: the
/// instances acted on are only ever ones the operator was shown.
pub async fn execute_confirmed(
    aws: &Aws,
    settings: &Settings,
    planned: Planned,
    clock: &dyn Clock,
) -> Result<RoundResult, RoundError> {
    let inv = &planned.inv;
    let (switch, shared) = switches(aws, settings).await?;
    let guards = match switch {
        Ok(()) => match guards::windows(clock.now(), &inv.experiment.guards.windows)
            .and_then(|()| freeze(clock.now(), inv, shared))
        {
            Ok(()) => stop_alarms(aws, inv).await?,
            Err(r) => Err(r),
        },
        Err(r) => Err(r),
    };
    let refusal = match guards {
        Err(r) => Some(r),
        Ok(()) => {
            let now = inventory(aws, settings, inv).await?;
            let changes = select::changes_since(
                &inv.experiment,
                &settings.opt_in,
                &planned.result.plan,
                &now,
            );
            (!changes.is_empty()).then(|| {
                Refusal::new(
                    Guard::PlanChanged,
                    format!(
                        "the world changed since the plan you confirmed: {}. Run again to see a new plan",
                        changes.join("; ")
                    ),
                )
            })
        }
    };
    match refusal {
        Some(r) => {
            let cx = Ctx {
                aws,
                settings,
                inv,
                started: planned.started,
                calls0: planned.calls0,
                result: planned.result.clone(),
            };
            Ok(cx.refuse(r).await)
        }
        None => execute(aws, settings, planned, clock).await,
    }
}

/// Executes a planned round: the record (the idempotency lock), the action on exactly the
/// planned targets, the record rewritten with failures, the message. A dry run stops before
/// the record.
pub async fn execute(
    aws: &Aws,
    settings: &Settings,
    planned: Planned,
    clock: &dyn Clock,
) -> Result<RoundResult, RoundError> {
    let Planned {
        inv,
        result,
        started,
        calls0,
        outage,
        passed,
        spared,
    } = planned;
    let inv = &inv;
    let exp = &inv.experiment;
    let mut cx = Ctx {
        aws,
        settings,
        inv,
        started,
        calls0,
        result,
    };
    let chosen = cx.result.plan.chosen.clone();

    // 7. Dry run: stop here, having changed and recorded nothing.
    if exp.dry_run {
        info!(experiment = %exp.name, decision = "dry_run", chosen = chosen.len(), "dry run: nothing touched");
        cx.result.outcome = RoundOutcome::DryRun;
        return Ok(cx.finish());
    }

    // 8. The record, which is also the idempotency lock. A Lambda action first reads what
    // restores each function, so the record holds the way back before anything changes.
    let t = Instant::now();
    let now = clock.now();
    let mut rec = new_record(inv, &cx.result.plan, now);
    fill_context(&mut rec, passed, &cx.result.plan, spared);
    if let (Some(o), RecordAction::AzOutage { groups, acls, .. }) = (&outage, &mut rec.action) {
        groups.clone_from(&o.groups);
        *acls = zone::prepare(aws, o, &settings.opt_in, &rec.id).await?;
    }
    // Gray failure toward zones: the fault limited to those zones' subnets, per instance zone,
    // resolved before anything is recorded or touched.
    let mut split_agent = None;
    if let Action::Agent(agent) = &exp.action {
        if !agent.toward_zones.is_empty() {
            match zone::toward_zones(aws, agent, &chosen).await {
                Ok(parts) => split_agent = Some(parts),
                Err(why) => return Ok(cx.refuse(Refusal::new(Guard::Zone, why)).await),
            }
        }
    }
    let mut restore = Vec::new();
    if let Action::Lambda(l) = &exp.action {
        restore = lambda::snapshot(aws, settings, l, &chosen, now).await?;
        if let RecordAction::Lambda { restore: r, .. } = &mut rec.action {
            r.clone_from(&restore);
        }
    }
    let encoded = match rec.encode() {
        Ok(e) => e,
        Err(r) => return Ok(cx.refuse(r).await),
    };
    let records = Records::new(&aws.dynamodb, &settings.records);
    let name = rec.id.clone();
    cx.result.record = Some(name.clone());
    let created = records.create(&rec, encoded).await;
    if !matches!(created, Ok(Created::New)) {
        // No round: the deny-all ACLs made for it go.
        if let RecordAction::AzOutage { acls, .. } = &rec.action {
            zone::discard(aws, acls).await;
        }
    }
    if created? == Created::AlreadyExists {
        info!(experiment = %exp.name, record = %name, decision = "duplicate",
              "this execution id already has a record: a redelivery; nothing done");
        cx.result.outcome = RoundOutcome::Duplicate;
        cx.result.plan.chosen.clear();
        return Ok(cx.finish());
    }
    cx.result.timings.record_ms = ms(t);

    // 9. Act.
    let t = Instant::now();
    cx.result.results = match &exp.action {
        Action::Agent(agent) => {
            let parts = split_agent.unwrap_or_else(|| vec![(agent.clone(), chosen.clone())]);
            let mut results = Vec::new();
            for (agent, targets) in &parts {
                let (r, commands) = act::send_agent(aws, settings, inv, agent, targets).await;
                results.extend(r);
                cx.result.commands.extend(commands);
            }
            results
        }
        Action::Lambda(l) => lambda::inject(aws, l, &restore).await,
        Action::AzOutage(o) => match &rec.action {
            RecordAction::AzOutage { groups, acls, .. } => {
                zone::inject(aws, o, groups, acls, &chosen).await
            }
            _ => vec![],
        },
        other => act::act(aws, other.clone(), &chosen).await,
    };
    cx.result.timings.act_ms = ms(t);
    let failed: Vec<&TargetResult> = cx
        .result
        .results
        .iter()
        .filter(|r| r.error.is_some())
        .collect();
    cx.result.outcome = match failed.len() {
        0 => RoundOutcome::Acted,
        n if n == cx.result.results.len() => RoundOutcome::Failed,
        _ => RoundOutcome::Partial,
    };
    for r in &cx.result.results {
        info!(experiment = %exp.name, instance = %r.instance_id, asg = r.asg.as_deref().unwrap_or(""),
              outcome = %r.outcome, error = r.error.as_deref().unwrap_or(""), decision = "acted", "target");
    }

    // 10. A failed target is no victim: rewrite the record so the timer does not wait for it.
    // An agent action also records its command ids.
    if let RecordAction::Agent { commands, .. } = &mut rec.action {
        commands.clone_from(&cx.result.commands);
    }
    if !failed.is_empty() || !cx.result.commands.is_empty() {
        rec.exclude_failed(failed.iter().map(|r| r.instance_id.clone()).collect());
        if cx.result.outcome == RoundOutcome::Failed {
            rec.state = State::Closed(Closed {
                outcome: Outcome::Failed,
                at: clock.now(),
                recovered_at: None,
                ttr_s: None,
                observed: false,
                verdict: None,
                regression: None,
                report: None,
            });
        }
        // Command ids make the record a little larger; if that no longer fits, keep the record
        // written before acting rather than fail after the action (never panic here).
        match rec.encode() {
            Ok(json) => {
                if let Err(e) = records.update(&rec, json, &State::Open).await {
                    warn!(experiment = %exp.name, error = %e, "could not rewrite the record with the failed targets");
                }
            }
            Err(r) => warn!(experiment = %exp.name, reason = %r.reason,
                            "the record was not rewritten; it keeps the targets chosen before acting"),
        }
    }

    // 11. Notify.
    cx.publish().await;
    info!(experiment = %exp.name, outcome = cx.result.outcome.name(), decision = "done", "round finished");
    Ok(cx.finish())
}

fn summary(excluded: &BTreeMap<String, usize>) -> String {
    excluded
        .iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn inventory(
    aws: &Aws,
    settings: &Settings,
    inv: &Invocation,
) -> Result<Inventory, AwsError> {
    let exp = &inv.experiment;
    let mut tags = exp.targets.tags.clone();
    tags.insert(settings.opt_in.key.clone(), select::OptIn::VALUE.to_owned());
    match exp.targets.resource {
        Resource::AsgInstance => {
            let query = match &exp.targets.asg_names {
                Some(names) => GroupQuery::Names(names),
                None => GroupQuery::Tags(&tags),
            };
            Ok(Inventory {
                groups: autoscaling::groups(&aws.autoscaling, query).await?,
                ..Inventory::default()
            })
        }
        Resource::Ec2Instance => {
            let instances = ec2::running_with_tags(&aws.ec2, &tags).await?;
            let mut names: Vec<String> = instances
                .iter()
                .filter_map(|i| i.asg().map(str::to_owned))
                .collect();
            names.sort();
            names.dedup();
            let groups = if names.is_empty() {
                vec![]
            } else {
                autoscaling::groups(&aws.autoscaling, GroupQuery::Names(&names)).await?
            };
            Ok(Inventory {
                groups,
                instances,
                ..Inventory::default()
            })
        }
        Resource::LambdaFunction => match &exp.action {
            Action::Lambda(l) => Ok(Inventory {
                functions: lambda::inventory(aws, settings, exp, l).await?,
                ..Inventory::default()
            }),
            // Validation pairs lambda-function with the Lambda actions only.
            _ => Ok(Inventory::default()),
        },
    }
}

fn new_record(inv: &Invocation, plan: &Plan, now: DateTime<Utc>) -> Record {
    let exp = &inv.experiment;
    let mut groups: BTreeMap<String, RecordGroup> = BTreeMap::new();
    for t in &plan.chosen {
        if let Some(name) = &t.asg {
            let desired = plan
                .groups
                .iter()
                .find(|g| &g.name == name)
                .map(|g| g.desired)
                .unwrap_or(0);
            groups.insert(name.clone(), RecordGroup { desired });
        }
    }
    Record {
        v: VERSION,
        id: inv.execution_id.to_string(),
        experiment: exp.name.clone(),
        started_at: now,
        action: match &exp.action {
            Action::Terminate { via_asg } => RecordAction::Terminate { via_asg: *via_asg },
            Action::Stop { restart_after } => RecordAction::Stop {
                restart_after_s: restart_after.map(|d| d.as_secs()),
                restarted_at: None,
            },
            Action::Reboot => RecordAction::Reboot,
            Action::Agent(agent) => RecordAction::Agent {
                fault: agent.fault.kind().name().to_owned(),
                duration_s: agent.duration.as_secs(),
                commands: vec![],
            },
            Action::AzOutage(o) => RecordAction::AzOutage {
                zone: plan.zones.first().cloned().unwrap_or_default(),
                terminate: o.mode == crate::spec::AzMode::Terminate,
                duration_s: o.duration.as_secs(),
                groups: vec![],
                acls: vec![],
                restored_at: None,
                restored: vec![],
            },
            Action::Lambda(l) => RecordAction::Lambda {
                change: lambda::change(&l.kind),
                duration_s: l.duration.as_secs(),
                restore: vec![],
                restored_at: None,
            },
        },
        groups,
        targets: plan
            .chosen
            .iter()
            .map(|t| RecordTarget {
                id: t.instance_id.clone(),
                group: t.asg.clone(),
                zone: t.zone.clone(),
            })
            .collect(),
        zones: plan.zones.clone(),
        failed: vec![],
        timeout_s: exp.recovery.timeout.as_secs(),
        alarms: exp.recovery.alarms.clone(),
        stop_alarms: {
            let mut a = exp.guards.stop_alarms.clone();
            a.extend(exp.guards.abort_alarms.iter().cloned());
            a.sort();
            a.dedup();
            a
        },
        hypothesis: exp.hypothesis.clone(),
        context: Some(Context {
            spec: inv.spec.clone(),
            guards: vec![],
            spared: vec![],
            spared_total: 0,
        }),
        state: State::Open,
    }
}

//! One monkey round: the guard chain, inventory, selection, record, action and notification, in
//! the order DESIGN.md promises. The Lambda and the CLI both call [`run`]; neither holds logic
//! of its own.
//!
//! Nothing is touched until every guard has passed and the record (the idempotency lock) has
//! been created. An AWS error before that point fails the round with nothing changed.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;
use tracing::{info, warn};

use crate::aws::autoscaling::{self, GroupQuery};
use crate::aws::ec2::{self, Ec2Action};
use crate::aws::{cloudwatch, sns, ssm, Aws, AwsError};
use crate::guards::{self, Guard, Refusal};
use crate::message;
use crate::record::{self, Record, RecordGroup, Status};
use crate::select::{self, GroupPlan, Inventory, OptIn, Plan, Target};
use crate::spec::{Action, AgentAction, Invocation, Resource};

/// Deployment settings of the monkey (environment variables of the function).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The opt-in tag (`FAULTLINE_OPT_IN_TAG`, default `faultline:enabled`).
    pub opt_in: OptIn,
    /// Kill-switch parameter (`FAULTLINE_KILL_SWITCH_PARAM`, default `/faultline/enabled`).
    pub kill_switch_param: String,
    /// Record prefix (`FAULTLINE_RECORD_PREFIX`, default `/faultline/experiments`).
    pub record_prefix: String,
    /// SNS topic (`FAULTLINE_TOPIC_ARN`); without it nothing is published.
    pub topic_arn: Option<String>,
    /// The faultline SSM document that runs faultline-agent (`agent` actions); default
    /// `faultline-agent`.
    pub agent_document: String,
    /// Where hosts without faultline-agent download it (`FAULTLINE_AGENT_S3_URI`, the SSM
    /// document's `AgentS3Uri`); `None`: it must be installed.
    pub agent_s3_uri: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            opt_in: OptIn::default(),
            kill_switch_param: "/faultline/enabled".to_owned(),
            record_prefix: "/faultline/experiments".to_owned(),
            topic_arn: None,
            agent_document: "faultline-agent".to_owned(),
            agent_s3_uri: None,
        }
    }
}

/// A source of the current time, injected so tests can fix it.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock stopped at one instant.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// How a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every chosen target was hit.
    Acted,
    /// Some chosen targets failed; the rest were hit.
    Partial,
    /// Every chosen target failed.
    Failed,
    /// A guard refused; nothing changed.
    Refused,
    /// Dry run: the plan only; nothing changed, nothing recorded.
    DryRun,
    /// This execution id already has a record: an at-least-once redelivery; nothing changed.
    Duplicate,
}

impl Outcome {
    /// The outcome's name.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Acted => "acted",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
            Outcome::DryRun => "dry_run",
            Outcome::Duplicate => "duplicate",
        }
    }
}

/// What happened to one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetResult {
    /// Instance id.
    pub instance_id: String,
    /// Its group, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asg: Option<String>,
    /// `terminated`, `stopped`, `rebooted` or `failed`.
    pub outcome: String,
    /// The state AWS reported right after the call (`shutting-down`, `stopping`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Wall time of each phase, milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Kill switch, windows, probability, stop alarms.
    pub guards_ms: u64,
    /// Describe calls.
    pub inventory_ms: u64,
    /// Record creation.
    pub record_ms: u64,
    /// The action itself.
    pub act_ms: u64,
    /// SNS publish.
    pub notify_ms: u64,
    /// The whole round.
    pub total_ms: u64,
}

/// The result of a round: what the Lambda returns and the CLI prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundResult {
    /// Execution id.
    pub experiment_id: String,
    /// Experiment name.
    pub experiment: String,
    /// How it ended.
    pub outcome: Outcome,
    /// `terminate`, `stop`, `reboot`.
    pub action: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// When the round started deciding.
    pub started_at: DateTime<Utc>,
    /// Opted-in, healthy targets found (N).
    pub eligible: usize,
    /// What the selection asked for.
    pub requested: usize,
    /// Chosen targets.
    pub chosen: Vec<Target>,
    /// Per-target outcome (empty unless acted).
    pub results: Vec<TargetResult>,
    /// The guard that refused (at most one: the chain stops at the first).
    pub refusals: Vec<Refusal>,
    /// Why fewer than requested were chosen.
    pub capped_by: Vec<String>,
    /// Per-group blast-radius view.
    pub groups: Vec<GroupPlan>,
    /// Instances left out before selection, by reason.
    pub excluded: BTreeMap<String, usize>,
    /// The record's parameter name, when one was written (or found, for a duplicate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// SSM Run Command ids of an `agent` action (one per batch of at most 50 instances).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// The SNS message id, when published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notified: Option<String>,
    /// Why publishing failed, if it did (the action stands; the record is written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_error: Option<String>,
    /// HTTP requests this round made to AWS.
    pub api_calls: u64,
    /// Phase timings.
    pub timings: Timings,
}

/// A round that could not decide safely: nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    /// An AWS read or the record write failed before anything was touched.
    #[error("{0}; nothing was changed. Check the function's IAM permissions and the service's health, then retry")]
    Aws(#[from] AwsError),
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
        self.result.outcome = Outcome::Refused;
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
        let event = if self.result.outcome == Outcome::Refused {
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

fn ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

/// Runs one round. `rng` drives the probability roll and the choice of targets.
pub async fn run(
    aws: &Aws,
    settings: &Settings,
    inv: &Invocation,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
) -> Result<RoundResult, RoundError> {
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
            outcome: Outcome::Refused,
            action: exp.action.name().to_owned(),
            dry_run: exp.dry_run,
            started_at: now,
            eligible: 0,
            requested: 0,
            chosen: vec![],
            results: vec![],
            refusals: vec![],
            capped_by: vec![],
            groups: vec![],
            excluded: BTreeMap::new(),
            record: None,
            commands: vec![],
            notified: None,
            notify_error: None,
            api_calls: 0,
            timings: Timings::default(),
        },
    };
    info!(experiment = %exp.name, id = %inv.execution_id, action = exp.action.name(), dry_run = exp.dry_run, "round started");

    // 1. Kill switch.
    let t = Instant::now();
    let switch = ssm::get(&aws.ssm, &settings.kill_switch_param).await?;
    if let Err(r) = guards::kill_switch(&settings.kill_switch_param, switch.as_deref()) {
        return Ok(cx.refuse(r).await);
    }
    // 2. The experiment's own switch.
    if !exp.enabled {
        let r = Refusal::new(Guard::Disabled, "the experiment has \"enabled\": false");
        return Ok(cx.refuse(r).await);
    }
    // 3. Time windows.
    if let Err(r) = guards::windows(now, &exp.guards.windows) {
        return Ok(cx.refuse(r).await);
    }
    // 4. Probability.
    if let Err(r) = guards::probability(exp.guards.probability, rng.gen::<f64>()) {
        return Ok(cx.refuse(r).await);
    }
    // 5. Stop alarms.
    if !exp.guards.stop_alarms.is_empty() {
        let states = cloudwatch::alarm_states(&aws.cloudwatch, &exp.guards.stop_alarms).await?;
        if let Err(r) = guards::stop_alarms(&states) {
            return Ok(cx.refuse(r).await);
        }
    }
    cx.result.timings.guards_ms = ms(t);
    info!(experiment = %exp.name, decision = "guards_passed", "kill switch, window, probability and stop alarms allow the round");

    // 6. Inventory, then opt-in, health and blast radius (select::plan).
    let t = Instant::now();
    let inventory = inventory(aws, settings, inv).await?;
    cx.result.timings.inventory_ms = ms(t);
    let plan: Plan = select::plan(exp, &settings.opt_in, &inventory, rng);
    for g in &plan.groups {
        info!(experiment = %exp.name, asg = %g.name, healthy = g.healthy_in_service, floor = g.floor,
              budget = g.budget, chosen = g.chosen, spared = g.spared.as_deref().unwrap_or(""), decision = "group", "blast radius");
    }
    cx.result.eligible = plan.eligible;
    cx.result.requested = plan.requested;
    cx.result.chosen = plan.chosen.clone();
    cx.result.capped_by = plan.capped_by.clone();
    cx.result.groups = plan.groups.clone();
    cx.result.excluded = plan.excluded.clone();
    info!(experiment = %exp.name, eligible = plan.eligible, requested = plan.requested, chosen = plan.chosen.len(),
          decision = "selected", "targets chosen");

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
        return Ok(cx.refuse(Refusal::new(Guard::NoTargets, why)).await);
    }

    // 7. Dry run: stop here, having changed and recorded nothing.
    if exp.dry_run {
        info!(experiment = %exp.name, decision = "dry_run", chosen = plan.chosen.len(), "dry run: nothing touched");
        cx.result.outcome = Outcome::DryRun;
        return Ok(cx.finish());
    }

    // 8. The record, which is also the idempotency lock.
    let t = Instant::now();
    let mut rec = new_record(inv, &plan, clock.now());
    let encoded = match rec.encode() {
        Ok(e) => e,
        Err(r) => return Ok(cx.refuse(r).await),
    };
    let name = record::parameter_name(&settings.record_prefix, inv.execution_id.as_str());
    cx.result.record = Some(name.clone());
    if ssm::put(&aws.ssm, &name, &encoded.json, encoded.advanced, false).await?
        == ssm::Created::AlreadyExists
    {
        info!(experiment = %exp.name, record = %name, decision = "duplicate",
              "this execution id already has a record: a redelivery; nothing done");
        cx.result.outcome = Outcome::Duplicate;
        cx.result.chosen.clear();
        return Ok(cx.finish());
    }
    cx.result.timings.record_ms = ms(t);

    // 9. Act.
    let t = Instant::now();
    cx.result.results = match &exp.action {
        Action::Agent(agent) => {
            let (results, commands) = send_agent(aws, settings, inv, agent, &plan.chosen).await;
            cx.result.commands = commands;
            results
        }
        other => act(aws, other.clone(), &plan.chosen).await,
    };
    cx.result.timings.act_ms = ms(t);
    let failed: Vec<&TargetResult> = cx
        .result
        .results
        .iter()
        .filter(|r| r.error.is_some())
        .collect();
    cx.result.outcome = match failed.len() {
        0 => Outcome::Acted,
        n if n == cx.result.results.len() => Outcome::Failed,
        _ => Outcome::Partial,
    };
    for r in &cx.result.results {
        info!(experiment = %exp.name, instance = %r.instance_id, asg = r.asg.as_deref().unwrap_or(""),
              outcome = %r.outcome, error = r.error.as_deref().unwrap_or(""), decision = "acted", "target");
    }

    // 10. A failed target is no victim: rewrite the record so the timer does not wait for it.
    // An agent action also records its command ids.
    rec.commands = cx.result.commands.clone();
    if !failed.is_empty() || !rec.commands.is_empty() {
        let failed_ids: Vec<String> = failed.iter().map(|r| r.instance_id.clone()).collect();
        for g in rec.groups.values_mut() {
            g.targets.retain(|id| !failed_ids.contains(id));
        }
        rec.groups.retain(|_, g| !g.targets.is_empty());
        rec.standalone.retain(|id| !failed_ids.contains(id));
        rec.failed = failed_ids;
        if cx.result.outcome == Outcome::Failed {
            rec.status = Status::Closed;
            rec.outcome = Some("failed".to_owned());
        }
        // Command ids make the record a little larger; if that no longer fits, keep the record
        // written before acting rather than fail after the action (never panic here).
        match rec.encode() {
            Ok(enc) => {
                if let Err(e) = ssm::put(&aws.ssm, &name, &enc.json, enc.advanced, true).await {
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
                instances: vec![],
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
            Ok(Inventory { groups, instances })
        }
    }
}

fn new_record(inv: &Invocation, plan: &Plan, now: DateTime<Utc>) -> Record {
    let exp = &inv.experiment;
    let mut groups: BTreeMap<String, RecordGroup> = BTreeMap::new();
    let mut standalone = Vec::new();
    for t in &plan.chosen {
        match &t.asg {
            Some(name) => {
                let desired = plan
                    .groups
                    .iter()
                    .find(|g| &g.name == name)
                    .map(|g| g.desired)
                    .unwrap_or(0);
                groups
                    .entry(name.clone())
                    .or_insert_with(|| RecordGroup {
                        desired,
                        targets: vec![],
                    })
                    .targets
                    .push(t.instance_id.clone());
            }
            None => standalone.push(t.instance_id.clone()),
        }
    }
    Record {
        v: 1,
        id: inv.execution_id.to_string(),
        experiment: exp.name.clone(),
        status: Status::Open,
        started_at: now,
        action: exp.action.name().to_owned(),
        via_asg: matches!(exp.action, Action::Terminate { via_asg: true }),
        groups,
        standalone,
        timeout_s: exp.recovery.timeout.as_secs(),
        alarms: exp.recovery.alarms.clone(),
        failed: vec![],
        outcome: None,
        commands: vec![],
        duration_s: match &exp.action {
            Action::Agent(agent) => Some(agent.duration.as_secs()),
            _ => None,
        },
    }
}

async fn act(aws: &Aws, action: Action, chosen: &[Target]) -> Vec<TargetResult> {
    let asg_of: BTreeMap<&str, Option<String>> = chosen
        .iter()
        .map(|t| (t.instance_id.as_str(), t.asg.clone()))
        .collect();
    let outcomes: ec2::Outcomes = match &action {
        Action::Terminate { via_asg: true } => {
            let mut out = Vec::with_capacity(chosen.len());
            for t in chosen {
                out.push((
                    t.instance_id.clone(),
                    autoscaling::terminate_and_replace(&aws.autoscaling, &t.instance_id).await,
                ));
            }
            out
        }
        other => {
            let ec2_action = match other {
                Action::Terminate { .. } => Ec2Action::Terminate,
                Action::Stop => Ec2Action::Stop,
                Action::Reboot => Ec2Action::Reboot,
                // Sent through SSM by `send_agent`, never here.
                Action::Agent(_) => return vec![],
            };
            let ids: Vec<String> = chosen.iter().map(|t| t.instance_id.clone()).collect();
            ec2::act(&aws.ec2, ec2_action, &ids).await
        }
    };
    outcomes
        .into_iter()
        .map(|(id, res)| {
            let asg = asg_of.get(id.as_str()).cloned().flatten();
            match res {
                Ok(state) => TargetResult {
                    instance_id: id,
                    asg,
                    outcome: action.past_tense().to_owned(),
                    state,
                    error: None,
                },
                Err(e) => TargetResult {
                    instance_id: id,
                    asg,
                    outcome: "failed".to_owned(),
                    state: None,
                    error: Some(e),
                },
            }
        })
        .collect()
}

/// Sends the agent's fault to the chosen instances with the faultline SSM document, in batches
/// of at most 50 (SendCommand's limit). Returns per-target results (`sent`, with the command
/// id as `state`) and the command ids.
async fn send_agent(
    aws: &Aws,
    settings: &Settings,
    inv: &Invocation,
    agent: &AgentAction,
    chosen: &[Target],
) -> (Vec<TargetResult>, Vec<String>) {
    let mut params = agent.ssm_parameters();
    if let Some(uri) = &settings.agent_s3_uri {
        params.push(("AgentS3Uri", uri.clone()));
    }
    let comment = format!("faultline {} {}", inv.experiment.name, inv.execution_id);
    let mut results = Vec::with_capacity(chosen.len());
    let mut commands = Vec::new();
    for batch in chosen.chunks(ssm::SEND_COMMAND_MAX_TARGETS) {
        let ids: Vec<String> = batch.iter().map(|t| t.instance_id.clone()).collect();
        let sent =
            ssm::send_command(&aws.ssm, &settings.agent_document, &ids, &params, &comment).await;
        info!(experiment = %inv.experiment.name, fault = agent.fault.kind().name(), targets = ids.len(),
              command = sent.as_ref().map(String::as_str).unwrap_or(""), decision = "agent_sent", "SendCommand");
        if let Ok(id) = &sent {
            commands.push(id.clone());
        }
        for t in batch {
            results.push(match &sent {
                Ok(id) => TargetResult {
                    instance_id: t.instance_id.clone(),
                    asg: t.asg.clone(),
                    outcome: "sent".to_owned(),
                    state: Some(id.clone()),
                    error: None,
                },
                Err(e) => TargetResult {
                    instance_id: t.instance_id.clone(),
                    asg: t.asg.clone(),
                    outcome: "failed".to_owned(),
                    state: None,
                    error: Some(e.to_string()),
                },
            });
        }
    }
    (results, commands)
}

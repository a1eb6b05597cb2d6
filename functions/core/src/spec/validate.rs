//! Raw to valid: [`validate`] checks a [`RawExperiment`] field by field and builds the
//! [`Experiment`], naming the field of the first problem it finds.

use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use faultline_faults::{Fault, FaultDuration};

use crate::spec::action::{Action, AgentAction, AzMode, AzOutage};
use crate::spec::calendar::{Freeze, Start};
use crate::spec::error::SpecError;
use crate::spec::experiment::Experiment;
use crate::spec::guards::{Guards, Recovery, DEFAULT_RECOVERY_TIMEOUT};
use crate::spec::hypothesis::{
    Comparison, Hypothesis, Phase as HPhase, SteadyState, DEFAULT_AFTER_S, DEFAULT_BEFORE_S,
    DEFAULT_REGRESSION_FACTOR, DEFAULT_REGRESSION_RUNS,
};
use crate::spec::lambda::{check_faults, LambdaAction, LambdaKind};
use crate::spec::raw::{
    RawAction, RawExperiment, RawFreeze, RawHypothesis, RawSelection, RawSteadyState, RawWindow,
};
use crate::spec::targets::{Resource, Selection, Targets, Zones, UNCAPPED_SELECTION_LIMIT};
use crate::window::{Days, Window};

fn valid_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub(super) fn validate(mut raw: RawExperiment, p: &str) -> Result<Experiment, SpecError> {
    let at = |field: &str| format!("{p}{field}");

    if !valid_name(&raw.name, 64) {
        return Err(SpecError::new(
            at("name"),
            format!(
                "{:?} is not a valid name: use 1 to 64 letters, digits, '-', '_' or '.'",
                raw.name
            ),
        ));
    }

    // Targets.
    // AWS counts tag lengths in Unicode characters, not bytes.
    for (k, v) in &raw.targets.tags {
        let (key_chars, value_chars) = (k.chars().count(), v.chars().count());
        if k.is_empty() || key_chars > 128 || value_chars > 256 {
            return Err(SpecError::new(
                at(&format!("targets.tags.{k}")),
                format!(
                    "tag keys must be 1 to 128 characters and values at most 256, got a key of \
                     {key_chars} and a value of {value_chars}"
                ),
            ));
        }
    }
    if let Some(names) = &raw.targets.asg_names {
        if raw.targets.resource != Resource::AsgInstance {
            return Err(SpecError::new(
                at("targets.asg_names"),
                "asg_names applies to \"resource\": \"asg-instance\" only; for ec2-instance, \
                 select by tags",
            ));
        }
        if names.is_empty() {
            return Err(SpecError::new(
                at("targets.asg_names"),
                "is empty: list at least one group, or omit it to target every opted-in group",
            ));
        }
        if let Some((i, n)) = names
            .iter()
            .enumerate()
            .find(|(_, n)| n.is_empty() || n.len() > 255)
        {
            return Err(SpecError::new(
                at(&format!("targets.asg_names[{i}]")),
                format!("{n:?} is not a valid Auto Scaling group name (1 to 255 characters)"),
            ));
        }
    }

    let zones = match raw.targets.availability_zones.take() {
        None => None,
        Some(v) => Some(parse_zones(v, &at("targets.availability_zones"))?),
    };
    if zones.is_some() && !raw.targets.resource.is_instance() {
        return Err(SpecError::new(
            at("targets.availability_zones"),
            "applies to instances (asg-instance, ec2-instance), not to Lambda functions",
        ));
    }

    // Selection.
    let selection = match raw.selection {
        RawSelection::Percent { value, per_group } => {
            if !(value.is_finite() && (0.0..=100.0).contains(&value)) {
                return Err(SpecError::new(
                    at("selection.value"),
                    format!("a percentage must be between 0 and 100, got {value}"),
                ));
            }
            if per_group {
                Selection::PercentEach(value)
            } else {
                Selection::Percent(value)
            }
        }
        RawSelection::Count { value } => {
            if value == 0 {
                return Err(SpecError::new(
                    at("selection.value"),
                    "a count must be at least 1 (disable the experiment with \"enabled\": false)",
                ));
            }
            Selection::Count(value)
        }
        RawSelection::All {} => Selection::All,
    };

    // Action.
    let action = match raw.action {
        RawAction::Terminate { via_asg } => {
            if via_asg && raw.targets.resource != Resource::AsgInstance {
                return Err(SpecError::new(
                    at("action.via_asg"),
                    "via_asg needs \"resource\": \"asg-instance\" (it asks the group to replace \
                     the instance)",
                ));
            }
            Action::Terminate { via_asg }
        }
        RawAction::Stop { restart_after } => Action::Stop {
            restart_after: restart_after
                .map(|t| span(&at("action.restart_after"), &t, "10m", 60, 24 * 3600))
                .transpose()?,
        },
        RawAction::Reboot {} => Action::Reboot,
        RawAction::Agent {
            fault,
            args,
            duration,
            toward_zones,
        } => {
            let bad = |e: faultline_faults::FaultError| {
                let field = match e.field.as_str() {
                    "fault" => "action.fault".to_owned(),
                    "duration" => "action.duration".to_owned(),
                    f => format!("action.args.{f}"),
                };
                SpecError::new(at(&field), e.message)
            };
            let fault = Fault::from_raw(&fault, &args).map_err(bad)?;
            fault.ssm_args().map_err(bad)?;
            let duration = FaultDuration::parse(&duration).map_err(bad)?.0;
            let toward_zones = toward_zones.unwrap_or_default();
            if !toward_zones.is_empty() {
                let field = at("action.toward_zones");
                if !fault.kind().allowed().contains(&"to") {
                    return Err(SpecError::new(
                        field,
                        format!(
                            "applies to network faults (latency, loss, ...), not to {}",
                            fault.kind().name()
                        ),
                    ));
                }
                for (i, z) in toward_zones.iter().enumerate() {
                    if z != "other" && !valid_zone(z) {
                        return Err(SpecError::new(
                            format!("{field}[{i}]"),
                            format!("{z:?} is neither \"other\" nor an Availability Zone name like \"us-east-1b\""),
                        ));
                    }
                }
            }
            Action::Agent(AgentAction {
                fault,
                duration,
                args,
                toward_zones,
            })
        }
        RawAction::AzOutage {
            duration,
            mode,
            network,
        } => {
            let mode = match mode.as_deref() {
                None | Some("stop") => AzMode::Stop,
                Some("terminate") => AzMode::Terminate,
                Some(m) => {
                    return Err(SpecError::new(
                        at("action.mode"),
                        format!("{m:?}: use \"stop\" (started again at the end) or \"terminate\""),
                    ))
                }
            };
            let one_zone = match &zones {
                Some(Zones::Random) => true,
                Some(Zones::Named(z)) => z.len() == 1,
                None => false,
            };
            if !one_zone {
                return Err(SpecError::new(
                    at("targets.availability_zones"),
                    "az-outage takes out one zone: set it to one zone name, e.g. [\"us-east-1b\"], or \"random\"",
                ));
            }
            if selection != Selection::All {
                return Err(SpecError::new(
                    at("selection"),
                    "az-outage takes out every opted-in instance in the zone: use {\"mode\": \"all\"} (and guards.max_targets as the cap)",
                ));
            }
            Action::AzOutage(AzOutage {
                mode,
                network,
                duration: span(&at("action.duration"), &duration, "15m", 60, 12 * 3600)?,
            })
        }
        RawAction::LambdaFault { faults, duration } => {
            check_faults(&faults, &at("action.faults"))?;
            lambda_action(LambdaKind::Fault(faults), &duration, &at("action.duration"))?
        }
        RawAction::Throttle { duration } => {
            lambda_action(LambdaKind::Throttle, &duration, &at("action.duration"))?
        }
        RawAction::DisableEventSource { duration } => lambda_action(
            LambdaKind::DisableEventSource,
            &duration,
            &at("action.duration"),
        )?,
    };
    // Instance actions need instances; Lambda actions need functions.
    let on_functions = matches!(action, Action::Lambda(_));
    if on_functions == raw.targets.resource.is_instance() {
        return Err(SpecError::new(
            at("action.type"),
            if on_functions {
                format!(
                    "{} acts on Lambda functions: use \"resource\": \"lambda-function\"",
                    action.name()
                )
            } else {
                format!(
                    "{} acts on EC2 instances: with \"resource\": \"lambda-function\" use \
                     lambda-fault, throttle or disable-event-source",
                    action.name()
                )
            },
        ));
    }

    // Guards.
    let g = raw.guards;
    check_alarm_names(&g.stop_alarms, &at("guards.stop_alarms"))?;
    check_alarm_names(&g.abort_alarms, &at("guards.abort_alarms"))?;
    if g.max_targets == Some(0) {
        return Err(SpecError::new(
            at("guards.max_targets"),
            "must be at least 1 (disable the experiment with \"enabled\": false)",
        ));
    }
    if !(g.probability.is_finite() && (0.0..=1.0).contains(&g.probability)) {
        return Err(SpecError::new(
            at("guards.probability"),
            format!("must be between 0.0 and 1.0, got {}", g.probability),
        ));
    }
    let windows = g
        .windows
        .into_iter()
        .enumerate()
        .map(|(i, w)| parse_window(w, &at(&format!("guards.windows[{i}]"))))
        .collect::<Result<Vec<_>, _>>()?;
    // Checked after every guard field on its own, so a bad field is named before the missing cap.
    if g.max_targets.is_none() {
        check_bounded(&selection, &at("guards.max_targets"))?;
    }

    // Recovery.
    let timeout = match raw.recovery.timeout {
        None => DEFAULT_RECOVERY_TIMEOUT,
        Some(t) => span(&at("recovery.timeout"), &t, "30m", 60, 7 * 24 * 3600)?,
    };
    if let Action::Stop {
        restart_after: Some(r),
    } = &action
    {
        if *r >= timeout {
            return Err(SpecError::new(
                at("action.restart_after"),
                format!(
                    "{} is not before the recovery timeout ({}): the experiment would time out \
                     before the instances start again; shorten it or raise recovery.timeout",
                    humantime::format_duration(*r),
                    humantime::format_duration(timeout)
                ),
            ));
        }
    }
    let held = match &action {
        Action::Lambda(l) => Some(l.duration),
        Action::AzOutage(a) => Some(a.duration),
        _ => None,
    };
    if let Some(duration) = held {
        if duration >= timeout {
            return Err(SpecError::new(
                at("action.duration"),
                format!(
                    "{} is not before the recovery timeout ({}): the experiment would time out \
                     before it is restored; shorten it or raise recovery.timeout",
                    humantime::format_duration(duration),
                    humantime::format_duration(timeout)
                ),
            ));
        }
    }
    check_alarm_names(&raw.recovery.alarms, &at("recovery.alarms"))?;

    let freeze = g
        .freeze
        .into_iter()
        .enumerate()
        .map(|(i, f)| parse_freeze(f, &at(&format!("guards.freeze[{i}]"))))
        .collect::<Result<Vec<_>, _>>()?;
    let min_interval = g
        .min_interval
        .map(|t| span(&at("guards.min_interval"), &t, "1d", 60, 90 * 24 * 3600))
        .transpose()?;
    let hypothesis = raw
        .hypothesis
        .map(|h| parse_hypothesis(h, &at("hypothesis")))
        .transpose()?;
    let start = match raw.start.as_deref() {
        None | Some("schedule") => Start::Schedule,
        Some("random") if windows.is_empty() => {
            return Err(SpecError::new(
                at("start"),
                "\"random\" picks a minute inside guards.windows: add at least one window \
                 (e.g. {\"days\": \"MON-FRI\", \"start\": \"10:00\", \"end\": \"16:00\", \"tz\": \"Europe/London\"})",
            ))
        }
        Some("random") => Start::Random,
        Some(other) => {
            return Err(SpecError::new(
                at("start"),
                format!("{other:?} is not a start: use \"schedule\" (default) or \"random\""),
            ))
        }
    };

    Ok(Experiment {
        name: raw.name,
        enabled: raw.enabled,
        targets: Targets {
            resource: raw.targets.resource,
            tags: raw.targets.tags,
            asg_names: raw.targets.asg_names,
            zones,
        },
        selection,
        action,
        dry_run: raw.dry_run,
        guards: Guards {
            stop_alarms: g.stop_alarms,
            abort_alarms: g.abort_alarms,
            min_healthy: g.min_healthy,
            max_targets: g.max_targets,
            windows,
            probability: g.probability,
            allow_single_az: g.allow_single_az,
            freeze,
            min_interval,
        },
        recovery: Recovery {
            timeout,
            alarms: raw.recovery.alarms,
        },
        notify_refusals: raw.notify_refusals,
        hypothesis,
        start,
    })
}

/// One `guards.freeze` entry: one `date`, or `from` and `to` (both included).
pub(super) fn parse_freeze(f: RawFreeze, path: &str) -> Result<Freeze, SpecError> {
    if f.name.trim().is_empty() || f.name.len() > 100 {
        return Err(SpecError::new(
            format!("{path}.name"),
            "must be 1 to 100 characters: the refusal names the date by it",
        ));
    }
    let day = |field: &str, v: &str| {
        NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|e| {
            SpecError::new(
                format!("{path}.{field}"),
                format!("{v:?} is not a date like \"2026-12-24\" ({e})"),
            )
        })
    };
    let (from, to) = match (f.date, f.from, f.to) {
        (Some(d), None, None) => {
            let d = day("date", &d)?;
            (d, d)
        }
        (None, Some(a), Some(b)) => (day("from", &a)?, day("to", &b)?),
        _ => {
            return Err(SpecError::new(
                path,
                "give either \"date\" or both \"from\" and \"to\"",
            ))
        }
    };
    if to < from {
        return Err(SpecError::new(
            format!("{path}.to"),
            format!("{to} is before from ({from})"),
        ));
    }
    let tz: Tz = f.tz.parse().map_err(|_| {
        SpecError::new(
            format!("{path}.tz"),
            format!(
                "{:?} is not an IANA time zone (like \"Europe/London\" or \"UTC\")",
                f.tz
            ),
        )
    })?;
    Ok(Freeze {
        name: f.name,
        from,
        to,
        tz,
    })
}

/// `hypothesis`: durations in range, each condition's metric, statistic, comparison, phases
/// and period.
fn parse_hypothesis(h: RawHypothesis, path: &str) -> Result<Hypothesis, SpecError> {
    let secs = |field: &str, v: Option<String>, default: u64, min: u64, max: u64| {
        v.map(|t| span(&format!("{path}.{field}"), &t, "5m", min, max).map(|d| d.as_secs()))
            .transpose()
            .map(|x| x.unwrap_or(default))
    };
    let max_ttr_s = h
        .max_ttr
        .map(|t| span(&format!("{path}.max_ttr"), &t, "5m", 1, 7 * 24 * 3600).map(|d| d.as_secs()))
        .transpose()?;
    let before_s = secs("before", h.before, DEFAULT_BEFORE_S, 60, 24 * 3600)?;
    let after_s = secs("after", h.after, DEFAULT_AFTER_S, 0, 24 * 3600)?;
    let (runs, factor) = match h.regression {
        None => (DEFAULT_REGRESSION_RUNS, DEFAULT_REGRESSION_FACTOR),
        Some(r) => (
            r.runs.unwrap_or(DEFAULT_REGRESSION_RUNS),
            r.factor.unwrap_or(DEFAULT_REGRESSION_FACTOR),
        ),
    };
    if runs > 100 {
        return Err(SpecError::new(
            format!("{path}.regression.runs"),
            format!("{runs} is more than 100 previous runs"),
        ));
    }
    if !(factor.is_finite() && factor > 1.0 && factor <= 100.0) {
        return Err(SpecError::new(
            format!("{path}.regression.factor"),
            format!("must be above 1.0 and at most 100 (1.5 = 50 % slower), got {factor}"),
        ));
    }
    let conditions = h
        .steady_state
        .into_iter()
        .enumerate()
        .map(|(i, c)| parse_steady_state(c, &format!("{path}.steady_state[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    if conditions.len() > 20 {
        return Err(SpecError::new(
            format!("{path}.steady_state"),
            format!("{} conditions: at most 20", conditions.len()),
        ));
    }
    let mut names: Vec<&str> = conditions.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(SpecError::new(
            format!("{path}.steady_state"),
            format!(
                "two conditions are named {:?}: give each a distinct \"name\"",
                w[0]
            ),
        ));
    }
    Ok(Hypothesis {
        max_ttr_s,
        conditions,
        before_s,
        after_s,
        regression_runs: runs,
        regression_factor: factor,
    })
}

const STATISTICS: [&str; 5] = ["Average", "Minimum", "Maximum", "Sum", "SampleCount"];

fn valid_statistic(s: &str) -> bool {
    STATISTICS.contains(&s)
        || s.strip_prefix('p').is_some_and(|p| {
            !p.is_empty()
                && p.len() <= 6
                && p.parse::<f64>().is_ok_and(|v| v > 0.0 && v < 100.0)
                && p.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
}

fn parse_steady_state(c: RawSteadyState, path: &str) -> Result<SteadyState, SpecError> {
    let at = |f: &str| format!("{path}.{f}");
    if c.namespace.is_empty() || c.namespace.len() > 255 {
        return Err(SpecError::new(
            at("namespace"),
            "must be 1 to 255 characters",
        ));
    }
    if c.metric.is_empty() || c.metric.len() > 255 {
        return Err(SpecError::new(at("metric"), "must be 1 to 255 characters"));
    }
    if c.dimensions.len() > 30 {
        return Err(SpecError::new(at("dimensions"), "at most 30 dimensions"));
    }
    if !valid_statistic(&c.statistic) {
        return Err(SpecError::new(
            at("statistic"),
            format!(
                "{:?} is not a statistic: use Average, Minimum, Maximum, Sum, SampleCount or a \
                 percentile like p99",
                c.statistic
            ),
        ));
    }
    let comparison = match c.comparison.as_str() {
        ">=" => Comparison::Ge,
        ">" => Comparison::Gt,
        "<=" => Comparison::Le,
        "<" => Comparison::Lt,
        other => {
            return Err(SpecError::new(
                at("comparison"),
                format!("{other:?} is not a comparison: use >=, >, <= or <"),
            ))
        }
    };
    if !c.threshold.is_finite() {
        return Err(SpecError::new(at("threshold"), "must be a finite number"));
    }
    let mut when = c
        .when
        .iter()
        .map(|w| match w.as_str() {
            "before" => Ok(HPhase::Before),
            "during" => Ok(HPhase::During),
            "after" => Ok(HPhase::After),
            other => Err(SpecError::new(
                at("when"),
                format!("{other:?} is not a phase: use \"before\", \"during\", \"after\""),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    when.sort_unstable();
    when.dedup();
    if when.is_empty() {
        return Err(SpecError::new(
            at("when"),
            "name at least one phase: \"before\", \"during\", \"after\"",
        ));
    }
    let period_s = match c.period {
        None => 60,
        Some(t) => {
            let d = span(&at("period"), &t, "60s", 1, 24 * 3600)?.as_secs();
            if !(matches!(d, 1 | 5 | 10 | 30) || d % 60 == 0) {
                return Err(SpecError::new(
                    at("period"),
                    format!(
                        "{t:?}: CloudWatch periods are 1, 5, 10, 30 seconds or a multiple of 60"
                    ),
                ));
            }
            d as u32
        }
    };
    let name = match c.name {
        Some(n) if n.is_empty() || n.len() > 64 => {
            return Err(SpecError::new(at("name"), "must be 1 to 64 characters"))
        }
        Some(n) => n,
        None => format!("{} {}", c.metric, c.statistic),
    };
    Ok(SteadyState {
        name,
        namespace: c.namespace,
        metric: c.metric,
        dimensions: c.dimensions,
        statistic: c.statistic,
        comparison,
        threshold: c.threshold,
        when,
        period_s,
    })
}

/// Without `guards.max_targets`, a selection must not be able to request more than
/// [`UNCAPPED_SELECTION_LIMIT`] targets: `{"resource": "ec2-instance"}` with `"mode": "all"`
/// would otherwise hit every opted-in instance in the region, and standalone instances have no
/// group floor to stop it.
fn check_bounded(selection: &Selection, path: &str) -> Result<(), SpecError> {
    let why = match (*selection, selection.upper_bound()) {
        (_, Some(n)) if n <= UNCAPPED_SELECTION_LIMIT => return Ok(()),
        (Selection::All, _) => "selection \"all\" has no upper bound".to_owned(),
        (Selection::Percent(p) | Selection::PercentEach(p), _) => {
            format!("selection \"percent\" ({p} %) grows with the fleet and has no upper bound")
        }
        (Selection::Count(n), _) => format!(
            "selection \"count\" of {n} is above the {UNCAPPED_SELECTION_LIMIT} targets a \
             round may hit without it"
        ),
    };
    Err(SpecError::new(
        path,
        format!(
            "is required: set guards.max_targets (at most how many instances one round may hit, \
             e.g. \"guards\": {{\"max_targets\": {UNCAPPED_SELECTION_LIMIT}}}); {why}"
        ),
    ))
}

fn check_alarm_names(names: &[String], path: &str) -> Result<(), SpecError> {
    if names.len() > 100 {
        return Err(SpecError::new(path, "at most 100 alarms"));
    }
    match names
        .iter()
        .enumerate()
        .find(|(_, n)| n.is_empty() || n.len() > 255)
    {
        Some((i, n)) => Err(SpecError::new(
            format!("{path}[{i}]"),
            format!("{n:?} is not a valid alarm name (1 to 255 characters)"),
        )),
        None => Ok(()),
    }
}

fn parse_window(w: RawWindow, path: &str) -> Result<Window, SpecError> {
    let days = Days::parse(&w.days).map_err(|m| SpecError::new(format!("{path}.days"), m))?;
    let time = |s: &str, field: &str| {
        NaiveTime::parse_from_str(s, "%H:%M")
            .ok()
            .filter(|_| s.len() == 5)
            .ok_or_else(|| {
                SpecError::new(
                    format!("{path}.{field}"),
                    format!("{s:?} is not a time of day as HH:MM between 00:00 and 23:59"),
                )
            })
    };
    let start = time(&w.start, "start")?;
    let end = if w.end == "24:00" {
        None
    } else {
        Some(time(&w.end, "end")?)
    };
    if Some(start) == end {
        return Err(SpecError::new(
            format!("{path}.end"),
            "equals start: a window must have a length (use 00:00 to 24:00 for all day)",
        ));
    }
    let tz: Tz = w.tz.parse().map_err(|_| {
        SpecError::new(
            format!("{path}.tz"),
            format!(
                "{:?} is not an IANA time zone name like \"Europe/London\" or \"UTC\"",
                w.tz
            ),
        )
    })?;
    Ok(Window {
        days,
        start,
        end,
        tz,
    })
}

/// An Availability Zone name like `us-east-1b` (or a zone id like `use1-az2`).
fn valid_zone(z: &str) -> bool {
    (4..=32).contains(&z.len())
        && z.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `"random"`, or a non-empty list of distinct zone names.
fn parse_zones(v: serde_json::Value, path: &str) -> Result<Zones, SpecError> {
    use serde_json::Value;
    match v {
        Value::String(s) if s == "random" => Ok(Zones::Random),
        Value::Array(items) if !items.is_empty() => {
            let mut out = Vec::with_capacity(items.len());
            for (i, z) in items.iter().enumerate() {
                match z.as_str() {
                    Some(z) if valid_zone(z) && !out.iter().any(|o: &String| o == z) => {
                        out.push(z.to_owned())
                    }
                    _ => {
                        return Err(SpecError::new(
                            format!("{path}[{i}]"),
                            format!(
                                "{z} is not a distinct Availability Zone name like \"us-east-1b\""
                            ),
                        ))
                    }
                }
            }
            Ok(Zones::Named(out))
        }
        other => Err(SpecError::new(
            path,
            format!("{other}: use \"random\" or a list of zone names like [\"us-east-1b\"]"),
        )),
    }
}

/// A Lambda action lasting `text` (5 seconds to 12 hours).
fn lambda_action(kind: LambdaKind, text: &str, field: &str) -> Result<Action, SpecError> {
    let duration = span(field, text, "10m", 5, 12 * 3600)?;
    Ok(Action::Lambda(LambdaAction { kind, duration }))
}

/// A duration of at least `min_s` and at most `max_s` seconds, written like `example`.
fn span(
    field: &str,
    text: &str,
    example: &str,
    min_s: u64,
    max_s: u64,
) -> Result<Duration, SpecError> {
    let d = humantime::parse_duration(text).map_err(|e| {
        SpecError::new(
            field,
            format!("{text:?} is not a duration like \"{example}\" or \"1h 30m\" ({e})"),
        )
    })?;
    if d < Duration::from_secs(min_s) || d > Duration::from_secs(max_s) {
        return Err(SpecError::new(
            field,
            format!(
                "{text:?} is out of range: use between {} and {}",
                humantime::format_duration(Duration::from_secs(min_s)),
                humantime::format_duration(Duration::from_secs(max_s))
            ),
        ));
    }
    Ok(d)
}

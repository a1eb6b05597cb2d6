//! Messages people read: the SNS subject and a plain-text body that reads well in an email.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::outcome::{RoundOutcome, RoundResult};
use crate::settings::Settings;
use crate::spec::{Action, Experiment};

/// A message ready for SNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// One line, at most 100 characters (SNS's limit).
    pub subject: String,
    /// Plain text.
    pub body: String,
}

/// SNS subjects: at most 100 printable ASCII characters, no line breaks.
pub fn subject_line(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                ' '
            }
        })
        .collect();
    if clean.len() <= 100 {
        clean
    } else {
        format!("{}...", &clean[..97])
    }
}

fn places(r: &RoundResult) -> String {
    let zones = if r.plan.zones.is_empty() {
        String::new()
    } else {
        format!(" in {}", r.plan.zones.join(", "))
    };
    format!("{}{zones}", groups_of(r))
}

fn groups_of(r: &RoundResult) -> String {
    let mut groups: Vec<&str> = r
        .plan
        .chosen
        .iter()
        .filter_map(|t| t.asg.as_deref())
        .collect();
    groups.sort();
    groups.dedup();
    let standalone = r.plan.chosen.iter().any(|t| t.asg.is_none());
    let groups = match groups.as_slice() {
        [] => None,
        [g] => Some(g.to_string()),
        [a, b] => Some(format!("{a}, {b}")),
        gs => Some(format!("{} groups", gs.len())),
    };
    match (groups, standalone) {
        (None, _) => String::new(),
        (Some(g), false) => format!(" in {g}"),
        (Some(g), true) => format!(" in {g} and standalone"),
    }
}

/// The message for a round that acted (or, when asked, refused).
pub fn injected(r: &RoundResult, exp: &Experiment, settings: &Settings) -> Message {
    let hit = r.results.iter().filter(|t| t.error.is_none()).count();
    let failed = r.results.len() - hit;
    let subject = match r.outcome {
        RoundOutcome::Refused => format!(
            "[faultline] {}: refused by {}",
            r.experiment,
            r.refusals
                .first()
                .map(|x| x.guard.name())
                .unwrap_or("a guard")
        ),
        _ => format!(
            "[faultline] {}: {} {hit} of {} {}{}{}",
            r.experiment,
            match &exp.action {
                Action::Agent(a) => format!(
                    "injected {} for {} on",
                    a.fault.kind(),
                    humantime::format_duration(a.duration)
                ),
                other => other.past_tense().to_owned(),
            },
            r.plan.eligible,
            if exp.targets.resource.is_instance() {
                "instances"
            } else {
                "functions"
            },
            places(r),
            if failed > 0 {
                format!(" ({failed} failed)")
            } else {
                String::new()
            }
        ),
    };

    let mut b = String::new();
    let _ = writeln!(
        b,
        "faultline experiment \"{}\" {}.",
        r.experiment,
        match r.outcome {
            RoundOutcome::Acted => "ran",
            RoundOutcome::Partial => "ran, with failures",
            RoundOutcome::Failed => "failed: no target was hit",
            RoundOutcome::Refused => "was refused; nothing was changed",
            RoundOutcome::DryRun => "was a dry run; nothing was changed",
            RoundOutcome::Duplicate => "was a duplicate delivery; nothing was changed",
        }
    );
    let _ = writeln!(b);
    let _ = writeln!(b, "Experiment:  {} (id {})", r.experiment, r.experiment_id);
    let how = match &exp.action {
        Action::Terminate { via_asg: true } => {
            "terminate through Auto Scaling (replaced at once)".to_owned()
        }
        Action::Terminate { via_asg: false } => {
            "terminate through the EC2 API (groups must notice by themselves)".to_owned()
        }
        Action::Stop { .. } => "stop".to_owned(),
        Action::Reboot => "reboot".to_owned(),
        Action::Agent(a) => format!(
            "{} {} for {} with faultline-agent (SSM document {}); it rolls itself back",
            a.fault.kind(),
            a.fault.to_args().join(" "),
            humantime::format_duration(a.duration),
            settings.agent_document
        ),
        Action::AzOutage(a) => format!(
            "az-outage of {} for {}: instances {}, the zone's subnets out of every opted-in group{}; the recovery timer restores it all then",
            r.plan.zones.join(", "),
            humantime::format_duration(a.duration),
            match a.mode {
                crate::spec::AzMode::Stop => "stopped",
                crate::spec::AzMode::Terminate => "terminated",
            },
            if a.network { ", a deny-all network ACL on its opted-in subnets" } else { "" }
        ),
        Action::Lambda(l) => format!(
            "{} for {}; the recovery timer restores each function as it was then",
            l.kind.name(),
            humantime::format_duration(l.duration)
        ),
    };
    let _ = writeln!(b, "Action:      {how}");
    if !r.commands.is_empty() {
        let _ = writeln!(b, "Commands:    {}", r.commands.join(", "));
    }
    let _ = writeln!(
        b,
        "Started:     {}",
        r.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let _ = writeln!(
        b,
        "Eligible:    {} opted-in, healthy instance(s)",
        r.plan.eligible
    );
    if r.outcome != RoundOutcome::Refused {
        let _ = writeln!(
            b,
            "Chosen:      {} of {} requested",
            r.plan.chosen.len(),
            r.plan.requested
        );
    }
    for c in &r.plan.capped_by {
        let _ = writeln!(b, "Capped by:   {c}");
    }
    for x in &r.refusals {
        let _ = writeln!(b, "Refused by:  {} - {}", x.guard.name(), x.reason);
    }

    if !r.results.is_empty() {
        let _ = writeln!(b);
        let _ = writeln!(b, "Targets:");
        for t in &r.results {
            let group = t.asg.as_deref().unwrap_or("(standalone)");
            match &t.error {
                None => {
                    let _ = writeln!(b, "  {:<20} {:<24} {}", t.instance_id, group, t.outcome);
                }
                Some(e) => {
                    let _ = writeln!(b, "  {:<20} {:<24} FAILED: {e}", t.instance_id, group);
                }
            }
        }
    }

    let spared: Vec<_> = r
        .plan
        .groups
        .iter()
        .filter_map(|g| g.spared.as_ref().map(|s| (&g.name, s)))
        .collect();
    if !spared.is_empty() || !r.plan.excluded.is_empty() {
        let _ = writeln!(b);
        let _ = writeln!(b, "Spared:");
        for (name, why) in spared {
            let _ = writeln!(b, "  {name}: {why}");
        }
        let excluded: &BTreeMap<String, usize> = &r.plan.excluded;
        for (why, n) in excluded {
            let _ = writeln!(b, "  {n} instance(s): {why}");
        }
    }

    let _ = writeln!(b);
    if matches!(r.outcome, RoundOutcome::Acted | RoundOutcome::Partial) {
        let alarms = if exp.recovery.alarms.is_empty() {
            String::new()
        } else {
            format!(" and alarms {} back to OK", exp.recovery.alarms.join(", "))
        };
        let watching = match &exp.action {
            Action::Agent(a) => format!(
                "the agent rolls {} back after {}; watching for up to {}",
                a.fault.kind(),
                humantime::format_duration(a.duration),
                humantime::format_duration(exp.recovery.timeout)
            ),
            Action::Lambda(l) => format!(
                "restoring after {}, then watching for up to {} in all",
                humantime::format_duration(l.duration),
                humantime::format_duration(exp.recovery.timeout)
            ),
            _ => format!(
                "watching for up to {} for replacement capacity",
                humantime::format_duration(exp.recovery.timeout)
            ),
        };
        let _ = writeln!(
            b,
            "Recovery:    {watching}{alarms}; a second message will say how long recovery took."
        );
    }
    let _ = writeln!(
        b,
        "Halt every experiment: set the SSM parameter {} to false.",
        settings.kill_switch_param
    );
    Message {
        subject: subject_line(&subject),
        body: b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_one_line_of_at_most_100_ascii_characters() {
        assert_eq!(subject_line("a\nb"), "a b");
        assert_eq!(subject_line("é"), " ");
        let long = "x".repeat(150);
        let s = subject_line(&long);
        assert_eq!(s.len(), 100);
        assert!(s.ends_with("..."));
    }
}

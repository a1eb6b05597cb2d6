//! The report as readable lines: what `faultline report <id>` prints.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use faultline_core::recovery::short_duration;
use faultline_core::verdict::Measure;

use crate::model::Report;

/// At most this many targets and spared resources are listed (the counts are in full).
const LIST: usize = 10;

/// `2026-11-23 10:00:00 UTC`.
pub(crate) fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `2m 31s` from seconds.
pub(crate) fn secs(s: i64) -> String {
    short_duration(s)
}

/// The report as text, one fact a line.
pub fn text(r: &Report) -> String {
    let mut o = String::new();
    let badge = r.badge();
    let _ = writeln!(
        o,
        "{}  ({})  {}",
        r.experiment,
        r.id,
        badge.label().to_uppercase()
    );
    let inj = &r.injection;
    let zones = if inj.zones.is_empty() {
        String::new()
    } else {
        format!(" in {}", inj.zones.join(", "))
    };
    let _ = writeln!(
        o,
        "  action      {} on {} target(s) at {}{zones}",
        inj.action,
        r.targets.len(),
        when(inj.at)
    );
    if let Some(d) = inj.duration_s {
        let _ = writeln!(o, "  duration    {}", secs(d as i64));
    }
    if !r.guards.is_empty() {
        let _ = writeln!(o, "  guards      {} passed", r.guards.join(", "));
    }
    let _ = writeln!(o, "  targets     {}", r.targets.len());
    for t in r.targets.iter().take(LIST) {
        let place: Vec<&str> = [t.group.as_deref(), t.zone.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let _ = writeln!(o, "    {:<21} {}", t.id, place.join(", "));
    }
    if r.targets.len() > LIST {
        let _ = writeln!(o, "    ... and {} more", r.targets.len() - LIST);
    }
    if !r.failed.is_empty() {
        let _ = writeln!(o, "  failed on   {}", r.failed.join(", "));
    }
    if r.spared_total > 0 || !r.spared.is_empty() {
        let _ = writeln!(o, "  spared      {}", r.spared_total.max(r.spared.len()));
        for s in r.spared.iter().take(LIST) {
            let _ = writeln!(o, "    {:<21} {}", s.id, s.reason);
        }
        if r.spared_total.max(r.spared.len()) > LIST.min(r.spared.len()) {
            let _ = writeln!(
                o,
                "    ... and {} more",
                r.spared_total.max(r.spared.len()) - LIST.min(r.spared.len())
            );
        }
    }
    for line in &inj.restored {
        let _ = writeln!(o, "  restored    {line}");
    }
    if let Some(t) = inj.restored_at {
        let _ = writeln!(o, "  restored at {}", when(t));
    }
    let rec = &r.recovery;
    let recovery = match (rec.recovered_at, rec.ttr_s, rec.outcome) {
        (Some(at), Some(ttr), _) => format!(
            "recovered at {} (TTR {}{})",
            when(at),
            if rec.observed { "at most " } else { "" },
            secs(ttr)
        ),
        (_, _, Some(outcome)) => outcome.name().replace('_', " "),
        (_, _, None) => match &r.abort {
            Some(_) => "not judged (aborted)".to_owned(),
            None => format!("waiting (timeout {})", secs(rec.timeout_s as i64)),
        },
    };
    let _ = writeln!(o, "  recovery    {recovery}");
    for c in &rec.conditions {
        let at = c.at.map(|t| format!(" at {}", when(t))).unwrap_or_default();
        let met = if c.met { "held" } else { "NOT MET" };
        let _ = writeln!(o, "    {}: {met}{at} ({})", c.what, c.source);
    }
    if let Some(t) = rec.closed_at {
        let _ = writeln!(o, "  closed      {}", when(t));
    }
    if let Some(a) = &r.abort {
        let ok = a.rolled_back.iter().filter(|b| b.ok).count();
        let _ = writeln!(
            o,
            "  aborted     {} at {}: rolled back on {ok} of {} in {:.1} s",
            a.trigger,
            when(a.at),
            a.rolled_back.len(),
            a.time_to_safe_ms.max(0) as f64 / 1000.0
        );
    }
    let _ = writeln!(o, "  verdict     {}", badge.label());
    for b in r.breaches() {
        let _ = writeln!(o, "    {}", b.detail);
    }
    if let Some(g) = &r.regression {
        let _ = writeln!(
            o,
            "  regression  TTR {} against a median of {} over {} run(s): {}",
            secs(g.ttr_s),
            secs(g.median_s.round() as i64),
            g.runs,
            if g.slower {
                format!("SLOWER (over {}x)", g.factor)
            } else {
                format!("within {}x", g.factor)
            }
        );
    }
    for s in &r.series {
        let what = match &s.measure {
            Measure::Condition { name, .. } => name.clone(),
            Measure::Capacity { group, desired } => {
                format!("{group} healthy capacity (desired {desired})")
            }
        };
        let _ = writeln!(
            o,
            "  series      {what}: {} point(s), {}",
            s.points.len(),
            s.label
        );
    }
    o
}

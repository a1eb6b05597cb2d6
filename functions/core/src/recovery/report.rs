//! The closing message: the SNS subject and plain-text body (outcome, time to recover, targets,
//! timeline, what was still not met) for a [`Closing`].

use std::fmt::Write;

use chrono::{DateTime, Duration, Utc};

use crate::message::{subject_line, Message};
use crate::record::{Closed, Outcome, Record, Verdict};
use crate::recovery::decision::{Closing, Condition};
use crate::recovery::duration::short_duration;

fn hms(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// The SNS message for a closing.
pub fn message(rec: &Record, c: &Closing) -> Message {
    let timeout = short_duration(rec.timeout_s as i64);
    let ttr = c.ttr.map(|d| short_duration(d.num_seconds()));
    let subject = match (c.outcome, &ttr) {
        (Outcome::Recovered, Some(t)) if c.observed => {
            format!(
                "[faultline] {} recovered, observed within {t}",
                rec.experiment
            )
        }
        (Outcome::Recovered, Some(t)) => format!("[faultline] {} recovered in {t}", rec.experiment),
        _ => format!(
            "[faultline] {} NOT recovered after {timeout}",
            rec.experiment
        ),
    };
    let mut b = String::new();
    let _ = match (c.outcome, &ttr) {
        (Outcome::Recovered, Some(t)) if c.observed => writeln!(
            b,
            "faultline experiment \"{}\" recovered; this check observed it {t} after the injection \
             (no authoritative timestamp: it happened at or before then).",
            rec.experiment
        ),
        (Outcome::Recovered, Some(t)) => writeln!(
            b,
            "faultline experiment \"{}\" recovered in {t}.",
            rec.experiment
        ),
        _ => writeln!(
            b,
            "faultline experiment \"{}\" did NOT recover within its {timeout} timeout.",
            rec.experiment
        ),
    };
    let _ = writeln!(b);
    let _ = writeln!(b, "Experiment:       {} (id {})", rec.experiment, rec.id);
    let _ = writeln!(b, "Action:           {}", rec.action.name());
    let _ = writeln!(
        b,
        "Injected:         {}",
        rec.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    match (&ttr, c.recovered_at) {
        (Some(t), Some(at)) => {
            let _ = writeln!(
                b,
                "Time to recover:  {t} ({} s){}",
                c.ttr.map(|d| d.num_seconds()).unwrap_or(0),
                if c.observed {
                    format!(", observed by {}", hms(at))
                } else {
                    String::new()
                }
            );
        }
        _ => {
            let _ = writeln!(b, "Time to recover:  none: not recovered after {timeout}");
        }
    }

    if !rec.targets.is_empty() {
        let _ = writeln!(b);
        let _ = writeln!(b, "Targets:");
        for t in &rec.targets {
            let _ = writeln!(
                b,
                "  {:<20} {:<24} {}",
                t.id,
                t.group.as_deref().unwrap_or("(standalone)"),
                t.zone.as_deref().unwrap_or("")
            );
        }
    }

    if let crate::record::RecordAction::AzOutage {
        zone,
        restored_at: Some(at),
        restored,
        ..
    } = &rec.action
    {
        let _ = writeln!(b);
        let _ = writeln!(b, "Restored after the outage of {zone} (at {}):", hms(*at));
        for r in restored {
            let _ = writeln!(
                b,
                "  {:<28} {} {}",
                r.id,
                if r.ok { "ok    " } else { "FAILED" },
                r.detail
            );
        }
    }

    let _ = writeln!(b);
    let _ = writeln!(b, "Timeline (UTC):");
    let _ = writeln!(
        b,
        "  {}  injected: {} {} instance(s)",
        hms(rec.started_at),
        rec.action.name(),
        rec.victims().count()
    );
    let mut met: Vec<&Condition> = c.conditions.iter().filter(|x| x.met).collect();
    met.sort_by_key(|x| x.at.unwrap_or(c.now));
    for x in met {
        match x.at {
            Some(t) => {
                let _ = writeln!(b, "  {}  {} ({})", hms(t), x.what, x.detail);
            }
            None => {
                let _ = writeln!(
                    b,
                    "  {}  {} (observed by this check; {}: at or before then)",
                    hms(c.now),
                    x.what,
                    x.detail
                );
            }
        }
    }
    match (c.outcome, c.recovered_at, &ttr) {
        (Outcome::Recovered, Some(at), Some(t)) => {
            let _ = writeln!(b, "  {}  recovered: time to recover {t}", hms(at));
        }
        _ => {
            let _ = writeln!(
                b,
                "  {}  timed out: not recovered after {timeout}",
                hms(rec.started_at + Duration::seconds(rec.timeout_s as i64))
            );
            let unmet: Vec<&Condition> = c.conditions.iter().filter(|x| !x.met).collect();
            if !unmet.is_empty() {
                let _ = writeln!(b);
                let _ = writeln!(b, "Still not met at {}:", hms(c.now));
                for x in unmet {
                    let _ = writeln!(b, "  {}: {}", x.what, x.detail);
                }
            }
        }
    }
    Message {
        subject: subject_line(&subject),
        body: b,
    }
}

/// The closing message with the verdict: the subject says it (`[faultline] web PASSED:
/// recovered in 2m 31s`, `[faultline] web FAILED: SuccessRate during 91.2 < 99`), the body
/// adds the verdict, each breach and the regression check to [`message`]'s. An experiment
/// without a hypothesis is judged on recovery alone, and its message is [`message`]'s.
pub fn verdict_message(rec: &Record, c: &Closing, closed: &Closed) -> Message {
    let base = message(rec, c);
    let (Some(v), Some(_)) = (&closed.verdict, &rec.hypothesis) else {
        return base;
    };
    let ttr = c.ttr.map(|d| short_duration(d.num_seconds()));
    let why = match (v, c.outcome, &ttr) {
        (Verdict::Passed, Outcome::Recovered, Some(t)) if c.observed => {
            format!("PASSED: recovered, observed within {t}")
        }
        (Verdict::Passed, Outcome::Recovered, Some(t)) => format!("PASSED: recovered in {t}"),
        (Verdict::Failed { .. } | Verdict::Passed | Verdict::Aborted, _, _) => {
            crate::verdict::headline(v)
        }
    };
    let slower = closed.regression.as_ref().is_some_and(|r| r.slower);
    let subject = format!(
        "[faultline] {} {why}{}",
        rec.experiment,
        if slower { " (slower than usual)" } else { "" }
    );
    let mut b = String::new();
    let mut lines = base.body.lines();
    if let Some(first) = lines.next() {
        let _ = writeln!(b, "{first}");
    }
    let _ = writeln!(b);
    let _ = writeln!(b, "Verdict:          {}", v.name().to_uppercase());
    if let Verdict::Failed { breaches } = v {
        for x in breaches {
            let _ = writeln!(b, "  - {}", x.detail);
        }
    }
    match &closed.regression {
        Some(r) => {
            let _ =
                writeln!(
                b,
                "Regression:       TTR {} s against a median of {} s over {} previous run(s): {}",
                r.ttr_s,
                crate::verdict::num(r.median_s),
                r.runs,
                if r.slower {
                    format!("SLOWER (over {}x the median)", crate::verdict::num(r.factor))
                } else {
                    format!("not slower (within {}x)", crate::verdict::num(r.factor))
                }
            );
        }
        None => {
            let _ = writeln!(
                b,
                "Regression:       not checked (no TTR, the check is off, or fewer than {} previous runs)",
                crate::verdict::MIN_REGRESSION_RUNS
            );
        }
    }
    if let Some(report) = &closed.report {
        let _ = writeln!(b, "Report:           {report}");
    }
    for l in lines {
        let _ = writeln!(b, "{l}");
    }
    Message {
        subject: subject_line(&subject),
        body: b,
    }
}

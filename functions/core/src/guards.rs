//! The round-level guards, pure: each takes what the adapters read (or the clock, or a random
//! roll) and says whether the round may go on. The chain order lives in `round`; the per-target
//! guards (opt-in, health, blast radius) live in `select`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::calendar;
use crate::spec::Freeze;
use crate::window::Window;

/// Which guard refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    /// The global kill switch (SSM parameter) is off.
    KillSwitch,
    /// The experiment has `"enabled": false`.
    Disabled,
    /// Outside every time window.
    Window,
    /// The probability roll said no.
    Probability,
    /// A stop alarm is not `OK`.
    StopAlarm,
    /// Nothing eligible to hit.
    NoTargets,
    /// The experiment record would not fit in an SSM parameter.
    RecordTooLarge,
    /// Between the plan an operator confirmed and its execution, the world changed (a chosen
    /// instance gone or unhealthy, a group's budget shrunk): nothing unconfirmed is hit.
    PlanChanged,
    /// An Availability Zone outage that may not run as asked (a single-zone group, a floor in
    /// the surviving zones, an ACL the restore could not put back).
    Zone,
    /// A hypothesis condition checked `before` did not hold over the window before now: a
    /// system that is not steady is not tested.
    SteadyState,
    // --- calendars (issue 17 part 5) ---
    /// Today is a freeze date (`guards.freeze` or the shared calendar), or the shared
    /// calendar cannot be read.
    Freeze,
}

impl Guard {
    /// The guard's name as in logs and results.
    pub fn name(&self) -> &'static str {
        match self {
            Guard::KillSwitch => "kill_switch",
            Guard::Disabled => "disabled",
            Guard::Window => "window",
            Guard::Probability => "probability",
            Guard::StopAlarm => "stop_alarm",
            Guard::NoTargets => "no_targets",
            Guard::RecordTooLarge => "record_too_large",
            Guard::PlanChanged => "plan_changed",
            Guard::Zone => "zone",
            Guard::SteadyState => "steady_state",
            Guard::Freeze => "freeze",
        }
    }
}

/// A guard's refusal, with a reason a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// Which guard.
    pub guard: Guard,
    /// Why, and what would change it.
    pub reason: String,
}

impl Refusal {
    /// A refusal by `guard`.
    pub fn new(guard: Guard, reason: impl Into<String>) -> Self {
        Self {
            guard,
            reason: reason.into(),
        }
    }
}

/// The kill switch: only `true` means enabled; `false` refuses. A missing parameter refuses too
/// (Terraform always creates it, so deleting it during a halt must not resume chaos), and so
/// does any other value, because a typo in a safety switch must fail safe.
pub fn kill_switch(param: &str, value: Option<&str>) -> Result<(), Refusal> {
    match value.map(|v| v.trim().to_ascii_lowercase()) {
        None => Err(Refusal::new(
            Guard::KillSwitch,
            format!(
                "the kill switch {param} does not exist: every experiment is halted until it \
                 does; create it with `faultline resume` or Terraform"
            ),
        )),
        Some(v) if v == "true" => Ok(()),
        Some(v) if v == "false" => Err(Refusal::new(
            Guard::KillSwitch,
            format!("the kill switch {param} is false: every experiment is halted until it is set to true"),
        )),
        Some(v) => Err(Refusal::new(
            Guard::KillSwitch,
            format!("the kill switch {param} holds {v:?}: set it to true (run) or false (halt)"),
        )),
    }
}

/// The time windows: none means any time; otherwise `now` must fall in one.
pub fn windows(now: DateTime<Utc>, windows: &[Window]) -> Result<(), Refusal> {
    if windows.is_empty() || windows.iter().any(|w| w.contains(now)) {
        return Ok(());
    }
    let list: Vec<String> = windows.iter().map(|w| w.to_string()).collect();
    Err(Refusal::new(
        Guard::Window,
        format!(
            "{} is outside every window ({})",
            now.format("%a %Y-%m-%d %H:%M UTC"),
            list.join("; ")
        ),
    ))
}

// --- calendars (issue 17 part 5) ---
/// Freeze dates: `now`, in each entry's own time zone, must fall on none of `freezes` (the
/// experiment's and the shared calendar's).
pub fn freeze(now: DateTime<Utc>, freezes: &[Freeze]) -> Result<(), Refusal> {
    match calendar::frozen(freezes, now) {
        None => Ok(()),
        Some(f) => Err(Refusal::new(
            Guard::Freeze,
            format!("frozen: {}", calendar::describe(f)),
        )),
    }
}
// --- end calendars ---

/// The probability roll: `roll` is uniform in `[0, 1)`; the round runs when `roll < p`, so
/// `p = 1` always runs and `p = 0` never does.
pub fn probability(p: f64, roll: f64) -> Result<(), Refusal> {
    if roll < p {
        Ok(())
    } else {
        Err(Refusal::new(
            Guard::Probability,
            format!("probability {p}: rolled {roll:.3}, this round is skipped"),
        ))
    }
}

/// Stop alarms: every one must exist and be `OK`. `states` pairs each asked-for name with the
/// state CloudWatch returned, `None` when it has no such alarm.
pub fn stop_alarms(states: &[(String, Option<String>)]) -> Result<(), Refusal> {
    let bad: Vec<String> = states
        .iter()
        .filter_map(|(name, state)| match state.as_deref() {
            Some("OK") => None,
            Some(s) => Some(format!("{name} is {s}")),
            None => Some(format!("{name} does not exist")),
        })
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Refusal::new(
            Guard::StopAlarm,
            format!(
                "stop alarm {}: the system is not in its steady state",
                bad.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::Days;
    use chrono::NaiveTime;

    #[test]
    fn kill_switch_true_runs_missing_false_or_garbage_halts() {
        let r = kill_switch("/p", None).unwrap_err();
        assert_eq!(r.guard, Guard::KillSwitch);
        assert!(r.reason.contains("/p does not exist"), "{}", r.reason);
        assert!(r.reason.contains("faultline resume"), "{}", r.reason);
        assert!(r.reason.contains("Terraform"), "{}", r.reason);
        assert!(kill_switch("/p", Some("true")).is_ok());
        assert!(kill_switch("/p", Some(" TRUE\n")).is_ok());
        let r = kill_switch("/p", Some("false")).unwrap_err();
        assert_eq!(r.guard, Guard::KillSwitch);
        assert!(r.reason.contains("/p is false"));
        let r = kill_switch("/p", Some("flase")).unwrap_err();
        assert!(r.reason.contains("\"flase\""));
    }

    #[test]
    fn freeze_refuses_with_the_dates_name() {
        let f = Freeze {
            name: "Christmas".into(),
            from: "2026-12-24".parse().unwrap(),
            to: "2026-12-26".parse().unwrap(),
            tz: "Europe/London".parse().unwrap(),
        };
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(freeze(at("2026-12-23T23:59:00Z"), std::slice::from_ref(&f)).is_ok());
        let r = freeze(at("2026-12-25T10:00:00Z"), &[f]).unwrap_err();
        assert_eq!(r.guard, Guard::Freeze);
        assert_eq!(r.guard.name(), "freeze");
        assert_eq!(
            r.reason,
            "frozen: Christmas (2026-12-24 to 2026-12-26, Europe/London)"
        );
    }

    #[test]
    fn probability_zero_never_one_always() {
        for roll in [0.0, 0.5, 0.999_999] {
            assert!(probability(1.0, roll).is_ok());
            assert_eq!(
                probability(0.0, roll).unwrap_err().guard,
                Guard::Probability
            );
        }
        assert!(probability(0.5, 0.49).is_ok());
        assert!(probability(0.5, 0.5).is_err());
    }

    #[test]
    fn alarms_must_exist_and_be_ok() {
        let s = |n: &str, st: Option<&str>| (n.to_owned(), st.map(str::to_owned));
        assert!(stop_alarms(&[]).is_ok());
        assert!(stop_alarms(&[s("a", Some("OK"))]).is_ok());
        let r = stop_alarms(&[
            s("a", Some("OK")),
            s("b", Some("ALARM")),
            s("c", None),
            s("d", Some("INSUFFICIENT_DATA")),
        ])
        .unwrap_err();
        assert_eq!(r.guard, Guard::StopAlarm);
        assert!(
            r.reason
                .contains("b is ALARM, c does not exist, d is INSUFFICIENT_DATA"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn windows_refuse_outside() {
        let w = Window {
            days: Days::parse("MON-FRI").unwrap(),
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(16, 0, 0),
            tz: "UTC".parse().unwrap(),
        };
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(windows(at("2026-11-23T10:00:00Z"), &[]).is_ok());
        assert!(windows(at("2026-11-23T10:00:00Z"), std::slice::from_ref(&w)).is_ok());
        let r = windows(at("2026-11-22T10:00:00Z"), &[w]).unwrap_err();
        assert!(r.reason.contains("Sun 2026-11-22 10:00 UTC is outside every window (MON,TUE,WED,THU,FRI 09:00-16:00 UTC)"), "{}", r.reason);
    }
}

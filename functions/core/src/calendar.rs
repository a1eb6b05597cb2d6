//! Calendars, pure: freeze dates ([`frozen`], the deployment's shared list read by
//! [`shared_freezes`]), the least time between two hits on one resource ([`recent_hits`],
//! [`spare_recent`]) and the random start of an experiment with `"start": "random"`
//! ([`random_start`], named by [`schedule_name`]). The clock and the RNG are arguments; the
//! AWS calls live in `round` and `monkey`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use rand::Rng;
use serde::Serialize;

use crate::record::{Record, Spared};
use crate::select::Inventory;
use crate::spec::Freeze;
use crate::window::Window;

/// The freeze entry `now` falls on (in the entry's own time zone), if any: the first in order.
pub fn frozen<'a>(
    freezes: impl IntoIterator<Item = &'a Freeze>,
    now: DateTime<Utc>,
) -> Option<&'a Freeze> {
    freezes.into_iter().find(|f| {
        let day = now.with_timezone(&f.tz).date_naive();
        f.from <= day && day <= f.to
    })
}

/// How a freeze entry reads in a refusal: `Christmas (2026-12-24 to 2026-12-26, Europe/London)`.
pub fn describe(f: &Freeze) -> String {
    if f.from == f.to {
        format!("{} ({}, {})", f.name, f.from, f.tz.name())
    } else {
        format!("{} ({} to {}, {})", f.name, f.from, f.to, f.tz.name())
    }
}

/// The deployment's shared calendar: the value of the parameter `param` (a JSON list of the
/// same entries as `guards.freeze`). A missing or malformed calendar is an error naming the
/// parameter: the round must not run on a calendar nobody can read.
pub fn shared_freezes(param: &str, value: Option<&str>) -> Result<Vec<Freeze>, String> {
    let Some(text) = value else {
        return Err(format!(
            "the shared calendar {param} does not exist: every round is refused until it does; \
             create it (a JSON list of freeze entries, [] for none) with Terraform"
        ));
    };
    Freeze::list_from_json_str(text, param).map_err(|e| {
        format!(
            "the shared calendar {param} is malformed ({}: {}): every round is refused until it \
             is fixed",
            e.path, e.message
        )
    })
}

/// A recent hit on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The experiment that hit it.
    pub by: String,
    /// When (the record's `started_at`).
    pub at: DateTime<Utc>,
}

/// The resources hit less than `min_interval` before `now`, by the records given (of every
/// experiment): group names, standalone instance ids and function names, each with its latest
/// hit. The record `own` (this round's execution id: a redelivery) does not count.
pub fn recent_hits(
    records: &[Record],
    own: &str,
    now: DateTime<Utc>,
    min_interval: Duration,
) -> BTreeMap<String, Hit> {
    let interval = TimeDelta::from_std(min_interval).unwrap_or(TimeDelta::MAX);
    let mut out: BTreeMap<String, Hit> = BTreeMap::new();
    for r in records.iter().filter(|r| r.id != own) {
        if now.signed_duration_since(r.started_at) >= interval {
            continue;
        }
        for t in &r.targets {
            let key = t.group.clone().unwrap_or_else(|| t.id.clone());
            let newer = out.get(&key).is_none_or(|h| h.at < r.started_at);
            if newer {
                out.insert(
                    key,
                    Hit {
                        by: r.experiment.clone(),
                        at: r.started_at,
                    },
                );
            }
        }
    }
    out
}

/// Removes from `inv` what was hit recently (groups with their instances, standalone
/// instances, functions), and says what was spared, why, and how many instances (or
/// functions) went with it.
pub fn spare_recent(
    inv: &mut Inventory,
    hits: &BTreeMap<String, Hit>,
    min_interval: Duration,
) -> Vec<(Spared, usize)> {
    let mut spared: Vec<(Spared, usize)> = Vec::new();
    let mut note = |id: &str, n: usize| {
        let Some(h) = hits.get(id) else {
            return false;
        };
        match spared.iter_mut().find(|(s, _)| s.id == id) {
            Some((_, count)) => *count += n,
            None => spared.push((
                Spared {
                    id: id.to_owned(),
                    reason: format!(
                        "hit by {} at {}, min_interval {}",
                        h.by,
                        h.at.format("%Y-%m-%d %H:%M UTC"),
                        span(min_interval)
                    ),
                },
                n,
            )),
        }
        true
    };
    inv.groups.retain(|g| !note(&g.name, g.members.len()));
    inv.instances.retain(|i| match i.asg() {
        Some(g) => !note(g, 0),
        None => !note(&i.id, 1),
    });
    inv.functions.retain(|f| !note(&f.name, 1));
    spared
}

/// `1d`, `12h`, `90m`, `45s`: a duration in its largest whole unit.
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// How far ahead a random start is looked for.
pub const HORIZON: TimeDelta = TimeDelta::hours(24);

/// Every whole minute after `now` and within [`HORIZON`] that falls inside one of `windows`,
/// oldest first. Minutes are counted in UTC and each window judges them in its own time zone,
/// so across a daylight-saving change only the real minutes count: none in the skipped hour,
/// none twice in the repeated one.
pub fn start_minutes(windows: &[Window], now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let first = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now) + TimeDelta::minutes(1);
    let last = now + HORIZON;
    let mut out = Vec::new();
    let mut t = first;
    while t <= last {
        if windows.iter().any(|w| w.contains(t)) {
            out.push(t);
        }
        t += TimeDelta::minutes(1);
    }
    out
}

/// A uniformly random minute inside the experiment's windows within the next 24 hours, or
/// `None` when no window opens in that time.
pub fn random_start(
    windows: &[Window],
    now: DateTime<Utc>,
    rng: &mut impl Rng,
) -> Option<DateTime<Utc>> {
    let minutes = start_minutes(windows, now);
    if minutes.is_empty() {
        return None;
    }
    Some(minutes[rng.gen_range(0..minutes.len())])
}

/// The one-shot schedule's name: `<experiment>-<yyyymmddhhmm>` (the experiment's part cut so
/// the name fits the scheduler's 64 characters). Deterministic: a redelivered plan finds it
/// taken.
pub fn schedule_name(experiment: &str, at: DateTime<Utc>) -> String {
    let head: String = experiment.chars().take(64 - 13).collect();
    format!("{head}-{}", at.format("%Y%m%d%H%M"))
}

/// The scheduler expression of a one-shot start: `at(yyyy-mm-ddThh:mm:ss)`, in UTC.
pub fn at_expression(at: DateTime<Utc>) -> String {
    format!("at({})", at.format("%Y-%m-%dT%H:%M:%S"))
}

/// A seed from an execution id (FNV-1a): a redelivered plan draws the same minute.
pub fn seed_of(execution_id: &str) -> u64 {
    execution_id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What a plan-start invocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartPlan {
    /// The experiment.
    pub experiment: String,
    /// The plan-start invocation's execution id.
    pub execution_id: String,
    /// `planned`, `already_planned` or `nothing_planned`.
    pub outcome: StartOutcome,
    /// The minute drawn (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// The one-shot schedule's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Why, in words.
    pub reason: String,
}

/// How a plan-start ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartOutcome {
    /// A one-shot schedule was created.
    Planned,
    /// The schedule already existed (a redelivered plan-start): nothing created.
    AlreadyPlanned,
    /// No window opens in the next 24 hours (or the minute drawn has passed): no schedule.
    NothingPlanned,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordAction, RecordTarget, State, VERSION};
    use crate::select::{Function, Group, Instance};
    use crate::window::test_support::{at, window};
    use crate::window::Days;
    use chrono::{NaiveDate, NaiveTime};
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn freeze(name: &str, from: &str, to: &str, tz: &str) -> Freeze {
        Freeze {
            name: name.into(),
            from: NaiveDate::parse_from_str(from, "%Y-%m-%d").unwrap(),
            to: NaiveDate::parse_from_str(to, "%Y-%m-%d").unwrap(),
            tz: tz.parse().unwrap(),
        }
    }

    #[test]
    fn a_freeze_is_judged_in_its_own_time_zone() {
        let xmas = freeze("Christmas", "2026-12-24", "2026-12-26", "Europe/London");
        let f = [xmas.clone()];
        assert_eq!(frozen(&f, at("2026-12-24T00:00:00Z")), Some(&xmas));
        assert_eq!(frozen(&f, at("2026-12-26T23:59:00Z")), Some(&xmas));
        assert_eq!(frozen(&f, at("2026-12-27T00:00:00Z")), None);
        assert_eq!(
            describe(&xmas),
            "Christmas (2026-12-24 to 2026-12-26, Europe/London)"
        );
        // 2026-12-23 23:30 in Los Angeles is already the 24th in UTC: not frozen there.
        let la = [freeze(
            "Eve",
            "2026-12-24",
            "2026-12-24",
            "America/Los_Angeles",
        )];
        assert_eq!(frozen(&la, at("2026-12-24T07:30:00Z")), None);
        assert!(frozen(&la, at("2026-12-24T08:30:00Z")).is_some());
        assert_eq!(describe(&la[0]), "Eve (2026-12-24, America/Los_Angeles)");
    }

    #[test]
    fn the_shared_calendar_is_validated_like_the_spec_and_fails_safe() {
        let ok = shared_freezes(
            "/faultline/calendar",
            Some(r#"[{"name": "Christmas", "from": "2026-12-24", "to": "2026-12-26", "tz": "Europe/London"}, {"name": "Launch", "date": "2026-06-01"}]"#),
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].tz.name(), "UTC");
        assert_eq!(shared_freezes("/c", Some("[]")).unwrap(), vec![]);
        for bad in [
            "not json",
            "{}",
            r#"[{"name": "x", "date": "2026-13-01"}]"#,
            r#"[{"name": "x", "from": "2026-12-26", "to": "2026-12-24"}]"#,
            r#"[{"name": "x", "date": "2026-12-24", "tz": "Mars/Olympus"}]"#,
            r#"[{"name": "x", "date": "2026-12-24", "colour": "red"}]"#,
        ] {
            let e = shared_freezes("/faultline/calendar", Some(bad)).unwrap_err();
            assert!(
                e.contains("shared calendar /faultline/calendar is malformed"),
                "{e}"
            );
            assert!(e.contains("every round is refused"), "{e}");
        }
        let e = shared_freezes("/faultline/calendar", None).unwrap_err();
        assert!(e.contains("/faultline/calendar does not exist"), "{e}");
    }

    #[test]
    fn spans_read_in_their_largest_unit() {
        assert_eq!(span(Duration::from_secs(86_400)), "1d");
        assert_eq!(span(Duration::from_secs(7_200)), "2h");
        assert_eq!(span(Duration::from_secs(5_400)), "90m");
        assert_eq!(span(Duration::from_secs(61)), "61s");
    }

    fn record(
        id: &str,
        exp: &str,
        started: DateTime<Utc>,
        targets: &[(&str, Option<&str>)],
    ) -> Record {
        Record {
            v: VERSION,
            id: id.into(),
            experiment: exp.into(),
            started_at: started,
            action: RecordAction::Reboot,
            groups: BTreeMap::new(),
            targets: targets
                .iter()
                .map(|(i, g)| RecordTarget {
                    id: (*i).into(),
                    group: g.map(str::to_owned),
                    zone: None,
                })
                .collect(),
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

    fn inventory() -> Inventory {
        let group = |name: &str| Group {
            name: name.into(),
            min_size: 0,
            desired: 2,
            subnets: String::new(),
            tags: BTreeMap::new(),
            members: vec![],
        };
        let inst = |id: &str, asg: Option<&str>| Instance {
            id: id.into(),
            state: "running".into(),
            zone: None,
            tags: asg
                .map(|a| BTreeMap::from([("aws:autoscaling:groupName".to_owned(), a.to_owned())]))
                .unwrap_or_default(),
        };
        Inventory {
            groups: vec![group("web"), group("api")],
            instances: vec![
                inst("i-1", Some("web")),
                inst("i-2", Some("api")),
                inst("i-3", None),
                inst("i-4", None),
            ],
            functions: vec![
                Function {
                    name: "f1".into(),
                    tags: BTreeMap::new(),
                    unfit: None,
                },
                Function {
                    name: "f2".into(),
                    tags: BTreeMap::new(),
                    unfit: None,
                },
            ],
        }
    }

    #[test]
    fn recent_hits_spare_groups_instances_and_functions_of_any_experiment() {
        let now = at("2026-12-01T12:00:00Z");
        let day = Duration::from_secs(86_400);
        let records = [
            record(
                "r1",
                "other",
                at("2026-12-01T02:00:00Z"),
                &[("i-9", Some("web"))],
            ),
            record(
                "r2",
                "mine",
                at("2026-11-30T11:00:00Z"),
                &[("i-2", Some("api"))],
            ), // 25h ago
            record(
                "r3",
                "mine",
                at("2026-12-01T11:00:00Z"),
                &[("i-3", None), ("f1", None)],
            ),
            record("own", "mine", at("2026-12-01T11:59:00Z"), &[("i-4", None)]),
        ];
        let hits = recent_hits(&records, "own", now, day);
        assert_eq!(hits.keys().collect::<Vec<_>>(), ["f1", "i-3", "web"]);
        let mut inv = inventory();
        let spared = spare_recent(&mut inv, &hits, day);
        assert_eq!(
            inv.groups
                .iter()
                .map(|g| g.name.as_str())
                .collect::<Vec<_>>(),
            ["api"]
        );
        assert_eq!(
            inv.instances
                .iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>(),
            ["i-2", "i-4"]
        );
        assert_eq!(
            inv.functions
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>(),
            ["f2"]
        );
        let (web, _) = spared.iter().find(|(s, _)| s.id == "web").unwrap();
        assert_eq!(
            web.reason,
            "hit by other at 2026-12-01 02:00 UTC, min_interval 1d"
        );
        assert_eq!(spared.len(), 3);
    }

    #[test]
    fn spring_forward_has_only_the_real_minutes() {
        // London 2026-03-29: 01:00 GMT -> 02:00 BST. 01:00-03:00 local has one real hour.
        let w = [window("SUN", "01:00", Some("03:00"), "Europe/London")];
        let m = start_minutes(&w, at("2026-03-28T23:00:00Z"));
        assert_eq!(m.len(), 60);
        assert_eq!(m[0], at("2026-03-29T01:00:00Z"));
        assert_eq!(m[59], at("2026-03-29T01:59:00Z"));
        // Fall back, 2026-10-25: 01:00-02:00 happens twice, both real: 3 hours, none doubled.
        let m = start_minutes(&w, at("2026-10-24T22:00:00Z"));
        assert_eq!(m.len(), 180);
        let mut d = m.clone();
        d.dedup();
        assert_eq!(d.len(), 180);
        // New York 2026-03-08: 02:00 EST -> 03:00 EDT; 01:00-04:00 local has two real hours.
        let ny = [window("SUN", "01:00", Some("04:00"), "America/New_York")];
        assert_eq!(start_minutes(&ny, at("2026-03-08T00:00:00Z")).len(), 120);
    }

    #[test]
    fn no_window_within_a_day_plans_nothing() {
        let w = [window("SAT", "10:00", Some("11:00"), "UTC")];
        let mut rng = StdRng::seed_from_u64(1);
        // Monday noon: Saturday is days away.
        assert_eq!(random_start(&w, at("2026-11-30T12:00:00Z"), &mut rng), None);
        assert_eq!(
            random_start(&[], at("2026-11-30T12:00:00Z"), &mut rng),
            None
        );
    }

    #[test]
    fn names_and_expressions() {
        let t = at("2026-12-01T10:07:00Z");
        assert_eq!(schedule_name("web", t), "web-202612011007");
        assert_eq!(schedule_name(&"x".repeat(64), t).len(), 64);
        assert_eq!(at_expression(t), "at(2026-12-01T10:07:00)");
        assert_eq!(seed_of("abc"), seed_of("abc"));
        assert_ne!(seed_of("abc"), seed_of("abd"));
    }

    fn transition_days() -> impl Strategy<Value = DateTime<Utc>> {
        // Days around the 2026 changes: London 03-29 and 10-25, New York 03-08 and 11-01.
        prop_oneof![
            Just(at("2026-03-28T00:00:00Z")),
            Just(at("2026-10-24T00:00:00Z")),
            Just(at("2026-03-07T00:00:00Z")),
            Just(at("2026-10-31T00:00:00Z")),
            Just(at("2026-07-01T00:00:00Z")),
        ]
        .prop_flat_map(|d| (0i64..3 * 24 * 60).prop_map(move |m| d + TimeDelta::minutes(m)))
    }

    fn windows() -> impl Strategy<Value = Vec<Window>> {
        let one = (
            prop_oneof![Just("*"), Just("SUN"), Just("SAT-SUN"), Just("MON-FRI")],
            0u32..24,
            prop::option::of(0u32..24),
            prop_oneof![Just("Europe/London"), Just("America/New_York"), Just("UTC")],
        )
            .prop_filter_map("a window has a length", |(days, s, e, tz)| {
                (Some(s) != e).then(|| Window {
                    days: Days::parse(days).unwrap(),
                    start: NaiveTime::from_hms_opt(s, 0, 0).unwrap(),
                    end: e.map(|e| NaiveTime::from_hms_opt(e, 30, 0).unwrap()),
                    tz: tz.parse().unwrap(),
                })
            });
        prop::collection::vec(one, 1..3)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn the_start_always_falls_inside_a_window(w in windows(), now in transition_days(), seed in any::<u64>()) {
            let mut rng = StdRng::seed_from_u64(seed);
            let all = start_minutes(&w, now);
            match random_start(&w, now, &mut rng) {
                None => prop_assert!(all.is_empty()),
                Some(t) => {
                    prop_assert!(w.iter().any(|w| w.contains(t)));
                    prop_assert!(t > now && t <= now + HORIZON);
                    prop_assert_eq!(t.timestamp() % 60, 0);
                    prop_assert!(all.contains(&t));
                }
            }
            // Every candidate is a real, distinct in-window minute.
            prop_assert!(all.windows(2).all(|p| p[0] < p[1]));
            prop_assert!(all.iter().all(|t| w.iter().any(|w| w.contains(*t))));
        }

        #[test]
        fn no_resource_is_hit_twice_within_min_interval(
            interval_h in 1u64..72,
            gaps in prop::collection::vec(0i64..(48 * 60), 1..40),
            picks in prop::collection::vec(prop::collection::vec(0usize..6, 1..4), 40),
            exps in prop::collection::vec(0usize..3, 40),
        ) {
            let min_interval = Duration::from_secs(interval_h * 3600);
            let names = ["web", "api", "i-3", "i-4", "f1", "f2"];
            let mut now = at("2026-03-01T00:00:00Z");
            let mut records: Vec<Record> = Vec::new();
            for (n, gap) in gaps.iter().enumerate() {
                now += TimeDelta::minutes(*gap);
                // One query of the records started since now - min_interval.
                let since: Vec<Record> = records
                    .iter()
                    .filter(|r| r.started_at >= now - TimeDelta::from_std(min_interval).unwrap())
                    .cloned()
                    .collect();
                let id = format!("r{n}");
                let hits = recent_hits(&since, &id, now, min_interval);
                let mut inv = inventory();
                spare_recent(&mut inv, &hits, min_interval);
                let left: Vec<&str> = names
                    .iter()
                    .copied()
                    .filter(|n| {
                        inv.groups.iter().any(|g| g.name == *n)
                            || inv.instances.iter().any(|i| i.id == *n && i.asg().is_none())
                            || inv.functions.iter().any(|f| f.name == *n)
                    })
                    .collect();
                let chosen: Vec<(&str, Option<&str>)> = picks[n]
                    .iter()
                    .filter_map(|p| left.get(p % left.len().max(1)).copied())
                    .map(|name| match name {
                        "web" => ("i-1", Some("web")),
                        "api" => ("i-2", Some("api")),
                        other => (other, None),
                    })
                    .collect();
                if !chosen.is_empty() {
                    let exp = ["a", "b", "c"][exps[n]];
                    records.push(record(&id, exp, now, &chosen));
                }
            }
            for name in names {
                let times: Vec<DateTime<Utc>> = records
                    .iter()
                    .filter(|r| r.targets.iter().any(|t| t.group.as_deref().unwrap_or(&t.id) == name))
                    .map(|r| r.started_at)
                    .collect();
                for p in times.windows(2) {
                    prop_assert!(p[1] - p[0] >= TimeDelta::from_std(min_interval).unwrap(),
                        "{} hit at {} and {}", name, p[0], p[1]);
                }
            }
        }
    }
}

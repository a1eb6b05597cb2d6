//! Time windows: "MON-FRI 09:00–16:00 Europe/London", evaluated in the window's own time zone so
//! daylight-saving changes move the window with the office, not with UTC.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

/// A set of weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(u8);

const NAMES: [(&str, Weekday); 7] = [
    ("MON", Weekday::Mon),
    ("TUE", Weekday::Tue),
    ("WED", Weekday::Wed),
    ("THU", Weekday::Thu),
    ("FRI", Weekday::Fri),
    ("SAT", Weekday::Sat),
    ("SUN", Weekday::Sun),
];

impl Days {
    /// Parses `"MON-FRI"`, `"MON,WED,FRI"`, `"SAT-SUN,WED"`, `"*"` (every day). Ranges may wrap
    /// (`"FRI-MON"`). Case-insensitive.
    pub fn parse(s: &str) -> Result<Days, String> {
        let s = s.trim();
        if s == "*" {
            return Ok(Days(0x7f));
        }
        let day = |name: &str| -> Result<u32, String> {
            NAMES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
                .map(|(_, d)| d.num_days_from_monday())
                .ok_or_else(|| {
                    format!(
                        "{name:?} is not a day: use MON TUE WED THU FRI SAT SUN, ranges like \
                         MON-FRI, lists like MON,WED or * for every day"
                    )
                })
        };
        let mut bits = 0u8;
        for part in s.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    let mut d = a;
                    loop {
                        bits |= 1 << d;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => bits |= 1 << day(part)?,
            }
        }
        Ok(Days(bits))
    }

    /// Whether `d` is in the set.
    pub fn contains(&self, d: Weekday) -> bool {
        self.0 & (1 << d.num_days_from_monday()) != 0
    }
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = NAMES
            .iter()
            .filter(|(_, d)| self.contains(*d))
            .map(|(n, _)| *n)
            .collect();
        f.write_str(&names.join(","))
    }
}

/// A recurring window. `end` of `None` means midnight at the end of the day; an `end` before
/// `start` makes an overnight window that belongs to the day it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Days the window opens on.
    pub days: Days,
    /// Opening time, local to `tz`.
    pub start: NaiveTime,
    /// Closing time, local to `tz` (exclusive); `None` = 24:00.
    pub end: Option<NaiveTime>,
    /// The window's time zone.
    pub tz: Tz,
}

impl Window {
    /// Whether `now` falls inside the window.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.tz);
        let t = local.time();
        let today = local.weekday();
        match self.end {
            None => self.days.contains(today) && t >= self.start,
            Some(end) if end > self.start => {
                self.days.contains(today) && t >= self.start && t < end
            }
            Some(end) => {
                // Overnight: [start, 24:00) today, or [00:00, end) of the day after an open day.
                // "Yesterday" is the calendar day before, not 24 hours ago: across a daylight
                // saving change a day lasts 23 or 25 hours, and `local - 24h` can land two days
                // back.
                let yesterday = local
                    .date_naive()
                    .pred_opt()
                    .map_or(today.pred(), |d| d.weekday());
                (self.days.contains(today) && t >= self.start)
                    || (t < end && self.days.contains(yesterday))
            }
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self
            .end
            .map(|e| e.format("%H:%M").to_string())
            .unwrap_or_else(|| "24:00".to_owned());
        write!(
            f,
            "{} {}-{} {}",
            self.days,
            self.start.format("%H:%M"),
            end,
            self.tz.name()
        )
    }
}

/// Test helpers shared by the modules that reason about windows (`window`, `calendar`).
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// An RFC 3339 time.
    pub(crate) fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// `window("MON-FRI", "09:00", Some("16:00"), "Europe/London")`.
    pub(crate) fn window(days: &str, start: &str, end: Option<&str>, tz: &str) -> Window {
        let t = |s| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
        Window {
            days: Days::parse(days).unwrap(),
            start: t(start),
            end: end.map(t),
            tz: tz.parse().unwrap(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{at, window};
    use super::*;

    #[test]
    fn parses_days() {
        assert_eq!(
            Days::parse("MON-FRI").unwrap().to_string(),
            "MON,TUE,WED,THU,FRI"
        );
        assert_eq!(
            Days::parse("fri-mon").unwrap().to_string(),
            "MON,FRI,SAT,SUN"
        );
        assert_eq!(Days::parse("MON,WED").unwrap().to_string(), "MON,WED");
        assert_eq!(
            Days::parse("*").unwrap().to_string(),
            "MON,TUE,WED,THU,FRI,SAT,SUN"
        );
        assert!(Days::parse("MON-FUN").is_err());
        assert!(Days::parse("").is_err());
    }

    #[test]
    fn evaluates_in_the_windows_time_zone() {
        // 2026-07-01 is a Wednesday; London is UTC+1 in summer.
        let w = window("MON-FRI", "09:00", Some("16:00"), "Europe/London");
        assert!(!w.contains(at("2026-07-01T07:59:00Z"))); // 08:59 local
        assert!(w.contains(at("2026-07-01T08:00:00Z"))); // 09:00 local
        assert!(w.contains(at("2026-07-01T14:59:00Z"))); // 15:59 local
        assert!(!w.contains(at("2026-07-01T15:00:00Z"))); // 16:00 local: end is exclusive
                                                          // In winter London is UTC+0.
        assert!(!w.contains(at("2026-11-23T08:30:00Z")));
        assert!(w.contains(at("2026-11-23T09:30:00Z")));
        // Saturday.
        assert!(!w.contains(at("2026-07-04T10:00:00Z")));
    }

    #[test]
    fn overnight_windows_belong_to_their_start_day() {
        let w = window("FRI", "22:00", Some("02:00"), "UTC");
        assert!(w.contains(at("2026-11-27T23:00:00Z"))); // Fri 23:00
        assert!(w.contains(at("2026-11-28T01:00:00Z"))); // Sat 01:00
        assert!(!w.contains(at("2026-11-28T02:00:00Z")));
        assert!(!w.contains(at("2026-11-27T01:00:00Z"))); // Fri 01:00 belongs to Thursday
    }

    #[test]
    fn overnight_windows_across_daylight_saving_changes() {
        // Spring forward: London 2026-03-29 (Sun) 01:00 GMT -> 02:00 BST; New York 2026-03-08
        // (Sun) 02:00 EST -> 03:00 EDT. Fall back: London 2026-10-25 (Sun) 02:00 BST -> 01:00
        // GMT; New York 2026-11-01 (Sun) 02:00 EDT -> 01:00 EST. Each case is a local time and
        // the UTC instant it is.
        for (tz, change_day, day_after_0030, change_day_0030, change_day_2300) in [
            // Europe/London, spring: Mon 00:30 BST = Sun 23:30Z, Sun 00:30 GMT, Sun 23:00 BST.
            (
                "Europe/London",
                "spring",
                "2026-03-29T23:30:00Z",
                "2026-03-29T00:30:00Z",
                "2026-03-29T22:00:00Z",
            ),
            // Europe/London, fall: Mon 00:30 GMT, Sun 00:30 BST = Sat 23:30Z, Sun 23:00 GMT.
            (
                "Europe/London",
                "fall",
                "2026-10-26T00:30:00Z",
                "2026-10-24T23:30:00Z",
                "2026-10-25T23:00:00Z",
            ),
            // America/New_York, spring: Mon 00:30 EDT, Sun 00:30 EST, Sun 23:00 EDT.
            (
                "America/New_York",
                "spring",
                "2026-03-09T04:30:00Z",
                "2026-03-08T05:30:00Z",
                "2026-03-09T03:00:00Z",
            ),
            // America/New_York, fall: Mon 00:30 EST, Sun 00:30 EDT, Sun 23:00 EST.
            (
                "America/New_York",
                "fall",
                "2026-11-02T05:30:00Z",
                "2026-11-01T04:30:00Z",
                "2026-11-02T04:00:00Z",
            ),
        ] {
            let case = |what: &str| format!("{tz}, {change_day} change: {what}");
            let sat = window("SAT", "22:00", Some("02:00"), tz);
            let sun = window("SUN", "22:00", Some("02:00"), tz);
            let fri = window("FRI", "22:00", Some("02:00"), tz);
            // 00:30 on the Monday after the change belongs to Sunday's window, not Saturday's.
            let t = at(day_after_0030);
            assert!(sun.contains(t), "{}", case("Mon 00:30 in SUN 22:00-02:00"));
            assert!(
                !sat.contains(t),
                "{}",
                case("Mon 00:30 not in SAT 22:00-02:00")
            );
            // 00:30 on the change day itself belongs to Saturday's window, not Friday's.
            let t = at(change_day_0030);
            assert!(sat.contains(t), "{}", case("Sun 00:30 in SAT 22:00-02:00"));
            assert!(
                !fri.contains(t),
                "{}",
                case("Sun 00:30 not in FRI 22:00-02:00")
            );
            assert!(
                !sun.contains(t),
                "{}",
                case("Sun 00:30 not in SUN 22:00-02:00")
            );
            // 23:00 on the change day is in Sunday's window and no other.
            let t = at(change_day_2300);
            assert!(sun.contains(t), "{}", case("Sun 23:00 in SUN 22:00-02:00"));
            assert!(
                !sat.contains(t),
                "{}",
                case("Sun 23:00 not in SAT 22:00-02:00")
            );
        }
        // Fri 22:00-02:00 in the week of a change still opens Friday and closes Saturday.
        let fri = window("FRI", "22:00", Some("02:00"), "Europe/London");
        assert!(fri.contains(at("2026-03-27T23:00:00Z"))); // Fri 23:00 GMT
        assert!(fri.contains(at("2026-03-28T01:59:00Z"))); // Sat 01:59 GMT
        assert!(!fri.contains(at("2026-03-28T02:00:00Z"))); // Sat 02:00 GMT
        assert!(!fri.contains(at("2026-03-30T00:30:00Z"))); // Mon 01:30 BST
        let fri = window("FRI", "22:00", Some("02:00"), "America/New_York");
        assert!(fri.contains(at("2026-10-31T05:30:00Z"))); // Sat 01:30 EDT
        assert!(!fri.contains(at("2026-11-02T05:30:00Z"))); // Mon 00:30 EST
    }

    #[test]
    fn end_of_day() {
        let w = window("*", "12:00", None, "UTC");
        assert!(w.contains(at("2026-11-27T23:59:59Z")));
        assert!(!w.contains(at("2026-11-27T11:59:59Z")));
        assert_eq!(w.to_string(), "MON,TUE,WED,THU,FRI,SAT,SUN 12:00-24:00 UTC");
    }
}

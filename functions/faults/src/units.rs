//! Durations and sizes: [`FaultDuration`] (how long a fault lasts), [`parse_rate`] (bandwidth),
//! and the small validators every fault family uses for integers, percentages, seconds and
//! paths. Each validator names the argument it checks in its [`FaultError`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::FaultError;

/// How long a fault lasts: 1 s to 24 h.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultDuration(#[serde(with = "secs_f64")] pub Duration);

mod secs_f64 {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs_f64(f64::deserialize(d)?))
    }
}

impl FaultDuration {
    /// The shortest fault.
    pub const MIN: Duration = Duration::from_secs(1);
    /// The longest fault.
    pub const MAX: Duration = Duration::from_secs(24 * 3600);

    /// Parses `30s`, `5m`, `1h 30m`.
    pub fn parse(s: &str) -> Result<Self, FaultError> {
        let d = humantime::parse_duration(s).map_err(|e| {
            FaultError::new(
                "duration",
                format!("{s:?} is not a duration like \"30s\", \"5m\" or \"1h 30m\" ({e})"),
            )
        })?;
        if !(Self::MIN..=Self::MAX).contains(&d) {
            return Err(FaultError::new(
                "duration",
                format!("{s:?} is out of range: use between 1s and 24h"),
            ));
        }
        Ok(Self(d))
    }

    /// As text the agent's `--duration` accepts.
    pub fn to_arg(&self) -> String {
        if self.0.subsec_millis() == 0 {
            format!("{}s", self.0.as_secs())
        } else {
            format!("{}ms", self.0.as_millis())
        }
    }
}

/// A required argument, or an error saying what it is for.
pub(crate) fn req<T>(v: Option<T>, field: &str, what: &str) -> Result<T, FaultError> {
    v.ok_or_else(|| FaultError::new(field, format!("is required: {what}")))
}

pub(crate) fn int_in(field: &str, v: i64, lo: i64, hi: i64, unit: &str) -> Result<i64, FaultError> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(FaultError::new(
            field,
            format!("must be between {lo} and {hi}{unit}, got {v}"),
        ))
    }
}

pub(crate) fn percent(field: &str, v: f64, max: f64) -> Result<f64, FaultError> {
    if v.is_finite() && v > 0.0 && v <= max {
        Ok(v)
    } else {
        Err(FaultError::new(
            field,
            format!("a percentage must be greater than 0 and at most {max}, got {v}"),
        ))
    }
}

pub(crate) fn secs(field: &str, v: f64, lo: f64, hi: f64) -> Result<Duration, FaultError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(FaultError::new(
            field,
            format!("must be between {lo} and {hi} seconds, got {v}"),
        ))
    }
}

pub(crate) fn path_arg(field: &str, s: &str) -> Result<String, FaultError> {
    let ok = s.starts_with('/')
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
        && !s.split('/').any(|c| c == "..");
    if ok {
        Ok(s.to_owned())
    } else {
        Err(FaultError::new(
            field,
            format!(
                "{s:?} is not an absolute path of letters, digits, '_', '.', '-' and '/' without '..'"
            ),
        ))
    }
}

/// Parses a rate like `10mbit`, `512kbit`, `1gbit`, `64000bit` into bits per second.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let mult: f64 = match unit {
        "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        _ => {
            return Err(format!(
                "{s:?} is not a rate like \"10mbit\": the unit must be bit, kbit, mbit or gbit"
            ))
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a rate like \"10mbit\""))?;
    let bits = (n * mult).round();
    if !(8_000.0..=100e9).contains(&bits) {
        return Err(format!(
            "{s:?} is out of range: use between 8kbit and 100gbit"
        ));
    }
    Ok(bits as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_durations() {
        assert_eq!(parse_rate("10mbit").unwrap(), 10_000_000);
        assert_eq!(parse_rate("1.5Gbit").unwrap(), 1_500_000_000);
        assert!(parse_rate("1bit").is_err());
        assert_eq!(
            FaultDuration::parse("5m").unwrap().0,
            Duration::from_secs(300)
        );
        assert_eq!(FaultDuration::parse("1500ms").unwrap().to_arg(), "1500ms");
        assert_eq!(FaultDuration::parse("2m").unwrap().to_arg(), "120s");
        assert_eq!(FaultDuration::parse("0s").unwrap_err().field, "duration");
        assert!(FaultDuration::parse("2d").is_err());
        assert!(FaultDuration::parse("soon").is_err());
    }
}

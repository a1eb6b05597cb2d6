//! The record as the timer stores it in SSM: the monkey's [`Record`] plus, once closed, how it
//! closed ([`Stored`], [`Closed`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::record::Record;

/// A record as the timer stores it: the monkey's record plus, once closed, how it closed.
/// Unknown fields are ignored, so records written by newer or older code still parse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// The monkey's record.
    #[serde(flatten)]
    pub record: Record,
    /// Set when the timer closed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<Closed>,
}

impl Stored {
    /// Parses a stored record, naming the field of a bad value (`started_at: input contains
    /// invalid characters`). serde loses the path through the flattened [`Record`], so the
    /// record and `closed` are checked on their own first, with serde_path_to_error.
    pub fn parse(text: &str) -> Result<Stored, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let at = |prefix: &str, e: serde_path_to_error::Error<serde_json::Error>| {
            let path = e.path().to_string();
            let path = match (prefix, path.as_str()) {
                ("", p) => p.to_owned(),
                (pre, ".") => pre.to_owned(),
                (pre, p) => format!("{pre}.{p}"),
            };
            format!("{path}: {}", e.into_inner())
        };
        serde_path_to_error::deserialize::<_, Record>(&v).map_err(|e| at("", e))?;
        if let Some(closed) = v.get("closed").filter(|c| !c.is_null()) {
            serde_path_to_error::deserialize::<_, Closed>(closed).map_err(|e| at("closed", e))?;
        }
        serde_json::from_value(v).map_err(|e| format!(".: {e}"))
    }
}

/// How a record was closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Closed {
    /// When the timer closed it.
    pub at: DateTime<Utc>,
    /// When recovery happened (absent when not recovered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_at: Option<DateTime<Utc>>,
    /// Time to recover in whole seconds (absent when not recovered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttr_s: Option<i64>,
    /// The TTR is an upper bound observed by the check, not an authoritative timestamp.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observed: bool,
}

//! The record as the timer stores it in SSM: the monkey's [`Record`] plus, once closed, how it
//! closed ([`Stored`], [`Closed`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

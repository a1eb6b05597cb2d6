//! Verdicts: the experiment's hypothesis judged on what CloudWatch recorded before, during and
//! after the injection, and the metric series that judgement (and the report's charts) read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::spec::{Comparison, Phase};

/// One data point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The period's start.
    pub at: DateTime<Utc>,
    /// The statistic's value.
    pub value: f64,
}

/// What a series measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measure {
    /// A hypothesis condition's metric.
    Condition {
        /// The condition's name.
        name: String,
        /// Its comparison.
        comparison: Comparison,
        /// Its threshold.
        threshold: f64,
        /// The phases it is checked in.
        when: Vec<Phase>,
    },
    /// An Auto Scaling group's healthy capacity (`AWS/AutoScaling` `GroupInServiceInstances`).
    Capacity {
        /// The group.
        group: String,
        /// Its desired capacity at injection.
        desired: u32,
    },
}

/// A metric's data points over the experiment (sorted by time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// What it measures.
    pub measure: Measure,
    /// `namespace/metric statistic`, for labels.
    pub label: String,
    /// The data points, oldest first.
    pub points: Vec<Point>,
}

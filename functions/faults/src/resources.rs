//! Resource faults, run by the agent's guardian for the fault's duration: [`CpuFault`] (burn
//! CPU), [`MemoryFault`] (hold memory), [`DiskFault`] (fill a filesystem, never past
//! [`DISK_MAX_PERCENT`]) and [`IoFault`] (write and sync in a loop). Memory and disk take an
//! [`Amount`]: mebibytes or a percentage.

use serde::{Deserialize, Serialize};

use crate::units::{int_in, path_arg, req};
use crate::{FaultError, RawArgs};

/// Burn CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuFault {
    /// Worker threads; `None` means one per CPU.
    pub workers: Option<u32>,
    /// Each worker's load, 1 to 100 %.
    pub load_percent: u8,
}

/// An amount of memory or disk.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Amount {
    /// Mebibytes.
    Mb(u64),
    /// Percent: of total memory (memory), or the filesystem usage to reach (disk).
    Percent(f64),
}

/// Hold memory.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemoryFault {
    /// How much.
    pub amount: Amount,
}

/// Fill a filesystem, never past [`DISK_MAX_PERCENT`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskFault {
    /// A directory on the filesystem to fill.
    pub path: String,
    /// How much (`Mb`) or up to which usage (`Percent`).
    pub amount: Amount,
}

/// The disk fault never fills a filesystem past this usage.
pub const DISK_MAX_PERCENT: f64 = 98.0;

/// Write and sync in a loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoFault {
    /// Worker threads.
    pub workers: u32,
    /// Directory to write in.
    pub path: String,
}

impl CpuFault {
    /// Validates `cpu`'s arguments.
    pub(crate) fn from_raw(raw: &RawArgs) -> Result<Self, FaultError> {
        Ok(CpuFault {
            workers: raw
                .workers
                .map(|w| int_in("workers", w, 1, 1024, "").map(|w| w as u32))
                .transpose()?,
            load_percent: int_in(
                "load_percent",
                raw.load_percent.unwrap_or(100),
                1,
                100,
                " %",
            )? as u8,
        })
    }

    /// The agent's flags for this fault.
    pub(crate) fn write_args(&self, flag: &mut impl FnMut(&str, String)) {
        if let Some(w) = self.workers {
            flag("workers", w.to_string());
        }
        flag("load-percent", self.load_percent.to_string());
    }
}

impl MemoryFault {
    /// Validates `memory`'s arguments: at most 95 % of total memory.
    pub(crate) fn from_raw(raw: &RawArgs) -> Result<Self, FaultError> {
        Ok(MemoryFault {
            amount: Amount::from_raw(raw, 95.0, "of total memory")?,
        })
    }

    /// The agent's flags for this fault.
    pub(crate) fn write_args(&self, flag: &mut impl FnMut(&str, String)) {
        self.amount.write_args(flag);
    }
}

impl DiskFault {
    /// Validates `disk`'s arguments: a path, and a usage of at most [`DISK_MAX_PERCENT`].
    pub(crate) fn from_raw(raw: &RawArgs) -> Result<Self, FaultError> {
        Ok(DiskFault {
            path: path_arg(
                "path",
                req(
                    raw.path.as_deref(),
                    "path",
                    "a directory on the filesystem to fill",
                )?,
            )?,
            amount: Amount::from_raw(raw, DISK_MAX_PERCENT, "filesystem usage to reach")?,
        })
    }

    /// The agent's flags for this fault.
    pub(crate) fn write_args(&self, flag: &mut impl FnMut(&str, String)) {
        flag("path", self.path.clone());
        self.amount.write_args(flag);
    }
}

impl IoFault {
    /// Validates `io`'s arguments (defaults: one worker, in `/tmp`).
    pub(crate) fn from_raw(raw: &RawArgs) -> Result<Self, FaultError> {
        Ok(IoFault {
            workers: int_in("workers", raw.workers.unwrap_or(1), 1, 64, "")? as u32,
            path: path_arg("path", raw.path.as_deref().unwrap_or("/tmp"))?,
        })
    }

    /// The agent's flags for this fault.
    pub(crate) fn write_args(&self, flag: &mut impl FnMut(&str, String)) {
        flag("workers", self.workers.to_string());
        flag("path", self.path.clone());
    }
}

impl Amount {
    /// `mb` or `percent` (greater than 0, at most `max_percent`), not both.
    fn from_raw(raw: &RawArgs, max_percent: f64, what: &str) -> Result<Self, FaultError> {
        match (raw.mb, raw.percent) {
            (Some(_), Some(_)) => Err(FaultError::new("mb", "give mb or percent, not both")),
            (Some(mb), None) => Ok(Amount::Mb(int_in("mb", mb, 1, 1 << 20, " MiB")? as u64)),
            (None, Some(p)) => {
                if p.is_finite() && p > 0.0 && p <= max_percent {
                    Ok(Amount::Percent(p))
                } else {
                    Err(FaultError::new(
                        "percent",
                        format!(
                            "must be greater than 0 and at most {max_percent} ({what}), got {p}"
                        ),
                    ))
                }
            }
            (None, None) => Err(FaultError::new("mb", "give mb or percent")),
        }
    }

    fn write_args(self, flag: &mut impl FnMut(&str, String)) {
        match self {
            Amount::Mb(mb) => flag("mb", mb.to_string()),
            Amount::Percent(p) => flag("percent", p.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::bad;

    #[test]
    fn rejects_bad_disk_arguments_by_name() {
        let e = bad("disk", r#"{"path": "/tmp", "percent": 99}"#);
        assert_eq!(e.field, "percent");
        let e = bad("disk", r#"{"path": "../etc", "mb": 1}"#);
        assert_eq!(e.field, "path");
    }
}

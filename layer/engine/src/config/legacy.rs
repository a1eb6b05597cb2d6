//! The failure-lambda 0.x document: one mode (`failureMode`), `isEnabled`, a `rate` from 0 to
//! 1, camelCase fields. Its fields are those of a 1.x flag, read by the same builder; since
//! the document is that one flag, an invalid field rejects the document.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{flag, invalid, ConfigError, LayerFault, Skipped};

/// The 0.x modes.
const MODES: [&str; 5] = [
    "latency",
    "exception",
    "statuscode",
    "diskspace",
    "denylist",
];

/// The 0.x field names and their 1.x equivalents.
const RENAMES: [(&str, &str); 6] = [
    ("minLatency", "min_latency"),
    ("maxLatency", "max_latency"),
    ("exceptionMsg", "exception_msg"),
    ("statusCode", "status_code"),
    ("diskSpace", "disk_space"),
    ("denylist", "deny_list"),
];

pub(super) fn read(
    obj: &Map<String, Value>,
    skipped: &mut Vec<Skipped>,
) -> Result<Vec<LayerFault>, ConfigError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Legacy {
        #[serde(default)]
        is_enabled: bool,
        failure_mode: Option<String>,
        rate: Option<f64>,
    }
    // serde_path_to_error: a wrong type names its field (`isEnabled`), as 1.x errors do.
    let l: Legacy = serde_path_to_error::deserialize(Value::Object(obj.clone())).map_err(|e| {
        ConfigError::Invalid {
            field: e.path().to_string(),
            reason: e.into_inner().to_string(),
        }
    })?;
    let mode = l.failure_mode.clone().unwrap_or_default();
    if !MODES.contains(&mode.as_str()) {
        return Err(ConfigError::UnknownMode(mode));
    }
    if !l.is_enabled {
        return Ok(Vec::new());
    }
    let rate = l.rate.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&rate) {
        return Err(invalid("rate", format!("{rate} is not between 0 and 1")));
    }
    let mut fields = Map::new();
    for (old, new) in RENAMES {
        if let Some(v) = obj.get(old) {
            fields.insert(new.to_owned(), v.clone());
        }
    }
    let built = flag::build(&mode, &fields, rate * 100.0, skipped).map_err(|e| {
        // Name the field as the document spells it (`minLatency`, not `latency.min_latency`).
        let field = e
            .field
            .strip_prefix(&format!("{mode}."))
            .unwrap_or(&e.field);
        let field = RENAMES
            .iter()
            .find(|(_, new)| field.starts_with(new))
            .map(|(old, new)| field.replacen(new, old, 1))
            .unwrap_or_else(|| field.to_owned());
        invalid(field, e.reason)
    })?;
    Ok(built.into_iter().collect())
}

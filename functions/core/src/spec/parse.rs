//! JSON in, validated types out: the two accepted shapes (the scheduler envelope and a bare
//! experiment) and serde errors turned into [`SpecError`]s with the field's dotted path.

use chrono::{DateTime, Utc};

use crate::spec::calendar::{Freeze, Purpose};
use crate::spec::error::SpecError;
use crate::spec::experiment::Experiment;
use crate::spec::invocation::{ExecutionId, Invocation};
use crate::spec::raw::{RawEnvelope, RawExperiment, RawFreeze};
use crate::spec::validate::{parse_freeze, validate};

impl Invocation {
    /// Parses a monkey payload from JSON text.
    pub fn from_json_str(
        text: &str,
        now: DateTime<Utc>,
        random: u32,
    ) -> Result<Invocation, SpecError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| SpecError::new(".", format!("the input is not valid JSON: {e}")))?;
        Self::from_value(value, now, random)
    }

    /// Parses a monkey payload already decoded as JSON. `now` and `random` make the generated
    /// id of a bare experiment.
    pub fn from_value(
        value: serde_json::Value,
        now: DateTime<Utc>,
        random: u32,
    ) -> Result<Invocation, SpecError> {
        let serde_json::Value::Object(map) = &value else {
            return Err(SpecError::new(
                ".",
                format!(
                    "expected a JSON object (the scheduler envelope or a bare experiment), got {}",
                    json_kind(&value)
                ),
            ));
        };
        if map.contains_key("experiment") {
            let spec = map.get("experiment").cloned().unwrap_or_default();
            let raw: RawEnvelope = from_value_at(value, "")?;
            let purpose = match raw.phase.as_deref() {
                None | Some("run") => Purpose::Run,
                Some("plan-start") => Purpose::PlanStart,
                Some(other) => {
                    return Err(SpecError::new(
                        "phase",
                        format!(
                            "{other:?} is not a phase: use \"run\" (default) or \"plan-start\""
                        ),
                    ))
                }
            };
            let execution_id = match raw.execution_id {
                Some(id) => {
                    ExecutionId::parse(&id).map_err(|m| SpecError::new("execution_id", m))?
                }
                None => ExecutionId::generate(now, random),
            };
            let scheduled_time = raw
                .scheduled_time
                .map(|t| {
                    DateTime::parse_from_rfc3339(&t)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|e| {
                            SpecError::new(
                                "scheduled_time",
                                format!("{t:?} is not an RFC 3339 time ({e})"),
                            )
                        })
                })
                .transpose()?;
            Ok(Invocation {
                execution_id,
                scheduled_time,
                experiment: validate(raw.experiment, "experiment.")?,
                purpose,
                spec,
            })
        } else {
            let spec = value.clone();
            let raw: RawExperiment = from_value_at(value, "")?;
            Ok(Invocation {
                execution_id: ExecutionId::generate(now, random),
                scheduled_time: None,
                experiment: validate(raw, "")?,
                purpose: Purpose::Run,
                spec,
            })
        }
    }
}

impl Experiment {
    /// Parses a bare experiment object from JSON text (the CLI's `validate` / `plan`).
    pub fn from_json_str(text: &str) -> Result<Experiment, SpecError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| SpecError::new(".", format!("the input is not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(SpecError::new(
                ".",
                format!(
                    "expected a JSON object (an experiment), got {}",
                    json_kind(&value)
                ),
            ));
        }
        validate(from_value_at(value, "")?, "")
    }
}

impl Freeze {
    /// Parses a JSON list of freeze entries (the deployment's shared calendar), each checked
    /// exactly as one of `guards.freeze` is; errors name `path[i].field`.
    pub fn list_from_json_str(text: &str, path: &str) -> Result<Vec<Freeze>, SpecError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| SpecError::new(path, format!("not valid JSON: {e}")))?;
        if !value.is_array() {
            return Err(SpecError::new(
                path,
                format!(
                    "expected a JSON list of freeze entries like [{{\"name\": \"Christmas\", \"from\": \"2026-12-24\", \"to\": \"2026-12-26\", \"tz\": \"Europe/London\"}}], got {}",
                    json_kind(&value)
                ),
            ));
        }
        let raw: Vec<RawFreeze> = from_value_at(value, path)?;
        raw.into_iter()
            .enumerate()
            .map(|(i, f)| parse_freeze(f, &format!("{path}[{i}]")))
            .collect()
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn from_value_at<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, SpecError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." {
            prefix.trim_end_matches('.').to_owned()
        } else {
            format!("{prefix}{path}")
        };
        let path = if path.is_empty() {
            ".".to_owned()
        } else {
            path
        };
        SpecError::new(path, e.into_inner().to_string())
    })
}

//! Lambda experiments: the opted-in functions a round may change ([`inventory`], with the
//! reason each unfit one is left out), what restores each of them, read before anything
//! changes ([`snapshot`]), the change itself ([`inject`]) and the way back ([`restore`]), which
//! the recovery timer runs at the end of the duration and an abort runs at once.
//!
//! A restore puts back exactly what was there: the previous layer parameter (deleted when
//! there was none), the previous reserved concurrency (removed when there was none), the event
//! source mappings that were enabled (only those). It leaves alone what someone else changed
//! since the injection (a parameter no longer holding what the monkey wrote, a concurrency no
//! longer 0), and says so. Restoring twice is harmless.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use tracing::{info, warn};

use crate::act::bounded;
use crate::aws::lambda::{
    configuration, mappings, reserve_concurrency, reserved_concurrency, set_mapping_enabled,
    tagged, unreserve_concurrency, FunctionConfig, Mapping,
};
use crate::aws::{ssm, Aws, AwsError};
use crate::outcome::TargetResult;
use crate::record::{LambdaChange, Restore, RolledBack};
use crate::select::{Function, OptIn, Target};
use crate::settings::{LayerSettings, Settings};
use crate::spec::{Experiment, LambdaAction, LambdaKind};

/// At most this many Lambda / SSM calls in flight at once.
pub const CONCURRENCY: usize = 10;

/// The wrapper managed runtimes need (`AWS_LAMBDA_EXEC_WRAPPER`) for the layer's proxy.
pub const WRAPPER: &str = "/opt/faultline-wrapper";

/// The variables naming a function's layer parameter, in the layer's order of preference.
pub const PARAM_VARS: [&str; 2] = ["FAULTLINE_CONFIG_PARAM", "FAILURE_INJECTION_PARAM"];

/// The opted-in functions matching the experiment's tags (one `GetResources` per 100), each
/// with the reason it cannot be a target, if any: for `lambda-fault`, one
/// `GetFunctionConfiguration` per function (the layer, its wrapper, its parameter); for
/// `disable-event-source`, one `ListEventSourceMappings` per function.
pub async fn inventory(
    aws: &Aws,
    settings: &Settings,
    exp: &Experiment,
    action: &LambdaAction,
) -> Result<Vec<Function>, AwsError> {
    let mut tags = exp.targets.tags.clone();
    tags.insert(settings.opt_in.key.clone(), OptIn::VALUE.to_owned());
    let found = tagged(&aws.tagging, &tags).await?;
    let unfit: Vec<Option<String>> = match &action.kind {
        LambdaKind::Throttle => found.iter().map(|_| None).collect(),
        LambdaKind::Fault(_) => {
            bounded(&found, CONCURRENCY, |f| async {
                match configuration(&aws.lambda, &f.name).await {
                    Ok(c) => layer_param(&c, &settings.layer).err(),
                    Err(e) => Some(format!("its configuration could not be read ({e})")),
                }
            })
            .await
        }
        LambdaKind::DisableEventSource => {
            bounded(&found, CONCURRENCY, |f| async {
                match mappings(&aws.lambda, &f.name).await {
                    Ok(ms) if ms.iter().any(Mapping::enabled) => None,
                    Ok(ms) if ms.is_empty() => Some("has no event source mapping".to_owned()),
                    Ok(_) => Some("has no enabled event source mapping".to_owned()),
                    Err(e) => Some(format!("its event source mappings could not be read ({e})")),
                }
            })
            .await
        }
    };
    Ok(found
        .into_iter()
        .zip(unfit)
        .map(|(f, unfit)| Function {
            name: f.name,
            tags: f.tags,
            unfit,
        })
        .collect())
}

/// The layer parameter a function reads, if it carries the faultline layer (and, on a managed
/// runtime, its wrapper) and the parameter lies under the prefix the monkey may write;
/// otherwise why it is not a target.
pub fn layer_param(c: &FunctionConfig, layer: &LayerSettings) -> Result<String, String> {
    // arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION
    if !c
        .layers
        .iter()
        .any(|arn| arn.split(':').nth(6) == Some(layer.name.as_str()))
    {
        return Err(format!(
            "does not carry the faultline layer (no version of {:?} among its {} layer(s))",
            layer.name,
            c.layers.len()
        ));
    }
    // provided.* runtimes ignore AWS_LAMBDA_EXEC_WRAPPER: their bootstrap execs
    // /opt/faultline-bootstrap, which the configuration cannot show.
    let custom = c
        .runtime
        .as_deref()
        .is_some_and(|r| r.starts_with("provided"));
    if !custom && c.env.get("AWS_LAMBDA_EXEC_WRAPPER").map(String::as_str) != Some(WRAPPER) {
        return Err(format!(
            "carries the layer but not its wrapper: set AWS_LAMBDA_EXEC_WRAPPER={WRAPPER}"
        ));
    }
    let Some(param) = PARAM_VARS.iter().find_map(|v| c.env.get(*v)) else {
        return Err(format!(
            "names no layer parameter: set {} (or {})",
            PARAM_VARS[1], PARAM_VARS[0]
        ));
    };
    if !param.starts_with(&format!("{}/", layer.prefix)) {
        return Err(format!(
            "its parameter {param} is outside {}/, the only path the monkey may write",
            layer.prefix
        ));
    }
    Ok(param.clone())
}

/// The record's name for an action's change.
pub fn change(kind: &LambdaKind) -> LambdaChange {
    match kind {
        LambdaKind::Fault(_) => LambdaChange::LambdaFault,
        LambdaKind::Throttle => LambdaChange::Throttle,
        LambdaKind::DisableEventSource => LambdaChange::DisableEventSource,
    }
}

/// The document `lambda-fault` writes: the spec's flags and `expires_at` = `now` + duration, so
/// the layer ends the fault by itself even if nothing restores it.
pub fn fault_document(
    faults: &serde_json::Map<String, Value>,
    action: &LambdaAction,
    now: DateTime<Utc>,
) -> String {
    let mut doc = faults.clone();
    let until = now + chrono::Duration::from_std(action.duration).unwrap_or_default();
    doc.insert(
        "expires_at".to_owned(),
        Value::String(until.to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
    Value::Object(doc).to_string()
}

/// Reads, before anything changes, what restores each chosen function: its parameter's value
/// (`lambda-fault`, whose configuration is read again so the parameter written is the one it
/// reads now), its reserved concurrency (`throttle`), its enabled mappings
/// (`disable-event-source`). Any failure fails the round with nothing changed.
pub async fn snapshot(
    aws: &Aws,
    settings: &Settings,
    action: &LambdaAction,
    chosen: &[Target],
    now: DateTime<Utc>,
) -> Result<Vec<Restore>, AwsError> {
    let names: Vec<&str> = chosen.iter().map(|t| t.instance_id.as_str()).collect();
    match &action.kind {
        LambdaKind::Fault(faults) => {
            let configs = bounded(&names, CONCURRENCY, |n| configuration(&aws.lambda, n)).await;
            let mut params = Vec::with_capacity(names.len());
            for (n, c) in names.iter().zip(configs) {
                let param = layer_param(&c?, &settings.layer).map_err(|why| AwsError {
                    operation: "GetFunctionConfiguration",
                    detail: format!("{n} changed since the plan: it {why}"),
                })?;
                params.push(param);
            }
            let previous = ssm::get_many(&aws.ssm, &params).await?;
            let written = fault_document(faults, action, now);
            Ok(names
                .iter()
                .zip(params)
                .map(|(n, p)| Restore::Parameter {
                    function: (*n).to_owned(),
                    previous: previous.get(&p).cloned(),
                    name: p,
                    written: written.clone(),
                })
                .collect())
        }
        LambdaKind::Throttle => {
            let current = bounded(&names, CONCURRENCY, |n| {
                reserved_concurrency(&aws.lambda, n)
            })
            .await;
            names
                .iter()
                .zip(current)
                .map(|(n, c)| {
                    Ok(Restore::Concurrency {
                        function: (*n).to_owned(),
                        previous: c?,
                    })
                })
                .collect()
        }
        LambdaKind::DisableEventSource => {
            let found = bounded(&names, CONCURRENCY, |n| mappings(&aws.lambda, n)).await;
            let mut out = Vec::new();
            for (n, ms) in names.iter().zip(found) {
                out.extend(ms?.into_iter().filter(Mapping::enabled).map(|m| {
                    Restore::EventSource {
                        function: (*n).to_owned(),
                        uuid: m.uuid,
                    }
                }));
            }
            Ok(out)
        }
    }
}

/// Makes the change on every function of `restore` (as read by [`snapshot`]); one result per
/// function (a function with several mappings fails if any of them does).
pub async fn inject(aws: &Aws, action: &LambdaAction, restore: &[Restore]) -> Vec<TargetResult> {
    let results = bounded(restore, CONCURRENCY, |r| async move {
        match r {
            Restore::Parameter { name, written, .. } => {
                ssm::put(&aws.ssm, name, written, written.len() > 4096, true)
                    .await
                    .map(|_| format!("{name} written"))
            }
            Restore::Concurrency { function, .. } => reserve_concurrency(&aws.lambda, function, 0)
                .await
                .map(|()| "reserved concurrency 0".to_owned()),
            Restore::EventSource { uuid, .. } => set_mapping_enabled(&aws.lambda, uuid, false)
                .await
                .map(|state| format!("mapping {uuid} {state}")),
        }
    })
    .await;
    let mut per_function: BTreeMap<&str, (Vec<String>, Option<String>)> = BTreeMap::new();
    for (r, res) in restore.iter().zip(results) {
        let e = per_function.entry(r.function()).or_default();
        match res {
            Ok(done) => e.0.push(done),
            Err(err) => {
                e.1.get_or_insert_with(String::new)
                    .push_str(&err.to_string());
            }
        }
    }
    let past = match action.kind {
        LambdaKind::Fault(_) => "faulted",
        LambdaKind::Throttle => "throttled",
        LambdaKind::DisableEventSource => "disabled",
    };
    per_function
        .into_iter()
        .map(|(function, (done, error))| {
            info!(function, done = ?done, error = error.as_deref().unwrap_or(""), decision = "acted", "lambda change");
            TargetResult {
                instance_id: function.to_owned(),
                asg: None,
                outcome: if error.is_some() { "failed" } else { past }.to_owned(),
                state: Some(done.join(", ")).filter(|s| !s.is_empty()),
                error,
            }
        })
        .collect()
}

/// Puts every function back as [`snapshot`] found it; one result per entry of `restore`.
pub async fn restore(aws: &Aws, restore: &[Restore]) -> Vec<RolledBack> {
    bounded(restore, CONCURRENCY, |r| async move {
        let res = restore_one(aws, r).await;
        let (ok, detail) = match res {
            Ok(detail) => (true, detail),
            Err(e) => {
                warn!(function = r.function(), error = %e, "restore failed");
                (false, e.to_string())
            }
        };
        RolledBack {
            id: r.function().to_owned(),
            ok,
            detail,
        }
    })
    .await
}

async fn restore_one(aws: &Aws, r: &Restore) -> Result<String, AwsError> {
    match r {
        Restore::Parameter {
            name,
            previous,
            written,
            ..
        } => {
            let now = ssm::get(&aws.ssm, name).await?;
            if now.as_deref() != Some(written.as_str()) {
                return Ok(if now == *previous {
                    format!("{name} already restored")
                } else {
                    format!("{name} left alone: changed by someone else since the injection")
                });
            }
            match previous {
                Some(v) => {
                    ssm::put(&aws.ssm, name, v, v.len() > 4096, true).await?;
                    Ok(format!("{name} set back to its previous value"))
                }
                None => {
                    ssm::delete(&aws.ssm, std::slice::from_ref(name)).await?;
                    Ok(format!("{name} deleted (it did not exist before)"))
                }
            }
        }
        Restore::Concurrency { function, previous } => {
            let now = reserved_concurrency(&aws.lambda, function).await?;
            if now != Some(0) {
                return Ok(if now == *previous {
                    "reserved concurrency already restored".to_owned()
                } else {
                    format!(
                        "reserved concurrency left alone: {} now, changed since the injection",
                        now.map_or("none".to_owned(), |n| n.to_string())
                    )
                });
            }
            match previous {
                Some(n) => reserve_concurrency(&aws.lambda, function, *n).await?,
                None => unreserve_concurrency(&aws.lambda, function).await?,
            }
            Ok(match previous {
                Some(n) => format!("reserved concurrency set back to {n}"),
                None => "reserved concurrency removed (there was none)".to_owned(),
            })
        }
        Restore::EventSource { uuid, .. } => {
            let state = set_mapping_enabled(&aws.lambda, uuid, true).await?;
            Ok(format!("mapping {uuid} enabled again ({state})"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(layers: &[&str], env: &[(&str, &str)], runtime: &str) -> FunctionConfig {
        FunctionConfig {
            layers: layers.iter().map(|s| (*s).to_owned()).collect(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            runtime: Some(runtime.to_owned()),
        }
    }

    const LAYER: &str = "arn:aws:lambda:us-east-1:123456789012:layer:faultline-layer:3";

    #[test]
    fn a_function_is_a_target_only_with_the_layer_its_wrapper_and_a_parameter_we_may_write() {
        let s = LayerSettings::default();
        let ok = config(
            &[LAYER],
            &[
                ("AWS_LAMBDA_EXEC_WRAPPER", WRAPPER),
                ("FAILURE_INJECTION_PARAM", "/faultline/layer/orders"),
            ],
            "python3.12",
        );
        assert_eq!(layer_param(&ok, &s).unwrap(), "/faultline/layer/orders");
        let other = config(
            &["arn:aws:lambda:us-east-1:123456789012:layer:other:1"],
            &[],
            "python3.12",
        );
        assert!(layer_param(&other, &s)
            .unwrap_err()
            .contains("does not carry the faultline layer"));
        let no_wrapper = config(
            &[LAYER],
            &[("FAILURE_INJECTION_PARAM", "/faultline/layer/x")],
            "nodejs22.x",
        );
        assert!(layer_param(&no_wrapper, &s)
            .unwrap_err()
            .contains("AWS_LAMBDA_EXEC_WRAPPER=/opt/faultline-wrapper"));
        let custom = config(
            &[LAYER],
            &[("FAULTLINE_CONFIG_PARAM", "/faultline/layer/rust")],
            "provided.al2023",
        );
        assert_eq!(layer_param(&custom, &s).unwrap(), "/faultline/layer/rust");
        let elsewhere = config(
            &[LAYER],
            &[
                ("AWS_LAMBDA_EXEC_WRAPPER", WRAPPER),
                ("FAILURE_INJECTION_PARAM", "/faultline/layerx/a"),
            ],
            "python3.12",
        );
        assert!(layer_param(&elsewhere, &s)
            .unwrap_err()
            .contains("outside /faultline/layer/"));
        let none = config(
            &[LAYER],
            &[("AWS_LAMBDA_EXEC_WRAPPER", WRAPPER)],
            "python3.12",
        );
        assert!(layer_param(&none, &s)
            .unwrap_err()
            .contains("names no layer parameter"));
    }
}

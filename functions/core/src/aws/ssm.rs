//! SSM: Parameter Store (the kill switch, the Slack webhook) and Run Command (the agent: send,
//! and the per-host result of a command).

use aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationError;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_sdk_ssm::operation::put_parameter::PutParameterError;
use aws_sdk_ssm::types::{ParameterTier, ParameterType};

use super::AwsError;

/// Reads a String parameter; `None` when it does not exist.
pub async fn get(client: &aws_sdk_ssm::Client, name: &str) -> Result<Option<String>, AwsError> {
    match client.get_parameter().name(name).send().await {
        Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
        Err(e) => match e.into_service_error() {
            GetParameterError::ParameterNotFound(_) => Ok(None),
            e => Err(AwsError::new("GetParameter", e)),
        },
    }
}

/// Reads String parameters, ten per `GetParameters` call (the API's limit): name → value for
/// those that exist.
pub async fn get_many(
    client: &aws_sdk_ssm::Client,
    names: &[String],
) -> Result<std::collections::BTreeMap<String, String>, AwsError> {
    let mut out = std::collections::BTreeMap::new();
    for chunk in names.chunks(10) {
        let page = client
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::new("GetParameters", e))?;
        for p in page.parameters() {
            if let (Some(n), Some(v)) = (p.name(), p.value()) {
                out.insert(n.to_owned(), v.to_owned());
            }
        }
    }
    Ok(out)
}

/// Whether a create found the parameter already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// Written now.
    New,
    /// It existed: nothing was written.
    AlreadyExists,
}

/// Writes a String parameter, in the advanced tier when `advanced`. With `overwrite` false an
/// existing parameter is left alone and [`Created::AlreadyExists`] returned: the idempotency
/// lock for at-least-once delivery.
pub async fn put(
    client: &aws_sdk_ssm::Client,
    name: &str,
    value: &str,
    advanced: bool,
    overwrite: bool,
) -> Result<Created, AwsError> {
    let tier = if advanced {
        ParameterTier::Advanced
    } else {
        ParameterTier::Standard
    };
    match client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::String)
        .tier(tier)
        .overwrite(overwrite)
        .send()
        .await
    {
        Ok(_) => Ok(Created::New),
        Err(e) => match e.into_service_error() {
            PutParameterError::ParameterAlreadyExists(_) => Ok(Created::AlreadyExists),
            e => Err(AwsError::new("PutParameter", e)),
        },
    }
}

/// Every parameter directly under `path` (not recursive), name → value, all pages.
pub async fn list_under(
    client: &aws_sdk_ssm::Client,
    path: &str,
) -> Result<Vec<(String, String)>, AwsError> {
    let mut pages = client
        .get_parameters_by_path()
        .path(path.trim_end_matches('/'))
        .recursive(false)
        .max_results(10)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("GetParametersByPath", e))?;
        for p in page.parameters() {
            if let (Some(n), Some(v)) = (p.name(), p.value()) {
                out.push((n.to_owned(), v.to_owned()));
            }
        }
    }
    Ok(out)
}

/// Reads a parameter with decryption (a `SecureString`); `None` when it does not exist. The
/// value is a secret: callers must not log it.
pub async fn get_decrypted(
    client: &aws_sdk_ssm::Client,
    name: &str,
) -> Result<Option<String>, AwsError> {
    match client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
        Err(e) => match e.into_service_error() {
            GetParameterError::ParameterNotFound(_) => Ok(None),
            e => Err(AwsError::new("GetParameter", e)),
        },
    }
}

/// Deletes parameters, ten per call (the API's limit); names that do not exist are ignored.
pub async fn delete(client: &aws_sdk_ssm::Client, names: &[String]) -> Result<(), AwsError> {
    for chunk in names.chunks(10) {
        client
            .delete_parameters()
            .set_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::new("DeleteParameters", e))?;
    }
    Ok(())
}

/// SSM Run Command's limit on `InstanceIds` per `SendCommand`.
pub const SEND_COMMAND_MAX_TARGETS: usize = 50;

/// Sends `document` with `parameters` to `instance_ids` (at most
/// [`SEND_COMMAND_MAX_TARGETS`]); returns the command id.
pub async fn send_command(
    client: &aws_sdk_ssm::Client,
    document: &str,
    instance_ids: &[String],
    parameters: &[(&str, String)],
    comment: &str,
) -> Result<String, AwsError> {
    let params: std::collections::HashMap<String, Vec<String>> = parameters
        .iter()
        .map(|(k, v)| ((*k).to_owned(), vec![v.clone()]))
        .collect();
    let out = client
        .send_command()
        .document_name(document)
        .set_instance_ids(Some(instance_ids.to_vec()))
        .set_parameters(Some(params))
        .comment(comment.chars().take(100).collect::<String>())
        .send()
        .await
        .map_err(|e| AwsError::new("SendCommand", e))?;
    Ok(out.command.and_then(|c| c.command_id).unwrap_or_default())
}

/// Where one host's run of a command stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Not finished yet (or SSM does not list it yet: right after `SendCommand` it may not).
    Pending(String),
    /// Finished: its status (`Success`, `Failed`, `TimedOut`, `Cancelled`) and SSM's detail.
    Done {
        /// `Success` and nothing else means the host did it.
        success: bool,
        /// `Success`, `Failed: <StatusDetails>` and the first line of the error output.
        detail: String,
    },
}

/// `GetCommandInvocation` of `command_id` on `instance_id` (the document's one step).
pub async fn command_invocation(
    client: &aws_sdk_ssm::Client,
    command_id: &str,
    instance_id: &str,
) -> Result<Invocation, AwsError> {
    use aws_sdk_ssm::types::CommandInvocationStatus as S;
    let out = match client
        .get_command_invocation()
        .command_id(command_id)
        .instance_id(instance_id)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            return match e.into_service_error() {
                GetCommandInvocationError::InvocationDoesNotExist(_) => {
                    Ok(Invocation::Pending("not listed yet".to_owned()))
                }
                e => Err(AwsError::new("GetCommandInvocation", e)),
            }
        }
    };
    let status = out.status.clone().unwrap_or(S::Pending);
    let detail = out
        .status_details()
        .filter(|d| *d != status.as_str())
        .map(|d| format!("{}: {d}", status.as_str()))
        .unwrap_or_else(|| status.as_str().to_owned());
    Ok(match status {
        S::Success => Invocation::Done {
            success: true,
            detail,
        },
        S::Failed | S::TimedOut | S::Cancelled => {
            let err = out
                .standard_error_content()
                .and_then(|e| e.lines().find(|l| !l.trim().is_empty()))
                .map(|l| format!(" ({})", l.trim()))
                .unwrap_or_default();
            Invocation::Done {
                success: false,
                detail: format!("{detail}{err}"),
            }
        }
        S::Pending | S::InProgress | S::Delayed | S::Cancelling => Invocation::Pending(detail),
        other => Invocation::Pending(other.as_str().to_owned()),
    })
}

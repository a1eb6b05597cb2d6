//! Lambda and the Resource Groups Tagging API: opted-in functions found by tag in pages, a
//! function's configuration (layers, environment), reserved concurrency, event source mappings.

use std::collections::BTreeMap;

use aws_sdk_lambda::operation::get_function_concurrency::GetFunctionConcurrencyError;
use aws_sdk_resourcegroupstagging::types::TagFilter;

use super::AwsError;

/// A function the tagging API returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedFunction {
    /// Its name (the last part of the ARN).
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// All its tags.
    pub tags: BTreeMap<String, String>,
}

/// The functions carrying every one of `tags`: one `GetResources` per 100 functions, not one
/// call per function.
pub async fn tagged(
    client: &aws_sdk_resourcegroupstagging::Client,
    tags: &BTreeMap<String, String>,
) -> Result<Vec<TaggedFunction>, AwsError> {
    let filters: Vec<TagFilter> = tags
        .iter()
        .map(|(k, v)| TagFilter::builder().key(k).values(v).build())
        .collect();
    let mut pages = client
        .get_resources()
        .resource_type_filters("lambda:function")
        .set_tag_filters(Some(filters))
        .resources_per_page(100)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("GetResources", e))?;
        for r in page.resource_tag_mapping_list() {
            let Some(arn) = r.resource_arn() else {
                continue;
            };
            // arn:aws:lambda:REGION:ACCOUNT:function:NAME (a version or alias would follow).
            let Some(name) = arn.split(':').nth(6) else {
                continue;
            };
            out.push(TaggedFunction {
                name: name.to_owned(),
                arn: arn.to_owned(),
                tags: r
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect(),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    Ok(out)
}

/// What the monkey needs of a function's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionConfig {
    /// Layer version ARNs.
    pub layers: Vec<String>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// The runtime (`python3.12`, `provided.al2023`, ...), when not a container image.
    pub runtime: Option<String>,
}

/// `GetFunctionConfiguration`.
pub async fn configuration(
    client: &aws_sdk_lambda::Client,
    function: &str,
) -> Result<FunctionConfig, AwsError> {
    let out = client
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .map_err(|e| AwsError::new("GetFunctionConfiguration", e))?;
    Ok(FunctionConfig {
        layers: out
            .layers()
            .iter()
            .filter_map(|l| l.arn().map(str::to_owned))
            .collect(),
        env: out
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        runtime: out.runtime().map(|r| r.as_str().to_owned()),
    })
}

/// The function's reserved concurrency; `None` when it has none.
pub async fn reserved_concurrency(
    client: &aws_sdk_lambda::Client,
    function: &str,
) -> Result<Option<i32>, AwsError> {
    match client
        .get_function_concurrency()
        .function_name(function)
        .send()
        .await
    {
        Ok(out) => Ok(out.reserved_concurrent_executions()),
        Err(e) => match e.into_service_error() {
            // Some endpoints answer "not found" for a function without a reservation.
            GetFunctionConcurrencyError::ResourceNotFoundException(_) => Ok(None),
            e => Err(AwsError::new("GetFunctionConcurrency", e)),
        },
    }
}

/// Sets the reserved concurrency (`PutFunctionConcurrency`).
pub async fn reserve_concurrency(
    client: &aws_sdk_lambda::Client,
    function: &str,
    value: i32,
) -> Result<(), AwsError> {
    client
        .put_function_concurrency()
        .function_name(function)
        .reserved_concurrent_executions(value)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::new("PutFunctionConcurrency", e))
}

/// Removes the reserved concurrency (`DeleteFunctionConcurrency`).
pub async fn unreserve_concurrency(
    client: &aws_sdk_lambda::Client,
    function: &str,
) -> Result<(), AwsError> {
    client
        .delete_function_concurrency()
        .function_name(function)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::new("DeleteFunctionConcurrency", e))
}

/// An event source mapping of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Its UUID.
    pub uuid: String,
    /// `Enabled`, `Disabled`, `Enabling`, ...
    pub state: String,
    /// The queue or stream.
    pub source: Option<String>,
}

impl Mapping {
    /// Enabled or on its way to be.
    pub fn enabled(&self) -> bool {
        matches!(
            self.state.as_str(),
            "Enabled" | "Enabling" | "Creating" | "Updating"
        )
    }
}

/// Every event source mapping of `function`, all pages.
pub async fn mappings(
    client: &aws_sdk_lambda::Client,
    function: &str,
) -> Result<Vec<Mapping>, AwsError> {
    let mut pages = client
        .list_event_source_mappings()
        .function_name(function)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("ListEventSourceMappings", e))?;
        for m in page.event_source_mappings() {
            if let Some(uuid) = m.uuid() {
                out.push(Mapping {
                    uuid: uuid.to_owned(),
                    state: m.state().unwrap_or_default().to_owned(),
                    source: m.event_source_arn().map(str::to_owned),
                });
            }
        }
    }
    Ok(out)
}

/// Enables or disables one mapping; returns its state as the API reports it.
pub async fn set_mapping_enabled(
    client: &aws_sdk_lambda::Client,
    uuid: &str,
    enabled: bool,
) -> Result<String, AwsError> {
    client
        .update_event_source_mapping()
        .uuid(uuid)
        .enabled(enabled)
        .send()
        .await
        .map(|o| o.state().unwrap_or_default().to_owned())
        .map_err(|e| AwsError::new("UpdateEventSourceMapping", e))
}

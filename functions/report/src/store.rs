//! Reports in S3: `s3://bucket/prefix/<id>/` holds `report.json` (what [`get`] reads back) and
//! `report.html` (what a person opens, through a [`presign`]ed URL). Every call is on a
//! parameter named `client` (the IAM consistency check's convention): `s3:PutObject` and
//! `s3:GetObject`; presigning calls nothing.

use std::time::Duration;

use aws_smithy_types::error::display::DisplayErrorContext;

use crate::html::html;
use crate::model::Report;

/// The key prefix reports are written under unless the deployment says otherwise.
pub const DEFAULT_PREFIX: &str = "reports";

/// The report's data, under the location.
pub const JSON: &str = "report.json";

/// The page, under the location.
pub const HTML: &str = "report.html";

/// Why a report could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An S3 call failed.
    #[error("{operation} s3://{bucket}/{key} failed: {detail}")]
    Aws {
        /// `PutObject`, `GetObject`.
        operation: &'static str,
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The error with its context.
        detail: String,
    },
    /// There is no report at the location.
    #[error("no report at s3://{bucket}/{key}")]
    Missing {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// What is stored is not a report.
    #[error("s3://{bucket}/{key} is not a report: {reason}")]
    Malformed {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// The location is not `s3://bucket/prefix/`.
    #[error("{0:?} is not a report location: use s3://bucket/prefix/")]
    BadLocation(String),
    /// The presigning configuration was refused (a TTL over 7 days).
    #[error("cannot presign for {ttl:?}: {detail} (use at most 7 days)")]
    Presign {
        /// The TTL asked for.
        ttl: Duration,
        /// Why.
        detail: String,
    },
}

/// Where a report is: a bucket and the key prefix ending in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix (`reports/e-123/`), ending in `/`.
    pub prefix: String,
}

impl Location {
    /// Where `put` writes `id`'s report: `prefix/id/` in `bucket` (no prefix: `id/`).
    pub fn of(bucket: &str, prefix: &str, id: &str) -> Location {
        let prefix = prefix.trim_matches('/');
        Location {
            bucket: bucket.to_owned(),
            prefix: if prefix.is_empty() {
                format!("{id}/")
            } else {
                format!("{prefix}/{id}/")
            },
        }
    }

    /// Parses `s3://bucket/prefix/` (the record's `report`).
    pub fn parse(s: &str) -> Result<Location, StoreError> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| StoreError::BadLocation(s.to_owned()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::BadLocation(s.to_owned()));
        }
        let prefix = prefix.trim_start_matches('/');
        Ok(Location {
            bucket: bucket.to_owned(),
            prefix: match prefix {
                "" => String::new(),
                p if p.ends_with('/') => p.to_owned(),
                p => format!("{p}/"),
            },
        })
    }

    /// The key of `name` (`report.json`) under this location.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// `s3://bucket/prefix/`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

/// An S3 client from the shared SDK configuration. With an explicit endpoint (a local AWS such
/// as moto, through `AWS_ENDPOINT_URL`) it addresses buckets by path, which such endpoints need;
/// against AWS it keeps virtual-hosted addressing.
pub fn client(conf: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(conf.endpoint_url().is_some())
            .build(),
    )
}

/// Writes `report.json` and `report.html` of `report` under `prefix/<id>/` in `bucket`;
/// returns the location (`s3://bucket/prefix/<id>/`) for the record's `report`.
pub async fn put(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    report: &Report,
) -> Result<String, StoreError> {
    let at = Location::of(bucket, prefix, &report.id);
    let json = serde_json::to_vec_pretty(report).expect("a report always serialises");
    put_object(client, &at, JSON, json, "application/json").await?;
    put_object(
        client,
        &at,
        HTML,
        html(report).into_bytes(),
        "text/html; charset=utf-8",
    )
    .await?;
    tracing::info!(id = %report.id, location = %at.url(), "report stored");
    Ok(at.url())
}

async fn put_object(
    client: &aws_sdk_s3::Client,
    at: &Location,
    name: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Result<(), StoreError> {
    let key = at.key(name);
    client
        .put_object()
        .bucket(&at.bucket)
        .key(&key)
        .content_type(content_type)
        .body(body.into())
        .send()
        .await
        .map_err(|e| StoreError::Aws {
            operation: "PutObject",
            bucket: at.bucket.clone(),
            key,
            detail: DisplayErrorContext(&e).to_string(),
        })?;
    Ok(())
}

/// Reads the report at `location` (`s3://bucket/prefix/`, as the record says) from its
/// `report.json`.
pub async fn get(client: &aws_sdk_s3::Client, location: &str) -> Result<Report, StoreError> {
    let at = Location::parse(location)?;
    let key = at.key(JSON);
    let out = match client
        .get_object()
        .bucket(&at.bucket)
        .key(&key)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let missing = e.as_service_error().is_some_and(|s| s.is_no_such_key());
            return Err(match missing {
                true => StoreError::Missing {
                    bucket: at.bucket,
                    key,
                },
                false => StoreError::Aws {
                    operation: "GetObject",
                    bucket: at.bucket,
                    key,
                    detail: DisplayErrorContext(&e).to_string(),
                },
            });
        }
    };
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| StoreError::Aws {
            operation: "GetObject",
            bucket: at.bucket.clone(),
            key: key.clone(),
            detail: e.to_string(),
        })?
        .into_bytes();
    parse(&bytes).map_err(|reason| StoreError::Malformed {
        bucket: at.bucket,
        key,
        reason,
    })
}

/// Parses a `report.json`, naming the field of a bad value (`generated_at: ...`).
pub fn parse(bytes: &[u8]) -> Result<Report, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize::<_, Report>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        format!("{path}: {}", e.into_inner())
    })
}

/// A URL that reads `key` in `bucket` for `ttl` without credentials (at most 7 days). Signs
/// locally; calls nothing.
pub async fn presign(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    ttl: Duration,
) -> Result<String, StoreError> {
    let conf = aws_sdk_s3::presigning::PresigningConfig::expires_in(ttl).map_err(|e| {
        StoreError::Presign {
            ttl,
            detail: e.to_string(),
        }
    })?;
    let req = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .presigned(conf)
        .await
        .map_err(|e| StoreError::Presign {
            ttl,
            detail: DisplayErrorContext(&e).to_string(),
        })?;
    Ok(req.uri().to_owned())
}

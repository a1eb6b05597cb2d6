//! The experiment records in DynamoDB: one item per execution id, the typed [`Record`] as one
//! JSON attribute beside the attributes the table's keys, indexes and TTL need.
//!
//! | attribute | |
//! | --- | --- |
//! | `id` | the execution id (hash key) |
//! | `record` | the record, JSON |
//! | `state` | `open` / `closed` / `aborted` |
//! | `open` | `open`, only while open: the sparse index [`OPEN_INDEX`] (hash `open`, range `started_at`) |
//! | `kind` | always `experiment`: the index [`HISTORY_INDEX`] (hash `kind`, range `started_at`) |
//! | `started_at` | RFC 3339 UTC with milliseconds, so it sorts as text |
//! | `experiment` | the experiment's name: the index [`EXPERIMENT_INDEX`] (hash `experiment`, range `started_at`) |
//! | `expires_at` | once closed or aborted: epoch seconds after which DynamoDB's TTL deletes it |
//!
//! Creating is conditional on the id being new (the idempotency lock); every later write is a
//! conditional update on `state`, so two writers never both close a record.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};

use super::AwsError;
use crate::record::{Record, State};
use crate::settings::RecordStore;

/// The sparse index of open records.
pub const OPEN_INDEX: &str = "open";
/// The index of every record by start time.
pub const HISTORY_INDEX: &str = "history";
/// The index of one experiment's records by start time.
pub const EXPERIMENT_INDEX: &str = "experiment";
/// The most pages [`Records::previous`] reads (bounded reads: at most this many `Query` calls).
pub const MAX_PREVIOUS_PAGES: usize = 5;
/// The `kind` of every record item.
pub const KIND: &str = "experiment";

/// Whether a create found the record already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// Written now.
    New,
    /// It existed (a redelivery): nothing was written.
    AlreadyExists,
}

/// An item that is not a valid record: its id and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The item's `id`.
    pub id: String,
    /// What is wrong, naming the field.
    pub reason: String,
}

/// One page of records, newest first, and whether more follow.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Records that parsed.
    pub records: Vec<Record>,
    /// Items that did not.
    pub malformed: Vec<Malformed>,
    /// More records are older than the last one here.
    pub more: bool,
}

/// The record table, with the client and settings it is used with.
#[derive(Debug, Clone, Copy)]
pub struct Records<'a> {
    client: &'a aws_sdk_dynamodb::Client,
    store: &'a RecordStore,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// `started_at` as stored: fixed-width, so text order is time order.
pub fn sort_key(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl<'a> Records<'a> {
    /// The table `store` names, through `client`.
    pub fn new(client: &'a aws_sdk_dynamodb::Client, store: &'a RecordStore) -> Self {
        Self { client, store }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.store.table
    }

    fn expires_at(&self, rec: &Record) -> Option<i64> {
        rec.state.ended_at().map(|at| {
            (at + chrono::Duration::days(i64::from(self.store.retention_days))).timestamp()
        })
    }

    /// Creates the record; [`Created::AlreadyExists`] when its id has one (nothing written).
    /// `json` is the record's encoding ([`Record::encode`], checked for size by the caller).
    pub async fn create(&self, rec: &Record, json: String) -> Result<Created, AwsError> {
        let mut item = HashMap::from([
            ("id".to_owned(), s(&rec.id)),
            ("record".to_owned(), s(json)),
            ("state".to_owned(), s(rec.state.name())),
            ("kind".to_owned(), s(KIND)),
            ("started_at".to_owned(), s(sort_key(rec.started_at))),
            ("experiment".to_owned(), s(&rec.experiment)),
        ]);
        match self.expires_at(rec) {
            None => {
                item.insert("open".to_owned(), s("open"));
            }
            Some(e) => {
                item.insert("expires_at".to_owned(), AttributeValue::N(e.to_string()));
            }
        }
        match self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await
        {
            Ok(_) => Ok(Created::New),
            Err(e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => Ok(Created::AlreadyExists),
                e => Err(AwsError::new("PutItem", e)),
            },
        }
    }

    /// Replaces the record with `rec` if its stored state is still `expected`: `false` (nothing
    /// written) when another writer changed the state first. The `open` index attribute and the
    /// TTL follow `rec`'s state.
    pub async fn update(
        &self,
        rec: &Record,
        json: String,
        expected: &State,
    ) -> Result<bool, AwsError> {
        self.update_if(rec, json, expected, None).await
    }

    /// [`Records::update`], and only if the stored record is still exactly `before` (as read):
    /// of two runs making the same change to an open record (a restore), one records it.
    pub async fn update_unchanged(
        &self,
        rec: &Record,
        json: String,
        before: &Record,
    ) -> Result<bool, AwsError> {
        self.update_if(rec, json, &before.state, Some(before.json()))
            .await
    }

    async fn update_if(
        &self,
        rec: &Record,
        json: String,
        expected: &State,
        before: Option<String>,
    ) -> Result<bool, AwsError> {
        let mut req = self
            .client
            .update_item()
            .table_name(self.table())
            .key("id", s(&rec.id));
        req = match before {
            None => req.condition_expression("#s = :expected"),
            Some(b) => req
                .condition_expression("#s = :expected AND #r = :before")
                .expression_attribute_values(":before", s(b)),
        };
        let mut req = req
            .expression_attribute_names("#s", "state")
            .expression_attribute_names("#r", "record")
            .expression_attribute_names("#o", "open")
            .expression_attribute_values(":expected", s(expected.name()))
            .expression_attribute_values(":r", s(json))
            .expression_attribute_values(":s", s(rec.state.name()));
        req = match self.expires_at(rec) {
            None => req
                .update_expression("SET #r = :r, #s = :s, #o = :o REMOVE expires_at")
                .expression_attribute_values(":o", s("open")),
            Some(e) => req
                .update_expression("SET #r = :r, #s = :s, expires_at = :e REMOVE #o")
                .expression_attribute_values(":e", AttributeValue::N(e.to_string())),
        };
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(false),
                e => Err(AwsError::new("UpdateItem", e)),
            },
        }
    }

    /// Every open record, oldest first: one `Query` of the sparse open index (more only past
    /// 1 MB of open records).
    pub async fn open(&self) -> Result<Page, AwsError> {
        let mut pages = self
            .client
            .query()
            .table_name(self.table())
            .index_name(OPEN_INDEX)
            .key_condition_expression("#o = :o")
            .expression_attribute_names("#o", "open")
            .expression_attribute_values(":o", s("open"))
            .into_paginator()
            .send();
        let mut out = Page::default();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::new("Query", e))?;
            parse_items(page.items(), &mut out);
        }
        Ok(out)
    }

    /// The newest `limit` records, open ones only or closed ones only, paging through the
    /// history index (newest first) only as far as needed.
    pub async fn newest(&self, closed: bool, limit: usize) -> Result<Page, AwsError> {
        let mut out = Page::default();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        let (index, key, value) = if closed {
            (HISTORY_INDEX, "kind", KIND)
        } else {
            (OPEN_INDEX, "open", "open")
        };
        loop {
            let mut req = self
                .client
                .query()
                .table_name(self.table())
                .index_name(index)
                .key_condition_expression("#k = :k")
                .expression_attribute_names("#k", key)
                .expression_attribute_values(":k", s(value))
                .scan_index_forward(false)
                .limit(i32::try_from(limit.clamp(1, 100)).unwrap_or(100))
                .set_exclusive_start_key(start.take());
            if closed {
                req = req
                    .filter_expression("#s <> :open")
                    .expression_attribute_names("#s", "state")
                    .expression_attribute_values(":open", s("open"));
            }
            let page = req.send().await.map_err(|e| AwsError::new("Query", e))?;
            parse_items(page.items(), &mut out);
            start = page.last_evaluated_key;
            if out.records.len() + out.malformed.len() >= limit || start.is_none() {
                break;
            }
        }
        out.more = start.is_some() || out.records.len() > limit;
        out.records.truncate(limit);
        Ok(out)
    }

    /// The newest `n` closed records of `experiment` that started before `before`, newest
    /// first, through the experiment index: at most [`MAX_PREVIOUS_PAGES`] `Query` calls
    /// (`more` says older closed records may exist).
    pub async fn previous(
        &self,
        experiment: &str,
        before: DateTime<Utc>,
        n: usize,
    ) -> Result<Page, AwsError> {
        let mut out = Page::default();
        if n == 0 {
            return Ok(out);
        }
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        for _ in 0..MAX_PREVIOUS_PAGES {
            let page = self
                .client
                .query()
                .table_name(self.table())
                .index_name(EXPERIMENT_INDEX)
                .key_condition_expression("#e = :e AND #t < :t")
                .filter_expression("#s = :closed")
                .expression_attribute_names("#e", "experiment")
                .expression_attribute_names("#t", "started_at")
                .expression_attribute_names("#s", "state")
                .expression_attribute_values(":e", s(experiment))
                .expression_attribute_values(":t", s(sort_key(before)))
                .expression_attribute_values(":closed", s("closed"))
                .scan_index_forward(false)
                .limit(i32::try_from((n * 2).clamp(4, 100)).unwrap_or(100))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsError::new("Query", e))?;
            parse_items(page.items(), &mut out);
            start = page.last_evaluated_key;
            if out.records.len() >= n || start.is_none() {
                break;
            }
        }
        out.more = start.is_some() || out.records.len() > n;
        out.records.truncate(n);
        Ok(out)
    }

    /// Every record (open, closed or aborted) that started at or after `t`, newest first,
    /// through the history index.
    pub async fn since(&self, t: DateTime<Utc>) -> Result<Page, AwsError> {
        let mut pages = self
            .client
            .query()
            .table_name(self.table())
            .index_name(HISTORY_INDEX)
            .key_condition_expression("#k = :k AND #t >= :t")
            .expression_attribute_names("#k", "kind")
            .expression_attribute_names("#t", "started_at")
            .expression_attribute_values(":k", s(KIND))
            .expression_attribute_values(":t", s(sort_key(t)))
            .scan_index_forward(false)
            .into_paginator()
            .send();
        let mut out = Page::default();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::new("Query", e))?;
            parse_items(page.items(), &mut out);
        }
        Ok(out)
    }

    /// One record by id; `None` when there is none.
    pub async fn get(&self, id: &str) -> Result<Option<Result<Record, Malformed>>, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table())
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::new("GetItem", e))?;
        Ok(out.item.map(|item| parse_item(&item)))
    }
}

fn parse_items(items: &[HashMap<String, AttributeValue>], out: &mut Page) {
    for item in items {
        match parse_item(item) {
            Ok(r) => out.records.push(r),
            Err(m) => out.malformed.push(m),
        }
    }
}

fn parse_item(item: &HashMap<String, AttributeValue>) -> Result<Record, Malformed> {
    // Indexing through `HashMap::get` by path: a method call `.get(` here would read, to the
    // IAM check, as `Records::get` (GetItem), which the callers of `parse_item` never make.
    let id = match HashMap::get(item, "id") {
        Some(AttributeValue::S(id)) => id.clone(),
        _ => "(no id)".to_owned(),
    };
    let text = match HashMap::get(item, "record") {
        Some(AttributeValue::S(t)) => t,
        _ => {
            return Err(Malformed {
                id,
                reason: "record: missing or not a string".to_owned(),
            })
        }
    };
    Record::parse(text).map_err(|reason| Malformed { id, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_sort_as_time() {
        let a = DateTime::parse_from_rfc3339("2026-11-23T09:59:59.999Z").unwrap();
        let b = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z").unwrap();
        let (a, b) = (sort_key(a.into()), sort_key(b.into()));
        assert_eq!(b, "2026-11-23T10:00:00.000Z");
        assert!(a < b);
    }

    #[test]
    fn items_without_a_record_are_malformed_by_id() {
        let item = HashMap::from([("id".to_owned(), s("e1"))]);
        let m = parse_item(&item).unwrap_err();
        assert_eq!(m.id, "e1");
        assert!(m.reason.starts_with("record:"));
        let item = HashMap::from([("id".to_owned(), s("e2")), ("record".to_owned(), s("{"))]);
        assert!(parse_item(&item)
            .unwrap_err()
            .reason
            .starts_with("not JSON"));
    }
}

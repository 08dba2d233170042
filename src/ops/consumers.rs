//! Streaming consumers (`consumer/consumer-<id>`), as Java's `ConsumerManager` manages them.
//!
//! A consumer file holds `{"nextSnapshot": N}`: the next snapshot a streaming reader with that
//! id will read. Snapshot and changelog expiry never expire `N` or later, so a consumer whose
//! job is gone pins the table forever (Paimon #3700, #5819) unless it is removed:
//!
//! - [`list`]: every consumer with its next snapshot and file time (Java `consumers()`).
//! - [`reset`]: Java's `reset_consumer` procedure. With a snapshot id, the snapshot must exist
//!   (Java reads it first and fails otherwise), then the file is overwritten — a missing
//!   consumer is created. Without one, the consumer is deleted (quietly if it is missing).
//! - [`clear`]: Java's `clear_consumers`: every consumer whose id fully matches `including`
//!   (default `.*`) and does not fully match `excluding` is deleted.
//! - [`expire`]: Java's `ConsumerManager.expire(now - consumer.expiration-time)`, which Java's
//!   commit runs before snapshot expiry: consumers whose file was last modified strictly
//!   before the cutoff are deleted.

use bytes::Bytes;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::file_name::PaimonFile;
use crate::format::ids::SnapshotId;
use crate::table::layout::CONSUMER_DIR;
use crate::table::Table;

/// One consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerInfo {
    /// The consumer id (the file name after `consumer-`).
    pub id: String,
    /// `nextSnapshot`: the first snapshot it has not read.
    pub next_snapshot: i64,
    /// The file's modification time, epoch milliseconds (what consumer expiry compares).
    pub modified_millis: i64,
    /// The file, relative to the table root.
    pub path: String,
}

/// The consumers of a table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumersReport {
    /// By id.
    pub consumers: Vec<ConsumerInfo>,
}

/// What a command that deletes consumers did (or would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumersDeleted {
    /// Nothing was changed.
    pub dry_run: bool,
    /// The consumers deleted (or, on a dry run, that would be).
    pub deleted: Vec<ConsumerInfo>,
    /// The consumers kept.
    pub kept: Vec<ConsumerInfo>,
    /// The cutoff (epoch ms) of an expiry: files modified before it are deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cutoff_millis: Option<i64>,
    /// Deletions that failed, with the store's error.
    pub failed: Vec<crate::error::FailedDeletion>,
}

/// What `reset-consumer` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResetReport {
    /// The consumer id.
    pub id: String,
    /// The consumer's next snapshot before, if it existed.
    pub previous: Option<i64>,
    /// The next snapshot written, or `None` when the consumer was deleted.
    pub next_snapshot: Option<i64>,
}

/// The key of consumer `id`.
pub fn consumer_key(id: &str) -> String {
    format!("{CONSUMER_DIR}/consumer-{id}")
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.contains('/') || id.contains('\\') || id == "." || id == ".." {
        return Err(Error::InvalidArgument(format!(
            "consumer id {id:?} is not a file name (it becomes {CONSUMER_DIR}/consumer-<id>)"
        )));
    }
    Ok(())
}

fn decode(key: &str, bytes: &[u8]) -> Result<i64> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Error::corrupt(key, e))?;
    v.get("nextSnapshot")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| Error::corrupt(key, "missing 'nextSnapshot' (a number)"))
}

/// Every consumer, by id. A consumer file that vanished while listing is skipped (Java's
/// `consumers()` does the same); an unreadable one is an error naming the file.
pub async fn list(table: &Table) -> Result<ConsumersReport> {
    let (files, _) = table.store().list_dir(CONSUMER_DIR).await?;
    let mut out = Vec::new();
    for f in files {
        let name = f.key.rsplit('/').next().unwrap_or(&f.key);
        let PaimonFile::Consumer(id) = PaimonFile::parse(name) else {
            continue;
        };
        let Some(bytes) = table.store().get_opt(&f.key).await? else {
            continue;
        };
        out.push(ConsumerInfo {
            next_snapshot: decode(&f.key, &bytes)?,
            id,
            modified_millis: f.last_modified.timestamp_millis(),
            path: f.key.clone(),
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(ConsumersReport { consumers: out })
}

/// The smallest `nextSnapshot` of all consumers (Java `minNextSnapshot`).
pub async fn min_next_snapshot(table: &Table) -> Result<Option<i64>> {
    Ok(list(table)
        .await?
        .consumers
        .iter()
        .map(|c| c.next_snapshot)
        .min())
}

/// Java's `reset_consumer`: with `next`, the snapshot must exist, then the consumer file is
/// written (created if missing); without, the consumer is deleted (nothing if missing).
pub async fn reset(table: &Table, id: &str, next: Option<i64>) -> Result<ResetReport> {
    check_id(id)?;
    let key = consumer_key(id);
    let previous = match table.store().get_opt(&key).await? {
        Some(b) => Some(decode(&key, &b)?),
        None => None,
    };
    match next {
        Some(n) => {
            if table.try_load_snapshot(SnapshotId(n)).await?.is_none() {
                let range = table.snapshot_range().await?;
                let available = match (range.earliest(), range.latest()) {
                    (Some(e), Some(l)) => format!("retained snapshots are {e}..={l}"),
                    _ => "the table has no snapshots".to_string(),
                };
                return Err(Error::SnapshotNotFound { id: n, available });
            }
            let body = crate::format::jackson::to_pretty_string(&serde_json::json!({
                "nextSnapshot": n
            }));
            table.store().put_overwrite(&key, Bytes::from(body)).await?;
        }
        None => {
            for (_, r) in table.store().delete_many(std::slice::from_ref(&key)).await {
                r?;
            }
        }
    }
    Ok(ResetReport {
        id: id.to_string(),
        previous,
        next_snapshot: next,
    })
}

/// A Java `Pattern.matcher(s).matches()`: the whole id must match.
fn full_match(pattern: &str, flag: &str) -> Result<regex::Regex> {
    regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
        Error::InvalidArgument(format!(
            "{flag} {pattern:?} is not a regular expression this tool understands ({e})"
        ))
    })
}

/// Java's `clear_consumers`: delete every consumer whose id fully matches `including` (blank:
/// every consumer) and does not fully match `excluding` (blank: none excluded).
pub async fn clear(
    table: &Table,
    including: Option<&str>,
    excluding: Option<&str>,
    dry_run: bool,
) -> Result<ConsumersDeleted> {
    let blank = |s: &Option<&str>| s.is_none_or(|s| s.trim().is_empty());
    let inc = if blank(&including) {
        None
    } else {
        Some(full_match(including.unwrap_or_default(), "--including")?)
    };
    let exc = if blank(&excluding) {
        None
    } else {
        Some(full_match(excluding.unwrap_or_default(), "--excluding")?)
    };
    let all = list(table).await?.consumers;
    let (deleted, kept): (Vec<_>, Vec<_>) = all.into_iter().partition(|c| {
        inc.as_ref().is_none_or(|r| r.is_match(&c.id))
            && !exc.as_ref().is_some_and(|r| r.is_match(&c.id))
    });
    delete(table, deleted, kept, None, dry_run).await
}

/// Java's `ConsumerManager.expire(cutoff)`: delete consumers whose file was last modified
/// strictly before `cutoff_millis`.
pub async fn expire(table: &Table, cutoff_millis: i64, dry_run: bool) -> Result<ConsumersDeleted> {
    let all = list(table).await?.consumers;
    let (deleted, kept): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|c| c.modified_millis < cutoff_millis);
    delete(table, deleted, kept, Some(cutoff_millis), dry_run).await
}

/// `consumer.expiration-time` of a table's options, in ms (None: consumers never expire).
pub fn expiration_millis(options: &[(String, String)]) -> Result<Option<i64>> {
    match options
        .iter()
        .find(|(k, _)| k == "consumer.expiration-time")
    {
        None => Ok(None),
        Some((_, v)) => crate::format::duration::parse_duration(v)
            .map(|d| Some(d.as_millis() as i64))
            .map_err(|e| {
                Error::InvalidArgument(format!("table option consumer.expiration-time: {e}"))
            }),
    }
}

async fn delete(
    table: &Table,
    deleted: Vec<ConsumerInfo>,
    kept: Vec<ConsumerInfo>,
    cutoff_millis: Option<i64>,
    dry_run: bool,
) -> Result<ConsumersDeleted> {
    let mut failed = Vec::new();
    if !dry_run && !deleted.is_empty() {
        let keys: Vec<String> = deleted.iter().map(|c| c.path.clone()).collect();
        for (k, r) in table.store().delete_many(&keys).await {
            if let Err(e) = r {
                failed.push(crate::error::FailedDeletion::new(k, &e));
            }
        }
    }
    Ok(ConsumersDeleted {
        dry_run,
        deleted,
        kept,
        cutoff_millis,
        failed,
    })
}

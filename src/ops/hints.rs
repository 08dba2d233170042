//! Rewriting wrong `snapshot/EARLIEST` and `snapshot/LATEST` hints (paimon-format.md, "Hint
//! files"; Java `HintFileUtils`, `ExpireSnapshotsImpl.writeEarliestHint`,
//! `RollbackHelper.cleanSnapshots`).
//!
//! Readers here validate hints against a listing, so a wrong hint never misleads tagkeeper. It
//! does mislead Java: an `EARLIEST` naming an existing snapshot above the real earliest makes
//! Java's expiration start there, so the snapshots below it (and the files only they keep) are
//! never expired; a `LATEST` above the real latest is taken as the latest without a check. Java
//! rewrites the hints as it commits, expires and rolls back; the commands here that change the
//! snapshot set (expire-snapshots, maintain, rollback-to) do the same once their work is done,
//! from a fresh listing, so a wrong hint they ran into is left correct.

use bytes::Bytes;

use crate::format::hint::{encode_hint, parse_hint};
use crate::format::ids::SnapshotId;
use crate::table::layout::{earliest_hint_key, latest_hint_key};
use crate::table::Table;

/// Rewrite each hint that is present and does not name what the listing says (a wrong id, a
/// missing snapshot, or unreadable text). Absent hints stay absent: readers list then, and the
/// next commit or expiration writes them. Best effort, like Java's hint writes: the command's
/// own work is done, so a failure here is returned as a note, never as an error. Returns one
/// note per hint rewritten or that could not be.
pub async fn repair(table: &Table) -> Vec<String> {
    let range = match table.snapshot_range().await {
        Ok(r) => r,
        Err(e) => return vec![format!("snapshot hints not checked: {e}")],
    };
    let (Some(earliest), Some(latest)) = (range.earliest(), range.latest()) else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    for (key, want) in [(earliest_hint_key(), earliest), (latest_hint_key(), latest)] {
        if let Some(note) = rewrite_if_wrong(table, &key, want).await {
            notes.push(note);
        }
    }
    notes
}

async fn rewrite_if_wrong(table: &Table, key: &str, want: SnapshotId) -> Option<String> {
    let raw = match table.store().get_opt(key).await {
        Ok(raw) => raw?,
        Err(e) => return Some(format!("{key} not checked: {e}")),
    };
    let said = match parse_hint(&raw) {
        Some(h) if h == want => return None,
        Some(h) => h.to_string(),
        None => format!("{:?}", String::from_utf8_lossy(&raw)),
    };
    let written = table
        .store()
        .put_overwrite(key, Bytes::from(encode_hint(want)))
        .await;
    Some(match written {
        Ok(()) => format!("{key} said {said}, the listing says {want}: rewritten"),
        Err(e) => format!("{key} says {said}, the listing says {want}; rewriting it failed: {e}"),
    })
}

//! Time-travel targets: the latest snapshot, a snapshot id, a tag, or a point in time.

use crate::error::{Error, Result};
use crate::format::ids::{SnapshotId, TagName};
use crate::format::snapshot::Snapshot;
use crate::format::tag::Tag;

use super::Table;

/// Which version of a table to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSpec {
    /// The latest snapshot.
    Latest,
    /// A retained snapshot.
    Snapshot(SnapshotId),
    /// A tag (its snapshot may have expired).
    Tag(TagName),
    /// The latest snapshot committed at or before this time (epoch ms), like Paimon's
    /// `scan.timestamp-millis`. Tags do not count.
    Timestamp(i64),
}

/// A resolved version: the snapshot metadata to read, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedVersion {
    /// The snapshot (for a tag, the tag's copy of it).
    pub snapshot: Snapshot,
    /// The tag, when the version was named by one.
    pub tag: Option<(TagName, Tag)>,
}

impl ResolvedVersion {
    /// "snapshot 5" or "tag 'x' (snapshot 5)", for messages.
    pub fn describe(&self) -> String {
        match &self.tag {
            Some((name, _)) => format!("tag '{name}' (snapshot {})", self.snapshot.id),
            None => format!("snapshot {}", self.snapshot.id),
        }
    }
}

impl Table {
    /// Resolve a time-travel target.
    pub async fn resolve(&self, spec: &VersionSpec) -> Result<ResolvedVersion> {
        match spec {
            VersionSpec::Latest => {
                let range = self.snapshot_range().await?;
                let id = range.latest().ok_or_else(|| Error::NoSnapshots {
                    table: self.location().to_string(),
                })?;
                self.resolve_snapshot(id, &range.describe()).await
            }
            VersionSpec::Snapshot(id) => match self.try_load_snapshot(*id).await? {
                Some(snapshot) => Ok(ResolvedVersion {
                    snapshot,
                    tag: None,
                }),
                None => {
                    let range = self.snapshot_range().await?;
                    let mut available = range.describe();
                    let tagged: Vec<String> = self
                        .tags()
                        .await?
                        .into_iter()
                        .filter(|t| t.tag.snapshot.id == *id)
                        .map(|t| format!("'{}'", t.name))
                        .collect();
                    if !tagged.is_empty() {
                        available.push_str(&format!(
                            "; it is kept by tag {}: use --tag",
                            tagged.join(", ")
                        ));
                    }
                    Err(Error::SnapshotNotFound {
                        id: id.0,
                        available,
                    })
                }
            },
            VersionSpec::Tag(name) => {
                let tag = self.load_tag(name).await?;
                Ok(ResolvedVersion {
                    snapshot: tag.snapshot.clone(),
                    tag: Some((name.clone(), tag)),
                })
            }
            VersionSpec::Timestamp(millis) => self.resolve_time(*millis).await,
        }
    }

    /// A version named the way Paimon's `scan.version` does: a tag of that name if one exists,
    /// otherwise a snapshot id when the text is a number.
    pub async fn version_named(&self, text: &str) -> Result<VersionSpec> {
        if let Some(name) = TagName::from_listing(text) {
            if self.try_load_tag(&name).await?.is_some() {
                return Ok(VersionSpec::Tag(name));
            }
        }
        match text.parse::<i64>() {
            Ok(id) if text.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(VersionSpec::Snapshot(SnapshotId(id)))
            }
            _ => Err(Error::TagNotFound {
                name: text.to_string(),
            }),
        }
    }

    async fn resolve_snapshot(&self, id: SnapshotId, context: &str) -> Result<ResolvedVersion> {
        let snapshot =
            self.try_load_snapshot(id)
                .await?
                .ok_or_else(|| Error::SnapshotNotFound {
                    id: id.0,
                    available: format!("{context}; it vanished while being read"),
                })?;
        Ok(ResolvedVersion {
            snapshot,
            tag: None,
        })
    }

    /// Binary search over the retained snapshots: O(log n) reads.
    async fn resolve_time(&self, millis: i64) -> Result<ResolvedVersion> {
        let range = self.snapshot_range().await?;
        let ids = &range.ids;
        let no_snapshot = |detail: String| Error::NoSnapshotAtTime {
            timestamp_millis: millis,
            detail,
        };
        if ids.is_empty() {
            return Err(no_snapshot(format!(
                "nothing at or before {millis}: the table has no snapshots"
            )));
        }
        // Find the last index whose snapshot time is <= millis.
        let (mut lo, mut hi) = (0usize, ids.len());
        let mut found: Option<Snapshot> = None;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let snap = self
                .resolve_snapshot(ids[mid], &range.describe())
                .await?
                .snapshot;
            if snap.time_millis <= millis {
                lo = mid + 1;
                found = Some(snap);
            } else {
                hi = mid;
            }
        }
        match found {
            Some(snapshot) => {
                // `found` is the last probe that satisfied the bound, which is ids[lo - 1].
                if snapshot.id == ids[lo - 1] {
                    Ok(ResolvedVersion {
                        snapshot,
                        tag: None,
                    })
                } else {
                    self.resolve_snapshot(ids[lo - 1], &range.describe()).await
                }
            }
            None => {
                let first = self
                    .resolve_snapshot(ids[0], &range.describe())
                    .await?
                    .snapshot;
                Err(no_snapshot(format!(
                    "nothing committed at or before {millis}: the earliest retained snapshot {} was committed at {}",
                    first.id, first.time_millis
                )))
            }
        }
    }
}

//! Where each Paimon file lives, relative to the table root. The only place that turns ids and
//! names into keys (paimon-format.md §1).

use crate::format::ids::{SchemaId, SnapshotId, TagName};

/// `snapshot/`.
pub const SNAPSHOT_DIR: &str = "snapshot";
/// `tag/`.
pub const TAG_DIR: &str = "tag";
/// `schema/`.
pub const SCHEMA_DIR: &str = "schema";
/// `manifest/`: manifest lists, manifests and index manifests.
pub const MANIFEST_DIR: &str = "manifest";
/// `index/`: table index files.
pub const INDEX_DIR: &str = "index";
/// `statistics/`.
pub const STATISTICS_DIR: &str = "statistics";
/// `changelog/`: long-lived changelog metadata.
pub const CHANGELOG_DIR: &str = "changelog";
/// `consumer/`.
pub const CONSUMER_DIR: &str = "consumer";
/// `branch/`.
pub const BRANCH_DIR: &str = "branch";

/// The default branch's name.
pub const MAIN_BRANCH: &str = "main";

/// `branch/branch-<name>`: a branch's root relative to the table root.
pub fn branch_prefix(name: &str) -> String {
    format!("{BRANCH_DIR}/branch-{name}")
}

/// `snapshot/snapshot-<id>`.
pub fn snapshot_key(id: SnapshotId) -> String {
    format!("{SNAPSHOT_DIR}/snapshot-{}", id.0)
}

/// `snapshot/LATEST`.
pub fn latest_hint_key() -> String {
    format!("{SNAPSHOT_DIR}/LATEST")
}

/// `snapshot/EARLIEST`.
pub fn earliest_hint_key() -> String {
    format!("{SNAPSHOT_DIR}/EARLIEST")
}

/// `tag/tag-<name>`.
pub fn tag_key(name: &TagName) -> String {
    format!("{TAG_DIR}/tag-{}", name.as_str())
}

/// `schema/schema-<id>`.
pub fn schema_key(id: SchemaId) -> String {
    format!("{SCHEMA_DIR}/schema-{}", id.0)
}

/// `manifest/<name>` for manifest lists, manifests and index manifests.
pub fn manifest_key(name: &str) -> String {
    format!("{MANIFEST_DIR}/{name}")
}

/// `index/<name>`.
pub fn index_key(name: &str) -> String {
    format!("{INDEX_DIR}/{name}")
}

/// `statistics/<name>`.
pub fn statistics_key(name: &str) -> String {
    format!("{STATISTICS_DIR}/{name}")
}

/// The directory name of a bucket: `bucket-<n>`, or `bucket-postpone` for bucket -2.
pub fn bucket_dir_name(bucket: i32) -> String {
    if bucket == -2 {
        "bucket-postpone".to_string()
    } else {
        format!("bucket-{bucket}")
    }
}

/// `[<data dir>/][<partition path>/]bucket-<n>`.
pub fn bucket_dir(data_dir: Option<&str>, partition_path: &str, bucket: i32) -> String {
    let mut parts: Vec<&str> = Vec::with_capacity(3);
    if let Some(d) = data_dir.filter(|d| !d.is_empty()) {
        parts.push(d.trim_matches('/'));
    }
    if !partition_path.is_empty() {
        parts.push(partition_path);
    }
    let bucket = bucket_dir_name(bucket);
    parts.push(&bucket);
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(snapshot_key(SnapshotId(3)), "snapshot/snapshot-3");
        assert_eq!(bucket_dir(None, "", 0), "bucket-0");
        assert_eq!(
            bucket_dir(Some("data"), "dt=1/hr=2", -2),
            "data/dt=1/hr=2/bucket-postpone"
        );
        let tag = TagName::new("2024-01-01 10").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(tag_key(&tag), "tag/tag-2024-01-01 10");
    }
}

//! Writing manifests and manifest lists for one commit, and remembering what was written so a
//! lost race can remove it again.

use bytes::Bytes;

use crate::error::Result;
use crate::format::binary_row::{self, Datum};
use crate::format::manifest::{FileKind, ManifestEntry, ManifestFileMeta, SimpleStats};
use crate::format::manifest_write::{encode_manifest, encode_manifest_list};
use crate::format::types::DataType;
use crate::table::layout::manifest_key;
use crate::table::Table;
use crate::write::data_file::EMPTY_ROW;
use crate::write::stats::compare;

/// `manifest.target-file-size` default: 8 MiB.
pub const DEFAULT_MANIFEST_TARGET: u64 = 8 << 20;

/// Writes the manifest files of one commit.
#[derive(Debug)]
pub struct ManifestWriter {
    table: Table,
    partition_types: Vec<DataType>,
    target_size: u64,
    uuid: String,
    manifests: u64,
    lists: u64,
    /// Every file written, relative to the table root.
    written: Vec<String>,
}

impl ManifestWriter {
    /// A writer; names use one random UUID plus per-kind counters, like Java's path factory.
    pub fn new(table: Table, partition_types: Vec<DataType>, target_size: u64) -> Self {
        ManifestWriter {
            table,
            partition_types,
            target_size: target_size.max(1),
            uuid: uuid::Uuid::new_v4().to_string(),
            manifests: 0,
            lists: 0,
            written: Vec::new(),
        }
    }

    /// Files written so far.
    pub fn written(&self) -> &[String] {
        &self.written
    }

    /// Forget written files (after they were committed or removed).
    pub fn clear_written(&mut self) {
        self.written.clear();
    }

    /// Write entries as manifests rolled at the target size; no entries, no file.
    pub async fn write_manifests(
        &mut self,
        entries: &[ManifestEntry],
    ) -> Result<Vec<ManifestFileMeta>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let whole = encode_manifest(entries)?;
        let parts = (whole.len() as u64).div_ceil(self.target_size).max(1) as usize;
        let mut metas = Vec::with_capacity(parts);
        if parts == 1 {
            metas.push(self.put_manifest(entries, whole).await?);
        } else {
            let chunk = entries.len().div_ceil(parts);
            for slice in entries.chunks(chunk) {
                let bytes = encode_manifest(slice)?;
                metas.push(self.put_manifest(slice, bytes).await?);
            }
        }
        Ok(metas)
    }

    async fn put_manifest(
        &mut self,
        entries: &[ManifestEntry],
        bytes: Vec<u8>,
    ) -> Result<ManifestFileMeta> {
        let name = format!("manifest-{}-{}", self.uuid, self.manifests);
        self.manifests += 1;
        let size = bytes.len() as i64;
        let key = manifest_key(&name);
        self.table
            .store()
            .put_overwrite(&key, Bytes::from(bytes))
            .await?;
        self.written.push(key);
        Ok(self.meta_of(name, size, entries))
    }

    /// Write a manifest list; returns its name and size.
    pub async fn write_list(&mut self, metas: &[ManifestFileMeta]) -> Result<(String, i64)> {
        let name = format!("manifest-list-{}-{}", self.uuid, self.lists);
        self.lists += 1;
        let bytes = encode_manifest_list(metas)?;
        let size = bytes.len() as i64;
        let key = manifest_key(&name);
        self.table
            .store()
            .put_overwrite(&key, Bytes::from(bytes))
            .await?;
        self.written.push(key);
        Ok((name, size))
    }

    /// The manifest-list entry of a manifest (`ManifestAvroWriter.FileWriter.result`).
    fn meta_of(
        &self,
        file_name: String,
        file_size: i64,
        entries: &[ManifestEntry],
    ) -> ManifestFileMeta {
        let added = entries.iter().filter(|e| e.kind == FileKind::Add).count() as i64;
        let minmax = |f: fn(&ManifestEntry) -> i32| {
            let it = entries.iter().map(f);
            (it.clone().min(), it.max())
        };
        let (min_bucket, max_bucket) = minmax(|e| e.bucket);
        let (min_level, max_level) = minmax(|e| e.file.level);
        ManifestFileMeta {
            file_name,
            file_size,
            num_added_files: added,
            num_deleted_files: entries.len() as i64 - added,
            partition_stats: partition_stats(entries, &self.partition_types),
            schema_id: entries.iter().map(|e| e.file.schema_id).max().unwrap_or(0),
            min_bucket,
            max_bucket,
            min_level,
            max_level,
            min_row_id: None,
            max_row_id: None,
            extra_files: Vec::new(),
        }
    }
}

/// Full (untruncated) min, max and null count of the entries' partitions.
pub fn partition_stats(entries: &[ManifestEntry], types: &[DataType]) -> SimpleStats {
    if types.is_empty() {
        return SimpleStats {
            min_values: EMPTY_ROW.to_vec(),
            max_values: EMPTY_ROW.to_vec(),
            null_counts: Some(Vec::new()),
        };
    }
    let n = types.len();
    let mut mins: Vec<Datum> = vec![Datum::Null; n];
    let mut maxs: Vec<Datum> = vec![Datum::Null; n];
    let mut nulls = vec![0i64; n];
    let mut seen = std::collections::HashSet::new();
    for e in entries {
        if !seen.insert(e.partition.as_slice()) {
            continue;
        }
        let Ok(values) = binary_row::decode(&e.partition, types) else {
            continue;
        };
        for (i, v) in values.into_iter().enumerate() {
            if v == Datum::Null {
                nulls[i] += 1;
                continue;
            }
            if mins[i] == Datum::Null || compare(&v, &mins[i]) == Some(std::cmp::Ordering::Less) {
                mins[i] = v.clone();
            }
            if maxs[i] == Datum::Null || compare(&v, &maxs[i]) == Some(std::cmp::Ordering::Greater)
            {
                maxs[i] = v;
            }
        }
    }
    let nullable: Vec<DataType> = types
        .iter()
        .map(|t| DataType {
            nullable: true,
            ..t.clone()
        })
        .collect();
    let enc = |v: &[Datum]| binary_row::encode(v, &nullable).unwrap_or_else(|_| EMPTY_ROW.to_vec());
    SimpleStats {
        min_values: enc(&mins),
        max_values: enc(&maxs),
        null_counts: Some(nulls.into_iter().map(Some).collect()),
    }
}

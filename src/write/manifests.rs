//! Writing manifests and manifest lists for one commit, and remembering what was written so a
//! lost race can remove it again.

use bytes::Bytes;

use crate::error::Result;
use crate::format::binary_row::{self, Datum};
use crate::format::manifest::{FileKind, ManifestEntry, ManifestFileMeta, SimpleStats};
use crate::format::manifest_write::{encode_manifest, encode_manifest_list};
use crate::format::ocf;
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
    /// The table's partition types.
    pub fn partition_types(&self) -> &[DataType] {
        &self.partition_types
    }

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
        let (name, size) = self.put_new_manifest(bytes).await?;
        Ok(self.meta_of(name, size, entries))
    }

    /// Store a new manifest under the next `manifest-<uuid>-<n>` name.
    async fn put_new_manifest(&mut self, bytes: Vec<u8>) -> Result<(String, i64)> {
        let name = format!("manifest-{}-{}", self.uuid, self.manifests);
        self.manifests += 1;
        self.put(name, bytes).await
    }

    /// Store a uniquely named file in `manifest/` (a plain put: the name is never reused) and
    /// remember it, so that a lost race can remove it again.
    async fn put(&mut self, name: String, bytes: Vec<u8>) -> Result<(String, i64)> {
        let size = bytes.len() as i64;
        let key = manifest_key(&name);
        self.table
            .root_store()
            .put_overwrite(&key, Bytes::from(bytes))
            .await?;
        self.written.push(key);
        Ok((name, size))
    }

    /// Write one manifest holding every entry of `sources` in order (they hold only ADD
    /// entries, so merging them is concatenation). Blocks of sources written with this
    /// writer's exact schema and codec are copied without decoding, as Java's block merger
    /// does; other sources are decoded and re-encoded.
    pub async fn write_concatenated(
        &mut self,
        sources: &[(ManifestFileMeta, Bytes)],
    ) -> Result<ManifestFileMeta> {
        let empty = encode_manifest(&[])?;
        let ours = ocf::parse(&empty)
            .map_err(|e| crate::Error::corrupt("(built-in manifest header)", e))?;
        // Sources in our exact format are used as they are; others are re-encoded first.
        let mut buffers: Vec<std::borrow::Cow<'_, [u8]>> = Vec::with_capacity(sources.len());
        for (meta, bytes) in sources {
            let key = manifest_key(&meta.file_name);
            let parsed = ocf::parse(bytes).map_err(|e| crate::Error::corrupt(&key, e))?;
            if parsed.schema == ours.schema && parsed.codec == ours.codec {
                buffers.push(std::borrow::Cow::Borrowed(bytes.as_ref()));
            } else {
                let entries = crate::format::manifest::decode_manifest(bytes, &key)?;
                buffers.push(std::borrow::Cow::Owned(encode_manifest(&entries)?));
            }
        }
        let mut blocks: Vec<(i64, &[u8])> = Vec::new();
        for (buffer, (meta, _)) in buffers.iter().zip(sources) {
            let parsed = ocf::parse(buffer)
                .map_err(|e| crate::Error::corrupt(manifest_key(&meta.file_name), e))?;
            blocks.extend(parsed.blocks);
        }
        let joined = ocf::assemble(ours.header, &ours.sync, blocks);
        let (name, size) = self.put_new_manifest(joined).await?;
        let metas: Vec<&ManifestFileMeta> = sources.iter().map(|(m, _)| m).collect();
        Ok(self.combine_metas(name, size, &metas))
    }

    /// The list entry of a concatenation, from its sources' entries.
    fn combine_metas(
        &self,
        file_name: String,
        file_size: i64,
        metas: &[&ManifestFileMeta],
    ) -> ManifestFileMeta {
        let all = |f: fn(&ManifestFileMeta) -> Option<i32>| {
            metas.iter().map(|m| f(m)).collect::<Option<Vec<i32>>>()
        };
        let lo = |f: fn(&ManifestFileMeta) -> Option<i32>| all(f).and_then(|v| v.into_iter().min());
        let hi = |f: fn(&ManifestFileMeta) -> Option<i32>| all(f).and_then(|v| v.into_iter().max());
        ManifestFileMeta {
            file_name,
            file_size,
            num_added_files: metas.iter().map(|m| m.num_added_files).sum(),
            num_deleted_files: metas.iter().map(|m| m.num_deleted_files).sum(),
            partition_stats: combine_partition_stats(metas, &self.partition_types),
            schema_id: metas.iter().map(|m| m.schema_id).max().unwrap_or(0),
            min_bucket: lo(|m| m.min_bucket),
            max_bucket: hi(|m| m.max_bucket),
            min_level: lo(|m| m.min_level),
            max_level: hi(|m| m.max_level),
            min_row_id: None,
            max_row_id: None,
            extra_files: Vec::new(),
        }
    }

    /// Write a manifest list; returns its name and size.
    pub async fn write_list(&mut self, metas: &[ManifestFileMeta]) -> Result<(String, i64)> {
        let name = format!("manifest-list-{}-{}", self.uuid, self.lists);
        self.lists += 1;
        let bytes = encode_manifest_list(metas)?;
        self.put(name, bytes).await
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

/// Partition stats of a concatenation: the widest range of its sources.
fn combine_partition_stats(metas: &[&ManifestFileMeta], types: &[DataType]) -> SimpleStats {
    if types.is_empty() {
        return partition_stats(&[], types);
    }
    let nullable = DataType::all_nullable(types);
    let n = types.len();
    let mut mins: Vec<Datum> = vec![Datum::Null; n];
    let mut maxs: Vec<Datum> = vec![Datum::Null; n];
    let mut nulls = vec![0i64; n];
    for m in metas {
        let (Ok(lo), Ok(hi)) = (
            binary_row::decode(&m.partition_stats.min_values, &nullable),
            binary_row::decode(&m.partition_stats.max_values, &nullable),
        ) else {
            continue;
        };
        for i in 0..n {
            if lo[i] != Datum::Null
                && (mins[i] == Datum::Null
                    || compare(&lo[i], &mins[i]) == Some(std::cmp::Ordering::Less))
            {
                mins[i] = lo[i].clone();
            }
            if hi[i] != Datum::Null
                && (maxs[i] == Datum::Null
                    || compare(&hi[i], &maxs[i]) == Some(std::cmp::Ordering::Greater))
            {
                maxs[i] = hi[i].clone();
            }
        }
        if let Some(counts) = &m.partition_stats.null_counts {
            for (i, c) in counts.iter().enumerate().take(n) {
                nulls[i] += c.unwrap_or(0);
            }
        }
    }
    let enc = |v: &[Datum]| binary_row::encode(v, &nullable).unwrap_or_else(|_| EMPTY_ROW.to_vec());
    SimpleStats {
        min_values: enc(&mins),
        max_values: enc(&maxs),
        null_counts: Some(nulls.into_iter().map(Some).collect()),
    }
}

/// Full (untruncated) min, max and null count of the entries' partitions.
pub fn partition_stats(entries: &[ManifestEntry], types: &[DataType]) -> SimpleStats {
    if types.is_empty() {
        return SimpleStats::empty();
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
    let nullable = DataType::all_nullable(types);
    let enc = |v: &[Datum]| binary_row::encode(v, &nullable).unwrap_or_else(|_| EMPTY_ROW.to_vec());
    SimpleStats {
        min_values: enc(&mins),
        max_values: enc(&maxs),
        null_counts: Some(nulls.into_iter().map(Some).collect()),
    }
}

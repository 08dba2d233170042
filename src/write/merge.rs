//! Manifest merging as Java Paimon does it (`ManifestFileMerger`): small manifests are merged
//! into target-size ones (minor merge), and when manifests with DELETE entries or small
//! manifests add up past a threshold, every DELETE is applied and dropped (full compaction).
//! Without merging, a table written by many small commits would carry one manifest per commit
//! forever. Merging keeps each entry's recorded commit snapshot.

use std::collections::HashSet;

use crate::error::Result;
use crate::format::manifest::{FileKind, ManifestEntry, ManifestFileMeta};
use crate::reach::{merge_entries, EntryIdentity};
use crate::table::Table;
use crate::write::manifests::{ManifestWriter, DEFAULT_MANIFEST_TARGET};

/// Merge settings, from table options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeOptions {
    /// `manifest.target-file-size` (8 MiB).
    pub target_size: u64,
    /// `manifest.merge-min-count` (30).
    pub min_count: usize,
    /// `manifest.full-compaction-threshold-size` (16 MiB).
    pub full_compaction_threshold: u64,
}

impl Default for MergeOptions {
    fn default() -> Self {
        MergeOptions {
            target_size: DEFAULT_MANIFEST_TARGET,
            min_count: 30,
            full_compaction_threshold: 16 << 20,
        }
    }
}

impl MergeOptions {
    /// Read the options of a table, falling back to Paimon's defaults.
    pub fn from_options(options: &[(String, String)]) -> Result<Self> {
        let get = |k: &str| {
            options
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let d = MergeOptions::default();
        let size = |k: &str, default: u64| -> Result<u64> {
            get(k).map_or(Ok(default), |v| {
                parse_memory_size(v).map_err(|e| {
                    crate::Error::InvalidArgument(format!("table option {k} = {v:?}: {e}"))
                })
            })
        };
        Ok(MergeOptions {
            target_size: size("manifest.target-file-size", d.target_size)?,
            min_count: match get("manifest.merge-min-count") {
                None => d.min_count,
                Some(v) => v.trim().parse().map_err(|_| {
                    crate::Error::InvalidArgument(format!(
                        "table option manifest.merge-min-count = {v:?}"
                    ))
                })?,
            },
            full_compaction_threshold: size(
                "manifest.full-compaction-threshold-size",
                d.full_compaction_threshold,
            )?,
        })
    }
}

/// Paimon's `MemorySize.parse`: a number with an optional unit (b, k/kb, m/mb, g/gb, t/tb,
/// also kib/mib/…), case-insensitive, space allowed.
pub fn parse_memory_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("not a size: {text:?}"))?;
    let mult: u64 = match unit.trim() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kib" | "kibibytes" => 1 << 10,
        "m" | "mb" | "mib" | "mebibytes" => 1 << 20,
        "g" | "gb" | "gib" | "gibibytes" => 1 << 30,
        "t" | "tb" | "tib" | "tebibytes" => 1 << 40,
        other => return Err(format!("unknown size unit {other:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {text:?} overflows"))
}

async fn read_all(table: &Table, metas: &[ManifestFileMeta]) -> Result<Vec<Vec<ManifestEntry>>> {
    let futures: Vec<_> = metas
        .iter()
        .map(|m| table.manifest_of(m, "the manifest merge"))
        .collect();
    crate::table::ordered(futures).await
}

/// Merge the manifests of a new base manifest list.
pub async fn merge(
    table: &Table,
    writer: &mut ManifestWriter,
    input: Vec<ManifestFileMeta>,
    opts: &MergeOptions,
) -> Result<Vec<ManifestFileMeta>> {
    if let Some(full) = try_full_compaction(table, writer, &input, opts).await? {
        return Ok(full);
    }
    minor_merge(table, writer, input, opts).await
}

async fn minor_merge(
    table: &Table,
    writer: &mut ManifestWriter,
    input: Vec<ManifestFileMeta>,
    opts: &MergeOptions,
) -> Result<Vec<ManifestFileMeta>> {
    let mut result = Vec::new();
    let mut candidates: Vec<ManifestFileMeta> = Vec::new();
    let mut size = 0u64;
    for m in input {
        size += m.file_size.max(0) as u64;
        candidates.push(m);
        if size >= opts.target_size {
            merge_candidates(table, writer, std::mem::take(&mut candidates), &mut result).await?;
            size = 0;
        }
    }
    if candidates.len() >= opts.min_count {
        merge_candidates(table, writer, candidates, &mut result).await?;
    } else {
        result.extend(candidates);
    }
    Ok(result)
}

async fn merge_candidates(
    table: &Table,
    writer: &mut ManifestWriter,
    candidates: Vec<ManifestFileMeta>,
    result: &mut Vec<ManifestFileMeta>,
) -> Result<()> {
    if candidates.len() <= 1 {
        result.extend(candidates);
        return Ok(());
    }
    if candidates.iter().all(|m| m.num_deleted_files == 0) {
        // Only ADDs: merging is concatenation, and blocks can be copied undecoded.
        let futures: Vec<_> = candidates
            .iter()
            .map(|m| async move {
                let key = crate::table::layout::manifest_key(&m.file_name);
                let bytes = table.root_store().get_opt(&key).await?.ok_or_else(|| {
                    crate::Error::MissingFile {
                        path: key.clone(),
                        referenced_by: "the manifest merge".into(),
                    }
                })?;
                Ok::<_, crate::Error>((m.clone(), bytes))
            })
            .collect();
        let sources = crate::table::ordered(futures).await?;
        result.push(writer.write_concatenated(&sources).await?);
        return Ok(());
    }
    let entries = read_all(table, &candidates).await?.into_iter().flatten();
    let merged = merge_entries(entries);
    result.extend(writer.write_manifests(&merged).await?);
    Ok(())
}

async fn try_full_compaction(
    table: &Table,
    writer: &mut ManifestWriter,
    input: &[ManifestFileMeta],
    opts: &MergeOptions,
) -> Result<Option<Vec<ManifestFileMeta>>> {
    let must_change = |m: &ManifestFileMeta| {
        m.num_deleted_files > 0 || (m.file_size.max(0) as u64) < opts.target_size
    };
    let pressure: u64 = input
        .iter()
        .filter(|m| must_change(m))
        .map(|m| m.file_size.max(0) as u64)
        .sum();
    if pressure < opts.full_compaction_threshold {
        return Ok(None);
    }
    let with_deletes: Vec<ManifestFileMeta> = input
        .iter()
        .filter(|m| m.num_deleted_files > 0)
        .cloned()
        .collect();
    let mut deleted: HashSet<EntryIdentity> = HashSet::new();
    for entries in read_all(table, &with_deletes).await? {
        for e in entries.iter().filter(|e| e.kind == FileKind::Delete) {
            deleted.insert(EntryIdentity::of(e));
        }
    }
    // Manifests that need no change and cannot hold a deleted file stay as they are. We do not
    // evaluate partition ranges: any manifest may hold a deleted partition when deletes exist.
    let mut result = Vec::new();
    let mut todo = Vec::new();
    for m in input {
        if !must_change(m) && deleted.is_empty() {
            result.push(m.clone());
        } else {
            todo.push(m.clone());
        }
    }
    if todo.len() <= 1 {
        return Ok(None);
    }
    let mut survivors: Vec<ManifestEntry> = Vec::new();
    let contents = read_all(table, &todo).await?;
    for (m, entries) in todo.iter().zip(contents) {
        let touched = entries
            .iter()
            .any(|e| e.kind == FileKind::Add && deleted.contains(&EntryIdentity::of(e)));
        if must_change(m) || touched {
            survivors.extend(
                entries.into_iter().filter(|e| {
                    e.kind == FileKind::Add && !deleted.contains(&EntryIdentity::of(e))
                }),
            );
        } else {
            result.push(m.clone());
        }
    }
    result.extend(writer.write_manifests(&survivors).await?);
    Ok(Some(result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory_size("8 mb"), Ok(8 << 20));
        assert_eq!(parse_memory_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_memory_size("1024"), Ok(1024));
        assert_eq!(parse_memory_size("2 kb"), Ok(2048));
        assert!(parse_memory_size("lots").is_err());
        assert!(parse_memory_size("3 parsecs").is_err());
    }
}

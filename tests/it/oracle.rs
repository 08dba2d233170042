//! The oracle: an independent reference reader for tests. It shares no code with the library
//! (it decodes JSON and Avro itself, finds files by listing, and reads rows with the parquet
//! crate), so a bug in tagkeeper's reader cannot hide a bug in tagkeeper's writer or cleaner.
//!
//! For a table it computes every retained snapshot and every tag: the live data files, the row
//! count and an order-independent row checksum (the definition in testdata/README.md), and the
//! list of referenced files that are missing or unreadable: schema files, manifest lists
//! (base, delta and changelog), manifests, index manifests and index files, statistics files,
//! live data files and their extra files. Tables in another store (the in-memory one) are
//! copied to a directory first ([`observe_store`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use apache_avro::types::Value as Avro;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What one version holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub snapshot_id: i64,
    /// Data file names (unique in Paimon) with their bucket.
    pub files: BTreeSet<(i32, String)>,
    pub rows: u64,
    pub checksum: u64,
    /// Every file name the version needs to be read: schema, manifest lists, manifests, index
    /// manifest and files, statistics, changelog manifests and files, live data files and
    /// their extra files.
    pub needs: BTreeSet<String>,
}

/// The state of a table as the oracle sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// `snapshot-N` and `tag-NAME` (`branch-B/snapshot-N`, `branch-B/tag-NAME` for branches)
    /// → version.
    pub versions: BTreeMap<String, Version>,
    /// Referenced files that do not exist (schema files, manifest lists, manifests, index
    /// files, statistics files, data files and their extra files).
    pub missing: BTreeSet<String>,
    /// Versions and files that could not be decoded: metadata, and data files whose Parquet
    /// does not read.
    pub unreadable: BTreeSet<String>,
    /// Zero-length data files: the synthetic builder's placeholders (tables built without
    /// Parquet contents). They count no rows; [`State::assert_whole`] accepts them,
    /// [`State::assert_whole_parquet`] does not.
    pub placeholders: BTreeSet<String>,
    /// Every file name any version mentions: its manifest lists, manifests, index manifest and
    /// index files, statistics, and every file of every manifest entry (ADD or DELETE) with its
    /// extra files. What an orphan cleaner must keep.
    pub referenced: BTreeSet<String>,
    /// Long-lived changelogs (`changelog/changelog-N`, `branch-B/changelog-N`) → version.
    /// Java deletes a changelog's base and delta lists, index and statistics with its
    /// snapshot (`ChangelogDeletion`), so only its schema and changelog list are required:
    /// when its base and delta lists and all their manifests are still there, the data files
    /// live in them are needed too (a changelog of a table without a changelog producer is
    /// read from its delta), otherwise only the names of the lists that remain.
    pub changelogs: BTreeMap<String, Version>,
}

impl State {
    /// The versions, with only rows and checksums (what a reader would see).
    #[allow(dead_code)]
    pub fn contents(&self) -> BTreeMap<String, (i64, u64, u64)> {
        self.versions
            .iter()
            .map(|(k, v)| (k.clone(), (v.snapshot_id, v.rows, v.checksum)))
            .collect()
    }

    /// Panic unless every referenced file exists and all metadata and Parquet reads.
    pub fn assert_whole(&self, context: &str) {
        assert!(
            self.missing.is_empty() && self.unreadable.is_empty(),
            "{context}: missing {:?}, unreadable {:?}",
            self.missing,
            self.unreadable
        );
    }

    /// [`State::assert_whole`], and every data file is real Parquet (no placeholder): for
    /// tables written with contents, where an empty data file is damage.
    pub fn assert_whole_parquet(&self, context: &str) {
        self.assert_whole(context);
        assert!(
            self.placeholders.is_empty(),
            "{context}: empty data files {:?}",
            self.placeholders
        );
    }
}

fn list_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn field<'a>(rec: &'a Avro, name: &str) -> Option<&'a Avro> {
    let rec = match rec {
        Avro::Union(_, inner) => inner.as_ref(),
        other => other,
    };
    let Avro::Record(fields) = rec else {
        return None;
    };
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| match v {
            Avro::Union(_, inner) => inner.as_ref(),
            other => other,
        })
}

/// The records of an Avro container file; `None` when it does not decode. The apache-avro
/// reader panics on some malformed schemas (bad names): that is unreadable too.
fn avro_records(path: &Path) -> Option<Vec<Avro>> {
    let bytes = std::fs::read(path).ok()?;
    std::panic::catch_unwind(|| {
        let reader = apache_avro::Reader::new(&bytes[..]).ok()?;
        reader.collect::<Result<Vec<_>, _>>().ok()
    })
    .ok()
    .flatten()
}

/// One manifest entry: kind, partition, bucket, level, file name, extra files.
type Entry = (i32, Vec<u8>, i32, i32, String, Vec<String>);

/// Read the manifests a manifest list names into `entries`; `false` when something is missing
/// or does not decode (recorded in `state`).
fn read_list(
    table: &Path,
    list: &str,
    state: &mut State,
    needs: &mut BTreeSet<String>,
    entries: &mut Vec<Entry>,
) -> bool {
    state.referenced.insert(list.to_string());
    needs.insert(list.to_string());
    let list_path = table.join("manifest").join(list);
    if !list_path.is_file() {
        state.missing.insert(format!("manifest/{list}"));
        return false;
    }
    let Some(records) = avro_records(&list_path) else {
        state.unreadable.insert(format!("manifest/{list}"));
        return false;
    };
    let mut ok = true;
    for r in &records {
        let Some(Avro::String(m)) = field(r, "_FILE_NAME") else {
            ok = false;
            continue;
        };
        state.referenced.insert(m.clone());
        needs.insert(m.clone());
        let m_path = table.join("manifest").join(m);
        if !m_path.is_file() {
            state.missing.insert(format!("manifest/{m}"));
            ok = false;
            continue;
        }
        let Some(es) = avro_records(&m_path) else {
            state.unreadable.insert(format!("manifest/{m}"));
            ok = false;
            continue;
        };
        for e in &es {
            let file = field(e, "_FILE");
            let (
                Some(Avro::Int(kind)),
                Some(Avro::Bytes(part)),
                Some(Avro::Int(bucket)),
                Some(file),
            ) = (
                field(e, "_KIND"),
                field(e, "_PARTITION"),
                field(e, "_BUCKET"),
                file,
            )
            else {
                ok = false;
                continue;
            };
            let (Some(Avro::String(fname)), Some(Avro::Int(level))) =
                (field(file, "_FILE_NAME"), field(file, "_LEVEL"))
            else {
                ok = false;
                continue;
            };
            let mut extras = Vec::new();
            if let Some(Avro::Array(extra)) = field(file, "_EXTRA_FILES") {
                for x in extra {
                    if let Avro::String(x) = x {
                        state.referenced.insert(x.clone());
                        extras.push(x.clone());
                    }
                }
            }
            state.referenced.insert(fname.clone());
            entries.push((*kind, part.clone(), *bucket, *level, fname.clone(), extras));
        }
    }
    ok
}

/// Ordered merge: ADD inserts, DELETE removes the same (partition, bucket, level, name). The
/// live files with their bucket and extra files.
fn merge(entries: Vec<Entry>) -> Vec<(i32, String, Vec<String>)> {
    let mut live: Vec<Option<(i32, String, Vec<String>)>> = Vec::new();
    let mut at: HashMap<(Vec<u8>, i32, i32, String), usize> = HashMap::new();
    for (kind, part, bucket, level, fname, extras) in entries {
        let key = (part, bucket, level, fname.clone());
        if kind == 0 {
            at.insert(key, live.len());
            live.push(Some((bucket, fname, extras)));
        } else if let Some(i) = at.remove(&key) {
            live[i] = None;
        }
    }
    live.into_iter().flatten().collect()
}

/// The path of a file named `name` in a `bucket-N` directory, found by listing.
fn in_bucket<'a>(
    data_dirs: &'a HashMap<String, Vec<PathBuf>>,
    name: &str,
    bucket: i32,
) -> Option<&'a PathBuf> {
    let want = format!("bucket-{bucket}");
    data_dirs.get(name).and_then(|ps| {
        ps.iter().find(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .and_then(|d| d.to_str())
                == Some(want.as_str())
        })
    })
}

/// Observe a table on the local filesystem.
pub fn observe(table: &Path) -> State {
    let all = list_files(table);
    // File name → bucket directories holding it (data files are found by listing, not by
    // rendering partition paths: that keeps the oracle independent of the path factory).
    let mut data_dirs: HashMap<String, Vec<PathBuf>> = HashMap::new();
    for p in &all {
        if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
            data_dirs
                .entry(name.to_string())
                .or_default()
                .push(p.clone());
        }
    }
    let mut state = State {
        versions: BTreeMap::new(),
        missing: BTreeSet::new(),
        unreadable: BTreeSet::new(),
        placeholders: BTreeSet::new(),
        referenced: BTreeSet::new(),
        changelogs: BTreeMap::new(),
    };
    // Versions of main, then of every branch (`branch/branch-B/`, named `branch-B/snapshot-N`):
    // a branch has its own snapshots, tags and schemas, and main's manifests and data files.
    let mut roots: Vec<(String, PathBuf)> = vec![(String::new(), table.to_path_buf())];
    if let Ok(entries) = std::fs::read_dir(table.join("branch")) {
        let mut branches: Vec<(String, PathBuf)> = entries
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(n, p)| n.starts_with("branch-") && p.is_dir())
            .map(|(n, p)| (format!("{n}/"), p))
            .collect();
        branches.sort();
        roots.extend(branches);
    }
    let mut metas: Vec<(String, PathBuf, PathBuf)> = Vec::new();
    for (label, root) in &roots {
        for dir in ["snapshot", "tag", "changelog"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let ok = (dir != "tag"
                    && name
                        .strip_prefix(&format!("{dir}-"))
                        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())))
                    || (dir == "tag" && name.starts_with("tag-") && e.path().is_file());
                if ok {
                    metas.push((format!("{label}{name}"), e.path(), root.clone()));
                }
            }
        }
    }
    let mut checksum_cache: HashMap<PathBuf, Option<(u64, u64)>> = HashMap::new();
    for (name, path, schema_root) in metas {
        let changelog = name
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with("changelog-"));
        let Some(json) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        else {
            state.unreadable.insert(name);
            continue;
        };
        let id = json["id"].as_i64().unwrap_or(-1);
        let mut needs = BTreeSet::new();
        let mut entries: Vec<Entry> = Vec::new();
        let mut ok = true;
        match json["schemaId"].as_i64() {
            Some(schema) => {
                let file = format!("schema-{schema}");
                if !schema_root.join("schema").join(&file).is_file() {
                    state.missing.insert(format!("schema/{file}"));
                    ok = false;
                }
                needs.insert(file);
            }
            None => ok = false,
        }
        if let Some(st) = json["statistics"].as_str() {
            state.referenced.insert(st.to_string());
            needs.insert(st.to_string());
            if !changelog && !table.join("statistics").join(st).is_file() {
                state.missing.insert(format!("statistics/{st}"));
                ok = false;
            }
        }
        if let Some(cl) = json["changelogManifestList"].as_str() {
            // Changelog files are read by streaming readers of this version: every one the
            // list adds must exist.
            let mut changelog = Vec::new();
            ok &= read_list(table, cl, &mut state, &mut needs, &mut changelog);
            for (bucket, fname, extras) in merge(changelog) {
                needs.insert(fname.clone());
                if in_bucket(&data_dirs, &fname, bucket).is_none() {
                    state.missing.insert(fname);
                }
                for x in extras {
                    needs.insert(x.clone());
                    if in_bucket(&data_dirs, &x, bucket).is_none() {
                        state.missing.insert(x);
                    }
                }
            }
        }
        if changelog {
            // Optional: read into scratch, kept only when everything is there.
            let mut scratch = State {
                versions: BTreeMap::new(),
                missing: BTreeSet::new(),
                unreadable: BTreeSet::new(),
                placeholders: BTreeSet::new(),
                referenced: BTreeSet::new(),
                changelogs: BTreeMap::new(),
            };
            let (mut n, mut es) = (BTreeSet::new(), Vec::new());
            let mut whole = true;
            for list_key in ["baseManifestList", "deltaManifestList"] {
                if let Some(list) = json[list_key].as_str() {
                    needs.insert(list.to_string());
                    state.referenced.insert(list.to_string());
                    whole &= read_list(table, list, &mut scratch, &mut n, &mut es);
                }
            }
            if whole && scratch.missing.is_empty() && scratch.unreadable.is_empty() {
                state.referenced.extend(scratch.referenced);
                needs.extend(n);
                entries = es;
            }
        } else {
            for list_key in ["baseManifestList", "deltaManifestList"] {
                let Some(list) = json[list_key].as_str() else {
                    ok = false;
                    continue;
                };
                ok &= read_list(table, list, &mut state, &mut needs, &mut entries);
            }
        }
        if let Some(index) = json["indexManifest"].as_str() {
            state.referenced.insert(index.to_string());
            needs.insert(index.to_string());
            let p = table.join("manifest").join(index);
            match p.is_file().then(|| avro_records(&p)).flatten() {
                None if changelog => {}
                None if !p.is_file() => {
                    state.missing.insert(format!("manifest/{index}"));
                }
                None => {
                    state.unreadable.insert(format!("manifest/{index}"));
                }
                Some(records) => {
                    for r in &records {
                        if let Some(Avro::String(f)) = field(r, "_FILE_NAME") {
                            state.referenced.insert(f.clone());
                            needs.insert(f.clone());
                            if !changelog
                                && !table.join("index").join(f).is_file()
                                && !data_dirs.contains_key(f)
                            {
                                state.missing.insert(format!("index/{f}"));
                            }
                        }
                    }
                }
            }
        }
        let mut files: BTreeSet<(i32, String)> = BTreeSet::new();
        let (mut rows, mut checksum) = (0u64, 0u64);
        for (bucket, fname, extras) in merge(entries) {
            needs.insert(fname.clone());
            for x in extras {
                needs.insert(x.clone());
                // Extra files (file indexes) sit next to their data file.
                if in_bucket(&data_dirs, &x, bucket).is_none() {
                    state.missing.insert(x);
                }
            }
            match in_bucket(&data_dirs, &fname, bucket) {
                None => {
                    state.missing.insert(fname.clone());
                }
                Some(p) if p.metadata().is_ok_and(|m| m.len() == 0) => {
                    state.placeholders.insert(fname.clone());
                }
                Some(p) => {
                    let sum = *checksum_cache
                        .entry(p.clone())
                        .or_insert_with(|| try_file_checksum(p));
                    match sum {
                        Some((r, c)) => {
                            rows += r;
                            checksum = checksum.wrapping_add(c);
                        }
                        None => {
                            state.unreadable.insert(fname.clone());
                        }
                    }
                }
            }
            files.insert((bucket, fname));
        }
        if ok {
            let v = Version {
                snapshot_id: id,
                files,
                rows,
                checksum,
                needs,
            };
            if changelog {
                state.changelogs.insert(name, v);
            } else {
                state.versions.insert(name, v);
            }
        } else {
            state.unreadable.insert(name);
        }
    }
    state
}

/// Observe a table in any object store (the in-memory one): its objects under `root` are
/// copied to a temporary directory, which is then observed like a local table. Only
/// object_store is used, none of tagkeeper.
pub async fn observe_store(store: &dyn object_store::ObjectStore, root: &str) -> State {
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;
    let dir = tempfile::tempdir().unwrap();
    let prefix = object_store::path::Path::from(root);
    let listed: Vec<object_store::ObjectMeta> =
        store.list(Some(&prefix)).try_collect().await.unwrap();
    let root = root.trim_matches('/');
    for meta in listed {
        let key: &str = meta.location.as_ref();
        let rel = key
            .strip_prefix(root)
            .unwrap_or(key)
            .trim_start_matches('/');
        let dest = dir.path().join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        std::fs::write(dest, bytes).unwrap();
    }
    observe(dir.path())
}

/// Rows and checksum of one Parquet file (all rows, no primary-key merge). Panics when the
/// file does not read (for tests reading fixtures; [`observe`] reports it instead).
pub fn file_checksum(path: &Path) -> (u64, u64) {
    try_file_checksum(path).unwrap_or_else(|| panic!("{} is not readable Parquet", path.display()))
}

/// Rows and checksum of one Parquet file; `None` when it does not read to the end (the
/// parquet crate panics on some damaged files: that is unreadable too).
pub fn try_file_checksum(path: &Path) -> Option<(u64, u64)> {
    let bytes = bytes::Bytes::from(std::fs::read(path).ok()?);
    let batches = std::panic::catch_unwind(move || {
        let builder =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).ok()?;
        // A batch that fails to decode makes the file unreadable, not shorter.
        builder.build().ok()?.collect::<Result<Vec<_>, _>>().ok()
    })
    .ok()
    .flatten()?;
    let (mut rows, mut sum) = (0u64, 0u64);
    for batch in batches {
        for row in 0..batch.num_rows() {
            let rendered: Vec<String> = batch
                .columns()
                .iter()
                .map(|c| render(c.as_ref(), row))
                .collect();
            sum = sum.wrapping_add(row_hash(&rendered.join("\u{1f}")));
            rows += 1;
        }
    }
    Some((rows, sum))
}

pub fn row_hash(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

pub fn render(c: &dyn Array, i: usize) -> String {
    if c.is_null(i) {
        return "\\N".to_string();
    }
    match c.data_type() {
        DataType::Boolean => c.as_boolean().value(i).to_string(),
        DataType::Int8 => c.as_primitive::<Int8Type>().value(i).to_string(),
        DataType::Int16 => c.as_primitive::<Int16Type>().value(i).to_string(),
        DataType::Int32 => c.as_primitive::<Int32Type>().value(i).to_string(),
        DataType::Int64 => c.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Utf8 => c.as_string::<i32>().value(i).to_string(),
        DataType::LargeUtf8 => c.as_string::<i64>().value(i).to_string(),
        DataType::Date32 => {
            let days = c.as_primitive::<Date32Type>().value(i);
            (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
                + chrono::Duration::days(days.into()))
            .format("%Y-%m-%d")
            .to_string()
        }
        // Plain digits with the column's scale: Java's BigDecimal.toString and Python's
        // str(Decimal) for the decimals the fixtures hold.
        DataType::Decimal128(..) => c.as_primitive::<Decimal128Type>().value_as_string(i),
        DataType::Binary => c
            .as_binary::<i32>()
            .value(i)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        DataType::Timestamp(unit, _) => {
            // testdata/README.md: `YYYY-MM-DDTHH:MM:SS` plus `.ffffff` when microseconds ≠ 0
            // (an LTZ value as its UTC wall clock, as Java's harness renders it).
            let (v, per_second): (i64, i64) = match unit {
                TimeUnit::Second => (c.as_primitive::<TimestampSecondType>().value(i), 1),
                TimeUnit::Millisecond => {
                    (c.as_primitive::<TimestampMillisecondType>().value(i), 1_000)
                }
                TimeUnit::Microsecond => (
                    c.as_primitive::<TimestampMicrosecondType>().value(i),
                    1_000_000,
                ),
                TimeUnit::Nanosecond => (
                    c.as_primitive::<TimestampNanosecondType>().value(i),
                    1_000_000_000,
                ),
            };
            let (secs, frac) = (v.div_euclid(per_second), v.rem_euclid(per_second));
            let nanos = u32::try_from(frac * (1_000_000_000 / per_second)).unwrap();
            let t = chrono::DateTime::from_timestamp(secs, nanos)
                .unwrap()
                .naive_utc();
            let micros = nanos / 1_000;
            let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            if micros == 0 {
                base
            } else {
                format!("{base}.{micros:06}")
            }
        }
        other => panic!("oracle cannot render {other} (extend the checksum definition first)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::*;

    /// The oracle agrees with pypaimon on every version of the append-only fixtures (for
    /// primary-key tables it sums raw file rows, which pypaimon records as file_row_count).
    #[test]
    fn oracle_agrees_with_pypaimon() {
        for name in fixture_tables() {
            let expected = expected(&name);
            let state = observe(&fixture(&name));
            state.assert_whole(&name);
            let pk = !expected["primary_keys"].as_array().unwrap().is_empty();
            let mut seen = 0;
            for (kind, prefix, key) in [("snapshots", "snapshot-", "id"), ("tags", "tag-", "name")]
            {
                for v in expected[kind].as_array().unwrap() {
                    let label = match &v[key] {
                        Value::String(s) => format!("{prefix}{s}"),
                        other => format!("{prefix}{other}"),
                    };
                    let got = &state.versions[&label];
                    let files: BTreeSet<String> = v["files"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|f| {
                            f["path"]
                                .as_str()
                                .unwrap()
                                .rsplit('/')
                                .next()
                                .unwrap()
                                .to_string()
                        })
                        .collect();
                    let ours: BTreeSet<String> = got.files.iter().map(|(_, n)| n.clone()).collect();
                    assert_eq!(ours, files, "{name} {label}");
                    if pk {
                        assert_eq!(
                            got.rows,
                            v["file_row_count"].as_u64().unwrap(),
                            "{name} {label}"
                        );
                    } else if name != "schema_evolved" {
                        assert_eq!(got.rows, v["rows"].as_u64().unwrap(), "{name} {label}");
                        assert_eq!(
                            format!("{:016x}", got.checksum),
                            v["checksum"].as_str().unwrap(),
                            "{name} {label}"
                        );
                    }
                    seen += 1;
                }
            }
            assert_eq!(seen, state.versions.len(), "{name}");
        }
    }

    fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
        let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        edit(v.as_object_mut().unwrap());
        std::fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
    }

    #[test]
    fn an_unreadable_data_file_is_reported() {
        let (_d, t) = copy_table("append_many");
        let before = observe(&t);
        let (_, name) = before.versions["snapshot-12"]
            .files
            .first()
            .unwrap()
            .clone();
        let path = t.join("bucket-0").join(&name);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let state = observe(&t);
        assert!(state.unreadable.contains(&name), "{:?}", state.unreadable);
        assert!(state.missing.is_empty(), "{:?}", state.missing);
    }

    #[test]
    fn an_empty_data_file_is_a_placeholder_not_whole_parquet() {
        let (_d, t) = copy_table("append_many");
        let (_, name) = observe(&t).versions["snapshot-12"]
            .files
            .first()
            .unwrap()
            .clone();
        std::fs::write(t.join("bucket-0").join(&name), b"").unwrap();
        let state = observe(&t);
        state.assert_whole("an empty data file");
        assert_eq!(state.placeholders, BTreeSet::from([name]));
        let strict = std::panic::catch_unwind(|| state.assert_whole_parquet("strict"));
        assert!(strict.is_err());
    }

    #[test]
    fn a_missing_schema_file_is_reported() {
        let (_d, t) = copy_table("append_many");
        std::fs::remove_file(t.join("schema/schema-0")).unwrap();
        let state = observe(&t);
        assert_eq!(
            state.missing,
            BTreeSet::from(["schema/schema-0".to_string()])
        );
        // No version reads without its schema.
        assert!(state.versions.is_empty(), "{:?}", state.versions.keys());
    }

    #[test]
    fn statistics_and_changelog_lists_are_checked() {
        let (_d, t) = copy_table("append_many");
        let snap = t.join("snapshot/snapshot-12");
        let delta: Value = serde_json::from_slice(&std::fs::read(&snap).unwrap()).unwrap();
        let delta = delta["deltaManifestList"].as_str().unwrap().to_string();
        edit_json(&snap, |m| {
            m.insert("statistics".into(), "stat-oracle-test-0".into());
            m.insert(
                "changelogManifestList".into(),
                "manifest-list-oracle-changelog-0".into(),
            );
        });
        let state = observe(&t);
        assert_eq!(
            state.missing,
            BTreeSet::from([
                "manifest/manifest-list-oracle-changelog-0".to_string(),
                "statistics/stat-oracle-test-0".to_string(),
            ])
        );
        assert!(!state.versions.contains_key("snapshot-12"));
        // Both present (the changelog list is a copy of the delta list): whole again, and the
        // version needs both.
        std::fs::create_dir_all(t.join("statistics")).unwrap();
        std::fs::write(t.join("statistics/stat-oracle-test-0"), b"{}").unwrap();
        std::fs::copy(
            t.join("manifest").join(&delta),
            t.join("manifest/manifest-list-oracle-changelog-0"),
        )
        .unwrap();
        let state = observe(&t);
        state.assert_whole("with statistics and a changelog list");
        let needs = &state.versions["snapshot-12"].needs;
        assert!(needs.contains("stat-oracle-test-0") && needs.contains("schema-0"));
        assert!(needs.contains("manifest-list-oracle-changelog-0"));
        // A changelog list that does not decode is unreadable.
        std::fs::write(t.join("manifest/manifest-list-oracle-changelog-0"), b"junk").unwrap();
        let state = observe(&t);
        assert!(
            state
                .unreadable
                .contains("manifest/manifest-list-oracle-changelog-0"),
            "{:?}",
            state.unreadable
        );
    }

    #[test]
    fn extra_files_of_live_data_files_must_exist() {
        let (_d, t) = copy_table("append_many");
        let snap: Value =
            serde_json::from_slice(&std::fs::read(t.join("snapshot/snapshot-12")).unwrap())
                .unwrap();
        let list = t
            .join("manifest")
            .join(snap["deltaManifestList"].as_str().unwrap());
        let records = avro_records(&list).unwrap();
        let Some(Avro::String(manifest)) = field(&records[0], "_FILE_NAME") else {
            panic!("no manifest in the delta list");
        };
        let mut n = 0;
        rewrite_avro(&t.join("manifest").join(manifest), |r| {
            let file = avro_field(r, "_FILE");
            *avro_field(file, "_EXTRA_FILES") =
                Avro::Array(vec![Avro::String(format!("data-extra-{n}.index"))]);
            n += 1;
        });
        assert!(n > 0);
        let state = observe(&t);
        let want: BTreeSet<String> = (0..n).map(|i| format!("data-extra-{i}.index")).collect();
        assert_eq!(state.missing, want);
        for x in &want {
            std::fs::write(t.join("bucket-0").join(x), b"idx").unwrap();
        }
        let state = observe(&t);
        state.assert_whole("with the extra files present");
        assert!(state.versions["snapshot-12"].needs.is_superset(&want));
    }

    #[test]
    fn avro_with_a_bad_schema_name_is_unreadable_not_a_panic() {
        let (_d, t) = copy_table("append_many");
        let snap: Value =
            serde_json::from_slice(&std::fs::read(t.join("snapshot/snapshot-12")).unwrap())
                .unwrap();
        let list = t
            .join("manifest")
            .join(snap["deltaManifestList"].as_str().unwrap());
        let mut bytes = std::fs::read(&list).unwrap();
        // The schema in the header names its record; make that name start with a digit (same
        // length, so the container stays well formed). apache-avro panics on it.
        let at = bytes
            .windows(8)
            .position(|w| w == b"\"name\":\"" || w == b"\"name\": ")
            .unwrap();
        let first = at
            + bytes[at..]
                .iter()
                .skip(7)
                .position(|b| *b != b' ' && *b != b'"')
                .unwrap()
            + 7;
        bytes[first] = b'1';
        std::fs::write(&list, &bytes).unwrap();
        let state = observe(&t);
        let key = format!("manifest/{}", snap["deltaManifestList"].as_str().unwrap());
        assert!(state.unreadable.contains(&key), "{:?}", state.unreadable);
    }
}

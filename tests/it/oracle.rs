//! The oracle: an independent reference reader for tests. It shares no code with the library
//! (it decodes JSON and Avro itself, finds files by listing, and reads rows with the parquet
//! crate), so a bug in tagkeeper's reader cannot hide a bug in tagkeeper's writer or cleaner.
//!
//! For a table it computes every retained snapshot and every tag: the live data files, the row
//! count and an order-independent row checksum (the definition in testdata/README.md), and the
//! list of referenced files that are missing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use apache_avro::types::Value as Avro;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Date32Type, Int16Type, Int32Type, Int64Type, Int8Type};
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
}

/// The state of a table as the oracle sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// `snapshot-N` and `tag-NAME` → version.
    pub versions: BTreeMap<String, Version>,
    /// Referenced files that do not exist (manifest lists, manifests, data files, index files).
    pub missing: BTreeSet<String>,
    /// Metadata files that could not be decoded.
    pub unreadable: BTreeSet<String>,
    /// Every file name any version mentions: its manifest lists, manifests, index manifest and
    /// index files, statistics, and every file of every manifest entry (ADD or DELETE) with its
    /// extra files. What an orphan cleaner must keep.
    pub referenced: BTreeSet<String>,
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

    /// Panic unless every referenced file exists and all metadata reads.
    pub fn assert_whole(&self, context: &str) {
        assert!(
            self.missing.is_empty() && self.unreadable.is_empty(),
            "{context}: missing {:?}, unreadable {:?}",
            self.missing,
            self.unreadable
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

fn avro_records(path: &Path) -> Option<Vec<Avro>> {
    let bytes = std::fs::read(path).ok()?;
    let reader = apache_avro::Reader::new(&bytes[..]).ok()?;
    reader.collect::<Result<Vec<_>, _>>().ok()
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
        referenced: BTreeSet::new(),
    };
    let mut metas: Vec<(String, PathBuf)> = Vec::new();
    for dir in ["snapshot", "tag"] {
        let Ok(entries) = std::fs::read_dir(table.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ok = (dir == "snapshot"
                && name
                    .strip_prefix("snapshot-")
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())))
                || (dir == "tag" && name.starts_with("tag-") && e.path().is_file());
            if ok {
                metas.push((name, e.path()));
            }
        }
    }
    let mut checksum_cache: HashMap<PathBuf, (u64, u64)> = HashMap::new();
    for (name, path) in metas {
        let Some(json) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        else {
            state.unreadable.insert(name);
            continue;
        };
        let id = json["id"].as_i64().unwrap_or(-1);
        let mut entries: Vec<(i32, Vec<u8>, i32, i32, String)> = Vec::new(); // kind, partition, bucket, level, name
        let mut ok = true;
        if let Some(st) = json["statistics"].as_str() {
            state.referenced.insert(st.to_string());
        }
        if let Some(cl) = json["changelogManifestList"].as_str() {
            state.referenced.insert(cl.to_string());
        }
        for list_key in ["baseManifestList", "deltaManifestList"] {
            let Some(list) = json[list_key].as_str() else {
                ok = false;
                continue;
            };
            state.referenced.insert(list.to_string());
            let list_path = table.join("manifest").join(list);
            if !list_path.is_file() {
                state.missing.insert(format!("manifest/{list}"));
                ok = false;
                continue;
            }
            let Some(records) = avro_records(&list_path) else {
                state.unreadable.insert(format!("manifest/{list}"));
                ok = false;
                continue;
            };
            for r in &records {
                let Some(Avro::String(m)) = field(r, "_FILE_NAME") else {
                    ok = false;
                    continue;
                };
                state.referenced.insert(m.clone());
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
                    if let Some(Avro::Array(extra)) = field(file, "_EXTRA_FILES") {
                        for x in extra {
                            if let Avro::String(x) = x {
                                state.referenced.insert(x.clone());
                            }
                        }
                    }
                    state.referenced.insert(fname.clone());
                    entries.push((*kind, part.clone(), *bucket, *level, fname.clone()));
                }
            }
        }
        if let Some(index) = json["indexManifest"].as_str() {
            state.referenced.insert(index.to_string());
            let p = table.join("manifest").join(index);
            match p.is_file().then(|| avro_records(&p)).flatten() {
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
                            if !table.join("index").join(f).is_file() && !data_dirs.contains_key(f)
                            {
                                state.missing.insert(format!("index/{f}"));
                            }
                        }
                    }
                }
            }
        }
        // Ordered merge: ADD inserts, DELETE removes the same (partition, bucket, level, name).
        let mut live: Vec<Option<(i32, String)>> = Vec::new();
        let mut at: HashMap<(Vec<u8>, i32, i32, String), usize> = HashMap::new();
        for (kind, part, bucket, level, fname) in entries {
            let key = (part, bucket, level, fname.clone());
            if kind == 0 {
                at.insert(key, live.len());
                live.push(Some((bucket, fname)));
            } else if let Some(i) = at.remove(&key) {
                live[i] = None;
            }
        }
        let files: BTreeSet<(i32, String)> = live.into_iter().flatten().collect();
        let (mut rows, mut checksum) = (0u64, 0u64);
        for (bucket, fname) in &files {
            let found = data_dirs.get(fname).and_then(|ps| {
                ps.iter().find(|p| {
                    p.parent()
                        .and_then(|d| d.file_name())
                        .and_then(|d| d.to_str())
                        == Some(format!("bucket-{bucket}").as_str())
                })
            });
            match found {
                None => {
                    state.missing.insert(fname.clone());
                }
                Some(p) => {
                    let (r, c) = *checksum_cache
                        .entry(p.clone())
                        .or_insert_with(|| file_checksum(p));
                    rows += r;
                    checksum = checksum.wrapping_add(c);
                }
            }
        }
        if ok {
            state.versions.insert(
                name,
                Version {
                    snapshot_id: id,
                    files,
                    rows,
                    checksum,
                },
            );
        } else {
            state.unreadable.insert(name);
        }
    }
    state
}

/// Rows and checksum of one Parquet file (all rows, no primary-key merge).
pub fn file_checksum(path: &Path) -> (u64, u64) {
    let bytes = bytes::Bytes::from(std::fs::read(path).unwrap_or_default());
    let Ok(builder) = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
    else {
        return (0, u64::MAX);
    };
    let Ok(reader) = builder.build() else {
        return (0, u64::MAX);
    };
    let (mut rows, mut sum) = (0u64, 0u64);
    for batch in reader.flatten() {
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
    (rows, sum)
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
        DataType::Binary => c
            .as_binary::<i32>()
            .value(i)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
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
}

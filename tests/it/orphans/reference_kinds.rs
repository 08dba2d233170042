//! Every kind of reference protects its file: statistics, a snapshot's changelog manifest list,
//! a long-lived changelog, data-file extra files, manifest-list extra files, an index manifest
//! with a deletion-vector index file, and files only a branch references. A tagkeeper-built
//! table gets them with crafted metadata (the crate's own encoders; Avro the decoder reads for
//! the fields those encoders do not write), everything old, with unreferenced look-alikes
//! planted next to them: exactly the look-alikes go, `check` passes, and `check` names each
//! referenced file once it is deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use apache_avro::types::Value as Avro;
use apache_avro::{Codec, Schema, Writer};
use serde_json::{json, Value};
use tagkeeper::format::manifest::{
    decode_manifest, decode_manifest_list, FileKind, ManifestEntry, ManifestFileMeta,
};
use tagkeeper::format::manifest_write::{encode_manifest, encode_manifest_list};
use tagkeeper::ops::check::{check, CheckOptions, ProblemKind};

use super::{age_everything, deleted, files, plant, run, uuid, OLD};
use crate::common::open;
use crate::write::{commit_rows, local_table, spec};

const BUCKET: &str = "dt=2024-01-01/bucket-0";

/// A crafted table: the files each kind of reference protects, and the look-alikes that
/// nothing references.
pub(super) struct Crafted {
    pub(super) _tmp: tempfile::TempDir,
    pub(super) dir: std::path::PathBuf,
    /// Kind of reference → the file it protects.
    pub(super) referenced: BTreeMap<&'static str, String>,
    /// Old unreferenced files with Paimon names.
    pub(super) planted: BTreeSet<String>,
}

fn read_json(dir: &Path, key: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(key)).unwrap()).unwrap()
}

fn write_json(dir: &Path, key: &str, v: &Value) {
    let p = dir.join(key);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

fn put(dir: &Path, key: &str, bytes: &[u8]) -> String {
    let p = dir.join(key);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
    key.to_string()
}

fn list_of(dir: &Path, name: &str) -> Vec<ManifestFileMeta> {
    let key = format!("manifest/{name}");
    decode_manifest_list(&std::fs::read(dir.join(&key)).unwrap(), &key).unwrap()
}

fn manifest_of(dir: &Path, name: &str) -> Vec<ManifestEntry> {
    let key = format!("manifest/{name}");
    decode_manifest(&std::fs::read(dir.join(&key)).unwrap(), &key).unwrap()
}

/// Write a manifest of these entries; its list entry (partition stats from `like`).
fn write_manifest(
    dir: &Path,
    entries: &[ManifestEntry],
    like: &ManifestFileMeta,
) -> ManifestFileMeta {
    let name = format!("manifest-{}-0", uuid());
    let bytes = encode_manifest(entries).unwrap();
    put(dir, &format!("manifest/{name}"), &bytes);
    ManifestFileMeta {
        file_name: name,
        file_size: bytes.len() as i64,
        num_added_files: entries.len() as i64,
        num_deleted_files: 0,
        extra_files: vec![],
        ..like.clone()
    }
}

fn write_list(dir: &Path, metas: &[ManifestFileMeta]) -> String {
    let name = format!("manifest-list-{}-0", uuid());
    put(
        dir,
        &format!("manifest/{name}"),
        &encode_manifest_list(metas).unwrap(),
    );
    name
}

fn avro_file(schema: &str, records: Vec<Avro>) -> Vec<u8> {
    let schema = Schema::parse_str(schema).unwrap();
    let mut w = Writer::with_codec(&schema, Vec::new(), Codec::Null);
    for r in records {
        w.append(r).unwrap();
    }
    w.into_inner().unwrap()
}

fn rec(fields: Vec<(&str, Avro)>) -> Avro {
    Avro::Record(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

fn null() -> Avro {
    Avro::Union(0, Box::new(Avro::Null))
}

fn some(v: Avro) -> Avro {
    Avro::Union(1, Box::new(v))
}

/// A manifest list with `_EXTRA_FILES` (newer writers; tagkeeper's encoder does not write it).
fn write_list_with_extras(dir: &Path, metas: &[(ManifestFileMeta, Vec<String>)]) -> String {
    const SCHEMA: &str = r#"{"type":"record","name":"record","namespace":"org.apache.paimon.avro.generated","fields":[
      {"name":"_VERSION","type":"int"},{"name":"_FILE_NAME","type":"string"},{"name":"_FILE_SIZE","type":"long"},
      {"name":"_NUM_ADDED_FILES","type":"long"},{"name":"_NUM_DELETED_FILES","type":"long"},
      {"name":"_PARTITION_STATS","type":{"type":"record","name":"record__PARTITION_STATS","fields":[
        {"name":"_MIN_VALUES","type":"bytes"},{"name":"_MAX_VALUES","type":"bytes"},
        {"name":"_NULL_COUNTS","type":["null",{"type":"array","items":["null","long"]}],"default":null}]}},
      {"name":"_SCHEMA_ID","type":"long"},
      {"name":"_EXTRA_FILES","type":["null",{"type":"array","items":"string"}],"default":null}]}"#;
    let records = metas
        .iter()
        .map(|(m, extras)| {
            rec(vec![
                ("_VERSION", Avro::Int(2)),
                ("_FILE_NAME", Avro::String(m.file_name.clone())),
                ("_FILE_SIZE", Avro::Long(m.file_size)),
                ("_NUM_ADDED_FILES", Avro::Long(m.num_added_files)),
                ("_NUM_DELETED_FILES", Avro::Long(m.num_deleted_files)),
                (
                    "_PARTITION_STATS",
                    rec(vec![
                        (
                            "_MIN_VALUES",
                            Avro::Bytes(m.partition_stats.min_values.clone()),
                        ),
                        (
                            "_MAX_VALUES",
                            Avro::Bytes(m.partition_stats.max_values.clone()),
                        ),
                        ("_NULL_COUNTS", null()),
                    ]),
                ),
                ("_SCHEMA_ID", Avro::Long(m.schema_id)),
                (
                    "_EXTRA_FILES",
                    some(Avro::Array(
                        extras.iter().map(|x| Avro::String(x.clone())).collect(),
                    )),
                ),
            ])
        })
        .collect();
    let name = format!("manifest-list-{}-0", uuid());
    put(
        dir,
        &format!("manifest/{name}"),
        &avro_file(SCHEMA, records),
    );
    name
}

/// An index manifest with one DELETION_VECTORS entry: `index_file` holds the vector of
/// `data_file` (Java's `IndexManifestEntry` schema, items as nullable records).
fn write_dv_index_manifest(
    dir: &Path,
    entry: &ManifestEntry,
    index_file: &str,
    index_size: i64,
    data_file: &str,
) -> String {
    const SCHEMA: &str = r#"{"type":"record","name":"record","namespace":"org.apache.paimon.avro.generated","fields":[
      {"name":"_VERSION","type":"int"},{"name":"_KIND","type":"int"},{"name":"_PARTITION","type":"bytes"},
      {"name":"_BUCKET","type":"int"},{"name":"_INDEX_TYPE","type":"string"},{"name":"_FILE_NAME","type":"string"},
      {"name":"_FILE_SIZE","type":"long"},{"name":"_ROW_COUNT","type":"long"},
      {"name":"_DELETIONS_VECTORS_RANGES","type":["null",{"type":"array","items":["null",
        {"type":"record","name":"record__DELETIONS_VECTORS_RANGES","fields":[
          {"name":"f0","type":"string"},{"name":"f1","type":"int"},{"name":"f2","type":"int"},
          {"name":"_CARDINALITY","type":["null","long"],"default":null}]}]}],"default":null},
      {"name":"_EXTERNAL_PATH","type":["null","string"],"default":null}]}"#;
    let range = rec(vec![
        ("f0", Avro::String(data_file.into())),
        ("f1", Avro::Int(1)),
        ("f2", Avro::Int(index_size as i32 - 1)),
        ("_CARDINALITY", some(Avro::Long(1))),
    ]);
    let record = rec(vec![
        ("_VERSION", Avro::Int(1)),
        ("_KIND", Avro::Int(0)),
        ("_PARTITION", Avro::Bytes(entry.partition.clone())),
        ("_BUCKET", Avro::Int(entry.bucket)),
        ("_INDEX_TYPE", Avro::String("DELETION_VECTORS".into())),
        ("_FILE_NAME", Avro::String(index_file.into())),
        ("_FILE_SIZE", Avro::Long(index_size)),
        ("_ROW_COUNT", Avro::Long(1)),
        (
            "_DELETIONS_VECTORS_RANGES",
            some(Avro::Array(vec![some(range)])),
        ),
        ("_EXTERNAL_PATH", null()),
    ]);
    let name = format!("index-manifest-{}-0", uuid());
    put(
        dir,
        &format!("manifest/{name}"),
        &avro_file(SCHEMA, vec![record]),
    );
    name
}

/// A copy of `e` (a live data file entry) naming a new file in the same bucket, written with
/// `e`'s bytes so sizes and footers agree.
fn data_copy(dir: &Path, e: &ManifestEntry, prefix: &str, extras: Vec<String>) -> ManifestEntry {
    let name = format!("{prefix}-{}-0.parquet", uuid());
    std::fs::copy(
        dir.join(BUCKET).join(&e.file.file_name),
        dir.join(BUCKET).join(&name),
    )
    .unwrap();
    let mut copy = e.clone();
    copy.kind = FileKind::Add;
    copy.file.file_name = name;
    copy.file.extra_files = extras;
    copy
}

/// Snapshot JSON `from` re-pointed at other metadata (sizes dropped: they are optional).
fn snapshot_like(from: &Value, id: i64, fields: &[(&str, Value)]) -> Value {
    let mut v = from.clone();
    let o = v.as_object_mut().unwrap();
    o.insert("id".into(), json!(id));
    for k in [
        "baseManifestListSize",
        "deltaManifestListSize",
        "changelogManifestListSize",
    ] {
        o.remove(k);
    }
    for (k, val) in fields {
        o.insert((*k).into(), val.clone());
    }
    v
}

/// Build the table.
pub(super) async fn crafted() -> Crafted {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let t = local_table(&dir, &spec(true, &[])).await;
    for i in 0..3i64 {
        commit_rows(&t, &[(i, Some("x"), "2024-01-01")], None).await;
    }
    let s3 = read_json(&dir, "snapshot/snapshot-3");
    let (base3, delta3) = (
        list_of(&dir, s3["baseManifestList"].as_str().unwrap()),
        list_of(&dir, s3["deltaManifestList"].as_str().unwrap()),
    );
    let like = delta3[0].clone();
    let live = manifest_of(&dir, &like.file_name)[0].clone();
    let mut referenced: BTreeMap<&'static str, String> = BTreeMap::new();
    let b = |n: &str| format!("{BUCKET}/{n}");

    // Snapshot 4: a data file with an extra file, its manifest with a manifest-list extra
    // file, a changelog file, a deletion vector, statistics.
    let index_extra = format!("data-{}-0.parquet.index", uuid());
    put(&dir, &b(&index_extra), b"file index");
    let d1 = data_copy(&dir, &live, "data", vec![index_extra.clone()]);
    let m1 = write_manifest(&dir, std::slice::from_ref(&d1), &like);
    // A candidate-shaped name: only the reference can keep it.
    let list_extra = format!("manifest-{}-0", uuid());
    put(&dir, &format!("manifest/{list_extra}"), b"sidecar");
    let delta4 = write_list_with_extras(&dir, &[(m1.clone(), vec![list_extra.clone()])]);
    let base4 = write_list(&dir, &[base3, delta3].concat());
    let c1 = data_copy(&dir, &live, "changelog", vec![]);
    let m2 = write_manifest(&dir, std::slice::from_ref(&c1), &like);
    let changelog_list4 = write_list(&dir, std::slice::from_ref(&m2));
    let dv = format!("index-{}-0", uuid());
    let dv_bytes = b"\x01deletion vector bytes";
    put(&dir, &format!("index/{dv}"), dv_bytes);
    let im = write_dv_index_manifest(&dir, &d1, &dv, dv_bytes.len() as i64, &d1.file.file_name);
    let stat = format!("stat-{}-0", uuid());
    put(
        &dir,
        &format!("statistics/{stat}"),
        br#"{"snapshotId":4,"schemaId":0,"mergedRecordCount":4,"mergedRecordSize":40,"colStats":{}}"#,
    );
    let s4 = snapshot_like(
        &s3,
        4,
        &[
            ("baseManifestList", json!(base4)),
            ("deltaManifestList", json!(delta4)),
            ("changelogManifestList", json!(changelog_list4)),
            ("indexManifest", json!(im)),
            ("statistics", json!(stat)),
        ],
    );
    write_json(&dir, "snapshot/snapshot-4", &s4);
    std::fs::write(dir.join("snapshot/LATEST"), b"4").unwrap();
    for (kind, key) in [
        ("data file", b(&d1.file.file_name)),
        ("data-file extra file", b(&index_extra)),
        ("manifest", format!("manifest/{}", m1.file_name)),
        ("manifest-list extra file", format!("manifest/{list_extra}")),
        ("delta manifest list", format!("manifest/{delta4}")),
        ("base manifest list", format!("manifest/{base4}")),
        ("changelog file", b(&c1.file.file_name)),
        ("changelog manifest", format!("manifest/{}", m2.file_name)),
        (
            "changelog manifest list",
            format!("manifest/{changelog_list4}"),
        ),
        ("index manifest", format!("manifest/{im}")),
        ("deletion-vector index file", format!("index/{dv}")),
        ("statistics", format!("statistics/{stat}")),
    ] {
        referenced.insert(kind, key);
    }

    // A long-lived changelog (as decoupled expiration writes one) with its own changelog list.
    let s1 = read_json(&dir, "snapshot/snapshot-1");
    let c2 = data_copy(&dir, &live, "changelog", vec![]);
    let m3 = write_manifest(&dir, std::slice::from_ref(&c2), &like);
    let changelog_list1 = write_list(&dir, std::slice::from_ref(&m3));
    let cl1 = snapshot_like(&s1, 1, &[("changelogManifestList", json!(changelog_list1))]);
    write_json(&dir, "changelog/changelog-1", &cl1);
    std::fs::write(dir.join("changelog/LATEST"), b"1").unwrap();
    std::fs::write(dir.join("changelog/EARLIEST"), b"1").unwrap();
    referenced.insert("long-lived changelog's file", b(&c2.file.file_name));
    referenced.insert(
        "long-lived changelog's manifest",
        format!("manifest/{}", m3.file_name),
    );
    referenced.insert(
        "long-lived changelog's list",
        format!("manifest/{changelog_list1}"),
    );

    // Branch b: a snapshot whose delta only it references (branch metadata lives under
    // branch/branch-b/; manifests and data are main's).
    let d2 = data_copy(&dir, &live, "data", vec![]);
    let m4 = write_manifest(&dir, std::slice::from_ref(&d2), &like);
    let branch_delta = write_list(&dir, std::slice::from_ref(&m4));
    let bs1 = snapshot_like(&s1, 1, &[("deltaManifestList", json!(branch_delta))]);
    write_json(&dir, "branch/branch-b/snapshot/snapshot-1", &bs1);
    std::fs::write(dir.join("branch/branch-b/snapshot/LATEST"), b"1").unwrap();
    put(
        &dir,
        "branch/branch-b/schema/schema-0",
        &std::fs::read(dir.join("schema/schema-0")).unwrap(),
    );
    referenced.insert("branch's data file", b(&d2.file.file_name));
    referenced.insert("branch's manifest", format!("manifest/{}", m4.file_name));
    referenced.insert("branch's delta list", format!("manifest/{branch_delta}"));

    // Look-alikes nothing references, one per kind.
    let parquet = std::fs::read(dir.join(b(&live.file.file_name))).unwrap();
    age_everything(&dir, OLD);
    let u = uuid();
    let planted: BTreeSet<String> = [
        plant(&dir, &b(&format!("data-{u}-0.parquet")), &parquet, OLD),
        plant(&dir, &b(&format!("data-{u}-1.parquet.index")), b"i", OLD),
        plant(&dir, &b(&format!("changelog-{u}-0.parquet")), &parquet, OLD),
        plant(&dir, &format!("manifest/manifest-{u}-0"), b"m", OLD),
        plant(&dir, &format!("manifest/manifest-list-{u}-0"), b"l", OLD),
        plant(&dir, &format!("manifest/index-manifest-{u}-0"), b"im", OLD),
        plant(&dir, &format!("index/index-{u}-0"), b"dv", OLD),
        plant(&dir, &format!("statistics/stat-{u}-0"), b"{}", OLD),
        plant(&dir, &format!("snapshot/.snapshot-5.{u}.tmp"), b"{}", OLD),
        plant(&dir, &format!("changelog/.changelog-2.{u}.tmp"), b"{}", OLD),
        plant(
            &dir,
            &format!("branch/branch-b/snapshot/.snapshot-2.{u}.tmp"),
            b"{}",
            OLD,
        ),
    ]
    .into_iter()
    .collect();
    for key in referenced.values() {
        assert!(dir.join(key).is_file(), "{key}");
    }
    Crafted {
        _tmp: tmp,
        dir,
        referenced,
        planted,
    }
}

#[tokio::test]
async fn every_kind_of_reference_protects_its_file() {
    let c = crafted().await;
    let dir = &c.dir;
    crate::check::assert_whole(dir, true, "crafted").await;
    let before = files(dir);
    let t = open(dir).await;

    let dry = run(&t, true).await.unwrap();
    assert_eq!(deleted(&dry), c.planted);
    assert_eq!(files(dir), before);

    let r = run(&t, false).await.unwrap();
    assert_eq!(deleted(&r), c.planted, "exactly the look-alikes go");
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(r.branches, vec!["main", "b"]);
    assert_eq!(
        (r.snapshots_read, r.tags_read, r.changelogs_read),
        (5, 0, 1)
    );
    let after = files(dir);
    let expect: BTreeMap<String, u64> = before
        .into_iter()
        .filter(|(k, _)| !c.planted.contains(k))
        .collect();
    assert_eq!(after, expect);
    for (kind, key) in &c.referenced {
        assert!(dir.join(key).is_file(), "{kind}: {key} was deleted");
    }
    let whole = crate::check::assert_whole(dir, true, "after remove-orphan-files").await;
    assert_eq!(
        (whole.snapshots, whole.changelogs, whole.branches.len()),
        (5, 1, 2)
    );
}

#[tokio::test]
async fn check_names_each_referenced_file_once_it_is_gone() {
    let c = crafted().await;
    let dir = &c.dir;
    let t = open(dir).await;
    for (kind, key) in &c.referenced {
        let bytes = std::fs::read(dir.join(key)).unwrap();
        std::fs::remove_file(dir.join(key)).unwrap();
        let r = check(&t, &CheckOptions { deep: false }).await.unwrap();
        let got: Vec<(ProblemKind, &str)> = r
            .problems
            .iter()
            .map(|p| (p.kind, p.path.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![(ProblemKind::MissingFile, key.as_str())],
            "{kind}: {:#?}",
            r.problems
        );
        std::fs::write(dir.join(key), bytes).unwrap();
    }
    crate::check::assert_whole(dir, true, "restored").await;
}

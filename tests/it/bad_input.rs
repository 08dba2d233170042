//! Bad input: every broken or missing file gets a clear error naming it, the documented exit
//! code, and no panic. The broken files live in testdata/bad/.

use std::path::Path;

use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::inspect;
use tagkeeper::table::VersionSpec;
use tagkeeper::Error;

use crate::common::*;

fn bad(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("testdata/bad").join(name)).unwrap()
}

fn put(table: &Path, rel: &str, bytes: &[u8]) {
    std::fs::write(table.join(rel), bytes).unwrap();
}

/// The delta manifest list and first manifest of snapshot 3 of append_many.
fn snapshot3_files(table: &Path) -> (String, String) {
    let snap: serde_json::Value =
        serde_json::from_slice(&std::fs::read(table.join("snapshot/snapshot-3")).unwrap()).unwrap();
    let list = snap["deltaManifestList"].as_str().unwrap().to_string();
    let mut manifests: Vec<String> = std::fs::read_dir(table.join("manifest"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("manifest-") && !n.starts_with("manifest-list-"))
        .collect();
    manifests.sort();
    (list, manifests[0].clone())
}

async fn files_of(table: &Path, id: i64) -> Result<inspect::FilesReport, Error> {
    let t = open(table).await;
    inspect::files(&t, &VersionSpec::Snapshot(SnapshotId(id))).await
}

fn assert_corrupt(err: &Error, file: &str, words: &str) {
    let msg = err.to_string();
    assert!(matches!(err, Error::Corrupt { .. }), "{msg}");
    assert!(msg.contains(file), "message must name {file}: {msg}");
    assert!(msg.contains(words), "message must say {words:?}: {msg}");
    assert_eq!(err.exit_code(), 2);
}

#[tokio::test]
async fn broken_snapshot_json() {
    let cases = [
        ("snapshot-truncated.json", "invalid JSON"),
        ("snapshot-not-object.json", "expected a JSON object"),
        (
            "snapshot-wrong-type.json",
            "'schemaId' must be a 64-bit integer",
        ),
        ("snapshot-empty.json", "invalid JSON"),
    ];
    for (file, words) in cases {
        let (_dir, t) = copy_table("append_many");
        put(&t, "snapshot/snapshot-3", &bad(file));
        let err = files_of(&t, 3).await.unwrap_err();
        assert_corrupt(&err, "snapshot/snapshot-3", words);
        // Listing snapshots reads every snapshot: the same error.
        let table = open(&t).await;
        let err = inspect::snapshots(&table).await.unwrap_err();
        assert_corrupt(&err, "snapshot/snapshot-3", words);
        // Other snapshots are still readable.
        assert!(files_of(&t, 4).await.is_ok());
    }
}

#[tokio::test]
async fn broken_schema() {
    let (_dir, t) = copy_table("append_many");
    put(&t, "schema/schema-0", &bad("schema-truncated.json"));
    let table = open(&t).await;
    let err = inspect::schema(&table).await.unwrap_err();
    assert_corrupt(&err, "schema/schema-0", "invalid JSON");
}

#[tokio::test]
async fn broken_tags() {
    for (file, words) in [
        ("tag-bad-create-time.json", "tagCreateTime"),
        ("tag-truncated.json", "invalid JSON"),
    ] {
        let (_dir, t) = copy_table("tagged");
        put(&t, "tag/tag-daily-3", &bad(file));
        let table = open(&t).await;
        let err = inspect::tags(&table).await.unwrap_err();
        assert_corrupt(&err, "tag/tag-daily-3", words);
        let spec = VersionSpec::Tag(TagName::new("daily-3").unwrap());
        assert_corrupt(
            &inspect::files(&table, &spec).await.unwrap_err(),
            "tag/tag-daily-3",
            words,
        );
        // Another tag still reads.
        let spec = VersionSpec::Tag(TagName::new("first").unwrap());
        assert!(inspect::files(&table, &spec).await.is_ok());
    }
}

#[tokio::test]
async fn broken_avro() {
    let cases = [
        ("manifest-list-truncated.avro", true, "unreadable Avro"),
        ("manifest-list-corrupt-block.avro", true, "Avro"),
        ("not-avro.avro", true, "not an Avro object container file"),
        ("manifest-truncated.avro", false, "unreadable Avro"),
    ];
    for (file, is_list, words) in cases {
        let (_dir, t) = copy_table("append_many");
        let (list, manifest) = snapshot3_files(&t);
        let target = if is_list { list } else { manifest };
        put(&t, &format!("manifest/{target}"), &bad(file));
        // Some snapshot reads the broken file; find it and check the message.
        let mut seen = false;
        for id in 1..=12 {
            if let Err(err) = files_of(&t, id).await {
                assert_corrupt(&err, &format!("manifest/{target}"), words);
                seen = true;
            }
        }
        assert!(seen, "{file}: no snapshot read manifest/{target}");
    }
}

#[tokio::test]
async fn manifest_list_naming_a_manifest_of_the_wrong_kind() {
    // A manifest list where a manifest is expected: a wrong Avro schema.
    let (_dir, t) = copy_table("append_many");
    let (list, manifest) = snapshot3_files(&t);
    std::fs::copy(
        t.join("manifest").join(&list),
        t.join("manifest").join(&manifest),
    )
    .unwrap();
    let mut errors = 0;
    for id in 1..=12 {
        if let Err(err) = files_of(&t, id).await {
            assert_corrupt(&err, &manifest, "lacks required field");
            errors += 1;
        }
    }
    assert!(errors > 0);
}

#[tokio::test]
async fn missing_manifest_and_manifest_list() {
    let (_dir, t) = copy_table("append_many");
    let (list, manifest) = snapshot3_files(&t);
    std::fs::remove_file(t.join("manifest").join(&manifest)).unwrap();
    let mut errors = 0;
    for id in 1..=12 {
        if let Err(err) = files_of(&t, id).await {
            let msg = err.to_string();
            assert!(matches!(err, Error::MissingFile { .. }), "{msg}");
            assert!(
                msg.contains(&manifest) && msg.contains("referenced by"),
                "{msg}"
            );
            assert_eq!(err.exit_code(), 2);
            errors += 1;
        }
    }
    assert!(errors > 0);

    std::fs::remove_file(t.join("manifest").join(&list)).unwrap();
    let err = files_of(&t, 3).await.unwrap_err();
    assert!(
        err.to_string().contains(&list) && err.to_string().contains("snapshot 3"),
        "{err}"
    );
}

#[tokio::test]
async fn stale_or_garbage_hints_are_warnings() {
    let (_dir, t) = copy_table("append_many");
    put(&t, "snapshot/LATEST", b"99");
    let table = open(&t).await;
    let r = inspect::snapshots(&table).await.unwrap();
    assert_eq!(r.latest, Some(12));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("snapshot/LATEST") && w.contains("99")),
        "{:?}",
        r.warnings
    );

    put(&t, "snapshot/LATEST", &bad("hint-garbage"));
    let r = inspect::snapshots(&table).await.unwrap();
    assert_eq!(r.latest, Some(12));
    assert!(r
        .warnings
        .iter()
        .any(|w| w.contains("does not hold a snapshot id")));

    // The CLI prints the warning on stderr and still exits 0.
    let out = tagkeeper(&["snapshots", "--json", t.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("warning: snapshot/LATEST"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn latest_hint_pointing_nowhere_in_a_table_without_snapshots() {
    let (_dir, t) = copy_table("append_many");
    for e in std::fs::read_dir(t.join("snapshot")).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("snapshot-")
        {
            std::fs::remove_file(p).unwrap();
        }
    }
    let table = open(&t).await;
    let err = inspect::snapshots(&table).await.unwrap_err();
    assert_corrupt(&err, "snapshot/LATEST", "no snapshot file exists");
    let out = tagkeeper(&["files", t.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("snapshot/LATEST"), "{}", stderr(&out));
}

#[tokio::test]
async fn hostile_file_names_in_a_manifest_cannot_escape_the_table() {
    // A snapshot whose id field disagrees with its file name is corrupt, too.
    let (_dir, t) = copy_table("append_many");
    let s4 = std::fs::read(t.join("snapshot/snapshot-4")).unwrap();
    put(&t, "snapshot/snapshot-3", &s4);
    let err = files_of(&t, 3).await.unwrap_err();
    assert_corrupt(&err, "snapshot/snapshot-3", "holds snapshot id 4");
    assert!(tagkeeper::io::TableStore::in_memory("t")
        .get_opt("../etc/passwd")
        .await
        .is_err());
}

#[test]
fn corrupt_metadata_exits_2_from_the_cli() {
    let (_dir, t) = copy_table("append_many");
    put(&t, "snapshot/snapshot-12", &bad("snapshot-truncated.json"));
    let out = tagkeeper(&["files", "--json", t.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["error"]["kind"], "corrupt");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("snapshot/snapshot-12"));
}

//! Bad input: every broken or missing file gets a clear error naming it, the documented exit
//! code, and no panic. The broken files live in testdata/bad/.

use std::path::Path;

use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::inspect;
use tagkeeper::table::VersionSpec;
use tagkeeper::Error;

use crate::common::*;
use crate::fixtures::walk;

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
async fn a_snapshot_whose_id_disagrees_with_its_name_is_corrupt() {
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

/// A manifest entry naming `../../../sentinel.parquet` (from a bucket directory, that is the
/// directory holding the table root), or an absolute path, or an extra file with `../`, planted
/// as a DELETE entry in every manifest (raw Avro, not tagkeeper's encoder): every command
/// reading them reports the manifest as corrupt, and nothing is deleted outside the table root
/// (sentinels sit exactly where the entries point) nor inside it beyond the metadata a command
/// was asked to remove.
#[tokio::test]
async fn hostile_file_names_in_a_manifest_cannot_escape_the_table() {
    use apache_avro::types::Value as Avro;
    let (_t, tpl) = crate::crash::template().await;
    let variants = ["relative", "absolute", "extra file"];
    for (variant, (name, cmd)) in variants
        .iter()
        .flat_map(|v| destructive::COMMANDS.map(|c| (*v, c)))
    {
        let name = &format!("{name} ({variant})");
        let (outer, dir) = crate::crash::copy(&tpl);
        let sentinels = [
            outer.path().join("sentinel.parquet"),
            outer.path().join("sentinel-extra.index"),
            outer.path().join("sentinel-abs.parquet"),
        ];
        for s in &sentinels {
            std::fs::write(s, b"must survive").unwrap();
        }
        let absolute = sentinels[2].to_str().unwrap().to_string();
        let mut planted = 0;
        for m in std::fs::read_dir(dir.join("manifest")).unwrap() {
            let path = m.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if !file.starts_with("manifest-") || file.starts_with("manifest-list-") {
                continue;
            }
            let mut first = None;
            rewrite_avro(&path, |r| {
                first.get_or_insert_with(|| r.clone());
            });
            let Some(template) = first else { continue };
            let hostile = |file_name: &str, extra: Vec<Avro>| {
                let mut r = template.clone();
                *avro_field(&mut r, "_KIND") = Avro::Int(1);
                let f = avro_field(&mut r, "_FILE");
                *avro_field(f, "_FILE_NAME") = Avro::String(file_name.to_string());
                *avro_field(f, "_EXTRA_FILES") = Avro::Array(extra);
                r
            };
            let planted_record = match variant {
                "relative" => hostile("../../../sentinel.parquet", Vec::new()),
                "absolute" => hostile(&absolute, Vec::new()),
                _ => hostile(
                    "data-plain-name-0.parquet",
                    vec![Avro::String("../../../sentinel-extra.index".into())],
                ),
            };
            append_avro(&path, &[planted_record]);
            planted += 1;
        }
        assert!(planted > 3, "{planted} manifests");
        // The entries really point at the sentinels.
        let bucket = dir.join("dt=2024-01-01/bucket-0");
        assert!(bucket.join("../../../sentinel.parquet").exists());

        let planted_state = crate::oracle::observe(&dir);
        let before = walk(&dir)
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>();
        let result = cmd(open(&dir).await).await;
        let after = walk(&dir)
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>();
        for s in &sentinels {
            assert!(
                s.exists(),
                "{name} deleted {} outside the table",
                s.display()
            );
        }
        let gone: Vec<&String> = before.difference(&after).collect();
        let text = match &result {
            Ok(notes) => notes.clone(),
            Err(e) => e.to_string(),
        };
        // Planting a record changes the manifest's size: either the hostile name or the
        // size the manifest list recorded gives it away (whichever is read first).
        assert!(
            text.contains("manifest/manifest-")
                && (text.contains("is not a plain file name")
                    || text.contains("(truncated or replaced)")),
            "{name}: the message names a manifest and what is wrong: {text}"
        );
        match name.split(" (").next().unwrap_or_default() {
            // Refuses outright.
            "remove-orphan-files" => {
                assert!(result.is_err(), "{name}: {text}");
                assert!(gone.is_empty(), "{name} deleted {gone:?}");
            }
            // Expires the snapshots' metadata; every data cleanup that needed a hostile delta
            // is skipped and reported.
            "expire-snapshots" => {
                assert!(result.is_ok(), "{name}: {text}");
                assert!(
                    gone.iter()
                        .all(|f| f.starts_with("snapshot/") || f.starts_with("manifest/")),
                    "{name} deleted data: {gone:?}"
                );
            }
            // Asked to remove metadata, they do, and skip the data cleanup.
            "delete-tag" => assert_eq!(gone, ["tag/tag-t5"], "{name}"),
            "rollback-to" => assert_eq!(
                gone,
                [
                    "snapshot/snapshot-10",
                    "snapshot/snapshot-7",
                    "snapshot/snapshot-8",
                    "snapshot/snapshot-9",
                    "tag/tag-t8"
                ],
                "{name}"
            ),
            other => panic!("{other}"),
        }
        destructive::needs_kept(&planted_state, &dir, "", name);
    }
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

#[tokio::test]
async fn decimal_bounds_are_checked_naming_the_schema() {
    // A partition column declared DECIMAL with a scale of four billion: rendering a partition
    // value would allocate that many zeros. Paimon's limits are precision 1–38, scale 0–precision.
    // (The huge scale last: without the bound it would allocate gigabytes.)
    for ty in [
        "DECIMAL(39, 2)",
        "DECIMAL(0, 0)",
        "DECIMAL(5, 6)",
        "DECIMAL(10, 4000000000)",
    ] {
        let (_dir, t) = copy_table("partitioned_overwrite");
        let path = t.join("schema/schema-0");
        let mut schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for f in schema["fields"].as_array_mut().unwrap() {
            if f["name"] == "hr" {
                f["type"] = ty.into();
            }
        }
        std::fs::write(&path, serde_json::to_vec(&schema).unwrap()).unwrap();
        let err =
            match tagkeeper::table::Table::open(t.to_str().unwrap(), &Default::default()).await {
                Err(e) => e,
                Ok(table) => inspect::files(&table, &VersionSpec::Latest)
                    .await
                    .unwrap_err(),
            };
        assert_corrupt(
            &err,
            "schema/schema-0",
            "DECIMAL precision must be between 1 and 38",
        );
        assert!(err.to_string().contains(ty), "{ty}: {err}");
    }
}

mod destructive {
    //! Destructive commands on damaged metadata (the corpus in testdata/bad/, placed in the
    //! crash template: tags t3, t5, t8, snapshots 7–10, history before 7 expired so t5's files
    //! and the template's orphans are reclaimable). Where the damaged file is one the command
    //! must read before deciding anything, it stops with an error naming the file and deletes
    //! nothing. Where only the data cleanup depends on it, the command does the metadata part
    //! it was asked for (delete the tag file, remove the rolled-back snapshots) and skips the
    //! data cleanup with a note naming the file. Where the command does not need the file, it
    //! does at most what a healthy run does. In every case, nothing a remaining version needs
    //! is deleted (checked against the oracle's reading of an undamaged copy).

    use std::collections::BTreeSet;
    use std::future::Future;
    use std::path::Path;
    use std::pin::Pin;

    use tagkeeper::clock::ManualClock;
    use tagkeeper::format::ids::TagName;
    use tagkeeper::ops::expire::{expire, ExpireOptions};
    use tagkeeper::ops::orphans::{remove_orphan_files, OrphanOptions};
    use tagkeeper::ops::rollback::{RollbackMode, RollbackTarget};
    use tagkeeper::table::Table;

    use super::bad;
    use crate::crash::{copy, template};
    use crate::fixtures::walk;
    use crate::oracle;

    /// A command; its `Ok` is every note, reason and skip it reported (to find a file's name).
    pub(super) type Command =
        fn(Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<String>> + Send>>;

    const NOW: i64 = 4_000_000_000_000;

    fn expire_snapshots(
        t: Table,
    ) -> Pin<Box<dyn Future<Output = tagkeeper::Result<String>> + Send>> {
        Box::pin(async move {
            let o = ExpireOptions {
                retain_min: 1,
                retain_max: u64::MAX / 4,
                time_retained_millis: 0,
                expire_limit: 1000,
                ignore_commit_snapshot: false,
            };
            let r = expire(&t, &o, NOW).await?;
            assert!(r.failed.is_empty(), "{:?}", r.failed);
            Ok(r.plan.skipped.join("\n"))
        })
    }

    fn delete_tag(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<String>> + Send>> {
        Box::pin(async move {
            let plan = tagkeeper::ops::delete_tag::plan(&t, &[TagName::new("t5").unwrap()]).await?;
            let r = tagkeeper::ops::delete_tag::execute(&t, plan).await?;
            assert!(r.failed.is_empty(), "{:?}", r.failed);
            Ok(r.tags
                .iter()
                .filter_map(|p| p.reason.clone())
                .collect::<Vec<_>>()
                .join("\n"))
        })
    }

    fn remove_orphans(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<String>> + Send>> {
        Box::pin(async move {
            let opts = OrphanOptions {
                older_than_millis: Some(NOW),
                force: true,
            };
            let r = remove_orphan_files(&t, &opts, false, &ManualClock::new(NOW)).await?;
            assert!(r.failed.is_empty(), "{:?}", r.failed);
            Ok(r.notes.join("\n"))
        })
    }

    fn rollback(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<String>> + Send>> {
        Box::pin(async move {
            let r = tagkeeper::ops::rollback::execute(
                &t,
                &RollbackTarget::Tag(TagName::new("t5").unwrap()),
                RollbackMode::Destructive { purge: true },
                &ManualClock::new(NOW),
            )
            .await?;
            Ok(r.plan.notes.join("\n"))
        })
    }

    pub(super) const COMMANDS: [(&str, Command); 4] = [
        ("expire-snapshots", expire_snapshots),
        ("delete-tag", delete_tag),
        ("remove-orphan-files", remove_orphans),
        ("rollback-to", rollback),
    ];

    /// What the damage hits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Target {
        /// A snapshot every command but delete-tag reads (expired or rolled back).
        Snapshot8,
        Schema,
        /// A tag every command must read to protect its files.
        TagT8,
        /// The delta manifest list of the earliest snapshot: t5's right protector, expired by
        /// expire-snapshots, removed by the rollback.
        List7,
        /// A manifest of that list.
        Manifest7,
    }

    fn snapshot7_list(dir: &Path) -> String {
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("snapshot/snapshot-7")).unwrap())
                .unwrap();
        s["deltaManifestList"].as_str().unwrap().to_string()
    }

    fn target_path(dir: &Path, t: Target) -> String {
        match t {
            Target::Snapshot8 => "snapshot/snapshot-8".into(),
            Target::Schema => "schema/schema-0".into(),
            Target::TagT8 => "tag/tag-t8".into(),
            Target::List7 => format!("manifest/{}", snapshot7_list(dir)),
            Target::Manifest7 => {
                let bytes = std::fs::read(dir.join("manifest").join(snapshot7_list(dir))).unwrap();
                let mut first = apache_avro::Reader::new(&bytes[..])
                    .unwrap()
                    .next()
                    .unwrap()
                    .unwrap();
                match crate::common::avro_field(&mut first, "_FILE_NAME") {
                    apache_avro::types::Value::String(m) => format!("manifest/{m}"),
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    fn files(dir: &Path) -> BTreeSet<String> {
        walk(dir).into_iter().collect()
    }

    /// What a command must do with a damage.
    #[derive(Debug)]
    enum Expect {
        /// An error naming the file; not one file deleted.
        Refused,
        /// Exactly these files deleted (the metadata asked for), a note naming the file.
        MetadataOnly(&'static [&'static str]),
        /// At most what a healthy run deletes; `named`: a note names the file.
        AtMostHealthy { named: bool },
    }

    fn expect(command: &str, target: Target) -> Expect {
        use Expect::*;
        use Target::*;
        const TAG_T5: &[&str] = &["tag/tag-t5"];
        const ROLLED_BACK: &[&str] = &[
            "snapshot/snapshot-7",
            "snapshot/snapshot-8",
            "snapshot/snapshot-9",
            "snapshot/snapshot-10",
            "tag/tag-t8",
        ];
        match (command, target) {
            ("remove-orphan-files", _) | (_, TagT8) => Refused,
            ("expire-snapshots", Snapshot8 | Schema) => Refused,
            // Snapshot 7 is expired: its unreadable list goes, its manifests stay for
            // remove-orphan-files; a manifest of it is not needed at all.
            ("expire-snapshots", List7) => AtMostHealthy { named: true },
            ("expire-snapshots", Manifest7) => AtMostHealthy { named: false },
            // Every other version is a root of the liveness model: any damaged one stops the
            // data cleanup (the tag file goes, as asked).
            ("delete-tag", _) => MetadataOnly(TAG_T5),
            ("rollback-to", _) => MetadataOnly(ROLLED_BACK),
            other => panic!("no expectation for {other:?}"),
        }
    }

    /// Every file a version still present after the run needs (as the oracle read the
    /// undamaged table) must still exist, bar the damaged file itself.
    pub(super) fn needs_kept(undamaged: &oracle::State, dir: &Path, damaged: &str, context: &str) {
        let names: BTreeSet<String> = walk(dir)
            .iter()
            .map(|p| p.rsplit('/').next().unwrap().to_string())
            .collect();
        let damaged = damaged.rsplit('/').next().unwrap_or_default();
        for (version, v) in &undamaged.versions {
            let dir_of = if version.starts_with("tag-") {
                "tag"
            } else {
                "snapshot"
            };
            if !dir.join(dir_of).join(version).exists() {
                continue;
            }
            let lost: Vec<&String> = v
                .needs
                .iter()
                .filter(|n| n.as_str() != damaged && !names.contains(*n))
                .collect();
            assert!(lost.is_empty(), "{context}: {version} lost {lost:?}");
        }
    }

    #[tokio::test]
    async fn destructive_commands_on_damaged_metadata_delete_nothing_needed() {
        let (_t, tpl) = template().await;
        let undamaged = oracle::observe(&tpl);
        undamaged.assert_whole("template");
        // What each command deletes on a healthy table.
        let mut healthy = std::collections::BTreeMap::new();
        for (name, cmd) in COMMANDS {
            let (_d, dir) = copy(&tpl);
            cmd(crate::common::open(&dir).await).await.unwrap();
            let gone: BTreeSet<String> = files(&tpl).difference(&files(&dir)).cloned().collect();
            assert!(
                !gone.is_empty(),
                "{name} deletes nothing on a healthy table"
            );
            healthy.insert(name, gone);
        }
        let cases: [(&str, Option<&str>, Target); 13] = [
            (
                "truncated snapshot",
                Some("snapshot-truncated.json"),
                Target::Snapshot8,
            ),
            (
                "snapshot not an object",
                Some("snapshot-not-object.json"),
                Target::Snapshot8,
            ),
            (
                "snapshot wrong type",
                Some("snapshot-wrong-type.json"),
                Target::Snapshot8,
            ),
            (
                "empty snapshot",
                Some("snapshot-empty.json"),
                Target::Snapshot8,
            ),
            (
                "truncated schema",
                Some("schema-truncated.json"),
                Target::Schema,
            ),
            (
                "tag bad create time",
                Some("tag-bad-create-time.json"),
                Target::TagT8,
            ),
            ("truncated tag", Some("tag-truncated.json"), Target::TagT8),
            (
                "truncated list",
                Some("manifest-list-truncated.avro"),
                Target::List7,
            ),
            (
                "corrupt list block",
                Some("manifest-list-corrupt-block.avro"),
                Target::List7,
            ),
            ("list not Avro", Some("not-avro.avro"), Target::List7),
            (
                "truncated manifest",
                Some("manifest-truncated.avro"),
                Target::Manifest7,
            ),
            ("missing list", None, Target::List7),
            ("missing manifest", None, Target::Manifest7),
        ];
        let mut refused = 0;
        for (label, corpus, target) in cases {
            for (name, cmd) in COMMANDS {
                let context = format!("{name} with a {label}");
                let (_d, dir) = copy(&tpl);
                let rel = target_path(&dir, target);
                match corpus {
                    Some(c) => std::fs::write(dir.join(&rel), bad(c)).unwrap(),
                    None => std::fs::remove_file(dir.join(&rel)).unwrap(),
                }
                let before = files(&dir);
                let result = cmd(crate::common::open(&dir).await).await;
                let gone: BTreeSet<String> = before.difference(&files(&dir)).cloned().collect();
                match (expect(name, target), result) {
                    (Expect::Refused, Err(e)) => {
                        assert!(e.to_string().contains(&rel), "{context}: {e}");
                        assert!(gone.is_empty(), "{context}: deleted {gone:?}");
                        refused += 1;
                    }
                    (Expect::MetadataOnly(want), Ok(notes)) => {
                        assert!(notes.contains(&rel), "{context}: notes {notes:?}");
                        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
                        assert_eq!(gone, want, "{context}");
                    }
                    (Expect::AtMostHealthy { named }, Ok(notes)) => {
                        assert!(!named || notes.contains(&rel), "{context}: notes {notes:?}");
                        let extra: Vec<_> = gone.difference(&healthy[name]).collect();
                        assert!(
                            extra.is_empty(),
                            "{context}: beyond a healthy run: {extra:?}"
                        );
                    }
                    (want, got) => panic!("{context}: expected {want:?}, got {got:?}"),
                }
                needs_kept(&undamaged, &dir, &rel, &context);
            }
        }
        // Every kind of damage stops some command, and remove-orphan-files all of them.
        assert_eq!(refused, 13 + 3 * 2 + 5);
    }
}

/// The local filesystem store lists through symbolic links (object_store's `LocalFileSystem`
/// walks with `follow_links(true)`), so a symlinked partition or bucket directory inside the
/// table root shows files that live outside it, named like orphans. remove-orphan-files must
/// leave them alone (and say so), and delete nothing through the links.
#[tokio::test]
async fn remove_orphan_files_does_not_follow_symlinks_out_of_the_table() {
    use tagkeeper::clock::ManualClock;
    use tagkeeper::ops::orphans::{remove_orphan_files, OrphanOptions};
    let (_t, tpl) = crate::crash::template().await;
    let (outer, dir) = crate::crash::copy(&tpl);
    // Outside the root: a directory that looks like a partition, and one like a bucket.
    let partition = outer.path().join("elsewhere-partition");
    std::fs::create_dir_all(partition.join("bucket-0")).unwrap();
    let bucket = outer.path().join("elsewhere-bucket");
    std::fs::create_dir_all(&bucket).unwrap();
    let outside = [
        // Named as Paimon names data files, so they look like orphans.
        partition.join("bucket-0/data-0c0ffee0-0000-4000-8000-000000000001-0.parquet"),
        bucket.join("data-0c0ffee0-0000-4000-8000-000000000002-0.parquet"),
    ];
    for f in &outside {
        std::fs::write(f, b"not the table's").unwrap();
    }
    std::os::unix::fs::symlink(&partition, dir.join("dt=2024-01-09")).unwrap();
    std::os::unix::fs::symlink(&bucket, dir.join("dt=2024-01-01/bucket-7")).unwrap();
    // And a file link in a real bucket directory: the last component is checked too.
    let lone = outer.path().join("elsewhere-file.parquet");
    std::fs::write(&lone, b"not the table's either").unwrap();
    assert!(dir.join("dt=2024-01-01/bucket-0").is_dir());
    std::os::unix::fs::symlink(
        &lone,
        dir.join("dt=2024-01-01/bucket-0/data-0c0ffee0-0000-4000-8000-000000000003-0.parquet"),
    )
    .unwrap();
    let now = 4_000_000_000_000;
    let opts = OrphanOptions {
        older_than_millis: Some(now),
        force: true,
    };
    let r = remove_orphan_files(&open(&dir).await, &opts, false, &ManualClock::new(now))
        .await
        .unwrap();
    let gone: Vec<_> = outside
        .iter()
        .chain([&lone])
        .filter(|f| !f.exists())
        .collect();
    assert!(
        gone.is_empty(),
        "deleted outside the table root: {gone:?}; report: {:?}",
        r.files.iter().map(|f| &f.path).collect::<Vec<_>>()
    );
    // Both are reported as left alone, and the note says why.
    let unknown: Vec<&str> = r.unknown_files.iter().map(|f| f.path.as_str()).collect();
    assert!(
        unknown.contains(
            &"dt=2024-01-09/bucket-0/data-0c0ffee0-0000-4000-8000-000000000001-0.parquet"
        ) && unknown.contains(
            &"dt=2024-01-01/bucket-7/data-0c0ffee0-0000-4000-8000-000000000002-0.parquet"
        ) && unknown.contains(
            &"dt=2024-01-01/bucket-0/data-0c0ffee0-0000-4000-8000-000000000003-0.parquet"
        ),
        "{unknown:?}"
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n
                .starts_with("3 file(s) with Paimon names are reached through a symbolic link")),
        "{:?}",
        r.notes
    );
    assert!(r
        .files
        .iter()
        .all(|f| !f.path.starts_with("dt=2024-01-09/")
            && !f.path.starts_with("dt=2024-01-01/bucket-7/")));
}

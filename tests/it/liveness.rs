//! The liveness model at the CLI: tags that are not consistent copies of a snapshot stop every
//! deletion that depends on them (the data-loss case of issue 17), branches protect their files
//! instead of stopping reclamation, and orphan cleaning decides by what versions need.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::common::{copy_table, stderr, stdout, tagkeeper};
use crate::oracle;

fn files(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.insert(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out
}

/// Rewrite the `id` of a tag file, keeping its manifest lists.
fn set_tag_id(table: &Path, tag: &str, id: i64) {
    let path = table.join(format!("tag/tag-{tag}"));
    let mut json: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json["id"] = Value::from(id);
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
}

fn one_json(out: &std::process::Output) -> Value {
    serde_json::from_str(stdout(out).trim())
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", stdout(out)))
}

/// The data-loss case: `tagged` holds snapshots 1..=6 and tag `latest` on snapshot 6.
/// With the tag's id rewritten (0, -1, beyond the latest snapshot, or another retained id),
/// delete-tag used to reclaim the files of snapshot 6 that retained snapshots still read.
#[test]
fn delete_tag_refuses_a_tag_whose_id_disagrees_with_its_lists() {
    for (tag, id) in [
        ("latest", 0),
        ("latest", -1),
        ("latest", 99),
        ("daily-3", 5),
    ] {
        let (_d, t) = copy_table("tagged");
        set_tag_id(&t, tag, id);
        let before = files(&t);
        let out = tagkeeper(&["--json", "delete-tag", t.to_str().unwrap(), tag]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{tag} id {id}: {}",
            stderr(&out)
        );
        let doc = one_json(&out);
        assert_eq!(doc["error"]["kind"], "corrupt", "{doc}");
        let msg = doc["error"]["message"].as_str().unwrap();
        assert!(msg.contains(&format!("tag/tag-{tag}")), "{msg}");
        assert_eq!(files(&t), before, "{tag} id {id}: something was deleted");
        oracle::observe(&t).assert_whole_parquet(&format!("{tag} id {id}"));
    }
}

/// expire-snapshots and rollback-to decide by tag ids (which tag keeps what, which tags are
/// newer than the target): a tag with a wrong id stops them. A tag beyond the latest snapshot
/// is what an interrupted rollback leaves, so rollback-to deletes it rather than refusing.
#[test]
fn expire_and_rollback_refuse_an_inconsistent_tag() {
    // Rolling back to snapshot 2 keeps the tags at or before it: their ids must hold.
    for (tag, id, rollback_too) in [
        ("latest", 99, false),
        ("daily-3", 5, false),
        ("daily-3", 2, true),
        ("first", 0, true),
    ] {
        let (_d, t) = copy_table("tagged");
        set_tag_id(&t, tag, id);
        let before = files(&t);
        let table = t.to_str().unwrap();
        let mut commands = vec![vec![
            "--json",
            "expire-snapshots",
            table,
            "--retain-min",
            "1",
            "--retain-max",
            "1",
            "--older-than",
            "0 ms",
        ]];
        if rollback_too {
            commands.push(vec![
                "--json",
                "rollback-to",
                table,
                "--snapshot",
                "2",
                "--purge",
            ]);
        }
        for args in commands {
            let out = tagkeeper(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
            let doc = one_json(&out);
            assert_eq!(doc["error"]["kind"], "corrupt", "{args:?}: {doc}");
            assert_eq!(files(&t), before, "{args:?}: something changed");
        }
    }
}

/// A file that retained manifests mention only in DELETE entries is needed by no version:
/// remove-orphan-files deletes it (it used to keep such files forever). Here history was
/// deleted by hand: snapshots 1..=4 of `tagged` are gone, and so are the tags before 5, so
/// the files only they read are named by the DELETE entries of later deltas at most.
#[test]
fn orphans_delete_files_only_delete_entries_mention() {
    let (_d, t) = copy_table("partitioned_overwrite");
    let table = t.to_str().unwrap();
    let state = oracle::observe(&t);
    let ids: Vec<i64> = state
        .versions
        .values()
        .map(|v| v.snapshot_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let latest = *ids.last().unwrap();
    // Lose all history but the latest snapshot, by hand.
    for e in std::fs::read_dir(t.join("snapshot")).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("snapshot-") && n != format!("snapshot-{latest}") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let _ = std::fs::remove_dir_all(t.join("tag"));
    std::fs::write(t.join("snapshot/EARLIEST"), latest.to_string()).unwrap();
    let after_loss = oracle::observe(&t);
    after_loss.assert_whole_parquet("after losing history");
    let needed: BTreeSet<String> = after_loss
        .versions
        .values()
        .flat_map(|v| v.needs.iter().cloned())
        .collect();
    // Files only DELETE entries of the kept manifests mention.
    let only_deleted: BTreeSet<String> = after_loss
        .referenced
        .difference(&needed)
        .filter(|n| n.ends_with(".parquet"))
        .cloned()
        .collect();
    assert!(
        !only_deleted.is_empty(),
        "the fixture must have overwritten files named by DELETE entries of the latest snapshot's manifests"
    );
    let out = tagkeeper(&[
        "--json",
        "remove-orphan-files",
        table,
        "--older-than",
        "2099-01-01T00:00:00Z",
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let remaining: BTreeSet<String> = files(&t)
        .iter()
        .filter_map(|p| p.rsplit('/').next().map(str::to_string))
        .collect();
    for f in &only_deleted {
        assert!(
            !remaining.contains(f),
            "{f} is needed by no version but was kept"
        );
    }
    for f in &needed {
        assert!(remaining.contains(f), "{f} is needed but was deleted");
    }
    oracle::observe(&t).assert_whole_parquet("after orphan cleaning");
}

/// Delta replay (consecutive snapshots read as a chain) checks each later snapshot's base
/// against the replayed files. Here snapshot 5's delta list is swapped for snapshot 3's: the
/// recorded counts still add up, but the replay re-adds a live file and misses snapshot 5's,
/// so it does not match. The reading falls back to the complete one, and the model decides as
/// it always has: snapshot 5's real delta list, now named by no version, is the only orphan,
/// and the file it added (in snapshot 6's base) is kept.
#[test]
fn orphans_read_everything_when_delta_replay_does_not_add_up() {
    let (_d, t) = copy_table("append_many");
    let snapshot = |id: i64| -> Value {
        serde_json::from_slice(&std::fs::read(t.join(format!("snapshot/snapshot-{id}"))).unwrap())
            .unwrap()
    };
    let real_delta = snapshot(5)["deltaManifestList"]
        .as_str()
        .unwrap()
        .to_string();
    let mut five = snapshot(5);
    five["deltaManifestList"] = snapshot(3)["deltaManifestList"].clone();
    std::fs::write(
        t.join("snapshot/snapshot-5"),
        serde_json::to_vec(&five).unwrap(),
    )
    .unwrap();
    let out = tagkeeper(&[
        "--json",
        "remove-orphan-files",
        t.to_str().unwrap(),
        "--dry-run",
        "--older-than",
        "2099-01-01T00:00:00Z",
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("do not add up for delta replay"),
        "{}",
        stderr(&out)
    );
    let plan: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let planned: Vec<&str> = plan["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(planned, [format!("manifest/{real_delta}")]);
}

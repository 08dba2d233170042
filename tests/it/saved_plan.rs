//! Saved plans: what `--plan-out` writes is executed exactly by `apply-plan`, and refused when
//! the table changed meanwhile.

use std::collections::BTreeSet;

use tagkeeper::clock::{Clock, ManualClock};
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::ops::expire::{plan as expire_plan, ExpireOptions};
use tagkeeper::ops::saved_plan::{apply, decode, save, Applied, PlannedCommand};
use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};

use crate::crash::{copy, template};
use crate::fixtures::walk;

fn files(dir: &std::path::Path) -> BTreeSet<String> {
    walk(dir)
        .into_iter()
        .filter(|p| !p.starts_with("_tagkeeper/"))
        .collect()
}

fn opts() -> ExpireOptions {
    ExpireOptions {
        retain_min: 1,
        retain_max: 1,
        time_retained_millis: 0,
        expire_limit: 100,
        ignore_commit_snapshot: false,
    }
}

const NOW: i64 = 4_000_000_000_000;

/// Each command's saved plan, applied, leaves exactly what running the command leaves.
#[tokio::test]
async fn an_applied_plan_does_exactly_what_the_command_does() {
    let (_t, tpl) = template().await;
    for command in ["expire-snapshots", "delete-tag"] {
        let (_a, direct) = copy(&tpl);
        let (_b, saved_dir) = copy(&tpl);
        let t = crate::common::open(&direct).await;
        match command {
            "expire-snapshots" => {
                tagkeeper::ops::expire::expire(&t, &opts(), NOW)
                    .await
                    .unwrap();
            }
            _ => {
                tagkeeper::ops::delete_tag::delete_tags(&t, &[TagName::new("t5").unwrap()], false)
                    .await
                    .unwrap();
            }
        }
        let t = crate::common::open(&saved_dir).await;
        let planned = match command {
            "expire-snapshots" => {
                PlannedCommand::ExpireSnapshots(expire_plan(&t, &opts(), NOW).await.unwrap())
            }
            _ => PlannedCommand::DeleteTag(
                tagkeeper::ops::delete_tag::plan(&t, &[TagName::new("t5").unwrap()])
                    .await
                    .unwrap(),
            ),
        };
        let saved = save(&t, planned, NOW).await.unwrap();
        // Through the file format, as apply-plan reads it.
        let bytes = serde_json::to_vec_pretty(&saved).unwrap();
        let back = decode(&bytes, "plan.json").unwrap();
        assert_eq!(back, saved);
        assert_eq!(
            files(&saved_dir),
            files(&tpl),
            "{command}: saving changed the table"
        );
        let applied = apply(&t, back, &ManualClock::new(NOW)).await.unwrap();
        match (&applied, command) {
            (Applied::ExpireSnapshots(p), "expire-snapshots") => assert!(!p.files.is_empty()),
            (Applied::DeleteTag(r), "delete-tag") => assert_eq!(r.deleted_tags, vec!["t5"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(files(&saved_dir), files(&direct), "{command}");
        assert!(
            files(&direct).len() < files(&tpl).len(),
            "{command} deleted nothing"
        );
        crate::oracle::observe(&saved_dir).assert_whole_parquet(command);
    }
}

/// A plan made before a change to the table is refused, with nothing deleted.
#[tokio::test]
async fn a_plan_is_refused_when_the_table_changed() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    let t = crate::common::open(&dir).await;
    let planned = PlannedCommand::ExpireSnapshots(expire_plan(&t, &opts(), NOW).await.unwrap());
    let saved = save(&t, planned, NOW).await.unwrap();
    // A tag on snapshot 9 would keep files the plan deletes.
    let clock = ManualClock::new(NOW);
    create_tag(
        &t,
        &CreateTag {
            name: TagName::new("late").unwrap(),
            source: TagSource::Snapshot(SnapshotId(9)),
            time_retained: None,
            if_not_exists: false,
        },
        &clock,
    )
    .await
    .unwrap();
    let before = files(&dir);
    let e = apply(&t, saved, &clock).await.unwrap_err();
    assert_eq!(e.kind(), "conflict", "{e}");
    assert!(e.to_string().contains("tag 'late' was created"), "{e}");
    assert_eq!(files(&dir), before);
    let _ = clock.now_millis();
}

/// A file that is not a saved plan is a clear user error.
#[test]
fn damaged_or_foreign_plan_files_are_refused() {
    for (bytes, want) in [
        (&b"{}"[..], "no \"format\""),
        (&b"not json"[..], "not a saved plan"),
        (&br#"{"format":"tagkeeper-plan/9"}"#[..], "tagkeeper-plan/9"),
        (
            &br#"{"format":"tagkeeper-plan/1","command":"delete-tag"}"#[..],
            "damaged",
        ),
    ] {
        let e = decode(bytes, "p.json").unwrap_err();
        assert_eq!(e.kind(), "invalid_argument", "{e}");
        assert!(
            e.to_string().contains(want) && e.to_string().contains("p.json"),
            "{e}"
        );
    }
}

/// The CLI: `--plan-out` changes nothing and prints the dry run; `apply-plan` executes that
/// plan; applying it again is refused (the table changed: the tag is gone).
#[tokio::test]
async fn plan_out_and_apply_plan_on_the_command_line() {
    use crate::common::{stderr, stdout, tagkeeper};
    let (_t, tpl) = template().await;
    let (_a, direct) = copy(&tpl);
    let out = tagkeeper(&["--json", "delete-tag", direct.to_str().unwrap(), "t5"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (_b, dir) = copy(&tpl);
    let plan_file = dir.parent().unwrap().join("plan.json");
    let table = dir.to_str().unwrap();
    let out = tagkeeper(&[
        "--json",
        "delete-tag",
        table,
        "t5",
        "--plan-out",
        plan_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shown["dry_run"], true);
    assert_eq!(files(&dir), files(&tpl), "--plan-out changed the table");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    assert_eq!(saved["format"], "tagkeeper-plan/1");
    assert_eq!(saved["command"], "delete-tag");
    // The files the dry run showed are exactly the ones the saved plan deletes.
    assert_eq!(shown["tags"][0]["files"], saved["plan"]["tags"][0]["files"]);
    let out = tagkeeper(&["--json", "apply-plan", plan_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["deleted_tags"], serde_json::json!(["t5"]));
    assert_eq!(files(&dir), files(&direct));
    let again = tagkeeper(&["--json", "apply-plan", plan_file.to_str().unwrap()]);
    assert_ne!(again.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(doc["error"]["kind"], "conflict", "{doc}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tag 't5' was deleted"),
        "{doc}"
    );
}

//! Saved plans: what `--plan-out` writes is executed exactly by `apply-plan`, and refused when
//! the table changed meanwhile.

use std::collections::BTreeSet;

use tagkeeper::clock::{Clock, ManualClock};
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::ops::expire::{plan as expire_plan, ExpireOptions};
use tagkeeper::ops::orphans::{remove_orphan_files, OrphanOptions};
use tagkeeper::ops::rollback::{RollbackMode, RollbackTarget};
use tagkeeper::ops::saved_plan::{apply, decode, save, Applied, PlannedCommand};
use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
use tagkeeper::table::Table;

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

/// The commands whose plans can be saved, as this test runs them.
const COMMANDS: [&str; 7] = [
    "expire-snapshots",
    "delete-tag",
    "expire-tags",
    "remove-orphan-files",
    "rollback-to",
    "rollback-to --purge",
    "rollback-to --as-latest",
];

fn orphan_opts() -> OrphanOptions {
    OrphanOptions {
        older_than_millis: Some(NOW),
        force: true,
    }
}

fn rollback_mode(command: &str) -> (RollbackTarget, RollbackMode) {
    match command {
        "rollback-to" => (
            RollbackTarget::Snapshot(SnapshotId(8)),
            RollbackMode::Destructive { purge: false },
        ),
        // Through the tag of an expired snapshot: restores it, removes a newer tag.
        "rollback-to --purge" => (
            RollbackTarget::Tag(TagName::new("t5").unwrap()),
            RollbackMode::Destructive { purge: true },
        ),
        _ => (
            RollbackTarget::Tag(TagName::new("t3").unwrap()),
            RollbackMode::AsLatest,
        ),
    }
}

/// Run `command` directly.
async fn run_directly(t: &Table, command: &str, clock: &ManualClock) {
    let t5 = [TagName::new("t5").unwrap()];
    match command {
        "expire-snapshots" => {
            tagkeeper::ops::expire::expire(t, &opts(), NOW)
                .await
                .unwrap();
        }
        "delete-tag" => {
            tagkeeper::ops::delete_tag::delete_tags(t, &t5, false)
                .await
                .unwrap();
        }
        "expire-tags" => {
            let r = tagkeeper::ops::expire_tags::expire_tags(t, clock, None, false)
                .await
                .unwrap();
            assert_eq!(r.deleted_tags, vec!["t5"], "only t5 has a retention");
        }
        "remove-orphan-files" => {
            remove_orphan_files(t, &orphan_opts(), false, clock)
                .await
                .unwrap();
        }
        rollback => {
            let (target, mode) = rollback_mode(rollback);
            tagkeeper::ops::rollback::execute(t, &target, mode, clock)
                .await
                .unwrap();
        }
    }
}

/// Plan `command` as `--plan-out` does.
async fn plan_of(t: &Table, command: &str, clock: &ManualClock) -> PlannedCommand {
    let t5 = [TagName::new("t5").unwrap()];
    match command {
        "expire-snapshots" => {
            PlannedCommand::ExpireSnapshots(expire_plan(t, &opts(), NOW).await.unwrap())
        }
        "delete-tag" => {
            PlannedCommand::DeleteTag(tagkeeper::ops::delete_tag::plan(t, &t5).await.unwrap())
        }
        "expire-tags" => PlannedCommand::ExpireTags(
            tagkeeper::ops::expire_tags::plan(t, clock, None)
                .await
                .unwrap(),
        ),
        "remove-orphan-files" => PlannedCommand::RemoveOrphanFiles(
            tagkeeper::ops::orphans::plan(t, &orphan_opts(), clock)
                .await
                .unwrap(),
        ),
        rollback => {
            let (target, mode) = rollback_mode(rollback);
            let p = tagkeeper::ops::rollback::plan(t, &target, mode)
                .await
                .unwrap();
            PlannedCommand::RollbackTo(Box::new(p.to_saved().unwrap()))
        }
    }
}

/// New files get fresh UUID names: the set of names with those masked, counted.
fn shape(dir: &std::path::Path) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for f in files(dir) {
        let masked: String = f
            .split('/')
            .map(|part| match part.find('-') {
                Some(i) if part.len() > 30 && !part.starts_with("snapshot-") => {
                    format!("{}-*", &part[..i])
                }
                _ => part.to_string(),
            })
            .collect::<Vec<_>>()
            .join("/");
        *out.entry(masked).or_default() += 1;
    }
    out
}

/// Each command's saved plan, applied, leaves exactly what running the command leaves.
#[tokio::test]
async fn an_applied_plan_does_exactly_what_the_command_does() {
    let (_t, tpl) = template().await;
    let clock = ManualClock::new(NOW);
    for command in COMMANDS {
        let (_a, direct) = copy(&tpl);
        let (_b, saved_dir) = copy(&tpl);
        let t = crate::common::open(&direct).await;
        run_directly(&t, command, &clock).await;
        let t = crate::common::open(&saved_dir).await;
        let saved = save(&t, plan_of(&t, command, &clock).await, NOW)
            .await
            .unwrap();
        // Through the file format, as apply-plan reads it.
        let bytes = serde_json::to_vec_pretty(&saved).unwrap();
        let back = decode(&bytes, "plan.json").unwrap();
        assert_eq!(back, saved);
        assert_eq!(
            files(&saved_dir),
            files(&tpl),
            "{command}: saving changed the table"
        );
        let applied = apply(&t, back, "plan.json", &clock).await.unwrap();
        match (&applied, command) {
            (Applied::ExpireSnapshots(p), "expire-snapshots") => assert!(!p.plan.files.is_empty()),
            (Applied::DeleteTag(r), "delete-tag") => assert_eq!(r.deleted_tags, vec!["t5"]),
            (Applied::ExpireTags(r), "expire-tags") => assert_eq!(r.deleted_tags, vec!["t5"]),
            (Applied::RemoveOrphanFiles(r), "remove-orphan-files") => {
                assert!(!r.files.is_empty())
            }
            (Applied::RollbackTo(p), c) if c.starts_with("rollback-to") => {
                assert!(!p.dry_run)
            }
            other => panic!("{other:?}"),
        }
        if command == "rollback-to --as-latest" {
            // The new manifests have fresh names; everything else is the same.
            assert_eq!(shape(&saved_dir), shape(&direct), "{command}");
        } else {
            assert_eq!(files(&saved_dir), files(&direct), "{command}");
        }
        assert_eq!(
            crate::oracle::observe(&saved_dir).contents(),
            crate::oracle::observe(&direct).contents(),
            "{command}"
        );
        assert_ne!(files(&direct), files(&tpl), "{command} changed nothing");
        crate::oracle::observe(&saved_dir).assert_whole_parquet(command);
        assert!(
            !saved_dir.join("_tagkeeper/plans").exists()
                || std::fs::read_dir(saved_dir.join("_tagkeeper/plans"))
                    .unwrap()
                    .next()
                    .is_none(),
            "{command}: a journal was left behind"
        );
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
    let e = apply(&t, saved, "plan.json", &clock).await.unwrap_err();
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

//! The decoupled changelog lifecycle on the Java-written `changelog_decoupled` fixture
//! (`changelog-producer = input`, `snapshot.num-retained.max = 2`,
//! `changelog.num-retained.max = 10`: Java already expired snapshots 1 and 2 into
//! `changelog/changelog-1`, `-2`; snapshots 3 and 4 remain). Exact file sets after each
//! command, the same as Java's own `ExpireSnapshotsImpl` / `ExpireChangelogImpl` produce on
//! the same input (when the Java harness is built), pypaimon reading every remaining version,
//! and `check --deep` clean.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{repo, stdout, tagkeeper};
use crate::consumers::file_set;
use crate::java_interop::{copy_java, java_classpath};

const TABLE: &str = "changelog_decoupled";

/// Snapshot 3's base and delta manifest lists, as the fixture's snapshot file names them (file
/// names change whenever the Java fixtures are regenerated).
fn snapshot_3_lists() -> [String; 2] {
    let snap: Value = serde_json::from_str(
        &std::fs::read_to_string(
            crate::java_interop::java_fixture(TABLE).join("snapshot/snapshot-3"),
        )
        .unwrap(),
    )
    .unwrap();
    ["baseManifestList", "deltaManifestList"]
        .map(|k| format!("manifest/{}", snap[k].as_str().unwrap()))
}

fn tk_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = tagkeeper(&all);
    let text = stdout(&out);
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("one JSON document from {args:?}: {e}: {text}"));
    (out.status.code().unwrap(), v)
}

/// Java's own expiration on `dir` (tests/it/java/JavaExpire.java with the harness classpath).
fn java_expire(cp: &str, dir: &Path, args: &[&str]) {
    let out = Command::new("java")
        .args(["-Duser.timezone=UTC", "-cp", cp])
        .arg(repo().join("tests/it/java/JavaExpire.java"))
        .arg(dir)
        .args(args)
        .output()
        .expect("run java");
    assert!(
        out.status.success(),
        "java {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn text(dir: &Path, f: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(f)).ok()
}

/// The state Java would leave, or None when the harness is not built.
fn java_copy(
    cp: &Option<String>,
    steps: &[&[&str]],
) -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    let cp = cp.as_ref()?;
    let (d, dir) = copy_java(TABLE);
    for s in steps {
        java_expire(cp, &dir, s);
    }
    Some((d, dir))
}

fn assert_same_as_java(ours: &Path, java: &Option<(tempfile::TempDir, std::path::PathBuf)>) {
    let Some((_, theirs)) = java else { return };
    assert_eq!(
        file_set(ours),
        file_set(theirs),
        "the files Java's own expiration leaves"
    );
    for f in file_set(theirs)
        .iter()
        .filter(|f| f.starts_with("changelog/") || f.starts_with("snapshot/"))
    {
        let (a, b) = (text(ours, f).unwrap(), text(theirs, f).unwrap());
        match (
            serde_json::from_str::<Value>(&a),
            serde_json::from_str::<Value>(&b),
        ) {
            (Ok(x), Ok(y)) => assert_eq!(x, y, "{f}"),
            _ => assert_eq!(a.trim(), b.trim(), "{f}"),
        }
    }
}

/// `check --deep` is clean, and pypaimon reads every remaining snapshot exactly as Java read
/// it when it wrote the table (a primary-key table: rows after merging).
fn assert_readable(dir: &Path) {
    let check = tagkeeper(&["check", "--deep", dir.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    crate::oracle::observe(dir).assert_whole("after the command");
    let mut want = crate::java_interop::recorded_reads(TABLE);
    want.retain(|k, _| {
        k.strip_prefix("snapshot-")
            .is_none_or(|n| dir.join(format!("snapshot/snapshot-{n}")).is_file())
    });
    assert!(want.contains_key("snapshot-4"), "{want:?}");
    crate::java_interop::pypaimon_agrees(TABLE, dir, &want);
}

const EXPIRE_TO_ONE: &[&str] = &[
    "--retain-min",
    "1",
    "--retain-max",
    "1",
    "--older-than",
    "2999-01-01T00:00:00Z",
];

/// Snapshot 3 expires into `changelog/changelog-3`: its base and delta lists go, its
/// changelog list, manifests and files stay (a changelog producer), `changelog/LATEST` is 3.
fn expire_snapshot_3(dir: &Path) -> Value {
    let t = dir.to_str().unwrap();
    let mut args = vec!["expire-snapshots", t];
    args.extend_from_slice(EXPIRE_TO_ONE);
    let before = file_set(dir);
    let (code, v) = tk_json(&args);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["changelog_decoupled"], Value::Bool(true), "{v}");
    assert_eq!(v["expired_snapshots"], serde_json::json!([3]), "{v}");
    let mut want = before;
    let [base, delta] = snapshot_3_lists();
    for f in ["snapshot/snapshot-3", base.as_str(), delta.as_str()] {
        assert!(want.remove(f), "{f}");
    }
    want.insert("changelog/changelog-3".into());
    assert_eq!(file_set(dir), want);
    assert_eq!(text(dir, "changelog/LATEST").as_deref(), Some("3"));
    assert_eq!(text(dir, "snapshot/EARLIEST").as_deref(), Some("4"));
    // The changelog is the snapshot's content.
    let snap: Value = serde_json::from_str(
        &std::fs::read_to_string(
            crate::java_interop::java_fixture(TABLE).join("snapshot/snapshot-3"),
        )
        .unwrap(),
    )
    .unwrap();
    let cl: Value = serde_json::from_str(&text(dir, "changelog/changelog-3").unwrap()).unwrap();
    assert_eq!(cl, snap);
    v
}

#[test]
fn expire_snapshots_keeps_expired_snapshots_as_changelogs_as_java_does() {
    let cp = java_classpath();
    let (_d, dir) = copy_java(TABLE);
    // The dry run changes nothing and reports the same plan.
    let mut args = vec!["expire-snapshots", dir.to_str().unwrap(), "--dry-run"];
    args.extend_from_slice(EXPIRE_TO_ONE);
    let before = file_set(&dir);
    let (code, dry) = tk_json(&args);
    assert_eq!(code, 0, "{dry}");
    assert_eq!(file_set(&dir), before);
    let v = expire_snapshot_3(&dir);
    assert_eq!(dry["files"], v["files"]);
    assert_same_as_java(&dir, &java_copy(&cp, &[&["snapshots", "1", "1"]]));
    assert_readable(&dir);
}

#[test]
fn expire_changelogs_keeps_the_newest_as_java_does() {
    let cp = java_classpath();
    let (_d, dir) = copy_java(TABLE);
    expire_snapshot_3(&dir);
    let t = dir.to_str().unwrap();
    // Without a flag, the procedure's defaults expire nothing.
    let before = file_set(&dir);
    let (code, v) = tk_json(&["expire-changelogs", t]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["expired_changelogs"], serde_json::json!([]), "{v}");
    assert_eq!(file_set(&dir), before);
    // --retain-max 1: the range stops at the latest changelog (3), which always stays.
    let (code, dry) = tk_json(&["expire-changelogs", t, "--retain-max", "1", "--dry-run"]);
    assert_eq!(code, 0, "{dry}");
    assert_eq!(file_set(&dir), before);
    let (code, v) = tk_json(&["expire-changelogs", t, "--retain-max", "1"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["expired_changelogs"], serde_json::json!([1, 2]), "{v}");
    assert_eq!(v["new_earliest"], serde_json::json!(3));
    assert_eq!(dry["files"], v["files"]);
    // Exactly: the two changelog files, their changelog lists, manifests and changelog files.
    let planned: BTreeSet<String> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        planned.iter().filter(|p| p.contains("/changelog-")).count(),
        4,
        "{planned:?}"
    );
    assert_eq!(
        planned
            .iter()
            .filter(|p| p.starts_with("manifest/manifest-list-"))
            .count(),
        2,
        "{planned:?}"
    );
    assert_eq!(planned.len(), 8, "{planned:?}");
    let mut want = before;
    for f in planned.iter().chain(&[
        "changelog/changelog-1".to_string(),
        "changelog/changelog-2".to_string(),
    ]) {
        assert!(want.remove(f), "{f}");
    }
    assert_eq!(file_set(&dir), want);
    assert_eq!(text(&dir, "changelog/EARLIEST").as_deref(), Some("3"));
    assert_eq!(text(&dir, "changelog/LATEST").as_deref(), Some("3"));
    assert_same_as_java(
        &dir,
        &java_copy(&cp, &[&["snapshots", "1", "1"], &["changelogs", "1"]]),
    );
    assert_readable(&dir);
}

#[test]
fn expire_changelogs_delete_all_as_java_does() {
    let cp = java_classpath();
    let (_d, dir) = copy_java(TABLE);
    expire_snapshot_3(&dir);
    let t = dir.to_str().unwrap();
    let (code, v) = tk_json(&["expire-changelogs", t, "--delete-all"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["expired_changelogs"], serde_json::json!([1, 2, 3]), "{v}");
    // Every changelog and the hints are gone, with the changelog files only they had: the
    // one left is snapshot 4's own.
    let left: Vec<String> = file_set(&dir)
        .into_iter()
        .filter(|f| f.starts_with("changelog/") || f.contains("bucket-0/changelog-"))
        .collect();
    // Snapshot 4 committed partition dt=2024-01-03, whose bucket holds its changelog file alone.
    let part = "dt=2024-01-03/bucket-0";
    let own: Vec<String> = file_set(&crate::java_interop::java_fixture(TABLE).join(part))
        .into_iter()
        .filter(|f| f.starts_with("changelog-"))
        .map(|f| format!("{part}/{f}"))
        .collect();
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(left, own);
    assert_same_as_java(
        &dir,
        &java_copy(&cp, &[&["snapshots", "1", "1"], &["changelogs-all"]]),
    );
    assert_readable(&dir);
}

/// Java refuses delete-all unless the latest changelog is older than the earliest snapshot.
#[test]
fn delete_all_is_refused_when_a_changelog_overlaps_the_snapshots() {
    let (_d, dir) = copy_java(TABLE);
    std::fs::copy(
        dir.join("snapshot/snapshot-3"),
        dir.join("changelog/changelog-3"),
    )
    .unwrap();
    let before = file_set(&dir);
    let (code, v) = tk_json(&["expire-changelogs", dir.to_str().unwrap(), "--delete-all"]);
    assert_eq!(
        (code, v["error"]["kind"].as_str()),
        (1, Some("invalid_argument")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("changelog/changelog-3"),
        "{v}"
    );
    assert_eq!(file_set(&dir), before);
}

/// `maintain` runs changelog expiry after snapshot expiry with the table's options (Java's
/// `newExpireRunnable`): here the changelogs of the newest 2 snapshot ids stay.
#[test]
fn maintain_expires_changelogs_after_snapshots() {
    let (_d, dir) = copy_java(TABLE);
    let p = dir.join("schema/schema-0");
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    s["options"]["snapshot.num-retained.max"] = "1".into();
    s["options"]["changelog.num-retained.max"] = "2".into();
    s["options"]["snapshot.time-retained"] = "1 ms".into();
    std::fs::write(&p, serde_json::to_string_pretty(&s).unwrap()).unwrap();
    let (code, v) = tk_json(&["maintain", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["snapshots"]["expired_snapshots"],
        serde_json::json!([3]),
        "{v}"
    );
    // latest 4, retain-max 2: from 3 on; the latest changelog (3) stays anyway.
    assert_eq!(
        v["changelogs"]["expired_changelogs"],
        serde_json::json!([1, 2]),
        "{v}"
    );
    let cls: Vec<String> = file_set(&dir)
        .into_iter()
        .filter(|f| f.starts_with("changelog/changelog-"))
        .collect();
    assert_eq!(cls, ["changelog/changelog-3"]);
    assert_readable(&dir);
}

/// An expire-changelogs journal is not an expire-snapshots plan: each command finishes only
/// its own (the prefixes overlap).
#[test]
fn journals_of_the_two_expirations_are_kept_apart() {
    let (_d, dir) = copy_java(TABLE);
    let t = dir.to_str().unwrap();
    // The journal an interrupted expire-changelogs --retain-max 1 would leave.
    // (Snapshots 3 and 4, changelogs 1 and 2: the range ends at the latest changelog.)
    let (_, dry) = tk_json(&["expire-changelogs", t, "--retain-max", "1", "--dry-run"]);
    assert_eq!(dry["expired_changelogs"], serde_json::json!([1]), "{dry}");
    let mut plan = dry.clone();
    for k in ["dry_run", "failed", "already_gone", "resumed"] {
        plan.as_object_mut().unwrap().remove(k);
    }
    std::fs::create_dir_all(dir.join("_tagkeeper/plans")).unwrap();
    std::fs::write(
        dir.join("_tagkeeper/plans/expire-changelogs-00000000-0000-0000-0000-000000000000.json"),
        serde_json::to_vec(&plan).unwrap(),
    )
    .unwrap();
    let mut args = vec!["expire-snapshots", t];
    args.extend_from_slice(EXPIRE_TO_ONE);
    let (code, v) = tk_json(&args);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["resumed"], Value::Bool(false), "{v}");
    assert!(dir.join("changelog/changelog-1").exists());
    // expire-changelogs finishes it (no new expiry: the procedure's defaults).
    let (code, v) = tk_json(&["expire-changelogs", t]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["resumed"], Value::Bool(true), "{v}");
    assert!(!dir.join("changelog/changelog-1").exists());
    assert!(dir.join("changelog/changelog-2").exists());
    assert!(dir.join("changelog/changelog-3").exists());
    assert!(!file_set(&dir)
        .iter()
        .any(|f| f.starts_with("_tagkeeper/plans/")));
    assert_readable(&dir);
}

/// A consumer holds back snapshot expiry, and changelog expiry too; with
/// `consumer.changelog-only = true` (and the decoupled lifecycle) only changelog expiry
/// (Java's `consumerChangelogOnly`).
#[test]
fn consumers_hold_changelogs_and_with_changelog_only_not_snapshots() {
    for changelog_only in [false, true] {
        let (_d, dir) = copy_java(TABLE);
        let t = dir.to_str().unwrap();
        let (code, _) = tk_json(&["reset-consumer", t, "job", "--snapshot", "3"]);
        assert_eq!(code, 0);
        if changelog_only {
            let p = dir.join("schema/schema-0");
            let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            s["options"]["consumer.changelog-only"] = "true".into();
            std::fs::write(&p, serde_json::to_string_pretty(&s).unwrap()).unwrap();
        }
        let mut args = vec!["expire-snapshots", t];
        args.extend_from_slice(EXPIRE_TO_ONE);
        let (code, v) = tk_json(&args);
        assert_eq!(code, 0, "{v}");
        let want = if changelog_only {
            serde_json::json!([3])
        } else {
            serde_json::json!([])
        };
        assert_eq!(
            v["expired_snapshots"], want,
            "changelog-only {changelog_only}: {v}"
        );
        // The consumer's next snapshot (3) bounds changelog expiry either way: 1 and 2 go.
        let (code, v) = tk_json(&["expire-changelogs", t, "--retain-max", "1"]);
        assert_eq!(code, 0, "{v}");
        let want = if changelog_only {
            serde_json::json!([1, 2])
        } else {
            serde_json::json!([1])
        };
        assert_eq!(
            v["expired_changelogs"], want,
            "changelog-only {changelog_only}: {v}"
        );
        assert_readable(&dir);
    }
}

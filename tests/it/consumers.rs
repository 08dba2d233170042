//! Consumers: `consumers`, `reset-consumer`, `clear-consumers`, `expire-consumers`, and
//! consumer expiry in `maintain`, with Java's `ConsumerManager` semantics, on a copy of the
//! Java-written `consumers` fixture (consumers reader-a at 3, reader-b at 5; snapshots 3-6).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::common::{stdout, tagkeeper};
use crate::java_interop::copy_java;

/// Every file under the table, relative, `/`-separated.
pub(crate) fn file_set(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
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

fn ids(v: &Value, field: &str) -> Vec<String> {
    v[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

fn consumer_files(dir: &Path) -> BTreeSet<String> {
    file_set(dir)
        .into_iter()
        .filter(|f| f.starts_with("consumer/"))
        .collect()
}

#[test]
fn consumers_lists_id_next_snapshot_and_file_time() {
    let (_d, dir) = copy_java("consumers");
    let (code, v) = tk_json(&["consumers", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}");
    let cs = v["consumers"].as_array().unwrap();
    assert_eq!(cs.len(), 2, "{v}");
    assert_eq!(
        (cs[0]["id"].as_str(), cs[0]["next_snapshot"].as_i64()),
        (Some("reader-a"), Some(3))
    );
    assert_eq!(
        (cs[1]["id"].as_str(), cs[1]["next_snapshot"].as_i64()),
        (Some("reader-b"), Some(5))
    );
    let mtime = std::fs::metadata(dir.join("consumer/consumer-reader-a"))
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(cs[0]["modified_millis"].as_i64(), Some(mtime));
    assert_eq!(cs[0]["path"].as_str(), Some("consumer/consumer-reader-a"));
}

#[test]
fn reset_consumer_is_javas_reset_consumer_procedure() {
    let (_d, dir) = copy_java("consumers");
    let t = dir.to_str().unwrap();
    let before = file_set(&dir);
    // An existing consumer moves; the file is Java's JSON.
    let (code, v) = tk_json(&["reset-consumer", t, "reader-a", "--snapshot", "6"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (v["previous"].as_i64(), v["next_snapshot"].as_i64()),
        (Some(3), Some(6))
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("consumer/consumer-reader-a")).unwrap(),
        "{\n  \"nextSnapshot\" : 6\n}"
    );
    assert_eq!(file_set(&dir), before, "only a file's content changed");
    // A missing id is created (Java overwrites whatever is there).
    let (code, v) = tk_json(&["reset-consumer", t, "new-job", "--snapshot", "4"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["previous"], Value::Null);
    let mut want = before.clone();
    want.insert("consumer/consumer-new-job".into());
    assert_eq!(file_set(&dir), want);
    // A snapshot that does not exist (expired, or beyond the latest) is refused, as Java's
    // `snapshotManager().snapshot(id)` fails: nothing is written.
    for n in ["2", "7", "0"] {
        let (code, v) = tk_json(&["reset-consumer", t, "reader-b", "--snapshot", n]);
        assert_eq!(code, 1, "{v}");
        assert_eq!(
            v["error"]["kind"].as_str(),
            Some("snapshot_not_found"),
            "{v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains("3..=6"),
            "{v}"
        );
    }
    assert_eq!(file_set(&dir), want);
    assert_eq!(
        std::fs::read_to_string(dir.join("consumer/consumer-reader-b")).unwrap(),
        "{\n  \"nextSnapshot\" : 5\n}"
    );
    // Without --snapshot, the consumer is deleted; deleting a missing one succeeds quietly.
    let (code, v) = tk_json(&["reset-consumer", t, "new-job"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (v["previous"].as_i64(), &v["next_snapshot"]),
        (Some(4), &Value::Null)
    );
    assert_eq!(file_set(&dir), before);
    let (code, _) = tk_json(&["reset-consumer", t, "never-was"]);
    assert_eq!(code, 0);
    assert_eq!(file_set(&dir), before);
    // An id that is not a file name.
    let (code, v) = tk_json(&["reset-consumer", t, "../x", "--snapshot", "4"]);
    assert_eq!(
        (code, v["error"]["kind"].as_str()),
        (1, Some("invalid_argument"))
    );
    assert_eq!(file_set(&dir), before);
}

#[test]
fn clear_consumers_is_javas_clear_consumers_procedure() {
    let (_d, dir) = copy_java("consumers");
    let t = dir.to_str().unwrap();
    for (id, n) in [("reader-c", "4"), ("audit", "6"), ("reader-cc", "6")] {
        let (code, _) = tk_json(&["reset-consumer", t, id, "--snapshot", n]);
        assert_eq!(code, 0);
    }
    // Whole-id matches only (Java's `matcher().matches()`): "reader" matches nothing.
    let (code, v) = tk_json(&["clear-consumers", t, "--including", "reader"]);
    assert_eq!(code, 0, "{v}");
    assert!(ids(&v, "deleted").is_empty(), "{v}");
    assert_eq!(consumer_files(&dir).len(), 5);
    // A dry run deletes nothing.
    let (_, v) = tk_json(&[
        "clear-consumers",
        t,
        "--including",
        "reader-.*",
        "--dry-run",
    ]);
    assert_eq!(
        ids(&v, "deleted"),
        ["reader-a", "reader-b", "reader-c", "reader-cc"]
    );
    assert_eq!(consumer_files(&dir).len(), 5);
    // Including and excluding.
    let (code, v) = tk_json(&[
        "clear-consumers",
        t,
        "--including",
        "reader-.*",
        "--excluding",
        "reader-c+",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(ids(&v, "deleted"), ["reader-a", "reader-b"]);
    assert_eq!(ids(&v, "kept"), ["audit", "reader-c", "reader-cc"]);
    assert_eq!(
        consumer_files(&dir),
        BTreeSet::from([
            "consumer/consumer-audit".to_string(),
            "consumer/consumer-reader-c".to_string(),
            "consumer/consumer-reader-cc".to_string(),
        ])
    );
    // Blank patterns: including everything, excluding nothing.
    let (code, v) = tk_json(&["clear-consumers", t, "--excluding", " "]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(ids(&v, "deleted"), ["audit", "reader-c", "reader-cc"]);
    assert!(consumer_files(&dir).is_empty());
    // A pattern the engine cannot compile names itself.
    let (code, v) = tk_json(&["clear-consumers", t, "--including", "(unclosed"]);
    assert_eq!(
        (code, v["error"]["kind"].as_str()),
        (1, Some("invalid_argument"))
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--including"));
}

fn set_mtime(path: &Path, millis_ago: u64) {
    let t = std::time::SystemTime::now() - std::time::Duration::from_millis(millis_ago);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn set_option(dir: &Path, key: &str, value: &str) {
    let p = dir.join("schema/schema-0");
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    s["options"][key] = Value::String(value.into());
    std::fs::write(&p, serde_json::to_string_pretty(&s).unwrap()).unwrap();
}

#[test]
fn expire_consumers_deletes_those_not_updated_within_the_expiration_time() {
    let (_d, dir) = copy_java("consumers");
    let t = dir.to_str().unwrap();
    set_mtime(&dir.join("consumer/consumer-reader-a"), 3 * 86_400_000);
    set_mtime(&dir.join("consumer/consumer-reader-b"), 3_600_000);
    // No option and no flag: nothing to go by.
    let (code, v) = tk_json(&["expire-consumers", t]);
    assert_eq!(
        (code, v["error"]["kind"].as_str()),
        (1, Some("invalid_argument")),
        "{v}"
    );
    let (code, v) = tk_json(&["expire-consumers", t, "--older-than", "1 d", "--dry-run"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(ids(&v, "deleted"), ["reader-a"]);
    assert_eq!(consumer_files(&dir).len(), 2);
    set_option(&dir, "consumer.expiration-time", "2 h");
    let before = file_set(&dir);
    let (code, v) = tk_json(&["expire-consumers", t]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(ids(&v, "deleted"), ["reader-a"]);
    assert_eq!(ids(&v, "kept"), ["reader-b"]);
    let mut want = before;
    want.remove("consumer/consumer-reader-a");
    assert_eq!(file_set(&dir), want);
}

/// A dead consumer pinned snapshot 3 forever; `maintain` expires it first (as Java's commit
/// does), so the same run's snapshot expiration goes past it.
#[test]
fn maintain_expires_consumers_before_snapshots() {
    let (_d, dir) = copy_java("consumers");
    let t = dir.to_str().unwrap();
    set_option(&dir, "snapshot.num-retained.min", "1");
    set_option(&dir, "snapshot.time-retained", "1 ms");
    set_option(&dir, "consumer.expiration-time", "1 d");
    set_mtime(&dir.join("consumer/consumer-reader-a"), 2 * 86_400_000);
    let (code, v) = tk_json(&["maintain", t]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(ids(&v["consumers"], "deleted"), ["reader-a"], "{v}");
    // reader-b still needs 5 on: snapshots 3 and 4 expire, not more.
    assert_eq!(
        v["snapshots"]["expired_snapshots"],
        serde_json::json!([3, 4]),
        "{v}"
    );
    let snaps: Vec<String> = file_set(&dir)
        .into_iter()
        .filter(|f| f.starts_with("snapshot/snapshot-"))
        .collect();
    assert_eq!(snaps, ["snapshot/snapshot-5", "snapshot/snapshot-6"]);
    assert_eq!(
        v["changelogs"],
        Value::Null,
        "not decoupled: no changelog expiry"
    );
    let check = tagkeeper(&["check", t]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    if let Some(py) = crate::interop::python() {
        crate::interop::assert_pypaimon_agrees(&py, &dir);
    }
}

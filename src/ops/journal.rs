//! The journal of destructive commands: a plan is written before it is executed and removed
//! once it is done, so a command killed half-way is finished by the next run.
//!
//! Journals live in `_tagkeeper/plans/<command>-<id>.json` (Paimon's readers and orphan
//! cleaners never look into `_tagkeeper/`). Each is created with a conditional create. A
//! journal is only ever *finished*, never trusted blindly: the command that resumes it checks its
//! deletions against the liveness model again, so a file that became needed since (a tag created
//! on a version that reads it) is kept.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::CreateOutcome;
use crate::table::Table;

/// Where journals are kept, relative to the table root.
pub const JOURNAL_DIR: &str = "_tagkeeper/plans";

/// The kind of a journal file name (`expire-changelogs-<uuid>.json` → `expire-changelogs`):
/// its prefix in [`KINDS`] without the dash. Prefixes overlap (`expire-changelogs-` begins
/// with `expire-`): [`pending`] gives each command only its own.
pub fn kind_of(file_name: &str) -> Option<&'static str> {
    KINDS
        .iter()
        .find(|(p, _, _)| file_name.starts_with(p))
        .map(|(p, _, _)| p.trim_end_matches('-'))
}

/// Record `plan` as an unfinished `command` before executing it. Returns the journal's key.
pub async fn record<T: Serialize>(table: &Table, command: &str, plan: &T) -> Result<String> {
    let key = format!("{JOURNAL_DIR}/{command}-{}.json", uuid::Uuid::new_v4());
    let body = serde_json::to_vec_pretty(plan)
        .map_err(|e| Error::InvalidArgument(format!("cannot encode the {command} plan: {e}")))?;
    match table.store().put_create(&key, Bytes::from(body)).await? {
        CreateOutcome::Created => Ok(key),
        // A fresh UUID never exists: someone else wrote this very key.
        CreateOutcome::AlreadyExists => Err(Error::Conflict(format!(
            "the journal {key} exists already; run again"
        ))),
    }
}

/// The journal is done: remove it. A journal that cannot be removed is finished again by the
/// next run (every journaled step may run twice), so this is reported, not an error.
pub async fn finish(table: &Table, key: &str) -> Option<String> {
    for (k, r) in table.store().delete_many(&[key.to_string()]).await {
        if let Err(e) = r {
            return Some(format!(
                "could not remove the finished journal {k} ({e}); the next run finds it done"
            ));
        }
    }
    None
}

/// The unfinished journals of `command`, oldest name first, decoded.
pub async fn pending<T: DeserializeOwned>(
    table: &Table,
    command: &str,
) -> Result<Vec<(String, T)>> {
    let (files, _) = table.store().list_dir(JOURNAL_DIR).await?;
    let prefix = format!("{JOURNAL_DIR}/{command}-");
    let mut keys: Vec<String> = files
        .into_iter()
        .map(|f| f.key)
        .filter(|k| k.starts_with(&prefix) && k.ends_with(".json"))
        .filter(|k| kind_of(k.rsplit('/').next().unwrap_or(k)).is_none_or(|kind| kind == command))
        .collect();
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let Some(bytes) = table.store().get_opt(&key).await? else {
            continue; // finished by a concurrent run meanwhile
        };
        let plan: T = serde_json::from_slice(&bytes).map_err(|e| Error::corrupt(&key, e))?;
        out.push((key, plan));
    }
    Ok(out)
}

/// An unfinished journal, as `check` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unfinished {
    /// The journal's key.
    pub path: String,
    /// The command that wrote it.
    pub command: &'static str,
    /// The command whose next run finishes it.
    pub finished_by: &'static str,
}

/// The journals' name prefixes: (prefix, the command that writes it, the command that finishes
/// it). `expire-` comes last: `expire-snapshots` journals are `expire-<end>.json`, and
/// `expire-changelogs-` begins with it.
const KINDS: [(&str, &str, &str); 8] = [
    (
        "expire-changelogs-",
        "expire-changelogs",
        "expire-changelogs or maintain",
    ),
    ("delete-tag-", "delete-tag", "delete-tag or expire-tags"),
    ("rename-tag-", "rename-tag", "rename-tag"),
    ("delete-branch-", "delete-branch", "delete-branch"),
    (
        "branch-step-",
        "create-branch or rename-branch",
        "create-branch or rename-branch",
    ),
    ("rollback-to-", "rollback-to", "rollback-to"),
    (
        "remove-orphan-files-",
        "remove-orphan-files",
        "remove-orphan-files",
    ),
    (
        "expire-",
        "expire-snapshots",
        "expire-snapshots or maintain",
    ),
];

/// What the key of a journal says about it (pure): `None` for anything else (staging files
/// of a killed write among them).
pub fn unfinished(key: &str) -> Option<Unfinished> {
    let name = key.strip_prefix(JOURNAL_DIR)?.strip_prefix('/')?;
    if name.contains('/') || !name.ends_with(".json") {
        return None;
    }
    let (_, command, finished_by) = KINDS.iter().find(|(p, _, _)| name.starts_with(p))?;
    Some(Unfinished {
        path: key.to_string(),
        command,
        finished_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_names_say_which_command_finishes_them() {
        let u = |k: &str| unfinished(k).map(|u| (u.command, u.finished_by));
        assert_eq!(
            u("_tagkeeper/plans/expire-12.json"),
            Some(("expire-snapshots", "expire-snapshots or maintain"))
        );
        assert_eq!(
            u("_tagkeeper/plans/expire-changelogs-0b1c.json"),
            Some(("expire-changelogs", "expire-changelogs or maintain"))
        );
        assert_eq!(
            kind_of("expire-changelogs-0b1c.json"),
            Some("expire-changelogs")
        );
        assert_eq!(kind_of("expire-12.json"), Some("expire"));
        assert_eq!(
            u("_tagkeeper/plans/rollback-to-0b1c.json"),
            Some(("rollback-to", "rollback-to"))
        );
        assert_eq!(
            u("_tagkeeper/plans/delete-tag-9.json"),
            Some(("delete-tag", "delete-tag or expire-tags"))
        );
        assert_eq!(
            u("_tagkeeper/plans/remove-orphan-files-1.json"),
            Some(("remove-orphan-files", "remove-orphan-files"))
        );
        assert_eq!(u("_tagkeeper/plans/.expire-1.json.0a.tmp"), None);
        assert_eq!(u("_tagkeeper/plans/notes.txt"), None);
        assert_eq!(u("manifest/expire-1.json"), None);
    }
}

//! Typed identifiers: snapshot ids, schema ids and validated tag names.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A snapshot id (`snapshot/snapshot-<id>`). Paimon ids start at 1 and are contiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SnapshotId(pub i64);

impl SnapshotId {
    /// The raw id.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A schema id (`schema/schema-<id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SchemaId(pub i64);

impl fmt::Display for SchemaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The name `tag/tag-success-file` is a directory Paimon uses for `_SUCCESS` markers, never a tag.
pub const RESERVED_TAG_NAME: &str = "success-file";

/// Longest tag name accepted, in bytes (a common object-key component limit).
pub const MAX_TAG_NAME_BYTES: usize = 255;

/// A tag name that is safe to turn into `tag/tag-<name>`.
///
/// Names read from a listing are accepted as they are ([`TagName::from_listing`]); names given by
/// a user go through [`TagName::new`], which refuses anything that could escape the tag directory
/// or that Paimon tools would mishandle.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TagName(String);

impl TagName {
    /// Validate a user-supplied tag name.
    pub fn new(name: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidTagName {
            name: truncate_for_message(name),
            reason: reason.to_string(),
        };
        if name.is_empty() {
            return Err(invalid("a tag name must not be empty"));
        }
        if name.len() > MAX_TAG_NAME_BYTES {
            return Err(invalid("a tag name must be at most 255 bytes"));
        }
        if name.contains('/') || name.contains('\\') {
            return Err(invalid("a tag name must not contain '/' or '\\'"));
        }
        if name == "." || name == ".." {
            return Err(invalid("a tag name must not be '.' or '..'"));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid("a tag name must not contain control characters"));
        }
        if name.trim() != name {
            return Err(invalid("a tag name must not start or end with whitespace"));
        }
        if name == RESERVED_TAG_NAME {
            return Err(invalid(
                "'success-file' is reserved: tag/tag-success-file is Paimon's _SUCCESS directory",
            ));
        }
        Ok(TagName(name.to_string()))
    }

    /// A name found as `tag/tag-<name>` in a listing. Only structural checks apply, so that
    /// tags created by other tools with unusual names are still visible.
    pub fn from_listing(name: &str) -> Option<Self> {
        if name.is_empty() || name == RESERVED_TAG_NAME || name.contains('/') {
            return None;
        }
        Some(TagName(name.to_string()))
    }

    /// True when the name is all ASCII digits: Paimon's `VERSION AS OF` reads it as a snapshot id.
    pub fn is_all_digits(&self) -> bool {
        self.0.bytes().all(|b| b.is_ascii_digit())
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Validate a branch name as Java's `BranchManager.validateBranch` does (not `main`, not blank,
/// not all digits), and as a safe directory name (`branch/branch-<name>`): no `/`, `\`,
/// control characters, `.` or `..`.
pub fn validate_branch_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| {
        Error::InvalidArgument(format!(
            "invalid branch name {:?}: {reason}",
            truncate_for_message(name)
        ))
    };
    if name == "main" {
        return Err(invalid(
            "'main' is the default branch and cannot be used (as in Paimon)",
        ));
    }
    if name.trim().is_empty() {
        return Err(invalid("a branch name must not be blank"));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "a branch name cannot be a pure numeric string (as in Paimon)",
        ));
    }
    if name.len() > MAX_TAG_NAME_BYTES {
        return Err(invalid("a branch name must be at most 255 bytes"));
    }
    if name.contains('/') || name.contains('\\') || name == "." || name == ".." {
        return Err(invalid(
            "a branch name must not contain '/' or '\\', or be '.' or '..'",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("a branch name must not contain control characters"));
    }
    Ok(())
}

impl fmt::Display for TagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn truncate_for_message(name: &str) -> String {
    const MAX: usize = 80;
    if name.len() <= MAX {
        return name.to_string();
    }
    let mut end = MAX;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &name[..end], name.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for n in ["2024-01-01", "2024-01-01 10", "release_1.2", "a", "über"] {
            assert_eq!(
                TagName::new(n).map(|t| t.to_string()).ok(),
                Some(n.to_string())
            );
        }
    }

    #[test]
    fn rejects_unsafe_names() {
        let long = "x".repeat(256);
        for n in [
            "",
            "a/b",
            "..",
            ".",
            "a\\b",
            "a\0b",
            "tab\t",
            " lead",
            "trail ",
            "success-file",
            long.as_str(),
            "../../etc",
        ] {
            assert!(
                matches!(TagName::new(n), Err(Error::InvalidTagName { .. })),
                "{n:?} must be rejected"
            );
        }
    }

    #[test]
    fn digits_are_flagged() {
        assert!(TagName::new("123")
            .map(|t| t.is_all_digits())
            .unwrap_or(false));
        assert!(!TagName::new("v123")
            .map(|t| t.is_all_digits())
            .unwrap_or(true));
    }

    #[test]
    fn long_names_are_truncated_in_errors() {
        let name = "é".repeat(5000);
        let Err(Error::InvalidTagName { name: shown, .. }) = TagName::new(&name) else {
            unreachable!("a 10 KB name is invalid")
        };
        assert!(shown.len() < 120, "{shown}");
    }
}

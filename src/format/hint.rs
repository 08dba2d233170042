//! `LATEST` and `EARLIEST` hint files: a decimal snapshot id, nothing else.

use crate::format::ids::SnapshotId;

/// Parse a hint file. Hints are advisory, so garbage gives `None` (the caller falls back to a
/// listing) rather than an error.
pub fn parse_hint(bytes: &[u8]) -> Option<SnapshotId> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    let id: i64 = text.parse().ok()?;
    (id > 0).then_some(SnapshotId(id))
}

/// Encode a hint as Java does: `String.valueOf(id)`, no newline.
pub fn encode_hint(id: SnapshotId) -> Vec<u8> {
    id.0.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(parse_hint(b"42"), Some(SnapshotId(42)));
        assert_eq!(parse_hint(b"42\n"), Some(SnapshotId(42)));
        assert_eq!(parse_hint(b""), None);
        assert_eq!(parse_hint(b"-1"), None);
        assert_eq!(parse_hint(b"\xff\xfe"), None);
        assert_eq!(parse_hint(b"12abc"), None);
        assert_eq!(encode_hint(SnapshotId(7)), b"7".to_vec());
    }
}

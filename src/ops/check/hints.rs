//! Java's hint rules applied to a listing of `snapshot/`: which ids a reader sees, and what
//! about the hints and ids would mislead one. Pure: ids and hint bytes in, findings out.

use crate::format::hint::parse_hint;
use crate::format::ids::SnapshotId;

use super::{Problem, ProblemKind};

/// What a reader of one snapshot directory sees (pure analysis of a listing and the hints).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotDir {
    /// Ids a reader can reach: from the effective earliest to the effective latest.
    pub visible: Vec<SnapshotId>,
    /// Problems found.
    pub problems: Vec<Problem>,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// Apply Java's hint rules (paimon-format.md §1, `HintFileUtils`) to a listing of
/// `snapshot/` (`dir` is its key, for messages): `LATEST = h` is used when `snapshot-(h+1)` does
/// not exist, without checking `snapshot-h`; `EARLIEST = h` is used when `snapshot-h` exists;
/// otherwise the listing decides.
pub fn analyze_snapshot_dir(
    dir: &str,
    ids: &[SnapshotId],
    latest_hint: Option<&[u8]>,
    earliest_hint: Option<&[u8]>,
) -> SnapshotDir {
    let mut out = SnapshotDir::default();
    let mut ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let has = |id: i64| ids.binary_search(&id).is_ok();
    let mut hint = |name: &str, raw: Option<&[u8]>| -> Option<i64> {
        let raw = raw?;
        let parsed = parse_hint(raw).map(|h| h.0);
        if parsed.is_none() {
            out.problems.push(Problem {
                kind: ProblemKind::Hint,
                path: format!("{dir}/{name}"),
                detail: "does not hold a snapshot id".into(),
            });
        }
        parsed
    };
    let latest_hint = hint("LATEST", latest_hint);
    let earliest_hint = hint("EARLIEST", earliest_hint);
    let (Some(&min), Some(&max)) = (ids.first(), ids.last()) else {
        for (name, h) in [("LATEST", latest_hint), ("EARLIEST", earliest_hint)] {
            if let Some(h) = h {
                out.problems.push(Problem {
                    kind: ProblemKind::Hint,
                    path: format!("{dir}/{name}"),
                    detail: format!("names snapshot {h}, but there is no snapshot"),
                });
            }
        }
        return out;
    };
    let latest = match latest_hint {
        Some(h) if !has(h + 1) && !has(h) => {
            out.problems.push(Problem {
                kind: ProblemKind::Hint,
                path: format!("{dir}/LATEST"),
                detail: format!(
                    "names snapshot {h}, which does not exist (nor does {}): readers take it as the latest and fail",
                    h + 1
                ),
            });
            max
        }
        Some(h) if !has(h + 1) => h,
        Some(h) if h != max => {
            out.warnings.push(format!(
                "{dir}/LATEST names snapshot {h}, but the latest is {max} (a stale hint; readers list)"
            ));
            max
        }
        _ => max,
    };
    let earliest = match earliest_hint {
        Some(h) if has(h) => h,
        Some(h) => {
            out.warnings.push(format!(
                "{dir}/EARLIEST names snapshot {h}, which does not exist (a stale hint; readers list)"
            ));
            min
        }
        None => min,
    };
    if earliest > latest {
        out.problems.push(Problem {
            kind: ProblemKind::SnapshotIds,
            path: format!("{dir}/EARLIEST"),
            detail: format!(
                "the earliest snapshot readers see ({earliest}) is after the latest ({latest})"
            ),
        });
        return out;
    }
    let below: Vec<i64> = ids.iter().copied().filter(|i| *i < earliest).collect();
    if let (Some(a), Some(b)) = (below.first(), below.last()) {
        out.warnings.push(format!(
            "{} snapshot(s) in {a}..={b} lie below EARLIEST ({earliest}): readers do not see them \
             (left by an interrupted expiration); they are not checked",
            below.len()
        ));
    }
    let beyond: Vec<i64> = ids.iter().copied().filter(|i| *i > latest).collect();
    if let (Some(a), Some(b)) = (beyond.first(), beyond.last()) {
        out.problems.push(Problem {
            kind: ProblemKind::SnapshotIds,
            path: format!("{dir}/snapshot-{a}"),
            detail: format!(
                "{} snapshot(s) in {a}..={b} lie beyond LATEST ({latest}) and snapshot {} is missing: \
                 the next commit would make them visible again (an interrupted rollback? run it again)",
                beyond.len(),
                latest + 1
            ),
        });
    }
    let visible: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|i| (earliest..=latest).contains(i))
        .collect();
    let missing: Vec<i64> = (earliest..=latest).filter(|i| !has(*i)).collect();
    if let Some(first) = missing.first() {
        let shown: Vec<String> = missing.iter().take(10).map(i64::to_string).collect();
        out.problems.push(Problem {
            kind: ProblemKind::SnapshotIds,
            path: format!("{dir}/snapshot-{first}"),
            detail: format!(
                "snapshots {earliest}..={latest} have {} gap(s): {}{}",
                missing.len(),
                shown.join(", "),
                if missing.len() > 10 { ", …" } else { "" }
            ),
        });
    }
    out.visible = visible.into_iter().map(SnapshotId).collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[i64]) -> Vec<SnapshotId> {
        v.iter().copied().map(SnapshotId).collect()
    }

    fn kinds(d: &SnapshotDir) -> Vec<ProblemKind> {
        d.problems.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn contiguous_ids_and_good_hints_are_whole() {
        let d = analyze_snapshot_dir("snapshot", &ids(&[3, 4, 5]), Some(b"5"), Some(b"3"));
        assert_eq!(
            (kinds(&d), d.warnings.len(), d.visible),
            (vec![], 0, ids(&[3, 4, 5]))
        );
        let d = analyze_snapshot_dir("snapshot", &ids(&[1, 2]), None, None);
        assert_eq!((kinds(&d), d.visible), (vec![], ids(&[1, 2])));
        let d = analyze_snapshot_dir("snapshot", &[], None, None);
        assert!(d.problems.is_empty() && d.visible.is_empty());
    }

    #[test]
    fn gaps_and_misleading_hints_are_problems() {
        let d = analyze_snapshot_dir("snapshot", &ids(&[1, 2, 4]), None, None);
        assert_eq!(kinds(&d), vec![ProblemKind::SnapshotIds]);
        assert!(
            d.problems[0].detail.contains("1 gap(s): 3"),
            "{:?}",
            d.problems
        );
        // LATEST names a missing snapshot whose successor is missing too: Java fails.
        let d = analyze_snapshot_dir("snapshot", &ids(&[1, 2]), Some(b"4"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::Hint]);
        let d = analyze_snapshot_dir("snapshot", &ids(&[1]), Some(b"x"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::Hint]);
        let d = analyze_snapshot_dir("snapshot", &[], Some(b"3"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::Hint]);
        // An interrupted rollback: LATEST=5, 6 missing, 7 and 8 stranded.
        let d = analyze_snapshot_dir("snapshot", &ids(&[5, 7, 8]), Some(b"5"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::SnapshotIds]);
        assert_eq!(d.visible, ids(&[5]));
    }

    #[test]
    fn stale_hints_and_leftovers_below_earliest_are_warnings() {
        // LATEST behind with its successor present: readers list. EARLIEST moved first by an
        // interrupted expiration: 3 and 4 are invisible.
        let d = analyze_snapshot_dir("snapshot", &ids(&[3, 4, 5, 6, 7]), Some(b"6"), Some(b"5"));
        assert_eq!(
            (kinds(&d), d.warnings.len()),
            (vec![], 2),
            "{:?}",
            d.warnings
        );
        assert_eq!(d.visible, ids(&[5, 6, 7]));
        let d = analyze_snapshot_dir("snapshot", &ids(&[5, 6]), None, Some(b"2"));
        assert_eq!((kinds(&d), d.warnings.len()), (vec![], 1));
    }
}
